import type { AssessmentRecord, DecisionRecord, Stage } from '../domain/lifecycle.js';
import type { Notification } from '../domain/notifications.js';
import type { RiskTier } from '../domain/policy.js';
import type { Registration } from '../domain/system.js';

export interface SendNotificationInput {
  /** One key per effect: a retried activity with the same key never sends twice. */
  idempotencyKey: string;
  systemId: string;
  notification: Notification;
}

export interface SystemProjection {
  stage: Stage;
  riskTier: RiskTier | null;
  reviewDueAt: string | null;
  policyVersion: string;
  registration: Registration;
}

export interface RecordTransitionInput extends RecordEventInput {
  projection: SystemProjection;
}

export interface RecordAssessmentInput {
  idempotencyKey: string;
  systemId: string;
  assessment: AssessmentRecord;
}

export interface RecordDecisionInput {
  idempotencyKey: string;
  systemId: string;
  decision: DecisionRecord;
}

export interface RecordEventInput {
  idempotencyKey: string;
  systemId: string;
  type: string;
  actor: string | null;
  at: string;
  payload: Record<string, unknown>;
}
