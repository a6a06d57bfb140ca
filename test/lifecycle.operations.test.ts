import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemView } from '../api/routes/systems.js';
import { addCadence, addMonths, durationMs } from '../domain/duration.js';
import { likelihoods, severities } from '../domain/policy.js';
import { workflowIdFor } from '../domain/system.js';
import { stateQuery } from '../workflows/messages.js';
import { example, registrationFor } from './support/examples.js';
import { csrfFrom, GOVERNANCE_LEAD, pathOf, startLifecycleEnv, type LifecycleEnv } from './support/lifecycle-env.js';
import { walker } from './support/walk.js';

let t: LifecycleEnv;
let w: ReturnType<typeof walker>;
beforeAll(async () => {
  t = await startLifecycleEnv();
  w = walker(t);
});
afterAll(async () => {
  await t?.close();
});

const OWNER: string = example('register.json').owner;
const RISK_OWNER: string = example('register.json').riskOwner;
const DEPUTY = 'deputy-hr@example.org';
const MINUTE = 60_000;
const DAY = 86_400_000;

/** The time-skipping server's clock: the workflows' "now". */
const serverNow = async () => await t.env.currentTimeMs();
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Advances the server clock to `at` (never backwards). */
async function sleepUntil(at: number): Promise<void> {
  const delta = at - (await serverNow());
  if (delta > 0) await t.env.sleep(delta);
}

/** Lets in-flight workflow tasks and activities finish before checking that something did NOT happen. */
const settle = () => new Promise((r) => setTimeout(r, 750));

const handleFor = (id: string) => t.env.client.workflow.getHandle(workflowIdFor(id));

async function waitForStatus(id: string, status: string) {
  await expect
    .poll(async () => (await handleFor(id).describe()).status.name, { timeout: 20_000, interval: 100 })
    .toBe(status);
}

/** Approves every step of the open chain through the e-mailed links; returns the approvers in order. */
async function approveChain(id: string) {
  const approvers: { approver: string; kind: string; step: number; of: number }[] = [];
  for (;;) {
    const v = await w.until(id, (x) => x.pendingApproval !== null || x.stage !== 'approval', 'next approval step');
    if (v.stage !== 'approval') return { approvers, view: v };
    const p = await w.approveOpenRequest(id);
    approvers.push({ approver: p.approver, kind: p.kind, step: p.step, of: p.of });
    await w.until(id, (x) => x.pendingApproval?.requestId !== v.pendingApproval.requestId, 'the step to advance');
  }
}

/** Like w.toActive, with the evidence body chosen by the test. */
async function activate(id: string, evidence: Record<string, unknown>) {
  await w.register(id);
  await w.assess(id);
  await w.evidence(id, evidence);
  await w.plan(id);
  await approveChain(id);
  await w.until(id, (x) => x.stage === 'fria_notification', 'FRIA notification step');
  await w.notifyAuthority(id);
  return w.until(id, (x) => x.stage === 'active', 'active');
}

const reviewBody = (overrides: Record<string, unknown> = {}) => ({ ...example('review.json'), ...overrides });

