import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ImpactAssessmentInput } from '../domain/assessment.js';
import type { ApprovalDecision, LifecycleState } from '../domain/lifecycle.js';
import type { RiskTier } from '../domain/policy.js';

/** The whole lifecycle state, for the API and the approval page. */
export const stateQuery = defineQuery<LifecycleState>('state');

/**
 * The AI team submits its impact assessment as an update so the caller learns
 * at once whether it was accepted (validator) and which tier it produced.
 */
export const submitImpactAssessmentUpdate = defineUpdate<
  { version: number; riskTier: RiskTier; score: number },
  [ImpactAssessmentInput]
>('submitImpactAssessment');

/**
 * Approvers' decisions arrive as signals: the API has already verified the
 * signed link, and a signal is stored durably even while workers restart,
 * so a decision clicked in an e-mail is never lost.
 */
export const approvalDecisionSignal = defineSignal<[ApprovalDecision]>('approvalDecision');

/** Failure types the API maps to HTTP statuses. */
export const WRONG_STAGE = 'WrongStage';
export const INVALID_INPUT = 'InvalidInput';
