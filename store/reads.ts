import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * Read-only aggregates over the record store for the governance views: one
 * query where asking Temporal's visibility store would take one count per
 * value (its SQL stores cannot GROUP BY a custom search attribute).
 */

/** Systems per stage and risk tier (null until assessed) in the projection, optionally for some systems only. */
export async function countSystemsByStageAndTier(
  db: Kysely<Database>,
  systemIds?: readonly string[],
): Promise<{ stage: string; riskTier: string | null; count: number }[]> {
  if (systemIds !== undefined && systemIds.length === 0) return [];
  let q = db
    .selectFrom('systems')
    .select(['stage', 'riskTier', sql<number>`count(*)::int`.as('count')])
    .groupBy(['stage', 'riskTier']);
  if (systemIds !== undefined) q = q.where('systemId', 'in', [...systemIds]);
  return q.execute();
}

export interface SystemListRow {
  systemId: string;
  name: string;
  owner: string;
  stage: string;
  riskTier: string | null;
  reviewDueAt: Date | null;
  /** The registration time as the database holds it (microseconds), the page key with the id. */
  registeredAt: string;
}

/**
 * One page of systems, newest registration first, after `after` (the last row of the previous page): keyset
 * paging on (created_at, system_id) by index, so a page costs the same at any depth. `tier` null is the
 * unassessed; `owner` is compared without regard to case.
 */
export async function listSystemRows(
  db: Kysely<Database>,
  f: {
    stage?: string;
    tier?: string | null;
    owner?: string;
    systemIds?: readonly string[];
    after?: { registeredAt: string; systemId: string };
    limit: number;
  },
): Promise<SystemListRow[]> {
  if (f.systemIds !== undefined && f.systemIds.length === 0) return [];
  let q = db
    .selectFrom('systems')
    .select([
      'systemId',
      'name',
      'owner',
      'stage',
      'riskTier',
      'reviewDueAt',
      sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('registeredAt'),
    ]);
  if (f.stage !== undefined) q = q.where('stage', '=', f.stage);
  if (f.tier === null) q = q.where('riskTier', 'is', null);
  else if (f.tier !== undefined) q = q.where('riskTier', '=', f.tier);
  if (f.owner !== undefined) q = q.where(sql`lower(owner)`, '=', f.owner.toLowerCase());
  if (f.systemIds !== undefined) q = q.where('systemId', 'in', [...f.systemIds]);
  if (f.after) {
    const { registeredAt, systemId } = f.after;
    q = q.where(sql<boolean>`(created_at, system_id) < (${registeredAt}::timestamptz, ${systemId})`);
  }
  return q.orderBy('createdAt', 'desc').orderBy('systemId', 'desc').limit(f.limit).execute();
}

/** Who each of these systems' last approval request went to (the open one, while a system is in approval). */
export async function lastApprovers(db: Kysely<Database>, systemIds: readonly string[]): Promise<Map<string, string>> {
  if (systemIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('events')
    .distinctOn('systemId')
    .select(['systemId', sql<string | null>`payload->>'approver'`.as('approver')])
    .where('systemId', 'in', [...systemIds])
    .where('type', '=', 'approval_requested')
    .orderBy('systemId')
    .orderBy('seq', 'desc')
    .execute();
  return new Map(rows.flatMap((r) => (r.approver ? [[r.systemId, r.approver] as const] : [])));
}
