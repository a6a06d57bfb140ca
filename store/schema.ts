import type { ColumnType, GeneratedAlways } from 'kysely';

/**
 * The record store's tables, described once for Kysely.
 *
 * Conventions: snake_case tables and columns in SQL, `timestamptz` for every
 * instant, `jsonb` for free-form payloads. The names here are camelCase: the
 * store's Kysely instance runs `CamelCasePlugin`, so this interface matches the
 * rows callers see and the row types can be `Selectable<>` of these tables
 * (the migrations, written in SQL, keep the snake_case names). JSON columns are written as already-serialised
 * strings (see `toJsonb` in store/index.ts) because `pg` would otherwise turn
 * a top-level JS array into a Postgres array literal; they are read back as
 * parsed values by both drivers.
 *
 * `bigint` columns come back as numbers from PGlite and are parsed to numbers
 * on the `pg` pool too (see the pool's type parsers), so their select type is
 * `number`.
 */

/** An instant: read as a Date, written as a Date (or an ISO string). */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A timestamp the database fills in by default. */
export type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** jsonb: read as the parsed value, written as a JSON text. */
export type Jsonb = ColumnType<unknown, string, string>;
/** bigint identity / sequence numbers. */
export type Int8 = ColumnType<number, number | bigint, number | bigint>;
/** `bigint generated always as identity`. */
export type IdentityInt8 = GeneratedAlways<number>;

export interface SystemsTable {
  systemId: string;
  name: string;
  owner: string;
  riskOwner: string;
  stage: string;
  riskTier: string | null;
  reviewDueAt: Timestamp | null;
  policyVersion: string;
  registration: Jsonb;
  updatedAt: Timestamp;
  createdAt: GeneratedTimestamp;
}

/** Append-only (enforced by a trigger), hash-chained per system. */
export interface EventsTable {
  systemId: string;
  seq: Int8;
  idempotencyKey: string;
  type: string;
  actor: string | null;
  at: Timestamp;
  payload: Jsonb;
  prevHash: string;
  hash: string;
  recordedAt: GeneratedTimestamp;
}

export interface AssessmentsTable {
  id: IdentityInt8;
  idempotencyKey: string;
  systemId: string;
  version: number;
  riskTier: string;
  submittedBy: string;
  submittedAt: Timestamp;
  content: Jsonb;
  recordedAt: GeneratedTimestamp;
}

export interface DecisionsTable {
  id: IdentityInt8;
  idempotencyKey: string;
  systemId: string;
  requestId: string;
  step: number;
  approver: string;
  decision: string;
  comment: string;
  decidedAt: Timestamp;
  digest: string | null;
  recordedAt: GeneratedTimestamp;
}

/** pending: waiting or retrying; sending: leased by one delivery attempt; sent; failed: given up on for good. */
export type NotificationStatus = 'pending' | 'sending' | 'sent' | 'failed';

export interface NotificationsTable {
  idempotencyKey: string;
  systemId: string;
  kind: string;
  toAddress: string;
  subject: string;
  messageId: string;
  status: ColumnType<NotificationStatus, NotificationStatus | undefined, NotificationStatus>;
  attempts: ColumnType<number, number | undefined, number>;
  lastError: string | null;
  createdAt: Timestamp;
  sentAt: Timestamp | null;
  updatedAt: GeneratedTimestamp;
  /** The notification to render at delivery time (outbox rows written before version 2 have none). */
  notification: ColumnType<unknown, string | undefined, string>;
  /** A delivery attempt holds the row until then, so two attempts never send the same e-mail at once. */
  leaseUntil: Timestamp | null;
}

/** Big documents (assessments, evidence, plans), content-addressed: the digest is SHA-256 of the canonical JSON. */
export interface DocumentsTable {
  digest: string;
  kind: string;
  content: Jsonb;
  createdAt: GeneratedTimestamp;
}

/**
 * One row per use of a single-use approval link. At most one *active*
 * (unreleased) row per jti, enforced by a partial unique index; released uses
 * are kept for the audit trail.
 */
export interface ApprovalLinkUsesTable {
  id: IdentityInt8;
  jti: string;
  requestId: string;
  systemId: string;
  approver: string;
  decision: string;
  comment: string;
  usedAt: Timestamp;
  releasedAt: Timestamp | null;
}

export interface LinkAttemptsTable {
  id: IdentityInt8;
  systemId: string | null;
  reason: string;
  at: Timestamp;
  detail: Jsonb;
  recordedAt: GeneratedTimestamp;
}

/** One row per running worker process and task queue (store/heartbeats.ts); readiness reads the freshest. */
export interface WorkerHeartbeatsTable {
  identity: string;
  taskQueue: string;
  namespace: string;
  startedAt: Timestamp;
  lastSeenAt: Timestamp;
}

/** An API key: only the SHA-256 of its secret is stored; the prefix is what lists and logs may show. */
export interface ApiKeysTable {
  id: string;
  prefix: string;
  hash: string;
  name: string;
  email: string;
  role: string;
  team: string | null;
  createdBy: string;
  createdAt: GeneratedTimestamp;
  expiresAt: Timestamp | null;
  revokedAt: Timestamp | null;
  lastUsedAt: Timestamp | null;
}

/** Which team a system belongs to, and who is accountable for it: what every access check reads. */
export interface SystemAccessTable {
  systemId: string;
  team: string;
  owner: string;
  riskOwner: string;
  registeredBy: string;
  createdAt: GeneratedTimestamp;
}

/** A single-use link that logs its holder in as a key (the embedded start-up banner prints one). */
export interface LoginLinksTable {
  hash: string;
  keyId: string;
  expiresAt: Timestamp;
  usedAt: Timestamp | null;
}

/**
 * The organisation's documented information for an ISO/IEC 42001 control (its AI policy, role descriptions,
 * resource plans): what the Statement of Applicability shows for organisation-level controls. Rows are never
 * deleted; a replaced entry keeps its row with the time it was superseded.
 */
export interface OrganisationControlEntriesTable {
  id: IdentityInt8;
  controlId: string;
  documentReference: string;
  /** YYYY-MM-DD: when the document is next to be reviewed. */
  reviewDate: string;
  note: string;
  recordedBy: string;
  /** The principal's id (`key:…`, `oidc:…`), beside the e-mail. */
  recordedById: string;
  recordedAt: GeneratedTimestamp;
  supersededAt: Timestamp | null;
}

export interface Database {
  documents: DocumentsTable;
  systems: SystemsTable;
  events: EventsTable;
  assessments: AssessmentsTable;
  decisions: DecisionsTable;
  notifications: NotificationsTable;
  approvalLinkUses: ApprovalLinkUsesTable;
  linkAttempts: LinkAttemptsTable;
  workerHeartbeats: WorkerHeartbeatsTable;
  apiKeys: ApiKeysTable;
  systemAccess: SystemAccessTable;
  loginLinks: LoginLinksTable;
  organisationControlEntries: OrganisationControlEntriesTable;
}
