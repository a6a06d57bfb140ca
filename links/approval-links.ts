import { errors, jwtVerify, SignJWT, decodeJwt } from 'jose';
import { z } from 'zod';

/**
 * Approval links carry a signed, expiring token bound to one approver and one
 * approval request. The token only proves who may decide what; the decision
 * itself is taken by a POST and made single-use in the record store.
 */
const ISSUER = 'ai-impact-workflows';
const AUDIENCE = 'approval';

export const approvalClaimsSchema = z.object({
  sys: z.string().min(1),
  req: z.string().min(1),
  sub: z.email(),
  step: z.number().int().min(1),
});
export type ApprovalClaims = z.infer<typeof approvalClaimsSchema>;

export type LinkRefusal = 'malformed' | 'bad_signature' | 'expired' | 'invalid_claims';
export type VerifiedLink =
  | { ok: true; claims: ApprovalClaims; jti: string; expiresAt: Date }
  | { ok: false; reason: LinkRefusal; claims: ApprovalClaims | null; jti?: string };

const key = (secret: string) => new TextEncoder().encode(secret);

export async function signApprovalLink(
  secret: string,
  claims: ApprovalClaims,
  opts: { jti: string; expiresAt: Date; issuedAt: Date },
): Promise<string> {
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setJti(opts.jti)
    .setIssuedAt(Math.floor(opts.issuedAt.getTime() / 1000))
    .setExpirationTime(Math.floor(opts.expiresAt.getTime() / 1000))
    .sign(key(secret));
}

export async function verifyApprovalLink(secret: string, token: string, now = new Date()): Promise<VerifiedLink> {
  try {
    const { payload } = await jwtVerify(token, key(secret), {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['HS256'],
      currentDate: now,
    });
    const claims = approvalClaimsSchema.safeParse(payload);
    if (!claims.success || typeof payload.jti !== 'string' || typeof payload.exp !== 'number') {
      return { ok: false, reason: 'invalid_claims', claims: null };
    }
    return { ok: true, claims: claims.data, jti: payload.jti, expiresAt: new Date(payload.exp * 1000) };
  } catch (err) {
    if (err instanceof errors.JWTExpired) {
      // The signature was good; the claims let us offer the same approver a fresh link.
      const claims = approvalClaimsSchema.safeParse(err.payload);
      const jti = typeof err.payload.jti === 'string' ? err.payload.jti : undefined;
      return { ok: false, reason: 'expired', claims: claims.success ? claims.data : null, jti };
    }
    if (err instanceof errors.JWSSignatureVerificationFailed)
      return { ok: false, reason: 'bad_signature', claims: safeClaims(token) };
    if (err instanceof errors.JWTClaimValidationFailed) return { ok: false, reason: 'invalid_claims', claims: null };
    return { ok: false, reason: 'malformed', claims: null };
  }
}

/** Unverified claims, only to attribute a refused attempt to a system in the audit record. */
function safeClaims(token: string): ApprovalClaims | null {
  try {
    const parsed = approvalClaimsSchema.safeParse(decodeJwt(token));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
