import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AnalysisRequest, FairnessRiskAcceptance } from '../domain/bias-gate.js';
import type { DecisionProof } from '../domain/decision-proof.js';
import type { MetricVerdict } from '../domain/evidence.js';
import type { ApprovalDecision, Delegation, LifecycleState, LinkRenewal, Stage } from '../domain/lifecycle.js';
import type { AuthorityNotification, Incident, IncidentClosure, NewVersion, Retirement } from '../domain/operations.js';
import type { RiskTier } from '../domain/policy.js';
import type {
  AssessmentSubmission,
  EvidenceSubmission,
  PlanSubmission,
  ReviewSubmission,
} from '../domain/submissions.js';

/*
 * The lifecycle's messages. Names carry the version of their payload: a run
 * started before version 2 (workflows/v1) knows none of these, so a caller
 * that reaches one learns it must upgrade first instead of handing it a
 * payload it would misread.
 */

/** The whole lifecycle state (small: documents are digests), for the API and the approval page. */
export const stateQuery = defineQuery<LifecycleState>('state.v2');

/*
 * Every submission is an update: the validator refuses wrong stages and bad
 * content before anything is written, so the caller learns the truth at once.
 */
export const submitImpactAssessmentUpdate = defineUpdate<
  { version: number; riskTier: RiskTier; score: number; stage: Stage },
  [AssessmentSubmission]
>('submitImpactAssessment.v2');
export const submitBiasEvidenceUpdate = defineUpdate<
  { version: number; failed: string[]; verdicts: MetricVerdict[]; stage: Stage },
  [EvidenceSubmission]
>('submitBiasEvidence.v2');
/**
 * Predictions already in the blob store: accepted at once (202 for the API),
 * computed by an activity, and consumed as evidence when the verdicts arrive.
 */
export const analysePredictionsUpdate = defineUpdate<
  { analysisId: string; status: 'running'; stage: Stage },
  [AnalysisRequest]
>('analysePredictions.v1');
/** The governance lead's recorded acceptance of fairness metrics that fail or are inconclusive. */
export const acceptFairnessRiskUpdate = defineUpdate<
  { evidenceVersion: number; accepted: string[]; open: string[]; stage: Stage },
  [FairnessRiskAcceptance]
>('acceptFairnessRisk.v1');
export const submitTreatmentPlanUpdate = defineUpdate<
  { version: number; residualScore: number; requiresRiskAcceptance: boolean; stage: Stage },
  [PlanSubmission]
>('submitTreatmentPlan.v2');
export const submitReviewUpdate = defineUpdate<{ stage: Stage }, [ReviewSubmission]>('submitReview.v2');
export const newModelVersionUpdate = defineUpdate<{ modelVersion: string; stage: Stage }, [NewVersion]>(
  'newModelVersion.v2',
);
export const reportIncidentUpdate = defineUpdate<{ incidentId: string; stage: Stage }, [Incident]>('reportIncident.v2');
export const closeIncidentUpdate = defineUpdate<{ incidentId: string; closedAt: string }, [string, IncidentClosure]>(
  'closeIncident.v2',
);
export const recordAuthorityNotificationUpdate = defineUpdate<
  { stage: Stage; notifiedAt: string },
  [AuthorityNotification]
>('recordAuthorityNotification.v2');
export const retireUpdate = defineUpdate<{ stage: Stage; retiredAt: string }, [Retirement]>('retire.v2');

/**
 * Approvers' decisions are updates too, sent with the link's id as the
 * update id: a retried POST is the same update, so a crash anywhere leaves
 * no decision or exactly one, and the approver is told which. The second
 * argument is the API's signed proof (domain/decision-proof.ts): without a
 * valid one the decision or delegation is refused and recorded as forged.
 * It is optional in the type only because histories from before it replay.
 */
export const decideUpdate = defineUpdate<
  { requestId: string; decision: string; decidedAt: string; stage: Stage; nextApprover: string | null },
  [ApprovalDecision, DecisionProof?]
>('decideApproval.v2');
export const delegateUpdate = defineUpdate<{ requestId: string; deputy: string }, [Delegation, DecisionProof?]>(
  'delegateApproval.v2',
);
/** The caller must learn whether a fresh link was really sent. */
export const renewLinkUpdate = defineUpdate<{ requestId: string; expiresAt: string }, [LinkRenewal]>(
  'renewApprovalLink.v2',
);
/** Sends a failed e-mail again, as a new outbox entry with its own key. */
export const resendNotificationUpdate = defineUpdate<{ requested: string }, [{ key: string; requestedBy: string }]>(
  'resendNotification.v2',
);

/**
 * The names decisions had as signals before version 2. Signals carry no
 * validation and no proof of who sent them, so a decision arriving this way
 * never decides; it is put on record.
 */
export const legacyDecisionSignal = defineSignal<[unknown]>('approvalDecision');
export const legacyDelegationSignal = defineSignal<[unknown]>('delegateApproval');

/** Asks a run started before version 2 to continue as new into it at once (see workflows/v1/lifecycle.ts). */
export const upgradeSignal = defineSignal('upgradeLifecycle');

/** Failure types the API maps to HTTP statuses. */
export const WRONG_STAGE = 'WrongStage';
export const INVALID_INPUT = 'InvalidInput';
/** A decision or delegation without the API's valid proof: refused, and recorded as forged_decision. */
export const FORGED_DECISION = 'ForgedDecision';
/** Refused by a segregation-of-duties rule (domain/duties.ts); the details name the rule. */
export const SEGREGATION_OF_DUTIES = 'SegregationOfDuties';
