import type { ColumnType, GeneratedAlways } from 'kysely';

/**
 * The record store's tables, described once for Kysely.
 *
 * Conventions: snake_case columns, `timestamptz` for every instant, `jsonb`
 * for free-form payloads. JSON columns are written as already-serialised
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
  system_id: string;
  name: string;
  owner: string;
  risk_owner: string;
  stage: string;
  risk_tier: string | null;
  review_due_at: Timestamp | null;
  policy_version: string;
  registration: Jsonb;
  updated_at: Timestamp;
  created_at: GeneratedTimestamp;
}

/** Append-only (enforced by a trigger), hash-chained per system. */
export interface EventsTable {
  system_id: string;
  seq: Int8;
  idempotency_key: string;
  type: string;
  actor: string | null;
  at: Timestamp;
  payload: Jsonb;
  prev_hash: string;
  hash: string;
  recorded_at: GeneratedTimestamp;
}

export interface AssessmentsTable {
  id: IdentityInt8;
  idempotency_key: string;
  system_id: string;
  version: number;
  risk_tier: string;
  submitted_by: string;
  submitted_at: Timestamp;
  content: Jsonb;
  recorded_at: GeneratedTimestamp;
}

export interface DecisionsTable {
  id: IdentityInt8;
  idempotency_key: string;
  system_id: string;
  request_id: string;
  step: number;
  approver: string;
  decision: string;
  comment: string;
  decided_at: Timestamp;
  digest: string | null;
  recorded_at: GeneratedTimestamp;
}

export type NotificationStatus = 'pending' | 'sent' | 'failed';

export interface NotificationsTable {
  idempotency_key: string;
  system_id: string;
  kind: string;
  to_address: string;
  subject: string;
  message_id: string;
  status: ColumnType<NotificationStatus, NotificationStatus | undefined, NotificationStatus>;
  attempts: ColumnType<number, number | undefined, number>;
  last_error: string | null;
  created_at: Timestamp;
  sent_at: Timestamp | null;
  updated_at: GeneratedTimestamp;
}

/**
 * One row per use of a single-use approval link. At most one *active*
 * (unreleased) row per jti, enforced by a partial unique index; released uses
 * are kept for the audit trail.
 */
export interface ApprovalLinkUsesTable {
  id: IdentityInt8;
  jti: string;
  request_id: string;
  system_id: string;
  approver: string;
  decision: string;
  comment: string;
  used_at: Timestamp;
  released_at: Timestamp | null;
}

export interface LinkAttemptsTable {
  id: IdentityInt8;
  system_id: string | null;
  reason: string;
  at: Timestamp;
  detail: Jsonb;
  recorded_at: GeneratedTimestamp;
}

export interface Database {
  systems: SystemsTable;
  events: EventsTable;
  assessments: AssessmentsTable;
  decisions: DecisionsTable;
  notifications: NotificationsTable;
  approval_link_uses: ApprovalLinkUsesTable;
  link_attempts: LinkAttemptsTable;
}
