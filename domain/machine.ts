import { deriveRiskTier, impactAssessmentSchema, type ImpactAssessmentInput } from './assessment.js';
import { contentDigest } from './digest.js';
import { addCadence, durationMs } from './duration.js';
import { biasEvidenceSchema, evidenceIsStale, judgeEvidence, metricKey, type BiasEvidenceInput } from './evidence.js';
import {
  isFinal,
  keepRecent,
  workStages,
  type ApprovalDecision,
  type ApprovalPurpose,
  type AssessmentRecord,
  type ChainStep,
  type DecisionRecord,
  type Delegation,
  type LifecycleInput,
  type LifecycleState,
  type Stage,
  type WorkStage,
} from './lifecycle.js';
import type { Notification, NotificationBody } from './notifications.js';
import {
  authorityNotificationSchema,
  incidentClosureSchema,
  incidentSchema,
  newVersionSchema,
  retirementSchema,
  reviewSchema,
  type AuthorityNotificationInput,
  type IncidentClosureInput,
  type IncidentInput,
  type NewVersionInput,
  type RetirementInput,
  type ReviewInput,
} from './operations.js';
import { tierRank, type Policy } from './policy.js';
import { residualScore, treatmentPlanSchema, unansweredMetrics, type TreatmentPlanInput } from './treatment.js';

/**
 * The lifecycle as a pure state machine. Message handlers and timers call
 * these functions; they change the state and return the effects (records,
 * e-mails) for the workflow to carry out through activities. No I/O, no
 * clock: `now` comes in, so the same code runs inside the deterministic
 * workflow and in plain unit tests.
 */
export type Effect =
  | { kind: 'notify'; notification: Notification }
  | { kind: 'transition'; from: Stage | null; to: Stage; reason: string; actor: string | null }
  | { kind: 'event'; type: string; actor: string | null; payload: Record<string, unknown> }
  | { kind: 'assessment'; record: AssessmentRecord }
  | { kind: 'decision'; record: DecisionRecord };

export interface Ctx {
  now: Date;
  policy: Policy;
  governanceLead: string;
}

/** A message refused because of the lifecycle's state (HTTP 409) or its content (HTTP 422). */
export class Refusal extends Error {
  constructor(
    readonly type: 'WrongStage' | 'InvalidInput',
    message: string,
    readonly stage: Stage,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'Refusal';
  }
}

const iso = (d: Date) => d.toISOString();

function parseOr<T>(
  schema: {
    safeParse(
      v: unknown,
    ): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
  },
  raw: unknown,
  stage: Stage,
): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  throw new Refusal('InvalidInput', issues.map((i) => `${i.path}: ${i.message}`).join('; '), stage, issues);
}

function requireStage(state: LifecycleState, allowed: readonly Stage[], what: string): void {
  if (!allowed.includes(state.stage)) {
    throw new Refusal(
      'WrongStage',
      `${what} is accepted in stage ${allowed.join(' or ')}; the system is in stage ${state.stage}`,
      state.stage,
    );
  }
}

function requireNotFinal(state: LifecycleState, what: string): void {
  if (isFinal(state.stage))
    throw new Refusal('WrongStage', `${what} is not accepted: the system is ${state.stage}`, state.stage);
}

export function initialState(input: LifecycleInput, now: Date): LifecycleState {
  const { registration, policy } = input;
  return {
    systemId: registration.id,
    registration,
    policyVersion: policy.version,
    cycle: 0,
    stage: 'impact_assessment',
    stageEnteredAt: iso(now),
    nudges: 0,
    riskTier: null,
    modelVersion: registration.model.version,
    assessment: null,
    evidence: null,
    plan: null,
    approval: null,
    approvalRound: 0,
    approvedDigest: null,
    approvedAt: null,
    decisions: [],
    fria: { required: false, notifiedAt: null, authority: null, reference: null },
    reviewDueAt: null,
    reviewTrigger: null,
    reviewReminderSent: false,
    reviewEscalations: 0,
    lastReviewCompletedAt: null,
    review: null,
    incidents: [],
    incidentSeq: 0,
    cycleComplete: false,
    retiredAt: null,
    transitions: [],
  };
}