describe('operations on the time-skipping server', () => {
  it('reminds before a periodic review, falls due, escalates while overdue, and rolls the next due date from the sign-off', async () => {
    (globalThis as any).__t0 = Date.now();
    const id = 'ops-periodic';
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 1, "const id = 'ops-periodic';", d); (globalThis as any).__t0 = Date.now(); }
    const { view: active } = await w.toActive(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 2, 'const { view: active } = await w.toActive(id);', d); (globalThis as any).__t0 = Date.now(); }
    const due = Date.parse(active.reviewDueAt);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 3, 'const due = Date.parse(active.reviewDueAt);', d); (globalThis as any).__t0 = Date.now(); }
    const remindAt = due - durationMs(t.policy.reviews.remindBefore);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 4, 'const remindAt = due - durationMs(t.policy.reviews.remindBef', d); (globalThis as any).__t0 = Date.now(); }
    const every = durationMs(t.policy.reviews.overdueEscalationEvery);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 5, 'const every = durationMs(t.policy.reviews.overdueEscalationE', d); (globalThis as any).__t0 = Date.now(); }
    const upcoming = () => w.mailsTo(OWNER, id, (m) => m.subject.startsWith('Periodic review coming up'));
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 6, 'const upcoming = () => w.mailsTo(OWNER, id, (m) => m.subject', d); (globalThis as any).__t0 = Date.now(); }
    const dueMails = () => w.mailsTo(OWNER, id, (m) => m.subject.startsWith('Periodic review due'));
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 7, 'const dueMails = () => w.mailsTo(OWNER, id, (m) => m.subject', d); (globalThis as any).__t0 = Date.now(); }
    const escalations = () => w.mailsTo(GOVERNANCE_LEAD, id, (m) => m.subject.startsWith('Overdue review'));
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 8, 'const escalations = () => w.mailsTo(GOVERNANCE_LEAD, id, (m)', d); (globalThis as any).__t0 = Date.now(); }

    // Just before the reminder: nothing yet.
    await sleepUntil(remindAt - MINUTE);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 9, 'await sleepUntil(remindAt - MINUTE);', d); (globalThis as any).__t0 = Date.now(); }
    await settle();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 10, 'await settle();', d); (globalThis as any).__t0 = Date.now(); }
    expect(upcoming()).toHaveLength(0);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 11, 'expect(upcoming()).toHaveLength(0);', d); (globalThis as any).__t0 = Date.now(); }
    await t.env.sleep(2 * MINUTE);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 12, 'await t.env.sleep(2 * MINUTE);', d); (globalThis as any).__t0 = Date.now(); }
    const reminder = await t.mailbox.waitFor(
      (m) =>
        m.to.includes(OWNER) && m.headers['x-ai-system'] === id && m.subject.startsWith('Periodic review coming up'),
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 13, ');', d); (globalThis as any).__t0 = Date.now(); }
    expect(reminder.text).toContain(isoDay(due));
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 14, 'expect(reminder.text).toContain(isoDay(due));', d); (globalThis as any).__t0 = Date.now(); }
    expect((await w.view(id)).stage).toBe('active');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 15, "expect((await w.view(id)).stage).toBe('active');", d); (globalThis as any).__t0 = Date.now(); }
    expect(dueMails()).toHaveLength(0);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 16, 'expect(dueMails()).toHaveLength(0);', d); (globalThis as any).__t0 = Date.now(); }

    // Just before the due date: still active.
    await sleepUntil(due - MINUTE);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 17, 'await sleepUntil(due - MINUTE);', d); (globalThis as any).__t0 = Date.now(); }
    await settle();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 18, 'await settle();', d); (globalThis as any).__t0 = Date.now(); }
    expect((await w.view(id)).stage).toBe('active');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 19, "expect((await w.view(id)).stage).toBe('active');", d); (globalThis as any).__t0 = Date.now(); }
    expect(dueMails()).toHaveLength(0);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 20, 'expect(dueMails()).toHaveLength(0);', d); (globalThis as any).__t0 = Date.now(); }
    await sleepUntil(due);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 21, 'await sleepUntil(due);', d); (globalThis as any).__t0 = Date.now(); }
    const dueView = await w.until(id, (v) => v.stage === 'review_due', 'review due');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 22, "const dueView = await w.until(id, (v) => v.stage === 'review", d); (globalThis as any).__t0 = Date.now(); }
    expect(dueView.reviewDueAt).toBe(active.reviewDueAt);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 23, 'expect(dueView.reviewDueAt).toBe(active.reviewDueAt);', d); (globalThis as any).__t0 = Date.now(); }
    await t.mailbox.waitFor(
      (m) => m.to.includes(OWNER) && m.headers['x-ai-system'] === id && m.subject.startsWith('Periodic review due'),
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 24, ');', d); (globalThis as any).__t0 = Date.now(); }
    expect(upcoming()).toHaveLength(1);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 25, 'expect(upcoming()).toHaveLength(1);', d); (globalThis as any).__t0 = Date.now(); }
    // Overdue is judged against the clock: not right at the due date, but once it has passed.
    const state = await handleFor(id).query(stateQuery);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 26, 'const state = await handleFor(id).query(stateQuery);', d); (globalThis as any).__t0 = Date.now(); }
    expect(systemView(state, new Date(due)).overdue).toBe(false);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 27, 'expect(systemView(state, new Date(due)).overdue).toBe(false)', d); (globalThis as any).__t0 = Date.now(); }

    // Escalations to the governance lead every `overdueEscalationEvery`, counting up.
    await sleepUntil(due + every - MINUTE);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 28, 'await sleepUntil(due + every - MINUTE);', d); (globalThis as any).__t0 = Date.now(); }
    await settle();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 29, 'await settle();', d); (globalThis as any).__t0 = Date.now(); }
    expect(escalations()).toHaveLength(0);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 30, 'expect(escalations()).toHaveLength(0);', d); (globalThis as any).__t0 = Date.now(); }
    await t.env.sleep(2 * MINUTE);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 31, 'await t.env.sleep(2 * MINUTE);', d); (globalThis as any).__t0 = Date.now(); }
    const first = await t.mailbox.waitFor(
      (m) =>
        m.to.includes(GOVERNANCE_LEAD) &&
        m.headers['x-ai-system'] === id &&
        m.subject.startsWith('Overdue review (escalation 1)'),
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 32, ');', d); (globalThis as any).__t0 = Date.now(); }
    expect(first.text).toContain(OWNER);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 33, 'expect(first.text).toContain(OWNER);', d); (globalThis as any).__t0 = Date.now(); }
    expect(systemView(await handleFor(id).query(stateQuery), new Date(await serverNow())).overdue).toBe(true);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 34, 'expect(systemView(await handleFor(id).query(stateQuery), new', d); (globalThis as any).__t0 = Date.now(); }
    await sleepUntil(due + 2 * every - MINUTE);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 35, 'await sleepUntil(due + 2 * every - MINUTE);', d); (globalThis as any).__t0 = Date.now(); }
    await settle();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 36, 'await settle();', d); (globalThis as any).__t0 = Date.now(); }
    expect(escalations().map((m) => m.subject)).toEqual([expect.stringMatching(/^Overdue review \(escalation 1\)/)]);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 37, 'expect(escalations().map((m) => m.subject)).toEqual([expect.', d); (globalThis as any).__t0 = Date.now(); }
    await t.env.sleep(2 * MINUTE);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 38, 'await t.env.sleep(2 * MINUTE);', d); (globalThis as any).__t0 = Date.now(); }
    await t.mailbox.waitFor(
      (m) =>
        m.to.includes(GOVERNANCE_LEAD) &&
        m.headers['x-ai-system'] === id &&
        m.subject.startsWith('Overdue review (escalation 2)'),
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 39, ');', d); (globalThis as any).__t0 = Date.now(); }
    expect((await w.view(id)).stage).toBe('review_due');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 40, "expect((await w.view(id)).stage).toBe('review_due');", d); (globalThis as any).__t0 = Date.now(); }

    // The review goes to sign-off; the whole chain approves; a new run starts the next cycle.
    const before = await handleFor(id).describe();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 41, 'const before = await handleFor(id).describe();', d); (globalThis as any).__t0 = Date.now(); }
    const submitted = await w.call('POST', w.sys(id, '/reviews'), reviewBody(), 202);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 42, "const submitted = await w.call('POST', w.sys(id, '/reviews')", d); (globalThis as any).__t0 = Date.now(); }
    expect(submitted.json().stage).toBe('approval');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 43, "expect(submitted.json().stage).toBe('approval');", d); (globalThis as any).__t0 = Date.now(); }
    const pending = await w.until(id, (v) => v.pendingApproval !== null, 'review approval request');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 44, 'const pending = await w.until(id, (v) => v.pendingApproval !', d); (globalThis as any).__t0 = Date.now(); }
    expect(pending.pendingApproval).toMatchObject({ kind: 'review', step: 1, of: t.policy.approvalChains.high.length });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 45, "expect(pending.pendingApproval).toMatchObject({ kind: 'revie", d); (globalThis as any).__t0 = Date.now(); }
    const { approvers } = await approveChain(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 46, 'const { approvers } = await approveChain(id);', d); (globalThis as any).__t0 = Date.now(); }
    expect(approvers.map((a) => a.kind)).toEqual(t.policy.approvalChains.high.map(() => 'review'));
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 47, 'expect(approvers.map((a) => a.kind)).toEqual(t.policy.approv', d); (globalThis as any).__t0 = Date.now(); }
    const next = await w.until(id, (v) => v.cycle === active.cycle + 1, 'the next review cycle');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 48, 'const next = await w.until(id, (v) => v.cycle === active.cyc', d); (globalThis as any).__t0 = Date.now(); }
    expect(next.stage).toBe('active');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 49, "expect(next.stage).toBe('active');", d); (globalThis as any).__t0 = Date.now(); }
    expect(next.approvedDigest).toBe(pending.pendingApproval.digest);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 50, 'expect(next.approvedDigest).toBe(pending.pendingApproval.dig', d); (globalThis as any).__t0 = Date.now(); }
    const after = await handleFor(id).describe();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 51, 'const after = await handleFor(id).describe();', d); (globalThis as any).__t0 = Date.now(); }
    expect(after.runId).not.toBe(before.runId);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 52, 'expect(after.runId).not.toBe(before.runId);', d); (globalThis as any).__t0 = Date.now(); }
    expect(after.status.name).toBe('RUNNING');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 53, "expect(after.status.name).toBe('RUNNING');", d); (globalThis as any).__t0 = Date.now(); }
    expect((await t.env.client.workflow.getHandle(workflowIdFor(id), before.runId).describe()).status.name).toBe(
      'CONTINUED_AS_NEW',
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 54, ');', d); (globalThis as any).__t0 = Date.now(); }

    // The next due date rolls from the sign-off, not from the missed due date.
    expect(next.lastReviewCompletedAt).not.toBeNull();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 55, 'expect(next.lastReviewCompletedAt).not.toBeNull();', d); (globalThis as any).__t0 = Date.now(); }
    const completed = new Date(next.lastReviewCompletedAt);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 56, 'const completed = new Date(next.lastReviewCompletedAt);', d); (globalThis as any).__t0 = Date.now(); }
    expect(completed.getTime()).toBeGreaterThanOrEqual(due + 2 * every);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 57, 'expect(completed.getTime()).toBeGreaterThanOrEqual(due + 2 *', d); (globalThis as any).__t0 = Date.now(); }
    expect(next.reviewDueAt).toBe(addCadence(completed, t.policy.reviewCadence.high).toISOString());
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 58, 'expect(next.reviewDueAt).toBe(addMonths(completed, t.policy.', d); (globalThis as any).__t0 = Date.now(); }
    expect(next.reviewDueAt).not.toBe(addCadence(new Date(due), t.policy.reviewCadence.high).toISOString());
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 59, 'expect(next.reviewDueAt).not.toBe(addMonths(new Date(due), t', d); (globalThis as any).__t0 = Date.now(); }
    expect((await t.store.verifyChain(id)).ok).toBe(true);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 60, 'expect((await t.store.verifyChain(id)).ok).toBe(true);', d); (globalThis as any).__t0 = Date.now(); }
  });

  it('sends a review with a material change back to impact assessment', async () => {
    (globalThis as any).__t0 = Date.now();
    const id = 'ops-review-material';
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 61, "const id = 'ops-review-material';", d); (globalThis as any).__t0 = Date.now(); }
    const fresh = { ...example('bias-evidence.json'), effectiveDate: isoDay(await serverNow()) };
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 62, "const fresh = { ...example('bias-evidence.json'), effectiveD", d); (globalThis as any).__t0 = Date.now(); }
    const active = await activate(id, fresh);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 63, 'const active = await activate(id, fresh);', d); (globalThis as any).__t0 = Date.now(); }
    expect(active.approvedDigest).not.toBeNull();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 64, 'expect(active.approvedDigest).not.toBeNull();', d); (globalThis as any).__t0 = Date.now(); }
    const res = await w.call(
      'POST',
      w.sys(id, '/reviews'),
      reviewBody({
        materialChange: true,
        changeDescription: 'Now also ranks internal transfer requests.',
        biasEvidence: undefined,
      }),
      202,
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 65, ');', d); (globalThis as any).__t0 = Date.now(); }
    expect(res.json().stage).toBe('impact_assessment');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 66, "expect(res.json().stage).toBe('impact_assessment');", d); (globalThis as any).__t0 = Date.now(); }
    const v = await w.view(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 67, 'const v = await w.view(id);', d); (globalThis as any).__t0 = Date.now(); }
    expect(v).toMatchObject({ stage: 'impact_assessment', approvedDigest: null, pendingApproval: null });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 68, "expect(v).toMatchObject({ stage: 'impact_assessment', approv", d); (globalThis as any).__t0 = Date.now(); }
  });

  it('refuses a review without fresh bias evidence when the evidence on record is too old, and treats failed review metrics', async () => {
    (globalThis as any).__t0 = Date.now();
    const id = 'ops-review-stale';
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 69, "const id = 'ops-review-stale';", d); (globalThis as any).__t0 = Date.now(); }
    const old = isoDay((await serverNow()) - durationMs(t.policy.evidence.maxAge) - 2 * DAY);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 70, 'const old = isoDay((await serverNow()) - durationMs(t.policy', d); (globalThis as any).__t0 = Date.now(); }
    const active = await activate(id, { ...example('bias-evidence.json'), effectiveDate: old });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 71, "const active = await activate(id, { ...example('bias-evidenc", d); (globalThis as any).__t0 = Date.now(); }

    const refused = await w.call('POST', w.sys(id, '/reviews'), reviewBody({ biasEvidence: undefined }), 422);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 72, "const refused = await w.call('POST', w.sys(id, '/reviews'), ", d); (globalThis as any).__t0 = Date.now(); }
    expect(refused.json().issues.map((i: { path: string }) => i.path)).toContain('body.biasEvidence');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 73, 'expect(refused.json().issues.map((i: { path: string }) => i.', d); (globalThis as any).__t0 = Date.now(); }
    expect(refused.json().message).toContain(old);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 74, 'expect(refused.json().message).toContain(old);', d); (globalThis as any).__t0 = Date.now(); }
    const unchanged = await w.view(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 75, 'const unchanged = await w.view(id);', d); (globalThis as any).__t0 = Date.now(); }
    expect(unchanged).toMatchObject({ stage: 'active', approvedDigest: active.approvedDigest });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 76, "expect(unchanged).toMatchObject({ stage: 'active', approvedD", d); (globalThis as any).__t0 = Date.now(); }

    // Fresh review evidence with a failing metric is a material change: back to risk treatment.
    const review = example('review.json');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 77, "const review = example('review.json');", d); (globalThis as any).__t0 = Date.now(); }
    const failing = {
      ...review.biasEvidence,
      effectiveDate: isoDay(await serverNow()),
      metrics: [
        {
          name: 'demographic_parity_ratio',
          sensitiveFeature: 'gender',
          value: t.policy.fairness.demographic_parity_ratio!.min! - 0.1,
        },
      ],
    };
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 78, '};', d); (globalThis as any).__t0 = Date.now(); }
    const res = await w.call('POST', w.sys(id, '/reviews'), reviewBody({ biasEvidence: failing }), 202);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 79, "const res = await w.call('POST', w.sys(id, '/reviews'), revi", d); (globalThis as any).__t0 = Date.now(); }
    expect(res.json().stage).toBe('risk_treatment');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 80, "expect(res.json().stage).toBe('risk_treatment');", d); (globalThis as any).__t0 = Date.now(); }
    const v = await w.view(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 81, 'const v = await w.view(id);', d); (globalThis as any).__t0 = Date.now(); }
    expect(v).toMatchObject({ stage: 'risk_treatment', approvedDigest: null });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 82, "expect(v).toMatchObject({ stage: 'risk_treatment', approvedD", d); (globalThis as any).__t0 = Date.now(); }
    expect(v.evidence.failed).toEqual(['demographic_parity_ratio:gender']);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 83, "expect(v.evidence.failed).toEqual(['demographic_parity_ratio", d); (globalThis as any).__t0 = Date.now(); }
    expect(v.treatmentPlan.current).toBe(false);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 84, 'expect(v.treatmentPlan.current).toBe(false);', d); (globalThis as any).__t0 = Date.now(); }
  });

  it('runs bias testing and approval again for a new model version', async () => {
    (globalThis as any).__t0 = Date.now();
    const id = 'ops-version';
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 85, "const id = 'ops-version';", d); (globalThis as any).__t0 = Date.now(); }
    const { view: active } = await w.toActive(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 86, 'const { view: active } = await w.toActive(id);', d); (globalThis as any).__t0 = Date.now(); }
    const newVersion = example('new-version.json');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 87, "const newVersion = example('new-version.json');", d); (globalThis as any).__t0 = Date.now(); }
    expect(newVersion.version).not.toBe(active.model.version);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 88, 'expect(newVersion.version).not.toBe(active.model.version);', d); (globalThis as any).__t0 = Date.now(); }

    const res = await w.call('POST', w.sys(id, '/versions'), newVersion, 202);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 89, "const res = await w.call('POST', w.sys(id, '/versions'), new", d); (globalThis as any).__t0 = Date.now(); }
    expect(res.json()).toMatchObject({ modelVersion: newVersion.version, stage: 'bias_testing' });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 90, 'expect(res.json()).toMatchObject({ modelVersion: newVersion.', d); (globalThis as any).__t0 = Date.now(); }
    const testing = await w.view(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 91, 'const testing = await w.view(id);', d); (globalThis as any).__t0 = Date.now(); }
    expect(testing).toMatchObject({
      stage: 'bias_testing',
      approvedDigest: null,
      model: { version: newVersion.version },
    });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 92, '});', d); (globalThis as any).__t0 = Date.now(); }

    // Evidence for the old version no longer counts.
    const stale = await w.evidence(id, example('bias-evidence.json'), 422);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 93, "const stale = await w.evidence(id, example('bias-evidence.js", d); (globalThis as any).__t0 = Date.now(); }
    expect(stale.json().issues.map((i: { path: string }) => i.path)).toContain('body.modelVersion');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 94, 'expect(stale.json().issues.map((i: { path: string }) => i.pa', d); (globalThis as any).__t0 = Date.now(); }
    expect((await w.view(id)).stage).toBe('bias_testing');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 95, "expect((await w.view(id)).stage).toBe('bias_testing');", d); (globalThis as any).__t0 = Date.now(); }

    // New evidence; the treatment plan on record still answers its failed metric, so it goes straight to approval.
    const evidence = (
      await w.evidence(id, { ...example('bias-evidence.json'), modelVersion: newVersion.version })
    ).json();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 96, ').json();', d); (globalThis as any).__t0 = Date.now(); }
    expect(evidence.stage).toBe('approval');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 97, "expect(evidence.stage).toBe('approval');", d); (globalThis as any).__t0 = Date.now(); }
    const { approvers, view: approved } = await approveChain(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 98, 'const { approvers, view: approved } = await approveChain(id)', d); (globalThis as any).__t0 = Date.now(); }
    expect(approvers.map((a) => a.kind)).toEqual(t.policy.approvalChains.high.map(() => 'treatment_plan'));
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 99, 'expect(approvers.map((a) => a.kind)).toEqual(t.policy.approv', d); (globalThis as any).__t0 = Date.now(); }
    expect(approved.stage).toBe('active');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 100, "expect(approved.stage).toBe('active');", d); (globalThis as any).__t0 = Date.now(); }
    expect(approved.approvedDigest).not.toBeNull();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 101, 'expect(approved.approvedDigest).not.toBeNull();', d); (globalThis as any).__t0 = Date.now(); }
    expect(approved.approvedDigest).not.toBe(active.approvedDigest);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 102, 'expect(approved.approvedDigest).not.toBe(active.approvedDige', d); (globalThis as any).__t0 = Date.now(); }
    expect(approved.evidence.modelVersion).toBe(newVersion.version);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 103, 'expect(approved.evidence.modelVersion).toBe(newVersion.versi', d); (globalThis as any).__t0 = Date.now(); }
    expect(approved.treatmentPlan.version).toBe(active.treatmentPlan.version);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 104, 'expect(approved.treatmentPlan.version).toBe(active.treatment', d); (globalThis as any).__t0 = Date.now(); }

    // The same version again is refused.
    const same = await w.call('POST', w.sys(id, '/versions'), newVersion, 422);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 105, "const same = await w.call('POST', w.sys(id, '/versions'), ne", d); (globalThis as any).__t0 = Date.now(); }
    expect(same.json().issues.map((i: { path: string }) => i.path)).toContain('body.version');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 106, 'expect(same.json().issues.map((i: { path: string }) => i.pat', d); (globalThis as any).__t0 = Date.now(); }
    expect((await w.view(id)).stage).toBe('active');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 107, "expect((await w.view(id)).stage).toBe('active');", d); (globalThis as any).__t0 = Date.now(); }

    // A version that changes purpose or context needs a full reassessment.
    const changed = await w.call(
      'POST',
      w.sys(id, '/versions'),
      { ...newVersion, version: `${newVersion.version}-next`, purposeAndContextUnchanged: false },
      202,
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 108, ');', d); (globalThis as any).__t0 = Date.now(); }
    expect(changed.json().stage).toBe('impact_assessment');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 109, "expect(changed.json().stage).toBe('impact_assessment');", d); (globalThis as any).__t0 = Date.now(); }
    expect(await w.view(id)).toMatchObject({ stage: 'impact_assessment', approvedDigest: null });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 110, "expect(await w.view(id)).toMatchObject({ stage: 'impact_asse", d); (globalThis as any).__t0 = Date.now(); }
  });

  it('reviews at once after a serious incident, records its closure, and leaves the stage alone for a minor one', async () => {
    (globalThis as any).__t0 = Date.now();
    const id = 'ops-incident';
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 111, "const id = 'ops-incident';", d); (globalThis as any).__t0 = Date.now(); }
    const { view: active } = await w.toActive(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 112, 'const { view: active } = await w.toActive(id);', d); (globalThis as any).__t0 = Date.now(); }
    const incident = example('incident.json');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 113, "const incident = example('incident.json');", d); (globalThis as any).__t0 = Date.now(); }
    expect(incident.severity).toBe('serious');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 114, "expect(incident.severity).toBe('serious');", d); (globalThis as any).__t0 = Date.now(); }

    const from = await serverNow();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 115, 'const from = await serverNow();', d); (globalThis as any).__t0 = Date.now(); }
    const res = await w.call('POST', w.sys(id, '/incidents'), incident, 201);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 116, "const res = await w.call('POST', w.sys(id, '/incidents'), in", d); (globalThis as any).__t0 = Date.now(); }
    const to = await serverNow();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 117, 'const to = await serverNow();', d); (globalThis as any).__t0 = Date.now(); }
    expect(res.json()).toMatchObject({ incidentId: 'inc-1', stage: 'review_due' });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 118, "expect(res.json()).toMatchObject({ incidentId: 'inc-1', stag", d); (globalThis as any).__t0 = Date.now(); }
    const v = await w.view(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 119, 'const v = await w.view(id);', d); (globalThis as any).__t0 = Date.now(); }
    expect(v).toMatchObject({ stage: 'review_due', approvedDigest: null });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 120, "expect(v).toMatchObject({ stage: 'review_due', approvedDiges", d); (globalThis as any).__t0 = Date.now(); }
    expect(v.reviewDueAt).not.toBe(active.reviewDueAt);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 121, 'expect(v.reviewDueAt).not.toBe(active.reviewDueAt);', d); (globalThis as any).__t0 = Date.now(); }
    expect(v.reviewDueAt).toBe(v.incidents[0].reportedAt);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 122, 'expect(v.reviewDueAt).toBe(v.incidents[0].reportedAt);', d); (globalThis as any).__t0 = Date.now(); }
    expect(Date.parse(v.reviewDueAt)).toBeGreaterThanOrEqual(from);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 123, 'expect(Date.parse(v.reviewDueAt)).toBeGreaterThanOrEqual(fro', d); (globalThis as any).__t0 = Date.now(); }
    expect(Date.parse(v.reviewDueAt)).toBeLessThanOrEqual(to);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 124, 'expect(Date.parse(v.reviewDueAt)).toBeLessThanOrEqual(to);', d); (globalThis as any).__t0 = Date.now(); }
    const lead = await t.mailbox.waitFor(
      (m) =>
        m.to.includes(GOVERNANCE_LEAD) &&
        m.headers['x-ai-system'] === id &&
        m.subject.startsWith('Serious incident inc-1'),
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 125, ');', d); (globalThis as any).__t0 = Date.now(); }
    expect(lead.text).toContain(incident.description);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 126, 'expect(lead.text).toContain(incident.description);', d); (globalThis as any).__t0 = Date.now(); }
    await t.mailbox.waitFor(
      (m) => m.to.includes(OWNER) && m.headers['x-ai-system'] === id && m.subject.startsWith('Periodic review due'),
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 127, ');', d); (globalThis as any).__t0 = Date.now(); }

    const closure = example('incident-close.json');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 128, "const closure = example('incident-close.json');", d); (globalThis as any).__t0 = Date.now(); }
    const closed = await w.call('POST', w.sys(id, '/incidents/inc-1/close'), closure, 200);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 129, "const closed = await w.call('POST', w.sys(id, '/incidents/in", d); (globalThis as any).__t0 = Date.now(); }
    expect(closed.json().closedAt).toEqual(expect.any(String));
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 130, 'expect(closed.json().closedAt).toEqual(expect.any(String));', d); (globalThis as any).__t0 = Date.now(); }
    const afterClose = await w.view(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 131, 'const afterClose = await w.view(id);', d); (globalThis as any).__t0 = Date.now(); }
    expect(afterClose.incidents[0]).toMatchObject({
      id: 'inc-1',
      closedAt: closed.json().closedAt,
      closedBy: closure.closedBy,
      resolution: closure.resolution,
    });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 132, '});', d); (globalThis as any).__t0 = Date.now(); }
    const twice = await w.call('POST', w.sys(id, '/incidents/inc-1/close'), closure, 409);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 133, "const twice = await w.call('POST', w.sys(id, '/incidents/inc", d); (globalThis as any).__t0 = Date.now(); }
    expect(twice.json().error).toBe('wrong_stage');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 134, "expect(twice.json().error).toBe('wrong_stage');", d); (globalThis as any).__t0 = Date.now(); }
    const unknown = await w.call('POST', w.sys(id, '/incidents/inc-99/close'), closure, 422);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 135, "const unknown = await w.call('POST', w.sys(id, '/incidents/i", d); (globalThis as any).__t0 = Date.now(); }
    expect(unknown.json().issues.map((i: { path: string }) => i.path)).toContain('body.incidentId');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 136, 'expect(unknown.json().issues.map((i: { path: string }) => i.', d); (globalThis as any).__t0 = Date.now(); }

    // The immediate review is signed off like a scheduled one.
    await w.call(
      'POST',
      w.sys(id, '/reviews'),
      reviewBody({
        biasEvidence: { ...example('review.json').biasEvidence, effectiveDate: isoDay(await serverNow()) },
      }),
      202,
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 137, ');', d); (globalThis as any).__t0 = Date.now(); }
    await approveChain(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 138, 'await approveChain(id);', d); (globalThis as any).__t0 = Date.now(); }
    const reviewed = await w.until(id, (x) => x.cycle === active.cycle + 1, 'the next cycle');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 139, 'const reviewed = await w.until(id, (x) => x.cycle === active', d); (globalThis as any).__t0 = Date.now(); }
    expect(reviewed.stage).toBe('active');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 140, "expect(reviewed.stage).toBe('active');", d); (globalThis as any).__t0 = Date.now(); }
    const reviewedDigest = reviewed.approvedDigest;
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 141, 'const reviewedDigest = reviewed.approvedDigest;', d); (globalThis as any).__t0 = Date.now(); }
    expect(reviewedDigest).not.toBeNull();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 142, 'expect(reviewedDigest).not.toBeNull();', d); (globalThis as any).__t0 = Date.now(); }

    // A minor incident is recorded and mailed to the owner, but changes nothing else.
    const minor = await w.call('POST', w.sys(id, '/incidents'), { ...incident, severity: 'minor' }, 201);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 143, "const minor = await w.call('POST', w.sys(id, '/incidents'), ", d); (globalThis as any).__t0 = Date.now(); }
    expect(minor.json().stage).toBe('active');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 144, "expect(minor.json().stage).toBe('active');", d); (globalThis as any).__t0 = Date.now(); }
    const minorId: string = minor.json().incidentId;
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 145, 'const minorId: string = minor.json().incidentId;', d); (globalThis as any).__t0 = Date.now(); }
    await t.mailbox.waitFor(
      (m) => m.to.includes(OWNER) && m.headers['x-ai-system'] === id && m.subject.startsWith(`Incident ${minorId}`),
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 146, ');', d); (globalThis as any).__t0 = Date.now(); }
    const afterMinor = await w.view(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 147, 'const afterMinor = await w.view(id);', d); (globalThis as any).__t0 = Date.now(); }
    expect(afterMinor).toMatchObject({
      stage: 'active',
      approvedDigest: reviewedDigest,
      reviewDueAt: reviewed.reviewDueAt,
    });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 148, '});', d); (globalThis as any).__t0 = Date.now(); }
    expect(afterMinor.incidents.map((i: { id: string }) => i.id)).toEqual([minorId]);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 149, 'expect(afterMinor.incidents.map((i: { id: string }) => i.id)', d); (globalThis as any).__t0 = Date.now(); }
    await settle();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 150, 'await settle();', d); (globalThis as any).__t0 = Date.now(); }
    expect(w.mailsTo(GOVERNANCE_LEAD, id, (m) => m.subject.includes(minorId))).toHaveLength(0);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 151, 'expect(w.mailsTo(GOVERNANCE_LEAD, id, (m) => m.subject.inclu', d); (globalThis as any).__t0 = Date.now(); }
  });

  it('retires a system: the lifecycle ends and refuses anything afterwards', async () => {
    (globalThis as any).__t0 = Date.now();
    const id = 'ops-retire';
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 152, "const id = 'ops-retire';", d); (globalThis as any).__t0 = Date.now(); }
    await w.toActive(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 153, 'await w.toActive(id);', d); (globalThis as any).__t0 = Date.now(); }
    const retirement = example('retire.json');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 154, "const retirement = example('retire.json');", d); (globalThis as any).__t0 = Date.now(); }
    const res = await w.call('POST', w.sys(id, '/retire'), retirement, 200);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 155, "const res = await w.call('POST', w.sys(id, '/retire'), retir", d); (globalThis as any).__t0 = Date.now(); }
    expect(res.json()).toMatchObject({ stage: 'retired', retiredAt: expect.any(String) });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 156, "expect(res.json()).toMatchObject({ stage: 'retired', retired", d); (globalThis as any).__t0 = Date.now(); }

    await waitForStatus(id, 'COMPLETED');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 157, "await waitForStatus(id, 'COMPLETED');", d); (globalThis as any).__t0 = Date.now(); }
    const final = await handleFor(id).result();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 158, 'const final = await handleFor(id).result();', d); (globalThis as any).__t0 = Date.now(); }
    expect(final).toMatchObject({ stage: 'retired', retiredAt: res.json().retiredAt });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 159, "expect(final).toMatchObject({ stage: 'retired', retiredAt: r", d); (globalThis as any).__t0 = Date.now(); }
    for (const to of [OWNER, GOVERNANCE_LEAD]) {
      const mail = await t.mailbox.waitFor(
        (m) => m.to.includes(to) && m.headers['x-ai-system'] === id && m.subject.startsWith('Retired:'),
      );
      expect(mail.text).toContain(retirement.reason);
    }
    await expect.poll(() => t.store.getSystem(id), { timeout: 10_000 }).toMatchObject({ stage: 'retired' });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 160, 'await expect.poll(() => t.store.getSystem(id), { timeout: 10', d); (globalThis as any).__t0 = Date.now(); }

    const late = await w.call('POST', w.sys(id, '/incidents'), example('incident.json'), 409);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 161, "const late = await w.call('POST', w.sys(id, '/incidents'), e", d); (globalThis as any).__t0 = Date.now(); }
    expect(late.json()).toMatchObject({ error: 'lifecycle_ended', stage: 'retired' });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 162, "expect(late.json()).toMatchObject({ error: 'lifecycle_ended'", d); (globalThis as any).__t0 = Date.now(); }
    const again = await w.call('POST', '/api/v1/systems', registrationFor(id), 409);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 163, "const again = await w.call('POST', '/api/v1/systems', regist", d); (globalThis as any).__t0 = Date.now(); }
    expect(again.json().error).toBe('already_registered');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 164, "expect(again.json().error).toBe('already_registered');", d); (globalThis as any).__t0 = Date.now(); }
  });

  it('stops the lifecycle of a prohibited practice', async () => {
    (globalThis as any).__t0 = Date.now();
    const id = 'ops-prohibited';
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 165, "const id = 'ops-prohibited';", d); (globalThis as any).__t0 = Date.now(); }
    await w.register(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 166, 'await w.register(id);', d); (globalThis as any).__t0 = Date.now(); }
    const assessment = example('impact-assessment.json');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 167, "const assessment = example('impact-assessment.json');", d); (globalThis as any).__t0 = Date.now(); }
    const prohibited = {
      ...assessment,
      euAiAct: {
        category: 'prohibited',
        rationale: 'Art. 5(1)(f): infers emotions of applicants during video interviews.',
      },
    };
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 168, '};', d); (globalThis as any).__t0 = Date.now(); }
    const res = await w.assess(id, prohibited as never);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 169, 'const res = await w.assess(id, prohibited as never);', d); (globalThis as any).__t0 = Date.now(); }
    expect(res.json().stage).toBe('rejected');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 170, "expect(res.json().stage).toBe('rejected');", d); (globalThis as any).__t0 = Date.now(); }
    const stopped = await t.mailbox.waitFor(
      (m) => m.to.includes(GOVERNANCE_LEAD) && m.headers['x-ai-system'] === id && m.subject.startsWith('Stopped:'),
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 171, ');', d); (globalThis as any).__t0 = Date.now(); }
    expect(stopped.text).toContain('prohibited practice');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 172, "expect(stopped.text).toContain('prohibited practice');", d); (globalThis as any).__t0 = Date.now(); }
    await waitForStatus(id, 'COMPLETED');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 173, "await waitForStatus(id, 'COMPLETED');", d); (globalThis as any).__t0 = Date.now(); }
    expect((await handleFor(id).result()).stage).toBe('rejected');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 174, "expect((await handleFor(id).result()).stage).toBe('rejected'", d); (globalThis as any).__t0 = Date.now(); }
    const late = await w.evidence(id, example('bias-evidence.json'), 409);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 175, "const late = await w.evidence(id, example('bias-evidence.jso", d); (globalThis as any).__t0 = Date.now(); }
    expect(late.json().error).toBe('lifecycle_ended');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 176, "expect(late.json().error).toBe('lifecycle_ended');", d); (globalThis as any).__t0 = Date.now(); }
  });

  it('asks the governance lead to accept residual risk above appetite as a separate final step', async () => {
    (globalThis as any).__t0 = Date.now();
    const id = 'ops-risk-acceptance';
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 177, "const id = 'ops-risk-acceptance';", d); (globalThis as any).__t0 = Date.now(); }
    const { severity, likelihood } = t.policy.riskScoring;
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 178, 'const { severity, likelihood } = t.policy.riskScoring;', d); (globalThis as any).__t0 = Date.now(); }
    const max = t.policy.riskAppetite.maxResidualScore;
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 179, 'const max = t.policy.riskAppetite.maxResidualScore;', d); (globalThis as any).__t0 = Date.now(); }
    const pairs = severities.flatMap((s) => likelihoods.map((l) => ({ s, l, score: severity[s] * likelihood[l] })));
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 180, 'const pairs = severities.flatMap((s) => likelihoods.map((l) ', d); (globalThis as any).__t0 = Date.now(); }
    const above = pairs.find((p) => p.score > max);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 181, 'const above = pairs.find((p) => p.score > max);', d); (globalThis as any).__t0 = Date.now(); }
    expect(above).toBeDefined();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 182, 'expect(above).toBeDefined();', d); (globalThis as any).__t0 = Date.now(); }
    const plan = example('treatment-plan.json');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 183, "const plan = example('treatment-plan.json');", d); (globalThis as any).__t0 = Date.now(); }
    plan.items[0] = { ...plan.items[0], residualSeverity: above!.s, residualLikelihood: above!.l };
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 184, 'plan.items[0] = { ...plan.items[0], residualSeverity: above!', d); (globalThis as any).__t0 = Date.now(); }

    await w.register(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 185, 'await w.register(id);', d); (globalThis as any).__t0 = Date.now(); }
    await w.assess(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 186, 'await w.assess(id);', d); (globalThis as any).__t0 = Date.now(); }
    await w.evidence(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 187, 'await w.evidence(id);', d); (globalThis as any).__t0 = Date.now(); }
    const submitted = (await w.plan(id, plan)).json();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 188, 'const submitted = (await w.plan(id, plan)).json();', d); (globalThis as any).__t0 = Date.now(); }
    expect(submitted).toMatchObject({ stage: 'approval', requiresRiskAcceptance: true });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 189, "expect(submitted).toMatchObject({ stage: 'approval', require", d); (globalThis as any).__t0 = Date.now(); }
    expect(submitted.residualScore).toBeGreaterThan(max);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 190, 'expect(submitted.residualScore).toBeGreaterThan(max);', d); (globalThis as any).__t0 = Date.now(); }

    const roles = t.policy.approvalChains.high;
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 191, 'const roles = t.policy.approvalChains.high;', d); (globalThis as any).__t0 = Date.now(); }
    const first = await w.until(id, (v) => v.pendingApproval?.step === 1, 'step 1');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 192, 'const first = await w.until(id, (v) => v.pendingApproval?.st', d); (globalThis as any).__t0 = Date.now(); }
    expect(first.pendingApproval.of).toBe(roles.length + 1);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 193, 'expect(first.pendingApproval.of).toBe(roles.length + 1);', d); (globalThis as any).__t0 = Date.now(); }
    expect(first.treatmentPlan.requiresRiskAcceptance).toBe(true);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 194, 'expect(first.treatmentPlan.requiresRiskAcceptance).toBe(true', d); (globalThis as any).__t0 = Date.now(); }
    for (let step = 1; step <= roles.length; step++) {
      const v = await w.until(id, (x) => x.pendingApproval?.step === step, `step ${step}`);
      expect(v.pendingApproval).toMatchObject({ kind: 'treatment_plan', role: roles[step - 1] });
      await w.approveOpenRequest(id);
    }
    // Every plan step approved, and still not active: the risk acceptance is outstanding.
    const last = await w.until(id, (v) => v.pendingApproval?.step === roles.length + 1, 'risk acceptance step');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 195, 'const last = await w.until(id, (v) => v.pendingApproval?.ste', d); (globalThis as any).__t0 = Date.now(); }
    expect(last.stage).toBe('approval');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 196, "expect(last.stage).toBe('approval');", d); (globalThis as any).__t0 = Date.now(); }
    expect(last.pendingApproval).toMatchObject({
      kind: 'risk_acceptance',
      role: 'governance_lead',
      approver: GOVERNANCE_LEAD,
    });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 197, '});', d); (globalThis as any).__t0 = Date.now(); }
    const mail = await t.mailbox.waitFor(
      (m) =>
        m.to.includes(GOVERNANCE_LEAD) &&
        m.headers['x-ai-system'] === id &&
        m.subject.includes(`step ${roles.length + 1} of ${roles.length + 1}`),
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 198, ');', d); (globalThis as any).__t0 = Date.now(); }
    expect(mail.text).toContain('acceptance of residual risk');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 199, "expect(mail.text).toContain('acceptance of residual risk');", d); (globalThis as any).__t0 = Date.now(); }
    await w.approveOpenRequest(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 200, 'await w.approveOpenRequest(id);', d); (globalThis as any).__t0 = Date.now(); }
    const done = await w.until(id, (v) => v.stage !== 'approval', 'approved');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 201, "const done = await w.until(id, (v) => v.stage !== 'approval'", d); (globalThis as any).__t0 = Date.now(); }
    expect(done.stage).toBe('fria_notification');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 202, "expect(done.stage).toBe('fria_notification');", d); (globalThis as any).__t0 = Date.now(); }
    expect(done.decisions.map((d: { kind: string }) => d.kind)).toEqual([
      ...roles.map(() => 'treatment_plan'),
      'risk_acceptance',
    ]);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 203, ']);', d); (globalThis as any).__t0 = Date.now(); }
  });

  it('sends the system back to the stage an approver names when requesting changes, only with a comment', async () => {
    (globalThis as any).__t0 = Date.now();
    const id = 'ops-request-changes';
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 204, "const id = 'ops-request-changes';", d); (globalThis as any).__t0 = Date.now(); }
    await w.register(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 205, 'await w.register(id);', d); (globalThis as any).__t0 = Date.now(); }
    await w.assess(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 206, 'await w.assess(id);', d); (globalThis as any).__t0 = Date.now(); }
    await w.evidence(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 207, 'await w.evidence(id);', d); (globalThis as any).__t0 = Date.now(); }
    await w.plan(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 208, 'await w.plan(id);', d); (globalThis as any).__t0 = Date.now(); }
    const link = await w.approvalLink(id, RISK_OWNER);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 209, 'const link = await w.approvalLink(id, RISK_OWNER);', d); (globalThis as any).__t0 = Date.now(); }
    const open = await w.view(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 210, 'const open = await w.view(id);', d); (globalThis as any).__t0 = Date.now(); }

    const bare = await w.decide(link, 'request_changes', '', { returnTo: 'bias_testing' });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 211, "const bare = await w.decide(link, 'request_changes', '', { r", d); (globalThis as any).__t0 = Date.now(); }
    expect(bare.statusCode).toBe(422);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 212, 'expect(bare.statusCode).toBe(422);', d); (globalThis as any).__t0 = Date.now(); }
    expect(bare.body).toContain('needs a comment');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 213, "expect(bare.body).toContain('needs a comment');", d); (globalThis as any).__t0 = Date.now(); }
    await settle();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 214, 'await settle();', d); (globalThis as any).__t0 = Date.now(); }
    const still = await w.view(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 215, 'const still = await w.view(id);', d); (globalThis as any).__t0 = Date.now(); }
    expect(still).toMatchObject({ stage: 'approval', decisions: [] });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 216, "expect(still).toMatchObject({ stage: 'approval', decisions: ", d); (globalThis as any).__t0 = Date.now(); }
    expect(still.pendingApproval.requestId).toBe(open.pendingApproval.requestId);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 217, 'expect(still.pendingApproval.requestId).toBe(open.pendingApp', d); (globalThis as any).__t0 = Date.now(); }

    const comment = 'Re-run the bias tests on the 2026 applications.';
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 218, "const comment = 'Re-run the bias tests on the 2026 applicati", d); (globalThis as any).__t0 = Date.now(); }
    const res = await w.decide(link, 'request_changes', comment, { returnTo: 'bias_testing' });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 219, "const res = await w.decide(link, 'request_changes', comment,", d); (globalThis as any).__t0 = Date.now(); }
    expect(res.statusCode, res.body).toBe(200);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 220, 'expect(res.statusCode, res.body).toBe(200);', d); (globalThis as any).__t0 = Date.now(); }
    const back = await w.until(id, (v) => v.stage === 'bias_testing', 'back to bias testing');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 221, "const back = await w.until(id, (v) => v.stage === 'bias_test", d); (globalThis as any).__t0 = Date.now(); }
    expect(back.pendingApproval).toBeNull();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 222, 'expect(back.pendingApproval).toBeNull();', d); (globalThis as any).__t0 = Date.now(); }
    expect(back.decisions).toMatchObject([
      { decision: 'request_changes', returnTo: 'bias_testing', comment, approver: RISK_OWNER },
    ]);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 223, ']);', d); (globalThis as any).__t0 = Date.now(); }
    const outcome = await t.mailbox.waitFor(
      (m) => m.to.includes(OWNER) && m.headers['x-ai-system'] === id && m.subject.startsWith('Changes requested:'),
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 224, ');', d); (globalThis as any).__t0 = Date.now(); }
    expect(outcome.text).toContain(comment);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 225, 'expect(outcome.text).toContain(comment);', d); (globalThis as any).__t0 = Date.now(); }
  });

  it('lets an approver delegate to a deputy, whose decision advances the chain', async () => {
    (globalThis as any).__t0 = Date.now();
    const id = 'ops-delegation';
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 226, "const id = 'ops-delegation';", d); (globalThis as any).__t0 = Date.now(); }
    await w.register(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 227, 'await w.register(id);', d); (globalThis as any).__t0 = Date.now(); }
    await w.assess(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 228, 'await w.assess(id);', d); (globalThis as any).__t0 = Date.now(); }
    await w.evidence(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 229, 'await w.evidence(id);', d); (globalThis as any).__t0 = Date.now(); }
    await w.plan(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 230, 'await w.plan(id);', d); (globalThis as any).__t0 = Date.now(); }
    const link = await w.approvalLink(id, RISK_OWNER);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 231, 'const link = await w.approvalLink(id, RISK_OWNER);', d); (globalThis as any).__t0 = Date.now(); }
    const page = await t.api.inject({ method: 'GET', url: pathOf(link) });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 232, "const page = await t.api.inject({ method: 'GET', url: pathOf", d); (globalThis as any).__t0 = Date.now(); }
    expect(page.statusCode).toBe(200);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 233, 'expect(page.statusCode).toBe(200);', d); (globalThis as any).__t0 = Date.now(); }
    const res = await t.api.inject({
      method: 'POST',
      url: `${pathOf(link)}/delegate`,
      payload: new URLSearchParams({
        deputy: DEPUTY,
        reason: 'On leave this week.',
        csrf: csrfFrom(page.body),
      }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 234, '});', d); (globalThis as any).__t0 = Date.now(); }
    expect(res.statusCode, res.body).toBe(200);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 235, 'expect(res.statusCode, res.body).toBe(200);', d); (globalThis as any).__t0 = Date.now(); }

    const delegated = await w.until(id, (v) => v.pendingApproval?.approver === DEPUTY, 'the deputy request');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 236, 'const delegated = await w.until(id, (v) => v.pendingApproval', d); (globalThis as any).__t0 = Date.now(); }
    expect(delegated.pendingApproval).toMatchObject({ step: 1, delegatedFrom: RISK_OWNER, role: 'risk_owner' });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 237, 'expect(delegated.pendingApproval).toMatchObject({ step: 1, d', d); (globalThis as any).__t0 = Date.now(); }
    const mail = await t.mailbox.waitFor(
      (m) => m.to.includes(DEPUTY) && m.headers['x-ai-system'] === id && m.subject.startsWith('Approval needed'),
    );
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 238, ');', d); (globalThis as any).__t0 = Date.now(); }
    expect(mail.text).toContain(`${RISK_OWNER} delegated this decision to you`);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 239, 'expect(mail.text).toContain(`${RISK_OWNER} delegated this de', d); (globalThis as any).__t0 = Date.now(); }

    const original = await t.api.inject({ method: 'GET', url: pathOf(link) });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 240, "const original = await t.api.inject({ method: 'GET', url: pa", d); (globalThis as any).__t0 = Date.now(); }
    expect(original.body).toContain('Already decided');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 241, "expect(original.body).toContain('Already decided');", d); (globalThis as any).__t0 = Date.now(); }

    const deputyLink = await w.approvalLink(id, DEPUTY);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 242, 'const deputyLink = await w.approvalLink(id, DEPUTY);', d); (globalThis as any).__t0 = Date.now(); }
    expect(deputyLink).not.toBe(link);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 243, 'expect(deputyLink).not.toBe(link);', d); (globalThis as any).__t0 = Date.now(); }
    expect((await w.decide(deputyLink, 'approve', 'Approved on behalf of the head of HR.')).statusCode).toBe(200);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 244, "expect((await w.decide(deputyLink, 'approve', 'Approved on b", d); (globalThis as any).__t0 = Date.now(); }
    const next = await w.until(id, (v) => v.pendingApproval?.step === 2, 'step 2');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 245, 'const next = await w.until(id, (v) => v.pendingApproval?.ste', d); (globalThis as any).__t0 = Date.now(); }
    expect(next.pendingApproval.approver).toBe(GOVERNANCE_LEAD);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 246, 'expect(next.pendingApproval.approver).toBe(GOVERNANCE_LEAD);', d); (globalThis as any).__t0 = Date.now(); }
    expect(next.decisions).toMatchObject([{ approver: DEPUTY, decision: 'approve', step: 1, role: 'risk_owner' }]);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 247, 'expect(next.decisions).toMatchObject([{ approver: DEPUTY, de', d); (globalThis as any).__t0 = Date.now(); }
    const recorded = await t.store.listDecisions(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 248, 'const recorded = await t.store.listDecisions(id);', d); (globalThis as any).__t0 = Date.now(); }
    expect(recorded.map((d) => [d.approver, d.decision])).toEqual([[DEPUTY, 'approve']]);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 249, 'expect(recorded.map((d) => [d.approver, d.decision])).toEqua', d); (globalThis as any).__t0 = Date.now(); }
  });

  it('skips bias testing for a low-tier system that decides nothing about people', async () => {
    (globalThis as any).__t0 = Date.now();
    const id = 'ops-low-tier';
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 250, "const id = 'ops-low-tier';", d); (globalThis as any).__t0 = Date.now(); }
    const { severity, likelihood } = t.policy.riskScoring;
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 251, 'const { severity, likelihood } = t.policy.riskScoring;', d); (globalThis as any).__t0 = Date.now(); }
    const low = severities
      .flatMap((s) => likelihoods.map((l) => ({ s, l, score: severity[s] * likelihood[l] })))
      .filter((p) => p.score < t.policy.riskScoring.tierMinScore.medium)
      .sort((a, b) => b.score - a.score)[0]!;
    const assessment = example('impact-assessment.json');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 252, "const assessment = example('impact-assessment.json');", d); (globalThis as any).__t0 = Date.now(); }
    const { fria: _fria, ...rest } = assessment;
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 253, 'const { fria: _fria, ...rest } = assessment;', d); (globalThis as any).__t0 = Date.now(); }
    const lowTier = {
      ...rest,
      euAiAct: { category: 'minimal', rationale: 'Internal search helper; no Annex III use.' },
      decisionsAboutPeople: false,
      impacts: assessment.impacts.map((i: Record<string, unknown>) => ({ ...i, severity: low.s, likelihood: low.l })),
    };
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 254, '};', d); (globalThis as any).__t0 = Date.now(); }
    await w.register(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 255, 'await w.register(id);', d); (globalThis as any).__t0 = Date.now(); }
    const assessed = (await w.assess(id, lowTier as never)).json();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 256, 'const assessed = (await w.assess(id, lowTier as never)).json', d); (globalThis as any).__t0 = Date.now(); }
    expect(assessed).toMatchObject({ riskTier: 'low', stage: 'risk_treatment', score: low.score });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 257, "expect(assessed).toMatchObject({ riskTier: 'low', stage: 'ri", d); (globalThis as any).__t0 = Date.now(); }
    const v = await w.view(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 258, 'const v = await w.view(id);', d); (globalThis as any).__t0 = Date.now(); }
    expect(v.transitions.map((tr: { to: string }) => tr.to)).toEqual(['impact_assessment', 'risk_treatment']);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 259, 'expect(v.transitions.map((tr: { to: string }) => tr.to)).toE', d); (globalThis as any).__t0 = Date.now(); }
    expect(v.fria.required).toBe(false);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 260, 'expect(v.fria.required).toBe(false);', d); (globalThis as any).__t0 = Date.now(); }

    await w.plan(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 261, 'await w.plan(id);', d); (globalThis as any).__t0 = Date.now(); }
    const pending = await w.until(id, (x) => x.pendingApproval !== null, 'approval request');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 262, 'const pending = await w.until(id, (x) => x.pendingApproval !', d); (globalThis as any).__t0 = Date.now(); }
    expect(pending.pendingApproval).toMatchObject({ of: t.policy.approvalChains.low.length, kind: 'treatment_plan' });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 263, 'expect(pending.pendingApproval).toMatchObject({ of: t.policy', d); (globalThis as any).__t0 = Date.now(); }
    expect(t.policy.approvalChains.low.length).toBe(1);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 264, 'expect(t.policy.approvalChains.low.length).toBe(1);', d); (globalThis as any).__t0 = Date.now(); }
    const { view: done } = await approveChain(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 265, 'const { view: done } = await approveChain(id);', d); (globalThis as any).__t0 = Date.now(); }
    // No FRIA step: the category is not high-risk.
    expect(done.stage).toBe('active');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 266, "expect(done.stage).toBe('active');", d); (globalThis as any).__t0 = Date.now(); }
    expect(done.transitions.map((tr: { to: string }) => tr.to)).not.toContain('fria_notification');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 267, 'expect(done.transitions.map((tr: { to: string }) => tr.to)).', d); (globalThis as any).__t0 = Date.now(); }
    expect(done.reviewDueAt).toBe(addCadence(new Date(done.approvedAt), t.policy.reviewCadence.low).toISOString());
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 268, 'expect(done.reviewDueAt).toBe(addMonths(new Date(done.approv', d); (globalThis as any).__t0 = Date.now(); }
  });

  it('refuses messages in the wrong stage and plans that leave a failed metric unanswered', async () => {
    (globalThis as any).__t0 = Date.now();
    const id = 'ops-wrong-stage';
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 269, "const id = 'ops-wrong-stage';", d); (globalThis as any).__t0 = Date.now(); }
    await w.register(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 270, 'await w.register(id);', d); (globalThis as any).__t0 = Date.now(); }
    const early = await w.evidence(id, example('bias-evidence.json'), 409);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 271, "const early = await w.evidence(id, example('bias-evidence.js", d); (globalThis as any).__t0 = Date.now(); }
    expect(early.json()).toMatchObject({ error: 'wrong_stage', stage: 'impact_assessment' });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 272, "expect(early.json()).toMatchObject({ error: 'wrong_stage', s", d); (globalThis as any).__t0 = Date.now(); }
    expect((await w.view(id)).evidence).toBeNull();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 273, 'expect((await w.view(id)).evidence).toBeNull();', d); (globalThis as any).__t0 = Date.now(); }

    await w.assess(id);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 274, 'await w.assess(id);', d); (globalThis as any).__t0 = Date.now(); }
    const evidence = (await w.evidence(id)).json();
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 275, 'const evidence = (await w.evidence(id)).json();', d); (globalThis as any).__t0 = Date.now(); }
    expect(evidence.failed.length).toBeGreaterThan(0);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 276, 'expect(evidence.failed.length).toBeGreaterThan(0);', d); (globalThis as any).__t0 = Date.now(); }
    const plan = example('treatment-plan.json');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 277, "const plan = example('treatment-plan.json');", d); (globalThis as any).__t0 = Date.now(); }
    const blind = { ...plan, items: plan.items.map((i: Record<string, unknown>) => ({ ...i, addressesMetrics: [] })) };
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 278, 'const blind = { ...plan, items: plan.items.map((i: Record<st', d); (globalThis as any).__t0 = Date.now(); }
    const refused = await w.plan(id, blind, 422);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 279, 'const refused = await w.plan(id, blind, 422);', d); (globalThis as any).__t0 = Date.now(); }
    expect(refused.json().issues.map((i: { path: string }) => i.path)).toContain('body.items');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 280, 'expect(refused.json().issues.map((i: { path: string }) => i.', d); (globalThis as any).__t0 = Date.now(); }
    expect(refused.json().message).toContain(evidence.failed[0]);
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 281, 'expect(refused.json().message).toContain(evidence.failed[0])', d); (globalThis as any).__t0 = Date.now(); }
    expect(await w.view(id)).toMatchObject({ stage: 'risk_treatment', treatmentPlan: null });
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 282, "expect(await w.view(id)).toMatchObject({ stage: 'risk_treatm", d); (globalThis as any).__t0 = Date.now(); }
    expect((await w.plan(id)).json().stage).toBe('approval');
    { const d = Date.now() - (globalThis as any).__t0; if (d > 1000) console.log('LAP', 283, "expect((await w.plan(id)).json().stage).toBe('approval');", d); (globalThis as any).__t0 = Date.now(); }
  });
});
