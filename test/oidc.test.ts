/**
 * OIDC, end to end against an identity provider served by this test: its
 * JWKS from keys the test generates, its authorize and token endpoints for
 * the login redirect. The API verifies with the real verifier built from the
 * environment (api/auth/config.ts), so every refusal below is jose's own
 * verdict on a real token fetched over HTTP, not a mocked one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { authFromEnv } from '../api/auth/config.js';
import { SESSION_COOKIE } from '../api/auth/session.js';
import { OIDC_STATE_COOKIE } from '../api/routes/oidc-login.js';
import { parseEnv } from '../config/env.js';
import { loadPolicy } from '../config/policy-file.js';
import { TEST_SESSION_SECRET, TEST_TEAM } from './support/credentials.js';
import { example, registrationFor } from './support/examples.js';
import { barrier, lifecycleSuite, pathOf, PUBLIC_BASE_URL } from './support/lifecycle-env.js';

// ---------------------------------------------------------------------------
// The identity provider
// ---------------------------------------------------------------------------

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

const CLIENT_ID = 'ai-lifecycle-web';
const CLIENT_SECRET = 'client-secret-with: reserved & characters';
/** Bearer tokens are minted for the API; ID tokens for the web client. Different on purpose. */
const AUDIENCE = 'ai-lifecycle-api';
const REDIRECT_URI = `${PUBLIC_BASE_URL}/auth/oidc/callback`;

const k1 = await signingKey('k1');
const k2 = await signingKey('k2'); // published only in the rotation test
const rogue = await signingKey('rogue'); // never published

/** What the next authorize request hands out; each test sets what it needs. */
interface Behaviour {
  claims?: JWTPayload;
  /** The ID token carries this nonce instead of the one the app sent. */
  nonce?: string;
  /** The ID token's audience instead of the client id. */
  aud?: string;
  /** The provider redirects back with an error instead of a code. */
  error?: { error: string; error_description: string };
}

const idp = {
  url: '',
  served: [k1.jwk] as JWK[],
  jwksFetches: 0,
  next: {} as Behaviour,
  codes: new Map<
    string,
    { aud: string; challenge: string; nonce: string; redirectUri: string; claims: JWTPayload; used: boolean }
  >(),
  /** Every token request, as the provider judged it. */
  exchanges: [] as { basicAuth: boolean; verifierMatched: boolean; outcome: string }[],
};

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return body;
}

const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

function basicAuthMatches(header: string | undefined): boolean {
  const m = /^Basic (.+)$/.exec(header ?? '');
  if (!m) return false;
  const [user, password] = Buffer.from(m[1]!, 'base64').toString('utf8').split(':');
  return decodeURIComponent(user ?? '') === CLIENT_ID && decodeURIComponent(password ?? '') === CLIENT_SECRET;
}

