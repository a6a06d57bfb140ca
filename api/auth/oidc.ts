import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import { ConfigError, type Env } from '../../config/env.js';
import { roleSchema, teamSchema, type Principal, type Role } from './principal.js';

/**
 * OIDC bearer tokens: JWTs from the organisation's identity provider,
 * verified against its JWKS (fetched and cached by jose, refreshed when an
 * unknown key id appears), its issuer and our audience. Claims map to a
 * principal by configuration, because every provider names roles and teams
 * its own way.
 */
export interface OidcConfig {
  issuer: string;
  audience: string;
  jwksUrl: string;
  roleClaim: string;
  teamClaim: string;
  emailClaim: string;
  roleMap: Record<string, Role>;
  /** Set when the login page may send people to the provider (authorization code with PKCE). */
  login?: { authorizationUrl: string; tokenUrl: string; clientId: string; clientSecret?: string };
}

const roleMapSchema = z.record(z.string().min(1), roleSchema);

export function oidcConfig(env: Env): OidcConfig | undefined {
  const set = [env.OIDC_ISSUER, env.OIDC_AUDIENCE, env.OIDC_JWKS_URL].filter((v) => v !== undefined).length;
  if (set === 0) return undefined;
  if (set < 3) {
    throw new ConfigError([
      'OIDC_ISSUER, OIDC_AUDIENCE, OIDC_JWKS_URL: set all three to accept OIDC bearer tokens, or none of them',
    ]);
  }
  let roleMap: Record<string, Role> = {};
  if (env.OIDC_ROLE_MAP) {
    let raw: unknown;
    try {
      raw = JSON.parse(env.OIDC_ROLE_MAP);
    } catch (err) {
      throw new ConfigError([`OIDC_ROLE_MAP: is not JSON (${(err as Error).message})`]);
    }
    const parsed = roleMapSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ConfigError(
        parsed.error.issues.map((i) => `OIDC_ROLE_MAP${i.path.length ? `.${i.path.join('.')}` : ''}: ${i.message}`),
      );
    }
    roleMap = parsed.data;
  }
  const loginSet = [env.OIDC_AUTHORIZATION_URL, env.OIDC_TOKEN_URL, env.OIDC_CLIENT_ID];
  if (loginSet.some((v) => v !== undefined) && loginSet.some((v) => v === undefined)) {
    throw new ConfigError([
      'OIDC_AUTHORIZATION_URL, OIDC_TOKEN_URL, OIDC_CLIENT_ID: set all three for the login redirect, or none of them',
    ]);
  }
  return {
    issuer: env.OIDC_ISSUER!,
    audience: env.OIDC_AUDIENCE!,
    jwksUrl: env.OIDC_JWKS_URL!,
    roleClaim: env.OIDC_ROLE_CLAIM,
    teamClaim: env.OIDC_TEAM_CLAIM,
    emailClaim: env.OIDC_EMAIL_CLAIM,
    roleMap,
    login: env.OIDC_AUTHORIZATION_URL
      ? {
          authorizationUrl: env.OIDC_AUTHORIZATION_URL,
          tokenUrl: env.OIDC_TOKEN_URL!,
          clientId: env.OIDC_CLIENT_ID!,
          clientSecret: env.OIDC_CLIENT_SECRET,
        }
      : undefined,
  };
}

/** Why a token was refused, in words a caller can act on; never the token itself. */
export class TokenRefused extends Error {}

export type OidcVerifier = (token: string, audience?: string) => Promise<Principal>;

export function oidcVerifier(config: OidcConfig): OidcVerifier {
  const jwks = createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000, timeoutDuration: 5_000 });
  return async (token, audience = config.audience) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, { issuer: config.issuer, audience, clockTolerance: 5 }));
    } catch (err) {
      throw new TokenRefused(describe(err));
    }
    return principalFrom(payload, config);
  };
}

function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired';
  if (err instanceof errors.JWTClaimValidationFailed)
    return `the token's ${err.claim} claim is not accepted (${err.reason})`;
  if (err instanceof errors.JWKSNoMatchingKey) return "the token's key id is not in the identity provider's key set";
  if (err instanceof errors.JWSSignatureVerificationFailed) return "the token's signature does not verify";
  if (err instanceof errors.JOSEError) return `the token is not valid (${err.code})`;
  return 'the token could not be verified';
}

function principalFrom(payload: JWTPayload, config: OidcConfig): Principal {
  if (!payload.sub) throw new TokenRefused('the token has no sub claim');
  const email = payload[config.emailClaim];
  if (typeof email !== 'string' || !z.email().safeParse(email).success) {
    throw new TokenRefused(`the token's ${config.emailClaim} claim is not an e-mail address`);
  }
  const raw = payload[config.roleClaim];
  const values = Array.isArray(raw)
    ? raw.filter((v): v is string => typeof v === 'string')
    : typeof raw === 'string'
      ? [raw]
      : [];
  const mapped = [
    ...new Set(values.map((v) => config.roleMap[v] ?? (roleSchema.safeParse(v).success ? (v as Role) : undefined))),
  ].filter((r): r is Role => r !== undefined);
  if (mapped.length === 0)
    throw new TokenRefused(`the token's ${config.roleClaim} claim maps to no role of this product`);
  if (mapped.length > 1) {
    throw new TokenRefused(
      `the token's ${config.roleClaim} claim maps to several roles (${mapped.join(', ')}); map it to one`,
    );
  }
  const role = mapped[0]!;
  let team: string | null = null;
  if (role === 'ai-team') {
    const parsed = teamSchema.safeParse(payload[config.teamClaim]);
    if (!parsed.success)
      throw new TokenRefused(`an ai-team token needs a ${config.teamClaim} claim that is a team slug`);
    team = parsed.data;
  }
  return { id: `oidc:${payload.sub}`, email: email.toLowerCase(), role, team, via: 'oidc' };
}
