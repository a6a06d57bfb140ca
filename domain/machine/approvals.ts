import { mailedVerdicts } from '../bias-gate.js';
import { contentDigest } from '../digest.js';
import { addCadence, durationMs } from '../duration.js';
import {
  approvalDecisionSchema,
  delegationSchema,
  keepRecent,
  linkRenewalSchema,
  type ApprovalDecision,
  type ApprovalPurpose,
  type ChainStep,
  type DecisionRecord,
  type Delegation,
  type LifecycleState,
  type LinkRenewal,
  type Stage,
} from '../lifecycle.js';
import type { Policy } from '../policy.js';
import { type Effect, type Ctx, Refusal, accept, iso, notification, enter } from './core.js';

/** Approval chains: who decides, in which order, on exactly what, and what each decision leads to. */

// ---- approval chains ---------------------------------------------------------------------------

export function chainFor(state: LifecycleState, policy: Policy, purpose: ApprovalPurpose): ChainStep[] {
  const roles = policy.approvalChains[state.riskTier ?? 'low'];
  if (purpose === 'review') return roles.map((role) => ({ role, kind: 'review' }));
  const steps: ChainStep[] = roles.map((role) => ({ role, kind: 'treatment_plan' }));
  // Accepting residual risk above appetite is its own decision, apart from approving the plan.
  if (state.plan?.requiresRiskAcceptance) steps.push({ role: 'governance_lead', kind: 'risk_acceptance' });
  return steps;
}

/** Exactly what an approval covers: a later change to any part gives another digest. */
export function approvalSubject(state: LifecycleState) {
  return {
    systemId: state.systemId,
    modelVersion: state.modelVersion,
    purpose: state.registration.purpose,
    deployment: state.registration.deployment,
    assessment: state.assessment?.digest ?? null,
    evidence: state.evidence?.digest ?? null,
    plan: state.plan?.digest ?? null,
    review: state.review,
  };
}

export const personFor = (state: LifecycleState, ctx: Ctx, role: ChainStep['role']) =>
  role === 'risk_owner' ? state.registration.riskOwner : ctx.governanceLead.toLowerCase();

export const subjectLine = (kind: ChainStep['kind']) =>
  kind === 'risk_acceptance'
    ? 'acceptance of residual risk'
    : kind === 'review'
      ? 'periodic review sign-off'
      : 'impact assessment and risk-treatment plan';

export function requestApproval(
  state: LifecycleState,
  ctx: Ctx,
  purpose: ApprovalPurpose,
  chain = chainFor(state, ctx.policy, purpose),
  step = 1,
  delegatedTo?: { deputy: string; from: string },
): Effect[] {
  const s = chain[step - 1]!;
  if (step === 1 && !delegatedTo) state.approvalRound += 1;
  const base = `${state.systemId}.c${state.cycle}.r${state.approvalRound}.s${step}`;
  const requestId = delegatedTo ? `${state.approval!.requestId}.d` : base;
  state.approval = {
    requestId,
    purpose,
    chain,
    step,
    role: s.role,
    kind: s.kind,
    approver: delegatedTo?.deputy ?? personFor(state, ctx, s.role),
    delegatedFrom: delegatedTo?.from ?? null,
    digest: contentDigest(approvalSubject(state)),
    requestedAt: iso(ctx.now),
    expiresAt: iso(new Date(ctx.now.getTime() + durationMs(ctx.policy.approvals.linkTtl))),
    remindersSent: 0,
    escalatedAt: null,
  };
  return [
    {
      kind: 'event',
      type: 'approval_requested',
      actor: null,
      payload: {
        requestId,
        step,
        of: chain.length,
        role: s.role,
        kind: s.kind,
        approver: state.approval.approver,
        digest: state.approval.digest,
      },
    },
    approvalMail(state, 0),
  ];
}

export function approvalMail(state: LifecycleState, reminder: number): Effect {
  const a = state.approval!;
  return notification(state, {
    kind: 'approval_request',
    to: a.approver,
    riskTier: state.riskTier!,
    requestId: a.requestId,
    step: a.step,
    of: a.chain.length,
    subject: subjectLine(a.kind),
    expiresAt: a.expiresAt,
    reminder,
    delegatedFrom: a.delegatedFrom,
    // Only gate-judged evidence has verdicts to show; older runs' e-mails stay as they were recorded.
    ...(state.evidence?.verdicts.some((v) => v.verdict !== undefined) && a.kind !== 'review'
      ? { fairness: mailedVerdicts(state.evidence) }
      : {}),
  });
}

