import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIdFor } from '../domain/system.js';
import { stateQuery } from '../workflows/messages.js';
import { csrfFrom, GOVERNANCE_LEAD, pathOf, startLifecycleEnv, type LifecycleEnv } from './support/lifecycle-env.js';
import { example, registrationFor } from './support/examples.js';

let t: LifecycleEnv;
beforeAll(async () => {
  t = await startLifecycleEnv();
});
afterAll(async () => {
  await t?.close();
});

const RISK_OWNER = 'head-of-hr@example.org';
const OWNER = 'ml-team-lead@example.org';

async function register(id: string) {
  const res = await t.api.inject({ method: 'POST', url: '/api/v1/systems', payload: registrationFor(id) });
  expect(res.statusCode, res.body).toBe(201);
  return t.env.client.workflow.getHandle(workflowIdFor(id));
}

async function submitAssessment(id: string) {
  const res = await t.api.inject({
    method: 'PUT',
    url: `/api/v1/systems/${id}/impact-assessment`,
    payload: example('impact-assessment.json'),
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

async function approvalLink(id: string, nth = 1): Promise<string> {
  const isRequest = (m: { to: string[]; subject: string; headers: Record<string, string> }) =>
    m.to.includes(RISK_OWNER) && m.subject.includes('Approval needed') && m.headers['x-ai-system'] === id;
  await t.mailbox.waitFor(() => t.mailbox.messages().filter(isRequest).length >= nth, { timeoutMs: 20_000 });
  const mail = t.mailbox.messages().filter(isRequest)[nth - 1]!;
  const link = mail.links.find((l) => l.includes('/approvals/'));
  expect(link, 'approval e-mail carries a link').toBeDefined();
  return link!;
}

async function decide(link: string, decision: 'approve' | 'reject', comment: string) {
  const page = await t.api.inject({ method: 'GET', url: pathOf(link) });
  expect(page.statusCode, page.body).toBe(200);
  const res = await t.api.inject({
    method: 'POST',
    url: pathOf(link),
    payload: new URLSearchParams({ decision, comment, csrf: csrfFrom(page.body) }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  expect(res.statusCode, res.body).toBe(200);
}

async function stageOf(id: string): Promise<string> {
  const res = await t.api.inject({ method: 'GET', url: `/api/v1/systems/${id}` });
  return res.json().stage;
}

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const until = Date.now() + 20_000;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('lifecycle on the time-skipping server', () => {
  it('registers, takes the assessment, e-mails the risk owner and becomes active on approval', async () => {
    const handle = await register('approve-path');
    const result = await submitAssessment('approve-path');
    expect(result).toMatchObject({ riskTier: 'high', score: 9, stage: 'approval' });

    const link = await approvalLink('approve-path');
    // Opening the link (as a mail scanner would) decides nothing.
    await t.api.inject({ method: 'GET', url: pathOf(link) });
    expect(await stageOf('approve-path')).toBe('approval');

    await decide(link, 'approve', 'Looks sound.');
    const state = await eventually(
      () => handle.query(stateQuery),
      (s) => s.stage === 'active',
      'stage active',
    );
    expect(state.decisions).toHaveLength(1);
    expect(state.decisions[0]).toMatchObject({ decision: 'approve', approver: RISK_OWNER, comment: 'Looks sound.' });
    // High tier: review due after the policy's cadence, counted from the approval.
    const months = t.policy.reviewCadenceMonths.high;
    const approved = new Date(state.approvedAt!);
    const due = new Date(state.reviewDueAt!);
    expect((due.getUTCFullYear() - approved.getUTCFullYear()) * 12 + due.getUTCMonth() - approved.getUTCMonth()).toBe(
      months,
    );

    await t.mailbox.waitFor((m) => m.to.includes(OWNER) && m.subject.startsWith('Approved: '));
    const decisions = await eventually(
      () => t.store.listDecisions('approve-path'),
      (d) => d.length === 1,
      'decision recorded',
    );
    expect(decisions[0]).toMatchObject({ decision: 'approve', approver: RISK_OWNER });
    const system = await eventually(
      () => t.store.getSystem('approve-path'),
      (s) => s?.stage === 'active',
      'projection active',
    );
    expect(system?.riskTier).toBe('high');
    expect(await t.store.listAssessments('approve-path')).toHaveLength(1);
    expect((await t.store.verifyChain('approve-path')).ok).toBe(true);
  });

  it('sends a rejection back to impact assessment with the comment, then approves the revision', async () => {
    const handle = await register('reject-path');
    await submitAssessment('reject-path');
    await decide(await approvalLink('reject-path'), 'reject', 'Add the data provenance of the training CVs.');
    await eventually(
      () => handle.query(stateQuery),
      (s) => s.stage === 'impact_assessment',
      'back to assessment',
    );
    const rejection = await t.mailbox.waitFor(
      (m) => m.to.includes(OWNER) && m.subject.startsWith('Rejected: ') && m.text.includes('reject-path'),
    );
    expect(rejection.text).toContain('Add the data provenance of the training CVs.');

    const second = await submitAssessment('reject-path');
    expect(second.version).toBe(2);
    await decide(await approvalLink('reject-path', 2), 'approve', '');
    const state = await eventually(
      () => handle.query(stateQuery),
      (s) => s.stage === 'active',
      'stage active',
    );
    expect(state.decisions.map((d) => [d.decision, d.assessmentVersion])).toEqual([
      ['reject', 1],
      ['approve', 2],
    ]);
    expect(state.transitions.map((tr) => tr.to)).toEqual([
      'impact_assessment',
      'approval',
      'impact_assessment',
      'approval',
      'active',
    ]);
  });

  it('reminds the approver after the policy delay and escalates to the governance lead', async () => {
    const handle = await register('reminder-path');
    await submitAssessment('reminder-path');
    await approvalLink('reminder-path');
    const isReminder = (m: { subject: string; headers: Record<string, string> }) =>
      m.subject.startsWith('Reminder 1: Approval needed') && m.headers['x-ai-system'] === 'reminder-path';
    expect(t.mailbox.messages().some(isReminder)).toBe(false);

    // Just short of the delay: still no reminder.
    const reminderMs = 2 * 86_400_000;
    await t.env.sleep(reminderMs - 60_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(t.mailbox.messages().some(isReminder)).toBe(false);

    await t.env.sleep(120_000);
    const reminder = await t.mailbox.waitFor(isReminder);
    expect(reminder.to).toEqual([RISK_OWNER]);
    const state = await handle.query(stateQuery);
    expect(state.approval?.remindersSent).toBe(1);

    await t.env.sleep(7 * 86_400_000);
    const escalation = await t.mailbox.waitFor(
      (m) => m.to.includes(GOVERNANCE_LEAD) && m.subject.startsWith('Escalation:') && m.text.includes('reminder-path'),
    );
    expect(escalation.text).toContain(RISK_OWNER);
    expect((await handle.query(stateQuery)).approval?.escalatedAt).not.toBeNull();
  });
});
