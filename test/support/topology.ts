/**
 * The production topology on one machine, for fault tests: a persisted
 * Temporal dev server, a PostgreSQL cluster, a real SMTP server and N worker /
 * M API processes (`node --import tsx worker/main.ts` and `api/main.ts`, what
 * `npm run worker` / `npm run api` run) wired as docker-compose.yml wires
 * them. Every part can be stopped and started again on the same port with its
 * state (Temporal's SQLite file, PostgreSQL's data directory), every app
 * process SIGKILLed and restarted, and the SMTP server told per recipient to
 * accept, refuse (550) or defer (451). All traffic stays on 127.0.0.1.
 *
 * Waits are polls on the real condition (a heartbeat row, an HTTP answer, a
 * namespace that answers) with deadlines; a process that exits while being
 * waited for fails the wait at once with its output.
 */
import { newApiKey } from '../../api/auth/keys.js';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { chmod, chown, mkdtemp } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { simpleParser } from 'mailparser';
import pg from 'pg';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import { searchAttributeCliArgs } from '../../domain/search-attributes.js';
import { extractLinks } from '../../embedded/dev-mailbox.js';
import { getFreePort } from '../../embedded/dev-server.js';
import { ensureTemporalBinaries } from '../../embedded/temporal-binaries.js';
import { findPostgresBinDir } from './postgres.js';
import { PROJECT_ROOT, productEnv } from './product-process.js';
import { TEST_PAYLOAD_ENCRYPTION_KEYS, TEST_PERSON_KEY_SECRET } from './privacy.js';

export const TOPOLOGY_SECRET = 'topology-test-secret-that-is-long-enough-0123456789';
export const TOPOLOGY_GOVERNANCE_LEAD = 'governance-lead@topology.example.org';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value other than undefined; the error names `what` and the last failure. */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; abort?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = 'not yet';
  for (;;) {
    const why = opts.abort?.();
    if (why) throw new Error(`${what}: ${why}`);
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${opts.timeoutMs / 1000} s (last: ${last})`);
    await sleep(opts.intervalMs ?? 250);
  }
}

// ---------------------------------------------------------------- PostgreSQL

interface RunAs {
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` OS user. */
function postgresOsUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => {
    const r = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    return r.status === 0 ? Number(r.stdout.trim()) : undefined;
  };
  if (id('-u') === undefined) {
    spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
  }
  const uid = id('-u');
  const gid = id('-g');
  if (uid === undefined || gid === undefined) throw new Error('no postgres OS user to run the cluster as');
  return { uid, gid };
}

function runFile(file: string, args: string[], runAs: RunAs | undefined, cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C', LANG: 'C' }, ...(runAs ?? {}) },
      (error, stdout, stderr) =>
        error
          ? reject(new Error(`${file} ${args.join(' ')}: ${error.message}\n${stdout}\n${stderr}`))
          : resolve(stdout),
    );
  });
}

/** A throwaway cluster that keeps its port and data directory across stop() and start(). */
export class PostgresServer {
  readonly url: string;
  private up = false;
  private readonly pgCtl: string;
  private readonly dataDir: string;
  private readonly options: string;

  private constructor(
    private readonly binDir: string,
    private readonly dir: string,
    readonly port: number,
    private readonly runAs: RunAs | undefined,
  ) {
    this.pgCtl = join(binDir, 'pg_ctl');
    this.dataDir = join(dir, 'data');
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    this.options = [
      `-p ${port}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${dir}`,
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=300',
    ].join(' ');
  }

