import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import { constantTimeEqual } from '../auth/keys.js';
import { TokenRefused, type OidcConfig } from '../auth/oidc.js';
import type { ApiContext } from '../context.js';
import { escapeHtml, page } from '../html.js';
import { safeNext, setSessionCookie } from './auth.js';

/**
 * The login page's "Sign in with your organisation": the authorization code
 * flow with PKCE (S256) and a nonce. What the browser must bring back (state,
 * code verifier, nonce, where to go next) waits in a short-lived signed
 * cookie rather than on the server, so any API replica can take the callback.
 * The ID token is checked by the same verifier as OIDC bearer tokens (JWKS,
 * issuer), with the client id as its audience, and its claims map to a
 * principal by the same rules.
 */
export const OIDC_STATE_COOKIE = 'ail_oidc';
export const OIDC_CALLBACK_PATH = '/auth/oidc/callback';
/** Long enough to type a password and a second factor at the provider; a stale attempt just starts again. */
const STATE_TTL_MS = 10 * 60_000;
/** A provider that has not answered by then will not; the person gets a page saying so, not a hung tab. */
const TOKEN_EXCHANGE_TIMEOUT_MS = 10_000;

const stateSchema = z.object({
  state: z.string().min(1),
  verifier: z.string().min(43),
  nonce: z.string().min(1),
  next: z.string(),
  exp: z.number().int(),
});
type SignInState = z.infer<typeof stateSchema>;

/** Its own key, derived from the session secret, so a sign-in cookie can never pass for a session cookie. */
function stateKey(sessionSecret: string): Buffer {
  return createHmac('sha256', sessionSecret).update('oidc sign-in state').digest();
}

function sealState(s: Omit<SignInState, 'exp'>, secret: string, now = Date.now()): string {
  const body = Buffer.from(JSON.stringify({ ...s, exp: now + STATE_TTL_MS })).toString('base64url');
  return `${body}.${createHmac('sha256', stateKey(secret)).update(body).digest('base64url')}`;
}

