/**
 * Recipients the SMTP server refuses, in the production topology.
 *
 * 550 (permanent: the mailbox does not exist): the notification's outbox row
 * ends `failed`, a `notification_failed` event goes into the system's audit
 * trail, the governance lead gets an "Undeliverable e-mail" message, and the
 * lifecycle goes on to active. Each refused e-mail is tried once: retrying a
 * permanent refusal cannot succeed.
 *
 * 451 (temporary, e.g. greylisting) that lasts: only that recipient's mail is
 * delayed. The other recipients' mail (the approval requests) arrives, the
 * lifecycle reaches active, and once the address accepts again its delayed
 * mail arrives, each message once.
 *
 * The refused address is the system owner's (registration `owner`): the
 * owner is asked for each piece of work by e-mail but decides nothing, so the
 * lifecycle can only go on if that mail does not hold it up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { example } from './support/examples.js';
import { driver, eventsOf, outboxOf } from './support/topology-walk.js';
import { pollUntil, startTopology, type SmtpMessage, type Topology } from './support/topology.js';

const RISK_OWNER: string = example('register.json').riskOwner;

let t: Topology;
beforeAll(async () => {
  t = await startTopology({ name: 'rejected-recipient', workers: 1, apis: 1 });
}, 180_000);
afterAll(async () => {
  await t?.stop();
});

const about = (id: string) => (m: SmtpMessage) => m.system === id || m.subject.includes(id) || m.text.includes(id);

describe('a recipient refused with 550', () => {
  it('fails that e-mail for good, records it, tells the governance lead, and the lifecycle goes on', async () => {
    const id = 'bounce-owner';
    const owner = 'no-such-owner@rejected.example.org';
    t.smtp.setRecipient(owner, 'reject');
    const d = driver(t, { deadline: Date.now() + 90_000 });

    const walk = await d.toActive(id, { owner });
    expect(walk.view.stage).toBe('active');

    // Settled: no row to the owner still waiting for another attempt.
    const rows = await pollUntil(
      "the owner's e-mails to be settled",
      async () => {
        const all = await outboxOf(t, [id]);
        const toOwner = all.filter((r) => r.to_address === owner);
        return toOwner.length > 0 && toOwner.every((r) => r.status === 'failed' || r.status === 'sent')
          ? all
          : undefined;
      },
      { timeoutMs: 30_000 },
    ).catch(async () => outboxOf(t, [id]));
    const toOwner = rows.filter((r) => r.to_address === owner);
    expect(toOwner.length, 'e-mails addressed to the owner').toBeGreaterThan(0);
    expect
      .soft(
        toOwner.map((r) => `${r.kind}: ${r.status}`),
        "the owner's outbox rows end failed",
      )
      .toEqual(toOwner.map((r) => `${r.kind}: failed`));
    expect
      .soft(
        rows
          .filter((r) => r.to_address !== owner && r.status !== 'sent')
          .map((r) => `${r.kind} to ${r.to_address}: ${r.status}`),
        "everyone else's e-mail is sent",
      )
      .toEqual([]);

    const failedEvents = (await eventsOf(t, [id])).get(id)!.filter((e) => e.type === 'notification_failed');
    expect.soft(failedEvents.length, 'notification_failed events in the audit trail').toBeGreaterThan(0);

    const undeliverable = await t.smtp
      .waitFor(
        (m) => m.to.includes(t.governanceLead) && m.subject.startsWith('Undeliverable e-mail') && about(id)(m),
        `to ${t.governanceLead} starting "Undeliverable e-mail" about ${id}`,
        30_000,
      )
      .catch((err: Error) => err);
    expect.soft(undeliverable instanceof Error ? undeliverable.message : 'received').toBe('received');

    // permanent: each refused e-mail was offered once, never retried
    const refusals = t.smtp.refusals().filter((r) => r.address === owner);
    expect.soft(refusals.every((r) => r.code === 550)).toBe(true);
    expect.soft(refusals.length, 'RCPT attempts for the refused address').toBe(toOwner.length);
    expect(t.smtp.messages().filter((m) => m.to.includes(owner))).toEqual([]);
  }, 180_000);
});

describe('a recipient answering 451 for as long as it takes', () => {
  it("delays only that recipient's e-mail: the approval requests arrive, the lifecycle advances, the delayed mail follows", async () => {
    const id = 'greylisted-owner';
    const owner = 'greylisted-owner@deferred.example.org';
    t.smtp.setRecipient(owner, 'defer');
    const d = driver(t, { deadline: Date.now() + 75_000 });
    try {
      const walking = d.toActive(id, { owner });
      walking.catch(() => undefined); // awaited below, after the first check says what is wrong
      // The risk owner's approval request must not queue behind the owner's deferred e-mail.
      const approval = await t.smtp
        .waitFor(
          (m) => m.to.includes(RISK_OWNER) && m.system === id && m.subject.includes('Approval needed'),
          `to ${RISK_OWNER} asking for approval of ${id} while ${owner} answers 451`,
          60_000,
        )
        .catch((err: Error) => err);
      expect(approval instanceof Error ? approval.message : 'received').toBe('received');
      const walk = await walking;
      expect(walk.view.stage).toBe('active');
      expect(walk.approvers).toEqual([RISK_OWNER, t.governanceLead]);

      // the owner's mail was tried again and again, never given up on, never delivered
      const refusals = t.smtp.refusals().filter((r) => r.address === owner);
      expect(refusals.length, 'RCPT attempts for the deferred address').toBeGreaterThanOrEqual(2);
      expect(refusals.every((r) => r.code === 451)).toBe(true);
      expect(t.smtp.messages().filter((m) => m.to.includes(owner))).toEqual([]);
      const waiting = (await outboxOf(t, [id])).filter((r) => r.to_address === owner);
      expect(waiting.length).toBeGreaterThan(0);
      expect
        .soft(
          waiting.filter((r) => r.status === 'failed').map((r) => r.kind),
          'a temporary refusal is not given up on',
        )
        .toEqual([]);
    } finally {
      t.smtp.setRecipient(owner, 'accept');
    }

    // Accepted again: the delayed mail arrives with the next retries (the backoff is capped well above this wait).
    const rows = await pollUntil(
      "the owner's delayed e-mails to be sent",
      async () => {
        const toOwner = (await outboxOf(t, [id])).filter((r) => r.to_address === owner);
        return toOwner.every((r) => r.status === 'sent') ? toOwner : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    const delivered = t.smtp.messages().filter((m) => m.to.includes(owner));
    expect(delivered.map((m) => m.messageId).sort()).toEqual(rows.map((r) => r.message_id).sort());
  }, 240_000);
});
