import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import {
  CamelCasePlugin,
  Kysely,
  PGliteDialect,
  PostgresDialect,
  sql,
  type Selectable,
  type Transaction,
} from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import type { ChainCheck } from '../domain/audit.js';
import { contentDigest } from '../domain/digest.js';
import { computeEventHash, GENESIS_HASH, normalizeJson } from './hash.js';
import { migrationProvider } from './migrations.js';
import type {
  AssessmentsTable,
  Database,
  DecisionsTable,
  EventsTable,
  LinkAttemptsTable,
  NotificationsTable,
  NotificationStatus,
  SystemsTable,
} from './schema.js';

export type { Database, NotificationStatus } from './schema.js';
export { canonicalJson, computeEventHash, GENESIS_HASH } from './hash.js';
export { countSystemsByStageAndTier, lastApprovers, listSystemRows, type SystemListRow } from './reads.js';

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

export interface OpenStoreOptions {
  /** postgres:// URL; when set the store runs on a `pg.Pool`. */
  databaseUrl?: string;
  /** PGlite data directory (created if missing); undefined = in-memory PGlite. */
  pgliteDir?: string;
}

// Derived, so a row type cannot drift from its table: through the camel-case
// plugin, `selectAll()` returns exactly these shapes and needs no mapping.
export type SystemRow = Selectable<SystemsTable>;
export type EventRow = Selectable<EventsTable>;
export type AssessmentRow = Selectable<AssessmentsTable>;
export type DecisionRow = Selectable<DecisionsTable>;
/** `attempts` counts failed deliveries recorded with markNotificationFailed. */
export type NotificationRow = Selectable<NotificationsTable>;
export type LinkAttemptRow = Selectable<LinkAttemptsTable>;

/** One lifecycle step's records; see Store.recordBatch. Assessment rows copy documents stored before. */
export interface RecordBatch {
  systemId: string;
  batchKey: string;
  /** When the step happened in the workflow: every record of it carries this time. */
  at: string;
  events: { type: string; actor: string | null; payload: Record<string, unknown> }[];
  assessments: { version: number; riskTier: string; submittedBy: string; submittedAt: string; digest: string }[];
  decisions: {
    requestId: string;
    step: number;
    approver: string;
    decision: string;
    comment: string;
    decidedAt: string;
    digest: string;
  }[];
  mails: { key: string; messageId: string; notification: { kind: string; to: string } }[];
  failedMails: { key: string; error: string }[];
  resends: { from: string; messageId: string }[];
  /**
   * The chain head the workflow anchored after its previous step, checked
   * before anything is appended: a database that no longer holds it was
   * rewritten or cut, and the answer says so (anchorMismatch).
   */
  anchor?: { seq: number; hash: string };
  /** The system as it stood after the step; absent for an e-mail queued on its own. */
  projection?: {
    stage: string;
    riskTier: string | null;
    reviewDueAt: string | null;
    policyVersion: string;
    name: string;
    owner: string;
    riskOwner: string;
    registration?: unknown;
  };
}

export interface RecordBatchResult {
  /** The chain head after the batch: the workflow keeps it, outside the database. */
  head: { seq: number; hash: string } | null;
  /**
   * Set when the batch's anchor is not in the chain (another hash at its seq,
   * or no record there): the records were still written, and the workflow
   * keeps its anchor rather than adopt a head of a chain it cannot vouch for.
   */
  anchorMismatch?: { seq: number; expected: string; found: string | null };
  /** The outbox entries the batch's resends created. */
  resent: { key: string; to: string; kind: string }[];
}

export type DeliveryClaim =
  { claimed: true; row: NotificationRow } | { claimed: false; status: NotificationStatus; lastError: string | null };

export type VerifyChainResult = ChainCheck;

