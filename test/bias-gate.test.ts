import { describe, expect, it } from 'vitest';
import { impactAssessmentSchema } from '../domain/assessment.js';
import type { AnalysisRequest, ComputedFairness } from '../domain/bias-gate.js';
import { biasEvidenceSchema, type BiasEvidenceInput } from '../domain/evidence.js';
import type { LifecycleState } from '../domain/lifecycle.js';
import * as m from '../domain/machine.js';
import { Refusal, parseOr, type Ctx, type Effect } from '../domain/machine.js';
import { parsePolicy, policySchema, type Policy } from '../domain/policy.js';
import { assessmentSubmission, evidenceSubmission, planSubmission } from '../domain/submissions.js';
import { registrationSchema } from '../domain/system.js';
import { treatmentPlanSchema } from '../domain/treatment.js';
import { loadPolicy } from '../config/policy-file.js';
import { example } from './support/examples.js';

/*
 * The bias-testing gate as the machine applies it: what declared evidence must show, which verdicts hold
 * approval, how computed verdicts arrive, and the governance lead's acceptance. The workflow and the API
 * run exactly these functions (test/bias-upload.e2e.test.ts drives them end to end).
 */
const policy: Policy = await loadPolicy();
const GL = 'governance-lead@example.org';
const OWNER = 'ml-team-lead@example.org';
const T0 = new Date('2026-12-01T10:00:00.000Z');
const ctx = (p: Policy = policy): Ctx => ({ now: T0, policy: p, governanceLead: GL });

function refusal(fn: () => unknown): Refusal {
  try {
    fn();
  } catch (err) {
    if (err instanceof Refusal) return err;
    throw err;
  }
  throw new Error('expected a Refusal, nothing was thrown');
}
const events = (effects: Effect[]) => effects.flatMap((e) => (e.kind === 'event' ? [e.type] : []));

/** A high-tier system (the README's CV screening) in bias testing. */
function inBiasTesting(p: Policy = policy, registration: Record<string, unknown> = {}): LifecycleState {
  const reg = registrationSchema.parse({ ...example<Record<string, unknown>>('register.json'), ...registration });
  const state = m.initialState({ v: 2, registration: reg, policy: p, governanceLead: GL }, T0);
  m.start(state, ctx(p));
  const a = assessmentSubmission(parseOr(impactAssessmentSchema, example('impact-assessment.json'), state.stage));
  m.submitAssessment(state, ctx(p), m.validateAssessment(state, a));
  expect([state.stage, state.riskTier]).toEqual(['bias_testing', 'high']);
  return state;
}
const declared = (state: LifecycleState, body: BiasEvidenceInput, p: Policy = policy) => {
  const msg = evidenceSubmission(parseOr(biasEvidenceSchema, body, state.stage));
  return m.submitEvidence(state, ctx(p), m.validateEvidence(state, ctx(p), msg));
};
const plan = (state: LifecycleState, p: Policy = policy) => {
  const msg = planSubmission(parseOr(treatmentPlanSchema, example('treatment-plan.json'), state.stage));
  return m.submitPlan(state, ctx(p), m.validatePlan(state, ctx(p), msg));
};
const evidence = () => example<BiasEvidenceInput>('bias-evidence.json');
const failing = () => {
  const e = evidence();
  e.metrics[3]!.value = 0.74; // demographic_parity_ratio for age_band, under the policy's 0.8
  return e;
};

const request = (over: Partial<AnalysisRequest> = {}): AnalysisRequest => ({
  analysisId: 'an-0123456789abcdef01234567',
  submittedBy: OWNER,
  modelVersion: '2.3.0',
  effectiveDate: '2026-11-30',
  dataset: 'Hold-out predictions, November 2026',
  blob: 'a'.repeat(64),
  bytes: 1234,
  spec: { format: 'csv', label: 'y', prediction: 'yhat', sensitive: ['gender', 'age_band'] },
  ...over,
});

