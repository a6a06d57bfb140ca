import { readdirSync, readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { apiErrorBodySchema } from '../api/errors.js';
import { hardening } from '../api/hardening.js';
import { parseEnv } from '../config/env.js';
import { parsePolicy, type Policy } from '../domain/policy.js';
import { signApprovalLink } from '../links/approval-links.js';
import { registrationFor } from './support/examples.js';
import { lifecycleSuite } from './support/lifecycle-env.js';

/**
 * Server-wide hardening through the real API: security headers, the one
 * error envelope for what Fastify refuses before a handler runs, body limits,
 * and the rate limits on the doors open to anyone. Small limits of its own in
 * the policy; every test comes from its own client address, so none spends
 * another's allowance.
 */
const shipped = parsePolicy(JSON.parse(readFileSync(new URL('../policy/default.json', import.meta.url), 'utf8')));
const LIMITS = {
  approvalLinks: { max: 25, window: '1m' },
  failedLinkAttempts: { max: 6, window: '15m' },
  login: { max: 3, window: '1m' },
};
const policy: Policy = { ...shipped, security: { rateLimits: LIMITS } };
const s = lifecycleSuite({ policy });

let addresses = 0;
/** A client address no other test uses. */
const newAddress = () => `10.20.${Math.floor(++addresses / 250)}.${(addresses % 250) + 1}`;

/** A well-formed approval token that another secret signed: the route refuses it as bad_signature, and records it. */
const forged = () =>
  signApprovalLink(
    'an-attacker-secret-that-is-long-enough-000',
    { sys: 'hardening-target', req: 'req-1', sub: 'approver@example.org', step: 1 },
    { jti: 'forged-jti', expiresAt: new Date(Date.now() + 3_600_000), issuedAt: new Date() },
  );

function expectEnvelope(res: { statusCode: number; json(): unknown }, status: number, error: string) {
  expect(res.statusCode).toBe(status);
  const body = apiErrorBodySchema.parse(res.json());
  expect(body.error).toBe(error);
  expect(body.error).not.toMatch(/^FST_/);
  expect(body.message.length).toBeGreaterThan(0);
  return body;
}

function expectSecurityHeaders(headers: Record<string, unknown>) {
  const csp = String(headers['content-security-policy']);
  const directive = (name: string) =>
    csp
      .split(';')
      .map((d) => d.trim())
      .find((d) => d.startsWith(`${name} `));
  expect(directive('script-src')).toBe("script-src 'self'");
  expect(directive('style-src')).toBe("style-src 'self'");
  expect(directive('frame-ancestors')).toBe("frame-ancestors 'none'");
  expect(directive('default-src')).toBe("default-src 'self'");
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['referrer-policy']).toBe('no-referrer');
  expect(headers['x-frame-options']).toBe('DENY');
  // Served over plain HTTP here: HSTS would pin a browser to an HTTPS that does not exist.
  expect(headers['strict-transport-security']).toBeUndefined();
}

/** No inline script, no inline event handler, no inline style: what the CSP would block. */
function expectNoInlineCode(html: string) {
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
  expect(html).not.toMatch(/\son[a-z]+\s*=/i);
  expect(html).not.toMatch(/<style[\s>]/i);
  expect(html).not.toMatch(/\sstyle\s*=/i);
  expect(html).toContain('<link rel="stylesheet" href="/assets/base.css">');
}

