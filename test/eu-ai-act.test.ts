import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { impactAssessmentSchema, type ImpactAssessmentInput } from '../domain/assessment.js';
import type { AnalysisRequest } from '../domain/bias-gate.js';
import { describeClassification, friaScope, type EuAiActFacts } from '../domain/eu-ai-act.js';
import {
  evidenceSubmission,
  assessmentSubmission,
  planSubmission,
  reviewEvidenceFacts,
} from '../domain/submissions.js';
import { biasEvidenceSchema } from '../domain/evidence.js';
import type { LifecycleState } from '../domain/lifecycle.js';
import * as m from '../domain/machine.js';
import { parseOr, Refusal, type Ctx } from '../domain/machine.js';
import { authorityNotificationSchema, incidentSchema, reviewSchema } from '../domain/operations.js';
import { parsePolicy, type Policy } from '../domain/policy.js';
import { registrationSchema } from '../domain/system.js';
import { treatmentPlanSchema } from '../domain/treatment.js';
import { example } from './support/examples.js';

/*
 * One test per EU AI Act rule the lifecycle encodes (issue 11), on the pure
 * rules: the document's schema, the workflow's validator and its handler, as
 * the workflow runs them. test/eu-ai-act.lifecycle.test.ts walks the FRIA
 * scope and the renewed notification through the API on Temporal.
 */

