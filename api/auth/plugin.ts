import '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { getApiKey, getSystemAccess, putSystemAccess, useApiKey, type ApiKeyRow } from '../../store/access.js';
import type { Store } from '../../store/index.js';
import { escapeHtml, page } from '../html.js';
import { systemNotFoundPage } from '../pages/system.js';
import { constantTimeEqual, looksLikeApiKey, sha256Hex } from './keys.js';
import { TokenRefused, type OidcConfig, type OidcVerifier } from './oidc.js';
import { maySee, roleSchema, type Access, type Principal } from './principal.js';
import { openSession, SESSION_COOKIE } from './session.js';

export interface AuthContext {
  sessionSecret: string;
  /** Session cookies get `Secure` when the product is served over HTTPS. */
  secureCookies: boolean;
  sessionTtlMs: number;
  oidc?: OidcConfig;
  verifyOidc?: OidcVerifier;
  metricsToken?: string;
}

export function keyPrincipal(row: ApiKeyRow, via: Principal['via'] = 'api_key'): Principal {
  return { id: `key:${row.id}`, email: row.email, role: roleSchema.parse(row.role), team: row.team, via };
}

class Unauthenticated extends Error {}

/** The shape of a system id (domain/system.ts); anything else cannot name a system. */
const SYSTEM_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** A page (HTML) route rather than the JSON API: refusals answer a page, or the login redirect. */
function isPage(req: FastifyRequest): boolean {
  const url = req.routeOptions.url ?? req.url;
  return !url.startsWith('/api/') && url !== '/metrics' && !url.startsWith('/codec/');
}

function refuse(req: FastifyRequest, reply: FastifyReply, status: number, error: string, message: string) {
  const id = (req.params as { id?: unknown } | undefined)?.id;
  if (isPage(req) && status === 404 && typeof id === 'string') {
    // The very page an unknown id gets, so a hidden system cannot be told from a missing one.
    return reply.code(404).type('text/html; charset=utf-8').send(systemNotFoundPage(id));
  }
  if (isPage(req)) {
    const body = `<h1>${status === 404 ? 'Not found' : status === 401 ? 'Sign in needed' : 'Not allowed'}</h1>
<p>${escapeHtml(message)}</p><p><a href="/login">Sign in</a> · <a href="/">Dashboard</a></p>`;
    return reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(page({ title: error, body }));
  }
  if (status === 401) void reply.header('www-authenticate', 'Bearer');
  return reply.code(status).send({ error, message });
}

/**
 * Authentication and access for every route, from the route's own
 * `config.access`: a route that declares none stops the server at start-up,
 * so no route is ever open by accident.
 */
export function installAuth(app: FastifyInstance, deps: { store: Store; auth: AuthContext }): void {
  const { store, auth } = deps;

  app.addHook('onRoute', (route) => {
    const access = (route.config as { access?: Access } | undefined)?.access;
    if (!access) throw new Error(`route ${String(route.method)} ${route.url} declares no access rule (config.access)`);
  });

  async function principalFromBearer(token: string): Promise<Principal> {
    if (looksLikeApiKey(token)) {
      const row = await useApiKey(store.db, sha256Hex(token));
      if (!row) throw new Unauthenticated('the API key is unknown, revoked or expired');
      return keyPrincipal(row);
    }
    if (!auth.verifyOidc)
      throw new Unauthenticated('the bearer token is not an API key, and no OIDC provider is configured');
    try {
      return await auth.verifyOidc(token);
    } catch (err) {
      if (err instanceof TokenRefused) throw new Unauthenticated(err.message);
      throw err;
    }
  }

  /** A session for a key holds only until the key is revoked or expires. */
  async function principalFromSession(cookie: string): Promise<Principal | undefined> {
    const p = openSession(cookie, auth.sessionSecret);
    if (!p) return undefined;
    if (p.id.startsWith('key:')) {
      const row = await getApiKey(store.db, p.id.slice(4));
      if (!row || row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= Date.now())) return undefined;
      return keyPrincipal(row, 'session');
    }
    return { ...p, via: 'session' };
  }

  async function authenticate(req: FastifyRequest): Promise<Principal | undefined> {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(header);
      if (!m) throw new Unauthenticated('the Authorization header must be "Bearer <API key or token>"');
      return principalFromBearer(m[1]!);
    }
    const cookie = req.cookies?.[SESSION_COOKIE];
    return cookie ? principalFromSession(cookie) : undefined;
  }

  /**
   * Who a system belongs to. A system registered before teams existed, and
   * not yet in the access table, is adopted from the projection into the
   * `default` team the first time it is asked for.
   */
  async function accessRow(id: string) {
    const row = await getSystemAccess(store.db, id);
    if (row) return row;
    const projected = await store.getSystem(id);
    if (!projected) return undefined;
    return putSystemAccess(store.db, {
      systemId: id,
      team: 'default',
      owner: projected.owner,
      riskOwner: projected.riskOwner,
      registeredBy: 'unknown (registered before access control)',
    });
  }

  app.addHook('onRequest', async (req, reply) => {
    const access = req.routeOptions.config?.access;
    if (!access) return; // no route matched: the not-found handler answers
    if ('metrics' in access && auth.metricsToken) {
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      if (m && constantTimeEqual(m[1]!, auth.metricsToken)) return;
    }
    let principal: Principal | undefined;
    try {
      principal = await authenticate(req);
    } catch (err) {
      if (!(err instanceof Unauthenticated)) throw err;
      if ('open' in access) return; // a stale credential does not lock anyone out of the login page
      return refuse(req, reply, 401, 'unauthenticated', err.message);
    }
    if (principal) req.principal = principal;
    if ('open' in access) return;
    if (!principal) {
      if (isPage(req) && req.method === 'GET') {
        return reply
          .code(303)
          .header('location', `/login?next=${encodeURIComponent(req.url)}`)
          .send();
      }
      return refuse(
        req,
        reply,
        401,
        'unauthenticated',
        'sign in: send "Authorization: Bearer <API key>" (or an OIDC token)',
      );
    }
    const allowed = 'roles' in access ? access.roles : access.metrics;
    if ('roles' in access && access.system) {
      const id = (req.params as { id?: string }).id ?? '';
      // Another team's system answers exactly like a missing one, before any other check, so ids don't leak;
      // a malformed id names no system at all and gets its 422 from validation.
      if (SYSTEM_ID.test(id)) {
        const row = await accessRow(id);
        if (!row || !maySee(principal, row)) return refuse(req, reply, 404, 'not_found', `no AI system with id ${id}`);
      }
    }
    if (!allowed.includes(principal.role)) {
      return refuse(
        req,
        reply,
        403,
        'forbidden',
        `${req.method} ${req.routeOptions.url} needs the role ${allowed.join(' or ')}; this credential has the role ${principal.role}`,
      );
    }
  });
}

/** The principal of an authenticated route; the hook above guarantees it. */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new Error(`no principal on ${req.method} ${req.url}: its access rule must not be open`);
  return req.principal;
}
