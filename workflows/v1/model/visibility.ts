import type { LifecycleState } from './lifecycle.js';
import { personKey } from './system.js';

/**
 * What a lifecycle publishes to Temporal's visibility store, so governance
 * views list systems without querying each workflow or scanning the database.
 * Search attributes (filterable) carry ids and pseudonymous keys only; the
 * memo (returned with each listed workflow, not searchable) carries what the
 * dashboard shows.
 */
export interface VisibilityValues {
  stage: string;
  riskTier: string;
  reviewDueAt: string | null;
  pendingApprover: string | null;
}

export interface SystemMemo {
  name: string;
  owner: string;
  riskOwner: string;
  modelVersion: string;
  approver: string | null;
  approvalStep: string | null;
  pendingSince: string | null;
  reviewEscalations: number;
  lastReviewCompletedAt: string | null;
}

export function searchValues(state: LifecycleState): VisibilityValues {
  return {
    stage: state.stage,
    riskTier: state.riskTier ?? 'unassessed',
    reviewDueAt: state.reviewDueAt,
    pendingApprover: state.approval ? personKey(state.approval.approver) : null,
  };
}

export function memoOf(state: LifecycleState): SystemMemo {
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
