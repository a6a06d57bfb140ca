import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { stageSchema } from '../../domain/lifecycle.js';
import { emailSchema } from '../../domain/system.js';
import { roleSchema } from '../auth/principal.js';
import { scopeOf } from '../auth/scope.js';
import type { ApiContext } from '../context.js';
import { openIncidentSchema } from '../../domain/open-incidents.js';
import { listOpenIncidents } from '../../views/open-incidents.js';
import { countsFromStore } from '../../views/counts.js';
import { storePeople } from '../../views/people.js';
import { listSystemsFromStore } from '../../views/systems-list.js';
import { ApiError, apiErrorBodySchema } from '../errors.js';
import { countRetryingNotifications } from '../outbox.js';
import type { NotificationStatus } from '../../store/index.js';
import {
  countOverdueReviews,
  InvalidPageTokenError,
  listOverdueReviews,
  listPendingApprovals,
  listUpcomingReviews,
  visibilityTiers,
  type StageTierCounts,
} from '../../views/visibility.js';

const errorBody = apiErrorBodySchema;
/** Every status is exported, at 0 when there is none, so an alert on "failed" has a series from the start. */
const notificationStatuses = ['pending', 'sending', 'sent', 'failed'] as const satisfies readonly NotificationStatus[];

const overdueItem = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  riskTier: z.string(),
  reviewDueAt: z.string(),
  daysOverdue: z.number().int(),
  escalationsSent: z.number().int(),
});
const upcomingItem = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  riskTier: z.string(),
  reviewDueAt: z.string(),
  daysUntilDue: z.number().int(),
});
const pendingItem = z.object({
  id: z.string(),
  name: z.string(),
  approver: z.string().nullable(),
  step: z.string().nullable(),
  pendingSince: z.string().nullable(),
  ageDays: z.number().int(),
  ageSeconds: z.number(),
  riskTier: z.string(),
});
const systemItem = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string().nullable(),
  stage: z.string().nullable(),
  riskTier: z.string().nullable(),
  reviewDueAt: z.string().nullable(),
  pendingApprover: z.string().nullable(),
  status: z.string(),
});