describe('security headers', () => {
  it('are on API answers, pages, error pages and approval pages; pages carry no inline code', async () => {
    const id = 'hardening-headers';
    await s.w.register(id);
    const forgedLink = `/approvals/${await forged()}`;
    const html = { accept: 'text/html' };
    const answers = {
      health: await s.t.api.inject({ method: 'GET', url: '/healthz' }),
      view: await s.t.api.inject({ method: 'GET', url: `/api/v1/systems/${id}` }),
      system: await s.t.api.inject({ method: 'GET', url: `/systems/${id}`, headers: html }),
      approval: await s.t.api.inject({ method: 'GET', url: forgedLink, headers: html, remoteAddress: newAddress() }),
      missing: await s.t.api.inject({ method: 'GET', url: '/no-such-page', headers: html }),
      invalid: await s.t.api.inject({
        method: 'POST',
        url: '/api/v1/systems',
        payload: '{',
        headers: { 'content-type': 'application/json' },
      }),
    };
    expect(answers.health.statusCode).toBe(200);
    expect(answers.view.statusCode, answers.view.body).toBe(200);
    expect(answers.system.statusCode, answers.system.body).toBe(200);
    expect(answers.approval.statusCode).toBe(403);
    expect(answers.missing.statusCode).toBe(404);
    expect(answers.invalid.statusCode).toBe(400);
    for (const [name, res] of Object.entries(answers)) {
      try {
        expectSecurityHeaders(res.headers);
      } catch (err) {
        throw new Error(`${name}: ${(err as Error).message}`);
      }
    }
    // The dashboard needs Temporal's visibility counts, which the time-skipping server lacks; it shares the system page's frame.
    for (const res of [answers.system, answers.approval, answers.missing]) {
      expect(String(res.headers['content-type'])).toMatch(/^text\/html/);
      expectNoInlineCode(res.body);
    }
  });

  it('no page source writes inline script, style or event handlers the CSP would block', () => {
    // The dashboard cannot render against the time-skipping server (no visibility counts): its source is read instead.
    const sources = [
      ...readdirSync(new URL('../api/', import.meta.url), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts') && !f.endsWith('hardening.ts'))
        .map((f) => `api/${f}`),
      ...readdirSync(new URL('../views/', import.meta.url)).map((f) => `views/${f}`),
      'embedded/dev-mailbox-routes.ts',
    ];
    expect(sources).toEqual(expect.arrayContaining(['api/pages/dashboard.ts', 'api/html.ts']));
    const offending = sources.flatMap((file) => {
      const text = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
      return [
        /<script(?![^>]*\bsrc=)[^>]*>/gi,
        /<style[\s>]/gi,
        /\sstyle\s*=\s*["'$]/gi,
        /\son[a-z]+\s*=\s*["'$]/gi,
      ].flatMap((pattern) => [...text.matchAll(pattern)].map((m) => `${file}: ${m[0]}`));
    });
    // The evidence pack's report.html is a file inside a downloaded zip, read offline where no CSP applies and no
    // stylesheet can be fetched: its one inline <style> is the point. Scripts and handlers stay refused there too.
    expect(offending.filter((o) => o !== 'api/evidence-report.ts: <style>')).toEqual([]);
  });

  it('serves the stylesheets the pages link, revalidated by ETag', async () => {
    for (const file of ['base.css', 'governance.css']) {
      const res = await s.t.api.inject({ method: 'GET', url: `/assets/${file}` });
      expect(res.statusCode).toBe(200);
      expect(String(res.headers['content-type'])).toMatch(/^text\/css/);
      expect(res.body).toMatch(/\{[^}]+\}/);
      const again = await s.t.api.inject({
        method: 'GET',
        url: `/assets/${file}`,
        headers: { 'if-none-match': String(res.headers.etag) },
      });
      expect(again.statusCode).toBe(304);
    }
    expect((await s.t.api.inject({ method: 'GET', url: '/assets/secret.js' })).statusCode).toBe(404);
  });

  it('send HSTS only when the product is served over HTTPS', async () => {
    const headersFor = async (publicBaseUrl: string) => {
      const app = Fastify();
      await app.register(hardening, { policy, publicBaseUrl });
      app.get('/x', { config: { access: { open: 'test' } } }, async () => ({ ok: true }));
      const res = await app.inject({ method: 'GET', url: '/x' });
      await app.close();
      return res.headers;
    };
    const secure = await headersFor('https://governance.example.org');
    expect(secure['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(String(secure['content-security-policy'])).toContain('upgrade-insecure-requests');
    expect((await headersFor('http://localhost:3000'))['strict-transport-security']).toBeUndefined();
  });
});

describe('one error envelope', () => {
  const post = (payload: string, contentType = 'application/json') =>
    s.t.api.inject({ method: 'POST', url: '/api/v1/systems', payload, headers: { 'content-type': contentType } });

  it.each([
    ['a body cut short', '{"id": "reg-x", ', 'unexpected end of input at position 16'],
    ['a missing colon', '{"id" "x"}', 'unexpected "\\"" at position 6'],
    ['a trailing comma', '{"id": "x",}', 'unexpected "}" at position 11'],
    ['plain words', 'hello', 'unexpected "h" at position 0'],
    ['an empty body', '', 'at position 0'],
  ])('answers 400 invalid_json naming the position for %s', async (_what, payload, where) => {
    const body = expectEnvelope(await post(payload), 400, 'invalid_json');
    expect(body.message).toContain(where);
  });

  it('refuses a __proto__ key, however it is spelled, with 400', async () => {
    for (const key of ['__proto__', '\\u005f_proto__']) {
      const body = expectEnvelope(await post(`{"id": "reg-proto", "${key}": {"admin": true}}`), 400, 'forbidden_key');
      expect(body.message).toContain('__proto__');
    }
  });

  it('answers 415 for a body that is not JSON by type, on every API route', async () => {
    expectEnvelope(await post('id=x', 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type');
    expectEnvelope(await post('hello', 'text/plain'), 415, 'unsupported_media_type');
    const xml = await s.t.api.inject({
      method: 'PUT',
      url: '/api/v1/systems/x/impact-assessment',
      payload: '<a/>',
      headers: { 'content-type': 'application/xml' },
    });
    expectEnvelope(xml, 415, 'unsupported_media_type');
  });

  it('answers 413 for a body over the limit: 1 MiB of JSON, 64 KiB of form', async () => {
    const big = JSON.stringify({ ...registrationFor('reg-big'), purpose: 'x'.repeat(1024 * 1024) });
    expectEnvelope(await post(big), 413, 'body_too_large');
    const form = await s.t.api.inject({
      method: 'POST',
      url: `/approvals/${await forged()}`,
      payload: `csrf=x&comment=${'y'.repeat(65 * 1024)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      remoteAddress: newAddress(),
    });
    expectEnvelope(form, 413, 'body_too_large');
  });

  it('answers 404 for an unknown route and 405 with Allow for a wrong method, as 422 answers', async () => {
    const unknown = expectEnvelope(
      await s.t.api.inject({ method: 'GET', url: '/api/v1/no-such-thing' }),
      404,
      'not_found',
    );
    expect(unknown.message).toContain('/api/v1/no-such-thing');

    const wrong = await s.t.api.inject({ method: 'DELETE', url: '/healthz' });
    expectEnvelope(wrong, 405, 'method_not_allowed');
    expect(wrong.headers.allow).toBe('GET, HEAD');
    const put = await s.t.api.inject({ method: 'PUT', url: '/api/v1/systems', payload: {} });
    expectEnvelope(put, 405, 'method_not_allowed');
    expect(String(put.headers.allow).split(', ')).toEqual(expect.arrayContaining(['GET', 'POST']));

    const invalid = await s.t.api.inject({ method: 'POST', url: '/api/v1/systems', payload: { id: 'x' } });
    expectEnvelope(invalid, 422, 'validation_failed');
  });

  it('gives a browser an HTML page with the same status, and never names a token', async () => {
    const token = await forged();
    const res = await s.t.api.inject({
      method: 'GET',
      url: `/approvals/${token}/delegate`,
      headers: { accept: 'text/html,application/xhtml+xml' },
      remoteAddress: newAddress(),
    });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect(String(res.headers['content-type'])).toMatch(/^text\/html/);
    expect(res.body).not.toContain(token);
    expect(res.body).toContain('/approvals/[redacted]');
  });

  it('has no dev mailbox outside embedded mode, and the production API never registers one', async () => {
    expectEnvelope(await s.t.api.inject({ method: 'GET', url: '/dev/mailbox/messages' }), 404, 'not_found');
    const main = readFileSync(new URL('../api/main.ts', import.meta.url), 'utf8');
    expect(main).not.toMatch(/mailbox/i);
  });
});

describe('rate limits', () => {
  const linkAttempts = async () =>
    (await s.t.store.listLinkAttempts()).filter((a) => a.reason === 'bad_signature').length;

  it('records refused link attempts up to the policy number, then answers 429 and records nothing', async () => {
    const url = `/approvals/${await forged()}`;
    const remoteAddress = newAddress();
    const before = await linkAttempts();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++)
      statuses.push((await s.t.api.inject({ method: 'GET', url, remoteAddress })).statusCode);
    const max = LIMITS.failedLinkAttempts.max;
    expect(statuses.slice(0, max)).toEqual(Array(max).fill(403));
    expect(new Set(statuses.slice(max))).toEqual(new Set([429]));
    expect((await linkAttempts()) - before).toBe(max);

    const refused = await s.t.api.inject({ method: 'GET', url, remoteAddress });
    const body = expectEnvelope(refused, 429, 'rate_limited');
    expect(body.message).toMatch(/try again in \d+ seconds/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    const page = await s.t.api.inject({ method: 'GET', url, remoteAddress, headers: { accept: 'text/html' } });
    expect(page.statusCode).toBe(429);
    expect(String(page.headers['content-type'])).toMatch(/^text\/html/);

    // Another client is not held back by this one.
    expect((await s.t.api.inject({ method: 'GET', url, remoteAddress: newAddress() })).statusCode).toBe(403);
  });

  it('bounds a burst of 300 forged links at once: no 5xx, at most the policy number of rows', async () => {
    const url = `/approvals/${await forged()}`;
    const remoteAddress = newAddress();
    const before = await linkAttempts();
    const answers = await Promise.all(
      Array.from({ length: 300 }, () => s.t.api.inject({ method: 'GET', url, remoteAddress })),
    );
    const statuses = answers.map((a) => a.statusCode);
    expect(statuses.filter((c) => c >= 500)).toEqual([]);
    expect(statuses.filter((c) => c === 429).length).toBeGreaterThanOrEqual(300 - LIMITS.approvalLinks.max);
    expect((await linkAttempts()) - before).toBeLessThanOrEqual(LIMITS.approvalLinks.max);
  });

  it('limits every approval-link request, good or bad, to the policy number per window', async () => {
    // A damaged link (400) counts as refused too: use paths no route answers, which only the overall limit sees.
    const remoteAddress = newAddress();
    const statuses: number[] = [];
    for (let i = 0; i <= LIMITS.approvalLinks.max; i++) {
      const res = await s.t.api.inject({ method: 'GET', url: `/approvals/a/b/c/${i}`, remoteAddress });
      statuses.push(res.statusCode);
    }
    expect(statuses.slice(0, LIMITS.approvalLinks.max)).toEqual(Array(LIMITS.approvalLinks.max).fill(404));
    expect(statuses.at(-1)).toBe(429);
  });

  it('counts per client behind a trusted proxy (TRUST_PROXY), never per proxy', async () => {
    expect(parseEnv({ TRUST_PROXY: '1' }).TRUST_PROXY).toBe(1);
    expect(parseEnv({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).TRUST_PROXY).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(() => parseEnv({ TRUST_PROXY: 'everyone' })).toThrow(/TRUST_PROXY: must be a number of hops/);

    const app = Fastify({ trustProxy: ['127.0.0.1'] });
    await app.register(hardening, { policy, publicBaseUrl: 'http://localhost' });
    app.post('/login', { config: { access: { open: 'test' } } }, async () => ({ ok: true }));
    const from = (client: string) =>
      app.inject({ method: 'POST', url: '/login', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': client } });
    const a: number[] = [];
    for (let i = 0; i <= LIMITS.login.max; i++) a.push((await from('203.0.113.7')).statusCode);
    expect(a.at(-1)).toBe(429);
    expect((await from('198.51.100.9')).statusCode).toBe(200);
    await app.close();
  });

  it('limits login attempts (/login, /auth/*) per client address', async () => {
    const remoteAddress = newAddress();
    const attempt = (url: string) =>
      s.t.api.inject({
        method: 'POST',
        url,
        payload: 'key=ail_guessing_wrong',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: undefined },
        remoteAddress,
      });
    const first = [];
    for (let i = 0; i < LIMITS.login.max; i++)
      first.push((await attempt(i % 2 ? '/auth/oidc/callback' : '/login')).statusCode);
    expect(first).not.toContain(429);
    expectEnvelope(await attempt('/login'), 429, 'rate_limited');
    expect((await attempt('/login')).statusCode).toBe(429);
  });
});
