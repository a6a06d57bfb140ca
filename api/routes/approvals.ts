import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import { verifyApprovalLink, type ApprovalClaims, type LinkRefusal } from '../../activities/approval-links.js';
import { decisionKindSchema, returnStages, type LifecycleState } from '../../domain/lifecycle.js';
import { workflowIdFor } from '../../domain/system.js';
import { approvalDecisionSignal, delegationSignal, renewLinkUpdate } from '../../workflows/messages.js';
import type { ApiContext } from '../context.js';
import { fromWorkflowError } from '../errors.js';
import { escapeHtml } from '../html.js';
import { queryState } from '../lifecycle-state.js';
import { approvalPage, messagePage } from '../pages/approval.js';

const REFUSALS: Record<LinkRefusal, { status: number; title: string; message: string }> = {
  malformed: {
    status: 400,
    title: 'This link is not valid',
    message: 'The link is incomplete or damaged. Open it again from the e-mail.',
  },
  bad_signature: { status: 403, title: 'This link is not valid', message: 'The link was altered and cannot be used.' },
  invalid_claims: { status: 403, title: 'This link is not valid', message: 'The link was not issued for an approval.' },
  expired: {
    status: 410,
    title: 'This link has expired',
    message: 'Approval links expire for your protection. Ask for a new one.',
  },
};

const decisionForm = z.object({
  decision: decisionKindSchema,
  comment: z.string().trim().max(4000).default(''),
  // An empty select sends ""; that means "the default stage for this decision".
  returnTo: z.preprocess((v) => (v === '' ? undefined : v), z.enum(returnStages).optional()),
});

const delegationForm = z.object({
  deputy: z.email('must be an e-mail address').transform((e) => e.toLowerCase()),
  reason: z.string().trim().max(1000).default(''),
});

const when = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
const formBody = (body: unknown) => (body && typeof body === 'object' ? (body as Record<string, unknown>) : {});
const issuesText = (error: z.ZodError) => error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');

/**
 * The approval link's pages. GET shows, only POST decides: mail scanners open
 * every link, so a GET never changes anything. Every POST carries a CSRF value
 * derived from the token with the secret, checked before anything else.
 */
