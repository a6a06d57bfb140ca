/**
 * The `ai-lifecycle` CLI as a CI job runs it: the real binary (`node cli/bin.mjs`, package.json "bin"), from a
 * working directory outside the project, against the real product (embedded/start.ts with its own Temporal dev
 * server, PGlite and API, mailing a real SMTP server this test owns). Approvers decide by following the e-mailed
 * links over HTTP, as in test/e2e.test.ts. Every command authenticates as the README has it: the admin key that
 * `npm start` printed makes the AI team's key, and AI_LIFECYCLE_API_KEY carries a key to the CLI.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getFreePort } from '../embedded/dev-server.js';
import { startDevMailbox, type DevMailbox } from '../embedded/dev-mailbox.js';
import { example, registrationFor } from './support/examples.js';
import { csrfFrom } from './support/lifecycle-env.js';
import { outcomeOf, type SystemView } from '../cli/view.js';
import {
  PROJECT_ROOT,
  adminKeyOf,
  forceStop,
  productEnv,
  spawnProduct,
  waitUntilHealthy,
  type ProductProcess,
} from './support/product-process.js';
import { tokenRequest } from './support/walk.js';

const BIN = join(PROJECT_ROOT, 'cli', 'bin.mjs');
const START_TIMEOUT_MS = 90_000;
const SYSTEM_ID = 'cv-screening';
const REJECTED_ID = 'cv-screening-rejected';
const RISK_OWNER: string = example('register.json').riskOwner;
const OWNER: string = example('register.json').owner;
const GOVERNANCE_LEAD = 'governance-lead@cli.example.org';
/** The AI team's team: its key registers the systems, so they belong to it. */
const TEAM = 'recruiting';
/** A key of the right shape that no server knows: for the servers in this file that are not the product. */
const UNKNOWN_KEY = `ail_00000000_${'x'.repeat(43)}`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * The real binary, from `cwd` (a temp dir outside the project), with AI_LIFECYCLE_URL and AI_LIFECYCLE_API_KEY
 * unset unless given.
 * `onStderr` hears stderr as it comes (wait's progress lines), before the run ends.
 */
function runCli(
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; onStderr?: (text: string) => void },
): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  for (const name of ['AI_LIFECYCLE_URL', 'AI_LIFECYCLE_API_KEY']) if (!opts.env?.[name]) delete env[name];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: opts.cwd, env, timeout: 120_000, maxBuffer: 8 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        if (typeof code !== 'number') {
          reject(new Error(`ai-lifecycle ${args.join(' ')} did not exit normally: ${err?.message}\n${stderr}`));
          return;
        }
        resolve({ code, stdout, stderr, ms: Date.now() - started });
      },
    );
    if (opts.onStderr) {
      let seen = '';
      child.stderr?.on('data', (chunk: Buffer | string) => {
        seen += String(chunk);
        opts.onStderr!(seen);
      });
    }
  });
}

