/**
 * What the API routes and the governance pages need of the e-mail outbox:
 * the e-mails being retried, and sending a failed one again. One module, so
 * the JSON route and the system page's form cannot drift apart and neither
 * route file imports the other.
 */
import { z } from 'zod';
import { storable } from '../domain/storable.js';
import type { NotificationRow, Store } from '../store/index.js';
import { resendNotificationUpdate } from '../workflows/messages.js';
import type { ApiContext } from './context.js';
import { ApiError } from './errors.js';
import { sendToLifecycle } from './lifecycle-state.js';

/** The body of a re-send, from the API's JSON or the system page's form. */
export const resendRequestSchema = storable(
  z.object({
    key: z.string().min(1).max(500),
    requestedBy: z.email('must be an e-mail address').transform((e) => e.toLowerCase()),
  }),
);
export type ResendRequest = z.output<typeof resendRequestSchema>;

/**
 * Asks the system's lifecycle to send a failed e-mail again. The workflow
 * writes a new outbox entry (and an audit event naming who asked); the
 * failed one stays on record. Only a failed e-mail of this very system can
 * be re-sent: a key of a sent or pending e-mail would mail it twice.
 */
export async function resendFailedNotification(
  ctx: Pick<ApiContext, 'client' | 'store'>,
  systemId: string,
  request: ResendRequest,
): Promise<{ requested: string }> {
  // By key rather than through the failed listing, which stops at its newest 200 rows.
  const row = (await ctx.store.listNotifications(systemId)).find((n) => n.idempotencyKey === request.key);
  if (row?.status !== 'failed') {
    throw new ApiError(422, {
      error: 'validation_failed',
      message: `body.key: ${systemId} has no failed e-mail with this key`,
      issues: [{ path: 'body.key', message: 'is not a failed e-mail of this system' }],
    });
  }
  return sendToLifecycle(ctx, systemId, resendNotificationUpdate, [request]);
}

/**
 * Waiting for another attempt after a temporary failure (SMTP 4xx, server
 * down): pending with at least one failed attempt. The store has no listing
 * for these yet, so the condition lives here, once, for the page and /metrics.
 */
const retrying = (store: Pick<Store, 'db'>) =>
  store.db.selectFrom('notifications').where('status', '=', 'pending').where('attempts', '>', 0);

/** Newest failure first; at most `limit`. */
export async function listRetryingNotifications(store: Pick<Store, 'db'>, limit = 200): Promise<NotificationRow[]> {
  return retrying(store).selectAll().orderBy('updatedAt', 'desc').limit(limit).execute();
}

export async function countRetryingNotifications(store: Pick<Store, 'db'>): Promise<number> {
  const row = await retrying(store)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** System names for the given ids, from the record store's projections. */
export async function systemNames(store: Pick<Store, 'db'>, ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await store.db
    .selectFrom('systems')
    .select(['systemId', 'name'])
    .where('systemId', 'in', [...new Set(ids)])
    .execute();
  return new Map(rows.map((r) => [r.systemId, r.name]));
}
