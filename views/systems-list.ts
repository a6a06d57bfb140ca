import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isFinal, stageSchema } from '../domain/lifecycle.js';
import { lastApprovers, listSystemRows, type Store } from '../store/index.js';
import { InvalidPageTokenError, type Scope, type SystemFilter, type SystemPage } from './visibility.js';

/**
 * `GET /api/v1/systems` and the dashboard's table, a page at a time, from the
 * record store's projection (issue 12): keyset paging, newest registration
 * first, by index. Listing visibility instead sorted every matching workflow
 * for each page and decoded each one's memo; here a page is two indexed
 * queries at any depth and any number of systems. A page token is the last
 * row's key with a MAC over it, the filter and the scope, so a token from
 * another listing, or a made-up one, is refused.
 */
export interface StoreListOptions extends SystemFilter {
  /** 1 to 1000; default 50. */
  pageSize?: number;
  nextPageToken?: string | null;
  /** Keys the page tokens' MAC (share it between replicas). */
  tokenSecret?: string;
  scope?: Scope;
}

function listingKey(o: StoreListOptions): string {
  const scope =
    o.scope === undefined
      ? '*'
      : createHash('sha256')
          .update([...o.scope].sort().join('\n'))
          .digest('hex');
  return JSON.stringify([o.stage ?? null, o.tier ?? null, o.owner?.toLowerCase() ?? null, scope]);
}

function mac(secret: string | undefined, listing: string, key: string): Buffer {
  const h = secret ? createHmac('sha256', secret) : createHash('sha256');
  return h.update('ai-systems-store-page-token\n').update(listing).update('\n').update(key).digest().subarray(0, 16);
}

function wrap(secret: string | undefined, listing: string, after: { registeredAt: string; systemId: string }) {
  const key = JSON.stringify([after.registeredAt, after.systemId]);
  return `${Buffer.from(key).toString('base64url')}.${mac(secret, listing, key).toString('base64url')}`;
}

function unwrap(secret: string | undefined, listing: string, token: string) {
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(token);
  if (!m) throw new InvalidPageTokenError('not a page token');
  const key = Buffer.from(m[1]!, 'base64url').toString('utf8');
  const given = Buffer.from(m[2]!, 'base64url');
  const expected = mac(secret, listing, key);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new InvalidPageTokenError('not a page token for this listing');
  const parsed: unknown = JSON.parse(key);
  if (!Array.isArray(parsed) || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string')
    throw new InvalidPageTokenError('not a page token');
  return { registeredAt: parsed[0], systemId: parsed[1] };
}

export async function listSystemsFromStore(store: Pick<Store, 'db'>, opts: StoreListOptions): Promise<SystemPage> {
  const pageSize = opts.pageSize ?? 50;
  const listing = listingKey(opts);
  const after = opts.nextPageToken ? unwrap(opts.tokenSecret, listing, opts.nextPageToken) : undefined;
  // One more than the page: whether there is a next page, without a count.
  const rows = await listSystemRows(store.db, {
    ...(opts.stage ? { stage: opts.stage } : {}),
    ...(opts.tier ? { tier: opts.tier === 'unassessed' ? null : opts.tier } : {}),
    ...(opts.owner ? { owner: opts.owner } : {}),
    ...(opts.scope !== undefined ? { systemIds: opts.scope } : {}),
    ...(after ? { after } : {}),
    limit: pageSize + 1,
  });
  const page = rows.slice(0, pageSize);
  const approvers = await lastApprovers(
    store.db,
    page.filter((r) => r.stage === 'approval').map((r) => r.systemId),
  );
  const last = page.at(-1);
  return {
    systems: page.map((r) => {
      const stage = stageSchema.safeParse(r.stage);
      return {
        id: r.systemId,
        name: r.name,
        owner: r.owner,
        stage: r.stage,
        riskTier: r.riskTier ?? 'unassessed',
        reviewDueAt: r.reviewDueAt ? r.reviewDueAt.toISOString() : null,
        pendingApprover: r.stage === 'approval' ? (approvers.get(r.systemId) ?? null) : null,
        // A lifecycle ends with retirement or rejection; until then its workflow runs.
        status: stage.success && isFinal(stage.data) ? 'COMPLETED' : 'RUNNING',
      };
    }),
    nextPageToken: rows.length > pageSize && last ? wrap(opts.tokenSecret, listing, last) : null,
  };
}
