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
