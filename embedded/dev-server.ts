/**
 * Runs `temporal server start-dev` as a child process (the embedded mode of
 * `npm start` and the integration tests) and registers the project's search
 * attributes on it, or on an external server (`ensureSearchAttributes`).
 *
 * Restart note (checked with CLI 1.9.1): on a restart with an existing
 * `--db-filename`, the CLI accepts `--search-attribute` again without error but
 * does NOT register attributes that are new since the file was created, so
 * after start-up the missing ones are added with `operator search-attribute create`.
 *
 * Crash note: the server is a child process, and nothing stops it when its
 * parent is killed with SIGKILL (or by the OOM killer): it lives on, holding its
 * ports and the SQLite file. With `pidFile`, the next start finds it through
 * that file and stops it, but only after checking the process really is that
 * dev server (its command line, on the same --db-filename) and that the process
 * which started it is gone; anything else keeps running untouched.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { searchAttributeCliArgs } from '../domain/search-attributes.js';

export interface DevServerOptions {
  /** Absolute path of the `temporal` CLI (see `ensureTemporalBinaries`). */
  cliPath: string;
  /** SQLite file for persistence; without it the server's state dies with the process. */
  dbFile?: string;
  /** Address the frontend binds to (default 127.0.0.1). */
  host?: string;
  /** gRPC port; 0 or undefined picks a free one. */
  port?: number;
  /** Web UI port; undefined picks a free one (ignored when headless). */
  uiPort?: number;
  headless?: boolean;
  namespace?: string;
  /** Receives every line the server prints (default: dropped). */
  log?: (line: string) => void;
  /** How long to wait for the server to accept calls (default 60 s). */
  startTimeoutMs?: number;
  /**
   * File recording the running server (pid, ports, db file, start time), removed
   * on stop. If it names a server left behind by a start that was killed, that
   * server is stopped before a new one starts.
   */
  pidFile?: string;
  /** Receives what the crash recovery did, for the user (default: dropped). */
  notice?: (line: string) => void;
}

export interface DevServer {
  /** host:port to give `Connection.connect` / `NativeConnection.connect`. */
  address: string;
  namespace: string;
  uiUrl?: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

const STDERR_TAIL_LINES = 40;
/** How long a left-behind server gets to exit on SIGTERM (it checkpoints SQLite) before SIGKILL. */
const LEFTOVER_GRACE_MS = 10_000;
/** After the left-behind server is gone, how long its ports may take to be free again. */
const PORT_RELEASE_MS = 5_000;

/** Something else listens on a port the dev server needs. */
export class DevServerPortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly which: 'port' | 'uiPort',
    readonly host: string | undefined,
    readonly code: string,
  ) {
    super(
      `Cannot start the Temporal dev server: ${which} ${port} on ${host ?? 'all interfaces'} is not free (${code}). ` +
        'Stop whatever uses it, or choose another port (0 picks a free one).',
    );
    this.name = 'DevServerPortInUseError';
  }
}

/** The pid file names a dev server whose parent is still running: another live start owns the db file. */
export class DevServerInUseError extends Error {
  constructor(
    readonly pid: number,
    readonly ownerPid: number,
    readonly dbFile: string,
  ) {
    super(
      `Cannot start the Temporal dev server: ${dbFile} is in use by the dev server pid ${pid}, ` +
        `started by process ${ownerPid}, which is still running.`,
    );
    this.name = 'DevServerInUseError';
  }
}

/** A TCP port that is free right now on `host`. */
export async function getFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolvePort(port) : reject(new Error('could not pick a free port'))));
    });
  });
}

/** Undefined when `port` can be bound now, else the error code. */
function bindError(port: number, host: string | undefined): Promise<string | undefined> {
  return new Promise((resolveFree) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) => resolveFree(err.code ?? err.message));
    srv.listen(port, host, () => srv.close(() => resolveFree(undefined)));
  });
}

