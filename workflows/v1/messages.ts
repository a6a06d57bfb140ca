import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ImpactAssessmentInput } from './model/assessment.js';
import type { BiasEvidenceInput, MetricVerdict } from './model/evidence.js';
import type { ApprovalDecision, Delegation, LifecycleState, Stage } from './model/lifecycle.js';
import type {
  AuthorityNotificationInput,
  IncidentClosureInput,
  IncidentInput,
  NewVersionInput,
  RetirementInput,
  ReviewInput,
} from './model/operations.js';
import type { RiskTier } from '../../domain/policy.js';
import type { TreatmentPlanInput } from './model/treatment.js';

/** The whole lifecycle state, for the API and the approval page. */
export const stateQuery = defineQuery<LifecycleState>('state');

/*
 * The AI team's submissions are updates: the caller learns at once whether
 * the lifecycle accepted them (the validator refuses wrong stages and bad
 * content before anything is written) and what they led to.
 */
export const submitImpactAssessmentUpdate = defineUpdate<
  { version: number; riskTier: RiskTier; score: number; stage: Stage },
  [ImpactAssessmentInput]
>('submitImpactAssessment');
export const submitBiasEvidenceUpdate = defineUpdate<
  { version: number; failed: string[]; verdicts: MetricVerdict[]; stage: Stage },
  [BiasEvidenceInput]
>('submitBiasEvidence');
export const submitTreatmentPlanUpdate = defineUpdate<
  { version: number; residualScore: number; requiresRiskAcceptance: boolean; stage: Stage },
  [TreatmentPlanInput]
>('submitTreatmentPlan');
export const submitReviewUpdate = defineUpdate<{ stage: Stage }, [ReviewInput]>('submitReview');
export const newModelVersionUpdate = defineUpdate<{ modelVersion: string; stage: Stage }, [NewVersionInput]>(
  'newModelVersion',
);
export const reportIncidentUpdate = defineUpdate<{ incidentId: string; stage: Stage }, [IncidentInput]>(
  'reportIncident',
);
export const closeIncidentUpdate = defineUpdate<
  { incidentId: string; closedAt: string },
  [string, IncidentClosureInput]
>('closeIncident');
export const recordAuthorityNotificationUpdate = defineUpdate<
  { stage: Stage; notifiedAt: string },
  [AuthorityNotificationInput]
>('recordAuthorityNotification');
export const retireUpdate = defineUpdate<{ stage: Stage; retiredAt: string }, [RetirementInput]>('retire');

/**
 * Approvers' decisions arrive as signals: the API has already verified the
 * signed link, and a signal is stored durably even while workers restart,
 * so a decision clicked in an e-mail is never lost.
 */
export const approvalDecisionSignal = defineSignal<[ApprovalDecision]>('approvalDecision');
export const delegationSignal = defineSignal<[Delegation]>('delegateApproval');
/** An update, not a signal: the caller must learn whether a fresh link was really sent. */
export const renewLinkUpdate = defineUpdate<
  { requestId: string; expiresAt: string },
  [{ requestId: string; approver: string }]
>('renewApprovalLink');

/** Failure types the API maps to HTTP statuses. */
export const WRONG_STAGE = 'WrongStage';
export const INVALID_INPUT = 'InvalidInput';
