import { createHash } from 'node:crypto';
import { ApplicationFailure, log } from '@temporalio/activity';
import type { Store } from '../store/index.js';
import { signApprovalLink } from './approval-links.js';
import { renderNotification } from './mail-templates.js';
import { isPermanentSmtpFailure, type Mailer } from './mailer.js';
import type {
  RecordAssessmentInput,
  RecordDecisionInput,
  RecordEventInput,
  RecordTransitionInput,
  SendNotificationInput,
} from './types.js';

export interface ActivityDeps {
  store: Store;
  mailer: Mailer;
  publicBaseUrl: string;
  approvalLinkSecret: string;
}

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

/** Stable per effect, so a retried send carries the same Message-ID and receivers can de-duplicate too. */
export const messageIdFor = (idempotencyKey: string) => `<${digest(idempotencyKey).slice(0, 32)}@ai-impact-workflows>`;

/**
 * Activities close over their dependencies (the Temporal samples' pattern),
 * so tests run them against a real store and a real SMTP server.
 */
export function createActivities(deps: ActivityDeps) {
  const { store, mailer } = deps;

  async function recordEvent(input: RecordEventInput): Promise<void> {
    await store.recordEvent({
      idempotencyKey: input.idempotencyKey,
      systemId: input.systemId,
      type: input.type,
      actor: input.actor,
      at: new Date(input.at),
      payload: input.payload,
    });
  }

  return {
    async recordTransition(input: RecordTransitionInput): Promise<void> {
      const { projection } = input;
      await recordEvent(input);
      await store.upsertSystem({
        systemId: input.systemId,
        name: projection.registration.name,
        owner: projection.registration.owner,
        riskOwner: projection.registration.riskOwner,
        stage: projection.stage,
        riskTier: projection.riskTier,
        reviewDueAt: projection.reviewDueAt ? new Date(projection.reviewDueAt) : null,
        policyVersion: projection.policyVersion,
        registration: projection.registration,
        updatedAt: new Date(input.at),
      });
    },

    async recordAssessment(input: RecordAssessmentInput): Promise<void> {
      const a = input.assessment;
      await store.recordAssessment({
        idempotencyKey: input.idempotencyKey,
        systemId: input.systemId,
        version: a.version,
        riskTier: a.riskTier,
        submittedBy: a.submittedBy,
        submittedAt: new Date(a.submittedAt),
        content: a.content,
      });
      await store.recordEvent({
        idempotencyKey: `${input.idempotencyKey}/event`,
        systemId: input.systemId,
        type: 'assessment_submitted',
        actor: a.submittedBy,
        at: new Date(a.submittedAt),
        payload: {
          version: a.version,
          riskTier: a.riskTier,
          score: a.score,
          digest: digest(JSON.stringify(a.content)),
        },
      });
    },

    recordEvent,

    async recordDecision(input: RecordDecisionInput): Promise<void> {
      const d = input.decision;
      await store.recordDecision({
        idempotencyKey: input.idempotencyKey,
        systemId: input.systemId,
        requestId: d.requestId,
        step: d.step,
        approver: d.approver,
        decision: d.decision,
        comment: d.comment,
        decidedAt: new Date(d.decidedAt),
        digest: d.digest,
      });
      await store.recordEvent({
        idempotencyKey: `${input.idempotencyKey}/event`,
        systemId: input.systemId,
        type: 'decision_recorded',
        actor: d.approver,
        at: new Date(d.decidedAt),
        payload: { ...d },
      });
    },

    /**
     * Sends one e-mail at most once per idempotency key: the outbox row is
     * claimed first, and a key already marked sent is not sent again.
     */
    async sendNotification(
      input: SendNotificationInput,
    ): Promise<{ messageId: string; status: 'sent' | 'already_sent' | 'rejected' }> {
      const n = input.notification;
      let approvalUrl: string | undefined;
      if (n.kind === 'approval_request') {
        const token = await signApprovalLink(
          deps.approvalLinkSecret,
          { sys: n.systemId, req: n.requestId, sub: n.to, step: n.step },
          { jti: digest(input.idempotencyKey).slice(0, 24), expiresAt: new Date(n.expiresAt), issuedAt: new Date() },
        );
        approvalUrl = `${deps.publicBaseUrl}/approvals/${token}`;
      }
      let rendered;
      try {
        rendered = renderNotification(n, { baseUrl: deps.publicBaseUrl, approvalUrl });
      } catch (err) {
        throw ApplicationFailure.nonRetryable((err as Error).message, 'InvalidNotification');
      }
      const messageId = messageIdFor(input.idempotencyKey);
      const claim = await store.claimNotification({
        idempotencyKey: input.idempotencyKey,
        systemId: input.systemId,
        kind: n.kind,
        to: n.to,
        subject: rendered.subject,
        messageId,
        createdAt: new Date(),
      });
      if (claim.status === 'sent') return { messageId, status: 'already_sent' };
      try {
        await mailer.send({
          to: n.to,
          ...rendered,
          messageId,
          headers: { 'X-Idempotency-Key': digest(input.idempotencyKey), 'X-AI-System': n.systemId },
        });
      } catch (err) {
        await store.markNotificationFailed(input.idempotencyKey, String((err as Error).message ?? err));
        if (isPermanentSmtpFailure(err)) {
          // A bad address must not stall the lifecycle; the failure stays in the outbox for the dashboard.
          log.warn('e-mail permanently rejected', { to: n.to, kind: n.kind, error: (err as Error).message });
          return { messageId, status: 'rejected' };
        }
        throw err;
      }
      await store.markNotificationSent(input.idempotencyKey, new Date());
      return { messageId, status: 'sent' };
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