/** What the activity answers: one metric per family, verdicts as the engine gave them. */
function computed(verdicts: Partial<Record<string, 'pass' | 'fail' | 'inconclusive'>> = {}): ComputedFairness {
  const families = [
    { feature: 'gender', intersection: false },
    { feature: 'age_band', intersection: false },
    { feature: 'gender × age_band', intersection: true },
  ];
  const names = ['demographic_parity_ratio', 'equalized_odds_difference', 'equal_opportunity_difference'] as const;
  return {
    reportDigest: 'b'.repeat(64),
    sha256: 'a'.repeat(64),
    rows: 12_000,
    bytes: 1234,
    skippedRows: 0,
    features: ['gender', 'age_band'],
    metrics: families.flatMap((f) =>
      names.map((name) => ({
        name,
        feature: f.feature,
        intersection: f.intersection,
        value: 0.5,
        ci: [0.45, 0.55] as [number, number],
        verdict: verdicts[`${name}:${f.feature}`] ?? 'pass',
        reason: 'as the engine judged it',
        groups: [
          { group: 'x', count: 4000 },
          { group: 'y', count: 8000 },
        ],
        groupCount: 2,
      })),
    ),
  };
}

describe('the policy', () => {
  it('names the required metrics per tier, each with a threshold', () => {
    expect(policy.biasTesting.required.high).toContain('demographic_parity_ratio');
    const { success, error } = policySchema.safeParse({
      ...policy,
      biasTesting: { ...policy.biasTesting, thresholds: {} },
    });
    expect(success).toBe(false);
    expect(error!.issues.map((i) => i.path.join('.'))).toContain('biasTesting.required.medium.0');
  });

  it('refuses the thresholds of a policy from before the gate beside the gate', () => {
    expect(() => parsePolicy({ ...policy, fairness: { demographic_parity_ratio: { min: 0.8 } } })).toThrow(
      /fairness: replaced by biasTesting.thresholds/,
    );
  });
});

describe('declared evidence under the gate', () => {
  it('refuses an unknown metric name, naming it and the known ones', () => {
    const state = inBiasTesting();
    const body = evidence();
    body.metrics.push({ name: 'dp_ratio', sensitiveFeature: 'gender', value: 0.1 });
    const r = refusal(() => declared(state, body));
    expect(r.type).toBe('InvalidInput');
    expect(r.issues[0]).toMatchObject({ path: 'metrics.6.name' });
    expect(r.issues[0]!.message).toMatch(
      /^dp_ratio is not a metric the policy knows: one of demographic_parity_difference/,
    );
    expect(state.evidence).toBeNull();
  });

  it('refuses evidence missing a required metric for a feature it or the registration names', () => {
    const state = inBiasTesting(policy, { sensitiveFeatures: ['gender', 'age_band', 'disability'] });
    const r = refusal(() => declared(state, evidence()));
    expect(r.issues).toEqual([
      {
        path: 'metrics',
        message:
          'a high-tier system must show demographic_parity_ratio, equalized_odds_difference, equal_opportunity_difference for every sensitive feature; missing demographic_parity_ratio:disability, equalized_odds_difference:disability, equal_opportunity_difference:disability',
      },
    ]);
    // The tiny submission that used to pass the gate with `failed: []`.
    const other = inBiasTesting();
    const tiny = {
      ...evidence(),
      metrics: [{ name: 'demographic_parity_ratio', sensitiveFeature: 'gender', value: 0.1 }],
    };
    expect(refusal(() => declared(other, tiny)).issues[0]!.message).toMatch(/missing equalized_odds_difference:gender/);
  });

  it('records an informational metric unjudged, and judges the rest by their point', () => {
    const state = inBiasTesting();
    const body = evidence();
    body.metrics.push({ name: 'accuracy', sensitiveFeature: 'gender', value: 0.01 });
    const { result } = declared(state, body);
    expect(result.failed).toEqual([]);
    const accuracy = result.verdicts.find((v) => v.name === 'accuracy')!;
    expect(accuracy).toMatchObject({ passed: true, gating: false, source: 'declared' });
    expect(accuracy.verdict).toBeUndefined();
    expect(result.verdicts[0]).toMatchObject({ verdict: 'pass', gating: true, source: 'declared', min: 0.8 });
  });

  it('refuses declared metrics outright when the policy takes only computed evidence', () => {
    const strict = { ...policy, biasTesting: { ...policy.biasTesting, declaredMetrics: 'refuse' as const } };
    const state = inBiasTesting(strict);
    expect(refusal(() => declared(state, evidence(), strict)).issues[0]!.message).toMatch(
      /accepts bias evidence only as computed from predictions/,
    );
  });
});

