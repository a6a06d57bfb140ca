import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { PayloadCodecError } from './codec.js';

/** The encodings this product's payload converter writes and reads (Temporal's default converter). */
const KNOWN_ENCODINGS = new Set(['binary/null', 'binary/plain', 'json/plain', 'json/protobuf', 'binary/protobuf']);

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** What a workflow receives instead of a payload nobody can read: an object its validators refuse or record. */
export function unreadablePayload(reason: string): Payload {
  return {
    metadata: { [METADATA_ENCODING_KEY]: encoder.encode('json/plain') },
    data: encoder.encode(JSON.stringify({ unreadablePayload: reason })),
  };
}

function unreadableWhy(p: Payload): string | undefined {
  const raw = p.metadata?.[METADATA_ENCODING_KEY];
  const encoding = raw ? new TextDecoder().decode(raw) : '';
  if (!KNOWN_ENCODINGS.has(encoding))
    return `the encoding ${JSON.stringify(encoding.slice(0, 40))} is not one this product writes`;
  if (encoding === 'json/plain') {
    try {
      JSON.parse(decoder.decode(p.data ?? new Uint8Array()));
    } catch {
      return 'the payload is not JSON';
    }
  }
  return undefined;
}

/**
 * Whoever reaches Temporal's frontend can signal a lifecycle with any bytes.
 * A payload that can never be read (ciphertext that does not authenticate,
 * an encoding nobody writes, JSON that does not parse) would fail every
 * workflow task that replays it, and stall the lifecycle for good. The
 * worker reads such a payload as `{ unreadablePayload: <why> }` instead, the
 * same on every replay: the handlers' validation refuses or records it, and
 * the lifecycle goes on. A payload under a key id this deployment lacks
 * still fails: adding the key fixes that one, and the task resumes.
 */
export class UnreadableAsValue implements PayloadCodec {
  constructor(private readonly inner: PayloadCodec & { decodeOne?: (p: Payload) => Payload }) {}

  encode(payloads: Payload[]): Promise<Payload[]> {
    return this.inner.encode(payloads);
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    const out: Payload[] = [];
    for (const p of payloads) {
      let decoded: Payload;
      try {
        [decoded] = (await this.inner.decode([p])) as [Payload];
      } catch (err) {
        if (err instanceof PayloadCodecError && err.kind === 'unauthentic') {
          out.push(unreadablePayload('the payload does not decrypt under the configured key'));
          continue;
        }
        throw err;
      }
      const why = unreadableWhy(decoded);
      out.push(why ? unreadablePayload(why) : decoded);
    }
    return out;
  }
}
