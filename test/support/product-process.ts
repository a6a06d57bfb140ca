import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SESSION_COOKIE } from '../../api/auth/session.js';
import { envSchema } from '../../config/env.js';

/** The project root, where `npm start` runs. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** `npm start` (embedded/start.ts) as a child process, its output captured for failure messages. */
export interface ProductProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything the process printed so far (stdout and stderr interleaved). */
  output(): string;
  /** The last lines of output, for assertion messages. */
  tail(lines?: number): string;
  /** Set once the process has exited. */
  exit(): Exit | undefined;
  /** Resolves with the exit, or undefined if it has not exited within `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<Exit | undefined>;
}

const MAX_OUTPUT = 512 * 1024;

/**
 * The environment a user would give `npm start`: this process's environment
 * without any of the product's own settings (so a developer's shell cannot
 * leak a TEMPORAL_ADDRESS or DATABASE_URL into the test), plus `vars`.
 */
export function productEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(envSchema.shape)) delete env[key];
  delete env['TEMPORAL_TEST_SERVER_PATH'];
  return { ...env, ...vars };
}

/** Spawns `node --import tsx embedded/start.ts`, exactly what `npm start` runs after its prestart step. */
export function spawnProduct(env: NodeJS.ProcessEnv): ProductProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'embedded/start.ts'], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('could not spawn embedded/start.ts');
  let out = '';
  const append = (b: Buffer) => {
    out += b.toString();
    if (out.length > MAX_OUTPUT) out = out.slice(out.length - MAX_OUTPUT);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  let exited: Exit | undefined;
  const exitPromise = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  // If the test runner itself goes away, do not leave the product behind.
  const killOnExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  void exitPromise.then(() => process.removeListener('exit', killOnExit));

  return {
    child,
    pid: child.pid,
    output: () => out,
    tail(lines = 60) {
      const all = out.trimEnd().split('\n');
      return `--- last ${Math.min(lines, all.length)} lines of embedded/start.ts output (pid ${child.pid}) ---\n${all.slice(-lines).join('\n')}\n---`;
    },
    exit: () => exited,
    async waitForExit(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), timeoutMs)));
      try {
        return await Promise.race([exitPromise, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Polls GET /healthz until 200; fails early (with the output) if the process exits. */
export async function waitUntilHealthy(p: ProductProcess, baseUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const exit = p.exit();
    if (exit) {
      throw new Error(
        `embedded/start.ts exited during start-up (code ${exit.code}, signal ${exit.signal})\n${p.tail()}`,
      );
    }
    try {
      const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`GET ${baseUrl}/healthz not 200 within ${timeoutMs / 1000} s (last: ${last})\n${p.tail()}`);
}

/** Whether something accepts TCP connections on host:port right now. */
export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  state: string;
  cmdline: string;
}

/**
 * Live processes whose command line contains `marker` (e.g. a test's
 * unique temp DATA_DIR, which the Temporal dev server gets in --db-filename).
 * Linux only; null where /proc is not available.
 */
export function processesMentioning(marker: string): ProcessInfo[] | null {
  if (!existsSync('/proc/self/cmdline')) return null;
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (!cmdline.includes(marker)) continue;
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const state = /^State:\s+(.*)$/m.exec(status)?.[1] ?? '?';
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      if (!state.startsWith('Z')) found.push({ pid: Number(entry), ppid, state, cmdline });
    } catch {
      // the process went away while we looked
    }
  }
  return found;
}

/**
 * Stops a product process that a test left running: SIGINT and a grace period
 * (so it stops its own Temporal dev server), then SIGKILL, then SIGKILL any
 * process still carrying `marker` (only processes this test started carry it).
 */
