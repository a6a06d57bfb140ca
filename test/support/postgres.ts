import { execFile, execFileSync, spawnSync, type ExecFileOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface TestPostgres {
  /** postgres:// URL of a database nobody else uses. */
  url: string;
  /** Stops the server / drops the database and removes temporary files. Idempotent. */
  stop(): Promise<void>;
}

/**
 * A real PostgreSQL for tests.
 *
 * - `TEST_DATABASE_URL` set: creates a fresh database inside that server for
 *   this call (so parallel test files don't collide); stop() drops it.
 * - otherwise: finds server binaries (`POSTGRES_BIN_DIR`, else the newest
 *   /usr/lib/postgresql/<version>/bin), initdb's a throwaway cluster in a temp
 *   dir (as the `postgres` OS user when running as root, since postgres refuses
 *   to run as root), starts it on a free 127.0.0.1 port with its unix socket in
 *   the temp dir, waits until it accepts connections.
 *
 * Returns undefined only when no server binaries exist.
 */
export async function startTestPostgres(): Promise<TestPostgres | undefined> {
  const external = process.env.TEST_DATABASE_URL?.trim();
  if (external) return createScratchDatabase(external);

  const binDir = findPostgresBinDir();
  if (!binDir) return undefined;
  return startCluster(binDir);
}

// ---------------------------------------------------------------------------
// TEST_DATABASE_URL: one scratch database per call
// ---------------------------------------------------------------------------

async function createScratchDatabase(adminUrl: string): Promise<TestPostgres> {
  const name = `store_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await withClient(adminUrl, (c) => c.query(`create database "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let stopped = false;
  return {
    url: url.toString(),
    async stop() {
      if (stopped) return;
      stopped = true;
      await withClient(adminUrl, async (c) => {
        await c.query(
          'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
          [name],
        );
        await c.query(`drop database if exists "${name}"`);
      });
    },
  };
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------
// Throwaway cluster from local binaries
// ---------------------------------------------------------------------------

const REQUIRED_BINARIES = ['initdb', 'pg_ctl', 'postgres'];

export function findPostgresBinDir(): string | undefined {
  const hasAll = (dir: string) => REQUIRED_BINARIES.every((b) => existsSync(join(dir, b)));
  const override = process.env.POSTGRES_BIN_DIR?.trim();
  if (override) return hasAll(override) ? override : undefined;

  const root = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = readdirSync(root);
  } catch {
    return undefined;
  }
  const candidates = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v) && hasAll(join(root, v, 'bin')))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  const newest = candidates[0];
  return newest === undefined ? undefined : join(root, newest, 'bin');
}

interface RunAs {
  uid: number;
  gid: number;
}

/** As root, the server must run as an unprivileged user: `postgres`, created if missing. */
function postgresOsUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = () => ({
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  });
  try {
    return lookup();
  } catch {
    execFileSync('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      'postgres',
    ]);
    return lookup();
  }
}

function run(file: string, args: string[], runAs: RunAs | undefined, cwd: string): Promise<string> {
  const options: ExecFileOptions = {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
  };
  return new Promise((resolve, reject) => {
    execFile(file, args, options, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${String(stdout)}\n${String(stderr)}`));
      } else {
        resolve(String(stdout));
      }
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

async function waitUntilReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await withClient(url, (c) => c.query('select 1'));
      return;
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`PostgreSQL did not become ready within ${timeoutMs} ms: ${String(last)}`);
}

async function startCluster(binDir: string): Promise<TestPostgres> {
  const runAs = postgresOsUser();
  const dir = await mkdtemp(join(tmpdir(), 'pgtest-'));
  if (runAs) await chown(dir, runAs.uid, runAs.gid);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const pgCtl = join(binDir, 'pg_ctl');

  // Last-resort cleanup if the test process exits without calling stop().
  const onExit = () => {
    spawnSync(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], {
      cwd: dir,
      stdio: 'ignore',
      ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  let started = false;
  try {
    await run(
      join(binDir, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      runAs,
      dir,
    );

    let url = '';
    let lastError: unknown;
    for (let attempt = 0; attempt < 5 && !started; attempt++) {
      const port = await freePort();
      const serverOptions = [
        `-p ${port}`,
        '-c listen_addresses=127.0.0.1',
        `-c unix_socket_directories=${dir}`,
        '-c fsync=off',
        '-c synchronous_commit=off',
        '-c full_page_writes=off',
        '-c max_connections=200',
      ].join(' ');
      try {
        await run(pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions, 'start'], runAs, dir);
        started = true;
        url = `postgres://postgres@127.0.0.1:${port}/postgres`;
      } catch (error) {
        // Most likely someone took the port between probing and binding.
        lastError = error;
      }
    }
    if (!started) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new Error(`could not start PostgreSQL from ${binDir}: ${String(lastError)}\n${log}`);
    }
    await waitUntilReady(url, 30_000);

    let stopped = false;
    return {
      url,
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener('exit', onExit);
        await run(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop'], runAs, dir).catch(() =>
          run(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], runAs, dir).catch(() => undefined),
        );
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    process.removeListener('exit', onExit);
    if (started) {
      await run(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], runAs, dir).catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
