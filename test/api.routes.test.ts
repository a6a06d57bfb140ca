/**
 * Every lifecycle route refuses what it must: a body that breaks its schema
 * answers 422 naming the field, a message the system's stage does not take
 * answers 409 with that stage, an unknown system 404; nothing is recorded.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { example } from './support/examples.js';
import { lifecycleSuite } from './support/lifecycle-env.js';

const s = lifecycleSuite();
const FRESH = 'routes-fresh';
beforeAll(async () => {
  await s.w.register(FRESH);
});

type Method = 'PUT' | 'POST';
/** Each route, its valid example body, one broken field, and whether a fresh registration (stage impact_assessment) takes it. */
const routes: {
  method: Method;
  path: string;
  body: string;
  broken: [string, unknown];
  field: string;
  takenFresh: boolean;
}[] = [
  {
    method: 'PUT',
    path: '/bias-evidence',
    body: 'bias-evidence.json',
    broken: ['effectiveDate', '20 Nov'],
    field: 'body.effectiveDate',
    takenFresh: false,
  },
  {
    method: 'PUT',
    path: '/treatment-plan',
    body: 'treatment-plan.json',
    broken: ['items', []],
    field: 'body.items',
    takenFresh: false,
  },
  {
    method: 'POST',
    path: '/reviews',
    body: 'review.json',
    broken: ['materialChange', 'no'],
    field: 'body.materialChange',
    takenFresh: false,
  },
  {
    method: 'POST',
    path: '/versions',
    body: 'new-version.json',
    broken: ['version', ''],
    field: 'body.version',
    takenFresh: false,
  },
  {
    method: 'POST',
    path: '/fria-notification',
    body: 'fria-notification.json',
    broken: ['notifiedAt', 'yesterday'],
    field: 'body.notifiedAt',
    takenFresh: false,
  },
  {
    method: 'POST',
    path: '/incidents',
    body: 'incident.json',
    broken: ['severity', 'catastrophic'],
    field: 'body.severity',
    takenFresh: true,
  },
  {
    method: 'POST',
    path: '/retire',
    body: 'retire.json',
    broken: ['retiredBy', 'someone'],
    field: 'body.retiredBy',
    takenFresh: true,
  },
];

async function stageAndEvents(id: string) {
  return { stage: (await s.w.view(id)).stage, events: (await s.t.store.listEvents(id)).length };
}

describe('lifecycle routes', () => {
  for (const r of routes) {
    it(`${r.method} ${r.path}: 422 naming ${r.field}; 404 for an unknown system`, async () => {
      const before = await stageAndEvents(FRESH);
      const body = { ...example(r.body), [r.broken[0]]: r.broken[1] };
      const res = await s.t.api.inject({ method: r.method, url: s.w.sys(FRESH, r.path), payload: body });
      expect(res.statusCode, res.body).toBe(422);
      expect(res.json().issues.map((i: { path: string }) => i.path)).toContain(r.field);
      const unknown = await s.t.api.inject({
        method: r.method,
        url: s.w.sys('no-such-system', r.path),
        payload: example(r.body),
      });
      expect(unknown.statusCode, unknown.body).toBe(404);
      expect(await stageAndEvents(FRESH)).toEqual(before);
    });

    if (!r.takenFresh) {
      it(`${r.method} ${r.path}: 409 with the current stage when the stage does not take it`, async () => {
        const before = await stageAndEvents(FRESH);
        const res = await s.t.api.inject({ method: r.method, url: s.w.sys(FRESH, r.path), payload: example(r.body) });
        expect(res.statusCode, res.body).toBe(409);
        expect(res.json()).toMatchObject({ error: 'wrong_stage', stage: 'impact_assessment' });
        expect(await stageAndEvents(FRESH)).toEqual(before);
      });
    }
  }

  it('POST /incidents/:incidentId/close: 422 for a malformed id, an unknown incident and a broken body', async () => {
    const bad = await s.t.api.inject({
      method: 'POST',
      url: s.w.sys(FRESH, '/incidents/42/close'),
      payload: example('incident-close.json'),
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().issues.map((i: { path: string }) => i.path)).toContain('params.incidentId');
    const unknown = await s.t.api.inject({
      method: 'POST',
      url: s.w.sys(FRESH, '/incidents/inc-99/close'),
      payload: example('incident-close.json'),
    });
    expect(unknown.statusCode, unknown.body).toBe(422);
    const broken = await s.t.api.inject({
      method: 'POST',
      url: s.w.sys(FRESH, '/incidents/inc-1/close'),
      payload: { closedBy: 'x' },
    });
    expect(broken.statusCode).toBe(422);
    expect(broken.json().issues.map((i: { path: string }) => i.path)).toEqual(
      expect.arrayContaining(['body.closedBy', 'body.resolution']),
    );
  });
});
