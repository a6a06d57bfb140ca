import { describe, expect, it } from 'vitest';
import { durationMs } from '../domain/duration.js';
import type { IncidentRecord, LifecycleState } from '../domain/lifecycle.js';
import { nextCorrectiveActionTimer, nextNoticeAt, correctiveActionCadence } from '../domain/machine.js';
import { openIncidentsFrom } from '../domain/open-incidents.js';
import type { Policy } from '../domain/policy.js';
import { workflowIdFor } from '../domain/system.js';
import type { MailboxMessage } from '../embedded/dev-mailbox.js';
import { example } from './support/examples.js';
import { barrier, GOVERNANCE_LEAD, lifecycleSuite } from './support/lifecycle-env.js';

const s = lifecycleSuite();

const ACTION_OWNER = 'quality-lead@example.org';
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

const serverNow = async () => await s.t.env.currentTimeMs();
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
async function sleepUntil(at: number): Promise<void> {
  const delta = at - (await serverNow());
  if (delta > 0) await s.t.env.sleep(delta);
}
const handleFor = (id: string) => s.t.env.client.workflow.getHandle(workflowIdFor(id));

/** Timers the current run has started so far (each one Temporal bills). */
async function timersStarted(id: string): Promise<number> {
  const history = await handleFor(id).fetchHistory();
  return (history.events ?? []).filter((e) => e.timerStartedEventAttributes).length;
}

const minorIncident = (overrides: Record<string, unknown> = {}): Record<string, any> => ({
  ...example('incident.json'),
  severity: 'minor',
  correctiveActionOwner: ACTION_OWNER,
  ...overrides,
});

