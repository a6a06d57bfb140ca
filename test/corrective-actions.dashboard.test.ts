/**
 * Open incidents and overdue corrective actions on the dashboard, against the
 * REAL Temporal dev server (the dashboard reads visibility, which the
 * time-skipping server lacks). A test policy with periods of seconds lets the
 * workflow's own timers send the reminder and the overdue notices in real
 * time; the time-skipping tests of the same rules are in
 * test/corrective-actions.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ENV_GOVERNANCE_LEAD as GOVERNANCE_LEAD, eventually, startDevEnv, type DevEnv } from './support/dev-env.js';
import { example } from './support/examples.js';

const ACTION_OWNER = 'quality-lead@example.org';
let env: DevEnv;

beforeAll(async () => {
  env = await startDevEnv({
    name: 'corrective-actions-dashboard',
    policy: (base) => ({
      ...base,
      incidents: {
        correctiveActionDue: '8s',
        correctiveActionReminderBefore: '4s',
        correctiveActionEscalateEvery: '2s',
      },
    }),
  });
});

afterAll(async () => {
  await env?.close();
});

async function dashboard(key?: string): Promise<string> {
  const res = await env.api.inject({
    method: 'GET',
    url: '/',
    ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
  });
  expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
  return res.body;
}

const row = (id: string, incidentId: string) =>
  new RegExp(`<tr data-system="${id}" data-incident="${incidentId}"[^>]*>`);

describe('open incidents on the dashboard (dev server)', () => {
  it('shows an open incident with its corrective action and due date, then overdue with its escalations, and drops it once closed', async () => {
    const id = 'ca-dashboard';
    const w = env.walk;
    await w.register(id);
    const incident: Record<string, string> = {
      ...example('incident.json'),
      severity: 'minor',
      correctiveActionOwner: ACTION_OWNER,
    };
    const incidentId: string = (await w.call('POST', w.sys(id, '/incidents'), incident, 201)).json().incidentId;

    // The incident's records are written beside the update's answer.
    const listed = await eventually(
      () => dashboard(),
      (html) => expect(html).toMatch(row(id, incidentId)),
    );
    expect(listed.match(row(id, incidentId))![0]).not.toContain('data-overdue');
    expect(listed).toContain(incident.correctiveAction);
    expect(listed).toContain(ACTION_OWNER);

    // The workflow's timers: the reminder to the owner, then overdue notices to the owner and the governance lead.
    await env.mailbox.waitFor(
      (m) =>
        m.to.includes(ACTION_OWNER) && m.headers['x-ai-system'] === id && m.subject.startsWith('Corrective action due'),
      { timeoutMs: 20_000 },
    );
    await env.mailbox.waitFor(
      (m) =>
        m.to.includes(GOVERNANCE_LEAD) &&
        m.headers['x-ai-system'] === id &&
        m.subject.startsWith('Overdue corrective action (escalation 2)'),
      { timeoutMs: 20_000 },
    );
    const overdue = await eventually(
      () => dashboard(),
      (html) => expect(html.match(row(id, incidentId))?.[0]).toContain('data-overdue="true"'),
    );
    expect(overdue).toMatch(/id="n-overdue-actions">1</);
    expect(overdue).toMatch(/with the corrective action overdue/);
    const api = await w.call('GET', '/api/v1/incidents/open', undefined, 200);
    const item = api.json().incidents.find((i: { systemId: string }) => i.systemId === id);
    expect(item).toMatchObject({ incidentId, overdue: true, correctiveActionOwner: ACTION_OWNER });
    expect(item.escalationsSent).toBeGreaterThanOrEqual(2);
    expect(item.reminderSentAt).toEqual(expect.any(String));

    // Another team sees neither the system nor its incident.
    const otherTeam = await env.keys({ email: 'other-team@example.org', role: 'ai-team', team: 'other-team' });
    expect(await dashboard(otherTeam)).not.toContain(`data-system="${id}"`);

    await w.call('POST', w.sys(id, `/incidents/${incidentId}/close`), example('incident-close.json'), 200);
    const closed = await eventually(
      () => dashboard(),
      (html) => expect(html).not.toMatch(row(id, incidentId)),
    );
    expect(closed).toMatch(/id="n-overdue-actions">0</);
    expect(closed).toContain('No incident is open.');
  });
});
