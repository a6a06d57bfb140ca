import { sql, type Kysely } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';

/**
 * In-code migrations, applied in name order by Kysely's Migrator when the
 * store opens. Never edit a migration that has shipped: add a new one.
 *
 * Each statement is executed on its own (PGlite's extended-protocol query
 * path takes one statement at a time).
 */
async function run(db: Kysely<any>, statements: string[]): Promise<void> {
  for (const statement of statements) {
    await sql.raw(statement).execute(db);
  }
}

const initial: Migration = {
  async up(db) {
    await run(db, [
      `create table systems (
        system_id      text primary key,
        name           text not null,
        owner          text not null,
        risk_owner     text not null,
        stage          text not null,
        risk_tier      text,
        review_due_at  timestamptz,
        policy_version text not null,
        registration   jsonb not null,
        updated_at     timestamptz not null,
        created_at     timestamptz not null default now()
      )`,

      // The audit trail. Primary key (system_id, seq) is the backstop against
      // a forked chain: two rows can never claim the same position.
      `create table events (
        system_id       text not null,
        seq             bigint not null check (seq >= 1),
        idempotency_key text not null unique,
        type            text not null,
        actor           text,
        at              timestamptz not null check (at = date_trunc('milliseconds', at)),
        payload         jsonb not null,
        prev_hash       text not null check (prev_hash ~ '^[0-9a-f]{64}$'),
        hash            text not null check (hash ~ '^[0-9a-f]{64}$'),
        recorded_at     timestamptz not null default now(),
        primary key (system_id, seq)
      )`,
      `create function events_append_only() returns trigger language plpgsql as $fn$
      begin
        raise exception 'events is append-only: % is not allowed', tg_op
          using errcode = 'insufficient_privilege';
      end
      $fn$`,
      `create trigger events_append_only
        before update or delete on events
        for each row execute function events_append_only()`,
      `create trigger events_no_truncate
        before truncate on events
        for each statement execute function events_append_only()`,

      `create table assessments (
        id              bigint generated always as identity primary key,
        idempotency_key text not null unique,
        system_id       text not null,
        version         integer not null,
        risk_tier       text not null,
        submitted_by    text not null,
        submitted_at    timestamptz not null,
        content         jsonb not null,
        recorded_at     timestamptz not null default now()
      )`,
      `create index assessments_system_idx on assessments (system_id, version)`,

      `create table decisions (
        id              bigint generated always as identity primary key,
        idempotency_key text not null unique,
        system_id       text not null,
        request_id      text not null,
        step            integer not null,
        approver        text not null,
        decision        text not null,
        comment         text not null,
        decided_at      timestamptz not null,
        digest          text,
        recorded_at     timestamptz not null default now()
      )`,
      `create index decisions_system_idx on decisions (system_id, decided_at)`,
      `create index decisions_request_idx on decisions (request_id, step)`,

      `create table notifications (
        idempotency_key text primary key,
        system_id       text not null,
        kind            text not null,
        to_address      text not null,
        subject         text not null,
        message_id      text not null,
        status          text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
        attempts        integer not null default 0 check (attempts >= 0),
        last_error      text,
        created_at      timestamptz not null,
        sent_at         timestamptz,
        updated_at      timestamptz not null default now()
      )`,
      `create index notifications_system_idx on notifications (system_id, created_at)`,

      `create table approval_link_uses (
        id          bigint generated always as identity primary key,
        jti         text not null,
        request_id  text not null,
        system_id   text not null,
        approver    text not null,
        decision    text not null,
        comment     text not null,
        used_at     timestamptz not null,
        released_at timestamptz
      )`,
      // First use wins: at most one active (unreleased) use per link.
      `create unique index approval_link_uses_active_jti on approval_link_uses (jti) where released_at is null`,
      `create index approval_link_uses_system_idx on approval_link_uses (system_id)`,

      `create table link_attempts (
        id          bigint generated always as identity primary key,
        system_id   text,
        reason      text not null,
        at          timestamptz not null,
        detail      jsonb not null,
        recorded_at timestamptz not null default now()
      )`,
      `create index link_attempts_system_idx on link_attempts (system_id, id)`,
    ]);
  },
  async down(db) {
    await run(db, [
      'drop table link_attempts',
      'drop table approval_link_uses',
      'drop table notifications',
      'drop table decisions',
      'drop table assessments',
      'drop table events',
      'drop function events_append_only()',
      'drop table systems',
    ]);
  },
};

/**
 * One row per running worker process and task queue, rewritten every few seconds. Readiness reads the freshest
 * row: Temporal's own poller list keeps a dead worker for minutes. Times come from the database's clock (now()),
 * so workers and APIs on hosts with skewed clocks agree on a row's age.
 */
const workerHeartbeats: Migration = {
  async up(db) {
    await run(db, [
      `create table worker_heartbeats (
        identity     text not null,
        task_queue   text not null,
        namespace    text not null,
        started_at   timestamptz not null,
        last_seen_at timestamptz not null,
        primary key (namespace, task_queue, identity)
      )`,
      `create index worker_heartbeats_seen_idx on worker_heartbeats (namespace, task_queue, last_seen_at)`,
    ]);
  },
  async down(db) {
    await run(db, ['drop table worker_heartbeats']);
  },
};

/**
 * Version 2 of the lifecycle: big documents by digest, and an outbox that
 * keeps the notification itself (rendered at delivery) with a lease so that
 * two delivery attempts never send one e-mail twice. `failed` now means
 * given up on for good; a temporary failure stays `pending` with its error.
 */
