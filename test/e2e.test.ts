/**
 * End to end, as a user runs the product: `npm start` (embedded/start.ts) as a
 * child process with its own Temporal dev server, PGlite and API, sending its
 * mail over TCP to a real SMTP server this test owns; everything else over
 * real HTTP. Then Ctrl-C (SIGINT), a restart on the same data folder, and the
 * same lifecycle is still there. Signed in as the README has it: the admin key
 * from the banner, which makes the AI team's key; the banner's sign-in link
 * for the dashboard.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getFreePort } from '../embedded/dev-server.js';
import { startDevMailbox, type DevMailbox, type MailboxMessage } from '../embedded/dev-mailbox.js';
import { defaultPolicyPath } from '../config/policy-file.js';
import { answerOf } from '../embedded/api-request.js';
import { addCadence } from '../domain/duration.js';
import { example } from './support/examples.js';
import { csrfFrom } from './support/lifecycle-env.js';
import {
  forceStop,
  isPortOpen,
  processesMentioning,
  productEnv,
  sessionFrom,
  spawnProduct,
  waitForBanner,
  waitUntilHealthy,
  type Banner,
  type ProductProcess,
} from './support/product-process.js';
import { tokenRequest } from './support/walk.js';

const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;

const registration = example('register.json');
const assessment = example('impact-assessment.json');
const SYSTEM_ID: string = registration.id;
const SYSTEM_NAME: string = registration.name;
const RISK_OWNER: string = registration.riskOwner;
const OWNER: string = registration.owner;
const GOVERNANCE_LEAD = 'governance-lead@e2e.example.org';
const COMMENT = 'Approved on condition that recruiters keep reading every application.';
/** The team the AI team's key works for, as the README's walkthrough creates it. */
const TEAM = 'recruiting';

/** What the AI team sends in the stages where the lifecycle waits for its work (the README's examples). */
const TEAM_WORK: Record<string, { method: 'PUT' | 'POST'; path: string; example: string }> = {
  bias_testing: { method: 'PUT', path: '/bias-evidence', example: 'bias-evidence.json' },
  risk_treatment: { method: 'PUT', path: '/treatment-plan', example: 'treatment-plan.json' },
  fria_notification: { method: 'POST', path: '/fria-notification', example: 'fria-notification.json' },
};

interface SystemView {
  id: string;
  name: string;
  stage: string;
  riskTier: string | null;
  approvedAt: string | null;
  reviewDueAt: string | null;
  pendingApproval: { requestId: string; approver: string; step: number } | null;
  decisions: { approver: string; decision: string; comment: string; decidedAt: string; requestId: string }[];
  transitions: { from: string | null; to: string; reason: string; at: string }[];
}

const json = (method: string, body: unknown, key?: string): RequestInit => ({
  method,
  headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
  body: JSON.stringify(body),
});