describe('the gate', () => {
  it('holds the plan while a metric fails, even when an item names it', () => {
    const state = inBiasTesting();
    const { result } = declared(state, failing());
    expect(result).toMatchObject({ failed: ['demographic_parity_ratio:age_band'], stage: 'risk_treatment' });
    const r = refusal(() => plan(state));
    expect(r.issues).toEqual([
      {
        path: 'items',
        message: 'approval is held by demographic_parity_ratio:age_band: a plan item naming them is not enough',
      },
    ]);
    expect(state.plan).toBeNull();
  });

  it('opens once new passing evidence arrives', () => {
    const state = inBiasTesting();
    declared(state, failing());
    declared(state, evidence());
    expect(state.evidence).toMatchObject({ version: 2, failed: [], inconclusive: [] });
    expect(plan(state).result.stage).toBe('approval');
  });

  it("opens with the governance lead's recorded acceptance, with reasons, of exactly the open metrics", () => {
    const state = inBiasTesting();
    declared(state, failing());
    const accept = (over: Record<string, unknown>) =>
      m.acceptRisk(
        state,
        ctx(),
        m.validateRiskAcceptance(state, ctx(), {
          acceptedBy: GL,
          evidenceVersion: 1,
          metrics: ['demographic_parity_ratio:age_band'],
          reasons: 'Retraining is scheduled for January; recruiters review every rank of applicants over 50.',
          ...over,
        }),
      );
    expect(refusal(() => accept({ acceptedBy: OWNER })).issues).toEqual([
      { path: 'acceptedBy', message: 'must be the governance lead' },
    ]);
    expect(refusal(() => accept({ evidenceVersion: 2 })).type).toBe('WrongStage');
    expect(refusal(() => accept({ metrics: ['demographic_parity_ratio:gender'] })).issues[0]!.message).toBe(
      'must be among demographic_parity_ratio:age_band',
    );
    expect(refusal(() => accept({ reasons: 'fine' })).issues[0]!.path).toBe('reasons');
    const { result, effects } = accept({});
    expect(result).toEqual({
      evidenceVersion: 1,
      accepted: ['demographic_parity_ratio:age_band'],
      open: [],
      stage: 'risk_treatment',
    });
    expect(events(effects)).toEqual(['fairness_risk_accepted']);
    expect(effects[0]).toMatchObject({ actor: GL, payload: { reasons: expect.stringMatching(/^Retraining/) } });
    // The plan must still say how the accepted risk is treated.
    const msg = planSubmission(parseOr(treatmentPlanSchema, example('treatment-plan.json'), state.stage));
    expect(refusal(() => m.validatePlan(state, ctx(), msg)).issues[0]!.message).toMatch(/no item addresses/);
    const answered = { ...msg, items: [{ ...msg.items[0]!, addressesMetrics: ['demographic_parity_ratio:age_band'] }] };
    expect(m.submitPlan(state, ctx(), m.validatePlan(state, ctx(), answered)).result.stage).toBe('approval');
    // An acceptance covers the evidence it named; new evidence is judged afresh.
    expect(state.evidence!.accepted).toEqual([
      { metrics: ['demographic_parity_ratio:age_band'], by: GL, at: T0.toISOString() },
    ]);
  });
});

