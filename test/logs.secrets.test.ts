import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createLoginLink } from '../api/routes/auth.js';
import { Runtime } from '@temporalio/worker';
import { redactText } from '../config/redact.js';
import { tapTemporalLogs } from '../worker/logging.js';
import { lifecycleSuite, pathOf, PUBLIC_BASE_URL } from './support/lifecycle-env.js';

/**
 * No secret in any log line. The API logs at debug and the worker's Temporal
 * logger is tapped at debug, both through the production logger set-up; a
 * lifecycle then runs through the real doors (approval links from the real
 * mailbox, API keys, a session cookie, a one-time login link), and every
 * captured line is searched for every credential used.
 */
const apiLines: string[] = [];
const workerLines: string[] = [];
// setup.ts installed the runtime logger (LOG_LEVEL warn): the tap sees what debug would print, redacted.
tapTemporalLogs('DEBUG', (entry) =>
  workerLines.push(
    `[${entry.level}] ${entry.message} ${inspect(entry.meta ?? {}, { depth: 12, breakLength: Infinity })}`,
  ),
);
const s = lifecycleSuite({ apiLog: { level: 'debug', stream: { write: (line) => void apiLines.push(line) } } });

const tokenOf = (link: string) => link.split('/approvals/')[1]!.split(/[/?#]/)[0]!;

describe('logs', () => {
  it('carry no approval token, API key, session cookie or login token', async () => {
    const id = 'logs-secrets';
    const secrets = new Map<string, string>();

    // The approvals, as approvers take them: every link from the real mailbox.
    await s.w.toActive(id);
    const links = s.t.mailbox.messages().flatMap((m) => m.links.filter((l) => l.includes('/approvals/')));
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) secrets.set(`approval token ${tokenOf(link).slice(0, 12)}…`, tokenOf(link));
    // Each one opened once more (a used link: "Already decided"), and damaged, so refusals are logged too.
    for (const link of links) {
      await s.t.api.inject({ method: 'GET', url: pathOf(link) });
      await s.t.api.inject({ method: 'GET', url: `${pathOf(link)}x` });
    }

    // API keys: the harness's admin key on every request, and one a caller put in the query string by mistake.
    secrets.set('admin API key', s.t.adminKey);
    const auditorKey = await s.t.keys({ email: 'auditor@example.org', role: 'auditor' });
    secrets.set('auditor API key', auditorKey);
    const me = await s.t.api.inject({
      method: 'GET',
      url: `/api/v1/me?api_key=${auditorKey}`,
      headers: { authorization: `Bearer ${auditorKey}` },
    });
    expect(me.statusCode, me.body).toBe(200);
    await s.t.api.inject({ method: 'GET', url: '/api/v1/me', headers: { 'x-api-key': auditorKey } });

    // A session: signing in with the key sets the cookie, which then goes with a page request.
    const login = await s.t.api.inject({
      method: 'POST',
      url: '/login',
      payload: new URLSearchParams({ key: s.t.adminKey, next: '/' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(login.statusCode, login.body).toBe(303);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    secrets.set('session cookie', cookie.split('=').slice(1).join('='));
    await s.t.api.inject({ method: 'GET', url: `/systems/${id}`, headers: { cookie } });

    // A one-time login link, used twice (the second is refused).
    const adminId = String((await s.t.api.inject({ method: 'GET', url: '/api/v1/me' })).json().id).replace(/^key:/, '');
    const once = await createLoginLink({ store: s.t.store, publicBaseUrl: PUBLIC_BASE_URL }, adminId, 60_000);
    secrets.set('one-time login token', once.split('/login/once/')[1]!);
    expect((await s.t.api.inject({ method: 'GET', url: pathOf(once) })).statusCode).toBe(303);
    expect((await s.t.api.inject({ method: 'GET', url: pathOf(once) })).statusCode).toBe(410);

    // The capture works and saw the doors: request lines at debug name approval URLs, redacted.
    expect(apiLines.length).toBeGreaterThan(20);
    expect(workerLines.length).toBeGreaterThan(0);
    expect(apiLines.some((l) => l.includes('/approvals/[redacted]'))).toBe(true);
    expect(apiLines.some((l) => l.includes('/login/once/[redacted]'))).toBe(true);

    const leaks: string[] = [];
    for (const [what, secret] of secrets) {
      // The whole secret, and for a JWT its signature alone: either opens the form.
      const needles = [secret, ...(secret.split('.').length === 3 ? [secret.split('.')[2]!] : [])];
      for (const [source, lines] of [
        ['API', apiLines],
        ['worker', workerLines],
      ] as const) {
        const line = lines.find((l) => needles.some((n) => l.includes(n)));
        if (line) leaks.push(`${what} in the ${source} log: ${line.slice(0, 400)}`);
      }
    }
    expect(leaks).toEqual([]);
  });

  it('redact each kind of credential, and keep what identifies without opening', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhQGIuYyJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
    const key = `ail_ab12cd34_${'K'.repeat(43)}`;
    expect(redactText(`GET /approvals/${jwt}/delegate?x=1`)).toBe('GET /approvals/[redacted]/delegate?x=1');
    expect(redactText('/login/once/AbC-123_xyz')).toBe('/login/once/[redacted]');
    expect(redactText('/api/v1/me?api_key=abc&to=a@b.c&access_token=xyz')).toBe(
      '/api/v1/me?api_key=[redacted]&to=a@b.c&access_token=[redacted]',
    );
    expect(redactText(`mail to a@b.c with ${jwt} inside`)).toBe('mail to a@b.c with [redacted] inside');
    // The prefix names the key in lists and logs; the secret part never appears.
    expect(redactText(`key ${key} refused`)).toBe('key ail_ab12cd34_[redacted] refused');
    expect(redactText('authorization: Bearer abc.def')).toBe('authorization: Bearer [redacted]');
  });

  it("redact the worker's own log lines before they are printed or tapped", () => {
    const seen: string[] = [];
    const untap = tapTemporalLogs('INFO', (e) => seen.push(`${e.message} ${inspect(e.meta)}`));
    try {
      Runtime.instance().logger.info(`sending ${PUBLIC_BASE_URL}/approvals/eyJa.eyJb.sig to a@b.c`, {
        link: `${PUBLIC_BASE_URL}/approvals/eyJa.eyJb.sig`,
        headers: { authorization: 'Bearer ail_ab12cd34_secret' },
      });
    } finally {
      untap();
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]).not.toContain('eyJb');
    expect(seen[0]).not.toContain('secret');
    expect(seen[0]).toContain('/approvals/[redacted]');
  });
});