/** Throws DevServerPortInUseError unless the port is (or, within `waitMs`, becomes) free. */
async function assertPortFree(port: number, host: string | undefined, which: 'port' | 'uiPort', waitMs = 0) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const code = await bindError(port, host);
    if (code === undefined) return;
    if (Date.now() >= deadline) throw new DevServerPortInUseError(port, which, host, code);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Host to connect to for a bind address (0.0.0.0 / :: are not connectable). */
function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const host = opts.host ?? '127.0.0.1';
  // The UI shows every payload and can signal or terminate any workflow, and has no login: loopback only,
  // even when the frontend itself is bound wider.
  const uiHost = host === '::1' || host === '[::1]' || host.startsWith('127.') ? host : '127.0.0.1';
  const namespace = opts.namespace ?? 'default';
  const bindHost = host === '0.0.0.0' ? undefined : host;
  const headless = opts.headless ?? false;
  const dbFile = opts.dbFile ? resolve(opts.dbFile) : undefined;
  const pidFile = opts.pidFile ? resolve(opts.pidFile) : undefined;
  // A server we just stopped releases its ports as it exits, but give the kernel a moment.
  const portWaitMs = pidFile && (await stopLeftover(pidFile, dbFile, opts.notice)) ? PORT_RELEASE_MS : 0;
  // A busy port would make the readiness check talk to whatever already listens there.
  if (opts.port) await assertPortFree(opts.port, bindHost, 'port', portWaitMs);
  if (!headless && opts.uiPort) await assertPortFree(opts.uiPort, bindHost, 'uiPort', portWaitMs);
  const port = opts.port ? opts.port : await getFreePort(bindHost);
  const uiPort = headless ? undefined : (opts.uiPort ?? (await getFreePort(bindHost)));
  const log = opts.log ?? (() => undefined);
  const address = `${connectHost(host)}:${port}`;

  const args = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(port),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
  ];
  if (dbFile) {
    mkdirSync(dirname(dbFile), { recursive: true });
    args.push('--db-filename', dbFile, '--sqlite-pragma', 'journal_mode=WAL');
  }
  if (headless) args.push('--headless');
  else args.push('--ui-ip', uiHost, '--ui-port', String(uiPort));
  for (const sa of searchAttributeCliArgs()) args.push('--search-attribute', sa);

  const child = spawn(opts.cliPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cliEnv(),
  });
  // Written at once: a kill during the (long) start-up leaves an orphan just the same.
  if (pidFile && child.pid !== undefined) {
    writePidFile(pidFile, {
      pid: child.pid,
      ownerPid: process.pid,
      cliPath: opts.cliPath,
      host,
      port,
      uiPort: uiPort ?? null,
      dbFile: dbFile ?? null,
      startedAt: new Date().toISOString(),
      startTicks: processFacts(child.pid)?.startTicks ?? null,
    });
  }
  const forgetPidFile = () => {
    if (pidFile && child.pid !== undefined) removePidFile(pidFile, child.pid);
  };

  const tail: string[] = [];
  const onLines = (buf: Buffer) => {
    for (const line of buf.toString().split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > STDERR_TAIL_LINES) tail.shift();
      log(line);
    }
  };
  child.stdout?.on('data', onLines);
  child.stderr?.on('data', onLines);

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exitPromise = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolveExit();
    });
    child.once('error', (err) => {
      spawnError = err;
      exited ??= { code: null, signal: null };
      resolveExit();
    });
  });

  // If this process ends without stop(), don't leave the server behind.
  const killOnExit = () => {
    if (!exited) child.kill('SIGKILL');
    forgetPidFile();
  };
  process.once('exit', killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener('exit', killOnExit);
      await terminate(child, () => exited !== undefined, exitPromise);
      forgetPidFile();
    })();
    return stopping;
  };

  const failure = (why: string) =>
    new Error(
      `temporal server start-dev ${why}` +
        (spawnError ? `: ${spawnError.message}` : '') +
        `\n  command: ${opts.cliPath} ${args.join(' ')}` +
        (tail.length ? `\n  last output:\n${tail.map((l) => `    ${l}`).join('\n')}` : ''),
    );

  try {
    await waitUntilReady({
      address,
      namespace,
      timeoutMs: opts.startTimeoutMs ?? 60_000,
      hasExited: () => exited !== undefined,
      exitPromise,
      failure,
    });
    await ensureSearchAttributes(opts.cliPath, address, namespace);
    if (exited) throw failure('exited during start-up');
  } catch (err) {
    const died = exited;
    await stop();
    if (died && !(err instanceof Error && err.message.startsWith('temporal server start-dev'))) {
      throw failure(`exited (code ${died.code}, signal ${died.signal}) during start-up`);
    }
    throw err;
  }

  return {
    address,
    namespace,
    uiUrl: uiPort ? `http://${connectHost(uiHost)}:${uiPort}` : undefined,
    pid: child.pid,
    stop,
  };
}