const documentsAndOutbox: Migration = {
  async up(db) {
    await run(db, [
      `create table documents (
        digest     text primary key check (digest ~ '^[0-9a-f]{64}$'),
        kind       text not null,
        content    jsonb not null,
        created_at timestamptz not null default now()
      )`,
      `alter table notifications add column notification jsonb`,
      `alter table notifications add column lease_until timestamptz`,
      `alter table notifications drop constraint notifications_status_check`,
      `update notifications set status = 'pending' where status = 'failed'`,
      `alter table notifications add constraint notifications_status_check
        check (status in ('pending', 'sending', 'sent', 'failed'))`,
      `create index notifications_failed_idx on notifications (status) where status = 'failed'`,
    ]);
  },
  async down(db) {
    await run(db, [
      'drop index notifications_failed_idx',
      'alter table notifications drop constraint notifications_status_check',
      `update notifications set status = 'pending' where status = 'sending'`,
      `alter table notifications add constraint notifications_status_check check (status in ('pending', 'sent', 'failed'))`,
      'alter table notifications drop column lease_until',
      'alter table notifications drop column notification',
      'drop table documents',
    ]);
  },
};

/**
 * Identity and access: API keys (only a SHA-256 of the secret is kept: the
 * keys are 256-bit random, so a slow hash buys nothing), which team each
 * system belongs to (written by the API at registration, before the workflow
 * starts, so access checks never wait for the projection), and single-use
 * login links. Systems registered before teams existed belong to `default`.
 */
const identityAndAccess: Migration = {
  async up(db) {
    await run(db, [
      `create table api_keys (
        id           text primary key,
        prefix       text not null,
        hash         text not null unique check (hash ~ '^[0-9a-f]{64}$'),
        name         text not null,
        email        text not null,
        role         text not null check (role in ('ai-team', 'risk-owner', 'governance-lead', 'auditor', 'admin')),
        team         text,
        created_by   text not null,
        created_at   timestamptz not null default now(),
        expires_at   timestamptz,
        revoked_at   timestamptz,
        last_used_at timestamptz,
        check ((role = 'ai-team') = (team is not null))
      )`,
      `create table system_access (
        system_id     text primary key,
        team          text not null,
        owner         text not null,
        risk_owner    text not null,
        registered_by text not null,
        created_at    timestamptz not null default now()
      )`,
      `create index system_access_team_idx on system_access (team)`,
      `create index system_access_risk_owner_idx on system_access (risk_owner)`,
      `insert into system_access (system_id, team, owner, risk_owner, registered_by)
        select system_id, 'default', owner, risk_owner, 'unknown (registered before access control)' from systems`,
      `create table login_links (
        hash       text primary key check (hash ~ '^[0-9a-f]{64}$'),
        key_id     text not null references api_keys (id),
        expires_at timestamptz not null,
        used_at    timestamptz
      )`,
    ]);
  },
  async down(db) {
    await run(db, ['drop table login_links', 'drop table system_access', 'drop table api_keys']);
  },
};

/**
 * The organisation's own entries for ISO/IEC 42001 controls (document, review date, note), for the Statement
 * of Applicability. Replacing an entry marks it superseded; nothing is deleted, so the history stays.
 */
const organisationControls: Migration = {
  async up(db) {
    await run(db, [
      `create table organisation_control_entries (
        id                 bigint generated always as identity primary key,
        control_id         text not null check (control_id ~ '^A\\.[0-9]+(\\.[0-9]+)+$'),
        document_reference text not null check (length(document_reference) between 1 and 500),
        review_date        text not null check (review_date ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
        note               text not null default '',
        recorded_by        text not null,
        recorded_by_id     text not null,
        recorded_at        timestamptz not null default now(),
        superseded_at      timestamptz
      )`,
      `create index organisation_control_entries_current_idx
        on organisation_control_entries (control_id) where superseded_at is null`,
    ]);
  },
  async down(db) {
    await run(db, ['drop table organisation_control_entries']);
  },
};

/**
 * The open incidents on the dashboard and in `GET /api/v1/incidents/open` are folded from these events of every
 * system: a partial index keeps that read to them, however long the audit trails grow.
 */
const incidentEventsIndex: Migration = {
  async up(db) {
    await run(db, [
      `create index events_incidents_idx on events (system_id, seq)
        where type in ('incident_reported', 'corrective_action_reminder_sent', 'corrective_action_overdue',
          'corrective_action_closed')`,
    ]);
  },
  async down(db) {
    await run(db, ['drop index events_incidents_idx']);
  },
};

/**
 * The governance views read systems from the projection (issue 12): a page of `GET /api/v1/systems` is the next
 * rows after a key in registration order, newest first, and the pending list is the last approval request of the
 * systems in approval; both by index, whatever the number of systems.
 */
const systemViewsIndexes: Migration = {
  async up(db) {
    await run(db, [
      `create index systems_registered_idx on systems (created_at desc, system_id desc)`,
      `create index events_approval_requests_idx on events (system_id, seq) where type = 'approval_requested'`,
    ]);
  },
  async down(db) {
    await run(db, ['drop index events_approval_requests_idx', 'drop index systems_registered_idx']);
  },
};

export const migrations: Record<string, Migration> = {
  '0001_initial': initial,
  '0003_worker_heartbeats': workerHeartbeats,
  '0004_documents_and_outbox': documentsAndOutbox,
  '0005_identity_and_access': identityAndAccess,
  '0006_organisation_controls': organisationControls,
  '0007_incident_events_index': incidentEventsIndex,
  '0008_system_views_indexes': systemViewsIndexes,
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
