import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { deriveRiskTier, impactAssessmentSchema, type ImpactAssessmentInput } from '../domain/assessment.js';
import { contentDigest } from '../domain/digest.js';
import { addMonths, durationMs } from '../domain/duration.js';
import { biasEvidenceSchema, evidenceIsStale, judgeEvidence, type BiasEvidenceInput } from '../domain/evidence.js';
import { STATE_HISTORY_LIMIT, type LifecycleInput, type LifecycleState } from '../domain/lifecycle.js';
import * as m from '../domain/machine.js';
import {
  approvalSubject,
  carryOver,
  chainFor,
  nextTimer,
  Refusal,
  start,
  parseOr,
  type Ctx,
  type Effect,
} from '../domain/machine.js';
import {
  authorityNotificationSchema,
  incidentClosureSchema,
  incidentSchema,
  newVersionSchema,
  retirementSchema,
  reviewSchema,
} from '../domain/operations.js';
import { parsePolicy, type Policy } from '../domain/policy.js';
import {
  assessmentSubmission,
  evidenceSubmission,
  planSubmission,
  reviewEvidenceFacts,
} from '../domain/submissions.js';
import { registrationSchema } from '../domain/system.js';
import { residualScore, treatmentPlanSchema, unansweredMetrics, type TreatmentPlanInput } from '../domain/treatment.js';
import { example } from './support/examples.js';

/*
 * Each message goes the way it goes in the workflow: the API parses the
 * document and hands the workflow its submission, the validator accepts it,
 * and the handler applies exactly what was accepted.
 */
const doc = <T>(schema: Parameters<typeof parseOr<T>>[0], raw: unknown, state: LifecycleState) =>
  parseOr(schema, raw, state.stage);
const initialState = (input: Omit<LifecycleInput, 'v'>, now: Date) => m.initialState({ v: 2, ...input }, now);
function submitAssessment(state: LifecycleState, ctx: Ctx, raw: Record<string, unknown>) {
  const msg = assessmentSubmission(doc(impactAssessmentSchema, raw, state));
  return m.submitAssessment(state, ctx, m.validateAssessment(state, msg));
}
function submitEvidence(state: LifecycleState, ctx: Ctx, raw: Record<string, unknown>) {
  const msg = evidenceSubmission(doc(biasEvidenceSchema, raw, state));
  return m.submitEvidence(state, ctx, m.validateEvidence(state, ctx, msg));
}
function submitPlan(state: LifecycleState, ctx: Ctx, raw: Record<string, unknown>) {
  const msg = planSubmission(doc(treatmentPlanSchema, raw, state));
  return m.submitPlan(state, ctx, m.validatePlan(state, ctx, msg));
}
function submitReview(state: LifecycleState, ctx: Ctx, raw: Record<string, unknown>) {
  const { biasEvidence, ...review } = doc(reviewSchema, raw, state);
  const msg = { ...review, ...(biasEvidence ? { biasEvidence: reviewEvidenceFacts(biasEvidence) } : {}) };
  return m.submitReview(state, ctx, m.validateReview(state, ctx, msg));
}
function newModelVersion(state: LifecycleState, ctx: Ctx, raw: Record<string, unknown>) {
  return m.newModelVersion(state, ctx, m.validateNewVersion(state, doc(newVersionSchema, raw, state)));
}
function reportIncident(state: LifecycleState, ctx: Ctx, raw: Record<string, unknown>) {
  return m.reportIncident(state, ctx, m.validateIncident(state, ctx, doc(incidentSchema, raw, state)));
}
function closeIncident(state: LifecycleState, ctx: Ctx, id: string, raw: Record<string, unknown>) {
  return m.closeIncident(state, ctx, id, m.validateIncidentClosure(state, id, doc(incidentClosureSchema, raw, state)));
}
function recordAuthorityNotification(state: LifecycleState, ctx: Ctx, raw: Record<string, unknown>) {
  const n = doc(authorityNotificationSchema, raw, state);
  return m.recordAuthorityNotification(state, ctx, m.validateAuthorityNotification(state, ctx, n));
}
function retire(state: LifecycleState, ctx: Ctx, raw: Record<string, unknown>) {
  return m.retire(state, ctx, m.validateRetirement(state, doc(retirementSchema, raw, state)));
}
type DecisionArgs = {
  requestId: string;
  decision: 'approve' | 'reject' | 'request_changes';
  comment: string;
  decidedBy: string;
  returnTo?: 'impact_assessment' | 'bias_testing' | 'risk_treatment';
};
/** A decision as the API sends it; returns the effects of applying it. */
function decide(state: LifecycleState, ctx: Ctx, d: DecisionArgs & { decidedAt?: string }): Effect[] {
  const { decidedAt: _ignored, ...rest } = d;
  const msg = { ...rest, decidedBy: rest.decidedBy.toLowerCase(), via: 'link' as const };
  return m.decide(state, ctx, m.validateDecision(state, msg)).effects;
}
function delegate(
  state: LifecycleState,
  ctx: Ctx,
  d: { requestId: string; delegatedBy: string; deputy: string; reason?: string },
): Effect[] {
  const msg = { reason: '', ...d, deputy: d.deputy.toLowerCase(), delegatedBy: d.delegatedBy.toLowerCase() };
  return m.delegate(state, ctx, m.validateDelegation(state, msg)).effects;
}

/**
 * The lifecycle rules without Temporal: every function of domain/machine.ts
 * is pure, so the clock is an explicit `now` and effects are plain data.
 */
const policy: Policy = parsePolicy(
  JSON.parse(readFileSync(fileURLToPath(new URL('../policy/default.json', import.meta.url)), 'utf8')),
  'policy/default.json',
);

/**
 * A policy from before the bias-testing gate: runs started under one replay and keep its rules (a failed
 * metric answered by a plan item), so those rules stay tested.
 */
const { biasTesting: _gate, ...withoutGate } = policy;
const legacyPolicy = {
  ...withoutGate,
  version: '2026.11.1',
  fairness: {
    demographic_parity_ratio: { min: 0.8 },
    demographic_parity_difference: { max: 0.1 },
    equalized_odds_difference: { max: 0.1 },
    equal_opportunity_difference: { max: 0.1 },
  },
} as unknown as Policy;
/** The example evidence with the age-band parity ratio under the policy's 0.8. */
const failingEvidence = () => {
  const e = example<BiasEvidenceInput>('bias-evidence.json');
  e.metrics[3]!.value = 0.74;
  return e;
};