const show = (args: string[], r: Run) =>
  `ai-lifecycle ${args.join(' ')} → exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

describe('ai-lifecycle CLI against the running product', () => {
  let dataDir: string;
  let workDir: string;
  let mailbox: DevMailbox;
  let port: number;
  let baseUrl: string;
  let product: ProductProcess | undefined;
  /** The admin key `npm start` printed in its banner. */
  let adminKey: string;
  /** The AI team's key (the system owner's, role ai-team, team TEAM), made with the admin key: what `cli` sends. */
  let teamKey: string;

  /**
   * `ai-lifecycle --server <the product> …`, from the work dir, as the AI team (AI_LIFECYCLE_API_KEY = its key,
   * unless `env` names another); expects `code`, showing everything if not.
   */
  async function cli(
    args: string[],
    code: number,
    env?: Record<string, string>,
    onStderr?: (text: string) => void,
  ): Promise<Run> {
    const full = ['--server', baseUrl, ...args];
    const r = await runCli(full, { cwd: workDir, env: { AI_LIFECYCLE_API_KEY: teamKey, ...env }, onStderr });
    expect(r.code, `${show(full, r)}\n${r.code === 1 ? (product?.tail() ?? '') : ''}`).toBe(code);
    return r;
  }
  const statusJson = async (id: string) => JSON.parse((await cli(['status', id, '--json'], 0)).stdout);
  const file = async (name: string, content: unknown) => {
    await writeFile(join(workDir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return name;
  };

  /** Approver of the open request decides through the e-mailed link: GET shows the page, the form POST decides. */
  async function decideByLink(id: string, decision: 'approve' | 'reject', comment: string, approver: string) {
    let view = await statusJson(id);
    for (let i = 0; !view.pendingApproval && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 200));
      view = await statusJson(id);
    }
    expect(view.pendingApproval, JSON.stringify(view)).toMatchObject({ approver });
    const requestId: string = view.pendingApproval.requestId;
    const isLink = (l: string) => l.includes('/approvals/') && tokenRequest(l) === requestId;
    const mail = await mailbox.waitFor((m) => m.to.includes(approver) && m.links.some(isLink), { timeoutMs: 30_000 });
    const link = mail.links.find(isLink)!;
    const page = await fetch(link, { signal: AbortSignal.timeout(30_000) });
    const html = await page.text();
    expect(page.status, html).toBe(200);
    const res = await fetch(link, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ decision, comment, csrf: csrfFrom(html) }).toString(),
      signal: AbortSignal.timeout(30_000),
    });
    const answer = await res.text();
    expect(res.status, answer).toBe(200);
    // The decision reaches the workflow asynchronously: wait until the request is no longer the open one.
    for (let i = 0; i < 150; i++) {
      view = await statusJson(id);
      if (view.pendingApproval?.requestId !== requestId) return view;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`the ${decision} of ${requestId} was not taken in: ${JSON.stringify(view)}`);
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ai-impact-cli-data-'));
    workDir = await mkdtemp(join(tmpdir(), 'ai-impact-cli-work-'));
    mailbox = await startDevMailbox({ port: 0 });
    port = await getFreePort();
    baseUrl = `http://127.0.0.1:${port}`;
    product = spawnProduct(
      productEnv({
        DATA_DIR: dataDir,
        PORT: String(port),
        TEMPORAL_DEV_PORT: String(await getFreePort()),
        TEMPORAL_UI_PORT: '0',
        LOG_LEVEL: 'warn',
        SMTP_URL: mailbox.url,
        GOVERNANCE_LEAD_EMAIL: GOVERNANCE_LEAD,
      }),
    );
    await waitUntilHealthy(product, baseUrl, START_TIMEOUT_MS);
    adminKey = await adminKeyOf(product);
    const made = await fetch(`${baseUrl}/api/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ML team', email: OWNER, role: 'ai-team', team: TEAM }),
    });
    const madeText = await made.text();
    expect(made.status, madeText).toBe(201);
    teamKey = JSON.parse(madeText).key;
    for (const name of ['register.json', 'impact-assessment.json', 'bias-evidence.json', 'treatment-plan.json']) {
      await file(name, example(name));
    }
    // Actors come from the credential: without notifiedBy, the server records the key's holder.
    const { notifiedBy: _notifiedBy, ...notification } = example<Record<string, unknown>>('fria-notification.json');
    await file('fria-notification.json', notification);
    await file('fria-by-someone-else.json', { ...notification, notifiedBy: RISK_OWNER });
  }, START_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    await forceStop(product, dataDir ?? 'ai-impact-cli-never-matches');
    await mailbox?.stop();
    for (const dir of [dataDir, workDir]) if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('documents its commands and exit codes in --help', async () => {
    const r = await cli(['--help'], 0);
    for (const command of [
      'register',
      'assess',
      'evidence',
      'plan',
      'new-version',
      'status',
      'wait',
      'fria',
      'whoami',
      'keys create',
      'keys list',
      'keys revoke',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
    expect(r.stdout).toContain('AI_LIFECYCLE_API_KEY');
    for (const code of [0, 1, 2, 3, 4, 5]) expect(r.stdout).toMatch(new RegExp(`^  ${code}  \\S`, 'm'));
    expect(r.stdout).toMatch(/^ {2}3 {2}wait: sent back/m);
    expect(r.stdout).toMatch(/^ {2}5 {2}wait: no outcome within --timeout/m);

    const unknown = await cli(['frobnicate'], 2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const misplaced = await cli(['status', SYSTEM_ID, '--timeout', '5s'], 2);
    expect(misplaced.stderr).toContain('status takes no --timeout');
  });

  describe('bad input is refused before any request', () => {
    let counter: Server;
    let requests: string[];
    let counterUrl: string;
    beforeAll(async () => {
      requests = [];
      counter = createServer((req, res) => {
        requests.push(`${req.method} ${req.url}`);
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'internal', message: 'the counting server answers 500' }));
      });
      await new Promise<void>((r) => counter.listen(0, '127.0.0.1', r));
      counterUrl = `http://127.0.0.1:${(counter.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => counter.close(() => r())));
    const offline = (args: string[], env: Record<string, string> = { AI_LIFECYCLE_API_KEY: UNKNOWN_KEY }) =>
      runCli(['--server', counterUrl, ...args], { cwd: workDir, env });

    it('exits 2 naming the missing file, the JSON position and the fields, and sends nothing', async () => {
      const missing = await offline(['register', 'no-such-file.json']);
      expect(missing.code, show(['register', 'no-such-file.json'], missing)).toBe(2);
      expect(missing.stderr).toContain('cannot read no-such-file.json: no such file');
      expect(missing.stdout).toBe('');

      await file('broken.json', '{\n  "id": "cv-screening",\n  "name": ,\n}\n');
      const broken = await offline(['register', 'broken.json']);
      expect(broken.code, show(['register', 'broken.json'], broken)).toBe(2);
      expect(broken.stderr).toContain('broken.json is not valid JSON: unexpected "," at line 3, column 11');

      await file('bad-registration.json', {
        ...example<Record<string, unknown>>('register.json'),
        owner: 'not-an-address',
        stakeholders: [],
      });
      const invalid = await offline(['register', 'bad-registration.json']);
      expect(invalid.code, show(['register', 'bad-registration.json'], invalid)).toBe(2);
      expect(invalid.stderr).toContain('bad-registration.json is not a valid registration');
      expect(invalid.stderr).toMatch(/^ {2}owner: must be an e-mail address$/m);
      expect(invalid.stderr).toMatch(/^ {2}stakeholders: name at least one group of affected stakeholders$/m);
      expect(invalid.stderr, 'valid fields are not blamed').not.toMatch(/^ {2}(id|name|purpose|model)\b/m);

      const assessment = example('impact-assessment.json');
      assessment.impacts[1].severity = 'apocalyptic';
      await file('bad-assessment.json', assessment);
      const asJson = await offline(['assess', SYSTEM_ID, 'bad-assessment.json', '--json']);
      expect(asJson.code, show(['assess', '--json'], asJson)).toBe(2);
      const body = JSON.parse(asJson.stdout);
      expect(body).toMatchObject({ error: 'invalid_file', file: 'bad-assessment.json' });
      expect(body.issues.map((i: { path: string }) => i.path)).toEqual(['impacts.1.severity']);

      // new-version checks each evidence file against --version before announcing anything.
      const mismatch = await offline([
        'new-version',
        SYSTEM_ID,
        '--version',
        '9.9.9',
        '--by',
        OWNER,
        '--summary',
        'retrained',
        '--evidence',
        'bias-evidence.json',
      ]);
      expect(mismatch.code, show(['new-version', '--evidence'], mismatch)).toBe(2);
      expect(mismatch.stderr).toContain('bias-evidence.json is evidence for model version 2.3.0, not --version 9.9.9');

      expect(requests, 'no request reached the server').toEqual([]);
      // The counting server does count: a command that gets past its checks is seen (and its 500 is exit 1).
      const seen = await offline(['status', SYSTEM_ID]);
      expect(seen.code, show(['status'], seen)).toBe(1);
      expect(requests).toEqual([`GET /api/v1/systems/${SYSTEM_ID}`]);
    });

    it('without an API key exits 2 saying to set AI_LIFECYCLE_API_KEY and where the admin key is, sending nothing', async () => {
      const before = requests.length;
      for (const args of [['status', SYSTEM_ID], ['keys', 'list'], ['whoami'], ['register', 'register.json']]) {
        const r = await offline(args, {});
        expect(r.code, show(args, r)).toBe(2);
        expect(r.stderr).toContain('no API key: set AI_LIFECYCLE_API_KEY');
        expect(r.stderr).toContain('$DATA_DIR/admin-api-key');
      }
      const asJson = await offline(['status', SYSTEM_ID, '--json'], {});
      expect(JSON.parse(asJson.stdout)).toMatchObject({ error: 'no_api_key' });
      // A bad file is still named first: the key is only needed to send.
      const missing = await offline(['register', 'no-such-file.json'], {});
      expect(missing.stderr).toContain('cannot read no-such-file.json');
      expect(requests.slice(before), 'no request without a key').toEqual([]);

      // The key goes as a bearer token, from the variable or from --api-key.
      const headers: (string | undefined)[] = [];
      counter.on('request', (req) => headers.push(req.headers.authorization));
      await offline(['status', SYSTEM_ID]);
      await offline(['--api-key', `${UNKNOWN_KEY}2`, 'status', SYSTEM_ID], {});
      expect(headers).toEqual([`Bearer ${UNKNOWN_KEY}`, `Bearer ${UNKNOWN_KEY}2`]);
    });
  });

  it('exits 1 with the address and the reason when the server is unreachable', async () => {
    const closed = `http://127.0.0.1:${await getFreePort()}`;
    const r = await runCli(['--server', closed, 'status', SYSTEM_ID], {
      cwd: workDir,
      env: { AI_LIFECYCLE_API_KEY: UNKNOWN_KEY },
    });
    expect(r.code, show(['status'], r)).toBe(1);
    expect(r.stderr).toContain(`cannot reach ${closed}: ECONNREFUSED`);

    // The server can come from AI_LIFECYCLE_URL; --json answers with one JSON object even then.
    const viaEnv = await runCli(['register', 'register.json', '--json'], {
      cwd: workDir,
      env: { AI_LIFECYCLE_URL: closed, AI_LIFECYCLE_API_KEY: UNKNOWN_KEY },
    });
    expect(viaEnv.code, show(['register', '--json'], viaEnv)).toBe(1);
    expect(JSON.parse(viaEnv.stdout)).toEqual({
      error: 'unreachable',
      message: `cannot reach ${closed}: ECONNREFUSED`,
    });
  });

  it('registers a system once; a duplicate, a wrong stage and an unknown id exit 2 with the reason', async () => {
    const r = await cli(['register', 'register.json'], 0);
    expect(r.stdout).toContain(`registered ${SYSTEM_ID}: stage impact_assessment`);

    const again = await cli(['register', 'register.json'], 2);
    expect(again.stderr).toContain(`an AI system with id ${SYSTEM_ID} is already registered`);
    const againJson = await cli(['register', 'register.json', '--json'], 2);
    expect(JSON.parse(againJson.stdout)).toMatchObject({ error: 'already_registered', status: 409 });

    // 409 wrong stage: the message and the current stage.
    const early = await cli(['plan', SYSTEM_ID, 'treatment-plan.json'], 2);
    expect(early.stderr).toMatch(/^error: .*treatment plan/im);
    expect(early.stderr).toContain('current stage: impact_assessment');

    const unknown = await cli(['status', 'no-such-system'], 2);
    expect(unknown.stderr).toContain('no AI system with id no-such-system');
  });

  it('keys: an admin creates a key shown once, lists it without the secret, revokes it, and it no longer signs in', async () => {
    const asAdmin = { AI_LIFECYCLE_API_KEY: adminKey };
    const me = await cli(['whoami'], 0, asAdmin);
    expect(me.stdout).toMatch(/^admin@localhost\.localdomain: role admin \(key:ak_\w+, via api key\)$/m);

    const created = await cli(
      [
        'keys',
        'create',
        '--name',
        'Recruiting CI',
        '--email',
        'ci@cli.example.org',
        '--role',
        'ai-team',
        '--team',
        TEAM,
        '--expires',
        '2099-01-01T00:00:00Z',
      ],
      0,
      asAdmin,
    );
    const key = /^ {2}(ail_[a-z0-9]{8}_[A-Za-z0-9_-]{43})$/m.exec(created.stdout)?.[1];
    expect(key, created.stdout).toBeDefined();
    expect(created.stdout).toContain('This is the only time the key is shown');
    const id = /^ {2}id {7}(ak_[a-z0-9]+)$/m.exec(created.stdout)?.[1];
    const prefix = /^ {2}prefix {3}(ail_[a-z0-9]{8})$/m.exec(created.stdout)?.[1];
    expect(id, created.stdout).toBeDefined();
    expect(key!.startsWith(`${prefix}_`), `${prefix} is the start of the key`).toBe(true);
    expect(created.stdout).toContain('expires  2099-01-01T00:00:00.000Z');

    // The new key works, within its team.
    const ci = { AI_LIFECYCLE_API_KEY: key! };
    expect((await cli(['whoami'], 0, ci)).stdout).toContain(
      `ci@cli.example.org: role ai-team, team ${TEAM} (key:${id}`,
    );
    expect((await cli(['status', SYSTEM_ID], 0, ci)).stdout).toContain(`${SYSTEM_ID} — `);

    // Listed with prefix, holder, role, team and expiry, never the secret.
    const list = await cli(['keys', 'list'], 0, asAdmin);
    expect(list.stdout).toMatch(/^id +prefix +name +e-mail +role +team +created +expires +revoked +last used$/m);
    const row = list.stdout.split('\n').find((l) => l.startsWith(`${id} `));
    expect(row, list.stdout).toBeDefined();
    for (const cell of [prefix!, 'Recruiting CI', 'ci@cli.example.org', 'ai-team', TEAM, '2099-01-01 00:00Z']) {
      expect(row).toContain(cell);
    }
    expect(row, 'just used by whoami and status').not.toMatch(/—$/);
    expect(list.stdout).not.toContain(key!);
    const listed = JSON.parse((await cli(['keys', 'list', '--json'], 0, asAdmin)).stdout);
    const entry = listed.keys.find((k: { id: string }) => k.id === id);
    expect(entry).toMatchObject({ prefix, email: 'ci@cli.example.org', role: 'ai-team', team: TEAM, revokedAt: null });
    expect(JSON.stringify(listed)).not.toContain(key!.slice(prefix!.length + 1));
    expect(Object.keys(entry)).not.toContain('key');

    // Only an admin manages keys: the server's 403 is printed as it is.
    const forbidden = await cli(['keys', 'list'], 2, ci);
    expect(forbidden.stderr).toContain('needs the role admin; this credential has the role ai-team');
    // Another team's key sees no such system (404, not 403).
    const other = JSON.parse(
      (
        await cli(
          [
            'keys',
            'create',
            '--name',
            'Other',
            '--email',
            'x@cli.example.org',
            '--role',
            'ai-team',
            '--team',
            'other-team',
            '--json',
          ],
          0,
          asAdmin,
        )
      ).stdout,
    );
    expect(other.key).toMatch(/^ail_/);
    const hidden = await cli(['status', SYSTEM_ID], 2, { AI_LIFECYCLE_API_KEY: other.key });
    expect(hidden.stderr).toContain(`no AI system with id ${SYSTEM_ID}`);
    // How the flags go together is the server's rule, told in flags.
    const noTeam = await cli(
      ['keys', 'create', '--name', 'N', '--email', 'n@cli.example.org', '--role', 'ai-team'],
      2,
      asAdmin,
    );
    expect(noTeam.stderr).toMatch(/^ {2}--team: is required for the ai-team role$/m);
    const badRole = await cli(
      ['keys', 'create', '--name', 'N', '--email', 'n@cli.example.org', '--role', 'boss'],
      2,
      asAdmin,
    );
    expect(badRole.stderr).toMatch(/^ {2}--role: /m);

    const revoked = await cli(['keys', 'revoke', id!], 0, asAdmin);
    expect(revoked.stdout).toContain(`revoked ${id} (${prefix}…, Recruiting CI, ci@cli.example.org)`);
    const refused = await cli(['whoami', '--json'], 2, ci);
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: 'unauthenticated', status: 401 });
    const refusedText = await cli(['status', SYSTEM_ID], 2, ci);
    expect(refusedText.stderr).toContain('the API key is unknown, revoked or expired');
    expect(refusedText.stderr).toContain('AI_LIFECYCLE_API_KEY');
    const after = JSON.parse((await cli(['keys', 'list', '--json'], 0, asAdmin)).stdout);
    expect(after.keys.find((k: { id: string }) => k.id === id).revokedAt).toEqual(expect.any(String));
    const unknownKey = await cli(['keys', 'revoke', 'ak_nosuchkey'], 2, asAdmin);
    expect(unknownKey.stderr).toContain('no API key with id ak_nosuchkey');
  });

  it('takes the assessment, evidence and plan from the examples to approval; wait times out with 5', async () => {
    const assessed = await cli(['assess', SYSTEM_ID, 'impact-assessment.json'], 0);
    expect(assessed.stdout).toContain('risk tier high');
    expect(assessed.stdout).toContain('stage bias_testing');

    // A 422 from the server (evidence for another model version) names the field, exit 2.
    await file('evidence-other-version.json', {
      ...example<Record<string, unknown>>('bias-evidence.json'),
      modelVersion: '9.9.9',
    });
    const refused = await cli(['evidence', SYSTEM_ID, 'evidence-other-version.json'], 2);
    expect(refused.stderr).toContain("body.modelVersion: must be the system's current model version 2.3.0");

    const evidence = await cli(['evidence', SYSTEM_ID, 'bias-evidence.json'], 0);
    expect(evidence.stdout).toContain('all metrics within thresholds');
    expect(evidence.stdout).toContain('stage risk_treatment');
    const plan = await cli(['plan', SYSTEM_ID, 'treatment-plan.json'], 0);
    expect(plan.stdout).toContain('stage approval');

    const view = await statusJson(SYSTEM_ID);
    expect(view).toMatchObject({ id: SYSTEM_ID, stage: 'approval', riskTier: 'high' });
    expect(view.evidence.failed).toEqual([]);

    const human = await cli(['status', SYSTEM_ID], 0);
    expect(human.stdout).toMatch(/^ {2}stage +approval$/m);
    expect(human.stdout).toMatch(/^ {2}risk tier +high /m);
    expect(human.stdout).toMatch(/^ {2}model +cv-ranker 2\.3\.0$/m);
    expect(human.stdout).toMatch(/tested 2026-11-20: all metrics within thresholds/);
    expect(view.pendingApproval).toMatchObject({ approver: RISK_OWNER, step: 1, of: 2 });
    expect(human.stdout).toMatch(
      new RegExp(`^ {2}pending approval +${RISK_OWNER} \\(risk owner\\), step 1 of 2, .*requested \\d+s ago$`, 'm'),
    );

    const timedOut = await cli(['wait', SYSTEM_ID, '--timeout', '2s', '--interval', '500ms'], 5);
    expect(timedOut.ms).toBeGreaterThanOrEqual(2_000);
    expect(timedOut.stdout).toContain(`timed out after 2s: ${SYSTEM_ID} is in stage approval`);
    const timedOutJson = await cli(['wait', SYSTEM_ID, '--timeout', '1s', '--json'], 5);
    expect(JSON.parse(timedOutJson.stdout)).toMatchObject({ id: SYSTEM_ID, outcome: 'timeout', exitCode: 5 });
  });

  it('wait exits 0 once both e-mailed approvals and the FRIA notification are in', async () => {
    let settled = false;
    // wait prints a progress line on stderr whenever the stage or the pending approver it sees changes.
    let sawFriaStep!: () => void;
    const friaStepSeen = new Promise<void>((resolve) => (sawFriaStep = resolve));
    const waiting = cli(['wait', SYSTEM_ID, '--timeout', '100s', '--interval', '300ms'], 0, undefined, (stderr) => {
      if (stderr.includes(`${SYSTEM_ID}: fria_notification`)) sawFriaStep();
    }).finally(() => {
      settled = true;
      sawFriaStep(); // wait ended without that line: the check below fails
    });

    await decideByLink(SYSTEM_ID, 'approve', 'Approved: recruiters keep reading every application.', RISK_OWNER);
    const afterChain = await decideByLink(SYSTEM_ID, 'approve', 'Approved for the governance board.', GOVERNANCE_LEAD);
    // A high-risk deployer notifies the authority before going live: approved, but not active yet.
    expect(afterChain.stage).toBe('fria_notification');
    // Once wait has seen this stage (its progress line says so), it must keep waiting through it.
    await friaStepSeen;
    expect(settled, 'wait must not finish before the system is active').toBe(false);

    // A file naming someone else as the actor is refused by the server; left out, it is the key's holder.
    const someoneElse = await cli(['fria', SYSTEM_ID, 'fria-by-someone-else.json'], 2);
    expect(someoneElse.stderr).toMatch(
      /^ {2}body\.notifiedBy: must be the authenticated caller \(ml-team-lead@example\.org\)/m,
    );
    const fria = await cli(['fria', SYSTEM_ID, 'fria-notification.json'], 0);
    expect(fria.stdout).toContain('stage active');

    const done = await waiting;
    expect(done.stdout).toContain(`${SYSTEM_ID} is approved: stage active`);
    expect(done.stderr, 'progress on stderr').toContain(`${SYSTEM_ID}: approval, waiting for ${RISK_OWNER}`);

    const again = await cli(['wait', SYSTEM_ID, '--json'], 0);
    const outcome = JSON.parse(again.stdout);
    expect(outcome).toMatchObject({ id: SYSTEM_ID, outcome: 'approved', exitCode: 0, stage: 'active' });
    expect(outcome.reviewDueAt).toEqual(expect.any(String));

    const human = await cli(['status', SYSTEM_ID], 0);
    expect(human.stdout).toMatch(new RegExp(`^ {2}review due +${outcome.reviewDueAt.slice(0, 10)}$`, 'm'));
    expect(human.stdout).toContain(`approve by ${GOVERNANCE_LEAD}`);
  });

  it('wait exits 3 with the comment when an approver rejects through the link', async () => {
    await file('register-rejected.json', registrationFor(REJECTED_ID));
    await cli(['register', 'register-rejected.json'], 0);
    await cli(['assess', REJECTED_ID, 'impact-assessment.json'], 0);
    await cli(['evidence', REJECTED_ID, 'bias-evidence.json'], 0);
    await cli(['plan', REJECTED_ID, 'treatment-plan.json'], 0);

    const comment = 'Rejected: the age-band disparity needs a new training set first.';
    const view = await decideByLink(REJECTED_ID, 'reject', comment, RISK_OWNER);
    expect(view.stage).toBe('impact_assessment');

    const r = await cli(['wait', REJECTED_ID, '--timeout', '20s', '--interval', '300ms'], 3);
    expect(r.stdout).toContain(`${REJECTED_ID} was sent back to impact_assessment: reject by ${RISK_OWNER}`);
    expect(r.stdout).toContain(`comment: ${comment}`);
    const asJson = JSON.parse((await cli(['wait', REJECTED_ID, '--json'], 3)).stdout);
    expect(asJson).toMatchObject({ outcome: 'sent_back', exitCode: 3, stage: 'impact_assessment', comment });
  });

  it('new-version with an evidence file takes the active system back through bias testing to approval', async () => {
    // Evidence as a CI job writes it: no modelVersion (filled in from --version) or submittedBy, and no --by:
    // the server records the key's holder.
    await file('metrics.json', {
      effectiveDate: new Date().toISOString().slice(0, 10),
      dataset: 'Hold-out set of 2026 applications',
      // Every metric the policy requires of a high-tier system, for each registered feature.
      metrics: example('bias-evidence.json').metrics,
    });
    const args = [
      'new-version',
      SYSTEM_ID,
      '--version',
      '2.4.0',
      '--unchanged',
      '--summary',
      'Retrained with age-band re-weighting.',
      '--evidence',
      'metrics.json',
      '--json',
    ];
    const r = await cli(args, 0);
    const body = JSON.parse(r.stdout);
    expect(body).toMatchObject({ id: SYSTEM_ID, modelVersion: '2.4.0', stage: 'approval' });
    expect(body.evidence).toHaveLength(1);
    expect(body.evidence[0]).toMatchObject({ file: 'metrics.json', failed: [], stage: 'approval' });
    expect(r.stderr).toContain(`model version 2.4.0 announced for ${SYSTEM_ID}; stage bias_testing`);

    const view = await statusJson(SYSTEM_ID);
    expect(view.stage).toBe('approval');
    expect(view.model.version).toBe('2.4.0');
    expect(view.evidence).toMatchObject({ version: 2, modelVersion: '2.4.0', failed: [] });
    expect(view.approvedDigest, 'the earlier approval no longer covers the system').toBeNull();

    // The same version twice is refused by the server (422), exit 2.
    const twice = await cli(args.slice(0, -3), 2);
    expect(twice.stderr).toContain('is already the current version');
    // And the CI job's wait is pending again.
    await cli(['wait', SYSTEM_ID, '--timeout', '1s'], 5);
  });
});

