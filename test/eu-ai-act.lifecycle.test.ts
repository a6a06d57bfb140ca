import { describe, expect, it } from 'vitest';
import { approveChain } from './support/walk.js';
import { barrier, lifecycleSuite } from './support/lifecycle-env.js';
import { example } from './support/examples.js';

/*
 * The EU AI Act rules that change what the workflow decides, through the API
 * on the time-skipping server: whether the FRIA notification stage is entered
 * (Art. 27(1)'s scope), and a fresh notification after a material
 * re-assessment (Art. 27(2)-(3)). test/eu-ai-act.test.ts has every rule on
 * the pure functions.
 */
const s = lifecycleSuite();

const privateDeployer = () => {
  const a = example('impact-assessment.json');
  const { fria: _fria, ...rest } = a;
  return {
    ...rest,
    euAiAct: {
      ...a.euAiAct,
      deployer: { publicLawBody: false, publicServices: false },
      rationale: 'Annex III point 4(a); the deployer is a private company providing no public services.',
    },
  };
};

describe('the FRIA notification stage, by Art. 27(1)', () => {
  it('takes a private deployer of an Annex III point 4(a) system to active without a FRIA notification', async () => {
    const id = 'eu-private-deployer';
    await s.w.register(id);
    // Not saying who deploys it is refused, naming the field: the FRIA decision turns on it.
    const { deployer: _d, ...unstated } = privateDeployer().euAiAct;
    const asked = await s.w.assess(id, { ...privateDeployer(), euAiAct: unstated }, 422);
    expect(asked.json().issues).toEqual([
      { path: 'body.euAiAct.deployer', message: expect.stringMatching(/Art\. 27\(1\)/) },
    ]);

    const assessed = (await s.w.assess(id, privateDeployer())).json();
    expect(assessed).toMatchObject({ riskTier: 'high', stage: 'bias_testing' });
    await s.w.evidence(id);
    await s.w.plan(id);
    const { view } = await approveChain(s.t, s.w, id);
    expect(view.stage).toBe('active');
    expect(view.fria).toMatchObject({
      required: false,
      notifiedAt: null,
      basis: expect.stringMatching(/private deployer/),
    });
    expect(view.transitions.map((t: { to: string }) => t.to)).not.toContain('fria_notification');
    const refused = await s.w.notifyAuthority(id, 409);
    expect(refused.json().message).toMatch(/no fundamental rights impact assessment is required.*Art\. 27\(1\)/);
  });

  it('asks for a fresh notification after a material re-assessment before the system is active again', async () => {
    const id = 'eu-renotified';
    const { view: first } = await s.w.toActive(id);
    expect(first.fria).toMatchObject({ required: true, notifiedAt: '2026-11-24', assessmentVersion: 1 });

    await s.w.call(
      'POST',
      s.w.sys(id, '/reviews'),
      { ...example<object>('review.json'), materialChange: true, changeDescription: 'Now also ranks internal moves.' },
      202,
    );
    await s.w.until(id, (v) => v.stage === 'impact_assessment', 'a full reassessment');
    await s.w.assess(id);
    const reassessed = await s.w.view(id);
    expect(reassessed.fria).toMatchObject({
      required: true,
      notifiedAt: null,
      superseded: [{ notifiedAt: '2026-11-24', reference: 'FRIA-2026-0142', assessmentVersion: 1 }],
    });
    await s.w.evidence(id);
    await s.w.plan(id);
    const { view: approved } = await approveChain(s.t, s.w, id);
    expect(approved.stage).toBe('fria_notification');
    expect(approved.assessment).toMatchObject({ version: 2, euAiAct: { annexIIIPoint: '4(a)' } });
    // The system page says what it waits on, and why a FRIA is required.
    const page = await s.t.api.inject({ method: 'GET', url: `/systems/${id}`, headers: { accept: 'text/html' } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Annex III point 4(a)');
    expect(page.body).toMatch(
      /required \(the deployer is a body governed by public law\); <strong>authority not notified yet/,
    );
    expect(page.body).toContain('Re-assessment v2 supersedes the FRIA notification of 2026-11-24');
    await s.w.call(
      'POST',
      s.w.sys(id, '/fria-notification'),
      { ...example<object>('fria-notification.json'), reference: 'FRIA-2026-0199' },
      200,
    );
    const active = await s.w.until(id, (v) => v.stage === 'active', 'active again');
    expect(active.fria).toMatchObject({ notifiedAt: '2026-11-24', reference: 'FRIA-2026-0199', assessmentVersion: 2 });

    const events = await barrier(s.t, id);
    const superseded = events.filter((e) => e.type === 'fria_notification_superseded');
    expect(superseded).toHaveLength(1);
    expect(superseded[0]!.payload).toMatchObject({ assessmentVersion: 2, previous: { reference: 'FRIA-2026-0142' } });
    expect(events.filter((e) => e.type === 'fria_authority_notified')).toHaveLength(2);
  });
});

describe('dates in the future that name what already happened', () => {
  it('refuses an incident that has not occurred yet with 422 naming body.occurredAt, and records nothing', async () => {
    const id = 'eu-future-incident';
    await s.w.register(id);
    const later = new Date((await s.t.env.currentTimeMs()) + 86_400_000).toISOString();
    const res = await s.w.call(
      'POST',
      s.w.sys(id, '/incidents'),
      { ...example<object>('incident.json'), occurredAt: later },
      422,
    );
    expect(res.json().issues).toEqual([
      { path: 'body.occurredAt', message: expect.stringMatching(/already happened/) },
    ]);
    const events = await barrier(s.t, id);
    expect(events.map((e) => e.type)).not.toContain('incident_reported');
    // The example's date is in the past: accepted.
    await s.w.call('POST', s.w.sys(id, '/incidents'), example('incident.json'), 201);
  });
});
