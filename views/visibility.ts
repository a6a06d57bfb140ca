/**
 * Governance views over Temporal's visibility store: every function here is
 * one or a few `ListWorkflowExecutions` / `CountWorkflowExecutions` calls
 * that read the search attributes and the memo each lifecycle publishes
 * (domain/visibility.ts). Never a query per workflow (each costs an action)
 * and never a scan of the record store: the people of the listed systems
 * (no e-mail address is published to Temporal) come from one lookup per
 * listing (views/people.ts). Used by the API, the dashboard and
 * the weekly digest activity.
 *
 * What the SQLite visibility store of the dev server (CLI 1.9.1) supports,
 * checked by hand and by test/governance.test.ts: `=`, `!=`, `<`, `>=`,
 * `BETWEEN`, `IN (…)`, `IS NULL`, `IS NOT NULL` on custom search attributes,
 * and paging with pageSize/nextPageToken. It refuses `ORDER BY` ("operation is
 * not supported: 'ORDER BY' clause") and `GROUP BY` on anything but
 * ExecutionStatus, so results are sorted here. That is why the counts per
 * stage and tier (views/counts.ts) and the paged list of all systems
 * (views/systems-list.ts) read the record store's projection instead: one
 * GROUP BY, and keyset pages by index, where visibility needed a count per
 * value and sorted every matching workflow for each page.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { stages, type Stage } from '../domain/lifecycle.js';
import { riskTiers } from '../domain/policy.js';
import { SA } from '../domain/search-attributes.js';
import type { SystemMemo } from '../domain/visibility.js';
import type { PersonKeys } from '../payloads/person-keys.js';
import type { People, SystemPeople } from './people.js';

const DAY_MS = 86_400_000;

/** The tier values the AiRiskTier search attribute takes: a system is `unassessed` until its assessment. */
export const visibilityTiers = [...riskTiers, 'unassessed'] as const;
export type VisibilityTier = (typeof visibilityTiers)[number];

/** Only lifecycle workflows of this product (the digest workflow and anything else on the namespace stay out). */
export const PRODUCT_FILTER = `WorkflowType = 'aiSystemLifecycle' AND AiSystemId IS NOT NULL`;
/** The current run of each system: a completed review cycle leaves a ContinuedAsNew run behind with old values. */
const CURRENT_RUN = `ExecutionStatus != 'ContinuedAsNew'`;
const RUNNING = `ExecutionStatus = 'Running'`;

/** A keyword literal; values come from enums and person keys, anything else is refused rather than escaped. */
function kw(value: string): string {
  if (!/^[A-Za-z0-9_.:@-]+$/.test(value)) throw new Error(`not a keyword value: ${JSON.stringify(value)}`);
  return `'${value}'`;
}
const dt = (d: Date) => `"${d.toISOString()}"`;

/**
 * Which systems a caller may see: every one (undefined), or these ids (a
 * team's, a risk owner's). The ids come from the record store's access
 * table, so a view never lists a system its caller could not open.
 */
export type Scope = readonly string[] | undefined;

/** The query limited to the scope; an empty scope is answered without asking Temporal (see `isEmptyScope`). */
export function scoped(query: string, scope: Scope): string {
  if (scope === undefined) return query;
  return `${query} AND ${SA.systemId.name} IN (${(scope.length ? scope : ['-']).map(kw).join(', ')})`;
}

export function overdueReviewsQuery(now: Date): string {
  return `${PRODUCT_FILTER} AND ${RUNNING} AND ${SA.stage.name} = 'review_due' AND ${SA.reviewDueAt.name} < ${dt(now)}`;
}

export function reviewsDueQuery(from: Date, to: Date): string {
  return (
    `${PRODUCT_FILTER} AND ${RUNNING} AND ${SA.stage.name} = 'active'` +
    ` AND ${SA.reviewDueAt.name} >= ${dt(from)} AND ${SA.reviewDueAt.name} < ${dt(to)}`
  );
}

export function pendingApprovalsQuery(): string {
  return `${PRODUCT_FILTER} AND ${RUNNING} AND ${SA.stage.name} = 'approval' AND ${SA.pendingApprover.name} IS NOT NULL`;
}

export interface SystemFilter {
  stage?: Stage;
  tier?: VisibilityTier;
  /** The owner's e-mail address; matched through its pseudonymous key. */
  owner?: string;
}