/** The state a new review cycle starts from after continue-as-new: only what it needs. */
export function carryOver(state: LifecycleState): LifecycleState {
  return {
    ...state,
    cycle: state.cycle + 1,
    cycleComplete: false,
    decisions: state.decisions.slice(-10),
    transitions: state.transitions.slice(-10),
    incidents: state.incidents.filter((i) => i.closedAt === null),
  };
}

function notification(state: LifecycleState, n: NotificationBody): Effect {
  return {
    kind: 'notify',
    notification: { systemId: state.systemId, systemName: state.registration.name, ...n } as Notification,
  };
}

function enter(state: LifecycleState, ctx: Ctx, to: Stage, reason: string, actor: string | null): Effect[] {
  const from = state.transitions.length === 0 ? null : state.stage;
  state.stage = to;
  state.stageEnteredAt = iso(ctx.now);
  state.nudges = 0;
  state.transitions = keepRecent(state.transitions, { at: iso(ctx.now), from, to, reason });
  const effects: Effect[] = [{ kind: 'transition', from, to, reason, actor }];
  if ((workStages as readonly string[]).includes(to)) effects.push(workRequest(state, to as WorkStage, 0, reason));
  return effects;
}

function workRequest(state: LifecycleState, stage: WorkStage, reminder: number, reason: string): Effect {
  return notification(state, { kind: 'work_requested', to: state.registration.owner, stage, reminder, reason });
}

/** Registration: the first transition and the request for an impact assessment. */
export function start(state: LifecycleState, ctx: Ctx): Effect[] {
  return enter(state, ctx, 'impact_assessment', 'registered', state.registration.owner);
}

export function biasTestingRequired(state: LifecycleState, policy: Policy): boolean {
  if (!state.riskTier) return false;
  if (policy.evidence.biasTestingWhenDecidingAboutPeople && state.assessment?.content.decisionsAboutPeople) return true;
  return tierRank[state.riskTier] >= tierRank[policy.evidence.biasTestingFromTier];
}

/** A material change after approval: the pinned approval no longer covers the system. */
function invalidateApproval(state: LifecycleState, reason: string, actor: string | null): Effect[] {
  const effects: Effect[] = [];
  if (state.approvedDigest) {
    effects.push({
      kind: 'event',
      type: 'approval_invalidated',
      actor,
      payload: { digest: state.approvedDigest, reason },
    });
    state.approvedDigest = null;
  }
  if (state.approval) {
    effects.push({
      kind: 'event',
      type: 'approval_request_withdrawn',
      actor,
      payload: { requestId: state.approval.requestId, reason },
    });
    state.approval = null;
  }
  return effects;
}

// ---- impact assessment -------------------------------------------------------------------------

export function validateAssessment(state: LifecycleState, raw: ImpactAssessmentInput): void {
  requireStage(state, ['impact_assessment'], 'an impact assessment');
  const a = parseOr(impactAssessmentSchema, raw, state.stage);
  const isDeployer = state.registration.deployment.role !== 'provider';
  if (a.euAiAct.category === 'high_risk' && isDeployer && !a.fria) {
    throw new Refusal(
      'InvalidInput',
      'fria: a deployer of a high-risk system must include the fundamental rights impact assessment (EU AI Act Art. 27)',
      state.stage,
      [{ path: 'fria', message: 'is required for a deployer of a high-risk system (EU AI Act Art. 27)' }],
    );
  }
}