async function openIncidents(key?: string): Promise<any[]> {
  const res = await s.t.api.inject({
    method: 'GET',
    url: '/api/v1/incidents/open',
    ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().incidents;
}

describe('corrective actions on the time-skipping server', () => {
  it('reminds the owner before the due date, tells the owner and the governance lead when overdue and again every period, carries over a new run, and stops once closed', async () => {
    const id = 'ca-overdue';
    await s.w.toActive(id);
    const firstRun = (await handleFor(id).describe()).runId;
    const body = minorIncident();
    const reported = await s.w.call('POST', s.w.sys(id, '/incidents'), body, 201);
    const incidentId: string = reported.json().incidentId;
    const incident = (await s.w.view(id)).incidents.find((i: { id: string }) => i.id === incidentId);
    const due = Date.parse(incident.correctiveActionDueAt);
    expect(due - Date.parse(incident.reportedAt)).toBe(durationMs(s.t.policy.incidents.correctiveActionDue));
    const remindAt = due - durationMs(s.t.policy.incidents.correctiveActionReminderBefore!);
    const every = durationMs(s.t.policy.incidents.correctiveActionEscalateEvery!);
    const ofThis = (m: MailboxMessage) =>
      m.headers['x-ai-system'] === id && m.subject.includes(`incident ${incidentId}`);
    const reminders = () =>
      s.w.mailsTo(ACTION_OWNER, id, (m) => ofThis(m) && m.subject.startsWith('Corrective action due'));
    const overdueTo = (to: string) =>
      s.w.mailsTo(to, id, (m) => ofThis(m) && m.subject.startsWith('Overdue corrective action'));

    // The action's owner hears of it at once, with the due date.
    const assigned = await s.t.mailbox.waitFor(
      (m) => m.to.includes(ACTION_OWNER) && ofThis(m) && m.subject.startsWith('Corrective action for you'),
    );
    expect(assigned.subject).toContain(isoDay(due));
    expect(assigned.text).toContain(body.correctiveAction);
    expect(assigned.text).toContain(body.description);

    // Listed at once, due but not overdue, with no reminder sent yet.
    const listed = (await openIncidents()).filter((i) => i.systemId === id);
    expect(listed).toEqual([
      expect.objectContaining({
        incidentId,
        severity: 'minor',
        correctiveAction: body.correctiveAction,
        correctiveActionOwner: ACTION_OWNER,
        correctiveActionDueAt: incident.correctiveActionDueAt,
        overdue: false,
        daysOverdue: 0,
        reminderSentAt: null,
        escalationsSent: 0,
      }),
    ]);

    // Just before the reminder: nothing. Then the reminder, to the action's owner only.
    await sleepUntil(remindAt - MINUTE);
    await barrier(s.t, id);
    expect(reminders()).toHaveLength(0);
    await s.t.env.sleep(2 * MINUTE);
    const reminder = await s.t.mailbox.waitFor(
      (m) => m.to.includes(ACTION_OWNER) && ofThis(m) && m.subject.startsWith('Corrective action due'),
    );
    expect(reminder.subject).toContain(isoDay(due));
    expect(reminder.text).toContain(body.correctiveAction);
    expect(reminder.text).toContain(`/api/v1/systems/${id}/incidents/${incidentId}/close`);
    expect(s.w.mailsTo(GOVERNANCE_LEAD, id, (m) => ofThis(m))).toHaveLength(0);
    await barrier(s.t, id);
    expect(overdueTo(ACTION_OWNER)).toHaveLength(0);
    expect(overdueTo(GOVERNANCE_LEAD)).toHaveLength(0);

    // Just before the due date: still only the reminder.
    await sleepUntil(due - MINUTE);
    await barrier(s.t, id);
    expect(overdueTo(GOVERNANCE_LEAD)).toHaveLength(0);
    expect(reminders()).toHaveLength(1);

    // At the due date: the owner and the governance lead.
    await sleepUntil(due + MINUTE);
    for (const to of [ACTION_OWNER, GOVERNANCE_LEAD]) {
      const mail = await s.t.mailbox.waitFor(
        (m) => m.to.includes(to) && ofThis(m) && m.subject.startsWith('Overdue corrective action (escalation 1)'),
      );
      expect(mail.text).toContain(ACTION_OWNER);
      expect(mail.text).toContain(isoDay(due));
    }
    await barrier(s.t, id);
    // By then the run had continued as new (runs.continueAsNewAfter) and carried the open action over, its
    // reminder sent: the notices came from the next run, and no second reminder.
    expect((await handleFor(id).describe()).runId).not.toBe(firstRun);
    expect(reminders()).toHaveLength(1);
    const [overdue] = (await openIncidents()).filter((i) => i.systemId === id);
    expect(overdue).toMatchObject({ incidentId, overdue: true, escalationsSent: 1 });
    expect(Date.parse(overdue.reminderSentAt)).toBeGreaterThanOrEqual(remindAt);
    // Again every escalation period, counting up, while it stays open; an unrelated change starts no timer.
    const timersBefore = await timersStarted(id);
    await sleepUntil(due + every - MINUTE);
    await barrier(s.t, id);
    expect(await timersStarted(id)).toBe(timersBefore);
    expect(overdueTo(GOVERNANCE_LEAD)).toHaveLength(1);
    await s.t.env.sleep(2 * MINUTE);
    await s.t.mailbox.waitFor(
      (m) =>
        m.to.includes(GOVERNANCE_LEAD) && ofThis(m) && m.subject.startsWith('Overdue corrective action (escalation 2)'),
    );

    // Closed: no notice after it, and off the list.
    await s.w.call('POST', s.w.sys(id, `/incidents/${incidentId}/close`), example('incident-close.json'), 200);
    await barrier(s.t, id);
    const sent = { owner: overdueTo(ACTION_OWNER).length, lead: overdueTo(GOVERNANCE_LEAD).length };
    expect(sent).toEqual({ owner: 2, lead: 2 });
    await sleepUntil(due + 3 * every + HOUR);
    const events = await barrier(s.t, id);
    expect({ owner: overdueTo(ACTION_OWNER).length, lead: overdueTo(GOVERNANCE_LEAD).length }).toEqual(sent);
    expect(reminders()).toHaveLength(1);
    expect(
      events
        .filter((e) => e.type.startsWith('corrective_action'))
        .map((e) => [e.type, (e.payload as { escalation?: number }).escalation]),
    ).toEqual([
      ['corrective_action_reminder_sent', undefined],
      ['corrective_action_overdue', 1],
      ['corrective_action_overdue', 2],
      ['corrective_action_closed', undefined],
    ]);
    expect((await openIncidents()).filter((i) => i.systemId === id)).toEqual([]);
    expect((await s.t.store.verifyChain(id)).ok).toBe(true);
  });

  it('arms one timer for the nearest of several actions, and lists them only to those who may see the system', async () => {
    const id = 'ca-two-actions';
    await s.w.toActive(id);
    const first = (await s.w.call('POST', s.w.sys(id, '/incidents'), minorIncident(), 201)).json().incidentId;
    await barrier(s.t, id);
    const timers = await timersStarted(id);
    // A second action falls due later: the nearest moment stays the first's reminder, so no timer is started.
    await s.t.env.sleep(HOUR);
    const second = (
      await s.w.call(
        'POST',
        s.w.sys(id, '/incidents'),
        minorIncident({ correctiveAction: 'Retrain the recruiters.' }),
        201,
      )
    ).json().incidentId;
    await barrier(s.t, id);
    expect(await timersStarted(id)).toBe(timers);

    const ours = (await openIncidents()).filter((i) => i.systemId === id).map((i) => i.incidentId);
    expect(ours).toEqual([first, second]);
    const auditor = await s.t.keys({ email: 'auditor@example.org', role: 'auditor' });
    expect((await openIncidents(auditor)).filter((i) => i.systemId === id)).toHaveLength(2);
    const otherTeam = await s.t.keys({ email: 'other-team@example.org', role: 'ai-team', team: 'other-team' });
    expect((await openIncidents(otherTeam)).filter((i) => i.systemId === id)).toEqual([]);
    const stranger = await s.t.keys({ email: 'stranger@example.org', role: 'risk-owner' });
    expect((await openIncidents(stranger)).filter((i) => i.systemId === id)).toEqual([]);
  });
});

// ---- the rules, without Temporal -----------------------------------------------------------------

const policyWith = (incidents: Policy['incidents']) => ({ ...s.t.policy, incidents });

function incidentRecord(overrides: Partial<IncidentRecord> = {}): IncidentRecord {
  return {
    ...minorIncident(),
    severity: 'minor',
    occurredAt: '2026-01-01T00:00:00.000Z',
    id: 'inc-1',
    reportedAt: '2026-01-01T00:00:00.000Z',
    correctiveActionDueAt: '2026-01-31T00:00:00.000Z',
    closedAt: null,
    closedBy: null,
    resolution: null,
    ...overrides,
  } as IncidentRecord;
}

function stateWith(incidents: IncidentRecord[]): LifecycleState {
  return {
    systemId: 'unit',
    registration: { name: 'Unit', owner: 'owner@example.org' },
    incidents,
  } as unknown as LifecycleState;
}

describe('corrective-action notices, the pure rules', () => {
  const due = Date.parse('2026-01-31T00:00:00.000Z');
  const ctx = (at: number) => ({ now: new Date(at), policy: s.t.policy, governanceLead: GOVERNANCE_LEAD });

  it('sends nothing and arms nothing under a recorded policy without the reminders', () => {
    const old = policyWith({ correctiveActionDue: '30d' });
    expect(correctiveActionCadence(old)).toBeNull();
    expect(nextCorrectiveActionTimer(stateWith([incidentRecord()]), old)).toBeNull();
  });

  it('moves from the reminder to the due date to each escalation, and stops when closed', () => {
    const cadence = correctiveActionCadence(s.t.policy)!;
    const i = incidentRecord();
    expect(nextNoticeAt(i, cadence)).toBe(due - cadence.remindBefore);
    expect(nextNoticeAt({ ...i, reminderSentAt: '2026-01-24T00:00:00.000Z' }, cadence)).toBe(due);
    expect(nextNoticeAt({ ...i, overdueNotices: 2 }, cadence)).toBe(due + 2 * cadence.escalateEvery);
    expect(nextNoticeAt({ ...i, closedAt: '2026-01-02T00:00:00.000Z' }, cadence)).toBeNull();
  });

  it('fires every action due at once in one step, numbers a late notice by the periods passed, and sends no late reminder', () => {
    const cadence = correctiveActionCadence(s.t.policy)!;
    const a = incidentRecord();
    const b = incidentRecord({ id: 'inc-2' });
    const c = incidentRecord({ id: 'inc-3', correctiveActionDueAt: '2026-03-31T00:00:00.000Z' });
    const state = stateWith([a, b, c]);
    const timer = nextCorrectiveActionTimer(state, s.t.policy)!;
    expect(timer.at.getTime()).toBe(due - cadence.remindBefore);
    const reminded = timer.fire(state, ctx(timer.at.getTime()));
    expect(reminded.filter((e) => e.kind === 'notify').map((e) => e.kind === 'notify' && e.notification.to)).toEqual([
      ACTION_OWNER,
      ACTION_OWNER,
    ]);
    expect(c.reminderSentAt).toBeUndefined();

    // Nobody looked for 2.5 periods after the due date (a worker outage, a policy adopted late): one notice each,
    // numbered 3, then the next at the fourth period.
    const late = due + 2.5 * cadence.escalateEvery;
    const notices = nextCorrectiveActionTimer(state, s.t.policy)!.fire(state, ctx(late));
    const mails = notices.flatMap((e) => (e.kind === 'notify' ? [e.notification] : []));
    expect(mails.map((m) => [m.kind, m.to, 'escalation' in m ? m.escalation : null])).toEqual([
      ['corrective_action_overdue', ACTION_OWNER, 3],
      ['corrective_action_overdue', GOVERNANCE_LEAD, 3],
      ['corrective_action_overdue', ACTION_OWNER, 3],
      ['corrective_action_overdue', GOVERNANCE_LEAD, 3],
    ]);
    expect(nextCorrectiveActionTimer(state, s.t.policy)!.at.getTime()).toBe(
      Math.min(due + 3 * cadence.escalateEvery, Date.parse(c.correctiveActionDueAt) - cadence.remindBefore),
    );
  });

  it('folds the audit trail into open incidents, overdue by either clock', () => {
    const reported = (systemId: string, id: string, dueAt: string) => ({
      systemId,
      type: 'incident_reported',
      at: new Date('2026-01-01T00:00:00.000Z'),
      payload: incidentRecord({ id, correctiveActionDueAt: dueAt }),
    });
    const systems = new Map([
      ['a', { name: 'A', stage: 'active' }],
      ['b', { name: 'B', stage: 'review_due' }],
    ]);
    const events = [
      reported('a', 'inc-1', '2026-01-31T00:00:00.000Z'),
      reported('a', 'inc-2', '2026-02-28T00:00:00.000Z'),
      {
        systemId: 'a',
        type: 'corrective_action_closed',
        at: new Date('2026-01-05T00:00:00.000Z'),
        payload: { incidentId: 'inc-1' },
      },
      reported('b', 'inc-1', '2026-03-31T00:00:00.000Z'),
      {
        systemId: 'b',
        type: 'corrective_action_overdue',
        at: new Date('2026-04-02T00:00:00.000Z'),
        payload: { incidentId: 'inc-1', escalation: 1 },
      },
      reported('gone', 'inc-1', '2026-01-31T00:00:00.000Z'),
    ];
    const list = openIncidentsFrom(events, systems, new Date('2026-03-01T12:00:00.000Z'));
    expect(list.map((i) => [i.systemId, i.incidentId, i.overdue, i.daysOverdue, i.escalationsSent])).toEqual([
      ['a', 'inc-2', true, 1, 0],
      ['b', 'inc-1', true, 2, 1],
    ]);
  });
});
