/**
 * Runs `temporal server start-dev` as a child process (the embedded mode of
 * `npm start` and the integration tests) and registers the project's search
 * attributes on it, or on an external server (`ensureSearchAttributes`).
 *
 * Restart note (checked with CLI 1.9.1): on a restart with an existing
 * `--db-filename`, the CLI accepts `--search-attribute` again without error but
 * does NOT register attributes that are new since the file was created, so
 * after start-up the missing ones are added with `operator search-attribute create`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
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

async function assertPortFree(port: number, host: string | undefined, what: string): Promise<void> {
  await new Promise<void>((resolveFree, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `Cannot start the Temporal dev server: ${what} ${port} on ${host ?? 'all interfaces'} is not free (${err.code ?? err.message}). ` +
            'Stop whatever uses it, or choose another port (0 picks a free one).',
        ),
      ),
    );
    srv.listen(port, host, () => srv.close(() => resolveFree()));
  });
}

/** Host to connect to for a bind address (0.0.0.0 / :: are not connectable). */
function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const host = opts.host ?? '127.0.0.1';
  const namespace = opts.namespace ?? 'default';
  const bindHost = host === '0.0.0.0' ? undefined : host;
  const headless = opts.headless ?? false;
  // A busy port would make the readiness check talk to whatever already listens there.
  if (opts.port) await assertPortFree(opts.port, bindHost, 'port');
  if (!headless && opts.uiPort) await assertPortFree(opts.uiPort, bindHost, 'uiPort');
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
  if (opts.dbFile) {
    const dbFile = resolve(opts.dbFile);
    mkdirSync(dirname(dbFile), { recursive: true });
    args.push('--db-filename', dbFile, '--sqlite-pragma', 'journal_mode=WAL');
  }
  if (headless) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  for (const sa of searchAttributeCliArgs()) args.push('--search-attribute', sa);

  const child = spawn(opts.cliPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cliEnv(),
  });

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
  };
  process.once('exit', killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener('exit', killOnExit);
      await terminate(child, () => exited !== undefined, exitPromise);
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
    uiUrl: uiPort ? `http://${connectHost(host)}:${uiPort}` : undefined,
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