/** `keys` turns an owner's address into the keys it is published under (systems registered before the HMAC too). */
export function systemsQuery(f: SystemFilter = {}, keys?: PersonKeys): string {
  const parts = [PRODUCT_FILTER, CURRENT_RUN];
  if (f.stage) parts.push(`${SA.stage.name} = ${kw(f.stage)}`);
  if (f.tier) parts.push(`${SA.riskTier.name} = ${kw(f.tier)}`);
  if (f.owner) {
    if (!keys) throw new Error('filtering by owner needs the person keys');
    parts.push(`${SA.owner.name} IN (${keys.candidates(f.owner).map(kw).join(', ')})`);
  }
  return parts.join(' AND ');
}

// ---------------------------------------------------------------- reading one listed workflow

/** What a listed lifecycle carries: its search attributes and memo, read defensively (an old run may lack some). */
export interface ListedSystem {
  id: string;
  workflowId: string;
  status: string;
  stage: string | null;
  riskTier: string | null;
  reviewDueAt: string | null;
  ownerKey: string | null;
  pendingApproverKey: string | null;
  memo: Partial<SystemMemo>;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function readListed(info: WorkflowExecutionInfo): ListedSystem {
  const sa = info.typedSearchAttributes;
  const due = sa.get(SA.reviewDueAt);
  const memo = (info.memo ?? {}) as Record<string, unknown>;
  return {
    id: sa.get(SA.systemId) ?? info.workflowId.replace(/^ai-system-/, ''),
    workflowId: info.workflowId,
    status: info.status.name,
    stage: sa.get(SA.stage) ?? null,
    riskTier: sa.get(SA.riskTier) ?? null,
    reviewDueAt: due ? due.toISOString() : null,
    ownerKey: sa.get(SA.owner) ?? null,
    pendingApproverKey: sa.get(SA.pendingApprover) ?? null,
    memo: {
      name: str(memo.name) ?? undefined,
      modelVersion: str(memo.modelVersion) ?? undefined,
      approvalStep: str(memo.approvalStep),
      pendingSince: str(memo.pendingSince),
      reviewEscalations: typeof memo.reviewEscalations === 'number' ? memo.reviewEscalations : 0,
      lastReviewCompletedAt: str(memo.lastReviewCompletedAt),
    },
  };
}

async function listAll(client: Client, query: string, scope?: Scope): Promise<ListedSystem[]> {
  const out: ListedSystem[] = [];
  if (scope?.length === 0) return out;
  for await (const info of client.workflow.list({ query: scoped(query, scope), pageSize: 1000 }))
    out.push(readListed(info));
  return out;
}

const nobody: SystemPeople = { owner: null, riskOwner: null, byKey: () => null };

/** Listed systems with their people from the record store. */
async function withPeople(rows: ListedSystem[], people: People): Promise<(ListedSystem & { people: SystemPeople })[]> {
  const found = await people.of(rows.map((r) => r.id));
  return rows.map((r) => ({ ...r, people: found.get(r.id) ?? nobody }));
}

const byTime = (a: string | null | undefined, b: string | null | undefined) =>
  (a ? Date.parse(a) : Infinity) - (b ? Date.parse(b) : Infinity);

// ---------------------------------------------------------------- governance lists

export interface OverdueReview {
  id: string;
  name: string;
  owner: string;
  riskTier: string;
  reviewDueAt: string;
  /** Whole days past the due date (0 on the day it fell due). */
  daysOverdue: number;
  /** Escalations to the governance lead so far in this overdue period. */
  escalationsSent: number;
}

type Dated = ListedSystem & { reviewDueAt: string };

/** Listed systems with a review date, soonest first, and the fields every review list shows. */
async function datedReviews(client: Client, query: string, scope: Scope, people: People) {
  const rows = await withPeople(await listAll(client, query, scope), people);
  return rows
    .filter((r): r is Dated & { people: SystemPeople } => r.reviewDueAt !== null)
    .sort((a, b) => byTime(a.reviewDueAt, b.reviewDueAt) || a.id.localeCompare(b.id))
    .map((r) => ({
      row: r,
      base: {
        id: r.id,
        name: r.memo.name ?? r.id,
        owner: r.people.owner ?? '',
        riskTier: r.riskTier ?? 'unassessed',
        reviewDueAt: r.reviewDueAt,
      },
    }));
}

/** Systems whose periodic review is due and past its date, most overdue first. */
export async function listOverdueReviews(
  client: Client,
  now: Date,
  scope: Scope,
  people: People,
): Promise<OverdueReview[]> {
  return (await datedReviews(client, overdueReviewsQuery(now), scope, people)).map(({ row, base }) => ({
    ...base,
    daysOverdue: Math.max(0, Math.floor((now.getTime() - Date.parse(row.reviewDueAt)) / DAY_MS)),
    escalationsSent: row.memo.reviewEscalations ?? 0,
  }));
}

export interface UpcomingReview {
  id: string;
  name: string;
  owner: string;
  riskTier: string;
  reviewDueAt: string;
  /** Whole days until the due date (0 when due within a day). */
  daysUntilDue: number;
}

/** Active systems whose next review falls in [from, to), soonest first. */
export async function listReviewsDueBetween(
  client: Client,
  from: Date,
  to: Date,
  scope: Scope,
  people: People,
): Promise<UpcomingReview[]> {
  return (await datedReviews(client, reviewsDueQuery(from, to), scope, people)).map(({ row, base }) => ({
    ...base,
    daysUntilDue: Math.max(0, Math.floor((Date.parse(row.reviewDueAt) - from.getTime()) / DAY_MS)),
  }));
}

/** Active systems whose next review falls within `days` days from `now`. */
export function listUpcomingReviews(
  client: Client,
  now: Date,
  days: number,
  scope: Scope,
  people: People,
): Promise<UpcomingReview[]> {
  return listReviewsDueBetween(client, now, new Date(now.getTime() + days * DAY_MS), scope, people);
}

export interface PendingApprovalItem {
  id: string;
  name: string;
  /** The approver's e-mail address (from the record store; the search attribute holds only its key). */
  approver: string | null;
  /** e.g. "treatment plan, step 1 of 2". */
  step: string | null;
  pendingSince: string | null;
  /** Whole days the request has been waiting. */
  ageDays: number;
  ageSeconds: number;
  riskTier: string;
}

/** Approval requests waiting on someone, oldest first. */
export async function listPendingApprovals(
  client: Client,
  now: Date,
  scope: Scope,
  people: People,
): Promise<PendingApprovalItem[]> {
  const rows = await withPeople(await listAll(client, pendingApprovalsQuery(), scope), people);
  return rows
    .sort((a, b) => byTime(a.memo.pendingSince, b.memo.pendingSince) || a.id.localeCompare(b.id))
    .map((r) => {
      const since = r.memo.pendingSince ?? null;
      const ageMs = since ? Math.max(0, now.getTime() - Date.parse(since)) : 0;
      return {
        id: r.id,
        name: r.memo.name ?? r.id,
        approver: r.people.byKey(r.pendingApproverKey),
        step: r.memo.approvalStep ?? null,
        pendingSince: since,
        ageDays: Math.floor(ageMs / DAY_MS),
        ageSeconds: ageMs / 1000,
        riskTier: r.riskTier ?? 'unassessed',
      };
    });
}

// ---------------------------------------------------------------- all systems, paged

export interface SystemListItem {
  id: string;
  name: string;
  owner: string | null;
  stage: string | null;
  riskTier: string | null;
  reviewDueAt: string | null;
  pendingApprover: string | null;
  /** The workflow's execution status: Running, or Completed once retired or rejected. */
  status: string;
}

export interface SystemPage {
  systems: SystemListItem[];
  /** Pass back as `nextPageToken` for the next page; null on the last one. */
  nextPageToken: string | null;
}

export class InvalidPageTokenError extends Error {}

// ---------------------------------------------------------------- counts

export interface StageTierCounts {
  total: number;
  byStage: Record<Stage, number>;
  byTier: Record<VisibilityTier, number>;
  /** Every stage × tier pair, zeros included. */
  byStageAndTier: { stage: Stage; tier: VisibilityTier; count: number }[];
}

/** The number of overdue reviews, without reading them. */
export async function countOverdueReviews(client: Client, now: Date, scope?: Scope): Promise<number> {
  if (scope?.length === 0) return 0;
  return (await client.workflow.count(scoped(overdueReviewsQuery(now), scope))).count;
}