  static async create(parentDir: string): Promise<PostgresServer> {
    const binDir = findPostgresBinDir();
    if (!binDir) {
      throw new Error(
        'the topology needs PostgreSQL server binaries it can stop and start (apt-get install postgresql, ' +
          'or POSTGRES_BIN_DIR); TEST_DATABASE_URL cannot be stopped for an outage',
      );
    }
    const runAs = postgresOsUser();
    const dir = join(parentDir, 'pg');
    mkdirSync(dir, { recursive: true });
    if (runAs) await chown(dir, runAs.uid, runAs.gid);
    const server = new PostgresServer(binDir, dir, await getFreePort(), runAs);
    await runFile(
      join(binDir, 'initdb'),
      ['-D', server.dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      runAs,
      dir,
    );
    await server.start();
    return server;
  }

  get running(): boolean {
    return this.up;
  }

  async start(): Promise<void> {
    if (this.up) return;
    await runFile(
      this.pgCtl,
      ['-D', this.dataDir, '-l', join(this.dir, 'server.log'), '-w', '-t', '60', '-o', this.options, 'start'],
      this.runAs,
      this.dir,
    );
    this.up = true;
    await pollUntil('PostgreSQL accepts connections', () => this.query('select 1').then(() => true), {
      timeoutMs: 30_000,
    });
  }

  /** `fast`: connections are cut and the server goes down, as in an outage; clients see errors at once. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.up) return;
    await runFile(this.pgCtl, ['-D', this.dataDir, '-m', mode, '-w', 'stop'], this.runAs, this.dir);
    this.up = false;
  }

  /** One short-lived connection per call: a pool would hold connections the outage breaks. */
  async query<R extends pg.QueryResultRow = Record<string, unknown>>(
    text: string,
    params: unknown[] = [],
  ): Promise<R[]> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query<R>(text, params)).rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** For the process-exit safety net: synchronous. */
  killNow(): void {
    spawnSync(this.pgCtl, ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop'], {
      stdio: 'ignore',
      ...(this.runAs ?? {}),
    });
    this.up = false;
  }
}

// ---------------------------------------------------------------- Temporal

/** `temporal server start-dev` on a fixed port and SQLite file, so a restart finds every workflow again. */
export class TemporalServer {
  readonly address: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log: WriteStream;

  private constructor(
    private readonly cli: string,
    readonly dbFile: string,
    readonly port: number,
    readonly namespace: string,
    logFile: string,
  ) {
    this.address = `127.0.0.1:${port}`;
    this.log = createWriteStream(logFile, { flags: 'a' });
  }

  static async create(dir: string, namespace: string): Promise<TemporalServer> {
    const { cli } = await ensureTemporalBinaries({ quiet: true });
    const server = new TemporalServer(
      cli,
      join(dir, 'temporal.db'),
      await getFreePort(),
      namespace,
      join(dir, 'temporal.log'),
    );
    await server.start();
    return server;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const args = [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(this.port),
      '--namespace',
      this.namespace,
    ];
    args.push('--db-filename', this.dbFile, '--sqlite-pragma', 'journal_mode=WAL', '--headless', '--log-level', 'warn');
    for (const sa of searchAttributeCliArgs()) args.push('--search-attribute', sa);
    const env = { ...process.env };
    delete env.TEMPORAL_ADDRESS;
    delete env.TEMPORAL_NAMESPACE;
    const child = spawn(this.cli, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.child = child;
    let gone = false;
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        gone = true;
        if (this.child === child) this.child = undefined;
        resolve();
      }),
    );
    child.stdout!.pipe(this.log, { end: false });
    child.stderr!.pipe(this.log, { end: false });
    await pollUntil(
      `Temporal dev server on ${this.address}`,
      async () => {
        const connection = await Connection.connect({ address: this.address, connectTimeout: 1_000 });
        try {
          await connection.workflowService.describeNamespace({ namespace: this.namespace });
          return true;
        } finally {
          await connection.close();
        }
      },
      { timeoutMs: 60_000, abort: () => (gone ? 'the server exited during start-up (see temporal.log)' : undefined) },
    );
  }

  /** SIGTERM, and SIGKILL after 10 s; resolves once the process is gone and the port is free for a restart. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  killNow(): void {
    this.child?.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------- SMTP

export type RecipientBehaviour = 'accept' | 'reject' | 'defer';

export interface SmtpMessage {
  /** Order of acceptance, from 1. */
  n: number;
  messageId: string | null;
  idempotencyKey: string | null;
  system: string | null;
  from: string;
  /** Envelope recipients. */
  to: string[];
  subject: string;
  text: string;
  links: string[];
  headers: Record<string, string>;
  receivedAt: Date;
}

export interface SmtpRefusal {
  address: string;
  code: number;
  at: Date;
}

/**
 * A real SMTP server (smtp-server) that answers each recipient as told at run
 * time: accept, 550 (permanent: the address does not exist) or 451 (try again
 * later). Every accepted message is recorded, duplicates included: counting
 * copies is the point.
 */
export class FaultSmtpServer {
  private server: SMTPServer | undefined;
  private readonly accepted: SmtpMessage[] = [];
  private readonly refused: SmtpRefusal[] = [];
  private readonly behaviour = new Map<string, RecipientBehaviour>();
  private readonly listeners = new Set<() => void>();

  private constructor(readonly port: number) {}

