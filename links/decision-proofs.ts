import { createHmac, timingSafeEqual } from 'node:crypto';
import { proofMaterial, type DecisionProof, type ProofSubject, type ProofVerdict } from '../domain/decision-proof.js';

/**
 * Signs and checks decision proofs (domain/decision-proof.ts). The API signs
 * right before it sends the update; the worker checks on arrival. The window
 * is security tolerance, not governance policy: long enough for an update to
 * wait out a worker restart, short enough that a proof read from history
 * (where every update's arguments are) is useless soon after.
 */
export const PROOF_MAX_AGE_MS = 15 * 60_000;
/** Clock skew between the API's and the worker's hosts that still counts as "now". */
export const PROOF_MAX_SKEW_MS = 60_000;

const macOf = (key: string, material: string) => createHmac('sha256', key).update(material).digest('hex');

export function signDecisionProof(
  key: string,
  subject: ProofSubject,
  opts: { via: DecisionProof['via']; credential: string; signedAt?: Date },
): DecisionProof {
  const unsigned = {
    v: 1 as const,
    via: opts.via,
    credential: opts.credential,
    signedAt: (opts.signedAt ?? new Date()).toISOString(),
  };
  return { ...unsigned, mac: macOf(key, proofMaterial(subject, unsigned)) };
}

export function verifyDecisionProof(
  key: string,
  subject: ProofSubject,
  proof: DecisionProof,
  now = new Date(),
): ProofVerdict {
  const { mac, ...unsigned } = proof;
  const expected = Buffer.from(macOf(key, proofMaterial(subject, unsigned)), 'hex');
  const given = Buffer.from(mac, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: 'bad_signature' };
  const age = now.getTime() - Date.parse(proof.signedAt);
  if (age > PROOF_MAX_AGE_MS) return { ok: false, reason: 'stale' };
  if (age < -PROOF_MAX_SKEW_MS) return { ok: false, reason: 'from_the_future' };
  return { ok: true };
}
