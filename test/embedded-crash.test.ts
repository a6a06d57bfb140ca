/**
 * `npm start` after a crash: the product is killed with SIGKILL in the middle
 * of a lifecycle, its Temporal dev server lives on as an orphan (holding its
 * ports and SQLite file), and the next start on the same DATA_DIR and ports
 * must just work: the orphan found through $DATA_DIR/temporal-dev-server.pid
 * and stopped, the lifecycles, record store and dev mailbox as they were, and
 * nothing e-mailed or recorded twice.
 *
 * Which pid is killed: `npm start` runs npm → sh → tsx CLI → node running
 * embedded/start.ts → temporal. spawnProduct runs `node --import tsx
 * embedded/start.ts`, the last node of that chain, so `product.pid` is the
 * process that owns the dev server (asserted below: it is its parent). Killing
 * npm or the tsx CLI alone orphans nothing (they die, start.ts runs on; the
 * next start then refuses because DATA_DIR is in use, also checked here); the
 * kill that leaves the dev server behind is the one of start.ts's node, by
 * `kill -9 <pid>`, `pkill -9 -f embedded/start.ts` or the OOM killer.
 *
 * Where in the lifecycle: the kill lands while one system waits on its first
 * approver (mail sent, reminder timers armed) and the other on its next
 * submission, with the worker's polls open; not inside an activity. Between
 * an SMTP 250 and the outbox row marked sent, a crash makes the retry send
 * again (at least once, with the same Message-ID), so a kill there would make
 * "no duplicate e-mails" a matter of luck rather than a property.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getFreePort } from '../embedded/dev-server.js';
import type { MailboxMessage } from '../embedded/dev-mailbox.js';
import { example, registrationFor } from './support/examples.js';
import { csrfFrom, pathOf } from './support/lifecycle-env.js';
import {
  adminKeyOf,
  devServersIn,
  forceStop,
  isPortOpen,
  pollFor,
  processInfo,
  processesMentioning,
  productEnv,
  spawnProduct,
  waitUntilHealthy,
  type ProductProcess,
} from './support/product-process.js';
import { tokenRequest } from './support/walk.js';

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const PID_FILE = 'temporal-dev-server.pid';
const GOVERNANCE_LEAD = 'governance-lead@crash.example.org';
/** Driven into its approval chain before the crash, and further after it. */
const ALPHA = 'crash-alpha';
/** Only assessed before the crash. */
const BETA = 'crash-beta';

interface SystemView {
  id: string;
  stage: string;
  pendingApproval: { requestId: string; approver: string; step: number } | null;
  transitions: { from: string | null; to: string; reason: string; at: string }[];
}

/** One row of the system page's audit trail. */
interface AuditRow {
  seq: number;
  type: string;
  what: string;
}

