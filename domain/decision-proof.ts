import { ed25519 } from '@noble/curves/ed25519.js';
import { z } from 'zod';
import { canonicalJson } from './digest.js';

/**
 * Proof that a decision or delegation came through the API: a claimed
 * approval link or an authenticated approver, signed with a key derived from
 * DECISION_SIGNING_KEY (links/decision-proofs.ts), so anyone who can reach
 * Temporal's frontend but not the key cannot decide.
 * - v1: HMAC-SHA256. Only the key's holder can check it: the workflow asks a
 *   local activity, so the key never enters history.
 * - v2: Ed25519. The workflow checks the signature itself against the public
 *   key its records activity reported (no local activity, which Temporal
 *   bills); any doubt (an unknown key, the age by the workflow's clock) goes
 *   to the local activity, which alone refuses.
 *
 * The proof travels as the update's second argument, beside the message it
 * covers, so the message's own schema (and every history recorded with it)
 * stays as it was.
 */
const proofFields = {
  via: z.enum(['link', 'api']),
  /** The approval link's jti, or the authenticated principal's id (`key:…`, `oidc:…`). */
  credential: z.string().min(1).max(300),
  /** When the API signed it: a proof is good for minutes, so one read from history cannot be replayed later. */
  signedAt: z.iso.datetime(),
};
export const decisionProofSchema = z.discriminatedUnion('v', [
  z.strictObject({
    v: z.literal(1),
    ...proofFields,
    mac: z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex HMAC-SHA256'),
  }),
  z.strictObject({
    v: z.literal(2),
    ...proofFields,
    sig: z.string().regex(/^[0-9a-f]{128}$/, 'must be a hex Ed25519 signature'),
  }),
]);
export type DecisionProof = z.output<typeof decisionProofSchema>;
export type UnsignedProof = Pick<DecisionProof, 'v' | 'via' | 'credential' | 'signedAt'>;

/** The messages that change who decides, or decide. */
export type ProvenMessage = 'decideApproval' | 'delegateApproval';

export interface ProofSubject {
  message: ProvenMessage;
  systemId: string;
  /** The message's payload as the workflow accepted it (decision: requestId, decision, decidedBy, via, comment…). */
  payload: unknown;
}

/**
 * Exactly what the MAC or signature covers, as canonical JSON: which message, for which
 * system, the whole payload (request, decision, who, how, comment), the
 * credential and the signing time. Changing any of it breaks the proof.
 */
export function proofMaterial(subject: ProofSubject, proof: UnsignedProof): string {
  return canonicalJson({
    message: subject.message,
    systemId: subject.systemId,
    payload: subject.payload,
    v: proof.v,
    via: proof.via,
    credential: proof.credential,
    signedAt: proof.signedAt,
  });
}

export type ProofVerdict = { ok: true } | { ok: false; reason: 'bad_signature' | 'stale' | 'from_the_future' };

export const proofRefusalText: Record<Exclude<ProofVerdict, { ok: true }>['reason'] | 'missing' | 'malformed', string> =
  {
    missing: 'it carries no proof that it came through the API (a claimed approval link or an authenticated approver)',
    malformed: 'its proof is malformed',
    bad_signature: 'its proof does not verify: it was not signed by the API for this message',
    stale: 'its proof is too old (signed long before it arrived): it is not a decision taken now',
    from_the_future: 'its proof is dated in the future',
  };

/**
 * A proof's age by `now`, the same rule wherever it is checked: good for
 * PROOF_MAX_AGE_MS, and no further ahead of `now` than PROOF_MAX_SKEW_MS.
 * The window is security tolerance, not governance policy: long enough for
 * an update to wait out a worker restart, short enough that a proof read
 * from history (where every update's arguments are) is useless soon after.
 */
export const PROOF_MAX_AGE_MS = 15 * 60_000;
export const PROOF_MAX_SKEW_MS = 60_000;
export function proofAge(proof: Pick<DecisionProof, 'signedAt'>, now: Date): ProofVerdict {
  const age = now.getTime() - Date.parse(proof.signedAt);
  if (age > PROOF_MAX_AGE_MS) return { ok: false, reason: 'stale' };
  if (age < -PROOF_MAX_SKEW_MS) return { ok: false, reason: 'from_the_future' };
  return { ok: true };
}

const hexBytes = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));

/** Whether a v2 proof's signature holds under one of `publicKeys` (hex); pure, so workflow code may call it. */
export function signatureHolds(publicKeys: readonly string[], subject: ProofSubject, proof: DecisionProof): boolean {
  if (proof.v !== 2) return false;
  const { sig, ...unsigned } = proof;
  const message = new TextEncoder().encode(proofMaterial(subject, unsigned));
  return publicKeys.some((key) => {
    try {
      return ed25519.verify(hexBytes(sig), message, hexBytes(key));
    } catch {
      return false;
    }
  });
}
