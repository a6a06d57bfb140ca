import type { LifecycleState } from './lifecycle.js';
import { personKey } from './system.js';

/**
 * What a lifecycle publishes to Temporal's visibility store, so governance
 * views list systems without querying each workflow or scanning the database.
 * Search attributes (filterable, stored in clear) carry ids and person keys
 * only; the memo (returned with each listed workflow, not searchable) carries
 * what the dashboard shows, and no e-mail address: views find the people of
 * a system in the record store (views/people.ts).
 */
export interface VisibilityValues {
  stage: string;
  riskTier: string;
  reviewDueAt: string | null;
  pendingApprover: string | null;
}

export interface SystemMemo {
  name: string;
  modelVersion: string;
  approvalStep: string | null;
  pendingSince: string | null;
  reviewEscalations: number;
  lastReviewCompletedAt: string | null;
}

/** What runs before the 'person-key-hmac' patch published, e-mail addresses included; their replays need it. */
export interface LegacySystemMemo extends SystemMemo {
  owner: string;
  riskOwner: string;
  approver: string | null;
}

/** The memo keys older runs held e-mail addresses under: a current run clears them (upsertMemo's null). */
export const legacyMemoPersonFields = ['owner', 'riskOwner', 'approver'] as const;

/**
 * The person key of an approver comes from `keyOf`: since 'person-key-hmac'
 * an HMAC the workflow obtains from an activity, because workflow code holds
 * no secret; runs before it used the legacy unsalted hash, the default here.
 */
export function searchValues(state: LifecycleState, keyOf: (email: string) => string = personKey): VisibilityValues {
  return {
    stage: state.stage,
    riskTier: state.riskTier ?? 'unassessed',
    reviewDueAt: state.reviewDueAt,
    pendingApprover: state.approval ? keyOf(state.approval.approver) : null,
  };
}

export function memoOf(state: LifecycleState): SystemMemo {
  const a = state.approval;
  return {
    name: state.registration.name,
    modelVersion: state.modelVersion,
    approvalStep: a ? `${a.kind.replaceAll('_', ' ')}, step ${a.step} of ${a.chain.length}` : null,
    pendingSince: a?.requestedAt ?? null,
    reviewEscalations: state.reviewEscalations,
    lastReviewCompletedAt: state.lastReviewCompletedAt,
  };
}

export function legacyMemoOf(state: LifecycleState): LegacySystemMemo {
  const a = state.approval;
  return {
    name: state.registration.name,
    owner: state.registration.owner,
    riskOwner: state.registration.riskOwner,
    modelVersion: state.modelVersion,
    approver: a?.approver ?? null,
    approvalStep: a ? `${a.kind.replaceAll('_', ' ')}, step ${a.step} of ${a.chain.length}` : null,
    pendingSince: a?.requestedAt ?? null,
    reviewEscalations: state.reviewEscalations,
    lastReviewCompletedAt: state.lastReviewCompletedAt,
  };
}

/** Whether a memo as Temporal holds it equals `memo` and has no legacy person field left to clear. */
export function memoIsCurrent(held: Record<string, unknown> | undefined, memo: SystemMemo): boolean {
  if (!held || legacyMemoPersonFields.some((k) => held[k] != null)) return false;
  return (Object.keys(memo) as (keyof SystemMemo)[]).every((k) => held[k] === memo[k]);
}
