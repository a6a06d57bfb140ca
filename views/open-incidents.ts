import { correctiveActionEventTypes, openIncidentsFrom, type OpenIncident } from '../domain/open-incidents.js';
import { isFinal, stageSchema } from '../domain/lifecycle.js';
import type { Store } from '../store/index.js';
import type { Scope } from './visibility.js';

/**
 * Open incidents and their corrective actions, read from the record store's
 * audit trail (Temporal's visibility store has no room for them: the dev
 * server allows few custom search attributes). One query over the incident
 * events of the systems in scope, served by a partial index; systems that
 * are retired or rejected are left out, since their lifecycle, and its
 * reminders, has ended.
 */
export async function listOpenIncidents(store: Store, now: Date, scope: Scope): Promise<OpenIncident[]> {
  if (scope !== undefined && scope.length === 0) return [];
  let query = store.db
    .selectFrom('events')
    .select(['systemId', 'type', 'at', 'payload'])
    .where('type', 'in', [...correctiveActionEventTypes]);
  if (scope !== undefined) query = query.where('systemId', 'in', [...scope]);
  const events = await query.orderBy('systemId').orderBy('seq').execute();
  const ids = [...new Set(events.map((e) => e.systemId))];
  if (ids.length === 0) return [];
  const rows = await store.db
    .selectFrom('systems')
    .select(['systemId', 'name', 'stage'])
    .where('systemId', 'in', ids)
    .execute();
  const live = new Map(
    rows
      .filter((r) => {
        const stage = stageSchema.safeParse(r.stage);
        return !stage.success || !isFinal(stage.data);
      })
      .map((r) => [r.systemId, { name: r.name, stage: r.stage }]),
  );
  return openIncidentsFrom(events, live, now);
}