const policy: Policy = parsePolicy(
  JSON.parse(readFileSync(fileURLToPath(new URL('../policy/default.json', import.meta.url)), 'utf8')),
  'policy/default.json',
);
const GL = 'governance-lead@example.org';
const DAY = 86_400_000;
const T0 = new Date('2026-12-03T10:00:00.000Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY);
const ctxAt = (now: Date, p: Policy = policy): Ctx => ({ now, policy: p, governanceLead: GL });

type EuAiActInput = ImpactAssessmentInput['euAiAct'];
const baseEuAiAct = (): EuAiActInput => example<ImpactAssessmentInput>('impact-assessment.json').euAiAct;
/** The example assessment with its classification replaced; the FRIA left out unless asked for. */
function assessment(euAiAct: EuAiActInput, withFria = false): ImpactAssessmentInput {
  const { fria, ...rest } = example<ImpactAssessmentInput>('impact-assessment.json');
  return { ...rest, euAiAct, ...(withFria ? { fria } : {}) };
}

function fresh(role: 'provider' | 'deployer' | 'provider_and_deployer' = 'provider_and_deployer'): LifecycleState {
  const reg = example<Record<string, any>>('register.json');
  const registration = registrationSchema.parse({ ...reg, deployment: { ...reg.deployment, role } });
  const state = m.initialState({ v: 2, registration, policy, governanceLead: GL }, T0);
  m.start(state, ctxAt(T0));
  return state;
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

/** What the API's schema says about a classification: the paths of its issues (empty: accepted). */
function schemaIssues(euAiAct: EuAiActInput): string[] {
  const r = impactAssessmentSchema.safeParse(assessment(euAiAct, true));
  return r.success ? [] : r.error.issues.map((i) => i.path.join('.'));
}

/** The document through the API's schema, the validator and the handler, as an assessment goes. */
function submit(state: LifecycleState, body: ImpactAssessmentInput, now = T0) {
  const msg = assessmentSubmission(parseOr(impactAssessmentSchema, body, state.stage));
  return m.submitAssessment(state, ctxAt(now), m.validateAssessment(state, msg));
}

const paths = (r: Refusal) => r.issues.map((i) => i.path);
const events = (effects: m.Effect[]) => effects.flatMap((e) => (e.kind === 'event' ? [e.type] : []));

const privateDeployer = { publicLawBody: false, publicServices: false };

describe('FRIA only where Art. 27(1) requires it', () => {
  const scope = (facts: Partial<EuAiActFacts>, role: 'provider' | 'deployer' = 'deployer') =>
    friaScope(role, { category: 'high_risk', ...facts }).required;

  it('requires one from public-law bodies, public-service providers and every deployer of points 5(b) and 5(c)', () => {
    expect(scope({ annexIIIPoint: '4(a)', deployer: { publicLawBody: true, publicServices: false } })).toBe(true);
    expect(scope({ annexIIIPoint: '4(a)', deployer: { publicLawBody: false, publicServices: true } })).toBe(true);
    expect(scope({ annexIIIPoint: '5(b)', deployer: privateDeployer })).toBe(true);
    expect(scope({ annexIIIPoint: '5(c)', deployer: privateDeployer })).toBe(true);
    // A private deployer of any other Annex III use carries out none; nor does a provider, nor point 2.
    expect(scope({ annexIIIPoint: '4(a)', deployer: privateDeployer })).toBe(false);
    expect(scope({ annexIIIPoint: '5(a)', deployer: privateDeployer })).toBe(false);
    expect(scope({ annexIIIPoint: '5(b)', deployer: privateDeployer }, 'provider')).toBe(false);
    expect(scope({ annexIIIPoint: '2', deployer: { publicLawBody: true, publicServices: true } })).toBe(false);
    // Art. 27(1) covers the Annex III systems of Art. 6(2), not Annex I products.
    const annexI = {
      legislation: 'Regulation (EU) 2017/745',
      safetyComponent: true,
      thirdPartyConformityAssessment: true,
    };
    expect(scope({ annexI, deployer: { publicLawBody: true, publicServices: false } })).toBe(false);
    expect(friaScope('deployer', { category: 'limited', annexIIIPoint: '4(a)' }).required).toBe(false);
  });

  it('lets a private deployer go without a FRIA; asks a deployer its status, and a FRIA where one is required', () => {
    const exempt = fresh();
    const { result } = submit(exempt, assessment({ ...baseEuAiAct(), deployer: privateDeployer }));
    expect(result).toMatchObject({ riskTier: 'high', stage: 'bias_testing' });
    expect(exempt.fria).toMatchObject({ required: false, basis: expect.stringMatching(/private deployer/) });

    const { deployer: _d, ...unstated } = baseEuAiAct();
    const asked = refusal(() => submit(fresh(), assessment(unstated)));
    expect(paths(asked)).toEqual(['euAiAct.deployer']);
    expect(asked.issues[0]!.message).toMatch(/body governed by public law.*Art\. 27\(1\)/);
    // A provider only is not asked: Art. 27 binds deployers.
    expect(submit(fresh('provider'), assessment(unstated)).result.stage).toBe('bias_testing');

    const credit = refusal(() =>
      submit(
        fresh(),
        assessment({ ...baseEuAiAct(), annexIIIArea: undefined, annexIIIPoint: '5(b)', deployer: privateDeployer }),
      ),
    );
    expect(credit.issues).toEqual([{ path: 'fria', message: expect.stringMatching(/point 5\(b\).*Art\. 27\(1\)/) }]);
    const publicBody = fresh();
    submit(publicBody, assessment(baseEuAiAct(), true));
    expect(publicBody.fria).toMatchObject({ required: true, basis: 'the deployer is a body governed by public law' });
  });

  it('exempts Annex III point 2 (critical infrastructure) even for a public-law body', () => {
    const grid = fresh();
    submit(
      grid,
      assessment({
        ...baseEuAiAct(),
        annexIIIArea: 'critical_infrastructure',
        annexIIIPoint: '2',
        deployer: { publicLawBody: true, publicServices: true },
      }),
    );
    expect(grid.fria).toMatchObject({ required: false, basis: expect.stringMatching(/point 2.*exempt/) });
  });

  it('keeps the decision of an assessment recorded before the point was: a FRIA from every deployer', () => {
    // What a history recorded before these rules replays: only the area, no deployer status. The handler
    // applies it as it did then (validators never run on replay).
    const state = fresh();
    const recorded = {
      ...assessmentSubmission(parseOr(impactAssessmentSchema, assessment(baseEuAiAct(), true), state.stage)),
      euAiAct: { category: 'high_risk' as const, annexIIIArea: 'employment' as const },
    };
    m.submitAssessment(state, ctxAt(T0), recorded);
    expect(state.fria.required).toBe(true);
    // Sent today, the same message is asked for the point.
    const again = fresh();
    expect(paths(refusal(() => m.validateAssessment(again, recorded)))).toEqual(['euAiAct.annexIIIPoint']);
  });
});

describe('high risk through Annex I (Art. 6(1)) as well as Annex III', () => {
  const annexI = {
    legislation: 'Regulation (EU) 2017/745 (medical devices)',
    safetyComponent: true,
    thirdPartyConformityAssessment: true,
  };
  const onlyAnnexI = (over: Partial<EuAiActInput> = {}): EuAiActInput => ({
    category: 'high_risk',
    annexI,
    rationale: 'Safety component of a class IIb medical device that needs a notified body.',
    ...over,
  });

  it('is high-risk as an Annex I product needing third-party conformity assessment, with no Annex III point', () => {
    expect(schemaIssues(onlyAnnexI())).toEqual([]);
    const state = fresh();
    const { result } = submit(state, assessment(onlyAnnexI()));
    expect(result.riskTier).toBe('high');
    expect(state.assessment!.euAiAct).toMatchObject({ category: 'high_risk', annexI });
    // No FRIA: Art. 27(1) covers Annex III systems.
    expect(state.fria.required).toBe(false);
  });

  it('refuses Annex I without third-party conformity as the only basis, and an Annex I product below high risk', () => {
    expect(schemaIssues(onlyAnnexI({ annexI: { ...annexI, thirdPartyConformityAssessment: false } }))).toEqual([
      'euAiAct.annexI.thirdPartyConformityAssessment',
    ]);
    expect(schemaIssues(onlyAnnexI({ category: 'minimal' }))).toEqual(['euAiAct.category']);
    const { annexIIIArea: _a, annexIIIPoint: _p, ...noBasis } = baseEuAiAct();
    expect(schemaIssues(noBasis)).toEqual(['euAiAct.annexIIIPoint']);
  });
});

describe('an Art. 6(3) derogation is documented with its reasons', () => {
  const derogated = (derogation: Record<string, unknown> | undefined, over: Partial<EuAiActInput> = {}) =>
    ({
      category: 'minimal',
      annexIIIPoint: '4(a)',
      ...(derogation ? { derogation } : {}),
      rationale: 'Only de-duplicates applications; never ranks or filters them.',
      ...over,
    }) as EuAiActInput;
  const reasons = 'Merges duplicate applications of one person; no assessment of the applicant is made or shaped.';

  it('accepts an Annex III system below high risk only with the conditions (a)–(d) it meets and its reasons', () => {
    expect(schemaIssues(derogated(undefined))).toEqual(['euAiAct.derogation']);
    expect(schemaIssues(derogated({ conditions: ['a'], reasons, profilesNaturalPersons: false }))).toEqual([]);
    expect(schemaIssues(derogated({ conditions: [], reasons: 'n/a', profilesNaturalPersons: false })).sort()).toEqual([
      'euAiAct.derogation.conditions',
      'euAiAct.derogation.reasons',
    ]);
    expect(schemaIssues(derogated({ conditions: ['a', 'a'], reasons, profilesNaturalPersons: false }))).toEqual([
      'euAiAct.derogation.conditions',
    ]);
    const state = fresh();
    submit(state, assessment(derogated({ conditions: ['a', 'd'], reasons, profilesNaturalPersons: false })));
    expect(state.assessment!.euAiAct!.derogation).toEqual({ conditions: ['a', 'd'], profilesNaturalPersons: false });
    expect([state.assessment!.euAiActCategory, state.fria.required]).toEqual(['minimal', false]);
  });

  it('never derogates a system that profiles natural persons, a high-risk or prohibited one, or one outside Annex III', () => {
    const d = { conditions: ['d'], reasons, profilesNaturalPersons: false };
    expect(schemaIssues(derogated({ ...d, profilesNaturalPersons: true }))).toEqual([
      'euAiAct.derogation.profilesNaturalPersons',
    ]);
    expect(schemaIssues(derogated(d, { category: 'high_risk' }))).toEqual(['euAiAct.derogation']);
    expect(schemaIssues(derogated(d, { category: 'prohibited' }))).toEqual(['euAiAct.derogation']);
    expect(schemaIssues(derogated(d, { annexIIIPoint: undefined }))).toEqual(['euAiAct.annexIIIPoint']);
  });
});

describe('Art. 50 transparency duties alongside any category', () => {
  it('records the duties with a high-risk, a limited or a minimal system; they raise the tier to the limited floor', () => {
    const highRisk = fresh();
    submit(highRisk, assessment({ ...baseEuAiAct(), transparency: ['interacts_with_people'] }, true));
    expect(highRisk.assessment!.euAiAct!.transparency).toEqual(['interacts_with_people']);
    expect(highRisk.riskTier).toBe('high');

    const quiet = (transparency?: EuAiActInput['transparency']) => {
      const state = fresh();
      const body = assessment({
        category: 'minimal',
        rationale: 'An internal text generator.',
        ...(transparency ? { transparency } : {}),
      });
      submit(state, { ...body, impacts: [{ ...body.impacts[0]!, severity: 'negligible', likelihood: 'rare' }] });
      return state.riskTier;
    };
    expect(quiet()).toBe('low');
    expect(quiet(['synthetic_content'])).toBe(policy.euAiActTierFloor.limited);
  });

  it('asks a limited system that lists its duties to name one, and each only once', () => {
    const limited = (transparency: EuAiActInput['transparency']) =>
      schemaIssues({ category: 'limited', transparency, rationale: 'A chatbot for applicants.' });
    expect(limited([])).toEqual(['euAiAct.transparency']);
    expect(limited(['interacts_with_people', 'interacts_with_people'])).toEqual(['euAiAct.transparency']);
    expect(limited(['interacts_with_people', 'deep_fake_or_public_interest_text'])).toEqual([]);
    expect(schemaIssues({ category: 'limited', transparency: ['telepathy' as never], rationale: 'x y z' })).toEqual([
      'euAiAct.transparency.0',
    ]);
  });
});

describe('general-purpose AI is a recorded property', () => {
  it('records the GPAI model and its provider with the assessment, and refuses one without a provider', () => {
    const state = fresh();
    submit(state, assessment(baseEuAiAct(), true));
    expect(state.assessment!.euAiAct!.generalPurposeModel).toEqual({
      name: 'Multilingual text embedding model',
      provider: 'Embedding model vendor',
      systemicRisk: false,
    });
    const gpai = { name: 'A large language model', provider: ' ' };
    expect(schemaIssues({ ...baseEuAiAct(), generalPurposeModel: gpai as never })).toEqual([
      'euAiAct.generalPurposeModel.provider',
    ]);
    // Systemic risk (Art. 51) defaults to not classified as such.
    const r = impactAssessmentSchema.parse(
      assessment({ ...baseEuAiAct(), generalPurposeModel: { name: 'A large language model', provider: 'Lab' } }, true),
    );
    expect(r.euAiAct.generalPurposeModel).toEqual({
      name: 'A large language model',
      provider: 'Lab',
      systemicRisk: false,
    });
    // Pages show it with the classification.
    expect(describeClassification(state.assessment!.euAiAct!)).toBe(
      'High-risk: Annex III point 4(a), recruitment or selection: targeted job ads, filtering applications, evaluating candidates. ' +
        'Built on the general-purpose AI model Multilingual text embedding model by Embedding model vendor',
    );
  });
});

describe('a material re-assessment asks for a fresh authority notification', () => {
  /** Registration to active through both approvals and the FRIA notification. */
  function toActive(): LifecycleState {
    const state = fresh();
    submit(state, assessment(baseEuAiAct(), true));
    const ev = evidenceSubmission(parseOr(biasEvidenceSchema, example('bias-evidence.json'), state.stage));
    m.submitEvidence(state, ctxAt(at(1)), m.validateEvidence(state, ctxAt(at(1)), ev));
    const plan = planSubmission(parseOr(treatmentPlanSchema, example('treatment-plan.json'), state.stage));
    m.submitPlan(state, ctxAt(at(1)), m.validatePlan(state, ctxAt(at(1)), plan));
    approveAll(state, at(2));
    expect(state.stage).toBe('fria_notification');
    notify(state, at(2), '2026-12-05');
    expect(state.stage).toBe('active');
    return state;
  }
  function approveAll(state: LifecycleState, now: Date) {
    while (state.stage === 'approval') {
      const a = state.approval!;
      const d = {
        requestId: a.requestId,
        decision: 'approve' as const,
        comment: 'Fine.',
        decidedBy: a.approver,
        via: 'link' as const,
      };
      m.decide(state, ctxAt(now), m.validateDecision(state, d));
    }
  }
  function notify(state: LifecycleState, now: Date, notifiedAt: string) {
    const n = parseOr(
      authorityNotificationSchema,
      { ...example<object>('fria-notification.json'), notifiedAt },
      state.stage,
    );
    m.recordAuthorityNotification(state, ctxAt(now), m.validateAuthorityNotification(state, ctxAt(now), n));
  }
  function materialReview(state: LifecycleState, now: Date) {
    const { biasEvidence, ...review } = parseOr(
      reviewSchema,
      { ...example<object>('review.json'), materialChange: true, changeDescription: 'Now also ranks internal moves.' },
      state.stage,
    );
    const msg = { ...review, ...(biasEvidence ? { biasEvidence: reviewEvidenceFacts(biasEvidence) } : {}) };
    m.submitReview(state, ctxAt(now), m.validateReview(state, ctxAt(now), msg));
    expect(state.stage).toBe('impact_assessment');
  }

  it('supersedes the notification on record, so the approved system waits for a new one before going live again', () => {
    const state = toActive();
    expect(state.fria).toMatchObject({ notifiedAt: '2026-12-05', assessmentVersion: 1 });
    materialReview(state, at(10));
    const { effects } = submit(state, assessment(baseEuAiAct(), true), at(11));
    expect(events(effects)).toContain('fria_notification_superseded');
    expect(state.fria).toMatchObject({
      required: true,
      notifiedAt: null,
      superseded: [{ notifiedAt: '2026-12-05', reference: 'FRIA-2026-0142', assessmentVersion: 1 }],
    });
    const ev = evidenceSubmission(parseOr(biasEvidenceSchema, example('bias-evidence.json'), state.stage));
    m.submitEvidence(state, ctxAt(at(11)), m.validateEvidence(state, ctxAt(at(11)), ev));
    const plan = planSubmission(parseOr(treatmentPlanSchema, example('treatment-plan.json'), state.stage));
    m.submitPlan(state, ctxAt(at(11)), m.validatePlan(state, ctxAt(at(11)), plan));
    approveAll(state, at(12));
    expect(state.stage).toBe('fria_notification');
    notify(state, at(13), '2026-12-16');
    expect(state.stage).toBe('active');
    expect(state.fria).toMatchObject({ notifiedAt: '2026-12-16', assessmentVersion: 2 });
  });

  it('keeps the notification when the re-assessment needs no FRIA, or was recorded before these rules', () => {
    const exempt = toActive();
    materialReview(exempt, at(10));
    submit(exempt, assessment({ ...baseEuAiAct(), deployer: privateDeployer }), at(11));
    expect(exempt.fria).toMatchObject({ required: false, notifiedAt: '2026-12-05' });

    const legacy = toActive();
    materialReview(legacy, at(10));
    const recorded = {
      ...assessmentSubmission(parseOr(impactAssessmentSchema, assessment(baseEuAiAct(), true), legacy.stage)),
      euAiAct: { category: 'high_risk' as const, annexIIIArea: 'employment' as const },
    };
    const { effects } = m.submitAssessment(legacy, ctxAt(at(11)), recorded);
    expect(events(effects)).not.toContain('fria_notification_superseded');
    expect(legacy.fria).toMatchObject({ required: true, notifiedAt: '2026-12-05' });
  });
});

describe('dates that name something that already happened cannot lie in the future', () => {
  const incident = (occurredAt: string) =>
    parseOr(incidentSchema, { ...example<object>('incident.json'), occurredAt }, 'active');
  const tolerance = 5 * 60_000; // policy/default.json pastDates.clockSkewTolerance

  it('refuses an incident that occurs later than now, past the clock-skew tolerance, naming occurredAt', () => {
    const state = fresh();
    const now = ctxAt(T0);
    const r = refusal(() =>
      m.validateIncident(state, now, incident(new Date(T0.getTime() + tolerance + 1000).toISOString())),
    );
    expect(r.type).toBe('InvalidInput');
    expect(paths(r)).toEqual(['occurredAt']);
    expect(r.issues[0]!.message).toMatch(/has not come yet.*already happened/);
    // Accepted: the incident comes back with the date as given (a refusal would throw instead).
    const accepted = (ctx: ReturnType<typeof ctxAt>, occurredAt: string) =>
      expect(m.validateIncident(state, ctx, incident(occurredAt))).toMatchObject({ occurredAt });
    accepted(now, new Date(T0.getTime() + tolerance - 1000).toISOString());
    // An offset counts: 11:00+02:00 is 09:00Z, before T0.
    accepted(now, '2026-12-03T11:00:00+02:00');
    // A policy from before the check does not check.
    const { pastDates: _p, ...older } = policy;
    accepted(ctxAt(T0, older as Policy), '2027-01-01T00:00:00Z');
  });

  it('refuses evidence, review evidence, predictions and a notification dated after today everywhere on Earth', () => {
    const state = fresh();
    submit(state, assessment(baseEuAiAct(), true));
    const now = ctxAt(T0);
    const ev = (effectiveDate: string) =>
      evidenceSubmission(
        parseOr(biasEvidenceSchema, { ...example<object>('bias-evidence.json'), effectiveDate }, state.stage),
      );
    expect(paths(refusal(() => m.validateEvidence(state, now, ev('2026-12-05'))))).toEqual(['effectiveDate']);
    // At 10:00 UTC it is already 4 December at UTC+14: a sender there is not refused for its today.
    expect(m.validateEvidence(state, now, ev('2026-12-04')).effectiveDate).toBe('2026-12-04');

    const request: AnalysisRequest = {
      analysisId: 'an-0123456789abcdef01234567',
      submittedBy: 'ml-team-lead@example.org',
      modelVersion: '2.3.0',
      effectiveDate: '2026-12-24',
      dataset: 'Hold-out predictions',
      blob: 'a'.repeat(64),
      bytes: 10,
      spec: { format: 'csv', label: 'y', prediction: 'yhat', sensitive: ['gender', 'age_band'] },
    };
    expect(paths(refusal(() => m.validateAnalysis(state, now, request)))).toEqual(['effectiveDate']);

    const n = parseOr(
      authorityNotificationSchema,
      { ...example<object>('fria-notification.json'), notifiedAt: '2026-12-10' },
      state.stage,
    );
    expect(paths(refusal(() => m.validateAuthorityNotification(state, now, n)))).toEqual(['notifiedAt']);

    // A review's fresh evidence, once the system is active.
    const active = structuredClone(state);
    active.stage = 'active';
    const { biasEvidence, ...review } = parseOr(reviewSchema, example('review.json'), active.stage);
    const msg = { ...review, biasEvidence: reviewEvidenceFacts({ ...biasEvidence!, effectiveDate: '2027-01-01' }) };
    expect(paths(refusal(() => m.validateReview(active, now, msg)))).toEqual(['biasEvidence.effectiveDate']);
  });
});