export async function forceStop(p: ProductProcess | undefined, marker: string): Promise<void> {
  if (p && !p.exit()) {
    p.child.kill('SIGINT');
    if (!(await p.waitForExit(15_000))) {
      p.child.kill('SIGKILL');
      await p.waitForExit(5_000);
    }
  }
  for (const { pid } of processesMentioning(marker) ?? []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** The live process `pid` (not a zombie), or undefined. Linux only (/proc). */
export function processInfo(pid: number): ProcessInfo | undefined {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const state = /^State:\s+(.*)$/m.exec(status)?.[1] ?? '?';
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    return state.startsWith('Z') || state.startsWith('X') ? undefined : { pid, ppid, state, cmdline };
  } catch {
    return undefined;
  }
}

/** The Temporal dev servers running on files in `dataDir` (what embedded/start.ts starts), or null without /proc. */
export function devServersIn(dataDir: string): ProcessInfo[] | null {
  return processesMentioning(dataDir)?.filter((p) => p.cmdline.includes(' server start-dev ')) ?? null;
}

/** Polls `check` until it returns a value other than undefined/false; fails naming `what` after `timeoutMs`. */
export async function pollFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** What `npm start`'s banner says about signing in (embedded/start.ts). */
export interface Banner {
  /** The admin key, printed only by the start that made it. */
  adminKey?: string;
  /** Where the admin key is kept ($DATA_DIR/admin-api-key), as the banner names it. */
  adminKeyFile: string;
  /** The single-use sign-in link every start prints. */
  signInLink: string;
  /** The banner's lines, for assertion messages. */
  text: string;
}

/**
 * The start-up banner, once printed: start.ts prints it after the API listens, so /healthz can answer 200 a
 * moment before the admin key exists. Fails with the output if the banner lacks a line the README relies on.
 */
export async function waitForBanner(p: ProductProcess, timeoutMs = 30_000): Promise<Banner> {
  const text = await pollFor(
    `the start-up banner\n${p.tail()}`,
    () => {
      const out = p.output();
      const end = out.indexOf('Press Ctrl-C to stop.');
      if (end < 0) return p.exit() ? fail(`exited before its banner\n${p.tail()}`) : undefined;
      const start = out.lastIndexOf('are running', end);
      return out.slice(out.lastIndexOf('\n', start) + 1, end);
    },
    timeoutMs,
  );
  const shown = /^ {2}Admin API key {2}(ail_\S+) {3}\(shown once; also in (.+), mode 0600\)$/m.exec(text);
  const kept = /^ {2}Admin API key {2}in (.+)$/m.exec(text);
  const link = /^ {2}Sign in {8}(https?:\/\/\S+\/login\/once\/\S+)/m.exec(text);
  const adminKeyFile = shown?.[2] ?? kept?.[1];
  if (!adminKeyFile || !link) fail(`no admin key line or sign-in link in the banner:\n${text}`);
  return { adminKey: shown?.[1], adminKeyFile: adminKeyFile!, signInLink: link![1]!, text };
}

function fail(message: string): never {
  throw new Error(message);
}

/** The admin key of a started product: from the banner when it printed one, else from the file it names. */
export async function adminKeyOf(p: ProductProcess): Promise<string> {
  const banner = await waitForBanner(p);
  return banner.adminKey ?? readFileSync(banner.adminKeyFile, 'utf8').trim();
}

/**
 * A session cookie (`name=value`) from following a sign-in link as a browser would: the 303 sets the cookie.
 * Fails with the answer if the link does not sign in.
 */
export async function sessionFrom(signInLink: string, baseUrl?: string): Promise<string> {
  // The link names PUBLIC_BASE_URL's host; a test may reach the same server under another (127.0.0.1).
  const url = baseUrl ? `${baseUrl}${new URL(signInLink).pathname}` : signInLink;
  const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(20_000) });
  const body = await res.text();
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  if (res.status !== 303 || !cookie) {
    throw new Error(
      `GET ${url} did not sign in: HTTP ${res.status}, set-cookie ${String(cookie)}\n${body.slice(0, 500)}`,
    );
  }
  return cookie.split(';')[0]!;
}
