import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, openStore, type Store } from '../store/index.js';
import { migrations } from '../store/migrations.js';
import { startTestPostgres } from './support/postgres.js';

const TIMEOUT = 120_000;
const TABLES = [
  'approval_link_uses',
  'assessments',
  'decisions',
  'events',
  'link_attempts',
  'notifications',
  'systems',
];

// ---------------------------------------------------------------------------
// Real PostgreSQL (skipped loudly when absent, required in CI)
// ---------------------------------------------------------------------------

const testPg = await startTestPostgres();
if (!testPg) {
  if (process.env.CI) {
    throw new Error(
      'PostgreSQL is required in CI: no server binaries under /usr/lib/postgresql/*/bin (or POSTGRES_BIN_DIR) and TEST_DATABASE_URL is not set',
    );
  }
  console.warn(
    [
      '',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      '!! PostgreSQL NOT FOUND: the store suite runs against PGlite only.     !!',
      '!! Install postgresql (apt-get install -y postgresql) or set           !!',
      '!! TEST_DATABASE_URL to run it against a real server as well.          !!',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      '',
    ].join('\n'),
  );
}
afterAll(async () => {
  await testPg?.stop();
}, TIMEOUT);

/** A database of its own inside the test server, for tests that need an empty schema. */
async function createDatabase(baseUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `scratch_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const admin = async (fn: (c: pg.Client) => Promise<unknown>) => {
    const client = new pg.Client({ connectionString: baseUrl });
    await client.connect();
    try {
      await fn(client);
    } finally {
      await client.end();
    }
  };
  await admin((c) => c.query(`create database "${name}"`));
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      admin(async (c) => {
        await c.query(
          'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
          [name],
        );
        await c.query(`drop database if exists "${name}"`);
      }),
  };
}

// ---------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------

interface FreshTarget {
  open(): Promise<Store>;
  dispose(): Promise<void>;
}

interface Backend {
  name: 'pglite' | 'postgres';
  enabled: boolean;
  /** The store most tests share (they use distinct system ids). */
  openShared(): Promise<Store>;
  /** An empty database/directory that can be opened several times. */
  fresh(): Promise<FreshTarget>;
  /** Whether two stores may be open on the same target at once. */
  multiProcess: boolean;
}

const backends: Backend[] = [
  {
    name: 'pglite',
    enabled: true,
    openShared: () => openStore({}),
    async fresh() {
      const dir = await mkdtemp(join(tmpdir(), 'store-pglite-'));
      return {
        open: () => openStore({ pgliteDir: join(dir, 'db') }),
        dispose: () => rm(dir, { recursive: true, force: true }),
      };
    },
    multiProcess: false,
  },
  {
    name: 'postgres',
    enabled: testPg !== undefined,
    openShared: () => openStore({ databaseUrl: testPg!.url }),
    async fresh() {
      const database = await createDatabase(testPg!.url);
      return { open: () => openStore({ databaseUrl: database.url }), dispose: () => database.drop() };
    },
    multiProcess: true,
  },
];

let counter = 0;
const newSystemId = () => `sys-${++counter}-${randomUUID().slice(0, 8)}`;
const t = (iso: string) => new Date(iso);

async function tableNames(store: Store): Promise<string[]> {
  const r = await sql<{ tableName: string }>`
    select table_name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE'
    order by table_name`.execute(store.db);
  return r.rows.map((row) => row.tableName);
}

async function executedMigrations(store: Store): Promise<string[]> {
  const r = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(store.db);
  return r.rows.map((row) => row.name);
}

/** Tampering as an attacker with DDL rights would: bypass the append-only trigger. */
async function tamper(store: Store, statement: ReturnType<typeof sql>): Promise<void> {
  await store.db.transaction().execute(async (trx) => {
    await sql`alter table events disable trigger events_append_only`.execute(trx);
    await statement.execute(trx);
    await sql`alter table events enable trigger events_append_only`.execute(trx);
  });
}

function expectLinearChain(events: { seq: number; prevHash: string; hash: string }[], length: number): void {
  expect(events.map((e) => e.seq)).toEqual(Array.from({ length }, (_, i) => i + 1));
  events.forEach((e, i) => {
    expect(e.prevHash).toBe(i === 0 ? GENESIS_HASH : events[i - 1]!.hash);
  });
  expect(new Set(events.map((e) => e.hash)).size).toBe(length);
}

// ---------------------------------------------------------------------------
// The suite, once per backend
// ---------------------------------------------------------------------------

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`record store on ${backend.name}`, { timeout: TIMEOUT }, () => {
    let store: Store;

    beforeAll(async () => {
      store = await backend.openShared();
    }, TIMEOUT);
    afterAll(async () => {
      await store?.close();
    }, TIMEOUT);

    it('reports its kind and has every table', async () => {
      expect(store.kind).toBe(backend.name);
      expect(await tableNames(store)).toEqual(expect.arrayContaining(TABLES));
    });

    it('runs migrations idempotently: opening twice keeps schema and data', async () => {
      const target = await backend.fresh();
      try {
        const first = await target.open();
        expect(await executedMigrations(first)).toEqual(Object.keys(migrations).sort());
        const systemId = newSystemId();
        await first.recordEvent({
          idempotencyKey: `${systemId}:a`,
          systemId,
          type: 'registered',
          actor: null,
          at: t('2024-01-01T00:00:00Z'),
          payload: {},
        });
        await first.close();

        const second = await target.open();
        try {
          expect(await executedMigrations(second)).toEqual(Object.keys(migrations).sort());
          expect(await tableNames(second)).toEqual(expect.arrayContaining(TABLES));
          expect(await second.listEvents(systemId)).toHaveLength(1);
          expect(await second.verifyChain(systemId)).toEqual({ ok: true, count: 1 });
        } finally {
          await second.close();
        }
      } finally {
        await target.dispose();
      }
    });

    it.skipIf(!backend.multiProcess)(
      'migrates safely when several processes open an empty database at once',
      async () => {
        const target = await backend.fresh();
        try {
          const stores = await Promise.all(Array.from({ length: 4 }, () => target.open()));
          try {
            for (const s of stores) {
              expect(await executedMigrations(s)).toEqual(Object.keys(migrations).sort());
            }
          } finally {
            await Promise.all(stores.map((s) => s.close()));
          }
        } finally {
          await target.dispose();
        }
      },
    );

    it('upsertSystem keeps the newest projection and ignores older updates', async () => {
      const systemId = newSystemId();
      const base = {
        systemId,
        owner: 'owner@example.com',
        riskOwner: 'risk@example.com',
        policyVersion: '2024.1',
        reviewDueAt: null,
      };
      await store.upsertSystem({
        ...base,
        name: 'v2',
        stage: 'assessment',
        riskTier: 'high',
        registration: { n: 2, tags: ['a', 'b'] },
        updatedAt: t('2024-03-02T00:00:00.000Z'),
      });
      // A retried activity delivers an older snapshot after the newer one.
      await store.upsertSystem({
        ...base,
        name: 'v1',
        stage: 'registered',
        riskTier: null,
        registration: { n: 1 },
        updatedAt: t('2024-03-01T00:00:00.000Z'),
      });

      const afterStale = await store.getSystem(systemId);
      expect(afterStale).toMatchObject({
        name: 'v2',
        stage: 'assessment',
        riskTier: 'high',
        registration: { n: 2, tags: ['a', 'b'] },
      });
      expect(afterStale?.updatedAt).toBeInstanceOf(Date);
      expect(afterStale?.updatedAt.toISOString()).toBe('2024-03-02T00:00:00.000Z');

      await store.upsertSystem({
        ...base,
        name: 'v3',
        stage: 'approved',
        riskTier: 'limited',
        reviewDueAt: t('2025-03-03T12:00:00.123Z'),
        registration: [1, 2],
        updatedAt: t('2024-03-03T00:00:00.000Z'),
      });
      const latest = await store.getSystem(systemId);
      expect(latest).toMatchObject({
        systemId,
        name: 'v3',
        owner: 'owner@example.com',
        riskOwner: 'risk@example.com',
        stage: 'approved',
        riskTier: 'limited',
        policyVersion: '2024.1',
        registration: [1, 2],
      });
      expect(latest?.reviewDueAt?.toISOString()).toBe('2025-03-03T12:00:00.123Z');
      expect(latest?.createdAt).toBeInstanceOf(Date);
      expect(await store.getSystem('no-such-system')).toBeUndefined();
    });

    it('recordEvent is idempotent on its key and hashes the canonical content', async () => {
      const systemId = newSystemId();
      const key = `${systemId}:registered`;
      const at = t('2024-01-02T03:04:05.678Z');
      const first = await store.recordEvent({
        idempotencyKey: key,
        systemId,
        type: 'registered',
        actor: 'alice',
        at,
        payload: { b: 1, a: [1, 'x'] },
      });
      expect(first).toMatchObject({ seq: 1, inserted: true });

      // Independent computation of sha256(prevHash + canonical JSON).
      const canonical = `{"actor":"alice","at":"2024-01-02T03:04:05.678Z","idempotencyKey":${JSON.stringify(key)},"payload":{"a":[1,"x"],"b":1},"seq":1,"systemId":${JSON.stringify(systemId)},"type":"registered"}`;
      expect(first.hash).toBe(
        createHash('sha256')
          .update(GENESIS_HASH + canonical)
          .digest('hex'),
      );

      const again = await store.recordEvent({
        idempotencyKey: key,
        systemId,
        type: 'registered',
        actor: 'mallory',
        at: new Date(),
        payload: { other: true },
      });
      expect(again).toEqual({ seq: 1, hash: first.hash, inserted: false });

      const events = await store.listEvents(systemId);
      expect(events).toHaveLength(1);
      const [event] = events;
      expect(event).toMatchObject({
        systemId,
        seq: 1,
        idempotencyKey: key,
        type: 'registered',
        actor: 'alice',
        payload: { a: [1, 'x'], b: 1 },
        prevHash: GENESIS_HASH,
        hash: first.hash,
      });
      expect(typeof event!.seq).toBe('number');
      expect(event!.at).toBeInstanceOf(Date);
      expect(event!.at.getTime()).toBe(at.getTime());
      expect(event!.recordedAt).toBeInstanceOf(Date);
    });

    it('builds a chain that verifies and round-trips JSON payloads', async () => {
      const systemId = newSystemId();
      const payloads: unknown[] = [
        { nested: { z: 1, a: [true, null, 1.5, 'ü'] } },
        [1, 'two', { three: 3 }],
        'just a string',
        null,
        42,
        { dropped: undefined, kept: 0, when: new Date('2024-05-06T07:08:09.010Z') },
        // The camel-case plugin renames columns only, never keys inside jsonb.
        { snake_key: { inner_key: [{ deep_key: 1 }] } },
      ];
      for (const [i, payload] of payloads.entries()) {
        const r = await store.recordEvent({
          idempotencyKey: `${systemId}:${i}`,
          systemId,
          type: `t${i}`,
          actor: i % 2 ? null : 'bob',
          at: new Date(Date.UTC(2024, 0, 1, 0, 0, i)),
          payload,
        });
        expect(r).toMatchObject({ seq: i + 1, inserted: true });
      }
      const events = await store.listEvents(systemId);
      expectLinearChain(events, payloads.length);
      expect(events.map((e) => e.payload)).toEqual([
        { nested: { z: 1, a: [true, null, 1.5, 'ü'] } },
        [1, 'two', { three: 3 }],
        'just a string',
        null,
        42,
        { kept: 0, when: '2024-05-06T07:08:09.010Z' },
        { snake_key: { inner_key: [{ deep_key: 1 }] } },
      ]);
      expect(await store.verifyChain(systemId)).toEqual({ ok: true, count: payloads.length });
      expect(await store.verifyChain(newSystemId())).toEqual({ ok: true, count: 0 });
      // Chains are per system: another system starts again at seq 1.
      const other = newSystemId();
      expect(
        await store.recordEvent({
          idempotencyKey: `${other}:0`,
          systemId: other,
          type: 'x',
          actor: null,
          at: new Date(),
          payload: {},
        }),
      ).toMatchObject({ seq: 1 });
    });

    it('rejects updates and deletes of events (append-only)', async () => {
      const systemId = newSystemId();
      await store.recordEvent({
        idempotencyKey: `${systemId}:0`,
        systemId,
        type: 'a',
        actor: null,
        at: new Date(),
        payload: { v: 1 },
      });
      await expect(
        sql`update events set payload = '{"v":2}'::jsonb where system_id = ${systemId}`.execute(store.db),
      ).rejects.toThrow(/append-only/);
      await expect(sql`delete from events where system_id = ${systemId}`.execute(store.db)).rejects.toThrow(
        /append-only/,
      );
      expect((await store.listEvents(systemId))[0]?.payload).toEqual({ v: 1 });
    });

    it('verifyChain reports the seq of a tampered payload', async () => {
      const systemId = newSystemId();
      for (let i = 0; i < 4; i++) {
        await store.recordEvent({
          idempotencyKey: `${systemId}:${i}`,
          systemId,
          type: 'step',
          actor: 'carol',
          at: new Date(Date.UTC(2024, 1, 1, i)),
          payload: { amount: i * 10 },
        });
      }
      expect(await store.verifyChain(systemId)).toEqual({ ok: true, count: 4 });

      await tamper(
        store,
        sql`update events set payload = '{"amount": 999}'::jsonb where system_id = ${systemId} and seq = 2`,
      );
      expect((await store.listEvents(systemId))[1]?.payload).toEqual({ amount: 999 });
      const result = await store.verifyChain(systemId);
      expect(result).toMatchObject({ ok: false, count: 4, brokenAtSeq: 2 });
      expect(result.ok === false && result.reason).toMatch(/hash/);
    });

    it('verifyChain reports a rewritten hash link and a deleted event', async () => {
      const relinked = newSystemId();
      const removed = newSystemId();
      for (const systemId of [relinked, removed]) {
        for (let i = 0; i < 3; i++) {
          await store.recordEvent({
            idempotencyKey: `${systemId}:${i}`,
            systemId,
            type: 'step',
            actor: null,
            at: new Date(Date.UTC(2024, 2, 1, i)),
            payload: { i },
          });
        }
      }
      // Recomputing seq 3's own hash is not enough once its prev link is wrong.
      await tamper(
        store,
        sql`update events set prev_hash = ${'f'.repeat(64)} where system_id = ${relinked} and seq = 3`,
      );
      const relinkedResult = await store.verifyChain(relinked);
      expect(relinkedResult).toMatchObject({ ok: false, count: 3, brokenAtSeq: 3 });
      expect(relinkedResult.ok === false && relinkedResult.reason).toMatch(/prev_hash/);

      await tamper(store, sql`delete from events where system_id = ${removed} and seq = 2`);
      const removedResult = await store.verifyChain(removed);
      expect(removedResult).toMatchObject({ ok: false, count: 2, brokenAtSeq: 3 });
      expect(removedResult.ok === false && removedResult.reason).toMatch(/gap/);
    });

    it('keeps one linear chain under concurrent appends for one system', async () => {
      const systemId = newSystemId();
      // On Postgres a second store is a second pool, like a second worker process.
      const other = backend.multiProcess ? await backend.openShared() : store;
      try {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? other : store).recordEvent({
              idempotencyKey: `${systemId}:${i}`,
              systemId,
              type: 'concurrent',
              actor: null,
              at: new Date(Date.UTC(2024, 3, 1, 0, 0, 0, i)),
              payload: { i },
            }),
          ),
        );
        expect(results.every((r) => r.inserted)).toBe(true);
        expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        const events = await store.listEvents(systemId);
        expectLinearChain(events, 20);
        expect(await store.verifyChain(systemId)).toEqual({ ok: true, count: 20 });
      } finally {
        if (other !== store) await other.close();
      }
    });

    it('inserts an event once when the same key is recorded concurrently', async () => {
      const systemId = newSystemId();
      const key = `${systemId}:once`;
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.recordEvent({
            idempotencyKey: key,
            systemId,
            type: 'once',
            actor: `actor-${i}`,
            at: new Date(),
            payload: { i },
          }),
        ),
      );
      expect(results.filter((r) => r.inserted)).toHaveLength(1);
      expect(new Set(results.map((r) => `${r.seq}:${r.hash}`)).size).toBe(1);
      expect(results[0]?.seq).toBe(1);
      expect(await store.listEvents(systemId)).toHaveLength(1);
    });

    it('records assessments and decisions once per idempotency key', async () => {
      const systemId = newSystemId();
      const assessment = {
        idempotencyKey: `${systemId}:a1`,
        systemId,
        version: 1,
        riskTier: 'high',
        submittedBy: 'dan@example.com',
        submittedAt: t('2024-04-01T10:00:00.000Z'),
        content: { answers: [{ q: 'purpose', a: 'triage' }] },
      };
      expect(await store.recordAssessment(assessment)).toEqual({ inserted: true });
      expect(await store.recordAssessment({ ...assessment, content: { changed: true } })).toEqual({ inserted: false });
      expect(
        await store.recordAssessment({
          ...assessment,
          idempotencyKey: `${systemId}:a2`,
          version: 2,
          riskTier: 'limited',
        }),
      ).toEqual({ inserted: true });
      const assessments = await store.listAssessments(systemId);
      expect(assessments.map((a) => [a.version, a.riskTier])).toEqual([
        [1, 'high'],
        [2, 'limited'],
      ]);
      expect(assessments[0]).toMatchObject({
        submittedBy: 'dan@example.com',
        content: { answers: [{ q: 'purpose', a: 'triage' }] },
      });
      expect(assessments[0]?.submittedAt.toISOString()).toBe('2024-04-01T10:00:00.000Z');
      expect(typeof assessments[0]?.id).toBe('number');

      const decision = {
        idempotencyKey: `${systemId}:d1`,
        systemId,
        requestId: 'req-1',
        step: 1,
        approver: 'erin@example.com',
        decision: 'approve',
        comment: 'ok',
        decidedAt: t('2024-04-02T10:00:00.000Z'),
        digest: 'abc',
      };
      expect(await store.recordDecision(decision)).toEqual({ inserted: true });
      expect(await store.recordDecision({ ...decision, decision: 'reject' })).toEqual({ inserted: false });
      expect(
        await store.recordDecision({
          ...decision,
          idempotencyKey: `${systemId}:d2`,
          step: 2,
          digest: null,
          decidedAt: t('2024-04-03T10:00:00.000Z'),
        }),
      ).toEqual({ inserted: true });
      const decisions = await store.listDecisions(systemId);
      expect(decisions.map((d) => [d.step, d.decision, d.digest])).toEqual([
        [1, 'approve', 'abc'],
        [2, 'approve', null],
      ]);
      expect(decisions[1]?.decidedAt.toISOString()).toBe('2024-04-03T10:00:00.000Z');
    });

    it('claimNotification is idempotent and tracks sent / failed', async () => {
      const systemId = newSystemId();
      const key = `${systemId}:mail:approval-request`;
      const claim = {
        idempotencyKey: key,
        systemId,
        kind: 'approval-request',
        toAddress: 'frank@example.com',
        subject: 'Please review',
        messageId: '<m1@test>',
        createdAt: t('2024-05-01T00:00:00.000Z'),
      };
      expect(await store.claimNotification(claim)).toEqual({
        status: 'pending',
        messageId: '<m1@test>',
        attempts: 0,
        created: true,
      });
      expect(await store.claimNotification({ ...claim, messageId: '<m2@test>' })).toEqual({
        status: 'pending',
        messageId: '<m1@test>',
        attempts: 0,
        created: false,
      });

      // Given up on for good (an SMTP 5xx): a claim says so.
      await store.markNotificationFailed(key, 'smtp 550');
      expect(await store.claimNotification({ ...claim, messageId: '<m3@test>' })).toEqual({
        status: 'failed',
        messageId: '<m1@test>',
        attempts: 1,
        created: false,
      });
      await store.markNotificationFailed(key, 'smtp 452');

      await store.markNotificationSent(key, t('2024-05-01T00:05:00.000Z'));
      await store.markNotificationSent(key, t('2024-05-01T00:09:00.000Z')); // retried: keeps the first time
      await store.markNotificationFailed(key, 'late failure report'); // never downgrades a sent message
      expect(await store.claimNotification(claim)).toEqual({
        status: 'sent',
        messageId: '<m1@test>',
        attempts: 2,
        created: false,
      });

      const rows = await store.listNotifications(systemId);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        idempotencyKey: key,
        kind: 'approval-request',
        toAddress: 'frank@example.com',
        subject: 'Please review',
        status: 'sent',
        attempts: 2,
        lastError: 'smtp 452',
      });
      expect(rows[0]?.sentAt?.toISOString()).toBe('2024-05-01T00:05:00.000Z');
      expect(rows[0]?.createdAt.toISOString()).toBe('2024-05-01T00:00:00.000Z');

      await expect(store.markNotificationSent(`${systemId}:unknown`, new Date())).rejects.toThrow(
        /unknown notification/,
      );
      await expect(store.markNotificationFailed(`${systemId}:unknown`, 'x')).resolves.toBeUndefined();
    });

    it('claims a notification once under concurrency', async () => {
      const systemId = newSystemId();
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.claimNotification({
            idempotencyKey: `${systemId}:mail`,
            systemId,
            kind: 'reminder',
            toAddress: 'gina@example.com',
            subject: 's',
            messageId: `<m${i}@test>`,
            createdAt: new Date(),
          }),
        ),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      const winner = results.find((r) => r.created)!;
      expect(results.every((r) => r.messageId === winner.messageId)).toBe(true);
      expect(await store.listNotifications(systemId)).toHaveLength(1);
    });

    it('records link attempts, filterable by system', async () => {
      const systemId = newSystemId();
      await store.recordLinkAttempt({
        systemId,
        reason: 'expired',
        at: t('2024-08-01T00:00:00.000Z'),
        detail: { jti: 'x', exp: 1 },
      });
      await store.recordLinkAttempt({
        systemId: null,
        reason: 'bad-signature',
        at: t('2024-08-01T00:01:00.000Z'),
        detail: ['raw', 'token'],
      });
      await store.recordLinkAttempt({ systemId, reason: 'reused', at: t('2024-08-01T00:02:00.000Z'), detail: null });

      const mine = await store.listLinkAttempts(systemId);
      expect(mine.map((a) => [a.reason, a.detail])).toEqual([
        ['expired', { jti: 'x', exp: 1 }],
        ['reused', null],
      ]);
      expect(mine[0]?.at.toISOString()).toBe('2024-08-01T00:00:00.000Z');
      const all = await store.listLinkAttempts();
      expect(all.some((a) => a.systemId === null && a.reason === 'bad-signature' && Array.isArray(a.detail))).toBe(
        true,
      );
      expect(all.length).toBeGreaterThanOrEqual(3);
    });
  });
}

// ---------------------------------------------------------------------------
// Backend-specific
// ---------------------------------------------------------------------------

describe('PGlite persisted to a directory', { timeout: TIMEOUT }, () => {
  it('survives close and reopen (and creates the directory)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'store-persist-'));
    const dir = join(root, 'nested', 'pglite'); // does not exist yet
    try {
      const systemId = 'persisted-system';
      const first = await openStore({ pgliteDir: dir });
      expect(first.kind).toBe('pglite');
      await first.upsertSystem({
        systemId,
        name: 'Persisted',
        owner: 'o@example.com',
        riskOwner: 'r@example.com',
        stage: 'registered',
        riskTier: null,
        reviewDueAt: null,
        policyVersion: 'p1',
        registration: { purpose: 'keep' },
        updatedAt: t('2024-09-01T00:00:00.000Z'),
      });
      const a = await first.recordEvent({
        idempotencyKey: 'p:0',
        systemId,
        type: 'registered',
        actor: 'o',
        at: t('2024-09-01T00:00:00.000Z'),
        payload: { n: 0 },
      });
      const b = await first.recordEvent({
        idempotencyKey: 'p:1',
        systemId,
        type: 'assessed',
        actor: 'o',
        at: t('2024-09-02T00:00:00.000Z'),
        payload: { n: 1 },
      });
      await first.claimNotification({
        idempotencyKey: 'p:mail',
        systemId,
        kind: 'k',
        toAddress: 'o@example.com',
        subject: 's',
        messageId: '<p@test>',
        createdAt: t('2024-09-01T00:00:00.000Z'),
      });
      await first.close();

      const second = await openStore({ pgliteDir: dir });
      try {
        expect(await second.getSystem(systemId)).toMatchObject({
          name: 'Persisted',
          registration: { purpose: 'keep' },
        });
        expect((await second.listEvents(systemId)).map((e) => e.hash)).toEqual([a.hash, b.hash]);
        expect(await second.verifyChain(systemId)).toEqual({ ok: true, count: 2 });
        expect(
          await second.recordEvent({
            idempotencyKey: 'p:1',
            systemId,
            type: 'assessed',
            actor: 'o',
            at: new Date(),
            payload: {},
          }),
        ).toEqual({ seq: 2, hash: b.hash, inserted: false });
        expect(
          await second.recordEvent({
            idempotencyKey: 'p:2',
            systemId,
            type: 'approved',
            actor: 'o',
            at: new Date(),
            payload: {},
          }),
        ).toMatchObject({ seq: 3, inserted: true });
        expect(
          await second.claimNotification({
            idempotencyKey: 'p:mail',
            systemId,
            kind: 'k',
            toAddress: 'o@example.com',
            subject: 's',
            messageId: '<other@test>',
            createdAt: new Date(),
          }),
        ).toMatchObject({ created: false, messageId: '<p@test>' });
      } finally {
        await second.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!testPg)('PGlite and PostgreSQL agree', { timeout: TIMEOUT }, () => {
  it('produce identical rows and hashes for the same events', async () => {
    const lite = await openStore({});
    const real = await openStore({ databaseUrl: testPg!.url });
    try {
      const systemId = newSystemId();
      const inputs = [
        { payload: { big: 9007199254740991, small: 1e-7, neg: -0.5, s: 'ß\n"' }, actor: 'a' },
        { payload: [[], {}, [null]], actor: null },
        { payload: 'plain', actor: 'b' },
      ];
      for (const [i, input] of inputs.entries()) {
        const e = {
          idempotencyKey: `${systemId}:${i}`,
          systemId,
          type: 'same',
          at: new Date(Date.UTC(2024, 9, 1, 0, 0, 0, i * 7)),
          ...input,
        };
        expect(await real.recordEvent(e)).toEqual(await lite.recordEvent(e));
      }
      const strip = (rows: Awaited<ReturnType<Store['listEvents']>>) =>
        rows.map(({ recordedAt: _ignored, ...rest }) => rest);
      const liteRows = strip(await lite.listEvents(systemId));
      expect(liteRows).toHaveLength(3);
      expect(strip(await real.listEvents(systemId))).toEqual(liteRows);
      expect(await real.verifyChain(systemId)).toEqual({ ok: true, count: 3 });

      // Every other table: int8 ids, integers, timestamps and jsonb come back alike.
      for (const s of [lite, real]) {
        await s.upsertSystem({
          systemId,
          name: 'n',
          owner: 'o',
          riskOwner: 'r',
          stage: 'registered',
          riskTier: null,
          reviewDueAt: t('2025-01-01T00:00:00.001Z'),
          policyVersion: 'p',
          registration: { risk_owner: 'r' },
          updatedAt: t('2024-10-01T00:00:00.000Z'),
        });
        await s.recordAssessment({
          idempotencyKey: `${systemId}:a`,
          systemId,
          version: 3,
          riskTier: 'high',
          submittedBy: 'x',
          submittedAt: t('2024-10-02T00:00:00.000Z'),
          content: [{ a: 1 }],
        });
        await s.recordDecision({
          idempotencyKey: `${systemId}:d`,
          systemId,
          requestId: 'q',
          step: 2,
          approver: 'x',
          decision: 'approve',
          comment: '',
          decidedAt: t('2024-10-03T00:00:00.000Z'),
          digest: null,
        });
        await s.claimNotification({
          idempotencyKey: `${systemId}:n`,
          systemId,
          kind: 'k',
          toAddress: 'x@example.com',
          subject: 's',
          messageId: '<m@test>',
          createdAt: t('2024-10-04T00:00:00.000Z'),
        });
        await s.markNotificationFailed(`${systemId}:n`, 'boom');
        await s.markNotificationSent(`${systemId}:n`, t('2024-10-05T00:00:00.000Z'));
        await s.recordLinkAttempt({
          systemId,
          reason: 'expired',
          at: t('2024-10-06T00:00:00.000Z'),
          detail: { a_b: 1 },
        });
      }
      const shape = async (s: Store) => {
        const { createdAt, ...system } = (await s.getSystem(systemId))!;
        const [assessment] = await s.listAssessments(systemId);
        const [decision] = await s.listDecisions(systemId);
        const [notification] = await s.listNotifications(systemId);
        const [attempt] = await s.listLinkAttempts(systemId);
        expect(createdAt).toBeInstanceOf(Date);
        for (const row of [assessment!, decision!, attempt!]) expect(typeof row.id).toBe('number');
        expect(notification!.updatedAt).toBeInstanceOf(Date);
        const { id: _a, recordedAt: _ar, ...a } = assessment!;
        const { id: _d, recordedAt: _dr, ...d } = decision!;
        const { updatedAt: _nu, ...n } = notification!;
        const { id: _l, recordedAt: _lr, ...l } = attempt!;
        return { system, a, d, n, l };
      };
      const liteShape = await shape(lite);
      expect(liteShape.n).toMatchObject({ toAddress: 'x@example.com', attempts: 1, status: 'sent' });
      expect(liteShape.system.registration).toEqual({ risk_owner: 'r' });
      expect(await shape(real)).toEqual(liteShape);
    } finally {
      await Promise.all([lite.close(), real.close()]);
    }
  });
});
