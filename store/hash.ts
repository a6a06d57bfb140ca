import { createHash } from 'node:crypto';

/** prev_hash of the first event in every chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The value as it will look after a round trip through JSON / jsonb:
 * Dates and other `toJSON` values become their JSON form, `undefined`
 * object members disappear, a top-level `undefined` becomes `null`.
 * Store and hash this, so what is hashed is exactly what is kept.
 */
export function normalizeJson(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? null : (JSON.parse(text) as unknown);
}

/**
 * Canonical JSON: object keys sorted by UTF-16 code unit, no whitespace,
 * numbers and strings as `JSON.stringify` writes them. Stable across a jsonb
 * round trip (jsonb reorders keys; numbers parse back to the same double).
 */
export function canonicalJson(value: unknown): string {
  return write(normalizeJson(value));
}

function write(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map(write).join(',')}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${write(record[k])}`).join(',')}}`;
}

/** What an event's hash covers besides the previous hash. */
export interface EventContent {
  systemId: string;
  seq: number;
  idempotencyKey: string;
  type: string;
  actor: string | null;
  at: Date;
  payload: unknown;
}

/** hash = sha256(prevHash + canonical JSON of the event's content), hex. */
export function computeEventHash(prevHash: string, e: EventContent): string {
  const content = {
    systemId: e.systemId,
    seq: e.seq,
    idempotencyKey: e.idempotencyKey,
    type: e.type,
    actor: e.actor,
    at: e.at.toISOString(),
    payload: e.payload,
  };
  return createHash('sha256')
    .update(prevHash + canonicalJson(content), 'utf8')
    .digest('hex');
}
