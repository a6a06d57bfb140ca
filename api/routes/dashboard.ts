import type { FastifyPluginAsync } from 'fastify';
import { stageSchema } from '../../domain/lifecycle.js';
import { emailSchema, systemIdSchema } from '../../domain/system.js';
import { verifyAuditTrail } from '../audit.js';
import type { ApiContext } from '../context.js';
import { countsFromStore } from '../../views/counts.js';
import { storePeople } from '../../views/people.js';
import { listSystemsFromStore } from '../../views/systems-list.js';
import { listOpenIncidents } from '../../views/open-incidents.js';
import { ApiError } from '../errors.js';
import {
  countRetryingNotifications,
  listRetryingNotifications,
  resendFailedNotification,
  resendRequestSchema,
  systemNames,
} from '../outbox.js';
import {
  bucketByMonth,
  dashboardPage,
  monthStart,
  type DashboardData,
  type DashboardFilter,
  type MailProblem,
} from '../pages/dashboard.js';
import { systemNotFoundPage, systemPage, type SystemPageData } from '../pages/system.js';
import type { NotificationRow, Store } from '../../store/index.js';
import {
  InvalidPageTokenError,
  listOverdueReviews,
  listPendingApprovals,
  listReviewsDueBetween,
  visibilityTiers,
  type Scope,
  type SystemFilter,
  type SystemPage,
} from '../../views/visibility.js';
import { roleSchema } from '../auth/principal.js';
import { scopeOf } from '../auth/scope.js';
import { principalOf } from '../auth/plugin.js';
import { STATEMENT_READERS } from './applicability.js';

const one = (v: unknown): string | undefined => {
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === 'string' && s.trim() !== '' ? s.trim() : undefined;
};

/** The outbox's failed and retried e-mails, newest first, with their systems' names. */
async function mailProblems(store: Store, scope: Scope): Promise<DashboardData['mail']> {
  const [allFailed, allRetrying, counts, retryingTotal] = await Promise.all([
    store.listFailedNotifications(scope),
    listRetryingNotifications(store),
    store.notificationCounts(),
    countRetryingNotifications(store),
  ]);
  // A caller limited to some systems sees their e-mails only, and counts of those.
  const visible = scope && new Set(scope);
  const failed = visible ? allFailed.filter((n) => visible.has(n.systemId)) : allFailed;
  const retrying = visible ? allRetrying.filter((n) => visible.has(n.systemId)) : allRetrying;
  const names = await systemNames(
    store,
    [...failed, ...retrying].map((n) => n.systemId),
  );
  const problem = (n: NotificationRow): MailProblem => ({
    systemId: n.systemId,
    systemName: names.get(n.systemId) ?? null,
    kind: n.kind,
    to: n.toAddress,
    error: n.lastError,
    at: n.updatedAt.toISOString(),
    attempts: n.attempts,
  });
  return {
    failed: failed.map(problem),
    // The counts and the listings are separate reads: never claim fewer than are listed.
    failedTotal: visible ? failed.length : Math.max(counts.failed, failed.length),
    retrying: retrying.map(problem),
    retryingTotal: visible ? retrying.length : Math.max(retryingTotal, retrying.length),
  };
}

/** The form's field names as the page labels them, for a refusal that names the field. */
const formFields = {
  requestedBy: 'Your e-mail address (requestedBy)',
  key: 'The e-mail to send again (key)',
} as const;
const fieldLabel = (field: string) =>
  (formFields as Record<string, string | undefined>)[field] ?? (field || 'the form');

/**
 * The governance dashboard (`/`) and a page per system (`/systems/:id`),
 * server-rendered HTML. The dashboard reads its review and approval lists
 * from Temporal's visibility store, and its counts, its table of systems and
 * the e-mails that failed from the record store; a system page asks its one
 * workflow (the audit anchor it keeps outside the database, and what the
 * system waits on) and reads its audit trail and failed e-mails, which it can
 * send again.
 */
