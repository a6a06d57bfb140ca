import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import { decisionBreach, delegationBreach, type DutyBreach } from '../../domain/duties.js';
import { requestRecords } from '../../domain/approval-brief.js';
import { decisionKindSchema, returnStages } from '../../domain/lifecycle.js';
import { subjectLine } from '../../domain/machine/approvals.js';
import { stepReference } from '../../domain/control-mapping.js';
import { storable } from '../../domain/storable.js';
import { verifyApprovalLink, type ApprovalClaims, type LinkRefusal } from '../../links/approval-links.js';
import { signDecisionProof } from '../../links/decision-proofs.js';
import { decideUpdate, delegateUpdate, renewLinkUpdate } from '../../workflows/messages.js';
import type { ApiContext } from '../context.js';
import { ApiError } from '../errors.js';
import { escapeHtml } from '../html.js';
import { documentDigests, recordedRequest, type ApprovalSubject, type RequestStatus } from '../approval-view.js';
import { sendToLifecycle } from '../lifecycle-state.js';
import { approvalPage, messagePage, type ApprovalDocuments } from '../pages/approval.js';

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

const decisionForm = storable(
  z.object({
    decision: decisionKindSchema,
    comment: z.string().trim().max(4000).default(''),
    // An empty select sends ""; that means "the default stage for this decision".
    returnTo: z.preprocess((v) => (v === '' ? undefined : v), z.enum(returnStages).optional()),
  }),
);

const delegationForm = storable(
  z.object({
    deputy: z.email('must be an e-mail address').transform((e) => e.toLowerCase()),
    reason: z.string().trim().max(1000).default(''),
  }),
);

const when = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
const words = (stage: string) => stage.replaceAll('_', ' ');

/** The system page's address, for a page the approver reaches after deciding. */
export const systemPageLink = (systemId: string) =>
  `<p id="system-link"><a href="/systems/${escapeHtml(encodeURIComponent(systemId))}">See the system page</a> <span class="muted">(for signed-in users: where the system stands, and what it waits on)</span></p>`;