/** True when a decision or delegation comes from the approver the open request is bound to. */
export function matchesOpenRequest(state: LifecycleState, requestId: string, who: string): boolean {
  return state.approval?.requestId === requestId && state.approval.approver.toLowerCase() === who.toLowerCase();
}

/** Why a decision or delegation cannot be taken on this request, or null when it can. */
function notOpenReason(state: LifecycleState, requestId: string, who: string): string | null {
  if (state.approval?.requestId === requestId) {
    return state.approval.approver === who.toLowerCase()
      ? null
      : `approval request ${requestId} is bound to another approver`;
  }
  const decided = state.decisions.find((d) => d.requestId === requestId);
  if (decided)
    return `approval request ${requestId} was already decided: ${decided.decision} by ${decided.approver} at ${decided.decidedAt}`;
  return `approval request ${requestId} is not open (the system is in stage ${state.stage})`;
}

/**
 * The validator of a decision: the caller learns at once whether it counts.
 * A decision for a request that is closed, or from someone the request is
 * not bound to, is refused here, before anything is written.
 */
export function validateDecision(state: LifecycleState, raw: unknown): ApprovalDecision {
  const d = accept(approvalDecisionSchema, raw, state.stage);
  const why = notOpenReason(state, d.requestId, d.decidedBy);
  if (why) throw new Refusal('WrongStage', why, state.stage);
  if (d.decision !== 'approve' && d.comment === '') {
    throw new Refusal('InvalidInput', 'comment: rejecting or requesting changes needs a comment', state.stage, [
      { path: 'comment', message: 'is required to reject or request changes' },
    ]);
  }
  if (d.returnTo && d.decision !== 'request_changes') {
    throw new Refusal('InvalidInput', 'returnTo: only a request for changes sends the system back', state.stage, [
      { path: 'returnTo', message: 'applies only to request_changes' },
    ]);
  }
  return d;
}

/** A decision or delegation received as a signal: signals are not validated, so none ever counts; each is put on record. */
export function ignoredMessage(
  state: LifecycleState,
  type: 'decision_ignored' | 'delegation_ignored',
  d: unknown,
): Effect[] {
  const r = d && typeof d === 'object' ? (d as Record<string, unknown>) : {};
  const text = (v: unknown) => (typeof v === 'string' ? v.slice(0, 300) : null);
  return [
    {
      kind: 'event',
      type,
      actor: null,
      payload: {
        requestId: text(r.requestId),
        decision: text(r.decision),
        claimedBy: text(r.decidedBy ?? r.delegatedBy),
        openRequest: state.approval?.requestId ?? null,
        reason: 'a decision counts only as a validated update from an authenticated approver',
      },
    },
  ];
}

/** Applies an accepted decision (validateDecision ran when it was accepted). */
export function decide(state: LifecycleState, ctx: Ctx, d: ApprovalDecision) {
  const a = state.approval!;
  const returnTo: Stage | null =
    d.decision === 'reject'
      ? a.purpose === 'review'
        ? 'review_due'
        : 'impact_assessment'
      : d.decision === 'request_changes'
        ? a.purpose === 'review'
          ? 'review_due'
          : (d.returnTo ?? 'risk_treatment')
        : null;
  const record: DecisionRecord = {
    requestId: a.requestId,
    purpose: a.purpose,
    kind: a.kind,
    step: a.step,
    role: a.role,
    approver: a.approver,
    decision: d.decision,
    comment: d.comment,
    returnTo,
    decidedAt: iso(ctx.now),
    digest: a.digest,
    assessmentVersion: state.assessment?.version ?? 0,
    policyVersion: ctx.policy.version,
    via: d.via,
  };
  state.decisions = keepRecent(state.decisions, record);
  const effects: Effect[] = [{ kind: 'decision', record }];
  const outcome = (nextStage: Stage, reviewDueAt: string | null) =>
    notification(state, {
      kind: 'decision_outcome',
      to: state.registration.owner,
      decision: d.decision,
      approver: a.approver,
      comment: d.comment,
      nextStage,
      reviewDueAt,
    });

  if (d.decision !== 'approve') {
    state.approval = null;
    effects.push(
      ...enter(
        state,
        ctx,
        returnTo!,
        `${d.decision.replace('_', ' ')} by ${a.approver} (${subjectLine(a.kind)}): ${d.comment}`,
        a.approver,
      ),
    );
    effects.push(outcome(returnTo!, null));
    return { result: decided(record, state), effects };
  }
  if (a.step < a.chain.length) {
    effects.push(...requestApproval(state, ctx, a.purpose, a.chain, a.step + 1));
    return { result: decided(record, state), effects };
  }
  // The whole chain approved.
  state.approval = null;
  state.approvedDigest = a.digest;
  state.approvedAt = iso(ctx.now);
  state.reviewReminderSent = false;
  state.reviewEscalations = 0;
  if (a.purpose === 'review') {
    // Reviews roll from the completed review, not from the old due date.
    state.lastReviewCompletedAt = iso(ctx.now);
    state.reviewDueAt = iso(addCadence(ctx.now, ctx.policy.reviewCadence[state.riskTier!]));
    state.reviewTrigger = null;
    state.cycleComplete = true;
    effects.push(
      ...enter(state, ctx, 'active', `review of cycle ${state.cycle} signed off by ${a.approver}`, a.approver),
    );
  } else {
    state.reviewDueAt = iso(addCadence(ctx.now, ctx.policy.reviewCadence[state.riskTier!]));
    const next: Stage = state.fria.required && !state.fria.notifiedAt ? 'fria_notification' : 'active';
    effects.push(...enter(state, ctx, next, `approved by ${a.chain.map((s) => s.role).join(' then ')}`, a.approver));
  }
  effects.push(outcome(state.stage, state.reviewDueAt));
  return { result: decided(record, state), effects };
}