const json = (method: string, body: unknown): RequestInit => ({
  method,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** A Message-ID that arrived more than once, with its count. */
function repeatedMessageIds(mails: MailboxMessage[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const m of mails) {
    const key = m.messageId ?? `(no Message-ID) ${m.id}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].filter(([, n]) => n > 1);
}

const rowKey = (r: AuditRow) => `${r.type}: ${r.what}`;

describe('npm start after kill -9', () => {
  let dataDir: string;
  let port: number;
  let temporalPort: number;
  let uiPort: number;
  let baseUrl: string;
  let product: ProductProcess | undefined;
  const env = () =>
    productEnv({
      DATA_DIR: dataDir,
      PORT: String(port),
      TEMPORAL_DEV_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: String(uiPort),
      LOG_LEVEL: 'warn',
      GOVERNANCE_LEAD_EMAIL: GOVERNANCE_LEAD,
    });

  /** What the crash must not change, as seen just before it. */
  let before:
    | {
        alpha: SystemView;
        beta: SystemView;
        mails: MailboxMessage[];
        audit: Record<string, AuditRow[]>;
        orphanPid: number;
      }
    | undefined;
  let afterRestart: { alpha: SystemView } | undefined;
  /** The admin key the first start printed; it makes the AI team's key, which does the team's work. */
  let adminKey: string;
  let teamKey: string | undefined;

  const http = async (url: string, init?: RequestInit) => {
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(20_000) });
      const text = await res.text();
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: res.status, text, json: body };
    } catch (err) {
      throw new Error(`${init?.method ?? 'GET'} ${url}: ${(err as Error).message}\n${product?.tail()}`, { cause: err });
    }
  };
  /** With the AI team's key once it exists (the admin's before), unless `init` names its own. */
  const api = (path: string, init: RequestInit = {}) =>
    http(`${baseUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${teamKey ?? adminKey}`, ...(init.headers as Record<string, string>) },
    });
  const expectOk = async (path: string, init: RequestInit, status = 200) => {
    const res = await api(path, init);
    expect(res.status, `${init.method} ${path}: ${res.text}\n${product?.tail()}`).toBe(status);
    return res.json;
  };
  const view = async (id: string): Promise<SystemView> => {
    const res = await api(`/api/v1/systems/${id}`);
    expect(res.status, `GET /api/v1/systems/${id}: ${res.text}\n${product?.tail()}`).toBe(200);
    return res.json as SystemView;
  };
  const until = (id: string, ok: (v: SystemView) => boolean, what: string) =>
    pollFor(`${id}: ${what}\n${product?.tail()}`, async () => {
      const v = await view(id);
      return ok(v) ? v : undefined;
    });
  /** The dev mailbox through its own API, oldest first. */
  const mails = async (): Promise<MailboxMessage[]> => {
    // The dev mailbox holds live links: an admin's to read.
    const res = await api('/dev/mailbox/messages', { headers: { authorization: `Bearer ${adminKey}` } });
    expect(res.status, res.text).toBe(200);
    return (res.json as MailboxMessage[]).reverse();
  };
  const isApprovalLink = (requestId: string) => (l: string) =>
    l.includes('/approvals/') && tokenRequest(l) === requestId;
  /** The approval request mail for `requestId`, once it has arrived. */
  const approvalMail = (requestId: string) =>
    pollFor(`the approval mail for request ${requestId}\n${product?.tail()}`, async () =>
      (await mails()).find((m) => m.links.some(isApprovalLink(requestId))),
    );
  /** The audit trail and its integrity as the system page (GET /systems/:id) shows them. */
  const audit = async (id: string): Promise<{ rows: AuditRow[]; verified: boolean }> => {
    const page = await api(`/systems/${id}`);
    expect(page.status, page.text.slice(0, 500)).toBe(200);
    const rows = [
      ...page.text.matchAll(
        /<tr data-type="([^"]+)"[^>]*>\s*<td[^>]*class="num seq">(\d+)<\/td>[\s\S]*?<td data-label="What">([\s\S]*?)<\/td>/g,
      ),
    ].map((m) => ({ type: m[1]!, seq: Number(m[2]), what: m[3]! }));
    return { rows, verified: /id="chain-status"/.test(page.text) && /class="verify good"/.test(page.text) };
  };
  const pidFile = () => join(dataDir, PID_FILE);

  async function start(): Promise<ProductProcess> {
    const p = spawnProduct(env());
    product = p;
    await waitUntilHealthy(p, baseUrl, START_TIMEOUT_MS);
    // The admin key is made just after the API listens: the banner says it is there.
    adminKey = await adminKeyOf(p);
    return p;
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ai-impact-crash-'));
    port = await getFreePort();
    temporalPort = await getFreePort();
    uiPort = await getFreePort();
    baseUrl = `http://127.0.0.1:${port}`;
    await start();
    const registration = registrationFor(ALPHA);
    teamKey = (
      await expectOk(
        '/api/v1/keys',
        json('POST', { name: 'AI team', email: registration.owner, role: 'ai-team', team: 'crash-team' }),
        201,
      )
    ).key;
  }, START_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    await forceStop(product, dataDir ?? 'ai-impact-crash-never-matches');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('runs two systems, one of them into its approval chain, with a pid file naming its dev server', async () => {
    await expectOk('/api/v1/systems', json('POST', registrationFor(ALPHA)), 201);
    await expectOk('/api/v1/systems', json('POST', registrationFor(BETA)), 201);
    await expectOk(`/api/v1/systems/${ALPHA}/impact-assessment`, json('PUT', example('impact-assessment.json')));
    await expectOk(`/api/v1/systems/${ALPHA}/bias-evidence`, json('PUT', example('bias-evidence.json')));
    await expectOk(`/api/v1/systems/${ALPHA}/treatment-plan`, json('PUT', example('treatment-plan.json')));
    await expectOk(`/api/v1/systems/${BETA}/impact-assessment`, json('PUT', example('impact-assessment.json')));

    const alpha = await until(ALPHA, (v) => v.pendingApproval !== null, 'an open approval request');
    const beta = await until(BETA, (v) => v.stage === 'bias_testing', 'stage bias_testing');
    await approvalMail(alpha.pendingApproval!.requestId);

    const servers = devServersIn(dataDir);
    expect(servers, 'this test needs /proc to see the dev server').not.toBeNull();
    expect(
      servers!.map((s) => s.ppid),
      'one dev server, a child of the process this test will kill',
    ).toEqual([product!.pid]);
    const orphanPid = servers![0]!.pid;
    const record = JSON.parse(await readFile(pidFile(), 'utf8'));
    expect(record).toMatchObject({
      pid: orphanPid,
      ownerPid: product!.pid,
      port: temporalPort,
      uiPort,
      dbFile: join(dataDir, 'temporal.db'),
    });
    expect(Date.parse(record.startedAt)).not.toBeNaN();
    expect(statSync(pidFile()).mode & 0o777, 'pid file readable by its owner only').toBe(0o600);

    before = {
      alpha,
      beta,
      mails: await mails(),
      audit: { [ALPHA]: (await audit(ALPHA)).rows, [BETA]: (await audit(BETA)).rows },
      orphanPid,
    };
    expect(before.audit[ALPHA]!.length).toBeGreaterThan(0);
  });

  it('refuses a second start on the same DATA_DIR while the first runs, and leaves the first alone', async () => {
    if (!before) throw new Error('the test above did not get the systems running');
    const second = spawnProduct(env());
    const exit = await second.waitForExit(START_TIMEOUT_MS);
    expect(exit, `second start still running\n${second.tail()}`).toEqual({ code: 2, signal: null });
    expect(second.output()).toContain(`DATA_DIR: ${dataDir} is in use by another npm start`);
    expect(second.output()).toContain(`process ${product!.pid}`);
    expect(second.output(), 'a configuration message, not a stack trace').not.toMatch(/^\s+at /m);

    expect(processInfo(before.orphanPid)?.ppid, 'the running dev server was not touched').toBe(product!.pid);
    expect((await api('/healthz')).status).toBe(200);
    expect(JSON.parse(await readFile(pidFile(), 'utf8')).pid, 'nor its pid file').toBe(before.orphanPid);
  });

  it('after kill -9 the dev server is orphaned, and the next start stops it and resumes everything', async () => {
    if (!before) throw new Error('the first test did not get the systems running');
    const crashed = product!;
    crashed.child.kill('SIGKILL');
    expect(await crashed.waitForExit(10_000), crashed.tail()).toEqual({ code: null, signal: 'SIGKILL' });

    // The failure this issue is about, for real: the dev server survived, reparented, holding both ports.
    const orphan = processInfo(before.orphanPid);
    expect(orphan?.cmdline, 'the dev server outlived the killed product').toContain(' server start-dev ');
    expect(orphan!.ppid, 'orphaned: no longer the killed product’s child').not.toBe(crashed.pid);
    expect(await isPortOpen(temporalPort), `orphan holds TEMPORAL_DEV_PORT ${temporalPort}`).toBe(true);
    expect(await isPortOpen(uiPort), `orphan holds TEMPORAL_UI_PORT ${uiPort}`).toBe(true);
    expect(existsSync(pidFile()), 'the crash left the pid file').toBe(true);

    const restarted = await start();
    expect(restarted.output()).toContain(`Stopped the left-behind Temporal dev server (pid ${before.orphanPid})`);
    expect(processInfo(before.orphanPid)?.cmdline ?? '', 'the orphan is gone').not.toContain(dataDir);
    expect(
      devServersIn(dataDir)!.map((s) => s.ppid),
      'exactly one dev server, the new product’s',
    ).toEqual([restarted.pid]);
    const record = JSON.parse(await readFile(pidFile(), 'utf8'));
    expect(record).toMatchObject({ ownerPid: restarted.pid, pid: devServersIn(dataDir)![0]!.pid });

    // Temporal resumes both lifecycles where they were.
    const alpha = await view(ALPHA);
    expect(alpha.stage).toBe('approval');
    expect(alpha.pendingApproval).toEqual(before.alpha.pendingApproval);
    expect(alpha.transitions).toEqual(before.alpha.transitions);
    const beta = await view(BETA);
    expect(beta.stage).toBe(before.beta.stage);
    expect(beta.transitions).toEqual(before.beta.transitions);

    // PGlite reopened its data (the kill left postmaster.pid behind) and the audit trail is as it was.
    for (const id of [ALPHA, BETA]) {
      const { rows, verified } = await audit(id);
      expect(rows.slice(0, before.audit[id]!.length), `${id}: the records from before the crash`).toEqual(
        before.audit[id],
      );
      expect(verified, `${id}: hash chain verifies`).toBe(true);
    }
    // The dev mailbox kept every message it had acknowledged.
    const now = await mails();
    expect(now.map((m) => m.messageId)).toEqual(expect.arrayContaining(before.mails.map((m) => m.messageId)));
    expect(repeatedMessageIds(now)).toEqual([]);

    afterRestart = { alpha };
  });

  it('drives both systems further with nothing e-mailed or recorded twice', async () => {
    if (!before || !afterRestart) throw new Error('the restart test did not get there');
    const step1 = afterRestart.alpha.pendingApproval!;
    const link = (await approvalMail(step1.requestId)).links.find(isApprovalLink(step1.requestId))!;
    const page = await http(`${baseUrl}${pathOf(link)}`);
    expect(page.status, page.text.slice(0, 500)).toBe(200);
    const decided = await http(`${baseUrl}${pathOf(link)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        decision: 'approve',
        comment: 'Approved after the restart.',
        csrf: csrfFrom(page.text),
      }).toString(),
    });
    expect(decided.status, decided.text.slice(0, 500)).toBe(200);
    const alpha = await until(
      ALPHA,
      (v) => v.pendingApproval !== null && v.pendingApproval.requestId !== step1.requestId,
      'the second approval step',
    );
    expect(alpha.pendingApproval!.approver).toBe(GOVERNANCE_LEAD);
    await approvalMail(alpha.pendingApproval!.requestId);

    await expectOk(`/api/v1/systems/${BETA}/bias-evidence`, json('PUT', example('bias-evidence.json')));
    const beta = await until(BETA, (v) => v.stage === 'risk_treatment', 'stage risk_treatment');

    const all = await mails();
    expect(repeatedMessageIds(all), 'each e-mail delivered once').toEqual([]);
    for (const requestId of [step1.requestId, alpha.pendingApproval!.requestId]) {
      const asks = all.filter((m) => m.links.some(isApprovalLink(requestId)));
      expect(
        asks.map((m) => m.subject),
        `mails asking for request ${requestId}`,
      ).toHaveLength(1);
    }
    // Nothing arrived but what the steps after the restart caused.
    expect(all.slice(0, before.mails.length).map((m) => m.messageId)).toEqual(before.mails.map((m) => m.messageId));

    for (const [id, v] of [
      [ALPHA, alpha],
      [BETA, beta],
    ] as const) {
      const { rows, verified } = await audit(id);
      expect(verified, `${id}: hash chain verifies`).toBe(true);
      const keys = rows.map(rowKey);
      expect(
        keys.filter((k, i) => keys.indexOf(k) !== i),
        `${id}: audit records recorded twice`,
      ).toEqual([]);
      expect(
        rows.filter((r) => r.type === 'stage_changed').length,
        `${id}: one stage_changed record per transition`,
      ).toBe(v.transitions.length);
    }
    const decisions = (await audit(ALPHA)).rows.filter((r) => r.type === 'decision_recorded');
    expect(decisions, 'the one decision, once').toHaveLength(1);
  });

  it('stops on SIGINT leaving no dev server and no pid file', async () => {
    const p = product!;
    p.child.kill('SIGINT');
    const exit = await p.waitForExit(STOP_TIMEOUT_MS);
    expect(exit, `no exit within ${STOP_TIMEOUT_MS / 1000} s of SIGINT\n${p.tail()}`).toBeDefined();
    expect(exit!.code === 0 || exit!.signal === 'SIGINT', `exit ${JSON.stringify(exit)}\n${p.tail()}`).toBe(true);
    expect(processesMentioning(dataDir), `processes still using DATA_DIR\n${p.tail()}`).toEqual([]);
    expect(existsSync(pidFile()), 'a clean stop removes the pid file').toBe(false);
    expect(await isPortOpen(temporalPort)).toBe(false);
    expect(await isPortOpen(uiPort)).toBe(false);
  });
});

describe('npm start with a stale pid file and a port taken by another program', () => {
  let dir: string;
  let impostor: ChildProcess | undefined;
  let product: ProductProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ai-impact-crash-stale-'));
  });
  afterAll(async () => {
    await forceStop(product, join(dir ?? 'ai-impact-crash-never-matches', 'data'));
    impostor?.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('exits 2 naming TEMPORAL_DEV_PORT, drops the stale file and kills nothing', async () => {
    const dataDir = join(dir, 'data');
    const temporalPort = await getFreePort();
    // As close to our dev server as a stranger gets: a binary named temporal, `server start-dev`, listening on
    // the port. Only its --db-filename differs, so it is someone else's and must survive.
    const fakeCli = join(dir, 'temporal');
    await symlink(process.execPath, fakeCli);
    const script = `require('node:net').createServer().listen(${temporalPort}, '127.0.0.1', () => console.log('listening'))`;
    impostor = spawn(
      fakeCli,
      ['-e', script, 'server', 'start-dev', '--port', String(temporalPort), '--db-filename', join(dir, 'other.db')],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      impostor!.stdout!.on('data', (b: Buffer) => b.toString().includes('listening') && resolve());
      impostor!.once('exit', (code) => reject(new Error(`impostor exited (${code})`)));
    });
    await mkdir(dataDir, { recursive: true });
    await writeFile(
      join(dataDir, PID_FILE),
      JSON.stringify({
        pid: impostor.pid,
        // a live owner: the identity check, not the owner check, must decide
        ownerPid: process.pid,
        cliPath: fakeCli,
        host: '127.0.0.1',
        port: temporalPort,
        uiPort: null,
        dbFile: join(dataDir, 'temporal.db'),
        startedAt: new Date().toISOString(),
        startTicks: null,
      }),
    );

    product = spawnProduct(
      productEnv({
        DATA_DIR: dataDir,
        PORT: String(await getFreePort()),
        TEMPORAL_DEV_PORT: String(temporalPort),
        TEMPORAL_UI_PORT: '0',
        LOG_LEVEL: 'warn',
        SMTP_URL: 'smtp://127.0.0.1:1',
      }),
    );
    const exit = await product.waitForExit(START_TIMEOUT_MS);
    expect(exit, `still running\n${product.tail()}`).toEqual({ code: 2, signal: null });
    const output = product.output();
    expect(output).toContain(`TEMPORAL_DEV_PORT: port ${temporalPort} is in use by another program`);
    expect(output, 'a configuration message, not a stack trace').not.toMatch(/^\s+at /m);
    expect(output, 'nothing was stopped').not.toContain('Stopped the left-behind');

    expect(impostor.exitCode, 'the other program still runs').toBeNull();
    expect(processInfo(impostor.pid!)).toBeDefined();
    expect(await isPortOpen(temporalPort), 'and still has its port').toBe(true);
    expect(existsSync(join(dataDir, PID_FILE)), 'the stale pid file is gone').toBe(false);
  });
});