describe('computed evidence', () => {
  it('refuses predictions that leave out a feature the registration names, or another model version', () => {
    const state = inBiasTesting(policy, { sensitiveFeatures: ['gender', 'age_band'] });
    const r = refusal(() =>
      m.validateAnalysis(state, ctx(), request({ spec: { ...request().spec, sensitive: ['gender'] } })),
    );
    expect(r.issues).toEqual([{ path: 'sensitive', message: 'must include age_band' }]);
    expect(refusal(() => m.validateAnalysis(state, ctx(), request({ modelVersion: '9' }))).issues[0]!.path).toBe(
      'modelVersion',
    );
  });

  it('accepts at once, then records the verdicts: required metrics gate, intersections are reported', () => {
    const state = inBiasTesting();
    const a = m.requestAnalysis(state, ctx(), m.validateAnalysis(state, ctx(), request()));
    expect(a.result).toEqual({ analysisId: request().analysisId, status: 'running', stage: 'bias_testing' });
    expect(events(a.effects)).toEqual(['bias_analysis_requested']);
    expect(refusal(() => m.validateAnalysis(state, ctx(), request())).issues[0]!.path).toBe('analysisId');
    const effects = m.completeAnalysis(
      state,
      ctx(),
      a.analysis.id,
      computed({
        'equal_opportunity_difference:age_band': 'inconclusive',
        'demographic_parity_ratio:gender × age_band': 'fail',
      }),
    );
    expect(events(effects)).toEqual(['bias_analysis_completed', 'bias_evidence_submitted']);
    expect(state.stage).toBe('risk_treatment');
    expect(state.evidence).toMatchObject({
      version: 1,
      source: 'computed',
      digest: 'b'.repeat(64),
      predictions: 'a'.repeat(64),
      rows: 12_000,
      failed: [],
      inconclusive: ['equal_opportunity_difference:age_band'],
    });
    const v = state.evidence!.verdicts.find((x) => x.sensitiveFeature === 'gender × age_band')!;
    expect(v).toMatchObject({ verdict: 'fail', gating: false, intersection: true, ci: [0.45, 0.55], groupCount: 2 });
    expect(state.analyses![0]).toMatchObject({ status: 'completed', evidenceVersion: 1, reportDigest: 'b'.repeat(64) });
    // Inconclusive holds approval as a failure does.
    expect(refusal(() => plan(state)).issues[0]!.message).toMatch(/held by equal_opportunity_difference:age_band/);
  });

  it('judges intersections too when the policy says so', () => {
    const p = { ...policy, biasTesting: { ...policy.biasTesting, judgeIntersections: true } };
    const state = inBiasTesting(p);
    const a = m.requestAnalysis(state, ctx(p), m.validateAnalysis(state, ctx(p), request()));
    m.completeAnalysis(
      state,
      ctx(p),
      a.analysis.id,
      computed({ 'demographic_parity_ratio:gender × age_band': 'fail' }),
    );
    expect(state.evidence!.failed).toEqual(['demographic_parity_ratio:gender × age_band']);
  });

  it('goes straight to approval when the current plan still applies and every verdict passes', () => {
    const state = inBiasTesting();
    declared(state, evidence());
    plan(state);
    m.decide(state, ctx(), {
      requestId: state.approval!.requestId,
      decision: 'request_changes',
      comment: 'Please test on the 2026 data.',
      returnTo: 'bias_testing',
      decidedBy: state.approval!.approver,
      via: 'link',
    });
    expect(state.stage).toBe('bias_testing');
    const a = m.requestAnalysis(state, ctx(), m.validateAnalysis(state, ctx(), request()));
    m.completeAnalysis(state, ctx(), a.analysis.id, computed());
    expect(state.stage).toBe('approval');
  });

  it('records a file it cannot analyse as failed, and keeps nothing of it as evidence', () => {
    const state = inBiasTesting();
    const a = m.requestAnalysis(state, ctx(), m.validateAnalysis(state, ctx(), request()));
    const issues = [{ line: 3, message: 'label "maybe" is not binary' }];
    const effects = m.failAnalysis(state, ctx(), a.analysis.id, 'column "y" is not binary', issues);
    expect(events(effects)).toEqual(['bias_analysis_failed']);
    expect(state.analyses![0]).toMatchObject({ status: 'failed', error: 'column "y" is not binary', issues });
    expect(state.evidence).toBeNull();
    expect(state.stage).toBe('bias_testing');
    // A late answer for a finished analysis changes nothing.
    expect(m.completeAnalysis(state, ctx(), a.analysis.id, computed())).toEqual([]);
  });

  it('supersedes verdicts that arrive after the system moved to another model version', () => {
    const state = inBiasTesting();
    const a = m.requestAnalysis(state, ctx(), m.validateAnalysis(state, ctx(), request()));
    m.newModelVersion(state, ctx(), m.validateNewVersion(state, example('new-version.json')));
    const effects = m.completeAnalysis(state, ctx(), a.analysis.id, computed());
    expect(events(effects)).toEqual(['bias_analysis_superseded']);
    expect(state.analyses![0]!.status).toBe('superseded');
    expect(state.evidence).toBeNull();
  });

  it('is refused under a policy from before the gate: such runs adopt it at their next cycle', () => {
    const { biasTesting: _gate, ...old } = policy;
    const legacy = { ...old, fairness: { demographic_parity_ratio: { min: 0.8 } } } as unknown as Policy;
    const state = inBiasTesting(legacy);
    expect(refusal(() => m.validateAnalysis(state, ctx(legacy), request())).message).toMatch(
      /from before computed bias evidence/,
    );
  });
});