const GL = 'governance-lead@example.org';
const OWNER = 'ml-team-lead@example.org';
const RISK_OWNER = 'head-of-hr@example.org';
const DEPUTY = 'deputy-hr@example.org';
const DAY = 86_400_000;
const T0 = new Date('2026-11-23T10:00:00.000Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY);
const ctxAt = (now: Date, p: Policy = policy): Ctx => ({ now, policy: p, governanceLead: GL });

const assessmentBody = () => example<ImpactAssessmentInput>('impact-assessment.json');
const evidenceBody = () => example<BiasEvidenceInput>('bias-evidence.json');
const planBody = () => example<TreatmentPlanInput>('treatment-plan.json');

function fresh(overrides: Record<string, unknown> = {}) {
  const registration = registrationSchema.parse({ ...example<Record<string, unknown>>('register.json'), ...overrides });
  const state = initialState({ registration, policy, governanceLead: GL }, T0);
  const effects = start(state, ctxAt(T0));
  return { state, effects };
}

/** A low-risk, minimal-category assessment that needs no bias testing and no FRIA. */
function lowRiskAssessment(decisionsAboutPeople = false): ImpactAssessmentInput {
  const a = assessmentBody();
  return {
    ...a,
    euAiAct: { category: 'minimal', rationale: 'Internal search aid; no Annex III use.' },
    decisionsAboutPeople,
    impacts: [{ ...a.impacts[0]!, severity: 'negligible', likelihood: 'rare' }],
    fria: undefined,
  };
}

function refusal(fn: () => unknown): Refusal {
  try {
    fn();
  } catch (err) {
    if (err instanceof Refusal) return err;
    throw err;
  }
  throw new Error('expected a Refusal, nothing was thrown');
}

const notifications = (effects: Effect[]) =>
  effects.flatMap((e) => (e.kind === 'notify' ? [[e.notification.kind, e.notification.to] as const] : []));
const transitions = (effects: Effect[]) =>
  effects.flatMap((e) => (e.kind === 'transition' ? [[e.from, e.to] as const] : []));
const events = (effects: Effect[]) => effects.flatMap((e) => (e.kind === 'event' ? [e.type] : []));
const notificationOf = (effects: Effect[], kind: string) => {
  const found = effects.find((e) => e.kind === 'notify' && e.notification.kind === kind);
  if (!found || found.kind !== 'notify')
    throw new Error(`no ${kind} notification among ${JSON.stringify(notifications(effects))}`);
  return found.notification as unknown as Record<string, unknown>;
};

function approveAs(state: LifecycleState, now: Date, who = state.approval!.approver, comment = 'Approved.') {
  return decide(state, ctxAt(now), {
    requestId: state.approval!.requestId,
    decision: 'approve',
    comment,
    decidedBy: who,
    decidedAt: now.toISOString(),
  });
}

/** The README's high-risk walkthrough up to the first approval request (day 2). */
function toApproval() {
  const { state } = fresh();
  submitAssessment(state, ctxAt(T0), assessmentBody());
  submitEvidence(state, ctxAt(at(1)), evidenceBody());
  submitPlan(state, ctxAt(at(2)), planBody());
  return state;
}

/** …through both approvals and the FRIA notification to active (day 4). */
function toActive() {
  const state = toApproval();
  approveAs(state, at(3));
  approveAs(state, at(3));
  recordAuthorityNotification(state, ctxAt(at(4)), example('fria-notification.json'));
  expect(state.stage).toBe('active');
  return state;
}

describe('registration', () => {
  it('starts in impact assessment with one transition and a work request to the owner', () => {
    const { state, effects } = fresh();
    expect(state).toMatchObject({
      stage: 'impact_assessment',
      cycle: 0,
      modelVersion: '2.3.0',
      policyVersion: policy.version,
      riskTier: null,
    });
    expect(effects).toEqual([
      { kind: 'transition', from: null, to: 'impact_assessment', reason: 'registered', actor: OWNER },
      expect.objectContaining({ kind: 'notify' }),
    ]);
    expect(notificationOf(effects, 'work_requested')).toMatchObject({
      to: OWNER,
      stage: 'impact_assessment',
      reminder: 0,
      systemId: 'cv-screening',
      systemName: 'CV screening assistant',
    });
    expect(state.transitions).toEqual([
      { at: T0.toISOString(), from: null, to: 'impact_assessment', reason: 'registered' },
    ]);
  });
});

describe('impact assessment', () => {
  it('derives the high tier, requires a FRIA from a deployer and moves to bias testing', () => {
    const { state } = fresh();
    const { result, effects } = submitAssessment(state, ctxAt(T0), assessmentBody());
    expect(result).toEqual({ version: 1, riskTier: 'high', score: 9, stage: 'bias_testing' });
    expect(state.fria.required).toBe(true);
    expect(effects[0]).toMatchObject({
      kind: 'assessment',
      record: { version: 1, riskTier: 'high', score: 9, submittedBy: OWNER },
    });
    expect(transitions(effects)).toEqual([['impact_assessment', 'bias_testing']]);
    expect(notifications(effects)).toEqual([['work_requested', OWNER]]);
    expect(notificationOf(effects, 'work_requested').stage).toBe('bias_testing');
  });

  it('skips bias testing for a low tier unless the system decides about people', () => {
    const low = fresh().state;
    expect(submitAssessment(low, ctxAt(T0), lowRiskAssessment(false)).result).toMatchObject({
      riskTier: 'low',
      score: 1,
      stage: 'risk_treatment',
    });
    expect(low.fria.required).toBe(false);
    const people = fresh().state;
    expect(submitAssessment(people, ctxAt(T0), lowRiskAssessment(true)).result).toMatchObject({
      riskTier: 'low',
      stage: 'bias_testing',
    });
  });

  it('refuses a high-risk assessment without a FRIA from a deployer, not from a provider only', () => {
    const { state } = fresh();
    const { fria: _fria, ...withoutFria } = assessmentBody();
    const r = refusal(() => submitAssessment(state, ctxAt(T0), withoutFria));
    expect(r.type).toBe('InvalidInput');
    expect(r.issues.map((i) => i.path)).toEqual(['fria']);
    expect(state.assessment).toBeNull();
    expect(state.stage).toBe('impact_assessment');

    const provider = fresh({ deployment: { ...example('register.json').deployment, role: 'provider' } }).state;
    expect(submitAssessment(provider, ctxAt(T0), withoutFria).result.stage).toBe('bias_testing');
    expect(provider.fria.required).toBe(false);
  });

  it('reports the paths of invalid fields', () => {
    const { state } = fresh();
    const body = assessmentBody();
    const { annexIIIArea: _area, annexIIIPoint: _point, ...noBasis } = body.euAiAct;
    const r = refusal(() =>
      submitAssessment(state, ctxAt(T0), { ...body, submittedBy: 'not-an-email', impacts: [], euAiAct: noBasis }),
    );
    expect(r.type).toBe('InvalidInput');
    expect(r.stage).toBe('impact_assessment');
    // Every problem at once, the high-risk refinement included.
    expect(r.issues.map((i) => i.path).sort()).toEqual(['euAiAct.annexIIIPoint', 'impacts', 'submittedBy']);
    const r2 = refusal(() => submitAssessment(state, ctxAt(T0), { ...body, euAiAct: noBasis }));
    expect(r2.issues.map((i) => i.path)).toEqual(['euAiAct.annexIIIPoint']);
  });

  it('refuses an assessment in the wrong stage', () => {
    const { state } = fresh();
    submitAssessment(state, ctxAt(T0), assessmentBody());
    const r = refusal(() => submitAssessment(state, ctxAt(T0), assessmentBody()));
    expect(r.type).toBe('WrongStage');
    expect(r.stage).toBe('bias_testing');
    expect(state.assessment!.version).toBe(1);
  });

  it('stops a prohibited practice and tells the governance lead and the owner', () => {
    const { state } = fresh();
    const body = {
      ...assessmentBody(),
      euAiAct: { category: 'prohibited' as const, rationale: 'Social scoring of applicants (Art. 5).' },
    };
    const { result, effects } = submitAssessment(state, ctxAt(T0), body);
    expect(result).toMatchObject({ stage: 'rejected', riskTier: 'high' });
    expect(transitions(effects)).toEqual([['impact_assessment', 'rejected']]);
    expect(notifications(effects)).toEqual([
      ['lifecycle_stopped', GL],
      ['lifecycle_stopped', OWNER],
    ]);
    expect(nextTimer(state, policy)).toBeNull();
    expect(refusal(() => reportIncident(state, ctxAt(at(1)), example('incident.json'))).type).toBe('WrongStage');
  });
});

describe('deriveRiskTier', () => {
  const impact = (severity: string, likelihood: string) =>
    ({ ...assessmentBody().impacts[0]!, severity, likelihood }) as never;
  const tier = (category: 'high_risk' | 'limited' | 'minimal' | 'prohibited', ...impacts: never[]) =>
    deriveRiskTier({ euAiAct: { category, rationale: 'x' }, impacts } as never, policy);

  it('takes the worst impact against the tier thresholds', () => {
    expect(tier('minimal', impact('minor', 'rare'))).toEqual({ tier: 'low', score: 2 });
    expect(tier('minimal', impact('minor', 'unlikely'))).toEqual({ tier: 'medium', score: 4 });
    expect(tier('minimal', impact('minor', 'likely'))).toEqual({ tier: 'medium', score: 8 });
    expect(tier('minimal', impact('major', 'possible'))).toEqual({ tier: 'high', score: 9 });
    // One severe, likely harm is not averaged away by many small ones.
    expect(
      tier('minimal', impact('negligible', 'rare'), impact('negligible', 'rare'), impact('severe', 'likely')),
    ).toEqual({ tier: 'high', score: 16 });
  });

  it('raises the tier to the EU AI Act floor, never lowers it', () => {
    expect(tier('high_risk', impact('negligible', 'rare'))).toEqual({ tier: 'high', score: 1 });
    expect(tier('limited', impact('negligible', 'rare'))).toEqual({ tier: 'medium', score: 1 });
    expect(tier('minimal', impact('negligible', 'rare'))).toEqual({ tier: 'low', score: 1 });
    expect(tier('prohibited', impact('negligible', 'rare'))).toEqual({ tier: 'high', score: 1 });
    expect(tier('limited', impact('severe', 'likely'))).toEqual({ tier: 'high', score: 16 });
    const lowFloors = { ...policy, euAiActTierFloor: { ...policy.euAiActTierFloor, high_risk: 'low' as const } };
    expect(
      deriveRiskTier(
        { euAiAct: { category: 'high_risk', rationale: 'x' }, impacts: [impact('negligible', 'rare')] } as never,
        lowFloors,
      ).tier,
    ).toBe('low');
  });
});

describe('judgeEvidence', () => {
  const metric = (name: string, value: number) => ({ name, sensitiveFeature: 'gender', value });

  it('judges min thresholds inclusively', () => {
    const [pass, fail] = judgeEvidence(
      { metrics: [metric('demographic_parity_ratio', 0.8), metric('demographic_parity_ratio', 0.79)] },
      legacyPolicy,
    );
    expect(pass).toEqual({
      name: 'demographic_parity_ratio',
      sensitiveFeature: 'gender',
      value: 0.8,
      min: 0.8,
      max: undefined,
      passed: true,
    });
    expect(fail).toMatchObject({ value: 0.79, passed: false });
  });

  it('judges max thresholds inclusively', () => {
    const [pass, fail] = judgeEvidence(
      { metrics: [metric('demographic_parity_difference', 0.1), metric('demographic_parity_difference', 0.11)] },
      legacyPolicy,
    );
    expect(pass).toMatchObject({ max: 0.1, min: undefined, passed: true });
    expect(fail).toMatchObject({ value: 0.11, passed: false });
  });

  it('passes a metric the policy has no threshold for, and keeps it on record', () => {
    expect(judgeEvidence({ metrics: [metric('accuracy', 0.01)] }, legacyPolicy)).toEqual([
      { name: 'accuracy', sensitiveFeature: 'gender', value: 0.01, min: undefined, max: undefined, passed: true },
    ]);
  });

  it('applies min and max together', () => {
    const band = { ...legacyPolicy, fairness: { disparate_impact: { min: 0.8, max: 1.25 } } };
    expect(
      judgeEvidence(
        { metrics: [metric('disparate_impact', 0.7), metric('disparate_impact', 1), metric('disparate_impact', 1.3)] },
        band,
      ).map((v) => v.passed),
    ).toEqual([false, true, false]);
  });
});

describe('bias evidence', () => {
  it('records failed metrics and moves to risk treatment', () => {
    const { state } = fresh();
    submitAssessment(state, ctxAt(T0), assessmentBody());
    const { result, effects } = submitEvidence(state, ctxAt(at(1)), failingEvidence());
    expect(result.failed).toEqual(['demographic_parity_ratio:age_band']);
    expect(result.stage).toBe('risk_treatment');
    expect(events(effects)).toEqual(['bias_evidence_submitted']);
    expect(transitions(effects)).toEqual([['bias_testing', 'risk_treatment']]);
    expect(state.evidence).toMatchObject({
      version: 1,
      effectiveDate: '2026-11-20',
      modelVersion: '2.3.0',
      submittedBy: OWNER,
    });
  });

  it('refuses evidence for another model version, or before an assessment', () => {
    const { state } = fresh();
    expect(refusal(() => submitEvidence(state, ctxAt(T0), evidenceBody())).type).toBe('WrongStage');
    submitAssessment(state, ctxAt(T0), assessmentBody());
    const r = refusal(() => submitEvidence(state, ctxAt(T0), { ...evidenceBody(), modelVersion: '9.9.9' }));
    expect(r.type).toBe('InvalidInput');
    expect(r.issues).toEqual([{ path: 'modelVersion', message: "must be the system's current model version 2.3.0" }]);
    const r2 = refusal(() =>
      submitEvidence(state, ctxAt(T0), { ...evidenceBody(), effectiveDate: '20 Nov 2026', metrics: [] }),
    );
    expect(r2.issues.map((i) => i.path).sort()).toEqual(['effectiveDate', 'metrics']);
    expect(state.evidence).toBeNull();
  });
});

describe('risk treatment', () => {
  it('unansweredMetrics lists failed metrics no item addresses', () => {
    expect(unansweredMetrics(['a:x'], ['a:x', 'b:y'])).toEqual(['b:y']);
    expect(unansweredMetrics(['a:x'], [])).toEqual([]);
  });

  it('residualScore takes the worst item; risk acceptance only above appetite', () => {
    const item = (residualSeverity: string, residualLikelihood: string) => ({ residualSeverity, residualLikelihood });
    expect(residualScore({ items: [item('minor', 'unlikely'), item('negligible', 'possible')] } as never, policy)).toBe(
      4,
    );
    expect(residualScore({ items: [item('minor', 'unlikely'), item('major', 'possible')] } as never, policy)).toBe(9);

    const atAppetite = toApproval();
    expect(atAppetite.plan).toMatchObject({ residualScore: 4, requiresRiskAcceptance: false });

    const { state } = fresh();
    submitAssessment(state, ctxAt(T0), assessmentBody());
    submitEvidence(state, ctxAt(T0), evidenceBody());
    const plan = planBody();
    const above = {
      ...plan,
      items: [
        ...plan.items,
        { ...plan.items[1]!, residualSeverity: 'minor' as const, residualLikelihood: 'possible' as const },
      ],
    };
    expect(submitPlan(state, ctxAt(T0), above).result).toEqual({
      version: 1,
      residualScore: 6,
      requiresRiskAcceptance: true,
      stage: 'approval',
    });
  });

  it('under a policy before the gate, refuses a plan that leaves a failed metric unanswered', () => {
    const { state } = fresh();
    const legacy = (now: Date) => ctxAt(now, legacyPolicy);
    submitAssessment(state, legacy(T0), assessmentBody());
    submitEvidence(state, legacy(T0), failingEvidence());
    const plan = planBody();
    const r = refusal(() => submitPlan(state, legacy(T0), plan));
    expect(r.type).toBe('InvalidInput');
    expect(r.issues).toEqual([
      { path: 'items', message: 'no item addresses the failed metrics demographic_parity_ratio:age_band' },
    ]);
    expect(state.stage).toBe('risk_treatment');
    expect(state.plan).toBeNull();
    const answered = {
      ...plan,
      items: [{ ...plan.items[0]!, addressesMetrics: ['demographic_parity_ratio:age_band'] }],
    };
    expect(submitPlan(state, legacy(T0), answered).result.stage).toBe('approval');
  });
});

describe('chainFor', () => {
  const withTier = (tier: LifecycleState['riskTier'], requiresRiskAcceptance = false) =>
    ({ riskTier: tier, plan: requiresRiskAcceptance ? { requiresRiskAcceptance } : null }) as LifecycleState;

  it('follows the policy per tier', () => {
    expect(chainFor(withTier('low'), policy, 'lifecycle')).toEqual([{ role: 'risk_owner', kind: 'treatment_plan' }]);
    expect(chainFor(withTier('medium'), policy, 'lifecycle')).toEqual([{ role: 'risk_owner', kind: 'treatment_plan' }]);
    expect(chainFor(withTier('high'), policy, 'lifecycle')).toEqual([
      { role: 'risk_owner', kind: 'treatment_plan' },
      { role: 'governance_lead', kind: 'treatment_plan' },
    ]);
    expect(chainFor(withTier(null), policy, 'lifecycle')).toEqual([{ role: 'risk_owner', kind: 'treatment_plan' }]);
    const custom = { ...policy, approvalChains: { ...policy.approvalChains, low: ['governance_lead' as const] } };
    expect(chainFor(withTier('low'), custom, 'lifecycle')).toEqual([
      { role: 'governance_lead', kind: 'treatment_plan' },
    ]);
  });

  it('adds the governance lead accepting residual risk to lifecycle chains, not to reviews', () => {
    expect(chainFor(withTier('medium', true), policy, 'lifecycle')).toEqual([
      { role: 'risk_owner', kind: 'treatment_plan' },
      { role: 'governance_lead', kind: 'risk_acceptance' },
    ]);
    expect(chainFor(withTier('high', true), policy, 'review')).toEqual([
      { role: 'risk_owner', kind: 'review' },
      { role: 'governance_lead', kind: 'review' },
    ]);
  });
});

describe('approval chain', () => {
  it('asks the risk owner first, with the digest of exactly what is approved', () => {
    const state = toApproval();
    expect(state.stage).toBe('approval');
    expect(state.approval).toMatchObject({
      requestId: 'cv-screening.c0.r1.s1',
      purpose: 'lifecycle',
      step: 1,
      role: 'risk_owner',
      approver: RISK_OWNER,
      delegatedFrom: null,
      requestedAt: at(2).toISOString(),
      expiresAt: at(16).toISOString(),
      digest: contentDigest(approvalSubject(state)),
    });
  });

  it('emits the approval request e-mail to the right person at each step, then a decision record', () => {
    const { state } = fresh();
    submitAssessment(state, ctxAt(T0), assessmentBody());
    submitEvidence(state, ctxAt(T0), evidenceBody());
    const { effects } = submitPlan(state, ctxAt(at(2)), planBody());
    expect(events(effects)).toEqual(['treatment_plan_submitted', 'approval_requested']);
    expect(notificationOf(effects, 'approval_request')).toMatchObject({
      to: RISK_OWNER,
      step: 1,
      of: 2,
      riskTier: 'high',
      reminder: 0,
      requestId: 'cv-screening.c0.r1.s1',
    });

    const first = approveAs(state, at(3), RISK_OWNER, 'Looks sound.');
    expect(first[0]).toEqual({
      kind: 'decision',
      record: expect.objectContaining({
        requestId: 'cv-screening.c0.r1.s1',
        role: 'risk_owner',
        approver: RISK_OWNER,
        decision: 'approve',
        comment: 'Looks sound.',
        returnTo: null,
        step: 1,
        assessmentVersion: 1,
      }),
    });
    expect(notifications(first)).toEqual([['approval_request', GL]]);
    expect(state.approval).toMatchObject({
      requestId: 'cv-screening.c0.r1.s2',
      step: 2,
      role: 'governance_lead',
      approver: GL,
    });
    expect(state.stage).toBe('approval');

    const digest = state.approval!.digest;
    const second = approveAs(state, at(3), GL);
    expect(transitions(second)).toEqual([['approval', 'fria_notification']]);
    expect(notifications(second)).toEqual([
      ['work_requested', OWNER],
      ['decision_outcome', OWNER],
    ]);
    expect(notificationOf(second, 'decision_outcome')).toMatchObject({
      decision: 'approve',
      approver: GL,
      nextStage: 'fria_notification',
      reviewDueAt: '2027-05-26T10:00:00.000Z',
    });
    expect(state).toMatchObject({
      approval: null,
      approvedDigest: digest,
      approvedAt: at(3).toISOString(),
      reviewDueAt: addMonths(at(3), 6).toISOString(),
    });
    expect(state.decisions.map((d) => [d.role, d.decision])).toEqual([
      ['risk_owner', 'approve'],
      ['governance_lead', 'approve'],
    ]);

    const { effects: notified } = recordAuthorityNotification(state, ctxAt(at(4)), example('fria-notification.json'));
    expect(transitions(notified)).toEqual([['fria_notification', 'active']]);
    expect(state.fria).toMatchObject({ required: true, notifiedAt: '2026-11-24', reference: 'FRIA-2026-0142' });
  });

  it('goes straight to active when the authority was notified before the approval', () => {
    const state = toApproval();
    recordAuthorityNotification(state, ctxAt(at(2)), example('fria-notification.json'));
    expect(state.stage).toBe('approval');
    approveAs(state, at(3));
    expect(transitions(approveAs(state, at(3)))).toEqual([['approval', 'active']]);
  });

  it('refuses a decision from anyone but the bound approver, or for a stale request, changing nothing', () => {
    const state = toApproval();
    const before = structuredClone(state);
    const wrongPerson = refusal(() =>
      decide(state, ctxAt(at(3)), {
        requestId: state.approval!.requestId,
        decision: 'approve',
        comment: '',
        decidedBy: GL,
      }),
    );
    expect(wrongPerson).toMatchObject({
      type: 'WrongStage',
      message: 'approval request cv-screening.c0.r1.s1 is bound to another approver',
    });
    const stale = refusal(() =>
      decide(state, ctxAt(at(3)), {
        requestId: 'cv-screening.c0.r0.s1',
        decision: 'reject',
        comment: 'x',
        decidedBy: RISK_OWNER,
      }),
    );
    expect(stale.message).toMatch(/cv-screening.c0.r0.s1 is not open/);
    expect(state).toEqual(before);
    // A signal carrying a decision never decides: it is put on record.
    expect(
      events(
        m.ignoredMessage(state, 'decision_ignored', { requestId: state.approval!.requestId, decidedBy: RISK_OWNER }),
      ),
    ).toEqual(['decision_ignored']);
    expect(state).toEqual(before);
    // The address is compared case-insensitively.
    approveAs(state, at(3), RISK_OWNER.toUpperCase());
    expect(state.approval!.step).toBe(2);
  });

  it('sends a rejection back to impact assessment with the comment, and a new round gets a new request id', () => {
    const state = toApproval();
    const effects = decide(state, ctxAt(at(3)), {
      requestId: state.approval!.requestId,
      decision: 'reject',
      comment: 'Add data provenance.',
      decidedBy: RISK_OWNER,
      decidedAt: at(3).toISOString(),
    });
    expect(effects[0]).toMatchObject({
      kind: 'decision',
      record: { decision: 'reject', returnTo: 'impact_assessment' },
    });
    expect(transitions(effects)).toEqual([['approval', 'impact_assessment']]);
    expect(notificationOf(effects, 'decision_outcome')).toMatchObject({
      to: OWNER,
      decision: 'reject',
      comment: 'Add data provenance.',
      nextStage: 'impact_assessment',
      reviewDueAt: null,
    });
    expect(state.approval).toBeNull();

    submitAssessment(state, ctxAt(at(4)), assessmentBody());
    expect(state.plan!.current).toBe(false);
    submitEvidence(state, ctxAt(at(4)), evidenceBody());
    expect(state.stage).toBe('risk_treatment');
    submitPlan(state, ctxAt(at(4)), planBody());
    expect(state.approval!.requestId).toBe('cv-screening.c0.r2.s1');
  });

  it('returns a request for changes to risk treatment by default, or to the stage asked for', () => {
    const a = toApproval();
    decide(a, ctxAt(at(3)), {
      requestId: a.approval!.requestId,
      decision: 'request_changes',
      comment: 'Tighten the measures.',
      decidedBy: RISK_OWNER,
      decidedAt: at(3).toISOString(),
    });
    expect(a.stage).toBe('risk_treatment');
    const b = toApproval();
    const effects = decide(b, ctxAt(at(3)), {
      requestId: b.approval!.requestId,
      decision: 'request_changes',
      comment: 'Test on the 2026 data.',
      returnTo: 'bias_testing',
      decidedBy: RISK_OWNER,
      decidedAt: at(3).toISOString(),
    });
    expect(b.stage).toBe('bias_testing');
    expect(notificationOf(effects, 'work_requested')).toMatchObject({ to: OWNER, stage: 'bias_testing' });
  });

  it('lets the approver delegate to a deputy, who alone may then decide', () => {
    const state = toApproval();
    const requestId = state.approval!.requestId;
    expect(refusal(() => delegate(state, ctxAt(at(3)), { requestId, delegatedBy: GL, deputy: DEPUTY })).type).toBe(
      'WrongStage',
    );
    const effects = delegate(state, ctxAt(at(3)), {
      requestId,
      delegatedBy: RISK_OWNER,
      deputy: 'Deputy-HR@Example.org',
      reason: 'On leave',
    });
    expect(effects[0]).toEqual({
      kind: 'event',
      type: 'approval_delegated',
      actor: RISK_OWNER,
      payload: { requestId, from: RISK_OWNER, deputy: DEPUTY, reason: 'On leave' },
    });
    expect(notificationOf(effects, 'approval_request')).toMatchObject({
      to: DEPUTY,
      delegatedFrom: RISK_OWNER,
      step: 1,
      requestId: `${requestId}.d`,
    });
    expect(state.approval).toMatchObject({
      requestId: `${requestId}.d`,
      approver: DEPUTY,
      delegatedFrom: RISK_OWNER,
      step: 1,
      role: 'risk_owner',
    });
    expect(state.approvalRound).toBe(1);

    expect(refusal(() => approveAs(state, at(3), RISK_OWNER)).message).toMatch(/bound to another approver/);
    approveAs(state, at(3), DEPUTY);
    expect(state.decisions.at(-1)).toMatchObject({ approver: DEPUTY, role: 'risk_owner', requestId: `${requestId}.d` });
    expect(state.approval).toMatchObject({ step: 2, approver: GL, requestId: 'cv-screening.c0.r1.s2' });
  });

  it('asks the governance lead to accept residual risk above appetite as a separate step', () => {
    const { state } = fresh();
    submitAssessment(state, ctxAt(T0), assessmentBody());
    submitEvidence(state, ctxAt(T0), evidenceBody());
    const plan = planBody();
    submitPlan(state, ctxAt(T0), {
      ...plan,
      items: [{ ...plan.items[0]!, residualSeverity: 'major', residualLikelihood: 'possible' }, ...plan.items.slice(1)],
    });
    expect(state.approval!.chain).toHaveLength(3);
    approveAs(state, at(1));
    approveAs(state, at(1));
    expect(state.approval).toMatchObject({ step: 3, role: 'governance_lead', kind: 'risk_acceptance', approver: GL });
    const effects = approveAs(state, at(1));
    expect(state.stage).toBe('fria_notification');
    expect(state.decisions.map((d) => d.kind)).toEqual(['treatment_plan', 'treatment_plan', 'risk_acceptance']);
    expect(effects[0]).toMatchObject({ kind: 'decision', record: { kind: 'risk_acceptance', step: 3 } });
  });
});

describe('approval digest', () => {
  it('is canonical: key order does not matter, content does', () => {
    expect(contentDigest({ a: 1, b: { c: [1, 2], d: undefined } })).toBe(contentDigest({ b: { c: [1, 2] }, a: 1 }));
    expect(contentDigest({ a: 1, b: { c: [2, 1] } })).not.toBe(contentDigest({ a: 1, b: { c: [1, 2] } }));
  });

  it('changes when the treatment plan changes', () => {
    const state = toApproval();
    const first = state.approval!.digest;
    decide(state, ctxAt(at(3)), {
      requestId: state.approval!.requestId,
      decision: 'request_changes',
      comment: 'More.',
      decidedBy: RISK_OWNER,
      decidedAt: at(3).toISOString(),
    });
    const plan = planBody();
    submitPlan(state, ctxAt(at(4)), {
      ...plan,
      items: [{ ...plan.items[0]!, measures: `${plan.items[0]!.measures} Monitor monthly.` }, ...plan.items.slice(1)],
    });
    expect(state.approval!.digest).toBe(contentDigest(approvalSubject(state)));
    expect(state.approval!.digest).not.toBe(first);
  });

  it('changes when the model version changes, and the pinned approval is invalidated', () => {
    const state = toActive();
    const approved = state.approvedDigest!;
    expect(approved).toBe(contentDigest(approvalSubject(state)));
    const { effects, result } = newModelVersion(state, ctxAt(at(10)), example('new-version.json'));
    expect(result).toEqual({ modelVersion: '2.4.0', stage: 'bias_testing' });
    expect(effects[1]).toEqual({
      kind: 'event',
      type: 'approval_invalidated',
      actor: OWNER,
      payload: { digest: approved, reason: 'new model version 2.4.0' },
    });
    expect(state.approvedDigest).toBeNull();
    expect(contentDigest(approvalSubject(state))).not.toBe(approved);
  });
});

describe('new model version', () => {
  it('carries a current plan over: covering evidence goes straight to approval', () => {
    const state = toActive();
    newModelVersion(state, ctxAt(at(10)), example('new-version.json'));
    const { effects, result } = submitEvidence(state, ctxAt(at(11)), { ...evidenceBody(), modelVersion: '2.4.0' });
    expect(result.stage).toBe('approval');
    expect(transitions(effects)).toEqual([['bias_testing', 'approval']]);
    expect(state.approval).toMatchObject({ requestId: 'cv-screening.c0.r2.s1', approver: RISK_OWNER });
  });

  it('sends the system to a full reassessment when purpose or context changed', () => {
    const state = toActive();
    const { result } = newModelVersion(state, ctxAt(at(10)), {
      ...example('new-version.json'),
      purposeAndContextUnchanged: false,
    });
    expect(result.stage).toBe('impact_assessment');
  });

  it('withdraws an open approval request', () => {
    const state = toApproval();
    const { effects } = newModelVersion(state, ctxAt(at(3)), example('new-version.json'));
    expect(events(effects)).toEqual(['model_version_changed', 'approval_request_withdrawn']);
    expect(state.approval).toBeNull();
  });

  it('refuses the current version, and any version before the first assessment', () => {
    const state = toActive();
    const r = refusal(() =>
      newModelVersion(state, ctxAt(at(10)), { ...example('new-version.json'), version: '2.3.0' }),
    );
    expect(r.type).toBe('InvalidInput');
    expect(r.issues.map((i) => i.path)).toEqual(['version']);
    expect(refusal(() => newModelVersion(fresh().state, ctxAt(T0), example('new-version.json'))).type).toBe(
      'WrongStage',
    );
  });
});

describe('incidents', () => {
  it('tells only the owner of a minor incident and leaves the stage alone', () => {
    const state = toActive();
    const { result, effects } = reportIncident(state, ctxAt(at(20)), {
      ...example('incident.json'),
      severity: 'minor',
    });
    expect(result).toEqual({ incidentId: 'inc-1', stage: 'active' });
    expect(notifications(effects)).toEqual([['incident_reported', OWNER]]);
    expect(state.incidents[0]).toMatchObject({
      id: 'inc-1',
      reportedAt: at(20).toISOString(),
      correctiveActionDueAt: at(50).toISOString(),
      closedAt: null,
    });
    expect(state.approvedDigest).not.toBeNull();
  });

  it('turns a serious incident into an immediate review and tells the governance lead', () => {
    const state = toActive();
    const { result, effects } = reportIncident(state, ctxAt(at(20)), example('incident.json'));
    expect(result.stage).toBe('review_due');
    expect(notifications(effects)).toEqual([
      ['incident_reported', OWNER],
      ['incident_reported', GL],
      ['review_due', OWNER],
    ]);
    expect(events(effects)).toEqual(['incident_reported', 'approval_invalidated']);
    expect(transitions(effects)).toEqual([['active', 'review_due']]);
    expect(state).toMatchObject({ reviewDueAt: at(20).toISOString(), reviewTrigger: 'incident', approvedDigest: null });
  });

  it('closes an incident once, and only a known one', () => {
    const state = toActive();
    reportIncident(state, ctxAt(at(20)), { ...example('incident.json'), severity: 'minor' });
    const unknown = refusal(() => closeIncident(state, ctxAt(at(21)), 'inc-9', example('incident-close.json')));
    expect(unknown).toMatchObject({ type: 'InvalidInput', issues: [{ path: 'incidentId', message: 'is unknown' }] });
    closeIncident(state, ctxAt(at(21)), 'inc-1', example('incident-close.json'));
    expect(state.incidents[0]).toMatchObject({ closedAt: at(21).toISOString(), closedBy: RISK_OWNER });
    expect(refusal(() => closeIncident(state, ctxAt(at(22)), 'inc-1', example('incident-close.json'))).type).toBe(
      'WrongStage',
    );
  });
});

describe('periodic review', () => {
  it('signs off a review through the chain, completes the cycle and schedules the next review from today', () => {
    const state = toActive();
    const due = new Date(state.reviewDueAt!);
    const { result, effects } = submitReview(state, ctxAt(due), example('review.json'));
    expect(result.stage).toBe('approval');
    expect(transitions(effects)).toEqual([
      ['active', 'review_due'],
      ['review_due', 'approval'],
    ]);
    expect(state.review).toMatchObject({ cycle: 0, trigger: 'early', performedBy: OWNER });
    expect(state.evidence).toMatchObject({ version: 2, effectiveDate: '2026-11-30', failed: [] });
    expect(state.approval).toMatchObject({
      purpose: 'review',
      kind: 'review',
      requestId: 'cv-screening.c0.r2.s1',
      approver: RISK_OWNER,
    });
    expect(notificationOf(effects, 'approval_request')).toMatchObject({
      to: RISK_OWNER,
      subject: 'periodic review sign-off',
    });

    const signedOff = at(200);
    approveAs(state, signedOff);
    const last = approveAs(state, signedOff);
    expect(transitions(last)).toEqual([['approval', 'active']]);
    expect(state).toMatchObject({
      cycleComplete: true,
      lastReviewCompletedAt: signedOff.toISOString(),
      reviewDueAt: addMonths(signedOff, 6).toISOString(),
      reviewTrigger: null,
    });
  });

  it('requires fresh bias evidence once the evidence on record is older than the policy allows', () => {
    const state = toActive();
    const { biasEvidence: _b, ...withoutEvidence } = example('review.json');
    const evidenceDate = Date.parse('2026-11-20');
    const old = new Date(evidenceDate + durationMs(policy.evidence.maxAge) + DAY);
    const r = refusal(() => submitReview(state, ctxAt(old), withoutEvidence as never));
    expect(r.type).toBe('InvalidInput');
    expect(r.issues.map((i) => i.path)).toEqual(['biasEvidence']);
    expect(submitReview(state, ctxAt(new Date(evidenceDate + 10 * DAY)), withoutEvidence as never).result.stage).toBe(
      'approval',
    );
  });

  it('sends failed review evidence to risk treatment and retires the old plan', () => {
    const state = toActive();
    const review = example('review.json');
    review.biasEvidence.metrics[3].value = 0.7;
    const { result, effects } = submitReview(state, ctxAt(at(30)), review as never);
    expect(result.stage).toBe('risk_treatment');
    expect(events(effects)).toEqual(['review_submitted', 'bias_evidence_submitted', 'approval_invalidated']);
    expect(state.plan!.current).toBe(false);
    expect(state.evidence!.failed).toEqual(['demographic_parity_ratio:age_band']);
  });

  it('sends a material change to a full reassessment', () => {
    const state = toActive();
    const { result } = submitReview(state, ctxAt(at(30)), {
      ...example<Record<string, unknown>>('review.json'),
      materialChange: true,
      changeDescription: 'Now also used for internal promotions.',
    } as never);
    expect(result.stage).toBe('impact_assessment');
    expect(state.approvedDigest).toBeNull();
  });

  it('refuses a review while an approval is open', () => {
    expect(refusal(() => submitReview(toApproval(), ctxAt(at(3)), example('review.json') as never)).type).toBe(
      'WrongStage',
    );
  });
});

describe('retirement', () => {
  it('retires once, listing open incidents and telling the owner and the governance lead', () => {
    const state = toActive();
    reportIncident(state, ctxAt(at(20)), { ...example('incident.json'), severity: 'minor' });
    const { result, effects } = retire(state, ctxAt(at(30)), example('retire.json'));
    expect(result).toEqual({ stage: 'retired', retiredAt: at(30).toISOString() });
    expect(effects[0]).toMatchObject({ kind: 'event', type: 'system_retired', payload: { openIncidents: ['inc-1'] } });
    expect(notifications(effects)).toEqual([
      ['retired', OWNER],
      ['retired', GL],
    ]);
    expect(nextTimer(state, policy)).toBeNull();
    expect(refusal(() => retire(state, ctxAt(at(31)), example('retire.json'))).type).toBe('WrongStage');
  });

  it('sends one e-mail when the owner is the governance lead', () => {
    const { state } = fresh({ owner: GL });
    expect(notifications(retire(state, ctxAt(T0), example('retire.json')).effects)).toEqual([['retired', GL]]);
  });
});

describe('timers', () => {
  it('reminds the owner of outstanding work up to the policy maximum', () => {
    const { state } = fresh();
    const reminder = durationMs(policy.assessment.reminderAfter);
    for (let n = 1; n <= policy.assessment.maxReminders; n++) {
      const timer = nextTimer(state, policy)!;
      expect(timer.at.getTime()).toBe(T0.getTime() + n * reminder);
      const effects = timer.fire(state, ctxAt(timer.at));
      expect(notifications(effects)).toEqual([['work_requested', OWNER]]);
      expect(notificationOf(effects, 'work_requested')).toMatchObject({ reminder: n, reason: 'reminder' });
    }
    expect(nextTimer(state, policy)).toBeNull();
  });

  it('reminds the approver every two days, then escalates to the governance lead', () => {
    const state = toApproval();
    const requested = at(2).getTime();
    for (let n = 1; n <= 3; n++) {
      const timer = nextTimer(state, policy)!;
      expect(timer.at.getTime()).toBe(requested + n * 2 * DAY);
      const effects = timer.fire(state, ctxAt(timer.at));
      expect(notifications(effects)).toEqual([['approval_request', RISK_OWNER]]);
      expect(notificationOf(effects, 'approval_request').reminder).toBe(n);
    }
    const escalation = nextTimer(state, policy)!;
    expect(escalation.at.getTime()).toBe(requested + 7 * DAY);
    const effects = escalation.fire(state, ctxAt(escalation.at));
    expect(notifications(effects)).toEqual([['approval_escalation', GL]]);
    expect(notificationOf(effects, 'approval_escalation')).toMatchObject({
      approver: RISK_OWNER,
      subject: 'impact assessment and risk-treatment plan',
    });
    expect(state.approval!.escalatedAt).toBe(escalation.at.toISOString());
    expect(nextTimer(state, policy)).toBeNull();
  });

  it('sends a reminder and an escalation together when they fall due at once', () => {
    const same = { ...policy, approvals: { ...policy.approvals, reminderAfter: '7d', maxReminders: 1 } };
    const state = toApproval();
    const timer = nextTimer(state, same)!;
    expect(notifications(timer.fire(state, ctxAt(timer.at, same)))).toEqual([
      ['approval_escalation', GL],
      ['approval_request', RISK_OWNER],
    ]);
  });

  it('reminds the owner before a review, makes it due, then escalates while overdue', () => {
    const state = toActive();
    const due = Date.parse(state.reviewDueAt!);
    const upcoming = nextTimer(state, policy)!;
    expect(upcoming.at.getTime()).toBe(due - 30 * DAY);
    expect(notifications(upcoming.fire(state, ctxAt(upcoming.at)))).toEqual([['review_upcoming', OWNER]]);

    const falls = nextTimer(state, policy)!;
    expect(falls.at.getTime()).toBe(due);
    const effects = falls.fire(state, ctxAt(falls.at));
    expect(transitions(effects)).toEqual([['active', 'review_due']]);
    expect(notifications(effects)).toEqual([['review_due', OWNER]]);

    for (let n = 1; n <= 2; n++) {
      const overdue = nextTimer(state, policy)!;
      expect(overdue.at.getTime()).toBe(due + n * 7 * DAY);
      const fx = overdue.fire(state, ctxAt(overdue.at));
      expect(notifications(fx)).toEqual([['review_overdue', GL]]);
      expect(notificationOf(fx, 'review_overdue')).toMatchObject({ escalation: n, owner: OWNER });
    }
  });
});

describe('carryOver', () => {
  it('starts the next cycle with open incidents and recent history only', () => {
    const state = toActive();
    reportIncident(state, ctxAt(at(20)), { ...example('incident.json'), severity: 'minor' });
    reportIncident(state, ctxAt(at(21)), { ...example('incident.json'), severity: 'minor' });
    closeIncident(state, ctxAt(at(22)), 'inc-1', example('incident-close.json'));
    state.cycleComplete = true;
    state.decisions = Array.from({ length: 14 }, (_, i) => ({ ...state.decisions[0]!, requestId: `r${i}` }));
    state.transitions = Array.from({ length: 12 }, (_, i) => ({ ...state.transitions[0]!, reason: `t${i}` }));

    const next = carryOver(state, at(400));
    expect(next.cycle).toBe(1);
    expect(next.cycleComplete).toBe(false);
    expect(next.incidents.map((i) => i.id)).toEqual(['inc-2']);
    expect(next.decisions.map((d) => d.requestId)).toEqual([
      'r4',
      'r5',
      'r6',
      'r7',
      'r8',
      'r9',
      'r10',
      'r11',
      'r12',
      'r13',
    ]);
    expect(next.transitions.map((t) => t.reason)).toEqual([
      't2',
      't3',
      't4',
      't5',
      't6',
      't7',
      't8',
      't9',
      't10',
      't11',
    ]);
    expect(next).toMatchObject({
      stage: 'active',
      reviewDueAt: state.reviewDueAt,
      approvedDigest: state.approvedDigest,
      modelVersion: '2.3.0',
    });
    // The previous run's state is left as it was.
    expect(state.cycle).toBe(0);
    expect(state.incidents).toHaveLength(2);

    // Request ids and incident ids of the next cycle do not collide with the last one's.
    const { result } = reportIncident(next, ctxAt(at(30)), { ...example('incident.json'), severity: 'minor' });
    // Incident ids continue across cycles, so an id is never reused for another incident.
    expect(result.incidentId).toBe('inc-3');
  });

  it('keeps at most STATE_HISTORY_LIMIT decisions and transitions within a cycle', () => {
    const state = toApproval();
    for (let i = 0; i < STATE_HISTORY_LIMIT + 5; i++) {
      decide(state, ctxAt(at(3)), {
        requestId: state.approval!.requestId,
        decision: 'request_changes',
        comment: 'Once more.',
        decidedBy: state.approval!.approver,
        decidedAt: at(3).toISOString(),
      });
      submitPlan(state, ctxAt(at(3)), planBody());
    }
    expect(state.decisions).toHaveLength(STATE_HISTORY_LIMIT);
    expect(state.transitions).toHaveLength(STATE_HISTORY_LIMIT);
    expect(state.approval!.requestId).toBe(`cv-screening.c0.r${STATE_HISTORY_LIMIT + 6}.s1`);
  });
});

describe('durations and dates', () => {
  it('durationMs reads the policy units', () => {
    expect(durationMs('90s')).toBe(90_000);
    expect(durationMs('90m')).toBe(5_400_000);
    expect(durationMs('36h')).toBe(129_600_000);
    expect(durationMs('2d')).toBe(2 * DAY);
    expect(durationMs('1w')).toBe(7 * DAY);
    expect(durationMs(' 2d ')).toBe(2 * DAY);
    expect(() => durationMs('2 days')).toThrow(/not a duration/);
    expect(() => durationMs('1.5d')).toThrow(/not a duration/);
    expect(() => durationMs('')).toThrow(/not a duration/);
  });

  it('addMonths clamps to the last day of a shorter month', () => {
    expect(addMonths(new Date('2027-01-31T09:15:00Z'), 1).toISOString()).toBe('2027-02-28T09:15:00.000Z');
    expect(addMonths(new Date('2028-01-31T00:00:00Z'), 1).toISOString()).toBe('2028-02-29T00:00:00.000Z');
    expect(addMonths(new Date('2026-08-31T00:00:00Z'), 6).toISOString()).toBe('2027-02-28T00:00:00.000Z');
    expect(addMonths(new Date('2026-03-31T00:00:00Z'), 1).toISOString()).toBe('2026-04-30T00:00:00.000Z');
    expect(addMonths(new Date('2026-12-15T12:00:00Z'), 1).toISOString()).toBe('2027-01-15T12:00:00.000Z');
    expect(addMonths(new Date('2026-11-23T10:00:00Z'), 24).toISOString()).toBe('2028-11-23T10:00:00.000Z');
    expect(addMonths(new Date('2026-03-31T00:00:00Z'), -1).toISOString()).toBe('2026-02-28T00:00:00.000Z');
  });

  it('evidenceIsStale counts from the day the test ran', () => {
    const ran = Date.parse('2026-11-20');
    const maxAge = durationMs(policy.evidence.maxAge);
    expect(evidenceIsStale('2026-11-20', new Date(ran + maxAge), policy)).toBe(false);
    expect(evidenceIsStale('2026-11-20', new Date(ran + maxAge + 1), policy)).toBe(true);
    expect(
      evidenceIsStale('2026-11-20', new Date(ran), { ...policy, evidence: { ...policy.evidence, maxAge: '1d' } }),
    ).toBe(false);
  });
});