/** Query-string integers arrive as text; anything but a whole number in range is refused with the field named. */
const intParam = (min: number, max: number, fallback: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(min, `must be between ${min} and ${max}`)
    .max(max, `must be between ${min} and ${max}`)
    .default(fallback);

const systemsQuerystring = z.object({
  stage: stageSchema.optional(),
  tier: z.enum(visibilityTiers).optional(),
  owner: emailSchema.optional(),
  pageSize: intParam(1, 100, 50),
  pageToken: z.string().max(4096).optional(),
});

/** Prometheus text exposition format 0.0.4. */
export function metricsText(m: {
  counts: StageTierCounts;
  overdue: number;
  pending: number;
  oldestPendingSeconds: number;
  notifications: Record<NotificationStatus, number>;
  retrying: number;
}): string {
  const lines = [
    '# HELP ai_systems AI systems by lifecycle stage and risk tier (current run of each lifecycle).',
    '# TYPE ai_systems gauge',
    ...m.counts.byStageAndTier.map((c) => `ai_systems{stage="${c.stage}",tier="${c.tier}"} ${c.count}`),
    '# HELP ai_reviews_overdue Periodic reviews that are due and past their due date.',
    '# TYPE ai_reviews_overdue gauge',
    `ai_reviews_overdue ${m.overdue}`,
    '# HELP ai_approvals_pending Approval requests waiting for a decision.',
    '# TYPE ai_approvals_pending gauge',
    `ai_approvals_pending ${m.pending}`,
    '# HELP ai_approval_oldest_pending_seconds Age of the oldest open approval request in seconds (0 when none).',
    '# TYPE ai_approval_oldest_pending_seconds gauge',
    `ai_approval_oldest_pending_seconds ${Math.round(m.oldestPendingSeconds * 1000) / 1000}`,
    '# HELP ai_notifications E-mails in the outbox by delivery status (failed: given up on, shown on the dashboard).',
    '# TYPE ai_notifications gauge',
    ...notificationStatuses.map((s) => `ai_notifications{status="${s}"} ${m.notifications[s]}`),
    '# HELP ai_notifications_retrying Pending e-mails whose last delivery attempt failed temporarily.',
    '# TYPE ai_notifications_retrying gauge',
    `ai_notifications_retrying ${m.retrying}`,
  ];
  return lines.join('\n') + '\n';
}

/**
 * Governance views: what is late and who is holding it, read from Temporal's
 * visibility store through the search attributes and memo (api/visibility.ts).
 */
export const governanceRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    // Temporal holds person keys only; the record store names the people behind them.
    const people = storePeople(ctx.store, ctx.personKeys, ctx.governanceLead);
    const scope = (req: FastifyRequest) => scopeOf(ctx.store, req.principal);

    app.get(
      '/api/v1/reviews/overdue',
      {
        schema: {
          summary: 'Periodic reviews past their due date, most overdue first',
          tags: ['governance'],
          response: { 200: z.object({ asOf: z.string(), reviews: z.array(overdueItem) }), 401: errorBody },
        },
        config: { access: { roles: roleSchema.options } },
      },
      async (req) => {
        const now = new Date();
        return {
          asOf: now.toISOString(),
          reviews: await listOverdueReviews(ctx.client, now, await scope(req), people),
        };
      },
    );

    app.get(
      '/api/v1/reviews/upcoming',
      {
        schema: {
          summary: 'Active systems whose next periodic review falls within the next `days` days, soonest first',
          tags: ['governance'],
          querystring: z.object({ days: intParam(1, 366, 30) }),
          response: {
            200: z.object({ asOf: z.string(), days: z.number(), reviews: z.array(upcomingItem) }),
            401: errorBody,
            422: errorBody,
          },
        },
        config: { access: { roles: roleSchema.options } },
      },
      async (req) => {
        const now = new Date();
        const { days } = req.query;
        return {
          asOf: now.toISOString(),
          days,
          reviews: await listUpcomingReviews(ctx.client, now, days, await scope(req), people),
        };
      },
    );

    app.get(
      '/api/v1/incidents/open',
      {
        schema: {
          summary: 'Open incidents and their corrective actions, overdue first, then by due date',
          description:
            "Read from the record store's audit trail: each incident not yet closed, its corrective action, owner " +
            'and due date, whether it is overdue, and the reminder and overdue notices the lifecycle sent. ' +
            'Systems that are retired or rejected are left out.',
          tags: ['governance'],
          response: { 200: z.object({ asOf: z.string(), incidents: z.array(openIncidentSchema) }), 401: errorBody },
        },
        config: { access: { roles: roleSchema.options } },
      },
      async (req) => {
        const now = new Date();
        return { asOf: now.toISOString(), incidents: await listOpenIncidents(ctx.store, now, await scope(req)) };
      },
    );

    app.get(
      '/api/v1/approvals/pending',
      {
        schema: {
          summary: 'Approval requests waiting for a decision, oldest first, with who holds them',
          tags: ['governance'],
          response: { 200: z.object({ asOf: z.string(), approvals: z.array(pendingItem) }), 401: errorBody },
        },
        config: { access: { roles: roleSchema.options } },
      },
      async (req) => {
        const now = new Date();
        return {
          asOf: now.toISOString(),
          approvals: await listPendingApprovals(ctx.client, now, await scope(req), people),
        };
      },
    );

    app.get(
      '/api/v1/systems',
      {
        schema: {
          summary: 'Registered AI systems, filtered by stage, risk tier and owner, a page at a time',
          description:
            "Pass the answer's `nextPageToken` as `pageToken` for the next page; it is null on the last page. " +
            "Newest registration first, from the record store's projection.",
          tags: ['systems'],
          querystring: systemsQuerystring,
          response: {
            200: z.object({ systems: z.array(systemItem), nextPageToken: z.string().nullable() }),
            401: errorBody,
            422: errorBody,
          },
        },
        config: { access: { roles: roleSchema.options } },
      },
      async (req) => {
        const { stage, tier, owner, pageSize, pageToken } = req.query;
        try {
          return await listSystemsFromStore(ctx.store, {
            stage,
            tier,
            owner,
            pageSize,
            nextPageToken: pageToken,
            tokenSecret: ctx.approvalLinkSecret,
            scope: await scope(req),
          });
        } catch (err) {
          if (err instanceof InvalidPageTokenError) {
            const issue = { path: 'querystring.pageToken', message: 'is not a page token from this listing' };
            throw new ApiError(422, {
              error: 'validation_failed',
              message: `${issue.path}: ${issue.message}`,
              issues: [issue],
            });
          }
          throw err;
        }
      },
    );

    app.get(
      '/metrics',
      {
        schema: {
          summary: 'Governance gauges in the Prometheus text format',
          tags: ['governance'],
          description:
            'Scraped with `Authorization: Bearer <METRICS_SCRAPE_TOKEN>`, or read by an auditor, governance lead or admin.',
          produces: ['text/plain'],
        },
        config: { access: { metrics: ['auditor', 'governance-lead', 'admin'] } },
      },
      async (req, reply) => {
        const now = new Date();
        // The scrape token sees everything; a principal, what it may see.
        const visible = req.principal ? await scope(req) : undefined;
        const [counts, overdue, pending, notifications, retrying] = await Promise.all([
          countsFromStore(ctx.store, visible),
          countOverdueReviews(ctx.client, now, visible),
          listPendingApprovals(ctx.client, now, visible, people),
          ctx.store.notificationCounts(),
          countRetryingNotifications(ctx.store),
        ]);
        const oldestPendingSeconds = pending.reduce((max, p) => Math.max(max, p.ageSeconds), 0);
        return reply
          .type('text/plain; version=0.0.4; charset=utf-8')
          .send(
            metricsText({ counts, overdue, pending: pending.length, oldestPendingSeconds, notifications, retrying }),
          );
      },
    );
  };
