import { auditVerdict, type AnchorReading, type AuditVerification } from '../domain/audit.js';
import type { LifecycleState } from '../domain/lifecycle.js';
import { checkChain, type EventRow } from '../store/index.js';
import type { ApiContext } from './context.js';
import { ApiError } from './errors.js';
import { queryState } from './lifecycle-state.js';

/**
 * A system's audit trail verified: its chain in the record store, and the
 * head its lifecycle workflow anchored outside it. The API route and the
 * system page both answer with this. Null for a system with neither a
 * workflow nor a record. What was read comes back too, for the page: the
 * events for its timeline, the workflow's state (null when it did not answer).
 */
export async function verifyAuditTrail(
  ctx: Pick<ApiContext, 'client' | 'store'>,
  systemId: string,
): Promise<{ verification: AuditVerification; events: EventRow[]; state: LifecycleState | null } | null> {
  // The anchor first, then the rows: a head is anchored only after it was committed, so it is among the rows read.
  let anchor: AnchorReading;
  let state: LifecycleState | null = null;
  let known = true;
  try {
    state = await queryState(ctx, systemId);
    anchor = { head: state.auditHead };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    known = err.statusCode !== 404;
    anchor = { unavailable: known ? err.body.message : 'no lifecycle workflow is kept for this system' };
  }
  const events = await ctx.store.listEvents(systemId);
  if (!known && events.length === 0) return null;
  return { verification: auditVerdict(checkChain(events), events, anchor), events, state };
}
