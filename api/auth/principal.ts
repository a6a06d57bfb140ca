import { z } from 'zod';
import { emailSchema } from '../../domain/system.js';

/**
 * Who is calling. Every recorded actor comes from here, never from a request
 * body: the id names the credential (an API key's id, or the OIDC issuer's
 * subject), the e-mail the person or service behind it.
 */
export const roles = ['ai-team', 'risk-owner', 'governance-lead', 'auditor', 'admin'] as const;
export const roleSchema = z.enum(roles);
export type Role = z.infer<typeof roleSchema>;

export const teamSchema = z
  .string()
  .min(2)
  .max(63)
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'must be a lowercase slug: letters, digits and single hyphens');

export const principalSchema = z.object({
  /** `key:<key id>` or `oidc:<subject>`: what the audit trail names beside the e-mail. */
  id: z.string().min(1),
  email: emailSchema,
  role: roleSchema,
  /** The team an ai-team principal works for; null for the cross-team roles. */
  team: teamSchema.nullable(),
  via: z.enum(['api_key', 'oidc', 'session']),
});
export type Principal = z.infer<typeof principalSchema>;

/**
 * Every route declares who may call it, in `config.access`; a route without
 * one makes the server refuse to start (api/auth/plugin.ts), and the
 * route-by-role test enumerates these.
 *
 * - `open`: no credential; the reason is documentation (health, approval
 *   links, login).
 * - `roles`: an authenticated principal holding one of the roles. With
 *   `system`, the route's `:id` names a system that the principal must be
 *   able to see; one it may not see answers 404, never 403, so ids don't leak.
 * - `metrics`: the Prometheus scrape token, or one of the roles.
 */
export type Access = { open: string } | { roles: readonly Role[]; system?: boolean } | { metrics: readonly Role[] };

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    /** Set by the auth plugin for every route that is not open (and for open ones when a credential came). */
    principal?: Principal;
  }
}

/** Roles that read every system; the others see only their team's (ai-team) or their own (risk-owner). */
export const crossTeamRoles: readonly Role[] = ['governance-lead', 'auditor', 'admin'];

/** Who may see a system: the rule every route, list, page and gauge applies. */
export function maySee(p: Principal, system: { team: string; riskOwner: string; owner: string }): boolean {
  if (crossTeamRoles.includes(p.role)) return true;
  if (p.role === 'ai-team') return p.team === system.team;
  return p.email === system.riskOwner;
}
