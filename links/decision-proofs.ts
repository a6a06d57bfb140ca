import { createHmac, timingSafeEqual } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  proofAge,
  proofMaterial,
  signatureHolds,
  type DecisionProof,
  type ProofSubject,
  type ProofVerdict,
} from '../domain/decision-proof.js';

/**
 * Signs and checks decision proofs (domain/decision-proof.ts). The API signs
 * right before it sends the update; the workflow checks the signature on
 * arrival, the worker's local activity whatever the workflow cannot vouch for.
 */

const macOf = (key: string, material: string) => createHmac('sha256', key).update(material).digest('hex');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * The Ed25519 key pair of a DECISION_SIGNING_KEY: derived (HKDF-SHA256), so
 * the API and the worker share one secret as before, and the public half may
 * go into workflow history.
 */
const pairs = new Map<string, { seed: Uint8Array; publicKey: string }>();
function keyPairOf(secret: string) {
  let pair = pairs.get(secret);
  if (!pair) {
    const seed = hkdf(
      sha256,
      new TextEncoder().encode(secret),
      undefined,
      new TextEncoder().encode('decision-proof ed25519 v2'),
      32,
    );
    pair = { seed, publicKey: hex(ed25519.getPublicKey(seed)) };
    pairs.set(secret, pair);
  }
  return pair;
}

/** What the worker tells workflows to check v2 proofs against. */
export const proofPublicKey = (secret: string): string => keyPairOf(secret).publicKey;

export function signDecisionProof(
  key: string,
  subject: ProofSubject,
  opts: { via: DecisionProof['via']; credential: string; signedAt?: Date; v?: 1 | 2 },
): DecisionProof {
  const common = { via: opts.via, credential: opts.credential, signedAt: (opts.signedAt ?? new Date()).toISOString() };
  if (opts.v === 1) return { v: 1, ...common, mac: macOf(key, proofMaterial(subject, { v: 1, ...common })) };
  const material = new TextEncoder().encode(proofMaterial(subject, { v: 2, ...common }));
  return { v: 2, ...common, sig: hex(ed25519.sign(material, keyPairOf(key).seed)) };
}

export function verifyDecisionProof(
  key: string,
  subject: ProofSubject,
  proof: DecisionProof,
  now = new Date(),
): ProofVerdict {
  if (proof.v === 1) {
    const { mac, ...unsigned } = proof;
    const expected = Buffer.from(macOf(key, proofMaterial(subject, unsigned)), 'hex');
    const given = Buffer.from(mac, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { ok: false, reason: 'bad_signature' };
  } else if (!signatureHolds([proofPublicKey(key)], subject, proof)) {
    return { ok: false, reason: 'bad_signature' };
  }
  return proofAge(proof, now);
}
