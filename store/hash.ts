import { createHash } from 'node:crypto';
import { canonicalJson } from '../domain/digest.js';

/** prev_hash of the first event in every chain. */
export const GENESIS_HASH = '0'.repeat(64);

export { canonicalJson, normalizeJson } from '../domain/digest.js';

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