const server: Server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', idp.url);
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  if (req.method === 'GET' && url.pathname === '/jwks') {
    idp.jwksFetches++;
    return json(200, { keys: idp.served });
  }
  if (req.method === 'GET' && url.pathname === '/authorize') {
    const p = Object.fromEntries(url.searchParams);
    const wellFormed =
      p.response_type === 'code' &&
      p.client_id === CLIENT_ID &&
      p.redirect_uri === REDIRECT_URI &&
      p.code_challenge_method === 'S256' &&
      (p.scope ?? '').split(' ').includes('openid') &&
      !!p.state &&
      !!p.nonce &&
      !!p.code_challenge;
    if (!wellFormed) return json(400, { error: 'invalid_request', params: p });
    const behaviour = idp.next;
    idp.next = {};
    const back = new URL(p.redirect_uri!);
    back.searchParams.set('state', p.state!);
    if (behaviour.error) {
      back.searchParams.set('error', behaviour.error.error);
      back.searchParams.set('error_description', behaviour.error.error_description);
    } else {
      const code = randomBytes(16).toString('base64url');
      idp.codes.set(code, {
        aud: behaviour.aud ?? CLIENT_ID,
        challenge: p.code_challenge!,
        nonce: behaviour.nonce ?? p.nonce!,
        redirectUri: p.redirect_uri!,
        claims: behaviour.claims ?? {},
        used: false,
      });
      back.searchParams.set('code', code);
    }
    res.writeHead(302, { location: back.href }).end();
    return;
  }
  if (req.method === 'POST' && url.pathname === '/token') {
    void readBody(req).then(async (raw) => {
      const form = new URLSearchParams(raw);
      const grant = idp.codes.get(form.get('code') ?? '');
      const basicAuth = basicAuthMatches(req.headers.authorization);
      const verifierMatched = !!grant && s256(form.get('code_verifier') ?? '') === grant.challenge;
      const refuse = (error: string, description: string) => {
        idp.exchanges.push({ basicAuth, verifierMatched, outcome: error });
        json(400, { error, error_description: description });
      };
      if (!basicAuth) return refuse('invalid_client', 'client authentication failed');
      if (form.get('grant_type') !== 'authorization_code')
        return refuse('unsupported_grant_type', 'authorization_code only');
      if (!grant || grant.used) return refuse('invalid_grant', 'the code is unknown or was used already');
      grant.used = true; // single use, whatever the outcome
      if (form.get('redirect_uri') !== grant.redirectUri) return refuse('invalid_grant', 'redirect_uri differs');
      if (!verifierMatched) return refuse('invalid_grant', 'code_verifier does not match the code_challenge');
      const idToken = await mint(
        { sub: 'user-42', email: 'Dana.Lead@Example.org', roles: ['gov-leads'], nonce: grant.nonce, ...grant.claims },
        { aud: grant.aud },
      );
      idp.exchanges.push({ basicAuth, verifierMatched, outcome: 'ok' });
      json(200, { access_token: 'opaque-access-token', token_type: 'Bearer', expires_in: 300, id_token: idToken });
    });
    return;
  }
  json(404, { error: 'not_found' });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
idp.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** A token as the provider would sign it; each option breaks one thing. */
async function mint(
  claims: JWTPayload,
  opts: { key?: SigningKey; kid?: string; iss?: string; aud?: string; exp?: number | string } = {},
): Promise<string> {
  const key = opts.key ?? k1;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? key.kid })
    .setIssuer(opts.iss ?? idp.url)
    .setAudience(opts.aud ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '10m')
    .sign(key.privateKey);
}

// ---------------------------------------------------------------------------
// The product, configured the way an operator would
// ---------------------------------------------------------------------------

const env = parseEnv({
  PUBLIC_BASE_URL,
  OIDC_ISSUER: idp.url,
  OIDC_AUDIENCE: AUDIENCE,
  OIDC_JWKS_URL: `${idp.url}/jwks`,
  OIDC_ROLE_MAP: JSON.stringify({
    'grc-auditors': 'auditor',
    'ml-engineers': 'ai-team',
    'gov-leads': 'governance-lead',
  }),
  OIDC_AUTHORIZATION_URL: `${idp.url}/authorize`,
  OIDC_TOKEN_URL: `${idp.url}/token`,
  OIDC_CLIENT_ID: CLIENT_ID,
  OIDC_CLIENT_SECRET: CLIENT_SECRET,
});
const policy = await loadPolicy();
// This file signs in a few dozen times from one address; the login rate limit is another test's subject.
policy.security.rateLimits.login.max = 1000;

const s = lifecycleSuite({ policy, auth: authFromEnv(env, TEST_SESSION_SECRET, PUBLIC_BASE_URL) });

const me = (token: string) =>
  s.t.api.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });

const ENGINEER = { sub: 'eng-7', email: 'oidc-engineer@example.org', roles: 'ml-engineers', team: TEST_TEAM };

// ---------------------------------------------------------------------------
// Bearer tokens
// ---------------------------------------------------------------------------

