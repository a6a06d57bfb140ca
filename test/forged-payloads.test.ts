/**
 * Whoever reaches Temporal's frontend can send a signal with any bytes in
 * it. A payload that cannot be read (an encoding nobody knows, ciphertext
 * that does not authenticate under a configured key) must not stall the
 * lifecycle that received it: the signal is put on record as ignored, and
 * the lifecycle goes on.
 */
import { describe, expect, it } from 'vitest';
import { EncryptionCodec, PayloadCodecError } from '../payloads/codec.js';
import { parsePayloadKeys } from '../payloads/keys.js';
import { UnreadableAsValue } from '../payloads/unreadable.js';
import { workflowIdFor } from '../domain/system.js';
import { barrier, lifecycleSuite } from './support/lifecycle-env.js';

const s = lifecycleSuite();
const enc = (v: string) => new TextEncoder().encode(v);

async function signalRaw(
  systemId: string,
  name: string,
  payload: { metadata: Record<string, Uint8Array>; data: Uint8Array },
) {
  const client = s.t.env.client;
  await client.workflowService.signalWorkflowExecution({
    namespace: client.options.namespace,
    workflowExecution: { workflowId: workflowIdFor(systemId) },
    signalName: name,
    input: { payloads: [payload] },
    identity: 'someone with frontend access',
  });
}

describe('unreadable payloads sent straight to Temporal', () => {
  it.each([
    ['an encoding nobody knows', { metadata: { encoding: enc('bogus/x') }, data: enc('{"decision":"approve"}') }],
    [
      'ciphertext that does not authenticate under a configured key',
      {
        metadata: { encoding: enc('binary/encrypted'), 'encryption-key-id': enc('test1') },
        data: new Uint8Array(64).fill(7),
      },
    ],
    ['JSON that is not JSON', { metadata: { encoding: enc('json/plain') }, data: enc('{not json') }],
  ])('%s: recorded as ignored, and the lifecycle goes on', async (_what, payload) => {
    const id = `forged-payload-${Math.random().toString(36).slice(2, 8)}`;
    await s.w.register(id);
    await barrier(s.t, id);
    await signalRaw(id, 'approvalDecision', payload);
    const res = await s.w.assess(id);
    expect(res.statusCode, res.body).toBe(200);
    const events = await barrier(s.t, id);
    expect(events.map((e) => e.type)).toContain('assessment_submitted');
    const ignored = events.filter((e) => e.type === 'decision_ignored');
    expect(ignored).toHaveLength(1);
    // Nothing of it is taken for a decision.
    expect(ignored[0]!.payload).toMatchObject({ decision: null, requestId: null });
  });
});

describe('a payload under a key this deployment lacks', () => {
  it('still fails, so that adding the key lets the task resume (it is a configuration gap, not garbage)', async () => {
    const other = new EncryptionCodec(parsePayloadKeys(`k9:${Buffer.alloc(32, 9).toString('base64')}`));
    const [sealed] = await other.encode([{ metadata: { encoding: enc('json/plain') }, data: enc('{"a":1}') }]);
    const ours = new UnreadableAsValue(
      new EncryptionCodec(parsePayloadKeys(`k1:${Buffer.alloc(32, 1).toString('base64')}`)),
    );
    const err = await ours.decode([sealed!]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadCodecError);
    expect((err as PayloadCodecError).kind).toBe('unknown_key');
    // With the key added, the same bytes read back.
    const both = new UnreadableAsValue(
      new EncryptionCodec(
        parsePayloadKeys(`k1:${Buffer.alloc(32, 1).toString('base64')},k9:${Buffer.alloc(32, 9).toString('base64')}`),
      ),
    );
    const [plain] = await both.decode([sealed!]);
    expect(new TextDecoder().decode(plain!.data)).toBe('{"a":1}');
  });
});
