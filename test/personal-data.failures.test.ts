/**
 * A failure's message is personal data too: an SMTP refusal names its
 * recipient. What a Temporal operator reads about a retrying delivery (the
 * pending activity's last failure) is encrypted like every payload, and the
 * product reads it back in clear.
 */
import { describe, expect, it } from 'vitest';
import { workflowIdFor } from '../domain/system.js';
import { lifecycleSuite } from './support/lifecycle-env.js';

const HELD = 'held-for-privacy@example.org';
const s = lifecycleSuite({ rejectRecipients: (a) => (a.toLowerCase() === HELD ? 451 : undefined) });

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/;

describe('failure messages in Temporal', () => {
  it("keeps a refused recipient's address out of what Temporal shows of the retrying delivery", async () => {
    const id = 'privacy-failures';
    await s.w.register(id, { owner: HELD });
    const handle = s.t.env.client.workflow.getHandle(workflowIdFor(id));
    // Until Temporal holds a last failure for the delivery to the held address (the outbox counts its attempts).
    await expect
      .poll(
        async () => {
          const rows = await s.t.store.listNotifications(id);
          const held = rows.filter((r) => r.toAddress === HELD && r.attempts >= 2);
          if (held.length === 0) return false;
          const pending = (await handle.describe()).raw.pendingActivities ?? [];
          return pending.some((p) => p.lastFailure);
        },
        { timeout: 60_000, interval: 200 },
      )
      .toBe(true);
    const raw = (await handle.describe()).raw;
    const failures = (raw.pendingActivities ?? []).map((p) => p.lastFailure).filter((f) => f);
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) {
      expect(f!.message).toBe('Encoded failure');
      expect(f!.stackTrace ?? '').toBe('');
      expect(
        f!.encodedAttributes?.metadata?.encoding && Buffer.from(f!.encodedAttributes.metadata.encoding).toString(),
      ).toBe('binary/encrypted');
    }
    expect(JSON.stringify(raw.pendingActivities)).not.toMatch(EMAIL);
    // The product itself still reads why: the outbox row holds the SMTP answer in clear, in its own store.
    const rows = await s.t.store.listNotifications(id);
    expect(rows.find((r) => r.toAddress === HELD)?.lastError).toContain('451');
  });
});
