import type { Notification } from '../domain/notifications.js';
import type { Policy, RiskTier } from '../domain/policy.js';
import type { Registration } from '../domain/system.js';
import type { RecordBatch, RecordBatchResult } from '../store/index.js';

/**
 * One lifecycle step's records as the workflow sends them. The activity adds
 * what needs Node (Message-IDs) and hands the rest to store.recordBatch.
 */
export interface RecordBatchInput extends Omit<RecordBatch, 'mails' | 'resends'> {
  mails: { key: string; notification: Notification }[];
  /** Outbox keys of failed e-mails to send again, each as a new entry. */
  resends: string[];
}

export type DeliveryResult =
  { status: 'sent'; key: string; alreadySent?: boolean } | { status: 'failed'; key: string; error: string };

/** A step's e-mail after its inline attempt: `pending` ones get an activity of their own. */
export type InlineDelivery = DeliveryResult | { status: 'pending'; key: string; error: string; sentSubject?: string };

/**
 * Steps for the one activity that records them and sends their e-mails
 * (recordStep): usually one; the steps that queued while the previous
 * activity ran go together, each its own batch and transaction, in order.
 */
export interface RecordStepInput {
  batches: RecordBatchInput[];
  /** Absent: the e-mails are all handed back pending (a policy without notifications.inlineBudget). */
  inline?: { budgetMs: number };
  /** Addresses whose person keys the workflow needs for its search attributes. */
  keysFor: string[];
  /** At the end of a cycle: the policy the next run adopts, from this worker. */
  wantPolicy?: boolean;
  /** Until the run knows them: the public keys decision proofs are signed with (domain/decision-proof.ts, v2). */
  wantProofKeys?: boolean;
}

export interface RecordStepResult {
  /** The chain head after the last batch; the first batch's anchor mismatch, if any (see RecordBatchResult). */
  head: RecordBatchResult['head'];
  anchorMismatch?: RecordBatchResult['anchorMismatch'];
  /** Per batch, the outbox entries its resends created. */
  resent: RecordBatchResult['resent'][];
  /** Per batch in order, one per e-mail of it and then one per resend it created. */
  delivered: InlineDelivery[];
  /** In the order of keysFor. */
  personKeys: string[];
  policy?: Policy;
  proofKeys?: string[];
}

export interface StoreDocumentsInput {
  systemId: string;
  documents: { kind: string; digest: string; content: unknown }[];
}

// ---- what version 1 runs send (workflows/v1); their shapes are frozen with them ----------------

export interface SendNotificationInput {
  /** One key per effect: a retried activity with the same key never sends twice. */
  idempotencyKey: string;
  systemId: string;
  notification: Notification;
}

export interface RecordEventInput {
  idempotencyKey: string;
  systemId: string;
  type: string;
  actor: string | null;
  at: string;
  payload: Record<string, unknown>;
}

export interface RecordTransitionInput extends RecordEventInput {
  projection: {
    stage: string;
    riskTier: RiskTier | null;
    reviewDueAt: string | null;
    policyVersion: string;
    registration: Registration;
  };
}

export interface RecordAssessmentInput {
  idempotencyKey: string;
  systemId: string;
  assessment: {
    version: number;
    submittedAt: string;
    submittedBy: string;
    riskTier: RiskTier;
    score: number;
    content: unknown;
  };
}

export interface RecordDecisionInput {
  idempotencyKey: string;
  systemId: string;
  decision: {
    requestId: string;
    step: number;
    approver: string;
    decision: string;
    comment: string;
    decidedAt: string;
    digest: string;
  };
}
