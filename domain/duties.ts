import type { ApproverRole, Policy } from './policy.js';
import type { LifecycleState, PendingApproval } from './lifecycle.js';

/** What the decision and delegation rules read: the workflow's state, or the same facts from the record store. */
export type DutyFacts = Pick<LifecycleState, 'systemId' | 'registration' | 'decisions'> & {
  approval: Pick<PendingApproval, 'requestId' | 'purpose' | 'chain' | 'step' | 'role'> | null;
};

/**
 * Segregation of duties (ISO/IEC 42001 A.3.2, the four-eyes principle) as
 * pure rules over the facts where they are decided: the registration, the
 * open approval request and the decisions already taken on its chain. Each
 * refusal names its rule so the caller (and the audit trail) can tell which
 * duty would have been mixed.
 *
 * "One chain" is one approval round: every step requested since the plan
 * (or review) went to approval, including delegated steps. The rule against
 * deciding two steps is about roles: a person who decided a step in one role
 * cannot decide a step in another. The policy gives the governance lead two
 * decisions of their own in some chains (approving the plan as the high
 * tier's second step, then accepting the residual risk): both are the same
 * role's, so two people still sign off.
 */
export const dutyRules = [
  'owner_cannot_be_risk_owner',
  'owner_cannot_approve',
  'owner_cannot_be_deputy',
  'no_two_steps_of_one_chain',
  'not_the_pending_approver',
] as const;
export type DutyRule = (typeof dutyRules)[number];

export interface DutyBreach {
  rule: DutyRule;
  message: string;
}

const same = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

/** Who holds a role for a system: the risk owner by registration, the governance lead by configuration. */
export function holderOf(role: ApproverRole, riskOwner: string, governanceLead: string): string {
  return (role === 'risk_owner' ? riskOwner : governanceLead).toLowerCase();
}

/** Every role a chain can ask for under the policy: the tiers' chains, and the governance lead's risk acceptance. */
function rolesThePolicyAsks(policy: Pick<Policy, 'approvalChains'>): Set<ApproverRole> {
  const chains = policy.approvalChains;
  return new Set<ApproverRole>([...chains.low, ...chains.medium, ...chains.high, 'governance_lead']);
}

/**
 * A registration whose people would mix duties. The tier is not known yet,
 * so every chain the policy can ask for counts, with the risk acceptance any
 * plan above the risk appetite adds.
 */
export function registrationBreach(
  reg: { owner: string; riskOwner: string },
  governanceLead: string,
  policy: Pick<Policy, 'approvalChains'>,
): DutyBreach | null {
  if (same(reg.owner, reg.riskOwner)) {
    return {
      rule: 'owner_cannot_be_risk_owner',
      message: `the system's owner (${reg.owner}) cannot also be its risk owner: name another person as riskOwner`,
    };
  }
  const roles = rolesThePolicyAsks(policy);
  for (const role of roles) {
    if (same(reg.owner, holderOf(role, reg.riskOwner, governanceLead))) {
      return {
        rule: 'owner_cannot_approve',
        message: `the system's owner (${reg.owner}) is the ${role.replace('_', ' ')}, who approves it under the policy: an owner cannot approve their own system`,
      };
    }
  }
  if (roles.has('risk_owner') && same(reg.riskOwner, governanceLead)) {
    return {
      rule: 'no_two_steps_of_one_chain',
      message: `the risk owner (${reg.riskOwner}) is also the governance lead, so one person would decide two steps of one approval chain: name another risk owner`,
    };
  }
  return null;
}

/** The approval round a request id belongs to (`<system>.c<cycle>.r<round>`); delegated steps keep their round. */
export function chainOf(requestId: string): string {
  return requestId.replace(/\.s\d+(?:\.d)*$/, '');
}

/** The steps of the open request's chain decided so far, by whom and in which role. */
function decidedInChain(state: DutyFacts): { approver: string; role: ApproverRole; step: number }[] {
  const open = state.approval;
  if (!open) return [];
  const chain = chainOf(open.requestId);
  return state.decisions.filter((d) => chainOf(d.requestId) === chain && d.purpose === open.purpose);
}

/** A decision on the open request by `who` that would mix duties (the request is assumed bound to `who`). */
export function decisionBreach(state: DutyFacts, who: string): DutyBreach | null {
  const open = state.approval;
  if (!open) return null;
  if (same(who, state.registration.owner)) {
    return {
      rule: 'owner_cannot_approve',
      message: `${who} owns ${state.systemId} and cannot decide on its approval`,
    };
  }
  const earlier = decidedInChain(state).find((d) => same(d.approver, who) && d.role !== open.role);
  if (earlier) {
    return {
      rule: 'no_two_steps_of_one_chain',
      message: `${who} decided step ${earlier.step} of this approval chain (as ${earlier.role.replace('_', ' ')}) and cannot decide step ${open.step} (as ${open.role.replace('_', ' ')}) too`,
    };
  }
  return null;
}

/**
 * Handing the open request to `deputy` would mix duties: the owner, someone
 * who decided another role's step of this chain, or whoever holds another
 * role in it.
 */
export function delegationBreach(state: DutyFacts, governanceLead: string, deputy: string): DutyBreach | null {
  const open = state.approval;
  if (!open) return null;
  if (same(deputy, state.registration.owner)) {
    return {
      rule: 'owner_cannot_be_deputy',
      message: `${deputy} owns ${state.systemId} and cannot decide on its approval as a deputy`,
    };
  }
  const earlier = decidedInChain(state).find((d) => same(d.approver, deputy) && d.role !== open.role);
  if (earlier) {
    return {
      rule: 'no_two_steps_of_one_chain',
      message: `${deputy} decided step ${earlier.step} of this approval chain and cannot be the deputy for step ${open.step}`,
    };
  }
  // Holding another role of this chain (before or after this step) is deciding for two roles, delegated or not.
  const other = open.chain.findIndex(
    (s) => s.role !== open.role && same(holderOf(s.role, state.registration.riskOwner, governanceLead), deputy),
  );
  if (other >= 0) {
    return {
      rule: 'no_two_steps_of_one_chain',
      message: `${deputy} holds step ${other + 1} of this approval chain (as ${open.chain[other]!.role.replace('_', ' ')}) and cannot be the deputy for step ${open.step} too`,
    };
  }
  return null;
}

/** An authenticated caller deciding through the API must be the person the open request waits for. */
export function pendingApproverBreach(state: LifecycleState, who: string): DutyBreach | null {
  if (state.approval && same(state.approval.approver, who)) return null;
  return {
    rule: 'not_the_pending_approver',
    message: state.approval
      ? `the open approval request of ${state.systemId} (step ${state.approval.step}) waits for another approver, not ${who}`
      : `${state.systemId} has no open approval request (it is in stage ${state.stage})`,
  };
}