describe("wait's reading of a system's state (cli/view.ts outcomeOf)", () => {
  const t = (minute: number) => new Date(Date.UTC(2026, 10, 23, 12, minute)).toISOString();
  const transition = (minute: number, from: string | null, to: string, reason = 'why') => ({
    at: t(minute),
    from,
    to,
    reason,
  });
  const decision = (minute: number, kind: string, returnTo: string | null, comment = 'a comment') => ({
    requestId: `r${minute}`,
    decision: kind,
    returnTo,
    comment,
    approver: 'head-of-hr@example.org',
    decidedAt: t(minute),
  });
  const view = (stage: string, transitions: unknown[], decisions: unknown[] = []) =>
    ({ stage, transitions, decisions }) as unknown as SystemView;

  it('approved only when active; rejected and retired end it; fria_notification and work stages keep waiting', () => {
    expect(outcomeOf(view('active', [transition(1, 'fria_notification', 'active')]))).toEqual({
      outcome: 'approved',
      exitCode: 0,
    });
    expect(outcomeOf(view('fria_notification', [transition(1, 'approval', 'fria_notification')])).outcome).toBe(
      'pending',
    );
    // A new model version after approval: bias testing runs again, the job keeps waiting.
    expect(outcomeOf(view('bias_testing', [transition(1, 'active', 'bias_testing')])).outcome).toBe('pending');
    expect(outcomeOf(view('rejected', [transition(1, 'impact_assessment', 'rejected', 'prohibited')]))).toEqual({
      outcome: 'rejected',
      exitCode: 4,
      reason: 'prohibited',
    });
    expect(outcomeOf(view('retired', [transition(1, 'active', 'retired', 'replaced')]))).toMatchObject({
      outcome: 'retired',
      exitCode: 4,
    });
  });

  it('sent back: the decision of this approval round, never an older one', () => {
    const rejected = outcomeOf(
      view(
        'impact_assessment',
        [transition(1, 'risk_treatment', 'approval'), transition(3, 'approval', 'impact_assessment', 'reject by …')],
        [decision(2, 'reject', 'impact_assessment', 'not like this')],
      ),
    );
    expect(rejected).toMatchObject({ outcome: 'sent_back', exitCode: 3, decision: { comment: 'not like this' } });

    // Withdrawn by a newer model version: sent back, but an earlier round's "request changes" is not the reason.
    const superseded = outcomeOf(
      view(
        'bias_testing',
        [transition(5, 'risk_treatment', 'approval'), transition(6, 'approval', 'bias_testing', 'model version 2')],
        [decision(2, 'request_changes', 'bias_testing', 'old round')],
      ),
    );
    expect(superseded).toEqual({ outcome: 'sent_back', exitCode: 3, reason: 'model version 2', decision: null });
  });
});
