import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import { verifyApprovalLink, type ApprovalClaims, type LinkRefusal } from '../../activities/approval-links.js';
import type { LifecycleState } from '../../domain/lifecycle.js';
import { decisionKindSchema, returnStages } from '../../domain/lifecycle.js';
import { workflowIdFor } from '../../domain/system.js';
import { approvalDecisionSignal, delegationSignal, renewLinkSignal, stateQuery } from '../../workflows/messages.js';
import type { ApiContext } from '../context.js';
import { escapeHtml } from '../html.js';
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

const formSchema = z.object({
  decision: decisionKindSchema,
  comment: z.string().trim().max(4000).default(''),
  // An empty select sends ""; that means "the default stage for this decision".
  returnTo: z.preprocess((v) => (v === '' ? undefined : v), z.enum(returnStages).optional()),
  csrf: z.string().min(1),
});

const delegationForm = z.object({
  deputy: z.email('must be an e-mail address').transform((e) => e.toLowerCase()),
  reason: z.string().trim().max(1000).default(''),
  csrf: z.string().min(1),
});

const when = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';

/**
 * GET shows, only POST decides: mail scanners open every link, so a GET must
 * never change anything. The POST carries a per-link CSRF value from the form.
 */
export const approvalRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    const csrfFor = (jti: string) =>
      createHmac('sha256', ctx.approvalLinkSecret).update(`csrf:${jti}`).digest('base64url');

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
      const renewable = link.reason === 'expired' && link.claims && link.jti;
      void reply
        .code(refusal.status)
        .type('text/html')
        .send(
          renewable ? renewPage(token, link.claims!, csrfFor(link.jti!)) : messagePage(refusal.title, refusal.message),
        );
      return undefined;
    }

    /** The signature was good but time ran out: offer to e-mail a fresh link to the same approver. */
    function renewPage(token: string, claims: ApprovalClaims, csrf: string): string {
      return messagePage(
        'This link has expired',
        `Approval links expire for your protection. A fresh link can be sent to ${claims.sub}.`,
        undefined,
        `<form method="post" action="/approvals/${escapeHtml(token)}/renew"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}"><p><button type="submit">E-mail me a fresh link</button></p></form>`,
      );
    }

    async function currentState(claims: ApprovalClaims): Promise<LifecycleState | null> {
      try {
        return await ctx.client.workflow.getHandle(workflowIdFor(claims.sys)).query(stateQuery);
      } catch {
        return null;
      }
    }

    async function alreadyDecided(claims: ApprovalClaims, reply: FastifyReply): Promise<boolean> {
      const used = await ctx.store.getApprovalLinkUse(claims.req);
      if (!used) return false;
      void reply
        .type('text/html')
        .send(
          messagePage(
            'Already decided',
            `This request was already decided: ${used.decision} by ${used.approver} at ${when(used.usedAt)}.`,
          ),
        );
      return true;
    }

    function noLongerOpen(state: LifecycleState | null, claims: ApprovalClaims): boolean {
      // Without the workflow's answer we cannot tell; the signal is still safe, the workflow ignores stale requests.
      return state !== null && (state.approval?.requestId !== claims.req || state.approval.approver !== claims.sub);
    }

    function csrfMatches(jti: string, given: string): boolean {
      const expected = Buffer.from(csrfFor(jti));
      const actual = Buffer.from(given);
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    }

    /**
     * Single use: the link's request is claimed in the record store first,
     * then the workflow is signalled; if the signal cannot be sent the claim
     * is released so the approver can try again. False when a page was sent instead.
     */
    async function deliver(
      claims: ApprovalClaims,
      reply: FastifyReply,
      use: { decision: string; comment: string; at: Date },
      signal: () => Promise<void>,
    ): Promise<boolean> {
      const claimed = await ctx.store.useApprovalLink({
        jti: claims.req,
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
        // Nothing reached the workflow: free the link so the approver can try again.
        await ctx.store.releaseApprovalLink(claims.req);
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
      if (await alreadyDecided(link.claims, reply)) return reply;
      const state = await currentState(link.claims);
      if (noLongerOpen(state, link.claims)) {
        return reply
          .code(409)
          .type('text/html')
          .send(
            messagePage(
              'This request is closed',
              `The system is now in stage ${state!.stage}; this approval request is no longer open.`,
            ),
          );
      }
      return reply.type('text/html').send(
        approvalPage({
          state,
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
      const form = formSchema.safeParse(req.body ?? {});
      if (!form.success || !csrfMatches(link.jti, form.data.csrf)) {
        await ctx.store.recordLinkAttempt({
          systemId: link.claims.sys,
          reason: form.success ? 'csrf' : 'invalid_form',
          at: new Date(),
          detail: { requestId: link.claims.req },
        });
        const message = form.success
          ? 'The form did not come from this link. Open the link from the e-mail and decide there.'
          : `The decision was not understood: ${form.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
        return reply
          .code(form.success ? 403 : 400)
          .type('text/html')
          .send(messagePage('Decision not recorded', message));
      }
      const { decision, comment, returnTo } = form.data;
      const state = await currentState(link.claims);
      if (decision !== 'approve' && comment === '') {
        return reply
          .code(422)
          .type('text/html')
          .send(
            approvalPage({
              state,
              approver: link.claims.sub,
              requestId: link.claims.req,
              expiresAt: link.expiresAt,
              csrf: csrfFor(link.jti),
              action: `/approvals/${req.params.token}`,
              error: 'Rejecting or requesting changes needs a comment saying what must change.',
            }),
          );
      }
      if (await alreadyDecided(link.claims, reply)) return reply;
      if (noLongerOpen(state, link.claims)) {
        return reply
          .code(409)
          .type('text/html')
          .send(
            messagePage(
              'This request is closed',
              `The system is now in stage ${state!.stage}; this approval request is no longer open.`,
            ),
          );
      }
      const decidedAt = new Date();
      const delivered = await deliver(link.claims, reply, { decision, comment, at: decidedAt }, () =>
        ctx.client.workflow.getHandle(workflowIdFor(link.claims.sys)).signal(approvalDecisionSignal, {
          requestId: link.claims.req,
          decision,
          comment,
          returnTo,
          decidedBy: link.claims.sub,
          decidedAt: decidedAt.toISOString(),
        }),
      );
      if (!delivered) return reply;
      const verb = { approve: 'approved', reject: 'rejected', request_changes: 'requested changes to' }[decision];
      return reply
        .type('text/html')
        .send(
          messagePage(
            `You ${verb} ${state?.registration.name ?? link.claims.sys}`,
            `Your decision was recorded at ${when(decidedAt)}.`,
            comment ? `Comment: ${comment}` : undefined,
          ),
        );
    });

    app.post<{ Params: { token: string }; Body: unknown }>('/approvals/:token/delegate', async (req, reply) => {
      const link = await verified(req.params.token, reply);
      if (!link) return reply;
      const form = delegationForm.safeParse(req.body ?? {});
      if (!form.success || !csrfMatches(link.jti, form.data.csrf)) {
        await ctx.store.recordLinkAttempt({
          systemId: link.claims.sys,
          reason: form.success ? 'csrf' : 'invalid_form',
          at: new Date(),
          detail: { requestId: link.claims.req },
        });
        const message = form.success
          ? 'The form did not come from this link. Open the link from the e-mail and delegate there.'
          : `The delegation was not understood: ${form.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
        return reply
          .code(form.success ? 403 : 400)
          .type('text/html')
          .send(messagePage('Delegation not recorded', message));
      }
      const { deputy, reason } = form.data;
      if (deputy === link.claims.sub) {
        return reply
          .code(422)
          .type('text/html')
          .send(messagePage('Delegation not recorded', 'Name a deputy other than yourself.'));
      }
      if (await alreadyDecided(link.claims, reply)) return reply;
      const state = await currentState(link.claims);
      if (noLongerOpen(state, link.claims)) {
        return reply
          .code(409)
          .type('text/html')
          .send(
            messagePage(
              'This request is closed',
              `The system is now in stage ${state!.stage}; this approval request is no longer open.`,
            ),
          );
      }
      const delivered = await deliver(
        link.claims,
        reply,
        { decision: 'delegate', comment: `to ${deputy}${reason ? `: ${reason}` : ''}`, at: new Date() },
        () =>
          ctx.client.workflow.getHandle(workflowIdFor(link.claims.sys)).signal(delegationSignal, {
            requestId: link.claims.req,
            delegatedBy: link.claims.sub,
            deputy,
            reason,
          }),
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

    app.post<{ Params: { token: string }; Body: unknown }>('/approvals/:token/renew', async (req, reply) => {
      const link = await verifyApprovalLink(ctx.approvalLinkSecret, req.params.token);
      const claims = link.ok ? link.claims : link.reason === 'expired' ? link.claims : null;
      const jti = link.ok ? link.jti : link.jti;
      const csrf = z.object({ csrf: z.string() }).safeParse(req.body ?? {});
      if (!claims || !jti || !csrf.success || !csrfMatches(jti, csrf.data.csrf)) {
        await ctx.store.recordLinkAttempt({
          systemId: claims?.sys ?? null,
          reason: 'renewal_refused',
          at: new Date(),
          detail: { requestId: claims?.req ?? null },
        });
        return reply
          .code(403)
          .type('text/html')
          .send(messagePage('No fresh link sent', 'This link cannot be renewed. Use the newest e-mail you received.'));
      }
      if (await alreadyDecided(claims, reply)) return reply;
      const state = await currentState(claims);
      if (noLongerOpen(state, claims)) {
        return reply
          .code(409)
          .type('text/html')
          .send(
            messagePage(
              'This request is closed',
              `The system is now in stage ${state!.stage}; this approval request is no longer open.`,
            ),
          );
      }
      await ctx.client.workflow
        .getHandle(workflowIdFor(claims.sys))
        .signal(renewLinkSignal, { requestId: claims.req, approver: claims.sub });
      return reply
        .type('text/html')
        .send(messagePage('A fresh link is on its way', `A new approval link was sent to ${claims.sub}.`));
    });
  };
