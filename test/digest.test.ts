/**
 * The governance lead's weekly digest: a Temporal Schedule (created
 * idempotently at start-up) starts a workflow that lists overdue reviews and
 * pending approvals from visibility and e-mails them. Schedules need the real
 * dev server; the time-skipping server has none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIGEST_SCHEDULE_ID, ensureDigestSchedule } from '../worker/digest-schedule.js';
import { DEV_ENV_GOVERNANCE_LEAD, eventually, startDevEnv, type DevEnv } from './support/dev-env.js';
import { example } from './support/examples.js';

let env: DevEnv;
beforeAll(async () => {
  env = await startDevEnv({
    name: 'digest-test',
    policy: (base) => ({
      ...base,
      reviewCadence: { low: '2s', medium: '2s', high: '2s' },
      reviews: { remindBefore: '1s', overdueEscalationEvery: '1h' },
    }),
  });
});
afterAll(async () => {
  await env?.close();
});

const OVERDUE = 'digest-overdue';
const PENDING = 'digest-pending';

describe('weekly governance digest', () => {
  it('creates one schedule however often start-up runs, following the policy', async () => {
    const opts = { taskQueue: env.taskQueue, policy: env.policy, governanceLead: DEV_ENV_GOVERNANCE_LEAD };
    await ensureDigestSchedule(env.client, opts);
    await ensureDigestSchedule(env.client, opts);
    const schedules: string[] = [];
    for await (const s of env.client.schedule.list()) schedules.push(s.scheduleId);
    expect(schedules.filter((id) => id === DIGEST_SCHEDULE_ID)).toHaveLength(1);

    const described = await env.client.schedule.getHandle(DIGEST_SCHEDULE_ID).describe();
    const calendar = described.spec.calendars?.[0];
    expect(calendar?.dayOfWeek).toEqual([
      { start: env.policy.digest.dayOfWeek, end: env.policy.digest.dayOfWeek, step: 1 },
    ]);
    expect(calendar?.hour).toEqual([{ start: env.policy.digest.hourUtc, end: env.policy.digest.hourUtc, step: 1 }]);

    // A changed policy updates the existing schedule instead of failing or adding one.
    await ensureDigestSchedule(env.client, {
      ...opts,
      policy: { ...env.policy, digest: { dayOfWeek: 'FRIDAY', hourUtc: 16 } },
    });
    const updated = await env.client.schedule.getHandle(DIGEST_SCHEDULE_ID).describe();
    expect(updated.spec.calendars?.[0]?.dayOfWeek).toEqual([{ start: 'FRIDAY', end: 'FRIDAY', step: 1 }]);
  });

  it('e-mails the governance lead the overdue reviews and pending approvals when the schedule fires', async () => {
    const w = env.walk;
    await w.toActive(OVERDUE);
    await w.register(PENDING);
    await w.assess(PENDING);
    await w.evidence(PENDING);
    await w.plan(PENDING);
    // Visibility catches up with the workflows' own timers: one review overdue, one approval waiting.
    await eventually(
      async () => (await env.api.inject({ method: 'GET', url: '/api/v1/reviews/overdue' })).json(),
      (b) => expect(b.reviews.map((r: { id: string }) => r.id)).toEqual([OVERDUE]),
    );
    await eventually(
      async () => (await env.api.inject({ method: 'GET', url: '/api/v1/approvals/pending' })).json(),
      (b) => expect(b.approvals.map((a: { id: string }) => a.id)).toEqual([PENDING]),
    );

    await ensureDigestSchedule(env.client, {
      taskQueue: env.taskQueue,
      policy: env.policy,
      governanceLead: DEV_ENV_GOVERNANCE_LEAD,
    });
    await env.client.schedule.getHandle(DIGEST_SCHEDULE_ID).trigger();
    const digest = await env.mailbox.waitFor(
      (m) => m.to.includes(DEV_ENV_GOVERNANCE_LEAD) && m.subject.startsWith('Weekly AI governance digest'),
      { timeoutMs: 30_000 },
    );
    expect(digest.subject).toBe('Weekly AI governance digest: 1 overdue, 1 pending');
    expect(digest.text).toContain(`${example('register.json').name} (${OVERDUE})`);
    expect(digest.text).toContain(`waiting on ${example('register.json').riskOwner}`);
    expect(digest.links).toContain(`${env.baseUrl}/systems/${PENDING}`);
    // One run, one e-mail, recorded in the outbox. The trigger started one run; once it has completed, its e-mail
    // activity has returned, and the mailbox stores a message before it answers 250: any second copy is there now.
    const schedule = await env.client.schedule.getHandle(DIGEST_SCHEDULE_ID).describe();
    expect(schedule.info.numActionsTaken).toBe(1);
    const [run] = schedule.info.recentActions.map((a) => a.action.workflow);
    expect(await env.client.workflow.getHandle(run!.workflowId, run!.firstExecutionRunId).result()).toEqual({
      overdue: 1,
      pending: 1,
    });
    expect(env.mailbox.messages().filter((m) => m.subject.startsWith('Weekly AI governance digest'))).toHaveLength(1);
    const outbox = (await env.store.listNotifications('governance')).filter((n) => n.kind === 'governance_digest');
    expect(outbox).toMatchObject([{ status: 'sent', messageId: digest.messageId }]);
  });
});