export const dashboardRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    // Temporal holds person keys only; the record store names the people behind them.
    const people = storePeople(ctx.store, ctx.personKeys, ctx.governanceLead);
    app.get<{ Querystring: Record<string, unknown> }>(
      '/',
      { schema: { hide: true }, config: { access: { roles: roleSchema.options } } },
      async (req, reply) => {
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
        const scope = await scopeOf(ctx.store, req.principal);
        const paging = { pageSize: 50, tokenSecret: ctx.approvalLinkSecret, scope };
        const systems = listSystemsFromStore(ctx.store, { ...filter, ...paging, nextPageToken: raw.pageToken }).catch(
          (err: unknown): Promise<SystemPage> => {
            if (!(err instanceof InvalidPageTokenError)) throw err;
            problems.push('the page link is not valid, so the first page is shown');
            return listSystemsFromStore(ctx.store, { ...filter, ...paging });
          },
        );
        const [counts, overdue, pending, upcoming, page, mail, incidents] = await Promise.all([
          countsFromStore(ctx.store, scope),
          listOverdueReviews(ctx.client, now, scope, people),
          listPendingApprovals(ctx.client, now, scope, people),
          listReviewsDueBetween(ctx.client, now, monthStart(now, 12), scope, people),
          systems,
          mailProblems(ctx.store, scope),
          listOpenIncidents(ctx.store, now, scope),
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
            mail,
            incidents,
            statementOfApplicability: STATEMENT_READERS.includes(principalOf(req).role),
          }),
        );
      },
    );

    /** What a system page shows; null for a system nobody knows. */
    async function systemPageData(id: string): Promise<SystemPageData | null> {
      if (!systemIdSchema.safeParse(id).success) return null;
      const [audit, record, failedMail] = await Promise.all([
        // The same verification as GET /api/v1/systems/:id/audit/verify, anchor included; its state query is the
        // page's, and the record store's projection stands in when the workflow cannot answer.
        verifyAuditTrail(ctx, id),
        ctx.store.getSystem(id).then((r) => r ?? null),
        ctx.store.listFailedNotifications([id]),
      ]);
      if (!audit && !record) return null;
      const { state = null, events = [], verification = null } = audit ?? {};
      return { id, state, record, events, chain: verification, failedMail, governanceLead: ctx.governanceLead };
    }

    app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
      '/systems/:id',
      { schema: { hide: true }, config: { access: { roles: roleSchema.options, system: true } } },
      async (req, reply) => {
        const id = req.params.id;
        const html = (code: number, body: string) => reply.code(code).type('text/html; charset=utf-8').send(body);
        const data = await systemPageData(id);
        if (!data) return html(404, systemNotFoundPage(id));
        // The notice names the e-mail only when the key is one of this system's, so the link cannot put words on the page.
        const resent = one(req.query?.resent);
        const original = resent
          ? (await ctx.store.listNotifications(id)).find((n) => n.idempotencyKey === resent)
          : undefined;
        const notice = original
          ? `Sent again: the ${original.kind.replaceAll('_', ' ')} e-mail to ${original.toAddress} is queued as a new e-mail. The failed one stays on record.`
          : undefined;
        return html(200, systemPage({ ...data, notice }));
      },
    );

    /**
     * The system page's "Send again": the same rules as
     * `POST /api/v1/systems/:id/notifications/resend`, answered with pages.
     */
    app.post<{ Params: { id: string }; Body: unknown }>(
      '/systems/:id/notifications/resend',
      { schema: { hide: true }, config: { access: { roles: ['ai-team', 'governance-lead', 'admin'], system: true } } },
      async (req, reply) => {
        const id = req.params.id;
        const html = (code: number, body: string) => reply.code(code).type('text/html; charset=utf-8').send(body);
        const data = await systemPageData(id);
        if (!data) return html(404, systemNotFoundPage(id));
        const form = (req.body ?? {}) as Record<string, unknown>;
        const requestedBy = typeof form.requestedBy === 'string' ? form.requestedBy : '';
        const refused = (code: number, message: string) =>
          html(code, systemPage({ ...data, resendError: message, requestedBy }));
        const parsed = resendRequestSchema.safeParse(form);
        if (!parsed.success) {
          const issues = parsed.error.issues.map((i) => {
            const field = String(i.path[0] ?? '');
            return `${fieldLabel(field)}: ${i.message}`;
          });
          return refused(422, `Not sent again. ${issues.join('; ')}.`);
        }
        try {
          await resendFailedNotification(ctx, id, parsed.data);
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          const message =
            err.body.issues?.[0]?.path === 'body.key'
              ? `${formFields.key}: is not a failed e-mail of this system`
              : err.body.message;
          return refused(err.statusCode, `Not sent again. ${message}.`);
        }
        // 303: the browser follows with a GET, so a reload does not send the e-mail once more.
        return reply
          .code(303)
          .header(
            'location',
            `/systems/${encodeURIComponent(id)}?resent=${encodeURIComponent(parsed.data.key)}#failed-mail`,
          )
          .send();
      },
    );
  };
