import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect, sql, type Transaction } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { computeEventHash, GENESIS_HASH, normalizeJson, type EventContent } from './hash.js';
import { migrationProvider } from './migrations.js';
import type { Database, NotificationStatus } from './schema.js';

export type { Database, NotificationStatus } from './schema.js';
export { canonicalJson, computeEventHash, GENESIS_HASH } from './hash.js';

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

export interface OpenStoreOptions {
  /** postgres:// URL; when set the store runs on a `pg.Pool`. */
  databaseUrl?: string;
  /** PGlite data directory (created if missing); undefined = in-memory PGlite. */
  pgliteDir?: string;
}

export interface SystemRow {
  systemId: string;
  name: string;
  owner: string;
  riskOwner: string;
  stage: string;
  riskTier: string | null;
  reviewDueAt: Date | null;
  policyVersion: string;
  registration: unknown;
  updatedAt: Date;
  createdAt: Date;
}

export interface EventRow extends EventContent {
  prevHash: string;
  hash: string;
  recordedAt: Date;
}

export interface AssessmentRow {
  id: number;
  idempotencyKey: string;
  systemId: string;
  version: number;
  riskTier: string;
  submittedBy: string;
  submittedAt: Date;
  content: unknown;
  recordedAt: Date;
}

export interface DecisionRow {
  id: number;
  idempotencyKey: string;
  systemId: string;
  requestId: string;
  step: number;
  approver: string;
  decision: string;
  comment: string;
  decidedAt: Date;
  digest: string | null;
  recordedAt: Date;
}

export interface NotificationRow {
  idempotencyKey: string;
  systemId: string;
  kind: string;
  to: string;
  subject: string;
  messageId: string;
  status: NotificationStatus;
  /** Failed delivery attempts recorded with markNotificationFailed. */
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  sentAt: Date | null;
  updatedAt: Date;
}

export interface LinkAttemptRow {
  id: number;
  systemId: string | null;
  reason: string;
  at: Date;
  detail: unknown;
  recordedAt: Date;
}

export interface ApprovalLinkUse {
  decision: string;
  approver: string;
  usedAt: Date;
}

export type VerifyChainResult =
  { ok: true; count: number } | { ok: false; count: number; brokenAtSeq: number; reason: string };