export interface Store {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Kysely<Database>;
  close(): Promise<void>;
  /** Latest projection of a system; keyed by systemId; ignores an update whose updatedAt is older than the stored one (activities may retry out of order). */
  upsertSystem(s: Omit<SystemRow, 'createdAt'>): Promise<void>;
  getSystem(systemId: string): Promise<SystemRow | undefined>;
  /** Append-only, hash-chained per system: hash = sha256(prevHash + canonical JSON of the event's content). Idempotent on idempotencyKey: a second call with the same key inserts nothing and returns the existing row. Appends for one system are serialized (transaction-scoped advisory lock keyed by systemId). */
  recordEvent(
    e: Pick<EventRow, 'idempotencyKey' | 'systemId' | 'type' | 'actor' | 'at' | 'payload'>,
  ): Promise<{ seq: number; hash: string; inserted: boolean }>;
  /**
   * One step of a lifecycle in one transaction: its events (chained, each at
   * the step's own time), assessment and decision rows, the projection, its
   * e-mails into the outbox, failed e-mails marked, resends copied.
   * Idempotent: every row is keyed from batchKey.
   */
  recordBatch(b: RecordBatch): Promise<RecordBatchResult>;
  /** Stores documents under the SHA-256 of their canonical JSON (computed here, never taken on trust); returns the digests. */
  putDocuments(docs: { kind: string; content: unknown }[]): Promise<string[]>;
  getDocument(digest: string): Promise<{ kind: string; content: unknown } | undefined>;
  /** In chain order. */
  listEvents(systemId: string): Promise<EventRow[]>;

  /** Recomputes the chain; reports the first event whose stored hash or prev link doesn't match (tampering). `count` is the number of events read. */
  verifyChain(systemId: string): Promise<VerifyChainResult>;
  recordAssessment(a: Omit<AssessmentRow, 'id' | 'recordedAt'>): Promise<{ inserted: boolean }>;
  listAssessments(systemId: string): Promise<AssessmentRow[]>;
  recordDecision(d: Omit<DecisionRow, 'id' | 'recordedAt'>): Promise<{ inserted: boolean }>;
  listDecisions(systemId: string): Promise<DecisionRow[]>;
  /** Outbox-style e-mail bookkeeping so a retried activity never sends twice: claim returns the existing row when the key is known. */
  claimNotification(
    n: Pick<
      NotificationRow,
      'idempotencyKey' | 'systemId' | 'kind' | 'toAddress' | 'subject' | 'messageId' | 'createdAt'
    >,
  ): Promise<{ status: NotificationStatus; messageId: string; attempts: number; created: boolean }>;
  /** Marks sent (keeps the first sentAt if called again). Throws for an unknown key. */
  markNotificationSent(idempotencyKey: string, sentAt: Date): Promise<void>;
  /** Given up on for good: status 'failed', attempts + 1, lastError. No-op on a sent notification or an unknown key. */
  markNotificationFailed(idempotencyKey: string, error: string): Promise<void>;
  listNotifications(systemId: string): Promise<NotificationRow[]>;
  /** Leases a pending e-mail to one delivery attempt; a lease that ran out (a crashed attempt) can be taken over. */
  claimDelivery(key: string, leaseMs: number): Promise<DeliveryClaim>;
  markDelivered(key: string, subject: string, sentAt: Date): Promise<void>;
  /** A temporary failure: back to pending, with the error and one more attempt counted. */
  markDeliveryRetry(key: string, error: string): Promise<void>;
  /** E-mails given up on, newest first, optionally for some systems only. */
  listFailedNotifications(systemIds?: readonly string[]): Promise<NotificationRow[]>;
  notificationCounts(): Promise<Record<NotificationStatus, number>>;
  recordLinkAttempt(a: Omit<LinkAttemptRow, 'id' | 'recordedAt'>): Promise<void>;
  listLinkAttempts(systemId?: string): Promise<LinkAttemptRow[]>;
}

// ---------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------

/** Session-independent advisory lock key held while migrating (single-bigint key space). */
const MIGRATION_LOCK_KEY = 4_200_142_001;
/** First half of the two-int advisory lock keys used to serialize appends per system. */
const EVENT_LOCK_NAMESPACE = 42_001;

const PG_INT8_OID = 20;