describe('what the approver sees', () => {
  it('the approval e-mail and page show each verdict with its interval and the group sizes behind it', async () => {
    const { renderNotification } = await import('../activities/mail-templates.js');
    const { approvalPage } = await import('../api/pages/approval.js');
    const state = inBiasTesting();
    const a = m.requestAnalysis(state, ctx(), m.validateAnalysis(state, ctx(), request()));
    m.completeAnalysis(state, ctx(), a.analysis.id, computed({ 'demographic_parity_ratio:age_band': 'fail' }));
    m.acceptRisk(
      state,
      ctx(),
      m.validateRiskAcceptance(state, ctx(), {
        acceptedBy: GL,
        evidenceVersion: 1,
        metrics: ['demographic_parity_ratio:age_band'],
        reasons: 'Retraining is scheduled; every rank of applicants over 50 is reviewed by hand.',
      }),
    );
    const msg = planSubmission(parseOr(treatmentPlanSchema, example('treatment-plan.json'), state.stage));
    const items = [
      { ...msg.items[0]!, addressesMetrics: ['demographic_parity_ratio:age_band'] },
      ...msg.items.slice(1),
    ];
    const { effects } = m.submitPlan(state, ctx(), m.validatePlan(state, ctx(), { ...msg, items }));
    const mail = effects.find((x) => x.kind === 'notify' && x.notification.kind === 'approval_request');
    if (mail?.kind !== 'notify') throw new Error('no approval request mailed');
    const rendered = renderNotification(mail.notification, {
      baseUrl: 'http://localhost:3000',
      approvalUrl: 'http://localhost:3000/approvals/t',
    });
    expect(rendered.text).toContain(
      '• demographic_parity_ratio (age_band): fail 0.5 [0.45, 0.55] · groups x 4,000, y 8,000 (computed) — risk accepted by the governance lead',
    );
    // Gating verdicts only, holding ones first; intersections are reported on the page, not mailed.
    const bullets = rendered.text.split('\n').filter((l) => l.startsWith('• '));
    expect(bullets).toHaveLength(6);
    expect(bullets[0]).toMatch(/^• demographic_parity_ratio \(age_band\): fail/);
    const html = approvalPage({
      state,
      documents: {},
      approver: state.approval!.approver,
      requestId: state.approval!.requestId,
      expiresAt: new Date(state.approval!.expiresAt),
      csrf: 'c',
      action: '/approvals/t',
    });
    expect(html).toContain('<td data-label="Interval">[0.450, 0.550]</td>');
    expect(html).toContain('<td data-label="Groups (rows)">x 4,000, y 8,000</td>');
    expect(html).toContain('<strong class="error">fail</strong> (risk accepted)');
    expect(html).toContain('Computed by the product from 12000 predictions');
    expect(html).toMatch(/accepted the risk of demographic_parity_ratio:age_band/);
  });
});
