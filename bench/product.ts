/**
 * The embedded product as `npm start` runs it (embedded/start.ts in its own process: Temporal dev server, worker,
 * API, PGlite), on a fresh data folder, for the lifecycle, approval, views and worker sections. Its mail goes over
 * real SMTP to a dev mailbox this process holds (SMTP_URL, as test/e2e.test.ts does), where the bench reads the
 * approval links as approvers do. Started once per `npm run bench` and shared by the sections that need it, so that
 * the 10,000 registered systems of the views section are the ones whose lifecycles the worker section holds open.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { envSchema } from '../config/env.js';
import { apiRequest, type ApiAnswer } from '../embedded/api-request.js';
import { getFreePort } from '../embedded/dev-server.js';
import { startDevMailbox, type DevMailbox } from '../embedded/dev-mailbox.js';
import { projectRoot } from '../embedded/temporal-binaries.js';
import { BenchError } from './section.js';

export const GOVERNANCE_LEAD = 'governance-lead@bench.example.org';
/** The AI team's key holder: the examples' owner, so the README's request bodies go as they are. */
export const TEAM_OWNER = 'ml-team-lead@example.org';
const TEAM = 'recruiting';
const START_TIMEOUT_MS = 180_000;
/** Enough for every message a lifecycle section reads back; the views section's thousands of registrations pass by. */
const MAILBOX_KEEPS = 5_000;

export interface Product {
  baseUrl: string;
  port: number;
  pid: number;
  /** The product's Temporal dev server, host:port. */
  temporalAddress: string;
  dataDir: string;
  mailbox: DevMailbox;
  /** A client of the same Temporal server (no payload codec: the bench reads histories and visibility only). */
  client: Client;
  connection: Connection;
  adminKey: string;
  teamKey: string;
  /** A session cookie of the embedded admin (the banner's sign-in link), for the dashboard. */
  adminCookie: string;
  /** The API as the AI team: JSON in, status and JSON out. */
  api(method: string, path: string, body?: unknown, key?: string): Promise<ApiAnswer>;
  /** The product process's resident memory now and at its peak (MB), from /proc. */
  memory(): { rssMb: number; peakRssMb: number } | null;
  /** Its resident memory every 250 ms since it started (performance.now() times). */
  rssSamples: { at: number; rssMb: number }[];
  /** The Temporal dev server's process id (its pid file), for its memory. */
  temporalPid(): number | null;
  output(): string;
  /** Aborted once stop() begins. */
  stopped: AbortSignal;
  stop(): Promise<void>;
}

/**
 * The variables `npm start`'s script sets before it runs embedded/start.ts (MALLOC_ARENA_MAX), read from
 * package.json, so that the product measured here runs as npm start runs it.
 */
export function startScriptEnv(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { scripts: { start: string } };
  const m = /^((?:[A-Z_]+=\S+\s+)*)tsx embedded\/start\.ts$/.exec(pkg.scripts.start);
  if (!m)
    throw new BenchError(
      `package.json's start script is not "[VAR=value ...] tsx embedded/start.ts": ${pkg.scripts.start}`,
    );
  return Object.fromEntries(
    m[1]!
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
  );
}

let shared: Promise<Product> | undefined;

/** The one product of this run, started on first use. */
export function sharedProduct(log: (m: string) => void): Promise<Product> {
  shared ??= startProduct(log);
  return shared;
}

/** Stops the shared product, if one was started (bench/main.ts calls this once the sections are done). */
export async function stopSharedProduct(): Promise<void> {
  if (!shared) return;
  const p = shared;
  shared = undefined;
  await (await p.catch(() => undefined))?.stop();
}