/** pg returns int8 as strings by default; PGlite returns numbers. Make pg match. */
function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(`int8 value ${value} is outside the safe integer range`);
  }
  return n;
}

const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === PG_INT8_OID && format !== 'binary'
      ? parseInt8
      : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

/**
 * `maintainNestedObjectKeys`: jsonb values (payloads, registrations) are
 * hashed and returned as written, so only a row's own column names are
 * converted, never the keys inside a JSON column.
 */
const camelCase = new CamelCasePlugin({ maintainNestedObjectKeys: true });

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  let kind: Store['kind'];
  // Unplugged: the migrations and Kysely's Migrator speak the SQL names.
  let db: Kysely<any>;
  if (opts.databaseUrl) {
    kind = 'postgres';
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, types: pgTypes });
    // An idle client losing its connection must not crash the process; the
    // next query on the pool reports the problem.
    pool.on('error', () => {});
    // Nor one lent out, between two statements of a transaction, when the server goes away: pg-pool drops
    // its idle listener while a client is lent, and an 'error' event nobody hears ends the process.
    pool.on('connect', (client) => client.on('error', () => {}));
    db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  } else {
    kind = 'pglite';
    if (opts.pgliteDir) {
      await mkdir(opts.pgliteDir, { recursive: true });
      if (!existsSync(join(opts.pgliteDir, 'PG_VERSION'))) await createPgliteDatabase(opts.pgliteDir);
    }
    const pglite = opts.pgliteDir ? new PGlite(opts.pgliteDir) : new PGlite();
    db = new Kysely<any>({ dialect: new PGliteDialect({ pglite }) });
  }
  try {
    await migrate(db, kind);
  } catch (error) {
    await db.destroy().catch(() => {});
    throw error;
  }
  return new KyselyStore(kind, db.withPlugin(camelCase) as Kysely<Database>);
}

/** A fresh folder's database, made in a thread that then exits (store/pglite-init-thread.mjs says why). */
function createPgliteDatabase(dataDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const thread = new Worker(new URL('./pglite-init-thread.mjs', import.meta.url), {
      workerData: { dataDir },
      execArgv: [],
    });
    thread.once('message', (m: { ok: boolean; message?: string }) => {
      if (m.ok) resolve();
      else reject(new Error(`creating the PGlite database in ${dataDir} failed: ${m.message}`));
    });
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`the PGlite set-up thread exited (code ${code})`)));
  });
}

/**
 * Runs pending migrations in one transaction. On Postgres a transaction-scoped
 * advisory lock serializes processes opening the same database at once: the
 * second waits, then finds nothing left to do. (PGlite is single-connection.)
 */