/** What the approver is told: their decision as recorded, and where the system went. */
const decided = (record: DecisionRecord, state: LifecycleState) => ({
  requestId: record.requestId,
  decision: record.decision,
  decidedAt: record.decidedAt,
  stage: state.stage,
  nextApprover: state.approval?.approver ?? null,
});

export function validateDelegation(state: LifecycleState, raw: unknown): Delegation {
  const d = accept(delegationSchema, raw, state.stage);
  const why = notOpenReason(state, d.requestId, d.delegatedBy);
  if (why) throw new Refusal('WrongStage', why, state.stage);
  if (d.deputy === d.delegatedBy) {
    throw new Refusal('InvalidInput', 'deputy: name a deputy other than yourself', state.stage, [
      { path: 'deputy', message: 'must be someone other than the approver' },
    ]);
  }
  return d;
}

/** Applies an accepted delegation. */
export function delegate(state: LifecycleState, ctx: Ctx, d: Delegation) {
  const a = state.approval!;
  const deputy = d.deputy;
  const effects: Effect[] = [
    {
      kind: 'event',
      type: 'approval_delegated',
      actor: a.approver,
      payload: { requestId: a.requestId, from: a.approver, deputy, reason: d.reason ?? '' },
    },
    ...requestApproval(state, ctx, a.purpose, a.chain, a.step, { deputy, from: a.approver }),
  ];
  return { result: { requestId: state.approval!.requestId, deputy }, effects };
}

/** An approver whose link expired asks for a fresh one: same request, new expiry, new e-mail. */
export function validateRenewal(state: LifecycleState, ctx: Ctx, raw: unknown): LinkRenewal {
  const r = accept(linkRenewalSchema, raw, state.stage);
  if (!matchesOpenRequest(state, r.requestId, r.approver)) {
    throw new Refusal('WrongStage', 'this approval request is no longer open to this approver', state.stage);
  }
  const expiresAt = state.approval!.expiresAt;
  if (Date.parse(expiresAt) > ctx.now.getTime()) {
    // One renewal per expiry, so whoever holds an old link cannot flood the approver with e-mails.
    throw new Refusal('WrongStage', `the newest link for this request works until ${expiresAt}`, state.stage);
  }
  return r;
}

export function renewLink(state: LifecycleState, ctx: Ctx, _r: LinkRenewal) {
  const a = state.approval!;
  a.expiresAt = iso(new Date(ctx.now.getTime() + durationMs(ctx.policy.approvals.linkTtl)));
  return {
    result: { requestId: a.requestId, expiresAt: a.expiresAt },
    effects: [
      {
        kind: 'event',
        type: 'approval_link_renewed',
        actor: a.approver,
        payload: { requestId: a.requestId, expiresAt: a.expiresAt },
      },
      approvalMail(state, a.remindersSent),
    ] as Effect[],
  };
}
