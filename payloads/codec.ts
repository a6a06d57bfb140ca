import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

// The package is CommonJS: a named import works under vitest but not under tsx (npm start).
const { temporal } = proto;
import type { PayloadKeys } from './keys.js';

/** The metadata Temporal's encryption samples use, so their codec servers and tools recognise these payloads. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A payload this codec cannot turn back into what was encoded; the message says which key and why. */
export class PayloadCodecError extends Error {
  override name = 'PayloadCodecError';
  constructor(
    message: string,
    /** `unknown_key` can be fixed by configuration; `unauthentic` bytes will never decrypt. */
    readonly kind: 'unknown_key' | 'unauthentic' = 'unauthentic',
  ) {
    super(message);
  }
}

/**
 * AES-256-GCM over each whole serialised payload (metadata included, so the
 * encoding of the value is hidden too). The key id is bound into the
 * authentication tag as associated data: relabelling a payload with another
 * key id fails like any other tampering, instead of decrypting under the
 * wrong key into garbage.
 *
 * Decoding passes through every payload that is not `binary/encrypted`:
 * histories recorded before encryption, and whatever another codec wrote, stay
 * readable.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keys: PayloadKeys) {
    if (!keys.keys.has(keys.current))
      throw new Error(`the current payload key “${keys.current}” is not among the keys`);
  }

  get currentKeyId(): string {
    return this.keys.current;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.encodeOne(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.decodeOne(p));
  }

  encodeOne(payload: Payload): Payload {
    const keyId = this.keys.current;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.keys.get(keyId)!, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(encoder.encode(keyId));
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: encoder.encode(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: encoder.encode(keyId),
      },
      data: sealed,
    };
  }

  decodeOne(payload: Payload): Payload {
    const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
    if (!encoding || decoder.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
    const rawId = payload.metadata?.[KEY_ID_METADATA];
    if (!rawId) throw new PayloadCodecError(`an encrypted payload has no ${KEY_ID_METADATA} in its metadata`);
    const keyId = decoder.decode(rawId);
    const key = this.keys.keys.get(keyId);
    if (!key) {
      throw new PayloadCodecError(
        `a payload is encrypted with key id “${keyId.slice(0, 64)}”, which is not among the configured keys ` +
          `(${[...this.keys.keys.keys()].join(', ')}): add that key to PAYLOAD_ENCRYPTION_KEYS, after the current one`,
        'unknown_key',
      );
    }
    const data = payload.data ?? new Uint8Array();
    if (data.length < IV_BYTES + TAG_BYTES) {
      throw new PayloadCodecError(`a payload under key “${keyId}” is too short to be encrypted data`);
    }
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(encoder.encode(keyId));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadCodecError(
        `a payload under key “${keyId}” failed authentication: it was altered, or encrypted with another key of that id`,
      );
    }
    return temporal.api.common.v1.Payload.decode(plain);
  }
}