async function migrate(db: Kysely<any>, kind: Store['kind']): Promise<void> {
  await db.transaction().execute(async (trx) => {
    if (kind === 'postgres') {
      await sql`select pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(trx);
    }
    const migrator = new Migrator({ db: trx, provider: migrationProvider });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new Error(`store migration ${failed ?? ''} failed: ${String(error)}`.replace('  ', ' '), {
        cause: error,
      });
    }
  });
}

// ---------------------------------------------------------------------------
// Parameter helpers
// ---------------------------------------------------------------------------

/** JSON text for a jsonb parameter (never let `pg` turn an array into a Postgres array). */
function toJsonb(value: unknown): string {
  return JSON.stringify(normalizeJson(value));
}

function assertDate(name: string, value: Date): void {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new TypeError(`${name} must be a valid Date`);
  }
}

/**
 * Recomputes a chain read in order (listEvents); reports the first event
 * whose seq, stored hash or prev link doesn't match. `count` is the number of
 * events read. The system page and the audit API verify the rows they read
 * with this, so both judge the same rows the same way.
 */
export function checkChain(events: readonly EventRow[]): VerifyChainResult {
  const count = events.length;
  let prevHash = GENESIS_HASH;
  for (const [index, ev] of events.entries()) {
    const expectedSeq = index + 1;
    if (ev.seq !== expectedSeq) {
      return {
        ok: false,
        count,
        brokenAtSeq: ev.seq,
        reason: `sequence gap: expected seq ${expectedSeq}, found ${ev.seq}`,
      };
    }
    if (ev.prevHash !== prevHash) {
      return { ok: false, count, brokenAtSeq: ev.seq, reason: 'prev_hash does not link to the previous event' };
    }
    const recomputed = computeEventHash(prevHash, ev);
    if (recomputed !== ev.hash) {
      return { ok: false, count, brokenAtSeq: ev.seq, reason: 'hash does not match the event content' };
    }
    prevHash = ev.hash;
  }
  return { ok: true, count };
}

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

class KyselyStore implements Store {
  #closing: Promise<void> | undefined;

  constructor(
    readonly kind: Store['kind'],
    readonly db: Kysely<Database>,
  ) {}

  close(): Promise<void> {
    this.#closing ??= this.db.destroy();
    return this.#closing;
  }

  // -- systems --------------------------------------------------------------

  async upsertSystem(s: Parameters<Store['upsertSystem']>[0]): Promise<void> {
    assertDate('updatedAt', s.updatedAt);
    if (s.reviewDueAt !== null) assertDate('reviewDueAt', s.reviewDueAt);
    await upsertProjection(
      this.db,
      s.systemId,
      { ...s, reviewDueAt: s.reviewDueAt?.toISOString() ?? null },
      s.updatedAt,
    );
  }

  async getSystem(systemId: string): Promise<SystemRow | undefined> {
    return this.db.selectFrom('systems').selectAll().where('systemId', '=', systemId).executeTakeFirst();
  }

  // -- events (hash chain) ----------------------------------------------------

  async recordEvent(e: Parameters<Store['recordEvent']>[0]): Promise<{ seq: number; hash: string; inserted: boolean }> {
    return this.db.transaction().execute(async (trx) => {
      await lockSystem(trx, e.systemId);
      return appendEvent(trx, e);
    });
  }

  async recordBatch(b: RecordBatch): Promise<RecordBatchResult> {
    const at = new Date(b.at);
    assertDate('at', at);
    return this.db.transaction().execute(async (trx) => {
      await lockSystem(trx, b.systemId);
      let anchorMismatch: RecordBatchResult['anchorMismatch'];
      if (b.anchor) {
        const stored = await trx
          .selectFrom('events')
          .select('hash')
          .where('systemId', '=', b.systemId)
          .where('seq', '=', b.anchor.seq)
          .executeTakeFirst();
        if (stored?.hash !== b.anchor.hash) {
          anchorMismatch = { seq: b.anchor.seq, expected: b.anchor.hash, found: stored?.hash ?? null };
        }
      }
      const appended = await appendEvents(
        trx,
        b.systemId,
        b.events.map((e, i) => ({ ...e, idempotencyKey: `${b.batchKey}/e${i}`, at })),
      );
      for (const [i, a] of b.assessments.entries()) {
        const key = `${b.batchKey}/a${i}`;
        const doc = await trx
          .selectFrom('documents')
          .select('content')
          .where('digest', '=', a.digest)
          .executeTakeFirst();
        // The API stores the document before the workflow ever hears of it; its absence is a defect, so retry loudly.
        if (!doc) throw new Error(`assessment document ${a.digest} is not in the record store`);
        await trx
          .insertInto('assessments')
          .values({
            idempotencyKey: key,
            systemId: b.systemId,
            version: a.version,
            riskTier: a.riskTier,
            submittedBy: a.submittedBy,
            submittedAt: new Date(a.submittedAt),
            content: toJsonb(doc.content),
          })
          .onConflict((oc) => oc.column('idempotencyKey').doNothing())
          .execute();
      }
      for (const [i, d] of b.decisions.entries()) {
        await trx
          .insertInto('decisions')
          .values({
            idempotencyKey: `${b.batchKey}/d${i}`,
            systemId: b.systemId,
            requestId: d.requestId,
            step: d.step,
            approver: d.approver,
            decision: d.decision,
            comment: d.comment,
            decidedAt: new Date(d.decidedAt),
            digest: d.digest,
          })
          .onConflict((oc) => oc.column('idempotencyKey').doNothing())
          .execute();
      }
      if (b.projection) await upsertProjection(trx, b.systemId, b.projection, at);
      for (const m of b.mails) {
        await trx
          .insertInto('notifications')
          .values({
            idempotencyKey: m.key,
            systemId: b.systemId,
            kind: m.notification.kind,
            toAddress: m.notification.to,
            subject: m.notification.kind,
            messageId: m.messageId,
            notification: toJsonb(m.notification),
            createdAt: at,
          })
          .onConflict((oc) => oc.column('idempotencyKey').doNothing())
          .execute();
      }
      // The delivery activity usually marked these already; the workflow's mark covers a timeout, and counts nothing twice.
      for (const f of b.failedMails) await markFailed(trx, f.key, f.error, { unlessFailed: true });
      const resent: RecordBatchResult['resent'] = [];
      for (const [i, r] of b.resends.entries()) {
        const key = `${b.batchKey}/r${i}`;
        const from = await trx
          .selectFrom('notifications')
          .selectAll()
          .where('idempotencyKey', '=', r.from)
          .where('systemId', '=', b.systemId)
          .executeTakeFirst();
        if (!from?.notification) continue;
        await trx
          .insertInto('notifications')
          .values({
            idempotencyKey: key,
            systemId: b.systemId,
            kind: from.kind,
            toAddress: from.toAddress,
            subject: from.subject,
            messageId: r.messageId,
            notification: toJsonb(from.notification),
            createdAt: at,
          })
          .onConflict((oc) => oc.column('idempotencyKey').doNothing())
          .execute();
        resent.push({ key, to: from.toAddress, kind: from.kind });
      }
      // Nothing after the events appends to the chain: its head is the last appended (or the one before them).
      if (appended.taken) throw new Error(`events of ${b.systemId}: a key was taken meanwhile; retrying`);
      const { head } = appended;
      return { head: head ?? null, resent, ...(anchorMismatch ? { anchorMismatch } : {}) };
    });
  }

  // -- documents ----------------------------------------------------------------

  async putDocuments(docs: { kind: string; content: unknown }[]): Promise<string[]> {
    const digests: string[] = [];
    for (const d of docs) {
      const digest = contentDigest(d.content);
      await this.db
        .insertInto('documents')
        .values({ digest, kind: d.kind, content: toJsonb(d.content) })
        .onConflict((oc) => oc.column('digest').doNothing())
        .execute();
      digests.push(digest);
    }
    return digests;
  }

  async getDocument(digest: string): Promise<{ kind: string; content: unknown } | undefined> {
    return this.db.selectFrom('documents').select(['kind', 'content']).where('digest', '=', digest).executeTakeFirst();
  }

  async listEvents(systemId: string): Promise<EventRow[]> {
    return this.db.selectFrom('events').selectAll().where('systemId', '=', systemId).orderBy('seq', 'asc').execute();
  }

  async verifyChain(systemId: string): Promise<VerifyChainResult> {
    return checkChain(await this.listEvents(systemId));
  }

  // -- assessments & decisions -------------------------------------------------

  async recordAssessment(a: Parameters<Store['recordAssessment']>[0]): Promise<{ inserted: boolean }> {
    assertDate('submittedAt', a.submittedAt);
    const row = await this.db
      .insertInto('assessments')
      .values({
        idempotencyKey: a.idempotencyKey,
        systemId: a.systemId,
        version: a.version,
        riskTier: a.riskTier,
        submittedBy: a.submittedBy,
        submittedAt: a.submittedAt,
        content: toJsonb(a.content),
      })
      .onConflict((oc) => oc.column('idempotencyKey').doNothing())
      .returning('id')
      .executeTakeFirst();
    return { inserted: row !== undefined };
  }

  async listAssessments(systemId: string): Promise<AssessmentRow[]> {
    return this.db
      .selectFrom('assessments')
      .selectAll()
      .where('systemId', '=', systemId)
      .orderBy('version', 'asc')
      .orderBy('id', 'asc')
      .execute();
  }

  async recordDecision(d: Parameters<Store['recordDecision']>[0]): Promise<{ inserted: boolean }> {
    assertDate('decidedAt', d.decidedAt);
    const row = await this.db
      .insertInto('decisions')
      .values({
        idempotencyKey: d.idempotencyKey,
        systemId: d.systemId,
        requestId: d.requestId,
        step: d.step,
        approver: d.approver,
        decision: d.decision,
        comment: d.comment,
        decidedAt: d.decidedAt,
        digest: d.digest,
      })
      .onConflict((oc) => oc.column('idempotencyKey').doNothing())
      .returning('id')
      .executeTakeFirst();
    return { inserted: row !== undefined };
  }

  async listDecisions(systemId: string): Promise<DecisionRow[]> {
    return this.db
      .selectFrom('decisions')
      .selectAll()
      .where('systemId', '=', systemId)
      .orderBy('decidedAt', 'asc')
      .orderBy('id', 'asc')
      .execute();
  }

  // -- notifications (outbox) ------------------------------------------------

  async claimNotification(
    n: Parameters<Store['claimNotification']>[0],
  ): Promise<{ status: NotificationStatus; messageId: string; attempts: number; created: boolean }> {
    assertDate('createdAt', n.createdAt);
    const inserted = await this.db
      .insertInto('notifications')
      .values({
        idempotencyKey: n.idempotencyKey,
        systemId: n.systemId,
        kind: n.kind,
        toAddress: n.toAddress,
        subject: n.subject,
        messageId: n.messageId,
        createdAt: n.createdAt,
      })
      .onConflict((oc) => oc.column('idempotencyKey').doNothing())
      .returning(['status', 'messageId', 'attempts'])
      .executeTakeFirst();
    const row =
      inserted ??
      (await this.db
        .selectFrom('notifications')
        .select(['status', 'messageId', 'attempts'])
        .where('idempotencyKey', '=', n.idempotencyKey)
        .executeTakeFirstOrThrow());
    return { ...row, created: inserted !== undefined };
  }

  async markNotificationSent(idempotencyKey: string, sentAt: Date): Promise<void> {
    assertDate('sentAt', sentAt);
    const result = await this.db
      .updateTable('notifications')
      .set((eb) => ({
        status: 'sent',
        sentAt: eb.fn.coalesce('sentAt', eb.val(sentAt)),
        updatedAt: sql<Date>`now()`,
      }))
      .where('idempotencyKey', '=', idempotencyKey)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) {
      throw new Error(`unknown notification ${idempotencyKey}`);
    }
  }

  async markNotificationFailed(idempotencyKey: string, error: string): Promise<void> {
    await markFailed(this.db, idempotencyKey, error);
  }

  async listNotifications(systemId: string): Promise<NotificationRow[]> {
    return this.db
      .selectFrom('notifications')
      .selectAll()
      .where('systemId', '=', systemId)
      .orderBy('createdAt', 'asc')
      .orderBy('idempotencyKey', 'asc')
      .execute();
  }

  async claimDelivery(key: string, leaseMs: number): Promise<DeliveryClaim> {
    const row = await this.db
      .updateTable('notifications')
      .set({
        status: 'sending',
        leaseUntil: sql<Date>`now() + ${leaseMs} * interval '1 millisecond'`,
        updatedAt: sql<Date>`now()`,
      })
      .where('idempotencyKey', '=', key)
      .where((eb) =>
        eb.or([
          eb('status', '=', 'pending'),
          eb.and([eb('status', '=', 'sending'), eb('leaseUntil', '<', sql<Date>`now()`)]),
        ]),
      )
      .returningAll()
      .executeTakeFirst();
    if (row) return { claimed: true, row };
    const known = await this.db
      .selectFrom('notifications')
      .select(['status', 'lastError'])
      .where('idempotencyKey', '=', key)
      .executeTakeFirst();
    if (!known) throw new Error(`unknown notification ${key}`);
    return { claimed: false, status: known.status, lastError: known.lastError };
  }

  async markDelivered(key: string, subject: string, sentAt: Date): Promise<void> {
    await this.db
      .updateTable('notifications')
      .set((eb) => ({
        status: 'sent',
        subject,
        sentAt: eb.fn.coalesce('sentAt', eb.val(sentAt)),
        leaseUntil: null,
        updatedAt: sql<Date>`now()`,
      }))
      .where('idempotencyKey', '=', key)
      .execute();
  }

  async markDeliveryRetry(key: string, error: string): Promise<void> {
    await this.db
      .updateTable('notifications')
      .set((eb) => ({
        status: 'pending',
        attempts: eb('attempts', '+', 1),
        lastError: error,
        leaseUntil: null,
        updatedAt: sql<Date>`now()`,
      }))
      .where('idempotencyKey', '=', key)
      .where('status', '=', 'sending')
      .execute();
  }

  async listFailedNotifications(systemIds?: readonly string[]): Promise<NotificationRow[]> {
    if (systemIds && systemIds.length === 0) return [];
    let q = this.db.selectFrom('notifications').selectAll().where('status', '=', 'failed');
    if (systemIds) q = q.where('systemId', 'in', systemIds);
    return q.orderBy('updatedAt', 'desc').limit(200).execute();
  }

  async notificationCounts(): Promise<Record<NotificationStatus, number>> {
    const rows = await this.db
      .selectFrom('notifications')
      .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute();
    const counts: Record<NotificationStatus, number> = { pending: 0, sending: 0, sent: 0, failed: 0 };
    for (const r of rows) counts[r.status] = Number(r.n);
    return counts;
  }

  // -- link attempts -------------------------------------------------------------

  async recordLinkAttempt(a: Parameters<Store['recordLinkAttempt']>[0]): Promise<void> {
    assertDate('at', a.at);
    await this.db
      .insertInto('linkAttempts')
      .values({ systemId: a.systemId, reason: a.reason, at: a.at, detail: toJsonb(a.detail) })
      .execute();
  }

  async listLinkAttempts(systemId?: string): Promise<LinkAttemptRow[]> {
    let query = this.db.selectFrom('linkAttempts').selectAll();
    if (systemId !== undefined) query = query.where('systemId', '=', systemId);
    return query.orderBy('id', 'asc').execute();
  }
}

/** Serializes appends for one system across connections and processes; released at commit. Hash collisions only over-serialize. */
async function lockSystem(trx: Transaction<Database>, systemId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(${sql.lit(EVENT_LOCK_NAMESPACE)}, hashtext(${systemId}))`.execute(trx);
}

async function appendEvent(
  trx: Transaction<Database>,
  e: Parameters<Store['recordEvent']>[0],
): Promise<{ seq: number; hash: string; inserted: boolean }> {
  const existing = await findEventByKey(trx, e.idempotencyKey);
  if (existing) return { ...existing, inserted: false };
  const { systemId, ...event } = e;
  const appended = await appendEvents(trx, systemId, [event]);
  if (appended.head && !appended.taken) return { ...appended.head, inserted: true };
  // The same key used concurrently for another system: that one wins.
  const winner = await findEventByKey(trx, e.idempotencyKey);
  if (!winner) throw new Error(`event ${e.idempotencyKey} conflicted but cannot be read back`);
  return { ...winner, inserted: false };
}

async function upsertProjection(
  db: Kysely<Database>,
  systemId: string,
  p: NonNullable<RecordBatch['projection']>,
  updatedAt: Date,
): Promise<void> {
  await db
    .insertInto('systems')
    .values({
      systemId,
      name: p.name,
      owner: p.owner,
      riskOwner: p.riskOwner,
      stage: p.stage,
      riskTier: p.riskTier,
      reviewDueAt: p.reviewDueAt ? new Date(p.reviewDueAt) : null,
      policyVersion: p.policyVersion,
      registration: toJsonb(p.registration ?? {}),
      updatedAt,
    })
    .onConflict((oc) =>
      oc
        .column('systemId')
        .doUpdateSet((eb) => ({
          name: eb.ref('excluded.name'),
          owner: eb.ref('excluded.owner'),
          riskOwner: eb.ref('excluded.riskOwner'),
          stage: eb.ref('excluded.stage'),
          riskTier: eb.ref('excluded.riskTier'),
          reviewDueAt: eb.ref('excluded.reviewDueAt'),
          policyVersion: eb.ref('excluded.policyVersion'),
          ...(p.registration ? { registration: eb.ref('excluded.registration') } : {}),
          updatedAt: eb.ref('excluded.updatedAt'),
        }))
        // Out-of-order retries: an older snapshot never overwrites a newer one.
        .whereRef('systems.updatedAt', '<=', 'excluded.updatedAt'),
    )
    .execute();
}

/** Given up on for good; a late report never downgrades a delivered message. */
async function markFailed(
  db: Kysely<Database>,
  key: string,
  error: string,
  opts: { unlessFailed?: boolean } = {},
): Promise<void> {
  await db
    .updateTable('notifications')
    .set((eb) => ({
      status: 'failed',
      attempts: eb('attempts', '+', 1),
      lastError: error,
      leaseUntil: null,
      updatedAt: sql<Date>`now()`,
    }))
    .where('idempotencyKey', '=', key)
    .where('status', 'not in', opts.unlessFailed ? ['sent', 'failed'] : ['sent'])
    .execute();
}

/**
 * A step's events in three statements however many there are: the keys
 * already on record (a retried batch), the chain's head, and one insert of
 * the rest, each hashed onto the one before. The caller holds the system's
 * lock, so the head cannot move meanwhile. A key taken by another system in
 * the same instant (keys name their workflow run, so only a defect could)
 * leaves a gap in the links: the transaction is rolled back and retried;
 * a lone event that lost its key is `taken`, for the caller to read the winner.
 */
async function appendEvents(
  trx: Transaction<Database>,
  systemId: string,
  events: Omit<Parameters<Store['recordEvent']>[0], 'systemId'>[],
): Promise<{ head: { seq: number; hash: string } | null; taken?: true }> {
  for (const e of events) assertDate('at', e.at);
  const keys = events.map((e) => e.idempotencyKey);
  const known =
    keys.length === 0
      ? new Set<string>()
      : new Set(
          (await trx.selectFrom('events').select('idempotencyKey').where('idempotencyKey', 'in', keys).execute()).map(
            (r) => r.idempotencyKey,
          ),
        );
  const last = await trx
    .selectFrom('events')
    .select(['seq', 'hash'])
    .where('systemId', '=', systemId)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  let seq = last?.seq ?? 0;
  let prevHash = last?.hash ?? GENESIS_HASH;
  const rows = [];
  for (const e of events) {
    if (known.has(e.idempotencyKey)) continue;
    seq += 1;
    const event = {
      systemId,
      seq,
      idempotencyKey: e.idempotencyKey,
      type: e.type,
      actor: e.actor,
      at: e.at,
      payload: normalizeJson(e.payload),
    };
    const hash = computeEventHash(prevHash, event);
    rows.push({ ...event, payload: JSON.stringify(event.payload), prevHash, hash });
    prevHash = hash;
  }
  if (rows.length === 0) return { head: last ? { seq: last.seq, hash: last.hash } : null };
  const inserted = await trx
    .insertInto('events')
    .values(rows)
    .onConflict((oc) => oc.column('idempotencyKey').doNothing())
    .returning('seq')
    .execute();
  if (inserted.length === 0 && rows.length === 1) return { head: null, taken: true };
  if (inserted.length !== rows.length) throw new Error(`events of ${systemId}: a key was taken meanwhile; retrying`);
  return { head: { seq, hash: prevHash } };
}

async function findEventByKey(
  trx: Transaction<Database>,
  idempotencyKey: string,
): Promise<{ seq: number; hash: string } | undefined> {
  return trx
    .selectFrom('events')
    .select(['seq', 'hash'])
    .where('idempotencyKey', '=', idempotencyKey)
    .executeTakeFirst();
}