describe('OIDC bearer tokens', () => {
  it.each([
    ['a role claim that is a string', { roles: 'auditor' }, 'auditor', null],
    ['a role claim that is an array', { roles: ['governance-lead'] }, 'governance-lead', null],
    [
      'a group name mapped by OIDC_ROLE_MAP, beside unmapped ones',
      { roles: ['everyone', 'grc-auditors'] },
      'auditor',
      null,
    ],
    ['an ai-team group with its team', { roles: ['ml-engineers'], team: TEST_TEAM }, 'ai-team', TEST_TEAM],
  ])('%s is accepted and names the subject and e-mail', async (_what, claims, role, team) => {
    const res = await me(await mint({ sub: 'person-1', email: 'Person.One@Example.org', ...claims }));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ id: 'oidc:person-1', email: 'person.one@example.org', role, team, via: 'oidc' });
  });

  const now = () => Math.floor(Date.now() / 1000);
  const refusals: [string, () => Promise<string>, RegExp][] = [
    [
      'an expired token',
      () => mint({ sub: 'p', email: 'p@example.org', roles: 'auditor' }, { exp: now() - 60 }),
      /expired/,
    ],
    [
      'a wrong audience',
      () => mint({ sub: 'p', email: 'p@example.org', roles: 'auditor' }, { aud: 'another-api' }),
      /\baud\b/,
    ],
    [
      'a wrong issuer',
      () => mint({ sub: 'p', email: 'p@example.org', roles: 'auditor' }, { iss: 'https://evil.example' }),
      /\biss\b/,
    ],
    [
      'an unknown key id (a key the JWKS does not hold)',
      () => mint({ sub: 'p', email: 'p@example.org', roles: 'auditor' }, { key: rogue }),
      /key id is not in the identity provider's key set/,
    ],
    [
      "a bad signature (another key under a published key's id)",
      () => mint({ sub: 'p', email: 'p@example.org', roles: 'auditor' }, { key: rogue, kid: 'k1' }),
      /signature does not verify/,
    ],
    [
      'a role claim that maps to no role',
      () => mint({ sub: 'p', email: 'p@example.org', roles: ['everyone'] }),
      /maps to no role/,
    ],
    [
      'a role claim that maps to two roles',
      () => mint({ sub: 'p', email: 'p@example.org', roles: ['auditor', 'gov-leads'] }),
      /several roles \(auditor, governance-lead\)/,
    ],
    [
      'an ai-team token without a team',
      () => mint({ sub: 'p', email: 'p@example.org', roles: 'ml-engineers' }),
      /team claim/,
    ],
  ];
  it.each(refusals)('%s answers 401 naming the reason, never the token', async (_what, make, reason) => {
    const token = await make();
    const res = await me(token);
    expect(res.statusCode, res.body).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.json().error).toBe('unauthenticated');
    expect(res.json().message).toMatch(reason);
    expect(res.body).not.toContain(token.split('.')[2]);
    expect(res.body).not.toContain(token.split('.')[1]);
  });

  describe('with systems of two teams', () => {
    const OURS = 'oidc-ours';
    const THEIRS = 'oidc-theirs';
    beforeAll(async () => {
      await s.w.register(OURS);
      const theirs = await s.t.api.inject({
        method: 'POST',
        url: '/api/v1/systems',
        payload: { ...registrationFor(THEIRS), team: 'other-team' },
        headers: { authorization: `Bearer ${s.t.adminKey}` },
      });
      expect(theirs.statusCode, theirs.body).toBe(201);
    });

    it("an ai-team token's team claim scopes it: another team's system answers 404", async () => {
      const authorization = `Bearer ${await mint(ENGINEER)}`;
      const ours = await s.t.api.inject({ method: 'GET', url: `/api/v1/systems/${OURS}`, headers: { authorization } });
      expect(ours.statusCode, ours.body).toBe(200);
      const theirs = await s.t.api.inject({
        method: 'GET',
        url: `/api/v1/systems/${THEIRS}`,
        headers: { authorization },
      });
      expect(theirs.statusCode, theirs.body).toBe(404);
      expect(theirs.json()).toEqual({ error: 'not_found', message: `no AI system with id ${THEIRS}` });
      // The same token with the other team's claim sees it: the claim, not the subject, decides.
      const other = `Bearer ${await mint({ ...ENGINEER, team: 'other-team' })}`;
      const seen = await s.t.api.inject({
        method: 'GET',
        url: `/api/v1/systems/${THEIRS}`,
        headers: { authorization: other },
      });
      expect(seen.statusCode, seen.body).toBe(200);
    });

    it("an update sent with an OIDC token records the token's e-mail as the actor", async () => {
      const { submittedBy: _named, ...assessment } = example('impact-assessment.json');
      const res = await s.t.api.inject({
        method: 'PUT',
        url: `/api/v1/systems/${OURS}/impact-assessment`,
        payload: assessment,
        headers: { authorization: `Bearer ${await mint(ENGINEER)}` },
      });
      expect(res.statusCode, res.body).toBe(200);
      const submitted = (await barrier(s.t, OURS)).filter((e) => e.type === 'assessment_submitted');
      expect(submitted.map((e) => e.actor)).toEqual([ENGINEER.email]);
    });
  });

  it('a key added to the served JWKS is accepted without a restart, once the cooldown since the last fetch is over', async () => {
    const rotated = await mint({ sub: 'p', email: 'p@example.org', roles: 'auditor' }, { key: k2 });
    const start = Date.now();
    // jose refetches the JWKS for an unknown key id at most once per cooldown (30 s in api/auth/oidc.ts);
    // the clock moves past it instead of the test waiting for it.
    vi.useFakeTimers({ toFake: ['Date'], now: start + 31_000 });
    try {
      const before = idp.jwksFetches;
      const early = await me(rotated);
      expect(early.statusCode, early.body).toBe(401);
      expect(early.json().message).toMatch(/key id/);
      expect(idp.jwksFetches, 'an unknown key id past the cooldown refetches the JWKS').toBe(before + 1);

      idp.served = [k1.jwk, k2.jwk];
      const cooling = await me(rotated);
      expect(cooling.statusCode, cooling.body).toBe(401);
      expect(idp.jwksFetches, 'within the cooldown, unknown key ids do not hammer the provider').toBe(before + 1);

      vi.setSystemTime(start + 62_000);
      const accepted = await me(rotated);
      expect(accepted.statusCode, accepted.body).toBe(200);
      expect(idp.jwksFetches).toBe(before + 2);
      const old = await me(await mint({ sub: 'p', email: 'p@example.org', roles: 'auditor' }));
      expect(old.statusCode, 'the old key still verifies').toBe(200);
      expect(idp.jwksFetches).toBe(before + 2);
    } finally {
      vi.useRealTimers();
    }
  });
});