export interface Store {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Kysely<Database>;
  close(): Promise<void>;
  /** Latest projection of a system; keyed by systemId; ignores an update whose updatedAt is older than the stored one (activities may retry out of order). */
  upsertSystem(s: {
    systemId: string;
    name: string;
    owner: string;
    riskOwner: string;
    stage: string;
    riskTier: string | null;
    reviewDueAt: Date | null;
    policyVersion: string;
    registration: unknown;
    updatedAt: Date;
  }): Promise<void>;
  getSystem(systemId: string): Promise<SystemRow | undefined>;
  /** Append-only, hash-chained per system: hash = sha256(prevHash + canonical JSON of the event's content). Idempotent on idempotencyKey: a second call with the same key inserts nothing and returns the existing row. Appends for one system are serialized (transaction-scoped advisory lock keyed by systemId). */
  recordEvent(e: {
    idempotencyKey: string;
    systemId: string;
    type: string;
    actor: string | null;
    at: Date;
    payload: unknown;
  }): Promise<{ seq: number; hash: string; inserted: boolean }>;
  /** In chain order. */
  listEvents(systemId: string): Promise<EventRow[]>;
  /** Recomputes the chain; reports the first event whose stored hash or prev link doesn't match (tampering). `count` is the number of events read. */
  verifyChain(systemId: string): Promise<VerifyChainResult>;
  recordAssessment(a: {
    idempotencyKey: string;
    systemId: string;
    version: number;
    riskTier: string;
    submittedBy: string;
    submittedAt: Date;
    content: unknown;
  }): Promise<{ inserted: boolean }>;
  listAssessments(systemId: string): Promise<AssessmentRow[]>;
  recordDecision(d: {
    idempotencyKey: string;
    systemId: string;
    requestId: string;
    step: number;
    approver: string;
    decision: string;
    comment: string;
    decidedAt: Date;
    digest: string | null;
  }): Promise<{ inserted: boolean }>;
  listDecisions(systemId: string): Promise<DecisionRow[]>;
  /** Outbox-style e-mail bookkeeping so a retried activity never sends twice: claim returns the existing row when the key is known. */
  claimNotification(n: {
    idempotencyKey: string;
    systemId: string;
    kind: string;
    to: string;
    subject: string;
    messageId: string;
    createdAt: Date;
  }): Promise<{ status: NotificationStatus; messageId: string; attempts: number; created: boolean }>;
  /** Marks sent (keeps the first sentAt if called again). Throws for an unknown key. */
  markNotificationSent(idempotencyKey: string, sentAt: Date): Promise<void>;
  /** Increments attempts, stores last_error, status 'failed' (a claim then returns it for a retry). No-op on a sent notification. Throws for an unknown key. */
  markNotificationFailed(idempotencyKey: string, error: string): Promise<void>;
  listNotifications(systemId: string): Promise<NotificationRow[]>;
  /** Single-use approval links: the first use of a jti wins atomically (unique key); later uses get the first use back. */
  useApprovalLink(u: {
    jti: string;
    requestId: string;
    systemId: string;
    approver: string;
    decision: string;
    comment: string;
    usedAt: Date;
  }): Promise<{ first: true } | { first: false; previous: ApprovalLinkUse }>;
  /** The active (unreleased) use of a link, if any. */
  getApprovalLinkUse(jti: string): Promise<ApprovalLinkUse | undefined>;
  /** Releases a link use when the decision could not be delivered (so the approver can retry). The released use stays on record. No-op if the link is not in use. */
  releaseApprovalLink(jti: string): Promise<void>;
  recordLinkAttempt(a: { systemId: string | null; reason: string; at: Date; detail: unknown }): Promise<void>;
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

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  let kind: Store['kind'];
  let db: Kysely<Database>;
  if (opts.databaseUrl) {
    kind = 'postgres';
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, types: pgTypes });
    // An idle client losing its connection must not crash the process; the
    // next query on the pool reports the problem.
    pool.on('error', () => {});
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  } else {
    kind = 'pglite';
    if (opts.pgliteDir) {
      await mkdir(opts.pgliteDir, { recursive: true });
    }
    const pglite = opts.pgliteDir ? new PGlite(opts.pgliteDir) : new PGlite();
    db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) });
  }
  try {
    await migrate(db, kind);
  } catch (error) {
    await db.destroy().catch(() => {});
    throw error;
  }
  return new KyselyStore(kind, db);
}

/**
 * Runs pending migrations in one transaction. On Postgres a transaction-scoped
 * advisory lock serializes processes opening the same database at once: the
 * second waits, then finds nothing left to do. (PGlite is single-connection.)
 */
