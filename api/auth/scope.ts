import { visibleSystemIds } from '../../store/access.js';
import type { Store } from '../../store/index.js';
import type { Scope } from '../../views/visibility.js';
import { crossTeamRoles, type Principal } from './principal.js';

/** The systems a principal's lists, dashboard and gauges cover: all, or the ids of their team or their risk ownership. */
export async function scopeOf(store: Store, p: Principal | undefined): Promise<Scope> {
  if (!p) return [];
  if (crossTeamRoles.includes(p.role)) return undefined;
  if (p.role === 'ai-team') return p.team ? visibleSystemIds(store.db, { team: p.team }) : [];
  return visibleSystemIds(store.db, { riskOwner: p.email });
}