export function submitAssessment(state: LifecycleState, ctx: Ctx, raw: ImpactAssessmentInput) {
  validateAssessment(state, raw);
  const content = impactAssessmentSchema.parse(raw);
  const { tier, score } = deriveRiskTier(content, ctx.policy);
  const version = (state.assessment?.version ?? 0) + 1;
  state.assessment = {
    version,
    submittedAt: iso(ctx.now),
    submittedBy: content.submittedBy,
    riskTier: tier,
    score,
    content,
  };
  state.riskTier = tier;
  if (state.plan) state.plan.current = false;
  state.fria.required = content.euAiAct.category === 'high_risk' && state.registration.deployment.role !== 'provider';
  const effects: Effect[] = [{ kind: 'assessment', record: state.assessment }];
  const by = content.submittedBy;
  if (content.euAiAct.category === 'prohibited') {
    effects.push(...enter(state, ctx, 'rejected', 'prohibited practice under EU AI Act Art. 5', by));
    for (const to of [ctx.governanceLead, state.registration.owner]) {
      effects.push(
        notification(state, {
          kind: 'lifecycle_stopped',
          to,
          reason: `The impact assessment classifies the system as a prohibited practice (EU AI Act Art. 5): ${content.euAiAct.rationale}`,
        }),
      );
    }
    return { result: { version, riskTier: tier, score, stage: state.stage }, effects };
  }
  const next: Stage = biasTestingRequired(state, ctx.policy) ? 'bias_testing' : 'risk_treatment';
  effects.push(...enter(state, ctx, next, `impact assessment v${version} submitted (tier ${tier})`, by));
  return { result: { version, riskTier: tier, score, stage: state.stage }, effects };
}

// ---- bias evidence -----------------------------------------------------------------------------

export function validateEvidence(state: LifecycleState, raw: BiasEvidenceInput): void {
  requireStage(state, ['bias_testing', 'risk_treatment'], 'bias-testing evidence');
  const e = parseOr(biasEvidenceSchema, raw, state.stage);
  if (e.modelVersion !== state.modelVersion) {
    throw new Refusal(
      'InvalidInput',
      `modelVersion: the evidence is for ${e.modelVersion}, the system runs ${state.modelVersion}`,
      state.stage,
      [{ path: 'modelVersion', message: `must be the system's current model version ${state.modelVersion}` }],
    );
  }
}

export function submitEvidence(state: LifecycleState, ctx: Ctx, raw: BiasEvidenceInput) {
  validateEvidence(state, raw);
  const { submittedBy, ...content } = biasEvidenceSchema.parse(raw);
  const verdicts = judgeEvidence(content, ctx.policy);
  const failed = verdicts.filter((v) => !v.passed).map(metricKey);
  const version = (state.evidence?.version ?? 0) + 1;
  state.evidence = {
    version,
    submittedAt: iso(ctx.now),
    submittedBy,
    effectiveDate: content.effectiveDate,
    modelVersion: content.modelVersion,
    verdicts,
    failed,
    content,
  };
  const effects: Effect[] = [
    {
      kind: 'event',
      type: 'bias_evidence_submitted',
      actor: submittedBy,
      payload: { version, effectiveDate: content.effectiveDate, failed, verdicts },
    },
  ];
  const planCovers = state.plan?.current === true && unansweredMetrics(state.plan.content, failed).length === 0;
  if (planCovers) {
    effects.push(
      ...enter(
        state,
        ctx,
        'approval',
        `bias evidence v${version} submitted; the treatment plan still applies`,
        submittedBy,
      ),
    );
    effects.push(...requestApproval(state, ctx, 'lifecycle'));
  } else if (state.stage !== 'risk_treatment') {
    const why = failed.length
      ? `${failed.length} fairness metric(s) failed: ${failed.join(', ')}`
      : 'all fairness metrics within thresholds';
    effects.push(...enter(state, ctx, 'risk_treatment', `bias evidence v${version} submitted; ${why}`, submittedBy));
  }
  return { result: { version, failed, verdicts, stage: state.stage }, effects };
}

// ---- risk treatment ----------------------------------------------------------------------------

export function validatePlan(state: LifecycleState, raw: TreatmentPlanInput): void {
  requireStage(state, ['risk_treatment'], 'a risk-treatment plan');
  const plan = parseOr(treatmentPlanSchema, raw, state.stage);
  const open = unansweredMetrics(plan, state.evidence?.failed ?? []);
  if (open.length > 0) {
    throw new Refusal(
      'InvalidInput',
      `items: failed fairness metrics ${open.join(', ')} must be answered by an item's addressesMetrics, or by new evidence`,
      state.stage,
      [{ path: 'items', message: `no item addresses the failed metrics ${open.join(', ')}` }],
    );
  }
}