async function waitUntilReady(p: {
  address: string;
  namespace: string;
  timeoutMs: number;
  hasExited: () => boolean;
  exitPromise: Promise<void>;
  failure: (why: string) => Error;
}): Promise<void> {
  const deadline = Date.now() + p.timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (p.hasExited()) throw p.failure('exited before accepting connections');
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address: p.address, connectTimeout: 1_000 });
      await connection.workflowService.describeNamespace({ namespace: p.namespace });
      return;
    } catch (err) {
      lastError = err;
    } finally {
      await connection?.close().catch(() => undefined);
    }
    await Promise.race([new Promise((r) => setTimeout(r, 200)), p.exitPromise]);
  }
  const why = lastError instanceof Error ? lastError.message : String(lastError);
  throw p.failure(`did not accept connections within ${Math.round(p.timeoutMs / 1000)} s (last error: ${why})`);
}

async function terminate(child: ChildProcess, hasExited: () => boolean, exitPromise: Promise<void>, graceMs = 10_000) {
  if (hasExited() || child.pid === undefined) return;
  child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  if ((await Promise.race([exitPromise.then(() => 'exited' as const), timer])) === 'timeout' && !hasExited()) {
    child.kill('SIGKILL');
    await exitPromise;
  }
}

// ---------------------------------------------------------------- left behind by a crash

/** What the pid file records about a running dev server. */
interface PidRecord {
  pid: number;
  /** The process that started it; while it is still the server's parent, the server is in use. */
  ownerPid: number;
  cliPath: string;
  host: string;
  port: number;
  uiPort: number | null;
  dbFile: string | null;
  startedAt: string;
  /** Kernel start time of `pid` (Linux), which tells a reused pid from the recorded process. */
  startTicks: string | null;
}

function writePidFile(file: string, record: PidRecord): void {
  mkdirSync(dirname(file), { recursive: true });
  // rename, so a kill mid-write cannot leave half a record for the next start to misread
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

/** Undefined when there is no pid file; null when it cannot be a record this module wrote. */
function readPidFile(file: string): PidRecord | null | undefined {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const r = JSON.parse(raw) as Partial<PidRecord>;
    const isPid = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) > 0;
    if (!isPid(r.pid) || !isPid(r.ownerPid) || typeof r.cliPath !== 'string' || typeof r.port !== 'number') {
      return null;
    }
    return {
      pid: r.pid,
      ownerPid: r.ownerPid,
      cliPath: r.cliPath,
      host: String(r.host ?? ''),
      port: r.port,
      uiPort: typeof r.uiPort === 'number' ? r.uiPort : null,
      dbFile: typeof r.dbFile === 'string' ? r.dbFile : null,
      startedAt: String(r.startedAt ?? ''),
      startTicks: typeof r.startTicks === 'string' ? r.startTicks : null,
    };
  } catch {
    return null;
  }
}

/** Removes the pid file if it still names `pid` (a later start may have taken it over). */
function removePidFile(file: string, pid?: number): void {
  try {
    if (pid !== undefined && readPidFile(file)?.pid !== pid) return;
    rmSync(file, { force: true });
  } catch {
    // best effort: a stale file is handled by the next start
  }
}

