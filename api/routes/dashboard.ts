import type { FastifyPluginAsync } from 'fastify';
import { stageSchema, type LifecycleState } from '../../domain/lifecycle.js';
import { emailSchema, systemIdSchema } from '../../domain/system.js';
import { queryState } from '../lifecycle-state.js';
import type { ApiContext } from '../context.js';
import { bucketByMonth, dashboardPage, monthStart, type DashboardFilter } from '../pages/dashboard.js';
import { systemNotFoundPage, systemPage } from '../pages/system.js';
import {
  countsByStageAndTier,
  InvalidPageTokenError,
  listOverdueReviews,
  listPendingApprovals,
  listReviewsDueBetween,
  listSystems,
  visibilityTiers,
  type SystemFilter,
  type SystemPage,
} from '../../views/visibility.js';

const one = (v: unknown): string | undefined => {
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === 'string' && s.trim() !== '' ? s.trim() : undefined;
};

/**
 * The governance dashboard (`/`) and a page per system (`/systems/:id`),
 * server-rendered HTML. The dashboard reads only Temporal's visibility store;
 * a system page asks its one workflow and reads its audit trail.
 */
export const dashboardRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.get<{ Querystring: Record<string, unknown> }>('/', { schema: { hide: true } }, async (req, reply) => {
      const now = new Date();
      const q = req.query ?? {};
      const raw: DashboardFilter = {
        stage: one(q.stage),
        tier: one(q.tier),
        owner: one(q.owner),
        pageToken: one(q.pageToken),
      };
      // The form's values are checked like the API's; a bad one is named and ignored, never a 500.
      const problems: string[] = [];
      const filter: SystemFilter = {};
      if (raw.stage) {
        const s = stageSchema.safeParse(raw.stage);
        if (s.success) filter.stage = s.data;
        else problems.push(`“${raw.stage}” is not a stage`);
      }
      if (raw.tier) {
        if ((visibilityTiers as readonly string[]).includes(raw.tier)) filter.tier = raw.tier as SystemFilter['tier'];
        else problems.push(`“${raw.tier}” is not a risk tier`);
      }
      if (raw.owner) {
        const o = emailSchema.safeParse(raw.owner);
        if (o.success) filter.owner = o.data;
        else problems.push(`“${raw.owner}” is not an e-mail address`);
      }
      const paging = { pageSize: 50, tokenSecret: ctx.approvalLinkSecret };
      const systems = listSystems(ctx.client, { ...filter, ...paging, nextPageToken: raw.pageToken }).catch(
        (err: unknown): Promise<SystemPage> => {
          if (!(err instanceof InvalidPageTokenError)) throw err;
          problems.push('the page link is not valid, so the first page is shown');
          return listSystems(ctx.client, { ...filter, ...paging });
        },
      );
      const [counts, overdue, pending, upcoming, page] = await Promise.all([
        countsByStageAndTier(ctx.client),
        listOverdueReviews(ctx.client, now),
        listPendingApprovals(ctx.client, now),
        listReviewsDueBetween(ctx.client, now, monthStart(now, 12)),
        systems,
      ]);
      return reply.type('text/html; charset=utf-8').send(
        dashboardPage({
          now,
          counts,
          overdue,
          pending,
          months: bucketByMonth(now, upcoming),
          systems: page,
          filter: raw,
          filterError: problems.length ? `Not applied: ${problems.join('; ')}.` : undefined,
        }),
      );
    });

    app.get<{ Params: { id: string } }>('/systems/:id', { schema: { hide: true } }, async (req, reply) => {
      const id = req.params.id;
      const html = (code: number, body: string) => reply.code(code).type('text/html; charset=utf-8').send(body);
      if (!systemIdSchema.safeParse(id).success) return html(404, systemNotFoundPage(id));
      const [state, record, events, chain] = await Promise.all([
        // The record store's projection stands in when the workflow cannot answer.
        queryState(ctx, id).catch((): LifecycleState | null => null),
        ctx.store.getSystem(id).then((r) => r ?? null),
        ctx.store.listEvents(id),
        ctx.store.verifyChain(id),
      ]);
      if (!state && !record && events.length === 0) return html(404, systemNotFoundPage(id));
      return html(200, systemPage({ id, state, record, events, chain }));
    });
  };