export const approvalRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    const csrfFor = (jti: string) =>
      createHmac('sha256', ctx.approvalLinkSecret).update(`csrf:${jti}`).digest('base64url');
    /** One use per request and approver: a token for someone else cannot use up the real approver's decision. */
    const useKey = (claims: ApprovalClaims) => `${claims.req}|${claims.sub}`;
    const workflow = (claims: ApprovalClaims) => ctx.client.workflow.getHandle(workflowIdFor(claims.sys));

    function csrfMatches(jti: string, body: unknown): boolean {
      const given = formBody(body).csrf;
      const expected = Buffer.from(csrfFor(jti));
      const actual = Buffer.from(typeof given === 'string' ? given : '');
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    }

    async function refuse(
      reply: FastifyReply,
      claims: ApprovalClaims | null,
      reason: string,
      status: number,
      title: string,
      message: string,
    ): Promise<FastifyReply> {
      await ctx.store.recordLinkAttempt({
        systemId: claims?.sys ?? null,
        reason,
        at: new Date(),
        detail: { requestId: claims?.req ?? null, approver: claims?.sub ?? null },
      });
      return reply.code(status).type('text/html').send(messagePage(title, message));
    }

    /** A POSTed form: the CSRF value first (403), then the fields (400); both refusals are recorded. */
    async function postedForm<S extends z.ZodType>(
      jti: string,
      claims: ApprovalClaims,
      body: unknown,
      reply: FastifyReply,
      schema: S,
      what: 'Decision' | 'Delegation',
    ): Promise<z.output<S> | undefined> {
      const title = `${what} not recorded`;
      if (!csrfMatches(jti, body)) {
        await refuse(
          reply,
          claims,
          'csrf',
          403,
          title,
          'The form did not come from this link. Open the link from the e-mail and use it there.',
        );
        return undefined;
      }
      const form = schema.safeParse(formBody(body));
      if (!form.success) {
        await refuse(
          reply,
          claims,
          'invalid_form',
          400,
          title,
          `The ${what.toLowerCase()} was not understood: ${issuesText(form.error)}`,
        );
        return undefined;
      }
      return form.data;
    }

    /** Verifies the token; a refused one gets its page (an expired one, an offer of a fresh link) and is recorded. */
    async function verified(token: string, reply: FastifyReply) {
      const link = await verifyApprovalLink(ctx.approvalLinkSecret, token);
      if (link.ok) return link;
      const refusal = REFUSALS[link.reason];
      await ctx.store.recordLinkAttempt({
        systemId: link.claims?.sys ?? null,
        reason: link.reason,
        at: new Date(),
        detail: { requestId: link.claims?.req ?? null },
      });
      const renewal =
        link.reason === 'expired' && link.claims && link.jti
          ? `<form method="post" action="/approvals/${escapeHtml(token)}/renew"><input type="hidden" name="csrf" value="${escapeHtml(csrfFor(link.jti))}"><p><button type="submit">E-mail me a fresh link</button></p></form>`
          : '';
      const message = renewal
        ? `${refusal.message.replace(' Ask for a new one.', '')} A fresh link can be sent to ${link.claims!.sub}.`
        : refusal.message;
      void reply
        .code(refusal.status)
        .type('text/html')
        .send(messagePage(refusal.title, message, undefined, renewal));
      return undefined;
    }

    async function currentState(claims: ApprovalClaims): Promise<LifecycleState | null> {
      try {
        return await queryState(ctx, claims.sys);
      } catch {
        return null;
      }
    }

    /**
     * The request must still be open and bound to this approver. When the
     * workflow cannot answer (workers restarting) the link is taken as open:
     * the signal is durable, and the workflow ignores a stale or foreign one.
     * Sends the page and returns undefined when the request is not open.
     */
    async function openRequest(
      claims: ApprovalClaims,
      reply: FastifyReply,
    ): Promise<{ state: LifecycleState | null } | undefined> {
      const used = await ctx.store.getApprovalLinkUse(useKey(claims));
      if (used) {
        void reply
          .type('text/html')
          .send(
            messagePage(
              'Already decided',
              `This request was already decided: ${used.decision} by ${used.approver} at ${when(used.usedAt)}.`,
            ),
          );
        return undefined;
      }
      const state = await currentState(claims);
      if (state && (state.approval?.requestId !== claims.req || state.approval.approver !== claims.sub)) {
        await refuse(
          reply,
          claims,
          'request_not_open',
          409,
          'This request is closed',
          `The system is now in stage ${state.stage}; this approval request is no longer open to you.`,
        );
        return undefined;
      }
      return { state };
    }

    /**
     * Single use: the request is claimed in the record store first, then the
     * workflow is signalled; if the signal cannot be sent the claim is released
     * so the approver can try again. False when a page was sent instead.
     */
    async function deliver(
      claims: ApprovalClaims,
      reply: FastifyReply,
      use: { decision: string; comment: string; at: Date },
      signal: () => Promise<void>,
    ): Promise<boolean> {
      const claimed = await ctx.store.useApprovalLink({
        jti: useKey(claims),
        requestId: claims.req,
        systemId: claims.sys,
        approver: claims.sub,
        decision: use.decision,
        comment: use.comment,
        usedAt: use.at,
      });
      if (!claimed.first) {
        const p = claimed.previous;
        void reply
          .type('text/html')
          .send(
            messagePage(
              'Already decided',
              `This request was already decided: ${p.decision} by ${p.approver} at ${when(p.usedAt)}.`,
            ),
          );
        return false;
      }
      try {
        await signal();
        return true;
      } catch (err) {
        await ctx.store.releaseApprovalLink(useKey(claims));
        reply.log.error({ err }, 'could not deliver decision');
        void reply
          .code(503)
          .type('text/html')
          .send(
            messagePage(
              'Decision not recorded',
              'The service could not record your decision just now. Please try again in a minute.',
            ),
          );
        return false;
      }
    }

    app.get<{ Params: { token: string } }>('/approvals/:token', async (req, reply) => {
      const link = await verified(req.params.token, reply);
      if (!link) return reply;
      const open = await openRequest(link.claims, reply);
      if (!open) return reply;
      return reply.type('text/html').send(
        approvalPage({
          state: open.state,
          approver: link.claims.sub,
          requestId: link.claims.req,
          expiresAt: link.expiresAt,
          csrf: csrfFor(link.jti),
          action: `/approvals/${req.params.token}`,
        }),
      );
    });

    app.post<{ Params: { token: string }; Body: unknown }>('/approvals/:token', async (req, reply) => {
      const link = await verified(req.params.token, reply);
      if (!link) return reply;
      const { claims } = link;
      const form = await postedForm(link.jti, claims, req.body, reply, decisionForm, 'Decision');
      if (!form) return reply;
      const { decision, comment, returnTo } = form;
      const open = await openRequest(claims, reply);
      if (!open) return reply;
      if (decision !== 'approve' && comment === '') {
        return reply
          .code(422)
          .type('text/html')
          .send(
            approvalPage({
              state: open.state,
              approver: claims.sub,
              requestId: claims.req,
              expiresAt: link.expiresAt,
              csrf: csrfFor(link.jti),
              action: `/approvals/${req.params.token}`,
              error: 'Rejecting or requesting changes needs a comment saying what must change.',
            }),
          );
      }
      const decidedAt = new Date();
      const delivered = await deliver(claims, reply, { decision, comment, at: decidedAt }, () =>
        workflow(claims).signal(approvalDecisionSignal, {
          requestId: claims.req,
          decision,
          comment,
          returnTo,
          decidedBy: claims.sub,
          decidedAt: decidedAt.toISOString(),
        }),
      );
      if (!delivered) return reply;
      const verb = { approve: 'approved', reject: 'rejected', request_changes: 'requested changes to' }[decision];
      return reply
        .type('text/html')
        .send(
          messagePage(
            `You ${verb} ${open.state?.registration.name ?? claims.sys}`,
            `Your decision was recorded at ${when(decidedAt)}.`,
            comment ? `Comment: ${comment}` : undefined,
          ),
        );
    });

    app.post<{ Params: { token: string }; Body: unknown }>('/approvals/:token/delegate', async (req, reply) => {
      const link = await verified(req.params.token, reply);
      if (!link) return reply;
      const { claims } = link;
      const form = await postedForm(link.jti, claims, req.body, reply, delegationForm, 'Delegation');
      if (!form) return reply;
      const { deputy, reason } = form;
      if (deputy === claims.sub) {
        return reply
          .code(422)
          .type('text/html')
          .send(messagePage('Delegation not recorded', 'Name a deputy other than yourself.'));
      }
      if (!(await openRequest(claims, reply))) return reply;
      const comment = `to ${deputy}${reason ? `: ${reason}` : ''}`;
      const delivered = await deliver(claims, reply, { decision: 'delegate', comment, at: new Date() }, () =>
        workflow(claims).signal(delegationSignal, { requestId: claims.req, delegatedBy: claims.sub, deputy, reason }),
      );
      if (!delivered) return reply;
      return reply
        .type('text/html')
        .send(
          messagePage(
            `Delegated to ${deputy}`,
            `${deputy} will receive their own link to decide. This link no longer works.`,
          ),
        );
    });

    /**
     * An expired link asks for a fresh one for the same approver and request.
     * Only once per expiry: when the request's current link is still valid, nothing is sent.
     */
    app.post<{ Params: { token: string }; Body: unknown }>('/approvals/:token/renew', async (req, reply) => {
      const link = await verifyApprovalLink(ctx.approvalLinkSecret, req.params.token);
      const claims = !link.ok && link.reason === 'expired' ? link.claims : null;
      const jti = link.jti;
      if (!claims || !jti || !csrfMatches(jti, req.body)) {
        return refuse(
          reply,
          claims,
          'renewal_refused',
          403,
          'No fresh link sent',
          'This link cannot be renewed. Use the newest e-mail you received.',
        );
      }
      if (!(await openRequest(claims, reply))) return reply;
      try {
        const { expiresAt } = await workflow(claims).executeUpdate(renewLinkUpdate, {
          args: [{ requestId: claims.req, approver: claims.sub }],
        });
        return reply
          .type('text/html')
          .send(
            messagePage(
              'A fresh link is on its way',
              `A new approval link was sent to ${claims.sub}; it works until ${when(new Date(expiresAt))}.`,
            ),
          );
      } catch (err) {
        const refused = fromWorkflowError(err, claims.sys);
        if (!refused) throw err;
        return refuse(
          reply,
          claims,
          'renewal_not_needed',
          409,
          'No fresh link sent',
          `${refused.body.message}. Use the newest e-mail you received.`,
        );
      }
    });
  };