// ---------------------------------------------------------------------------
// The login redirect
// ---------------------------------------------------------------------------

type Inject = Awaited<ReturnType<typeof me>>;
const cookieOf = (res: Inject, name: string) => res.cookies.find((c) => c.name === name);

/** GET /auth/oidc/start as a browser with no session: the redirect, and the sign-in cookie it set. */
async function start(next = '/') {
  const res = await s.t.api.inject({
    method: 'GET',
    url: `/auth/oidc/start?next=${encodeURIComponent(next)}`,
    headers: { authorization: undefined },
  });
  expect(res.statusCode, res.body).toBe(303);
  const cookie = cookieOf(res, OIDC_STATE_COOKIE);
  expect(cookie).toBeDefined();
  return { location: new URL(String(res.headers.location)), cookie: `${OIDC_STATE_COOKIE}=${cookie!.value}`, res };
}

/** The browser at the provider: it follows the authorize URL and comes back with the provider's redirect. */
async function authorize(location: URL): Promise<string> {
  const res = await fetch(location, { redirect: 'manual' });
  expect(res.status, await res.clone().text()).toBe(302);
  const back = res.headers.get('location')!;
  expect(back.startsWith(`${REDIRECT_URI}?`)).toBe(true);
  return back;
}

const callback = (back: string, cookie?: string) =>
  s.t.api.inject({ method: 'GET', url: pathOf(back), headers: cookie ? { cookie } : { authorization: undefined } });

