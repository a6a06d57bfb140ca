import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { emailSchema } from '../../domain/system.js';
import { storable } from '../../domain/storable.js';
import {
  getApiKey,
  insertApiKey,
  insertLoginLink,
  listApiKeys,
  revokeApiKey,
  spendLoginLink,
  useApiKey,
  type ApiKeyRow,
} from '../../store/access.js';
import { keyPrincipal, principalOf, type AuthContext } from '../auth/plugin.js';
import { looksLikeApiKey, newApiKey, newToken, sha256Hex } from '../auth/keys.js';
import { roleSchema, teamSchema, type Principal } from '../auth/principal.js';
import { sealSession, SESSION_COOKIE } from '../auth/session.js';
import type { ApiContext } from '../context.js';
import { ApiError, apiErrorBodySchema } from '../errors.js';
import { escapeHtml, page } from '../html.js';

const errorBody = apiErrorBodySchema;

export const keyCreateSchema = storable(
  z
    .strictObject({
      name: z.string().trim().min(1).max(100),
      email: emailSchema,
      role: roleSchema,
      team: teamSchema.optional(),
      expiresAt: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }).optional(),
    })
    .superRefine((k, ctx) => {
      if (k.role === 'ai-team' && !k.team)
        ctx.addIssue({ code: 'custom', path: ['team'], message: 'is required for the ai-team role' });
      if (k.role !== 'ai-team' && k.team) {
        ctx.addIssue({
          code: 'custom',
          path: ['team'],
          message: `must be left out: the ${k.role} role is not bound to a team`,
        });
      }
      if (k.expiresAt && Date.parse(k.expiresAt) <= Date.now()) {
        ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'must be in the future' });
      }
    }),
);

/** What lists show of a key: never its hash, never the secret. */
export function keyView(row: ApiKeyRow) {
  return {
    id: row.id,
    prefix: `ail_${row.prefix}`,
    name: row.name,
    email: row.email,
    role: row.role,
    team: row.team,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}
const keyViewSchema = z.object({
  id: z.string(),
  prefix: z.string(),
  name: z.string(),
  email: z.string(),
  role: z.string(),
  team: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
});

/** Creates a key; the only moment its secret exists outside its holder's hands. */
export async function createApiKey(
  ctx: Pick<ApiContext, 'store'>,
  spec: z.output<typeof keyCreateSchema>,
  createdBy: string,
): Promise<{ key: string; row: ApiKeyRow }> {
  const k = newApiKey();
  const row = await insertApiKey(ctx.store.db, {
    id: k.id,
    prefix: k.prefix,
    hash: k.hash,
    name: spec.name,
    email: spec.email,
    role: spec.role,
    team: spec.team ?? null,
    createdBy,
    expiresAt: spec.expiresAt ? new Date(spec.expiresAt) : null,
  });
  return { key: k.key, row };
}

/** A single-use link that signs its holder in as the key (the embedded start-up banner prints one). */
export async function createLoginLink(ctx: Pick<ApiContext, 'store' | 'publicBaseUrl'>, keyId: string, ttlMs: number) {
  const t = newToken();
  await insertLoginLink(ctx.store.db, { hash: t.hash, keyId, expiresAt: new Date(Date.now() + ttlMs) });
  return `${ctx.publicBaseUrl}/login/once/${t.token}`;
}

/** Only same-site paths: `next` must never send a fresh session to another origin. */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])[^\s]*$/.test(next) ? next : '/';
}

/** The page session cookie, the same for every way of signing in (API key, one-time link, OIDC). */
export function setSessionCookie(reply: FastifyReply, auth: AuthContext, principal: Principal): FastifyReply {
  return reply.setCookie(SESSION_COOKIE, sealSession(principal, auth.sessionSecret, auth.sessionTtlMs), {
    path: '/',
    httpOnly: true,
    sameSite: 'strict',
    secure: auth.secureCookies,
    maxAge: Math.floor(auth.sessionTtlMs / 1000),
  });
}

function loginPage(opts: { next: string; error?: string; oidc: boolean }): string {
  const body = `<h1>Sign in</h1>
${opts.error ? `<p class="error" role="alert">${escapeHtml(opts.error)}</p>` : ''}
<form method="post" action="/login">
  <input type="hidden" name="next" value="${escapeHtml(opts.next)}">
  <label for="key">API key</label>
  <input id="key" name="key" type="password" autocomplete="current-password" required placeholder="ail_…">
  <p><button type="submit">Sign in</button></p>
</form>
${opts.oidc ? `<p><a class="button secondary" href="/auth/oidc/start?next=${encodeURIComponent(opts.next)}">Sign in with your organisation</a></p>` : ''}
<p class="muted">Approvers do not need to sign in: the link in the approval e-mail is enough.</p>`;
  return page({ title: 'Sign in', body });
}

