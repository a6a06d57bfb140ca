/**
 * An SMTP outage delays mail and loses none, and never sends one twice.
 *
 * The real SMTP server of the lifecycle env is stopped just before the
 * approval e-mail goes out; Temporal retries the activity with its backoff
 * (2 s, then 4 s, ...) while the outbox records the failed attempts; once the
 * server is back the approval e-mail arrives exactly once, with the Message-ID
 * the outbox row was created with.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createActivities, messageIdFor } from '../activities/index.js';
import { createSmtpMailer } from '../activities/mailer.js';
import type { SendNotificationInput } from '../activities/types.js';
import type { NotificationRow } from '../store/index.js';
import { example } from './support/examples.js';
import { testPersonKeys } from './support/privacy.js';
import { scratchBlobStore } from './support/blobs.js';
import {
  barrier,
  lifecycleSuite,
  pathOf,
  PUBLIC_BASE_URL,
  TEST_DECISION_KEY,
  TEST_SECRET,
} from './support/lifecycle-env.js';

const s = lifecycleSuite({
  beforeClose: async (t) => {
    // The mailbox must be running for close() to stop it cleanly, whatever a failed test left behind.
    await t.mailbox.start();
  },
});

const RISK_OWNER: string = example('register.json').riskOwner;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(v)}`);
    await sleep(100);
  }
}

const approvalRows = async (id: string) =>
  (await s.t.store.listNotifications(id)).filter((n) => n.kind === 'approval_request');

describe('an SMTP outage while an approval e-mail is due', () => {
  it('records the failed attempts, then delivers the approval e-mail exactly once when SMTP is back', async () => {
    const id = 'smtp-outage';
    await s.w.register(id);
    await s.w.assess(id);
    await s.w.evidence(id);
    // Everything before the approval e-mail has been delivered: only that one meets the outage.
    await eventually(
      () => s.t.store.listNotifications(id),
      (rows) => rows.length >= 3 && rows.every((r) => r.status === 'sent'),
      'the e-mails so far to be sent',
    );

    await s.t.mailbox.stop();
    const outageStarted = Date.now();
    try {
      const planned = await s.w.plan(id);
      expect(planned.json()).toMatchObject({ stage: 'approval' });

      // Temporal retries the send: the outbox row stays pending and counts the failed attempts.
      const [failing] = await eventually(
        () => approvalRows(id),
        (rows) => rows.length === 1 && rows[0]!.status === 'pending' && rows[0]!.attempts >= 2,
        'two failed attempts on the approval e-mail',
      );
      expect(failing!.toAddress).toBe(RISK_OWNER);
      expect(failing!.sentAt).toBeNull();
      expect(failing!.lastError).toMatch(/ECONNREFUSED|connect/i);
      expect(failing!.messageId).toBe(messageIdFor(failing!.idempotencyKey));
      // Nothing arrived (the server is down, and nothing for this system is in the mailbox but the earlier mails).
      expect(s.t.mailbox.messages().filter((m) => m.subject.includes('Approval needed'))).toEqual([]);
      // The lifecycle itself is not held up: the request is open and bound to the risk owner.
      const v = await s.w.view(id);
      expect(v.stage).toBe('approval');
      expect(v.pendingApproval).toMatchObject({ approver: RISK_OWNER, step: 1 });
    } finally {
      await s.t.mailbox.start();
    }
    const outageMs = Date.now() - outageStarted;

    const [row] = await eventually(
      () => approvalRows(id),
      (rows) => rows[0]?.status === 'sent',
      'the approval e-mail to be sent after the outage',
    );
    const mail = await s.t.mailbox.waitFor((m) => m.messageId === row!.messageId, { timeoutMs: 10_000 });
    expect(mail.to).toEqual([RISK_OWNER]);
    expect(mail.subject).toContain('Approval needed');
    expect(mail.headers['x-ai-system']).toBe(id);
    expect(mail.headers['x-idempotency-key']).toMatch(/^[0-9a-f]{64}$/);
    expect(row!.attempts, 'the failed attempts stay on record').toBeGreaterThanOrEqual(2);
    expect(row!.sentAt).toBeInstanceOf(Date);

    // A retry that slipped through would show up as a second copy: once nothing is in flight any more (the delivery
    // activity completed for good, so Temporal runs it no more) and everything before is recorded, count them.
    await barrier(s.t, id);
    const copies = s.t.mailbox.messages().filter((m) => m.messageId === row!.messageId);
    expect(copies, `approval e-mail copies after a ${outageMs} ms outage`).toHaveLength(1);
    expect(s.t.mailbox.messages().filter((m) => m.subject.includes('Approval needed'))).toHaveLength(1);
    expect(await approvalRows(id)).toHaveLength(1);

    // And the delayed link is a working one.
    const page = await s.t.api.inject({ method: 'GET', url: pathOf(await s.w.approvalLink(id, RISK_OWNER)) });
    expect(page.statusCode, page.body).toBe(200);
    expect(page.body).toContain('name="decision"');
  });
});

describe('sendNotification retried after the e-mail went out', () => {
  it('does not send twice for the same idempotency key: the second call answers already_sent', async () => {
    const mailer = createSmtpMailer(s.t.mailbox.url, 'AI Governance <governance@example.org>');
    const activities = createActivities({
      store: s.t.store,
      mailer,
      publicBaseUrl: PUBLIC_BASE_URL,
      approvalLinkSecret: TEST_SECRET,
      decisionSigningKey: TEST_DECISION_KEY,
      policy: s.t.policy,
      personKeys: testPersonKeys,
      blobs: scratchBlobStore(),
    });
    const systemId = 'smtp-retried-activity';
    const input: SendNotificationInput = {
      idempotencyKey: `ai-system-${systemId}/run-1/7/approval_request`,
      systemId,
      notification: {
        kind: 'approval_request',
        systemId,
        systemName: 'Retried activity',
        to: RISK_OWNER,
        riskTier: 'high',
        requestId: `${systemId}.c1.r1.s1`,
        step: 1,
        of: 2,
        subject: 'impact assessment and risk-treatment plan',
        expiresAt: new Date(Date.now() + 7 * 86_400_000).toISOString(),
        reminder: 0,
        delegatedFrom: null,
      },
    };
    try {
      // Each call is its own attempt, as Temporal would run it: a fresh activity context, no heartbeat note.
      type Sent = Awaited<ReturnType<typeof activities.sendNotification>>;
      const first: Sent = await new MockActivityEnvironment().run(activities.sendNotification, input);
      expect(first).toEqual({ messageId: messageIdFor(input.idempotencyKey), status: 'sent' });
      // Temporal retries an activity whose completion was lost (worker crash, timeout) with the same input.
      const second: Sent = await new MockActivityEnvironment().run(activities.sendNotification, input);
      expect(second).toEqual({ messageId: first.messageId, status: 'already_sent' });

      // Both calls have returned, and the mailbox stores a message before it answers 250: any copy is there now.
      const copies = s.t.mailbox.messages().filter((m) => m.headers['x-ai-system'] === systemId);
      expect(copies).toHaveLength(1);
      expect(copies[0]!.messageId).toBe(first.messageId);
      const rows: NotificationRow[] = await s.t.store.listNotifications(systemId);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ status: 'sent', attempts: 0, messageId: first.messageId });
    } finally {
      mailer.close();
    }
  });
});
