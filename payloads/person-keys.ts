import { createHmac } from 'node:crypto';
import { personKey as legacyPersonKey } from '../domain/system.js';

/**
 * Pseudonyms for people where Temporal stores values in clear (search
 * attributes): an HMAC under PERSON_KEY_SECRET, so that nobody without the
 * secret can reverse a key with a dictionary of addresses, as anyone could
 * with the unsalted hash used before (`p-…`, domain/system.ts). Keys made
 * before the secret stay on old runs; `candidates` gives both, so filters
 * and lookups still find those.
 */
export interface PersonKeys {
  key(email: string): string;
  /** Every key the address may be published under: today's HMAC, then the legacy hash. */
  candidates(email: string): string[];
}

const normalise = (email: string) => email.trim().toLowerCase();

export function personKeys(secret: string): PersonKeys {
  if (secret.length < 32) throw new Error('PERSON_KEY_SECRET must be at least 32 characters');
  const key = (email: string) =>
    `k-${createHmac('sha256', secret).update('ai-lifecycle person key\n').update(normalise(email)).digest('hex').slice(0, 32)}`;
  return {
    key,
    candidates: (email) => [key(email), legacyPersonKey(email)],
  };
}