async function migrate(db: Kysely<Database>, kind: Store['kind']): Promise<void> {
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
// Mapping helpers (identical results from pg and PGlite)
// ---------------------------------------------------------------------------

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

function toDateOrNull(value: Date | string | null): Date | null {
  return value === null ? null : toDate(value);
}

function toNumber(value: number | string | bigint): number {
  return typeof value === 'number' ? value : parseInt8(String(value));
}

/** JSON text for a jsonb parameter (never let `pg` turn an array into a Postgres array). */
function toJsonb(value: unknown): string {
  return JSON.stringify(normalizeJson(value));
}

function assertDate(name: string, value: Date): void {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new TypeError(`${name} must be a valid Date`);
  }
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
    await this.db
      .insertInto('systems')
      .values({
        system_id: s.systemId,
        name: s.name,
        owner: s.owner,
        risk_owner: s.riskOwner,
        stage: s.stage,
        risk_tier: s.riskTier,
        review_due_at: s.reviewDueAt,
        policy_version: s.policyVersion,
        registration: toJsonb(s.registration),
        updated_at: s.updatedAt,
      })
      .onConflict((oc) =>
        oc
          .column('system_id')
          .doUpdateSet((eb) => ({
            name: eb.ref('excluded.name'),
            owner: eb.ref('excluded.owner'),
            risk_owner: eb.ref('excluded.risk_owner'),
            stage: eb.ref('excluded.stage'),
            risk_tier: eb.ref('excluded.risk_tier'),
            review_due_at: eb.ref('excluded.review_due_at'),
            policy_version: eb.ref('excluded.policy_version'),
            registration: eb.ref('excluded.registration'),
            updated_at: eb.ref('excluded.updated_at'),
          }))
          // Out-of-order retries: an older snapshot never overwrites a newer one.
          .whereRef('systems.updated_at', '<=', 'excluded.updated_at'),
      )
      .execute();
  }

  async getSystem(systemId: string): Promise<SystemRow | undefined> {
    const r = await this.db.selectFrom('systems').selectAll().where('system_id', '=', systemId).executeTakeFirst();
    if (!r) return undefined;
    return {
      systemId: r.system_id,
      name: r.name,
      owner: r.owner,
      riskOwner: r.risk_owner,
      stage: r.stage,
      riskTier: r.risk_tier,
      reviewDueAt: toDateOrNull(r.review_due_at),
      policyVersion: r.policy_version,
      registration: r.registration,
      updatedAt: toDate(r.updated_at),
      createdAt: toDate(r.created_at),
    };
  }

  // -- events (hash chain) ----------------------------------------------------

  async recordEvent(e: Parameters<Store['recordEvent']>[0]): Promise<{ seq: number; hash: string; inserted: boolean }> {
    assertDate('at', e.at);
    const payload = normalizeJson(e.payload);
    return this.db.transaction().execute(async (trx) => {
      // Serialize appends for this system across connections and processes;
      // released at commit/rollback. Hash collisions only over-serialize.
      await sql`select pg_advisory_xact_lock(${sql.lit(EVENT_LOCK_NAMESPACE)}, hashtext(${e.systemId}))`.execute(trx);

      const existing = await findEventByKey(trx, e.idempotencyKey);
      if (existing) return { ...existing, inserted: false };

      const last = await trx
        .selectFrom('events')
        .select(['seq', 'hash'])
        .where('system_id', '=', e.systemId)
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      const seq = last ? toNumber(last.seq) + 1 : 1;
      const prevHash = last ? last.hash : GENESIS_HASH;
      const hash = computeEventHash(prevHash, {
        systemId: e.systemId,
        seq,
        idempotencyKey: e.idempotencyKey,
        type: e.type,
        actor: e.actor,
        at: e.at,
        payload,
      });
      const row = await trx
        .insertInto('events')
        .values({
          system_id: e.systemId,
          seq,
          idempotency_key: e.idempotencyKey,
          type: e.type,
          actor: e.actor,
          at: e.at,
          payload: JSON.stringify(payload),
          prev_hash: prevHash,
          hash,
        })
        // The same key used concurrently for another system: that one wins.
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .returning(['seq', 'hash'])
        .executeTakeFirst();
      if (row) return { seq: toNumber(row.seq), hash: row.hash, inserted: true };
      const winner = await findEventByKey(trx, e.idempotencyKey);
      if (!winner) throw new Error(`event ${e.idempotencyKey} conflicted but cannot be read back`);
      return { ...winner, inserted: false };
    });
  }

  async listEvents(systemId: string): Promise<EventRow[]> {
    const rows = await this.db
      .selectFrom('events')
      .selectAll()
      .where('system_id', '=', systemId)
      .orderBy('seq', 'asc')
      .execute();
    return rows.map((r) => ({
      systemId: r.system_id,
      seq: toNumber(r.seq),
      idempotencyKey: r.idempotency_key,
      type: r.type,
      actor: r.actor,
      at: toDate(r.at),
      payload: r.payload,
      prevHash: r.prev_hash,
      hash: r.hash,
      recordedAt: toDate(r.recorded_at),
    }));
  }

  async verifyChain(systemId: string): Promise<VerifyChainResult> {
    const events = await this.listEvents(systemId);
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

  // -- assessments & decisions -------------------------------------------------

  async recordAssessment(a: Parameters<Store['recordAssessment']>[0]): Promise<{ inserted: boolean }> {
    assertDate('submittedAt', a.submittedAt);
    const row = await this.db
      .insertInto('assessments')
      .values({
        idempotency_key: a.idempotencyKey,
        system_id: a.systemId,
        version: a.version,
        risk_tier: a.riskTier,
        submitted_by: a.submittedBy,
        submitted_at: a.submittedAt,
        content: toJsonb(a.content),
      })
      .onConflict((oc) => oc.column('idempotency_key').doNothing())
      .returning('id')
      .executeTakeFirst();
    return { inserted: row !== undefined };
  }

  async listAssessments(systemId: string): Promise<AssessmentRow[]> {
    const rows = await this.db
      .selectFrom('assessments')
      .selectAll()
      .where('system_id', '=', systemId)
      .orderBy('version', 'asc')
      .orderBy('id', 'asc')
      .execute();
    return rows.map((r) => ({
      id: toNumber(r.id),
      idempotencyKey: r.idempotency_key,
      systemId: r.system_id,
      version: r.version,
      riskTier: r.risk_tier,
      submittedBy: r.submitted_by,
      submittedAt: toDate(r.submitted_at),
      content: r.content,
      recordedAt: toDate(r.recorded_at),
    }));
  }

  async recordDecision(d: Parameters<Store['recordDecision']>[0]): Promise<{ inserted: boolean }> {
    assertDate('decidedAt', d.decidedAt);
    const row = await this.db
      .insertInto('decisions')
      .values({
        idempotency_key: d.idempotencyKey,
        system_id: d.systemId,
        request_id: d.requestId,
        step: d.step,
        approver: d.approver,
        decision: d.decision,
        comment: d.comment,
        decided_at: d.decidedAt,
        digest: d.digest,
      })
      .onConflict((oc) => oc.column('idempotency_key').doNothing())
      .returning('id')
      .executeTakeFirst();
    return { inserted: row !== undefined };
  }

  async listDecisions(systemId: string): Promise<DecisionRow[]> {
    const rows = await this.db
      .selectFrom('decisions')
      .selectAll()
      .where('system_id', '=', systemId)
      .orderBy('decided_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    return rows.map((r) => ({
      id: toNumber(r.id),
      idempotencyKey: r.idempotency_key,
      systemId: r.system_id,
      requestId: r.request_id,
      step: r.step,
      approver: r.approver,
      decision: r.decision,
      comment: r.comment,
      decidedAt: toDate(r.decided_at),
      digest: r.digest,
      recordedAt: toDate(r.recorded_at),
    }));
  }

  // -- notifications (outbox) ------------------------------------------------

  async claimNotification(
    n: Parameters<Store['claimNotification']>[0],
  ): Promise<{ status: NotificationStatus; messageId: string; attempts: number; created: boolean }> {
    assertDate('createdAt', n.createdAt);
    const inserted = await this.db
      .insertInto('notifications')
      .values({
        idempotency_key: n.idempotencyKey,
        system_id: n.systemId,
        kind: n.kind,
        to_address: n.to,
        subject: n.subject,
        message_id: n.messageId,
        created_at: n.createdAt,
      })
      .onConflict((oc) => oc.column('idempotency_key').doNothing())
      .returning(['status', 'message_id', 'attempts'])
      .executeTakeFirst();
    const row =
      inserted ??
      (await this.db
        .selectFrom('notifications')
        .select(['status', 'message_id', 'attempts'])
        .where('idempotency_key', '=', n.idempotencyKey)
        .executeTakeFirstOrThrow());
    return {
      status: row.status,
      messageId: row.message_id,
      attempts: toNumber(row.attempts),
      created: inserted !== undefined,
    };
  }

  async markNotificationSent(idempotencyKey: string, sentAt: Date): Promise<void> {
    assertDate('sentAt', sentAt);
    const result = await this.db
      .updateTable('notifications')
      .set({
        status: 'sent',
        sent_at: sql<Date>`coalesce(sent_at, ${sentAt})`,
        updated_at: sql<Date>`now()`,
      })
      .where('idempotency_key', '=', idempotencyKey)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) {
      throw new Error(`unknown notification ${idempotencyKey}`);
    }
  }

  async markNotificationFailed(idempotencyKey: string, error: string): Promise<void> {
    const result = await this.db
      .updateTable('notifications')
      .set((eb) => ({
        status: 'failed',
        attempts: eb('attempts', '+', 1),
        last_error: error,
        updated_at: sql<Date>`now()`,
      }))
      .where('idempotency_key', '=', idempotencyKey)
      // A late failure report never downgrades a delivered message.
      .where('status', '<>', 'sent')
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) {
      const known = await this.db
        .selectFrom('notifications')
        .select('status')
        .where('idempotency_key', '=', idempotencyKey)
        .executeTakeFirst();
      if (!known) throw new Error(`unknown notification ${idempotencyKey}`);
    }
  }

  async listNotifications(systemId: string): Promise<NotificationRow[]> {
    const rows = await this.db
      .selectFrom('notifications')
      .selectAll()
      .where('system_id', '=', systemId)
      .orderBy('created_at', 'asc')
      .orderBy('idempotency_key', 'asc')
      .execute();
    return rows.map((r) => ({
      idempotencyKey: r.idempotency_key,
      systemId: r.system_id,
      kind: r.kind,
      to: r.to_address,
      subject: r.subject,
      messageId: r.message_id,
      status: r.status,
      attempts: toNumber(r.attempts),
      lastError: r.last_error,
      createdAt: toDate(r.created_at),
      sentAt: toDateOrNull(r.sent_at),
      updatedAt: toDate(r.updated_at),
    }));
  }

  // -- approval links ----------------------------------------------------------

  async useApprovalLink(
    u: Parameters<Store['useApprovalLink']>[0],
  ): Promise<{ first: true } | { first: false; previous: ApprovalLinkUse }> {
    assertDate('usedAt', u.usedAt);
    // A release between our failed insert and the read-back lets us try again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const inserted = await this.db
        .insertInto('approval_link_uses')
        .values({
          jti: u.jti,
          request_id: u.requestId,
          system_id: u.systemId,
          approver: u.approver,
          decision: u.decision,
          comment: u.comment,
          used_at: u.usedAt,
        })
        .onConflict((oc) => oc.column('jti').where('released_at', 'is', null).doNothing())
        .returning('id')
        .executeTakeFirst();
      if (inserted) return { first: true };
      const previous = await this.getApprovalLinkUse(u.jti);
      if (previous) return { first: false, previous };
    }
    throw new Error(`approval link ${u.jti} kept changing hands; try again`);
  }

  async getApprovalLinkUse(jti: string): Promise<ApprovalLinkUse | undefined> {
    const r = await this.db
      .selectFrom('approval_link_uses')
      .select(['decision', 'approver', 'used_at'])
      .where('jti', '=', jti)
      .where('released_at', 'is', null)
      .executeTakeFirst();
    return r ? { decision: r.decision, approver: r.approver, usedAt: toDate(r.used_at) } : undefined;
  }

  async releaseApprovalLink(jti: string): Promise<void> {
    await this.db
      .updateTable('approval_link_uses')
      .set({ released_at: sql<Date>`now()` })
      .where('jti', '=', jti)
      .where('released_at', 'is', null)
      .execute();
  }

  // -- link attempts -------------------------------------------------------------

  async recordLinkAttempt(a: Parameters<Store['recordLinkAttempt']>[0]): Promise<void> {
    assertDate('at', a.at);
    await this.db
      .insertInto('link_attempts')
      .values({ system_id: a.systemId, reason: a.reason, at: a.at, detail: toJsonb(a.detail) })
      .execute();
  }

  async listLinkAttempts(systemId?: string): Promise<LinkAttemptRow[]> {
    let query = this.db.selectFrom('link_attempts').selectAll();
    if (systemId !== undefined) query = query.where('system_id', '=', systemId);
    const rows = await query.orderBy('id', 'asc').execute();
    return rows.map((r) => ({
      id: toNumber(r.id),
      systemId: r.system_id,
      reason: r.reason,
      at: toDate(r.at),
      detail: r.detail,
      recordedAt: toDate(r.recorded_at),
    }));
  }
}

async function findEventByKey(
  trx: Transaction<Database>,
  idempotencyKey: string,
): Promise<{ seq: number; hash: string } | undefined> {
  const r = await trx
    .selectFrom('events')
    .select(['seq', 'hash'])
    .where('idempotency_key', '=', idempotencyKey)
    .executeTakeFirst();
  return r ? { seq: toNumber(r.seq), hash: r.hash } : undefined;
}
