import { stages, type Stage } from '../domain/lifecycle.js';
import { countSystemsByStageAndTier, type Store } from '../store/index.js';
import { visibilityTiers, type Scope, type StageTierCounts, type VisibilityTier } from './visibility.js';

/**
 * Systems per stage and tier from the record store's projection, in one
 * GROUP BY: the visibility store answers this only with one count per stage,
 * per tier and per pair (about 50 calls to Temporal per dashboard view or
 * scrape, which grew with the number of workflows). The projection is
 * written with each lifecycle step's records, so it says what the audit
 * trail says; like visibility it may trail the workflow by the step in flight.
 */
export async function countsFromStore(store: Pick<Store, 'db'>, scope: Scope): Promise<StageTierCounts> {
  const rows = await countSystemsByStageAndTier(store.db, scope);
  const isStage = (s: string): s is Stage => (stages as readonly string[]).includes(s);
  const tierOf = (t: string | null): VisibilityTier =>
    t !== null && (visibilityTiers as readonly string[]).includes(t) ? (t as VisibilityTier) : 'unassessed';
  const byStage = Object.fromEntries(stages.map((s) => [s, 0])) as Record<Stage, number>;
  const byTier = Object.fromEntries(visibilityTiers.map((t) => [t, 0])) as Record<VisibilityTier, number>;
  const pairs = new Map<string, number>();
  let total = 0;
  for (const r of rows) {
    total += r.count;
    const tier = tierOf(r.riskTier);
    byTier[tier] += r.count;
    if (!isStage(r.stage)) continue;
    byStage[r.stage] += r.count;
    pairs.set(`${r.stage}/${tier}`, (pairs.get(`${r.stage}/${tier}`) ?? 0) + r.count);
  }
  const byStageAndTier = stages.flatMap((stage) =>
    visibilityTiers.map((tier) => ({ stage, tier, count: pairs.get(`${stage}/${tier}`) ?? 0 })),
  );
  return { total, byStage, byTier, byStageAndTier };
}
