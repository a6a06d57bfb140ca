import type { VerdictLine } from './bias-gate.js';
import type { DecisionKind } from './lifecycle.js';
import type { RiskTier } from './policy.js';

interface Base {
  to: string;
  systemId: string;
  systemName: string;
}

/** The e-mails the lifecycle sends; each is rendered by activities/mail-templates.ts. */
export type Notification = Base &
  (
    | {
        kind: 'work_requested';
        stage: 'impact_assessment' | 'bias_testing' | 'risk_treatment' | 'fria_notification';
        reminder: number;
        reason: string;
      }
    | {
        kind: 'approval_request';
        riskTier: RiskTier;
        requestId: string;
        step: number;
        of: number;
        subject: string;
        expiresAt: string;
        reminder: number;
        delegatedFrom: string | null;
        /** The gate's verdicts on the evidence being approved (runs under the bias-testing gate only). */
        fairness?: VerdictLine[];
      }
    | { kind: 'approval_escalation'; approver: string; requestedAt: string; subject: string }
    | {
        kind: 'decision_outcome';
        decision: DecisionKind;
        approver: string;
        comment: string;
        nextStage: string;
        reviewDueAt: string | null;
      }
    | { kind: 'review_upcoming'; reviewDueAt: string }
    | { kind: 'review_due'; reviewDueAt: string }
    | { kind: 'review_overdue'; reviewDueAt: string; escalation: number; owner: string }
    | {
        kind: 'incident_reported';
        incidentId: string;
        severity: 'minor' | 'serious';
        description: string;
        reportedBy: string;
      }
    | {
        kind: 'corrective_action_assigned';
        incidentId: string;
        correctiveAction: string;
        dueAt: string;
        severity: 'minor' | 'serious';
        description: string;
      }
    | { kind: 'corrective_action_reminder'; incidentId: string; correctiveAction: string; dueAt: string }
    | {
        kind: 'corrective_action_overdue';
        incidentId: string;
        correctiveAction: string;
        /** Who owns the action (the mail also goes to them). */
        owner: string;
        dueAt: string;
        /** 1 at the due date, then one more per escalation period passed. */
        escalation: number;
      }
    | { kind: 'lifecycle_stopped'; reason: string }
    | { kind: 'delivery_failed'; failedTo: string; failedKind: string; error: string }
    | { kind: 'retired'; reason: string; retiredBy: string }
  );

/** A notification before the system's id and name are filled in (distributes over the union). */
export type NotificationBody = Notification extends infer N
  ? N extends unknown
    ? Omit<N, 'systemId' | 'systemName'>
    : never
  : never;