/** A browser submitting the approval page's form. */
const form = (fields: Record<string, string>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

describe('npm start, end to end over HTTP and SMTP', () => {
  let dataDir: string;
  let mailbox: DevMailbox;
  let port: number;
  let temporalPort: number;
  let baseUrl: string;
  let product: ProductProcess | undefined;
  /** The first start's banner, and the admin key it printed. */
  let firstBanner: Banner;
  let adminKey: string;
  /** The AI team's key (the owner's, role ai-team), made with the admin key as the README does. */
  let teamKey: string | undefined;
  const env = () =>
    productEnv({
      DATA_DIR: dataDir,
      PORT: String(port),
      TEMPORAL_DEV_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: '0',
      LOG_LEVEL: 'warn',
      SMTP_URL: mailbox.url,
      GOVERNANCE_LEAD_EMAIL: GOVERNANCE_LEAD,
    });

  /** What each test has seen, for the next one; a later test fails clearly if an earlier one did not get there. */
  let approved: SystemView | undefined;
  let riskOwnerLink: string | undefined;
  let riskOwnerCsrf: string | undefined;

  /** A request to the product; a failure (refused, timed out) carries the product's output. */
  const http = async (url: string, init?: RequestInit) => {
    try {
      return await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) }).then(answerOf);
    } catch (err) {
      throw new Error(`${init?.method ?? 'GET'} ${url}: ${(err as Error).message}\n${product?.tail()}`, { cause: err });
    }
  };
  /** An API request with a key: the AI team's once it exists, else the admin's (or `init`'s own). */
  const api = (path: string, init: RequestInit = {}) =>
    http(`${baseUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${teamKey ?? adminKey}`, ...(init.headers as Record<string, string>) },
    });
  const getSystem = async (): Promise<SystemView> => {
    const res = await api(`/api/v1/systems/${SYSTEM_ID}`);
    expect(res.status, `GET /api/v1/systems/${SYSTEM_ID}: ${res.text}\n${product?.tail()}`).toBe(200);
    return res.json as SystemView;
  };
  const until = async (ok: (v: SystemView) => boolean, what: string): Promise<SystemView> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const v = await getSystem();
      if (ok(v)) return v;
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}; last view ${JSON.stringify(v)}\n${product?.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const waitForMail = async (predicate: (m: MailboxMessage) => boolean): Promise<MailboxMessage> => {
    try {
      return await mailbox.waitFor(predicate, { timeoutMs: 30_000 });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${product?.tail()}`);
    }
  };
  /** The approval link e-mailed to `approver` for request `requestId`, as received on the test's SMTP server. */
  const approvalLinkFor = async (approver: string, requestId: string): Promise<string> => {
    const isLink = (l: string) => l.includes('/approvals/') && tokenRequest(l) === requestId;
    const mail = await waitForMail((m) => m.to.includes(approver) && m.links.some(isLink));
    expect(mail.subject).toContain(`Approval needed: ${SYSTEM_NAME}`);
    expect(mail.headers['x-ai-system']).toBe(SYSTEM_ID);
    // The whole of what is approved, in the e-mail itself: the version, the classification, the scores in words.
    expect(mail.text).toContain(`Model: ${registration.model.name} ${registration.model.version}.`);
    expect(mail.text).toContain(`Rationale: ${assessment.euAiAct.rationale}`);
    expect(mail.text).toContain('the highest impact has score 9 of 16; the high tier starts at 9.');
    return mail.links.find(isLink)!;
  };

  async function start(): Promise<Banner> {
    const p = spawnProduct(env());
    product = p;
    await waitUntilHealthy(p, baseUrl, START_TIMEOUT_MS);
    return waitForBanner(p);
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ai-impact-e2e-'));
    mailbox = await startDevMailbox({ port: 0 });
    port = await getFreePort();
    temporalPort = await getFreePort();
    baseUrl = `http://127.0.0.1:${port}`;
    firstBanner = await start();
    if (!firstBanner.adminKey) throw new Error(`the first start printed no admin key:\n${firstBanner.text}`);
    adminKey = firstBanner.adminKey;
  }, START_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    await forceStop(product, dataDir ?? 'ai-impact-e2e-never-matches');
    await mailbox?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('publishes the OpenAPI document and, with SMTP_URL set, no dev mailbox', async () => {
    const openapi = await api('/openapi.json');
    expect(openapi.status, openapi.text).toBe(200);
    const apiPaths = Object.keys(openapi.json.paths ?? {})
      .filter((p) => p.startsWith('/api/v1'))
      .sort();
    expect(apiPaths).toEqual(
      expect.arrayContaining(['/api/v1/systems', '/api/v1/systems/{id}', '/api/v1/systems/{id}/impact-assessment']),
    );

    // start.ts only starts (and routes to) the dev mailbox when SMTP_URL is unset.
    for (const path of ['/dev/mailbox/messages', '/dev/mailbox']) {
      const res = await api(path);
      expect(res.status, `GET ${path}: ${res.text}`).toBe(404);
    }
    expect(product!.output(), 'start-up banner names the SMTP server in use').toContain(
      `SMTP           ${mailbox.url}`,
    );
    expect(existsSync(join(dataDir, 'mailbox.json')), 'no dev mailbox file in DATA_DIR').toBe(false);
  });

  it('prints the admin key once, keeps it in $DATA_DIR/admin-api-key (0600), and signs in with the printed link', async () => {
    const keyFile = join(dataDir, 'admin-api-key');
    expect(firstBanner.adminKeyFile).toBe(keyFile);
    expect(adminKey).toMatch(/^ail_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/);
    expect((await stat(keyFile)).mode & 0o777, 'readable by its owner only').toBe(0o600);
    expect((await readFile(keyFile, 'utf8')).trim()).toBe(adminKey);
    expect(firstBanner.text).toContain(`export AI_LIFECYCLE_API_KEY=$(cat ${keyFile})`);

    // Without a credential: the dashboard sends the browser to sign in, the API answers 401.
    const page = await fetch(`${baseUrl}/`, { redirect: 'manual', signal: AbortSignal.timeout(30_000) });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login?next=%2F');
    const anonymous = await http(`${baseUrl}/api/v1/systems`);
    expect(anonymous.status, anonymous.text).toBe(401);
    expect(anonymous.json).toMatchObject({ error: 'unauthenticated' });
    const login = await http(`${baseUrl}/login`);
    expect(login.status).toBe(200);
    expect(login.text).toContain('API key');

    // The admin key works; the banner's link gives a session cookie that opens the dashboard.
    const me = await api('/api/v1/me');
    expect(me.status, me.text).toBe(200);
    expect(me.json).toMatchObject({ role: 'admin', via: 'api_key' });
    const cookie = await sessionFrom(firstBanner.signInLink, baseUrl);
    const res = await fetch(`${baseUrl}/`, { headers: { cookie }, redirect: 'manual' });
    const dashboard = await answerOf(res);
    expect(dashboard.status, dashboard.text.slice(0, 500)).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(dashboard.text).toMatch(/^<!doctype html>/i);
    expect(dashboard.text).toContain('AI governance dashboard');
    // The link signs in once.
    const again = await fetch(`${baseUrl}${new URL(firstBanner.signInLink).pathname}`, { redirect: 'manual' });
    expect(again.status).toBe(410);
    expect(again.headers.getSetCookie()).toEqual([]);

    // The admin makes the AI team's key (README: ai-lifecycle keys create), which does the team's work below.
    const made = await api(
      '/api/v1/keys',
      json('POST', { name: 'ML team', email: OWNER, role: 'ai-team', team: TEAM }, adminKey),
    );
    expect(made.status, made.text).toBe(201);
    expect(made.json).toMatchObject({ email: OWNER, role: 'ai-team', team: TEAM });
    teamKey = made.json.key as string;
  });

  it('registers, assesses, e-mails each approver over SMTP and becomes active when the links are approved', async () => {
    if (!teamKey) throw new Error('the sign-in test above made no key for the AI team');
    const created = await api('/api/v1/systems', json('POST', registration));
    expect(created.status, created.text).toBe(201);
    expect(created.json).toMatchObject({ id: SYSTEM_ID, stage: 'impact_assessment', team: TEAM });

    const again = await api('/api/v1/systems', json('POST', registration));
    expect(again.status, again.text).toBe(409);
    expect(again.json).toMatchObject({ error: 'already_registered' });

    const assessed = await api(`/api/v1/systems/${SYSTEM_ID}/impact-assessment`, json('PUT', assessment));
    expect(assessed.status, `${assessed.text}\n${product!.tail()}`).toBe(200);
    expect(assessed.json).toMatchObject({ id: SYSTEM_ID, riskTier: 'high' });

    // From here the system's own state says what it waits for, as a user reading GET would see.
    const approvers: string[] = [];
    let system = await getSystem();
    for (let steps = 0; system.stage !== 'active'; steps++) {
      if (steps > 12) throw new Error(`no way to active after ${steps} steps: ${JSON.stringify(system)}`);
      const work = TEAM_WORK[system.stage];
      if (work) {
        const res = await api(`/api/v1/systems/${SYSTEM_ID}${work.path}`, json(work.method, example(work.example)));
        expect(
          res.status,
          `${work.method} ${work.path} in stage ${system.stage}: ${res.text}\n${product!.tail()}`,
        ).toBe(200);
        system = await getSystem();
        continue;
      }
      expect(system.stage, `unexpected stage\n${JSON.stringify(system)}`).toBe('approval');
      system = await until((v) => v.pendingApproval !== null, 'an open approval request');
      const request = system.pendingApproval!;
      const link = await approvalLinkFor(request.approver, request.requestId);
      const first = approvers.length === 0;
      if (first) {
        // The first approval goes to the risk owner named in the registration.
        expect(request.approver).toBe(RISK_OWNER);
        // The link points at this product (PUBLIC_BASE_URL unset: http://localhost:$PORT).
        expect(link.startsWith(`http://localhost:${port}/approvals/`), link).toBe(true);
      }

      // Opening the link shows the request and decides nothing (mail scanners open links too).
      const page = await http(link);
      expect(page.status, page.text).toBe(200);
      expect(page.text).toContain(SYSTEM_NAME);
      const afterGet = await getSystem();
      expect(afterGet.stage).toBe('approval');
      expect(afterGet.pendingApproval?.requestId).toBe(request.requestId);
      expect(afterGet.decisions).toHaveLength(approvers.length);

      const comment = first ? COMMENT : `Approved, step ${request.step}.`;
      const decided = await http(link, form({ decision: 'approve', comment, csrf: csrfFrom(page.text) }));
      expect(decided.status, decided.text).toBe(200);
      expect(decided.text).toContain(`You approved ${SYSTEM_NAME}`);
      expect(decided.text).toContain(`<a href="/systems/${SYSTEM_ID}">See the system page</a>`);
      approvers.push(request.approver);
      if (first) {
        riskOwnerLink = link;
        riskOwnerCsrf = csrfFrom(page.text);
      }
      system = await until((v) => v.pendingApproval?.requestId !== request.requestId, 'the decision to be taken in');
    }

    expect(system).toMatchObject({ stage: 'active', riskTier: 'high' });
    expect(system.reviewDueAt).toEqual(expect.any(String));
    // High risk: reviewed every N calendar months from approval (policy/default.json).
    const cadence = JSON.parse(await readFile(defaultPolicyPath, 'utf8')).reviewCadence.high as string;
    const expectedDue = addCadence(new Date(system.approvedAt!), cadence);
    expect(Math.abs(Date.parse(system.reviewDueAt!) - expectedDue.getTime())).toBeLessThan(4 * 24 * 3600_000);
    // A high-risk system needs more than the risk owner (policy approvalChains.high), by e-mail like the first.
    expect(approvers.length).toBeGreaterThanOrEqual(2);
    expect(approvers).toContain(GOVERNANCE_LEAD);
    expect(system.decisions.map((d) => [d.approver, d.decision])).toEqual(approvers.map((a) => [a, 'approve']));
    expect(system.decisions[0]!.comment).toBe(COMMENT);

    // The owner is told, again over SMTP.
    const outcome = await waitForMail((m) => m.to.includes(OWNER) && m.subject.includes(`Approved: ${SYSTEM_NAME}`));
    expect(outcome.text).toContain(system.reviewDueAt!.slice(0, 10));
    // Its link leads to the system page, HTML for a person, not the JSON of the API.
    expect(outcome.links).toEqual([`http://localhost:${port}/systems/${SYSTEM_ID}`]);
    const systemPage = await api(new URL(outcome.links[0]!).pathname);
    expect(systemPage.status, systemPage.text.slice(0, 500)).toBe(200);
    expect(systemPage.text).toMatch(/^<!doctype html>/i);
    expect(systemPage.text).toContain('<span id="waiting-on" data-stage="active">');

    // A link works once: the risk owner's second POST changes nothing.
    const second = await http(
      riskOwnerLink!,
      form({
        decision: 'reject',
        comment: 'changed my mind',
        csrf: riskOwnerCsrf!,
      }),
    );
    expect(second.text).toContain('Already decided');
    expect(second.text).toContain(`approve by ${RISK_OWNER}`);
    const after = await getSystem();
    expect(after.stage).toBe('active');
    expect(after.decisions).toEqual(system.decisions);

    approved = system;
  });

  it('stops on SIGINT without leaving the Temporal dev server behind, and resumes from DATA_DIR', async () => {
    if (!approved || !riskOwnerLink) throw new Error('the lifecycle test above did not get the system to active');
    const first = product!;
    expect(await isPortOpen(temporalPort), 'Temporal dev server listens while running').toBe(true);
    // The leftover check below can only fail if it sees the dev server while it runs.
    const running = processesMentioning(dataDir);
    if (running) expect(running.map((p) => p.cmdline).join('\n')).toContain('temporal server start-dev');

    first.child.kill('SIGINT');
    const exit = await first.waitForExit(STOP_TIMEOUT_MS);
    expect(exit, `no exit within ${STOP_TIMEOUT_MS / 1000} s of SIGINT\n${first.tail()}`).toBeDefined();
    expect(exit!.code === 0 || exit!.signal === 'SIGINT', `exit ${JSON.stringify(exit)}\n${first.tail()}`).toBe(true);
    expect(await isPortOpen(temporalPort), `Temporal dev server port ${temporalPort} still open\n${first.tail()}`).toBe(
      false,
    );
    expect(await isPortOpen(port), `API port ${port} still open`).toBe(false);
    const leftovers = processesMentioning(dataDir);
    if (leftovers) {
      expect(leftovers, `processes still using DATA_DIR after exit ${JSON.stringify(exit)}\n${first.tail()}`).toEqual(
        [],
      );
    }

    const messagesBefore = mailbox.messages().length;
    const banner = await start();

    // The key is not printed again: the banner says where it is, it still works, and a fresh link signs in.
    expect(banner.adminKey).toBeUndefined();
    expect(banner.adminKeyFile).toBe(join(dataDir, 'admin-api-key'));
    expect(product!.output()).not.toContain(adminKey);
    expect((await readFile(banner.adminKeyFile, 'utf8')).trim()).toBe(adminKey);
    const me = await api('/api/v1/me', { headers: { authorization: `Bearer ${adminKey}` } });
    expect(me.status, me.text).toBe(200);
    expect(me.json).toMatchObject({ role: 'admin' });
    expect(banner.signInLink).not.toBe(firstBanner.signInLink);
    const dashboard = await http(`${baseUrl}/`, { headers: { cookie: await sessionFrom(banner.signInLink, baseUrl) } });
    expect(dashboard.status).toBe(200);
    expect(dashboard.text).toContain(SYSTEM_NAME);

    const system = await getSystem();
    expect(system).toMatchObject({ id: SYSTEM_ID, stage: 'active', riskTier: 'high' });
    expect(system.approvedAt).toBe(approved.approvedAt);
    expect(system.reviewDueAt).toBe(approved.reviewDueAt);
    expect(system.decisions).toEqual(approved.decisions);
    expect(system.transitions).toEqual(approved.transitions);

    // Temporal remembers the registration, the record store remembers the used link.
    const again = await api('/api/v1/systems', json('POST', registration));
    expect(again.status, again.text).toBe(409);
    const page = await http(riskOwnerLink);
    expect(page.text).toContain('Already decided');
    // Resuming does not ask for the decided approvals again.
    const resent = mailbox
      .messages()
      .slice(messagesBefore)
      .filter((m) => m.subject.includes('Approval needed'));
    expect(resent.map((m) => `${m.to.join(',')}: ${m.subject}`)).toEqual([]);
  });
});