function openState(cookie: string | undefined, secret: string, now = Date.now()): SignInState | undefined {
  if (!cookie) return undefined;
  const [body, mac, extra] = cookie.split('.');
  if (!body || !mac || extra !== undefined) return undefined;
  if (!constantTimeEqual(mac, createHmac('sha256', stateKey(secret)).update(body).digest('base64url')))
    return undefined;
  try {
    const parsed = stateSchema.safeParse(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')));
    return parsed.success && parsed.data.exp > now ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

const random = () => randomBytes(32).toString('base64url');

/** Why sign-in failed, as a page: the person can act on the reason; no token or code is ever in it. */
class SignInFailed extends Error {
  constructor(
    readonly status: 400 | 401,
    message: string,
  ) {
    super(message);
  }
}

/** Provider-supplied text shown on our page: bounded, and escaped where it is rendered. */
const providerText = (v: unknown) => (typeof v === 'string' ? v.slice(0, 300) : undefined);

const tokenAnswerSchema = z.object({ id_token: z.string().min(1, 'is empty') });

async function exchangeCode(
  login: NonNullable<OidcConfig['login']>,
  code: string,
  verifier: string,
  redirectUri: string,
) {
  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
  });
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  // RFC 6749 2.3.1: a confidential client authenticates with HTTP Basic (form-encoded parts); a public one names itself.
  if (login.clientSecret) {
    const user = encodeURIComponent(login.clientId);
    const password = encodeURIComponent(login.clientSecret);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  } else {
    form.set('client_id', login.clientId);
  }
  let res: Response;
  try {
    res = await fetch(login.tokenUrl, {
      method: 'POST',
      headers,
      body: form,
      redirect: 'error',
      signal: AbortSignal.timeout(TOKEN_EXCHANGE_TIMEOUT_MS),
    });
  } catch (err) {
    const why =
      (err as Error).name === 'TimeoutError'
        ? `no answer within ${TOKEN_EXCHANGE_TIMEOUT_MS / 1000} s`
        : 'it could not be reached';
    throw new SignInFailed(401, `The identity provider's token endpoint did not exchange the sign-in code: ${why}.`);
  }
  let answer: unknown;
  try {
    answer = await res.json();
  } catch {
    answer = undefined;
  }
  if (!res.ok) {
    const a = (answer ?? {}) as Record<string, unknown>;
    const error = providerText(a.error) ?? `HTTP ${res.status}`;
    const description = providerText(a.error_description);
    throw new SignInFailed(
      401,
      `The identity provider refused to exchange the sign-in code (${error}${description ? `: ${description}` : ''}).`,
    );
  }
  const parsed = tokenAnswerSchema.safeParse(answer);
  if (!parsed.success) throw new SignInFailed(401, "The identity provider's token answer holds no id_token.");
  return parsed.data.id_token;
}

function failurePage(reply: FastifyReply, err: SignInFailed, next: string) {
  const body = `<h1>Sign-in did not complete</h1>
<p class="error" role="alert">${escapeHtml(err.message)}</p>
<p><a class="button" href="/auth/oidc/start?next=${encodeURIComponent(next)}">Try again</a>
<a class="button secondary" href="/login?next=${encodeURIComponent(next)}">Sign in with an API key</a></p>`;
  return reply
    .code(err.status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(page({ title: 'Sign-in did not complete', body }));
}

/**
 * The session cookie is SameSite=Strict, and a browser does not send a Strict
 * cookie on a navigation that a cross-site page started, redirects included:
 * a 303 from this callback (which the provider's page navigated to) would
 * land on `next` looking signed out. This page, served from our own origin,
 * moves on itself (a meta refresh: the CSP allows no inline script), and that
 * navigation is same-site.
 */
function signedInPage(reply: FastifyReply, next: string) {
  const href = escapeHtml(next);
  const html = page({
    title: 'Signed in',
    body: `<h1>Signed in</h1>\n<p><a class="button" href="${href}">Continue</a></p>`,
  }).replace('</head>', `<meta http-equiv="refresh" content="0; url=${href}">\n</head>`);
  return reply.code(200).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
}

export const oidcLoginRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    const login = ctx.auth.oidc?.login;
    const verify = ctx.auth.verifyOidc;
    if (!login || !verify) throw new Error('oidcLoginRoutes: registered without an OIDC login configuration');
    const redirectUri = `${ctx.publicBaseUrl}${OIDC_CALLBACK_PATH}`;
    // Lax, not Strict: the provider's redirect back to the callback is a cross-site navigation.
    const cookieOptions = {
      path: '/auth/oidc',
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.auth.secureCookies,
    } as const;

    app.get(
      '/auth/oidc/start',
      { schema: { hide: true }, config: { access: { open: 'the OIDC sign-in redirect' } } },
      async (req, reply) => {
        const next = safeNext((req.query as Record<string, unknown>).next);
        const s = { state: random(), verifier: random(), nonce: random(), next };
        const target = new URL(login.authorizationUrl);
        const params = {
          response_type: 'code',
          client_id: login.clientId,
          redirect_uri: redirectUri,
          scope: 'openid email profile',
          state: s.state,
          nonce: s.nonce,
          code_challenge: createHash('sha256').update(s.verifier).digest('base64url'),
          code_challenge_method: 'S256',
        };
        for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
        void reply.setCookie(OIDC_STATE_COOKIE, sealState(s, ctx.auth.sessionSecret), {
          ...cookieOptions,
          maxAge: STATE_TTL_MS / 1000,
        });
        return reply.code(303).header('cache-control', 'no-store').header('location', target.href).send();
      },
    );

    app.get(
      OIDC_CALLBACK_PATH,
      { schema: { hide: true }, config: { access: { open: 'the OIDC sign-in redirect' } } },
      async (req, reply) => {
        const q = req.query as Record<string, unknown>;
        const attempt = openState(req.cookies[OIDC_STATE_COOKIE], ctx.auth.sessionSecret);
        // One attempt, one callback: whatever happens next, the cookie is spent.
        void reply.clearCookie(OIDC_STATE_COOKIE, cookieOptions);
        const next = attempt?.next ?? '/';
        try {
          if (q.error !== undefined) {
            const error = providerText(q.error) ?? 'an error';
            const description = providerText(q.error_description);
            throw new SignInFailed(
              401,
              `The identity provider did not sign you in (${error}${description ? `: ${description}` : ''}).`,
            );
          }
          if (!attempt) {
            throw new SignInFailed(
              400,
              'This sign-in was not started in this browser, or took longer than 10 minutes (no valid sign-in cookie came back). Start again.',
            );
          }
          if (typeof q.state !== 'string' || !constantTimeEqual(q.state, attempt.state)) {
            throw new SignInFailed(
              400,
              "The state parameter does not match this browser's sign-in attempt. Start again.",
            );
          }
          if (typeof q.code !== 'string' || q.code.length === 0) {
            throw new SignInFailed(400, 'The identity provider sent no authorization code.');
          }
          const idToken = await exchangeCode(login, q.code, attempt.verifier, redirectUri);
          let principal;
          try {
            principal = await verify(idToken, login.clientId);
          } catch (err) {
            if (err instanceof TokenRefused)
              throw new SignInFailed(401, `The identity provider's ID token was refused: ${err.message}.`);
            throw err;
          }
          // Verified above, so its claims can be read as they are.
          const nonce = decodeJwt(idToken).nonce;
          if (typeof nonce !== 'string' || !constantTimeEqual(nonce, attempt.nonce)) {
            throw new SignInFailed(401, "The ID token's nonce does not match this sign-in attempt.");
          }
          setSessionCookie(reply, ctx.auth, { ...principal, via: 'session' });
          return signedInPage(reply, attempt.next);
        } catch (err) {
          if (err instanceof SignInFailed) return failurePage(reply, err, next);
          throw err;
        }
      },
    );
  };