interface ProcessFacts {
  /** The exact argv where /proc has it; otherwise undefined and `cmdline` is ps's space-joined form. */
  argv: string[] | undefined;
  cmdline: string;
  ppid: number | undefined;
  startTicks: string | undefined;
}

/** A live process's command line and parent, or undefined if it is gone (or a zombie, which holds nothing). */
function processFacts(pid: number): ProcessFacts | undefined {
  if (existsSync('/proc/self/stat')) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may contain spaces and parentheses
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.at(-1) === '') argv.pop();
      return { argv, cmdline: argv.join(' '), ppid: Number(fields[1]), startTicks: fields[19] };
    } catch {
      return undefined;
    }
  }
  // macOS and other systems without /proc
  const ps = spawnSync('ps', ['-ww', '-o', 'stat=,ppid=,args=', '-p', String(pid)], { encoding: 'utf8' });
  const m = ps.status === 0 ? /^\s*(\S+)\s+(\d+)\s+(.*)$/.exec(ps.stdout.trim()) : null;
  if (!m || m[1]!.startsWith('Z')) return undefined;
  return { argv: undefined, cmdline: m[3]!, ppid: Number(m[2]), startTicks: undefined };
}

/** Whether `p` is the `temporal server start-dev` the record describes, on this db file. */
function isRecordedDevServer(p: ProcessFacts, r: PidRecord, dbFile: string | undefined): boolean {
  if (r.startTicks && p.startTicks && r.startTicks !== p.startTicks) return false;
  if ((dbFile ?? null) !== r.dbFile) return false;
  if (p.argv) {
    const a = p.argv;
    const sub = a.indexOf('start-dev');
    const flag = (name: string) => {
      const i = a.indexOf(name);
      return i > 0 ? a[i + 1] : undefined;
    };
    if (a[0] !== r.cliPath && basename(a[0] ?? '') !== basename(r.cliPath)) return false;
    if (sub < 2 || a[sub - 1] !== 'server') return false;
    return dbFile ? flag('--db-filename') === dbFile : flag('--port') === String(r.port);
  }
  const padded = ` ${p.cmdline} `;
  if (!p.cmdline.startsWith(r.cliPath) && !padded.includes(`/${basename(r.cliPath)} `)) return false;
  if (!padded.includes(' server start-dev ')) return false;
  return dbFile ? padded.includes(` --db-filename ${dbFile} `) : padded.includes(` --port ${r.port} `);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function until(ok: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (ok()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Deals with the server a pid file names: stops it if it is our dev server
 * orphaned by a killed start, refuses if the start that owns it still runs,
 * and otherwise (gone, or the pid now belongs to another program) just drops
 * the stale file. Returns whether a server was stopped.
 */
async function stopLeftover(
  pidFile: string,
  dbFile: string | undefined,
  notice: ((line: string) => void) | undefined,
): Promise<boolean> {
  const record = readPidFile(pidFile);
  if (record === undefined) return false;
  if (record === null) {
    removePidFile(pidFile);
    return false;
  }
  const stillThere = () => {
    const p = processFacts(record.pid);
    return p !== undefined && isRecordedDevServer(p, record, dbFile);
  };
  if (!stillThere()) {
    removePidFile(pidFile);
    return false;
  }
  if (processFacts(record.pid)?.ppid === record.ownerPid) {
    throw new DevServerInUseError(record.pid, record.ownerPid, dbFile ?? `port ${record.port}`);
  }

  notice?.(
    `Found the Temporal dev server (pid ${record.pid}, started ${record.startedAt}) still running after an earlier start ` +
      'ended without stopping it; stopping it.',
  );
  signal(record.pid, 'SIGTERM');
  // identity is checked again before SIGKILL, so a pid reused meanwhile is never hit
  if (!(await until(() => !stillThere(), LEFTOVER_GRACE_MS))) {
    if (stillThere()) signal(record.pid, 'SIGKILL');
    if (!(await until(() => !stillThere(), 5_000))) {
      throw new Error(`Could not stop the Temporal dev server pid ${record.pid} left running on ${dbFile}`);
    }
  }
  removePidFile(pidFile);
  notice?.(`Stopped the left-behind Temporal dev server (pid ${record.pid}).`);
  return true;
}

/** Environment for the CLI: connection settings come from flags, not from this process's env. */
function cliEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE']) delete env[key];
  return env;
}

// ---------------------------------------------------------------- search attributes

const INDEXED_TYPE: Record<string, string> = {
  Keyword: 'INDEXED_VALUE_TYPE_KEYWORD',
  Text: 'INDEXED_VALUE_TYPE_TEXT',
  Int: 'INDEXED_VALUE_TYPE_INT',
  Double: 'INDEXED_VALUE_TYPE_DOUBLE',
  Bool: 'INDEXED_VALUE_TYPE_BOOL',
  Datetime: 'INDEXED_VALUE_TYPE_DATETIME',
  KeywordList: 'INDEXED_VALUE_TYPE_KEYWORD_LIST',
};

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(cliPath: string, args: string[]): Promise<CliResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/**
 * Registers the project's search attributes (domain/search-attributes.ts) on a
 * server with `temporal operator search-attribute create`. Attributes already
 * there with the same type are left alone; one there with another type is an
 * error. Retries while the server is still coming up, up to `waitMs`.
 * Returns the names it created.
 */
export async function ensureSearchAttributes(
  cliPath: string,
  address: string,
  namespace: string,
  opts: { waitMs?: number } = {},
): Promise<string[]> {
  const wanted = searchAttributeCliArgs().map((pair) => {
    const [name = '', type = ''] = pair.split('=');
    return { name, type };
  });
  const conn = ['--address', address, '--namespace', namespace];
  const deadline = Date.now() + (opts.waitMs ?? 30_000);

  let existing: Record<string, string>;
  for (;;) {
    const listed = await runCli(cliPath, ['operator', 'search-attribute', 'list', ...conn, '--output', 'json']);
    if (listed.code === 0) {
      try {
        const parsed = JSON.parse(listed.stdout) as { customAttributes?: Record<string, string> };
        existing = parsed.customAttributes ?? {};
        break;
      } catch {
        throw new Error(
          `Unexpected output from "temporal operator search-attribute list": ${listed.stdout.slice(0, 300)}`,
        );
      }
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Could not list search attributes of namespace "${namespace}" at ${address}: ${listed.stderr.trim() || `exit ${listed.code}`}`,
      );
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }

  const conflicts = wanted.filter(
    ({ name, type }) => existing[name] !== undefined && existing[name] !== INDEXED_TYPE[type],
  );
  if (conflicts.length > 0) {
    throw new Error(
      `Search attributes already registered with another type in namespace "${namespace}": ` +
        conflicts.map(({ name, type }) => `${name} is ${existing[name]}, expected ${type}`).join('; '),
    );
  }

  const created: string[] = [];
  for (const { name, type } of wanted) {
    if (existing[name] !== undefined) continue;
    // one name per call: CLI 1.9.1 silently registered only the first of several --name flags
    const result = await runCli(cliPath, [
      'operator',
      'search-attribute',
      'create',
      ...conn,
      '--name',
      name,
      '--type',
      type,
    ]);
    if (result.code !== 0 && !/already exists/i.test(result.stderr)) {
      throw new Error(
        `temporal operator search-attribute create --name ${name} --type ${type} failed on ${address} (namespace "${namespace}"): ` +
          (result.stderr.trim() || `exit ${result.code}`),
      );
    }
    if (/already exists and has different type/i.test(result.stderr)) {
      throw new Error(
        `Search attribute ${name} already exists with a different type than ${type}: ${result.stderr.trim()}`,
      );
    }
    created.push(name);
  }
  return created;
}
