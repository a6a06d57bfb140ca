import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { constantTimeEqual } from './keys.js';
import { principalSchema, type Principal } from './principal.js';

/**
 * The page session: the principal and an expiry, signed with HMAC-SHA256
 * under SESSION_SECRET, in an HttpOnly, SameSite=Strict cookie. An API-key
 * session is checked against the key on every request (api/auth/plugin.ts),
 * so revoking the key ends its sessions too.
 */
export const SESSION_COOKIE = 'ail_session';

const sessionSchema = z.object({ p: principalSchema, exp: z.number().int() });

function sign(body: string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('base64url');
}

export function sealSession(principal: Principal, secret: string, ttlMs: number, now = Date.now()): string {
  const body = Buffer.from(JSON.stringify({ p: principal, exp: now + ttlMs })).toString('base64url');
  return `${body}.${sign(body, secret)}`;
}

export function openSession(cookie: string | undefined, secret: string, now = Date.now()): Principal | undefined {
  if (!cookie) return undefined;
  const [body, mac, extra] = cookie.split('.');
  if (!body || !mac || extra !== undefined || !constantTimeEqual(mac, sign(body, secret))) return undefined;
  try {
    const parsed = sessionSchema.safeParse(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')));
    if (!parsed.success || parsed.data.exp <= now) return undefined;
    return parsed.data.p;
  } catch {
    return undefined;
  }
}
