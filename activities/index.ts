import { createHash } from 'node:crypto';
import { ApplicationFailure, log } from '@temporalio/activity';
import type { Store } from '../store/index.js';
import { signApprovalLink } from './approval-links.js';
import type { Client } from '@temporalio/client';
import { listOverdueReviews, listPendingApprovals } from '../api/visibility.js';
import { renderDigest, renderNotification, type RenderedMail } from './mail-templates.js';
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
  /** For activities that read Temporal's visibility store (the weekly digest). */
  client?: Client;
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

  /**
   * Sends one e-mail at most once per idempotency key: the outbox row is
   * claimed first, and a key already marked sent is not sent again.
   */
  async function deliverOnce(e: {
    idempotencyKey: string;
    systemId: string;
    kind: string;
    to: string;
    mail: RenderedMail;
  }): Promise<{ messageId: string; status: 'sent' | 'already_sent' | 'rejected' }> {
    const messageId = messageIdFor(e.idempotencyKey);
    const claim = await store.claimNotification({
      idempotencyKey: e.idempotencyKey,
      systemId: e.systemId,
      kind: e.kind,
      toAddress: e.to,
      subject: e.mail.subject,
      messageId,
      createdAt: new Date(),
    });
    if (claim.status === 'sent') return { messageId, status: 'already_sent' };
    try {
      await mailer.send({
        to: e.to,
        ...e.mail,
        messageId,
        headers: { 'X-Idempotency-Key': digest(e.idempotencyKey), 'X-AI-System': e.systemId },
      });
    } catch (err) {
      await store.markNotificationFailed(e.idempotencyKey, String((err as Error).message ?? err));
      if (isPermanentSmtpFailure(err)) {
        // A bad address must not stall the lifecycle; the failure stays in the outbox for the dashboard.
        log.warn('e-mail permanently rejected', { to: e.to, kind: e.kind, error: (err as Error).message });
        return { messageId, status: 'rejected' };
      }
      throw err;
    }
    await store.markNotificationSent(e.idempotencyKey, new Date());
    return { messageId, status: 'sent' };
  }

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

    /** A lifecycle e-mail; approval requests get their signed link here, at send time. */
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
      return deliverOnce({
        idempotencyKey: input.idempotencyKey,
        systemId: input.systemId,
        kind: n.kind,
        to: n.to,
        mail: rendered,
      });
    },

    /** The weekly digest: overdue reviews and pending approvals from Temporal's visibility store. */
    async sendGovernanceDigest(input: {
      idempotencyKey: string;
      to: string;
    }): Promise<{ overdue: number; pending: number }> {
      if (!deps.client)
        throw ApplicationFailure.nonRetryable('the digest needs a Temporal client', 'InvalidNotification');
      const now = new Date();
      const [overdue, pending] = await Promise.all([
        listOverdueReviews(deps.client, now),
        listPendingApprovals(deps.client, now),
      ]);
      const mail = renderDigest({ overdue, pending }, deps.publicBaseUrl);
      await deliverOnce({
        idempotencyKey: input.idempotencyKey,
        systemId: 'governance',
        kind: 'governance_digest',
        to: input.to,
        mail,
      });
      return { overdue: overdue.length, pending: pending.length };
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
