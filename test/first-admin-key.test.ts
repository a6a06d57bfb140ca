/**
 * The first admin key of a production deployment: made in PostgreSQL by
 * `npm run admin:first-key`, printed once, working at once, and refused a
 * second time while an admin key is active.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../api/auth/keys.js';
import { useApiKey } from '../store/access.js';
import { openStore, type Store } from '../store/index.js';
import { startTestPostgres, type TestPostgres } from './support/postgres.js';

const run = promisify(execFile);
let pg: TestPostgres | undefined;
let store: Store | undefined;

beforeAll(async () => {
  pg = await startTestPostgres();
  if (!pg) throw new Error('PostgreSQL server binaries are needed (see test/support/postgres.ts)');
}, 120_000);
afterAll(async () => {
  await store?.close();
  await pg?.stop();
});

const firstKey = (args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'api/first-admin-key.ts', ...args], {
    env: { ...process.env, DATABASE_URL: pg!.url },
    timeout: 60_000,
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('npm run admin:first-key', () => {
  it('makes an admin key once, prints it, and refuses while one is active', async () => {
    const bad = await firstKey(['not-an-address']);
    expect(bad.code, bad.stderr).toBe(2);
    expect(bad.stderr).toContain('usage');

    const made = await firstKey(['first-admin@example.org']);
    expect(made.code, made.stderr).toBe(0);
    const key = /\b(ail_[a-z0-9]{8}_[A-Za-z0-9_-]{43})\b/.exec(made.stdout)?.[1];
    expect(key, made.stdout).toBeDefined();
    store = await openStore({ databaseUrl: pg!.url });
    expect(await useApiKey(store.db, sha256Hex(key!))).toMatchObject({
      role: 'admin',
      email: 'first-admin@example.org',
    });

    const again = await firstKey(['someone@example.org']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('An admin key is active already');
    expect(again.stdout).not.toMatch(/ail_/);
  }, 120_000);
});
