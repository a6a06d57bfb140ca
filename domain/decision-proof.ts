import { z } from 'zod';
import { canonicalJson } from './digest.js';

/**
 * Proof that a decision or delegation came through the API: a claimed
 * approval link or an authenticated approver. The API signs it with
 * DECISION_SIGNING_KEY (HMAC-SHA256, links/decision-proofs.ts); the worker
 * holds the same key and the workflow asks a local activity to check it, so
 * the key never enters history, and anyone who can reach Temporal's
 * frontend but not the key cannot decide.
 *
 * The proof travels as the update's second argument, beside the message it
 * covers, so the message's own schema (and every history recorded with it)
 * stays as it was.
 */
export const decisionProofSchema = z.strictObject({
  v: z.literal(1),
  via: z.enum(['link', 'api']),
  /** The approval link's jti, or the authenticated principal's id (`key:…`, `oidc:…`). */
  credential: z.string().min(1).max(300),
  /** When the API signed it: a proof is good for minutes, so one read from history cannot be replayed later. */
  signedAt: z.iso.datetime(),
  mac: z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex HMAC-SHA256'),
});
export type DecisionProof = z.output<typeof decisionProofSchema>;

/** The messages that change who decides, or decide. */
export type ProvenMessage = 'decideApproval' | 'delegateApproval';

export interface ProofSubject {
  message: ProvenMessage;
  systemId: string;
  /** The message's payload as the workflow accepted it (decision: requestId, decision, decidedBy, via, comment…). */
  payload: unknown;
}

/**
 * Exactly what the MAC covers, as canonical JSON: which message, for which
 * system, the whole payload (request, decision, who, how, comment), the
 * credential and the signing time. Changing any of it breaks the proof.
 */
export function proofMaterial(subject: ProofSubject, proof: Omit<DecisionProof, 'mac'>): string {
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