async function startProduct(log: (m: string) => void): Promise<Product> {
  const started = performance.now();
  const dataDir = await mkdtemp(join(tmpdir(), 'ai-impact-bench-'));
  const mailbox = await startDevMailbox({ port: 0, maxMessages: MAILBOX_KEEPS });
  const port = await getFreePort();
  const temporalPort = await getFreePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Nothing of a developer's own settings (a TEMPORAL_ADDRESS, a DATABASE_URL) leaks into the product.
  for (const key of Object.keys(envSchema.shape)) delete env[key];
  Object.assign(env, startScriptEnv(), {
    DATA_DIR: dataDir,
    PORT: String(port),
    TEMPORAL_DEV_PORT: String(temporalPort),
    TEMPORAL_UI_PORT: '0',
    LOG_LEVEL: 'warn',
    SMTP_URL: mailbox.url,
    GOVERNANCE_LEAD_EMAIL: GOVERNANCE_LEAD,
  });
  log(`product: starting embedded/start.ts on ${baseUrl} (data ${dataDir})`);
  // BENCH_CPU_PROF=DIR writes the product process's CPU profile there when it stops, to find what a figure costs.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'embedded/start.ts'], {
    cwd: projectRoot(),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (b: Buffer) => {
    out = (out + b.toString()).slice(-256 * 1024);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  // BENCH_TRACE=1 passes the product's own output through, to read what it logs while a figure is taken.
  if (process.env.BENCH_TRACE) child.stderr!.on('data', (b: Buffer) => process.stderr.write(b));
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );
  const killOnExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const tail = () => `--- product output ---\n${out.trimEnd().split('\n').slice(-40).join('\n')}\n---`;

  const cleanup = async () => {
    await stopChild(child, () => exited !== undefined, exit);
    process.removeListener('exit', killOnExit);
    await mailbox.stop();
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    const banner = await until(
      'the start-up banner',
      () => {
        if (exited) throw new BenchError(`the product exited during start-up (${JSON.stringify(exited)})\n${tail()}`);
        const end = out.indexOf('Press Ctrl-C to stop.');
        return end < 0 ? undefined : out.slice(0, end);
      },
      START_TIMEOUT_MS,
      tail,
    );
    const adminKey = /^ {2}Admin API key {2}(ail_\S+)/m.exec(banner)?.[1];
    const signIn = /^ {2}Sign in {8}(https?:\/\/\S+\/login\/once\/\S+)/m.exec(banner)?.[1];
    const temporalAddress = /Temporal dev server at ([^\s,]+)/.exec(banner)?.[1];
    if (!adminKey || !signIn || !temporalAddress)
      throw new BenchError(`the banner lacks a line the bench reads\n${tail()}`);

    const api: Product['api'] = (method, path, body, key) =>
      apiRequest(method, `${baseUrl}${path}`, { body, key: key ?? teamKey });
    let teamKey = adminKey;
    const made = await api('POST', '/api/v1/keys', {
      name: 'bench AI team',
      email: TEAM_OWNER,
      role: 'ai-team',
      team: TEAM,
    });
    if (made.status !== 201) throw new BenchError(`POST /api/v1/keys: ${made.status} ${made.text}`);
    teamKey = made.json.key as string;
    const login = await httpRequest({ url: `${baseUrl}${new URL(signIn).pathname}`, method: 'GET' });
    const cookie = login.headers['set-cookie']?.[0]?.split(';')[0];
    if (login.status !== 303 || !cookie) throw new BenchError(`the sign-in link did not sign in: ${login.status}`);

    const connection = await Connection.connect({ address: temporalAddress });
    const client = new Client({ connection });
    const pid = child.pid!;
    const rssSamples: Product['rssSamples'] = [];
    const stopping = new AbortController();
    const sampler = setInterval(() => {
      const m = processMemory(pid);
      if (m) rssSamples.push({ at: performance.now(), rssMb: m.rssMb });
    }, 250);
    sampler.unref();
    log(
      `product: up in ${((performance.now() - started) / 1000).toFixed(1)} s (pid ${pid}, Temporal ${temporalAddress})`,
    );
    return {
      baseUrl,
      port,
      pid,
      temporalAddress,
      dataDir,
      mailbox,
      client,
      connection,
      adminKey,
      teamKey,
      adminCookie: cookie,
      api,
      memory: () => processMemory(pid),
      rssSamples,
      temporalPid: () => {
        try {
          return (JSON.parse(readFileSync(join(dataDir, 'temporal-dev-server.pid'), 'utf8')) as { pid: number }).pid;
        } catch {
          return null;
        }
      },
      output: () => out,
      stopped: stopping.signal,
      async stop() {
        stopping.abort();
        clearInterval(sampler);
        await connection.close().catch(() => undefined);
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function stopChild(child: ChildProcess, hasExited: () => boolean, exit: Promise<void>): Promise<void> {
  if (hasExited()) return;
  // Ctrl-C: the product stops its worker, API and its own Temporal dev server.
  child.kill('SIGINT');
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000).unref());
  if ((await Promise.race([exit.then(() => 'exited' as const), timeout])) === 'timeout' && !hasExited()) {
    child.kill('SIGKILL');
    await exit;
  }
}

/** VmRSS and VmHWM (the kernel's high-water mark) of a process, in MB; null where /proc has none. */
export function processMemory(pid: number): { rssMb: number; peakRssMb: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const rss = kb('VmRSS');
    const hwm = kb('VmHWM');
    if (!Number.isFinite(rss) || !Number.isFinite(hwm)) return null;
    return { rssMb: rss / 1024, peakRssMb: hwm / 1024 };
  } catch {
    return null;
  }
}

export async function until<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  context: () => string = () => '',
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new BenchError(`timed out after ${timeoutMs / 1000} s waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string[] | undefined>;
  body: string;
}

/**
 * One HTTP request on its own connection from `localAddress` (any of 127.0.0.0/8 on Linux): each approver clicks from
 * an address of their own, as people at their own machines do, so the approval links' per-address rate limit
 * (policy security.rateLimits) counts each of them, not the whole benchmark as one client.
 */
export function httpRequest(opts: {
  url: string;
  method: 'GET' | 'POST';
  form?: Record<string, string>;
  localAddress?: string;
}): Promise<HttpAnswer> {
  const url = new URL(opts.url);
  const body = opts.form ? new URLSearchParams(opts.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: opts.method,
        localAddress: opts.localAddress,
        agent: false,
        headers: body
          ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) }
          : {},
        timeout: 120_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers: HttpAnswer['headers'] = {};
          for (const [k, v] of Object.entries(res.headers))
            headers[k] = v === undefined ? v : ([] as string[]).concat(v);
          resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${opts.method} ${url.pathname}: no answer within 120 s`)));
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

let addressesUsed = 0;
/** A loopback address no click of this run has used yet (127.1.0.1, 127.1.0.2, …, 127.1.0.254, 127.1.1.1, …). */
export function freshLoopbackAddress(): string {
  const n = addressesUsed++;
  return `127.${1 + Math.floor(n / (254 * 256))}.${Math.floor(n / 254) % 256}.${(n % 254) + 1}`;
}