  static async create(): Promise<FaultSmtpServer> {
    const smtp = new FaultSmtpServer(await getFreePort());
    await smtp.start();
    return smtp;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** How the server answers RCPT TO for `address` from now on (default accept). */
  setRecipient(address: string, behaviour: RecipientBehaviour): void {
    this.behaviour.set(address.toLowerCase(), behaviour);
  }

  messages(): SmtpMessage[] {
    return [...this.accepted];
  }

  refusals(): SmtpRefusal[] {
    return [...this.refused];
  }

  /** The first accepted message matching `predicate`, already received or yet to come. */
  waitFor(predicate: (m: SmtpMessage) => boolean, what: string, timeoutMs: number): Promise<SmtpMessage> {
    const found = this.accepted.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const listener = () => {
        const m = this.accepted.find(predicate);
        if (m) {
          cleanup();
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no e-mail ${what} within ${timeoutMs / 1000} s (${this.accepted.length} accepted so far)`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      this.listeners.add(listener);
    });
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = new SMTPServer({
      logger: false,
      secure: false,
      disabledCommands: ['STARTTLS', 'AUTH'],
      disableReverseLookup: true,
      onRcptTo: (address: SMTPServerAddress, _session, callback) => {
        const behaviour = this.behaviour.get(address.address.toLowerCase()) ?? 'accept';
        if (behaviour === 'accept') return callback();
        const code = behaviour === 'reject' ? 550 : 451;
        this.refused.push({ address: address.address.toLowerCase(), code, at: new Date() });
        const err = new Error(
          behaviour === 'reject'
            ? `5.1.1 <${address.address}>: Recipient address rejected: mailbox unavailable`
            : `4.3.0 <${address.address}>: Temporary failure, try again later`,
        ) as Error & { responseCode: number };
        err.responseCode = code;
        callback(err);
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          simpleParser(Buffer.concat(chunks)).then(
            (parsed) => {
              const headers: Record<string, string> = {};
              for (const [k, v] of parsed.headers) headers[k.toLowerCase()] = typeof v === 'string' ? v : String(v);
              const text = parsed.text ?? '';
              this.accepted.push({
                n: this.accepted.length + 1,
                messageId: parsed.messageId ?? null,
                idempotencyKey: headers['x-idempotency-key'] ?? null,
                system: headers['x-ai-system'] ?? null,
                from: parsed.from?.value[0]?.address ?? '',
                to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
                subject: parsed.subject ?? '',
                text,
                links: extractLinks(typeof parsed.html === 'string' ? parsed.html : null, text),
                headers,
                receivedAt: new Date(),
              });
              // Recorded before the 250: once the sender's sendMail resolves, the message is here.
              callback();
              for (const l of [...this.listeners]) l();
            },
            (err: unknown) => callback(err as Error),
          );
        });
      },
    });
    server.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------- app processes

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Whether the harness asked for it (kill/stop) or the process went by itself. */
  expected: boolean;
}

const TAIL_CHARS = 64 * 1024;

/** One `node --import tsx <script>` child (no npm or tsx wrapper: a SIGKILL must hit the process that works). */
export class AppProcess {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<Exit> = Promise.resolve({ code: 0, signal: null, expected: true });
  private expectingExit = false;
  private tailText = '';
  private readonly log: WriteStream;
  readonly logFile: string;
  readonly exits: Exit[] = [];
  starts = 0;

  constructor(
    readonly name: string,
    private readonly script: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly ready: (p: AppProcess) => Promise<unknown>,
    logDir: string,
  ) {
    this.logFile = join(logDir, `${name}.log`);
    this.log = createWriteStream(this.logFile, { flags: 'a' });
  }

  /** Everything every run of this process printed (the tail keeps only the end). */
  output(): string {
    return readFileSync(this.logFile, 'utf8');
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number {
    if (!this.child?.pid) throw new Error(`${this.name} is not running`);
    return this.child.pid;
  }

  get envVars(): NodeJS.ProcessEnv {
    return this.env;
  }

  tail(chars = 6_000): string {
    return `--- ${this.name} (last output) ---\n${this.tailText.slice(-chars)}\n---`;
  }

  /** Exits nobody asked for: a crash during a fault is a finding, not noise. */
  unexpectedExits(): Exit[] {
    return this.exits.filter((e) => !e.expected);
  }

  /** Spawns the process and resolves once it is ready (a worker's heartbeat row, an API's answer). */
  async start(): Promise<void> {
    if (this.child) throw new Error(`${this.name} is already running`);
    const child = spawn(process.execPath, ['--import', 'tsx', this.script], {
      cwd: PROJECT_ROOT,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.starts++;
    this.expectingExit = false;
    const onOutput = (b: Buffer) => {
      this.log.write(b);
      this.tailText = (this.tailText + b.toString()).slice(-TAIL_CHARS);
    };
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);
    this.log.write(`\n=== ${new Date().toISOString()} start #${this.starts} pid ${child.pid}\n`);
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const exit = { code, signal, expected: this.expectingExit };
        this.exits.push(exit);
        this.log.write(`\n=== ${new Date().toISOString()} exit code ${code} signal ${signal}\n`);
        if (this.child === child) this.child = undefined;
        resolve(exit);
      });
    });
    try {
      await this.ready(this);
    } catch (err) {
      throw new Error(`${this.name} did not become ready: ${(err as Error).message}\n${this.tail()}`);
    }
  }

  /** SIGKILL: no shutdown hook runs, in-flight activities are lost to Temporal's timeouts. */
  async kill(): Promise<Exit> {
    if (!this.child) throw new Error(`${this.name} is not running`);
    this.expectingExit = true;
    this.child.kill('SIGKILL');
    return this.exitPromise;
  }

  /** SIGTERM, the graceful shutdown; SIGKILL after `graceMs`. */
  async stop(graceMs = 30_000): Promise<Exit | undefined> {
    const child = this.child;
    if (!child) return undefined;
    this.expectingExit = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const exit = await this.exitPromise;
    clearTimeout(timer);
    return exit;
  }

  async restart(): Promise<void> {
    if (this.child) await this.kill();
    await this.start();
  }

  /** Fails the caller when the process has gone by itself. */
  goneWhy(): string | undefined {
    return this.child ? undefined : `${this.name} exited (${JSON.stringify(this.exits.at(-1))})\n${this.tail()}`;
  }

  killNow(): void {
    this.expectingExit = true;
    this.child?.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------- the topology

export interface TopologyOptions {
  /** Names the temp folder and the task queue. */
  name: string;
  workers?: number;
  apis?: number;
  heartbeatIntervalMs?: number;
  readinessMaxAgeMs?: number;
  /** More environment for every app process. */
  env?: Record<string, string>;
}

export interface Topology {
  dir: string;
  taskQueue: string;
  namespace: string;
  governanceLead: string;
  temporal: TemporalServer;
  postgres: PostgresServer;
  smtp: FaultSmtpServer;
  workers: AppProcess[];
  apis: AppProcess[];
  /** An admin API key, made in the record store once the APIs have migrated it. */
  adminKey: string;
  /** Base URL of api `i`; the links in e-mails point at api 0 (PUBLIC_BASE_URL). */
  apiUrl(i: number): string;
  /** Base URLs of the APIs running now. */
  runningApiUrls(): string[];
  /** Exits of app processes that nobody asked for, with their output. */
  unexpectedExits(): string[];
  stop(): Promise<void>;
}

/**
 * Starts everything; the caller's afterAll calls stop(). If the test process
 * dies first, an exit hook SIGKILLs what is left (only what this call started).
 */
export async function startTopology(opts: TopologyOptions): Promise<Topology> {
  const dir = await mkdtemp(join(tmpdir(), `topology-${opts.name}-`));
  // PostgreSQL runs as another OS user when the tests run as root: it must reach its folder inside this one.
  await chmod(dir, 0o755);
  const logDir = join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const namespace = 'default';
  const taskQueue = `topology-${opts.name}`;

  const started: { killNow(): void }[] = [];
  const safetyNet = () => {
    for (const p of started) p.killNow();
  };
  process.once('exit', safetyNet);
  // A runner stopped by a signal never emits 'exit': kill what this call started, then die of the signal as before.
  const onSignal = (signal: NodeJS.Signals) => {
    safetyNet();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const signal of signals) process.once(signal, onSignal);
  const removeSafetyNet = () => {
    process.removeListener('exit', safetyNet);
    for (const signal of signals) process.removeListener(signal, onSignal);
  };

  try {
    const [postgres, temporal, smtp] = await Promise.all([
      PostgresServer.create(dir).then((p) => (started.push(p), p)),
      TemporalServer.create(dir, namespace).then((t) => (started.push(t), t)),
      FaultSmtpServer.create(),
    ]);
    const apiPorts = await Promise.all(Array.from({ length: opts.apis ?? 1 }, () => getFreePort()));
    const apiUrl = (i: number) => `http://127.0.0.1:${apiPorts[i]}`;
    const common = productEnv({
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: namespace,
      TEMPORAL_TASK_QUEUE: taskQueue,
      DATABASE_URL: postgres.url,
      SMTP_URL: smtp.url,
      MAIL_FROM: 'AI Governance <governance@topology.example.org>',
      APPROVAL_LINK_SECRET: TOPOLOGY_SECRET,
      SESSION_SECRET: `${TOPOLOGY_SECRET}-sessions`,
      DECISION_SIGNING_KEY: `${TOPOLOGY_SECRET}-decisions`,
      PAYLOAD_ENCRYPTION_KEYS: TEST_PAYLOAD_ENCRYPTION_KEYS,
      PERSON_KEY_SECRET: TEST_PERSON_KEY_SECRET,
      PUBLIC_BASE_URL: apiUrl(0),
      GOVERNANCE_LEAD_EMAIL: TOPOLOGY_GOVERNANCE_LEAD,
      DATA_DIR: join(dir, 'data'),
      LOG_LEVEL: 'warn',
      // unset unless asked for: the tests judge the shipped defaults of config/env.ts
      ...(opts.heartbeatIntervalMs ? { WORKER_HEARTBEAT_INTERVAL_MS: String(opts.heartbeatIntervalMs) } : {}),
      ...(opts.readinessMaxAgeMs ? { READINESS_HEARTBEAT_MAX_AGE_MS: String(opts.readinessMaxAgeMs) } : {}),
      ...opts.env,
    });

    const workerReady = (p: AppProcess) =>
      pollUntil(
        `${p.name}'s heartbeat row`,
        async () => {
          const rows = await postgres
            .query('select 1 from worker_heartbeats where identity = $1 and task_queue = $2', [
              `${p.pid}@${hostname()}`,
              taskQueue,
            ])
            .catch(() => []);
          return rows.length > 0 ? true : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 200, abort: () => p.goneWhy() },
      );
    const apiReady = (i: number) => (p: AppProcess) =>
      pollUntil(
        `${p.name} answering on ${apiUrl(i)}`,
        async () =>
          (await fetch(`${apiUrl(i)}/openapi.json`, { signal: AbortSignal.timeout(2_000) })).ok ? true : undefined,
        { timeoutMs: 60_000, intervalMs: 200, abort: () => p.goneWhy() },
      );

    const workers = Array.from(
      { length: opts.workers ?? 1 },
      (_, i) => new AppProcess(`worker-${i}`, 'worker/main.ts', common, workerReady, logDir),
    );
    const apis = apiPorts.map(
      (port, i) =>
        new AppProcess(
          `api-${i}`,
          'api/main.ts',
          { ...common, PORT: String(port), HOST: '127.0.0.1' },
          apiReady(i),
          logDir,
        ),
    );
    started.push(...workers, ...apis);
    await Promise.all(workers.map((w) => w.start()));
    await Promise.all(apis.map((a) => a.start()));
    const admin = newApiKey();
    await postgres.query(
      `insert into api_keys (id, prefix, hash, name, email, role, created_by) values ($1, $2, $3, 'topology admin', 'admin@topology.example.org', 'admin', 'topology harness')`,
      [admin.id, admin.prefix, admin.hash],
    );

    let stopped = false;
    return {
      dir,
      taskQueue,
      namespace,
      governanceLead: TOPOLOGY_GOVERNANCE_LEAD,
      adminKey: admin.key,
      temporal,
      postgres,
      smtp,
      workers,
      apis,
      apiUrl,
      runningApiUrls: () => apis.flatMap((a, i) => (a.running ? [apiUrl(i)] : [])),
      unexpectedExits: () =>
        [...workers, ...apis].flatMap((p) =>
          p
            .unexpectedExits()
            .map((e) => `${p.name} exited by itself (code ${e.code}, signal ${e.signal})\n${p.tail()}`),
        ),
      async stop() {
        if (stopped) return;
        stopped = true;
        await Promise.all([...apis, ...workers].map((p) => p.stop(10_000)));
        await smtp.stop();
        await temporal.stop();
        await postgres.stop('immediate').catch(() => postgres.killNow());
        removeSafetyNet();
        if (process.env.TOPOLOGY_KEEP) console.log(`topology ${opts.name} kept in ${dir}`);
        else rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    safetyNet();
    removeSafetyNet();
    if (!process.env.TOPOLOGY_KEEP) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