const ENTITIES: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&amp;': '&' };

/** A refused callback: a 4xx page whose alert says why, and no session. */
function expectRefusedPage(res: Inject, status: number, reason: RegExp) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^text\/html/);
  const alert = /<p class="error" role="alert">([^<]*)<\/p>/.exec(res.body)?.[1];
  expect(alert, res.body).toBeDefined();
  expect(alert!.replace(/&(?:lt|gt|quot|#39|amp);/g, (e) => ENTITIES[e]!)).toMatch(reason);
  expect(cookieOf(res, SESSION_COOKIE)).toBeUndefined();
}

describe('the OIDC login redirect', () => {
  it('the login page offers it', async () => {
    const res = await s.t.api.inject({
      method: 'GET',
      url: '/login?next=/systems',
      headers: { authorization: undefined },
    });
    expect(res.body).toContain('href="/auth/oidc/start?next=%2Fsystems"');
  });

  it('start redirects to the provider with PKCE (S256), state and nonce, kept in a signed Lax cookie', async () => {
    const { location, res } = await start('/systems');
    expect(location.origin + location.pathname).toBe(`${idp.url}/authorize`);
    const p = Object.fromEntries(location.searchParams);
    expect(p).toMatchObject({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      scope: 'openid email profile',
      code_challenge_method: 'S256',
    });
    expect(p.state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const cookie = cookieOf(res, OIDC_STATE_COOKIE)!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/auth/oidc', maxAge: 600 });
    // The verifier travels only in the cookie, never in the URL.
    expect(location.href).not.toContain(cookie.value.split('.')[0]!);
  });

  it('a full sign-in: the provider redirects back, the code is exchanged with the verifier, the session names the person', async () => {
    const exchanges = idp.exchanges.length;
    const { location, cookie } = await start('/systems/cv-screening?tab=1');
    const back = await authorize(location);
    const res = await callback(back, cookie);
    expect(res.statusCode, res.body).toBe(200);
    expect(idp.exchanges.slice(exchanges)).toEqual([{ basicAuth: true, verifierMatched: true, outcome: 'ok' }]);
    // Same-site hand-over to `next`: a Strict cookie would not ride a redirect that the provider's page started.
    expect(res.body).toContain('<meta http-equiv="refresh" content="0; url=/systems/cv-screening?tab=1">');
    const session = cookieOf(res, SESSION_COOKIE)!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookieOf(res, OIDC_STATE_COOKIE)?.value, 'the sign-in cookie is spent').toBe('');

    const withSession = { cookie: `${SESSION_COOKIE}=${session.value}` };
    const who = await s.t.api.inject({ method: 'GET', url: '/api/v1/me', headers: withSession });
    expect(who.statusCode, who.body).toBe(200);
    expect(who.json()).toEqual({
      id: 'oidc:user-42',
      email: 'dana.lead@example.org',
      role: 'governance-lead',
      team: null,
      via: 'session',
    });

    // The same callback again (a replayed URL and cookie): the provider refuses the used code, and so do we.
    const replay = await callback(back, cookie);
    expectRefusedPage(
      replay,
      401,
      /refused to exchange the sign-in code \(invalid_grant: the code is unknown or was used already\)/,
    );
    expect(replay.body).not.toContain(new URL(back).searchParams.get('code')!);
  });

  it('an ai-team sign-in carries its team; next pointing off-site lands on the dashboard instead', async () => {
    idp.next = { claims: { sub: 'eng-8', email: 'eng8@example.org', roles: 'ml-engineers', team: TEST_TEAM } };
    const { location, cookie } = await start('//evil.example/steal');
    const res = await callback(await authorize(location), cookie);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.body).toContain('<meta http-equiv="refresh" content="0; url=/">');
    const session = cookieOf(res, SESSION_COOKIE)!.value;
    const who = await s.t.api.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { cookie: `${SESSION_COOKIE}=${session}` },
    });
    expect(who.json()).toMatchObject({ id: 'oidc:eng-8', role: 'ai-team', team: TEST_TEAM });
  });

  it("a state that is not this browser's attempt is refused before any exchange", async () => {
    const exchanges = idp.exchanges.length;
    const mine = await start();
    const theirs = await start();
    // The victim's browser holds its own sign-in cookie; the attacker's callback URL carries another attempt's state and code.
    const res = await callback(await authorize(theirs.location), mine.cookie);
    expectRefusedPage(res, 400, /state parameter does not match/);
    expect(idp.exchanges.length, 'no code was exchanged').toBe(exchanges);
  });

  it('a callback with no sign-in cookie, or a forged one, is refused', async () => {
    const { location, cookie } = await start();
    const back = await authorize(location);
    expectRefusedPage(await callback(back), 400, /no valid sign-in cookie/);
    const [body] = cookie.slice(OIDC_STATE_COOKIE.length + 1).split('.');
    const forged = `${OIDC_STATE_COOKIE}=${body}.${'A'.repeat(43)}`;
    expectRefusedPage(await callback(back, forged), 400, /no valid sign-in cookie/);
  });

  it("a code from another attempt is useless without that attempt's verifier (PKCE)", async () => {
    const mine = await start();
    const stolen = await start();
    const stolenBack = new URL(await authorize(stolen.location));
    await authorize(mine.location); // the victim's own attempt, whose state the attacker copies
    const mineState = new URLSearchParams(mine.location.search).get('state')!;
    const forged = new URL(REDIRECT_URI);
    forged.searchParams.set('code', stolenBack.searchParams.get('code')!);
    forged.searchParams.set('state', mineState);
    const exchanges = idp.exchanges.length;
    const res = await callback(forged.href, mine.cookie);
    expectRefusedPage(res, 401, /code_verifier does not match/);
    expect(idp.exchanges.slice(exchanges)).toEqual([
      { basicAuth: true, verifierMatched: false, outcome: 'invalid_grant' },
    ]);
  });

  it("the provider's error parameter is shown, not a 5xx", async () => {
    idp.next = { error: { error: 'access_denied', error_description: 'The user <b>cancelled</b>' } };
    const { location, cookie } = await start('/systems');
    const res = await callback(await authorize(location), cookie);
    expectRefusedPage(res, 401, /did not sign you in \(access_denied: The user <b>cancelled<\/b>\)/);
    expect(res.body, "the provider's text is escaped").toContain('The user &lt;b&gt;cancelled&lt;/b&gt;');
    expect(res.body).toContain('href="/auth/oidc/start?next=%2Fsystems"');
  });

  it.each([
    ['an ID token whose nonce is not the one sent', { nonce: 'another-nonce' }, /nonce does not match/],
    [
      'an ID token whose roles map to no role',
      { claims: { roles: ['everyone'] } },
      /ID token was refused: the token's roles claim maps to no role/,
    ],
    [
      'an ID token minted for another audience than the client id',
      { aud: AUDIENCE },
      /ID token was refused: the token's aud claim/,
    ],
  ] as [string, Behaviour, RegExp][])('%s is refused with a 401 page', async (_what, behaviour, reason) => {
    idp.next = behaviour;
    const { location, cookie } = await start();
    expectRefusedPage(await callback(await authorize(location), cookie), 401, reason);
  });
});
