import type { DecisionRecord, AssessmentRecord, Stage } from '../domain/lifecycle.js';
import type { RiskTier } from '../domain/policy.js';
import type { Registration } from '../domain/system.js';

/** The e-mails the lifecycle sends; each is rendered by activities/mail-templates.ts. */
export type Notification =
  | { kind: 'assessment_requested'; to: string; systemId: string; systemName: string; reminder: number }
  | {
      kind: 'approval_request';
      to: string;
      systemId: string;
      systemName: string;
      riskTier: RiskTier;
      requestId: string;
      step: number;
      expiresAt: string;
      reminder: number;
    }
  | {
      kind: 'approval_escalation';
      to: string;
      systemId: string;
      systemName: string;
      approver: string;
      requestedAt: string;
    }
  | {
      kind: 'decision_outcome';
      to: string;
      systemId: string;
      systemName: string;
      decision: DecisionRecord['decision'];
      approver: string;
      comment: string;
      reviewDueAt: string | null;
    }
  | { kind: 'review_due'; to: string; systemId: string; systemName: string; reviewDueAt: string };

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

export interface RecordTransitionInput {
  idempotencyKey: string;
  systemId: string;
  type: string;
  actor: string | null;
  at: string;
  payload: Record<string, unknown>;
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
  digest: string | null;
}