export function submitPlan(state: LifecycleState, ctx: Ctx, raw: TreatmentPlanInput) {
  validatePlan(state, raw);
  const content = treatmentPlanSchema.parse(raw);
  const residual = residualScore(content, ctx.policy);
  const version = (state.plan?.version ?? 0) + 1;
  state.plan = {
    version,
    submittedAt: iso(ctx.now),
    submittedBy: content.submittedBy,
    residualScore: residual,
    requiresRiskAcceptance: residual > ctx.policy.riskAppetite.maxResidualScore,
    current: true,
    content,
  };
  const effects: Effect[] = [
    {
      kind: 'event',
      type: 'treatment_plan_submitted',
      actor: content.submittedBy,
      payload: {
        version,
        residualScore: residual,
        requiresRiskAcceptance: state.plan.requiresRiskAcceptance,
        plan: content,
      },
    },
    ...enter(
      state,
      ctx,
      'approval',
      `risk-treatment plan v${version} submitted (residual ${residual})`,
      content.submittedBy,
    ),
    ...requestApproval(state, ctx, 'lifecycle'),
  ];
  return {
    result: {
      version,
      residualScore: residual,
      requiresRiskAcceptance: state.plan.requiresRiskAcceptance,
      stage: state.stage,
    },
    effects,
  };
}

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
    assessment: state.assessment?.content ?? null,
    evidence: state.evidence?.content ?? null,
    plan: state.plan?.content ?? null,
    review: state.review,
  };
}

const personFor = (state: LifecycleState, ctx: Ctx, role: ChainStep['role']) =>
  role === 'risk_owner' ? state.registration.riskOwner : ctx.governanceLead.toLowerCase();

const subjectLine = (kind: ChainStep['kind']) =>
  kind === 'risk_acceptance'
    ? 'acceptance of residual risk'
    : kind === 'review'
      ? 'periodic review sign-off'
      : 'impact assessment and risk-treatment plan';

function requestApproval(
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

function approvalMail(state: LifecycleState, reminder: number): Effect {
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
  });
}

/** True when a decision or delegation comes from the approver the open request is bound to. */
export function matchesOpenRequest(state: LifecycleState, requestId: string, who: string): boolean {
  return state.approval?.requestId === requestId && state.approval.approver.toLowerCase() === who.toLowerCase();
}

export function decide(state: LifecycleState, ctx: Ctx, d: ApprovalDecision): Effect[] {
  if (!matchesOpenRequest(state, d.requestId, d.decidedBy)) {
    return [
      {
        kind: 'event',
        type: 'decision_ignored',
        actor: d.decidedBy,
        payload: { requestId: d.requestId, decision: d.decision, openRequest: state.approval?.requestId ?? null },
      },
    ];
  }
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
    decidedAt: d.decidedAt,
    digest: a.digest,
    assessmentVersion: state.assessment?.version ?? 0,
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
    return effects;
  }
  if (a.step < a.chain.length) {
    effects.push(...requestApproval(state, ctx, a.purpose, a.chain, a.step + 1));
    return effects;
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
  return effects;
}

export function delegate(state: LifecycleState, ctx: Ctx, d: Delegation): Effect[] {
  if (!matchesOpenRequest(state, d.requestId, d.delegatedBy)) {
    return [{ kind: 'event', type: 'delegation_ignored', actor: d.delegatedBy, payload: { requestId: d.requestId } }];
  }
  const a = state.approval!;
  const deputy = d.deputy.toLowerCase();
  return [
    {
      kind: 'event',
      type: 'approval_delegated',
      actor: a.approver,
      payload: { requestId: a.requestId, from: a.approver, deputy, reason: d.reason ?? '' },
    },
    ...requestApproval(state, ctx, a.purpose, a.chain, a.step, { deputy, from: a.approver }),
  ];
}

/** An approver whose link expired asks for a fresh one: same request, new expiry, new e-mail. */
export function validateRenewal(state: LifecycleState, ctx: Ctx, r: { requestId: string; approver: string }): void {
  if (!matchesOpenRequest(state, r.requestId, r.approver)) {
    throw new Refusal('WrongStage', 'this approval request is no longer open to this approver', state.stage);
  }
  const expiresAt = state.approval!.expiresAt;
  if (Date.parse(expiresAt) > ctx.now.getTime()) {
    // One renewal per expiry, so whoever holds an old link cannot flood the approver with e-mails.
    throw new Refusal('WrongStage', `the newest link for this request works until ${expiresAt}`, state.stage);
  }
}