/** What follows a decision, in words: who decides next, or where the system went. */
export function whatHappensNext(
  result: { decision: string; stage: string; nextApprover: string | null },
  before: Pick<ApprovalSubject, 'approval' | 'registration'> | null,
): string {
  const a = before?.approval;
  const owner = before?.registration.owner ?? 'the owner';
  if (result.decision !== 'approve') {
    return `The system is sent back to stage ${words(result.stage)}; ${owner} is told, with your comment, and the approval chain starts again once the work is resubmitted.`;
  }
  if (result.nextApprover) {
    const next = a?.chain[a.step];
    return `Next, ${result.nextApprover} decides${next && a ? ` on the ${subjectLine(next.kind)} (step ${a.step + 1} of ${a.chain.length})` : ''}, with a link of their own sent by e-mail.`;
  }
  if (result.stage === 'fria_notification') {
    return `The whole approval chain has approved. Before the system goes live, ${owner} must record that the market surveillance authority was notified of the fundamental rights impact assessment (EU AI Act Art. 27(3)): the system waits in stage fria notification, pending that notification.`;
  }
  if (result.stage === 'active') {
    return a?.kind === 'review'
      ? 'The periodic review is signed off: the system stays active, and its next review is due one cadence from today.'
      : 'The whole approval chain has approved: the system is active, with its next periodic review scheduled by the policy.';
  }
  return `The system is now in stage ${words(result.stage)}.`;
}
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
      const refusal = REFUSALS[link.reason]!;
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

    /** A segregation-of-duties refusal as a page naming the rule; true when one was sent. */
    async function dutyRefused(
      reply: FastifyReply,
      claims: ApprovalClaims,
      what: 'Decision' | 'Delegation',
      breach: DutyBreach | null,
    ): Promise<boolean> {
      if (!breach) return false;
      await refuse(
        reply,
        claims,
        'segregation_of_duties',
        what === 'Decision' ? 403 : 422,
        `${what} not recorded: segregation of duties`,
        `${breach.message} (rule ${breach.rule}, ${stepReference('segregation_of_duties')}).`,
      );
      return true;
    }

    /**
     * What the link's page shows and checks, from the record store alone: the
     * system's audit events and projection, and the documents the request
     * covers by their digests (see api/approval-view.ts). No workflow query.
     * A store that cannot be read leaves the page without its details; the
     * decision is still the workflow's to accept or refuse.
     */
    async function recorded(claims: ApprovalClaims, withDocuments: boolean) {
      try {
        const [events, system] = await Promise.all([ctx.store.listEvents(claims.sys), ctx.store.getSystem(claims.sys)]);
        const digests = documentDigests(events, claims.req);
        const read = async (digest: string | undefined) =>
          withDocuments && digest ? ((await ctx.store.getDocument(digest))?.content as never) : undefined;
        const [assessment, evidence, plan] = await Promise.all([
          read(digests.assessment),
          read(digests.evidence),
          read(digests.plan),
        ]);
        const documents: ApprovalDocuments = { assessment, evidence, plan };
        const { subject, status } = recordedRequest(
          events,
          system,
          claims.req,
          claims.sub,
          withDocuments ? documents : null,
          ctx.policy,
        );
        const records = requestRecords(events, claims.req);
        return {
          state: subject,
          status,
          inputs: {
            documents,
            policy: ctx.policy,
            acceptanceReasons: records ? records.acceptanceReasons : [],
            reviewChange: records?.review?.changeDescription ?? null,
          },
        };
      } catch {
        const status: RequestStatus = { open: null };
        return {
          state: null,
          status,
          inputs: { documents: {}, policy: ctx.policy, acceptanceReasons: [], reviewChange: null },
        };
      }
    }
    type Recorded = Awaited<ReturnType<typeof recorded>>;

    /**
     * The request must still be open and bound to this approver: if it was
     * decided, the page says by whom and when. The record store may lag the
     * workflow by the step in flight, so this is a pre-check: the decision
     * itself is an update, whose validator refuses a request that is closed.
     * Sends the page and returns undefined when the request is not open.
     */
    async function openRequest(
      claims: ApprovalClaims,
      reply: FastifyReply,
      withDocuments = false,
    ): Promise<Recorded | undefined> {
      const view = await recorded(claims, withDocuments);
      const { status } = view;
      if (status.open !== false) return view;
      if (status.why === 'delegated') {
        void reply
          .type('text/html')
          .send(
            messagePage(
              'Already decided',
              `This request was already decided: delegate by ${claims.sub}. The deputy decides with a link of their own.`,
            ),
          );
        return undefined;
      }
      if (status.why === 'decided') {
        const decided = status.decision;
        void reply
          .type('text/html')
          .send(
            messagePage(
              'Already decided',
              `This request was already decided: ${decided.decision.replace('_', ' ')} by ${decided.approver} at ${when(new Date(decided.decidedAt))}.`,
            ),
          );
        return undefined;
      }
      await refuse(
        reply,
        claims,
        'request_not_open',
        409,
        'This request is closed',
        `The system is now in stage ${view.state?.stage ?? 'unknown'}; this approval request is no longer open to you.`,
      );
      return undefined;
    }

    /**
     * Sends the approver's decision or delegation as an update whose id is
     * the link's: the workflow's validator says at once whether it counts,
     * and a retried POST (a double click, a crash before the answer) is the
     * same update, so there is never a second decision. False when a page
     * was sent instead.
     */
    async function deliver<R>(
      claims: ApprovalClaims,
      reply: FastifyReply,
      what: 'Decision' | 'Delegation',
      send: () => Promise<R>,
    ): Promise<R | undefined> {
      try {
        return await send();
      } catch (err) {
        if (err instanceof ApiError && err.statusCode < 500) {
          await refuse(reply, claims, 'decision_refused', err.statusCode, `${what} not recorded`, err.body.message);
          return undefined;
        }
        reply.log.error({ err }, 'could not deliver decision');
        void reply
          .code(503)
          .type('text/html')
          .send(
            messagePage(
              `${what} not recorded`,
              'The service could not record it just now. Please try again in a minute: sending it again is safe.',
            ),
          );
        return undefined;
      }
    }

    app.get<{ Params: { token: string } }>(
      '/approvals/:token',
      { config: { access: { open: 'the signed, single-use link is the credential' } } },
      async (req, reply) => {
        const link = await verified(req.params.token, reply);
        if (!link) return reply;
        const open = await openRequest(link.claims, reply, true);
        if (!open) return reply;
        return reply.type('text/html').send(
          approvalPage({
            state: open.state,
            ...open.inputs,
            approver: link.claims.sub,
            requestId: link.claims.req,
            expiresAt: link.expiresAt,
            csrf: csrfFor(link.jti),
            action: `/approvals/${req.params.token}`,
          }),
        );
      },
    );

    app.post<{ Params: { token: string }; Body: unknown }>(
      '/approvals/:token',
      { config: { access: { open: 'the signed, single-use link is the credential' } } },
      async (req, reply) => {
        const link = await verified(req.params.token, reply);
        if (!link) return reply;
        const { claims } = link;
        const form = await postedForm(link.jti, claims, req.body, reply, decisionForm, 'Decision');
        if (!form) return reply;
        const { decision, comment, returnTo } = form;
        const open = await openRequest(claims, reply);
        if (!open) return reply;
        if (decision !== 'approve' && comment === '') {
          // The form again, with what it decides on: only this answer needs the documents.
          const again = await recorded(claims, true);
          return reply
            .code(422)
            .type('text/html')
            .send(
              approvalPage({
                state: again.state,
                ...again.inputs,
                approver: claims.sub,
                requestId: claims.req,
                expiresAt: link.expiresAt,
                csrf: csrfFor(link.jti),
                action: `/approvals/${req.params.token}`,
                error: 'Rejecting or requesting changes needs a comment saying what must change.',
              }),
            );
        }
        // The workflow checks these rules too; here the approver reads which one, before anything is sent.
        if (open.state && (await dutyRefused(reply, claims, 'Decision', decisionBreach(open.state, claims.sub)))) {
          return reply;
        }
        const decided = {
          requestId: claims.req,
          decision,
          comment,
          ...(returnTo ? { returnTo } : {}),
          decidedBy: claims.sub,
          via: 'link' as const,
        };
        // The claimed link is the proof: signed for this decision, under this link's id.
        const proof = signDecisionProof(
          ctx.decisionSigningKey,
          { message: 'decideApproval', systemId: claims.sys, payload: decided },
          { via: 'link', credential: link.jti },
        );
        const result = await deliver(claims, reply, 'Decision', () =>
          sendToLifecycle(ctx, claims.sys, decideUpdate, [decided, proof], { updateId: `decide-${link.jti}` }),
        );
        if (!result) return reply;
        const verb = { approve: 'approved', reject: 'rejected', request_changes: 'requested changes to' }[decision];
        return reply
          .type('text/html')
          .send(
            messagePage(
              `You ${verb} ${open.state?.registration.name ?? claims.sys}`,
              `Your decision was recorded at ${when(new Date(result.decidedAt))}. The system is now in stage ${words(result.stage)}. ${whatHappensNext(result, open.state)}`,
              comment ? `Comment: ${comment}` : undefined,
              systemPageLink(claims.sys),
            ),
          );
      },
    );

    app.post<{ Params: { token: string }; Body: unknown }>(
      '/approvals/:token/delegate',
      { config: { access: { open: 'the signed, single-use link is the credential' } } },
      async (req, reply) => {
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
        const open = await openRequest(claims, reply);
        if (!open) return reply;
        if (
          open.state &&
          (await dutyRefused(reply, claims, 'Delegation', delegationBreach(open.state, ctx.governanceLead, deputy)))
        ) {
          return reply;
        }
        const delegation = { requestId: claims.req, delegatedBy: claims.sub, deputy, reason };
        const proof = signDecisionProof(
          ctx.decisionSigningKey,
          { message: 'delegateApproval', systemId: claims.sys, payload: delegation },
          { via: 'link', credential: link.jti },
        );
        const delivered = await deliver(claims, reply, 'Delegation', () =>
          sendToLifecycle(ctx, claims.sys, delegateUpdate, [delegation, proof], { updateId: `delegate-${link.jti}` }),
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
      },
    );

    /**
     * An expired link asks for a fresh one for the same approver and request.
     * Only once per expiry: when the request's current link is still valid, nothing is sent.
     */
    app.post<{ Params: { token: string }; Body: unknown }>(
      '/approvals/:token/renew',
      { config: { access: { open: 'the signed, single-use link is the credential' } } },
      async (req, reply) => {
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
          const { expiresAt } = await sendToLifecycle(ctx, claims.sys, renewLinkUpdate, [
            { requestId: claims.req, approver: claims.sub },
          ]);
          return reply
            .type('text/html')
            .send(
              messagePage(
                'A fresh link is on its way',
                `A new approval link was sent to ${claims.sub}; it works until ${when(new Date(expiresAt))}.`,
              ),
            );
        } catch (err) {
          if (!(err instanceof ApiError) || err.statusCode >= 500) throw err;
          const refused = err;
          return refuse(
            reply,
            claims,
            'renewal_not_needed',
            409,
            'No fresh link sent',
            `${refused.body.message}. Use the newest e-mail you received.`,
          );
        }
      },
    );
  };
