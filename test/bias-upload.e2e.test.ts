/**
 * Issue 10 end to end, over the API with real Temporal (time-skipping), the real activities and a real blob
 * store: predictions whose demographic parity is far under 0.8 hold the lifecycle (a treatment plan is refused,
 * even one naming the metrics), until new passing predictions unblock it and it goes to approval; a second
 * lifecycle is unblocked instead by the governance lead's recorded acceptance of the risk. A file that cannot be
 * read fails its analysis with the reason and records nothing as evidence.
 */
import { describe, expect, it } from 'vitest';
import { example, exampleText } from './support/examples.js';
import { barrier, GOVERNANCE_LEAD, lifecycleSuite } from './support/lifecycle-env.js';
import {
  analysisEnded,
  genderAndAgeGroups,
  PREDICTIONS_QUERY,
  predictionsCsv,
  uploadPredictions,
} from './support/predictions.js';
import { approveChain } from './support/walk.js';

const s = lifecycleSuite();

const QUERY = `${PREDICTIONS_QUERY}&dataset=holdout%202026-Q3`;
/** 1000 rows a combination: women selected at 0.1, men at 0.4 (parity ratio 0.25); age bands at parity. */
const failing = predictionsCsv(genderAndAgeGroups((g) => (g === 'F' ? 0.1 : 0.4), 1000));
/** The README's example (the same rates for everyone): every required metric within its threshold, interval included. */
const passing = exampleText('predictions.csv');

/** Uploads a file and waits until its analysis has ended. */
async function analysed(id: string, file: string): Promise<Record<string, any>> {
  const res = await uploadPredictions(s.t.api, id, file, { query: QUERY });
  expect(res.statusCode, res.body).toBe(202);
  return analysisEnded(s.t.api, res.json().result);
}

async function assessed(id: string) {
  await s.w.register(id);
  await s.w.assess(id);
  await s.w.until(id, (v) => v.stage === 'bias_testing', 'stage bias_testing');
}

/** The example plan, its first item naming `metrics` (which, under the gate, no longer answers them on its own). */
function planNaming(metrics: string[]) {
  const plan = example('treatment-plan.json');
  plan.items[0].addressesMetrics = metrics;
  return plan;
}

const heldBy = (analysis: Record<string, any>) => [...analysis.evidence.failed, ...analysis.evidence.inconclusive];

describe('bias evidence computed from uploaded predictions gates approval', () => {
  it('failing predictions hold the plan; new passing predictions let it go to approval', async () => {
    const id = 'upload-gate-new-evidence';
    await assessed(id);

    const bad = await analysed(id, failing);
    expect(bad.status).toBe('completed');
    expect(bad.evidence.failed).toEqual(
      expect.arrayContaining(['demographic_parity_ratio:gender', 'equalized_odds_difference:gender']),
    );
    const dpr = bad.evidence.verdicts.find(
      (v: any) => v.name === 'demographic_parity_ratio' && v.sensitiveFeature === 'gender',
    );
    expect(dpr).toMatchObject({ verdict: 'fail', gating: true, source: 'computed' });
    expect(dpr.value).toBeCloseTo(0.25, 12);
    expect(dpr.groups).toEqual([
      { group: 'F', count: 2000 },
      { group: 'M', count: 2000 },
    ]);
    // Age bands hold the same share of each gender: at parity, they pass.
    expect(bad.evidence.failed.filter((k: string) => k.endsWith(':age_band'))).toEqual([]);
    const afterBad = await s.w.until(id, (v) => v.stage === 'risk_treatment', 'stage risk_treatment');
    expect(afterBad.evidence.version).toBe(bad.evidenceVersion);

    // A plan is refused while the metrics hold approval, even one whose item names them.
    for (const plan of [example('treatment-plan.json'), planNaming(heldBy(bad))]) {
      const refused = await s.w.plan(id, plan, 422);
      expect(refused.json().message).toContain('demographic_parity_ratio:gender');
      expect(refused.json().issues).toEqual([
        { path: 'body.items', message: expect.stringContaining('a plan item naming them is not enough') },
      ]);
    }

    const good = await analysed(id, passing);
    expect(good.status).toBe('completed');
    expect(good.evidenceVersion).toBe(bad.evidenceVersion + 1);
    expect(good.evidence.failed).toEqual([]);
    expect(good.evidence.inconclusive).toEqual([]);
    // The earlier analysis stays on record, its evidence no longer the current one.
    const earlier = await s.t.api.inject({ method: 'GET', url: bad.result });
    expect(earlier.json()).toMatchObject({ status: 'completed', evidence: null });

    const planned = await s.w.plan(id);
    expect(planned.json().stage).toBe('approval');
    const { view } = await approveChain(s.t, s.w, id);
    if (view.stage === 'fria_notification') await s.w.notifyAuthority(id);
    const active = await s.w.until(id, (v) => v.stage === 'active', 'stage active');
    expect(active.evidence).toMatchObject({ version: good.evidenceVersion, failed: [] });
  });

  it("failing predictions, then the governance lead's recorded acceptance of the risk, let the plan through", async () => {
    const id = 'upload-gate-accepted';
    await assessed(id);
    const bad = await analysed(id, failing);
    expect(bad.status).toBe('completed');
    const open = heldBy(bad);
    expect(open).toContain('demographic_parity_ratio:gender');
    await s.w.until(id, (v) => v.stage === 'risk_treatment', 'stage risk_treatment');
    await s.w.plan(id, planNaming(open), 422);

    const url = `/api/v1/systems/${id}/bias-evidence/risk-acceptance`;
    const reasons = 'Interim release to a pilot group of recruiters who review every ranking by hand.';
    const lead = await s.t.keys({ email: GOVERNANCE_LEAD, role: 'governance-lead' });
    // Nobody but the governance lead: an AI team member and an admin are refused before the workflow hears of it.
    for (const key of [s.t.adminKey, await s.t.keys({ email: 'ml-team-lead@example.org', role: 'ai-team' })]) {
      const refused = await s.t.api.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${key}` },
        payload: { evidenceVersion: bad.evidenceVersion, metrics: open, reasons },
      });
      expect(refused.statusCode, refused.body).toBe(403);
    }
    const accepted = await s.t.api.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${lead}` },
      payload: { evidenceVersion: bad.evidenceVersion, metrics: open, reasons },
    });
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect(accepted.json()).toMatchObject({ id, evidenceVersion: bad.evidenceVersion, open: [] });
    expect([...accepted.json().accepted].sort()).toEqual([...open].sort());
    const events = await barrier(s.t, id);
    const recorded = events.find((e) => e.type === 'fairness_risk_accepted');
    expect(recorded?.actor).toBe(GOVERNANCE_LEAD);

    const planned = await s.w.plan(id, planNaming(open));
    expect(planned.json().stage).toBe('approval');
  });

  it('a file whose label is not binary fails its analysis with the reason and records no evidence', async () => {
    const id = 'upload-gate-bad-file';
    await assessed(id);
    const broken = passing.replace(/\n1,0,F,18-39\n/, '\nmaybe,0,F,18-39\n');
    expect(broken).toContain('maybe');
    const failed = await analysed(id, broken);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/column "label" is not binary: line \d+ has "maybe"/);
    expect(failed.evidenceVersion).toBeNull();
    expect(failed.report).toBeUndefined();

    const view = await s.w.view(id);
    expect(view.stage).toBe('bias_testing');
    expect(view.evidence).toBeNull();
    const events = await barrier(s.t, id);
    expect(events.map((e) => e.type)).toContain('bias_analysis_failed');
    expect(events.map((e) => e.type)).not.toContain('bias_evidence_submitted');
  });
});