export function renewLink(state: LifecycleState, ctx: Ctx, r: { requestId: string; approver: string }) {
  validateRenewal(state, ctx, r);
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

// ---- FRIA notification -------------------------------------------------------------------------

export function validateAuthorityNotification(state: LifecycleState, raw: AuthorityNotificationInput): void {
  requireNotFinal(state, 'an authority notification');
  if (!state.fria.required)
    throw new Refusal('WrongStage', 'no fundamental rights impact assessment is required for this system', state.stage);
  if (state.fria.notifiedAt)
    throw new Refusal('WrongStage', `the authority was already notified on ${state.fria.notifiedAt}`, state.stage);
  parseOr(authorityNotificationSchema, raw, state.stage);
}

export function recordAuthorityNotification(state: LifecycleState, ctx: Ctx, raw: AuthorityNotificationInput) {
  validateAuthorityNotification(state, raw);
  const n = authorityNotificationSchema.parse(raw);
  state.fria = { required: true, notifiedAt: n.notifiedAt, authority: n.authority, reference: n.reference ?? null };
  const effects: Effect[] = [{ kind: 'event', type: 'fria_authority_notified', actor: n.notifiedBy, payload: n }];
  if (state.stage === 'fria_notification')
    effects.push(
      ...enter(state, ctx, 'active', `market surveillance authority notified (${n.authority})`, n.notifiedBy),
    );
  return { result: { stage: state.stage, notifiedAt: n.notifiedAt }, effects };
}

// ---- new model version -------------------------------------------------------------------------

export function validateNewVersion(state: LifecycleState, raw: NewVersionInput): void {
  requireNotFinal(state, 'a new model version');
  if (!state.assessment)
    requireStage(
      state,
      ['bias_testing', 'risk_treatment', 'approval', 'active', 'review_due', 'fria_notification'],
      'a new model version',
    );
  const v = parseOr(newVersionSchema, raw, state.stage);
  if (v.version === state.modelVersion) {
    throw new Refusal('InvalidInput', `version: ${v.version} is already the system's model version`, state.stage, [
      { path: 'version', message: 'is already the current version' },
    ]);
  }
}

export function newModelVersion(state: LifecycleState, ctx: Ctx, raw: NewVersionInput) {
  validateNewVersion(state, raw);
  const v = newVersionSchema.parse(raw);
  const previous = state.modelVersion;
  state.modelVersion = v.version;
  const effects: Effect[] = [
    {
      kind: 'event',
      type: 'model_version_changed',
      actor: v.submittedBy,
      payload: {
        from: previous,
        to: v.version,
        purposeAndContextUnchanged: v.purposeAndContextUnchanged,
        changeSummary: v.changeSummary,
      },
    },
    ...invalidateApproval(state, `new model version ${v.version}`, v.submittedBy),
  ];
  const why = `model version ${previous} → ${v.version}`;
  if (state.stage === 'impact_assessment') {
    // A reassessment is already asked for (after a rejection or a material change); the new version joins it.
    effects.push({
      kind: 'event',
      type: 'reassessment_pending',
      actor: v.submittedBy,
      payload: { modelVersion: v.version },
    });
  } else if (!v.purposeAndContextUnchanged) {
    effects.push(
      ...enter(state, ctx, 'impact_assessment', `${why}; purpose or context changed: full reassessment`, v.submittedBy),
    );
  } else if (biasTestingRequired(state, ctx.policy)) {
    effects.push(
      ...enter(state, ctx, 'bias_testing', `${why}; assessment carried over, bias testing runs again`, v.submittedBy),
    );
  } else if (state.plan?.current) {
    effects.push(...enter(state, ctx, 'approval', `${why}; assessment and treatment plan carried over`, v.submittedBy));
    effects.push(...requestApproval(state, ctx, 'lifecycle'));
  } else {
    effects.push(...enter(state, ctx, 'risk_treatment', `${why}; assessment carried over`, v.submittedBy));
  }
  return { result: { modelVersion: v.version, stage: state.stage }, effects };
}

// ---- incidents ---------------------------------------------------------------------------------

export function validateIncident(state: LifecycleState, raw: IncidentInput): void {
  requireNotFinal(state, 'an incident');
  parseOr(incidentSchema, raw, state.stage);
}

export function reportIncident(state: LifecycleState, ctx: Ctx, raw: IncidentInput) {
  validateIncident(state, raw);
  const incident = incidentSchema.parse(raw);
  state.incidentSeq += 1;
  const id = `inc-${state.incidentSeq}`;
  const record = {
    ...incident,
    id,
    reportedAt: iso(ctx.now),
    correctiveActionDueAt: iso(new Date(ctx.now.getTime() + durationMs(ctx.policy.incidents.correctiveActionDue))),
    closedAt: null,
    closedBy: null,
    resolution: null,
  };
  // Open incidents are never trimmed away: their corrective actions must stay closable.
  const closed = state.incidents.filter((i) => i.closedAt !== null);
  const open = state.incidents.filter((i) => i.closedAt === null);
  state.incidents = [...closed.slice(-10), ...open, record];
  const effects: Effect[] = [{ kind: 'event', type: 'incident_reported', actor: incident.reportedBy, payload: record }];
  const mail = (to: string) =>
    notification(state, {
      kind: 'incident_reported',
      to,
      incidentId: id,
      severity: incident.severity,
      description: incident.description,
      reportedBy: incident.reportedBy,
    });
  effects.push(mail(state.registration.owner));
  if (incident.severity === 'serious') {
    effects.push(mail(ctx.governanceLead));
    effects.push(...invalidateApproval(state, `serious incident ${id}`, incident.reportedBy));
    if (state.stage === 'active' || state.stage === 'approval') {
      // A serious incident calls for a review now, not at the next scheduled date.
      state.reviewDueAt = iso(ctx.now);
      state.reviewTrigger = 'incident';
      state.reviewEscalations = 0;
      effects.push(...enter(state, ctx, 'review_due', `serious incident ${id}: immediate review`, incident.reportedBy));
      effects.push(
        notification(state, { kind: 'review_due', to: state.registration.owner, reviewDueAt: state.reviewDueAt }),
      );
    }
  }
  return { result: { incidentId: id, stage: state.stage }, effects };
}

export function validateIncidentClosure(state: LifecycleState, incidentId: string, raw: IncidentClosureInput): void {
  const incident = state.incidents.find((i) => i.id === incidentId);
  if (!incident)
    throw new Refusal('InvalidInput', `incidentId: no incident ${incidentId}`, state.stage, [
      { path: 'incidentId', message: 'is unknown' },
    ]);
  if (incident.closedAt)
    throw new Refusal('WrongStage', `incident ${incidentId} was closed on ${incident.closedAt}`, state.stage);
  parseOr(incidentClosureSchema, raw, state.stage);
}

export function closeIncident(state: LifecycleState, ctx: Ctx, incidentId: string, raw: IncidentClosureInput) {
  validateIncidentClosure(state, incidentId, raw);
  const c = incidentClosureSchema.parse(raw);
  const incident = state.incidents.find((i) => i.id === incidentId)!;
  incident.closedAt = iso(ctx.now);
  incident.closedBy = c.closedBy;
  incident.resolution = c.resolution;
  return {
    result: { incidentId, closedAt: incident.closedAt },
    effects: [
      {
        kind: 'event',
        type: 'corrective_action_closed',
        actor: c.closedBy,
        payload: { incidentId, resolution: c.resolution },
      },
    ] as Effect[],
  };
}

// ---- periodic review ---------------------------------------------------------------------------

export function validateReview(state: LifecycleState, ctx: Ctx, raw: ReviewInput): void {
  requireStage(state, ['active', 'review_due'], 'a review');
  const r = parseOr(reviewSchema, raw, state.stage);
  const needsEvidence = biasTestingRequired(state, ctx.policy);
  const stale = !state.evidence || evidenceIsStale(state.evidence.effectiveDate, ctx.now, ctx.policy);
  if (needsEvidence && stale && !r.materialChange && !r.biasEvidence) {
    const since = state.evidence
      ? `the evidence on record ran on ${state.evidence.effectiveDate}, older than ${ctx.policy.evidence.maxAge}`
      : 'no evidence is on record';
    throw new Refusal('InvalidInput', `biasEvidence: fresh bias metrics are required (${since})`, state.stage, [
      { path: 'biasEvidence', message: `is required: ${since}` },
    ]);
  }
}

export function submitReview(state: LifecycleState, ctx: Ctx, raw: ReviewInput) {
  validateReview(state, ctx, raw);
  const r = reviewSchema.parse(raw);
  const trigger = state.reviewTrigger ?? (state.stage === 'active' ? 'early' : 'schedule');
  state.review = {
    cycle: state.cycle,
    submittedAt: iso(ctx.now),
    performedBy: r.performedBy,
    materialChange: r.materialChange,
    monitoringSummary: r.monitoringSummary,
    trigger,
  };
  const effects: Effect[] = [
    {
      kind: 'event',
      type: 'review_submitted',
      actor: r.performedBy,
      payload: { ...state.review, changeDescription: r.changeDescription ?? null },
    },
  ];
  if (r.biasEvidence) {
    const verdicts = judgeEvidence(r.biasEvidence, ctx.policy);
    const failed = verdicts.filter((v) => !v.passed).map(metricKey);
    state.evidence = {
      version: (state.evidence?.version ?? 0) + 1,
      submittedAt: iso(ctx.now),
      submittedBy: r.performedBy,
      effectiveDate: r.biasEvidence.effectiveDate,
      modelVersion: state.modelVersion,
      verdicts,
      failed,
      content: { ...r.biasEvidence, modelVersion: state.modelVersion },
    };
    effects.push({
      kind: 'event',
      type: 'bias_evidence_submitted',
      actor: r.performedBy,
      payload: { version: state.evidence.version, effectiveDate: r.biasEvidence.effectiveDate, failed, verdicts },
    });
    if (failed.length > 0 && !r.materialChange) {
      // Failed evidence is a material change: the treatment plan must answer it before a new approval.
      effects.push(...invalidateApproval(state, `review evidence failed ${failed.join(', ')}`, r.performedBy));
      if (state.plan) state.plan.current = false;
      effects.push(
        ...enter(
          state,
          ctx,
          'risk_treatment',
          `review found failed fairness metrics ${failed.join(', ')}`,
          r.performedBy,
        ),
      );
      return { result: { stage: state.stage }, effects };
    }
  }
  if (r.materialChange) {
    effects.push(
      ...invalidateApproval(state, `material change found in review: ${r.changeDescription ?? ''}`, r.performedBy),
    );
    effects.push(
      ...enter(state, ctx, 'impact_assessment', 'material change found in review: full reassessment', r.performedBy),
    );
    return { result: { stage: state.stage }, effects };
  }
  const from = state.stage;
  if (from !== 'review_due') effects.push(...enter(state, ctx, 'review_due', 'early review submitted', r.performedBy));
  effects.push(...enter(state, ctx, 'approval', 'review submitted for sign-off', r.performedBy));
  effects.push(...requestApproval(state, ctx, 'review'));
  return { result: { stage: state.stage }, effects };
}

// ---- retirement --------------------------------------------------------------------------------

export function validateRetirement(state: LifecycleState, raw: RetirementInput): void {
  requireNotFinal(state, 'retirement');
  parseOr(retirementSchema, raw, state.stage);
}

export function retire(state: LifecycleState, ctx: Ctx, raw: RetirementInput) {
  validateRetirement(state, raw);
  const r = retirementSchema.parse(raw);
  state.approval = null;
  state.retiredAt = iso(ctx.now);
  const effects: Effect[] = [
    {
      kind: 'event',
      type: 'system_retired',
      actor: r.retiredBy,
      payload: { reason: r.reason, openIncidents: state.incidents.filter((i) => !i.closedAt).map((i) => i.id) },
    },
    ...enter(state, ctx, 'retired', `retired: ${r.reason}`, r.retiredBy),
  ];
  for (const to of new Set([state.registration.owner, ctx.governanceLead])) {
    effects.push(notification(state, { kind: 'retired', to, reason: r.reason, retiredBy: r.retiredBy }));
  }
  return { result: { stage: state.stage, retiredAt: state.retiredAt }, effects };
}

// ---- timers ------------------------------------------------------------------------------------

export interface Timer {
  at: Date;
  fire: (state: LifecycleState, ctx: Ctx) => Effect[];
}

/**
 * The next thing that happens by itself if nobody acts: a reminder, an
 * escalation, a review falling due. The workflow sleeps on a durable timer
 * until then (or until a message arrives).
 */
export function nextTimer(state: LifecycleState, policy: Policy): Timer | null {
  if (isFinal(state.stage)) return null;
  const t = (iso: string) => new Date(iso).getTime();
  if ((workStages as readonly string[]).includes(state.stage)) {
    if (state.nudges >= policy.assessment.maxReminders) return null;
    return {
      at: new Date(t(state.stageEnteredAt) + (state.nudges + 1) * durationMs(policy.assessment.reminderAfter)),
      fire: (s) => {
        s.nudges += 1;
        return [workRequest(s, s.stage as WorkStage, s.nudges, 'reminder')];
      },
    };
  }
  if (state.stage === 'approval' && state.approval) {
    const a = state.approval;
    const reminderAt =
      a.remindersSent < policy.approvals.maxReminders
        ? t(a.requestedAt) + (a.remindersSent + 1) * durationMs(policy.approvals.reminderAfter)
        : Infinity;
    const escalateAt =
      a.escalatedAt === null ? t(a.requestedAt) + durationMs(policy.approvals.escalateAfter) : Infinity;
    const at = Math.min(reminderAt, escalateAt);
    if (!Number.isFinite(at)) return null;
    return {
      at: new Date(at),
      fire: (s, ctx) => {
        const p = s.approval!;
        const effects: Effect[] = [];
        if (ctx.now.getTime() >= escalateAt) {
          p.escalatedAt = iso(ctx.now);
          effects.push(
            notification(s, {
              kind: 'approval_escalation',
              to: ctx.governanceLead,
              approver: p.approver,
              requestedAt: p.requestedAt,
              subject: subjectLine(p.kind),
            }),
          );
        }
        if (ctx.now.getTime() >= reminderAt) {
          p.remindersSent += 1;
          effects.push(approvalMail(s, p.remindersSent));
        }
        return effects;
      },
    };
  }
  if (state.stage === 'active' && state.reviewDueAt) {
    const due = t(state.reviewDueAt);
    if (!state.reviewReminderSent) {
      return {
        at: new Date(due - durationMs(policy.reviews.remindBefore)),
        fire: (s) => {
          s.reviewReminderSent = true;
          return [notification(s, { kind: 'review_upcoming', to: s.registration.owner, reviewDueAt: s.reviewDueAt! })];
        },
      };
    }
    return {
      at: new Date(due),
      fire: (s, ctx) => [
        ...enter(s, ctx, 'review_due', 'periodic review due', null),
        notification(s, { kind: 'review_due', to: s.registration.owner, reviewDueAt: s.reviewDueAt! }),
      ],
    };
  }
  if (state.stage === 'review_due' && state.reviewDueAt) {
    return {
      at: new Date(
        t(state.reviewDueAt) + (state.reviewEscalations + 1) * durationMs(policy.reviews.overdueEscalationEvery),
      ),
      fire: (s, ctx) => {
        s.reviewEscalations += 1;
        return [
          notification(s, {
            kind: 'review_overdue',
            to: ctx.governanceLead,
            reviewDueAt: s.reviewDueAt!,
            escalation: s.reviewEscalations,
            owner: s.registration.owner,
          }),
          {
            kind: 'event',
            type: 'review_overdue_escalated',
            actor: null,
            payload: { escalation: s.reviewEscalations, reviewDueAt: s.reviewDueAt },
          },
        ];
      },
    };
  }
  return null;
}