export const authRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    const setSession = (reply: FastifyReply, principal: Principal) => setSessionCookie(reply, ctx.auth, principal);

    app.get(
      '/login',
      { schema: { hide: true }, config: { access: { open: 'the sign-in page' } } },
      async (req, reply) => {
        const next = safeNext((req.query as Record<string, unknown>).next);
        return reply
          .type('text/html; charset=utf-8')
          .header('cache-control', 'no-store')
          .send(loginPage({ next, oidc: !!ctx.auth.oidc?.login }));
      },
    );

    app.post(
      '/login',
      { schema: { hide: true }, config: { access: { open: 'the sign-in form' } }, bodyLimit: 8 * 1024 },
      async (req, reply) => {
        const form = (req.body ?? {}) as Record<string, unknown>;
        const next = safeNext(form.next);
        const key = typeof form.key === 'string' ? form.key.trim() : '';
        const row = looksLikeApiKey(key) ? await useApiKey(ctx.store.db, sha256Hex(key)) : undefined;
        if (!row) {
          return reply
            .code(401)
            .type('text/html; charset=utf-8')
            .send(
              loginPage({ next, oidc: !!ctx.auth.oidc?.login, error: 'That API key is unknown, revoked or expired.' }),
            );
        }
        setSession(reply, keyPrincipal(row, 'session'));
        return reply.code(303).header('location', next).send();
      },
    );

    app.get<{ Params: { token: string } }>(
      '/login/once/:token',
      { schema: { hide: true }, config: { access: { open: 'a single-use sign-in link' } } },
      async (req, reply) => {
        const keyId = await spendLoginLink(ctx.store.db, sha256Hex(req.params.token));
        const row = keyId ? await getApiKey(ctx.store.db, keyId) : undefined;
        if (!row || row.revokedAt) {
          return reply
            .code(410)
            .type('text/html; charset=utf-8')
            .send(
              loginPage({
                next: '/',
                oidc: !!ctx.auth.oidc?.login,
                error: 'That sign-in link was used already or has expired. Sign in with the API key instead.',
              }),
            );
        }
        setSession(reply, keyPrincipal(row, 'session'));
        return reply.code(303).header('location', '/').send();
      },
    );

    app.post(
      '/logout',
      { schema: { hide: true }, config: { access: { open: 'signing out needs no valid session' } } },
      async (_req, reply) => {
        reply.clearCookie(SESSION_COOKIE, {
          path: '/',
          httpOnly: true,
          sameSite: 'strict',
          secure: ctx.auth.secureCookies,
        });
        return reply.code(303).header('location', '/login').send();
      },
    );

    app.get(
      '/api/v1/me',
      {
        schema: {
          summary: 'Who the credential belongs to: its principal id, e-mail, role and team',
          tags: ['access'],
          response: {
            200: z.object({
              id: z.string(),
              email: z.string(),
              role: z.string(),
              team: z.string().nullable(),
              via: z.string(),
            }),
            401: errorBody,
          },
        },
        config: { access: { roles: roleSchema.options } },
      },
      async (req) => principalOf(req),
    );

    app.post(
      '/api/v1/keys',
      {
        schema: {
          summary: 'Create an API key; the answer holds the key, shown this once and stored only as a hash',
          tags: ['access'],
          body: keyCreateSchema,
          response: { 201: keyViewSchema.extend({ key: z.string() }), 401: errorBody, 403: errorBody, 422: errorBody },
        },
        config: { access: { roles: ['admin'] } },
      },
      async (req, reply) => {
        const { key, row } = await createApiKey(ctx, req.body, principalOf(req).id);
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .send({ ...keyView(row), key });
      },
    );

    app.get(
      '/api/v1/keys',
      {
        schema: {
          summary: 'Every API key: prefix, holder, role, team, expiry, revocation and last use (never the secret)',
          tags: ['access'],
          response: { 200: z.object({ keys: z.array(keyViewSchema) }), 401: errorBody, 403: errorBody },
        },
        config: { access: { roles: ['admin'] } },
      },
      async () => ({ keys: (await listApiKeys(ctx.store.db)).map(keyView) }),
    );

    app.delete(
      '/api/v1/keys/:keyId',
      {
        schema: {
          summary: 'Revoke an API key for good; its sessions end with it',
          tags: ['access'],
          params: z.object({ keyId: z.string().regex(/^ak_[a-z0-9]+$/, 'must be a key id like ak_…') }),
          response: { 200: keyViewSchema, 401: errorBody, 403: errorBody, 404: errorBody, 422: errorBody },
        },
        config: { access: { roles: ['admin'] } },
      },
      async (req) => {
        const row = await revokeApiKey(ctx.store.db, req.params.keyId);
        if (!row) throw new ApiError(404, { error: 'not_found', message: `no API key with id ${req.params.keyId}` });
        return keyView(row);
      },
    );
  };