describe('npm start refuses bad configuration', () => {
  let dir: string;
  let product: ProductProcess | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ai-impact-e2e-config-'));
  });
  afterAll(async () => {
    await forceStop(product, dir ?? 'ai-impact-e2e-never-matches');
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  async function startExpectingFailure(vars: Record<string, string>) {
    product = spawnProduct(
      productEnv({
        DATA_DIR: join(dir, 'data'),
        PORT: String(await getFreePort()),
        TEMPORAL_DEV_PORT: String(await getFreePort()),
        TEMPORAL_UI_PORT: '0',
        LOG_LEVEL: 'warn',
        SMTP_URL: 'smtp://127.0.0.1:1',
        ...vars,
      }),
    );
    const exit = await product.waitForExit(30_000);
    expect(exit, `still running 30 s after start\n${product.tail()}`).toBeDefined();
    expect(exit, product.tail()).toEqual({ code: 2, signal: null });
    const output = product.output();
    expect(output, 'a configuration message, not a stack trace').not.toMatch(/^\s+at /m);
    expect(output, 'stops before starting Temporal').not.toContain('Temporal dev server at');
    return output;
  }

  it('exits 2 naming the variable when an environment variable is invalid', async () => {
    const output = await startExpectingFailure({ PORT: 'abc' });
    expect(output).toContain('Invalid configuration');
    expect(output).toMatch(/(^|\s)PORT: /m);
    expect(output, 'only PORT is wrong').not.toMatch(/TEMPORAL_DEV_PORT: /);
  });

  it('exits 2 naming the file and field when the policy file is invalid', async () => {
    const policy = JSON.parse(await readFile(defaultPolicyPath, 'utf8'));
    policy.reviewCadence.high = '0mo';
    const policyPath = join(dir, 'bad-policy.json');
    await writeFile(policyPath, JSON.stringify(policy, null, 2));
    const output = await startExpectingFailure({ POLICY_PATH: policyPath });
    expect(output).toContain(policyPath);
    expect(output).toContain('reviewCadence.high');
    expect(output, 'no other field is blamed').not.toMatch(/reviewCadence\.(low|medium)/);
  });
});
