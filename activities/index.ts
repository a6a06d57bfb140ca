import { createHash } from 'node:crypto';
import { Context, log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { briefFromRecords, policyFor, requestRecords, type ApprovalBrief } from '../domain/approval-brief.js';
import type { ImpactAssessment } from '../domain/assessment.js';
import { decisionProofSchema, type ProofSubject, type ProofVerdict } from '../domain/decision-proof.js';
import type { Notification } from '../domain/notifications.js';
import type { Policy } from '../domain/policy.js';
import type { Registration } from '../domain/system.js';
import type { TreatmentPlan } from '../domain/treatment.js';
import type { BlobStore } from '../blobs/index.js';
import type { PersonKeys } from '../payloads/person-keys.js';
import { signApprovalLink } from '../links/approval-links.js';
import { proofPublicKey, verifyDecisionProof } from '../links/decision-proofs.js';
import type { RecordBatchResult, Store } from '../store/index.js';
import { storePeople } from '../views/people.js';
import { listOverdueReviews, listPendingApprovals } from '../views/visibility.js';
import { createFairnessActivities } from './fairness.js';
import { renderDigest, renderNotification, type RenderedMail } from './mail-templates.js';
import { isPermanentSmtpFailure, type Mailer } from './mailer.js';
import type {
  DeliveryResult,
  InlineDelivery,
  RecordAssessmentInput,
  RecordBatchInput,
  RecordDecisionInput,
  RecordEventInput,
  RecordStepInput,
  RecordStepResult,
  RecordTransitionInput,
  SendNotificationInput,
  StoreDocumentsInput,
} from './types.js';

export interface ActivityDeps {
  store: Store;
  mailer: Mailer;
  publicBaseUrl: string;
  approvalLinkSecret: string;
  /** Checks the API's proof on every decision (DECISION_SIGNING_KEY); it stays here, never in workflow history. */
  decisionSigningKey: string;
  /** The policy this worker was deployed with: running systems adopt it at their next cycle boundary. */
  policy: Policy;
  /** For activities that read Temporal's visibility store (the weekly digest). */
  client?: Client;
  /** PERSON_KEY_SECRET's HMAC: the workflow publishes people only under these keys. */
  personKeys: PersonKeys;
  /** Uploaded predictions, by SHA-256 (BLOB_DIR): the API writes them, computeFairness reads them. */
  blobs: BlobStore;
}

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

/** Stable per effect, so a retried send carries the same Message-ID and receivers can de-duplicate too. */
export const messageIdFor = (idempotencyKey: string) => `<${digest(idempotencyKey).slice(0, 32)}@ai-impact-workflows>`;

/**
 * Longer than an attempt may run (the workflow's start-to-close timeout is a
 * minute), so a live attempt is never overtaken; a dead worker's lease runs
 * out soon after Temporal retries its attempt elsewhere.
 */
const DELIVERY_LEASE_MS = 70_000;

/** Thrown while another attempt holds the e-mail: retryable, so this attempt waits its turn instead of sending twice. */
class DeliveryInProgress extends Error {
  override name = 'DeliveryInProgress';
}

/** Where an attempt notes an e-mail the server accepted but the store has not recorded yet, and reads it back. */
interface SentNotes {
  /** The subject of `key` when an earlier attempt sent it. */
  earlier(key: string): string | undefined;
  note(key: string, subject: string): void;
}

/** For an activity delivering one e-mail: the note is its heartbeat, which Temporal keeps across retries. */
function heartbeatNotes(): SentNotes {
  return {
    earlier(key) {
      const e = Context.current().info.heartbeatDetails as { sent?: string; subject?: string } | undefined;
      return e?.sent === key ? (e.subject ?? '') : undefined;
    },
    note(key, subject) {
      Context.current().heartbeat({ sent: key, subject });
    },
  };
}

/**
 * For a step's activity delivering several: every note in one heartbeat. An
 * attempt that outlived its budget may write after the activity ended; then
 * only the map keeps it, which the pending result hands to the e-mail's own
 * activity.
 */
function inlineNotes(): SentNotes {
  const ctx = Context.current();
  const earlier = (ctx.info.heartbeatDetails as { sentMails?: Record<string, string> } | undefined)?.sentMails ?? {};
  const sent: Record<string, string> = { ...earlier };
  return {
    earlier: (key) => sent[key],
    note(key, subject) {
      sent[key] = subject;
      try {
        ctx.heartbeat({ sentMails: sent });
      } catch {
        // The activity has ended; the pending result carries the note.
      }
    },
  };
}

/**
 * Activities close over their dependencies (the Temporal samples' pattern),
 * so tests run them against a real store and a real SMTP server.
 */
export function createActivities(deps: ActivityDeps) {
  const { store, mailer } = deps;

  /**
   * What an approval request covers, from the record store: the audit trail up
   * to the request, and the documents by their digests. Null when the request
   * is not on record (a run from before the trail had it): the e-mail then
   * says what the notification carries, and the page shows the rest.
   */
  async function approvalBrief(n: Extract<Notification, { kind: 'approval_request' }>): Promise<ApprovalBrief | null> {
    const [system, events] = await Promise.all([store.getSystem(n.systemId), store.listEvents(n.systemId)]);
    const records = system ? requestRecords(events, n.requestId) : null;
    if (!system || !records) return null;
    const read = async <T>(digest: string | undefined) =>
      digest ? ((await store.getDocument(digest))?.content as T | undefined) : undefined;
    const [assessment, plan] = await Promise.all([
      read<ImpactAssessment>(records.assessment?.digest),
      read<TreatmentPlan>(records.plan?.digest),
    ]);
    return briefFromRecords(
      records,
      system.registration as Registration,
      { assessment, plan },
      policyFor(system.policyVersion, deps.policy),
      system.policyVersion,
    );
  }

  async function render(n: Notification, key: string, brief?: ApprovalBrief | null): Promise<RenderedMail> {
    let approvalUrl: string | undefined;
    if (n.kind === 'approval_request') {
      const token = await signApprovalLink(
        deps.approvalLinkSecret,
        { sys: n.systemId, req: n.requestId, sub: n.to, step: n.step },
        { jti: digest(key).slice(0, 24), expiresAt: new Date(n.expiresAt), issuedAt: new Date() },
      );
      approvalUrl = `${deps.publicBaseUrl}/approvals/${token}`;
    }
    return renderNotification(n, { baseUrl: deps.publicBaseUrl, approvalUrl, brief });
  }

  /**
   * Delivers one outbox entry at most once. A permanent failure (a template
   * that cannot render, an SMTP 5xx) is recorded and answered, never thrown:
   * the lifecycle goes on and tells the governance lead. A temporary one
   * (4xx, network) is thrown so Temporal retries it with backoff, this e-mail
   * alone.
   */
  async function deliver(
    key: string,
    fallback?: { notification: Notification },
    notes: SentNotes = heartbeatNotes(),
  ): Promise<DeliveryResult> {
    // An earlier attempt that got the server's 250 but could not record it said so: record, don't resend.
    const earlier = notes.earlier(key);
    if (earlier !== undefined) {
      await untilRecorded(() => store.markDelivered(key, earlier, new Date()));
      return { status: 'sent', key };
    }
    const claim = await store.claimDelivery(key, DELIVERY_LEASE_MS);
    if (!claim.claimed) {
      if (claim.status === 'sent') return { status: 'sent', key, alreadySent: true };
      if (claim.status === 'failed') return { status: 'failed', key, error: claim.lastError ?? 'failed' };
      throw new DeliveryInProgress(`e-mail ${key} is being delivered by another attempt`);
    }
    const row = claim.row;
    const notification = (row.notification ?? fallback?.notification) as Notification | undefined;
    let brief: ApprovalBrief | null = null;
    if (notification?.kind === 'approval_request') {
      try {
        brief = await approvalBrief(notification);
      } catch (err) {
        // The record store could not be read: a temporary failure, retried like an SMTP 4xx.
        await store
          .markDeliveryRetry(key, `reading what the approval covers: ${(err as Error).message}`)
          .catch(() => {});
        throw err;
      }
    }
    let mail: RenderedMail;
    try {
      if (!notification) throw new Error('the outbox entry carries no notification to render');
      mail = await render(notification, key, brief);
    } catch (err) {
      const error = `the e-mail could not be rendered: ${(err as Error).message}`;
      await store.markNotificationFailed(key, error);
      log.error('e-mail template failed', { key, kind: row.kind, error });
      return { status: 'failed', key, error };
    }
    try {
      await mailer.send({
        to: row.toAddress,
        ...mail,
        messageId: row.messageId,
        headers: { 'X-Idempotency-Key': digest(key), 'X-AI-System': row.systemId },
      });
    } catch (err) {
      const error = String((err as Error).message ?? err).slice(0, 500);
      if (isPermanentSmtpFailure(err)) {
        await store.markNotificationFailed(key, error);
        log.warn('e-mail permanently rejected', { kind: row.kind, error });
        return { status: 'failed', key, error };
      }
      await store.markDeliveryRetry(key, error);
      throw err;
    }
    // The e-mail is out: from here on, sending it again would be a duplicate. Should the first mark fail, a note
    // Temporal keeps across retries says so while the record store is down (a heartbeat that reaches the server is
    // a billed action, so it is sent only then), and the mark itself is retried within this attempt.
    const sentAt = new Date();
    try {
      await store.markDelivered(key, mail.subject, sentAt);
    } catch {
      notes.note(key, mail.subject);
      await untilRecorded(() => store.markDelivered(key, mail.subject, sentAt));
    }
    return { status: 'sent', key };
  }

  /**
   * One e-mail within a step's records activity, for at most `budgetMs`: what
   * is not sent (or refused for good) by then, a 4xx or a slow server, is
   * handed back as pending and the workflow gives it an activity of its own,
   * so it holds up neither the step's other e-mails nor the next step's
   * records. An attempt still talking to the server keeps its lease, so the
   * handed-over activity waits for it rather than send a second copy.
   */
  async function deliverInline(key: string, notes: SentNotes, budgetMs: number): Promise<InlineDelivery> {
    let timer: NodeJS.Timeout | undefined;
    const attempt = deliver(key, undefined, notes).then(
      (r): InlineDelivery => r,
      (err: unknown): InlineDelivery => ({ status: 'pending', key, error: String((err as Error)?.message ?? err) }),
    );
    const late = new Promise<InlineDelivery>((resolve) => {
      timer = setTimeout(
        () => resolve({ status: 'pending', key, error: `not delivered within ${budgetMs} ms of the step` }),
        budgetMs,
      );
    });
    const outcome = await Promise.race([attempt, late]);
    clearTimeout(timer);
    const sentSubject = notes.earlier(key);
    return outcome.status === 'pending' && sentSubject !== undefined ? { ...outcome, sentSubject } : outcome;
  }

  /** Retries a store write for most of the attempt's minute, so a short database outage never costs a resend. */
  async function untilRecorded(write: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + 45_000;
    for (let wait = 500; ; wait = Math.min(wait * 2, 8_000)) {
      try {
        return await write();
      } catch (err) {
        if (Date.now() + wait > deadline) throw err;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
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

  /** Puts a notification into the outbox unless its key is there already. */
  async function enqueue(key: string, systemId: string, notification: { kind: string; to: string }) {
    await store.recordBatch({
      systemId,
      batchKey: `${key}/outbox`,
      at: new Date().toISOString(),
      events: [],
      assessments: [],
      decisions: [],
      mails: [{ key, messageId: messageIdFor(key), notification }],
      failedMails: [],
      resends: [],
    });
  }

  async function recordBatch(input: RecordBatchInput): Promise<RecordBatchResult> {
    return store.recordBatch({
      ...input,
      mails: input.mails.map((m) => ({ ...m, messageId: messageIdFor(m.key) })),
      resends: input.resends.map((from, i) => ({ from, messageId: messageIdFor(`${input.batchKey}/r${i}`) })),
    });
  }

  return {
    ...createFairnessActivities(deps),

    /** One lifecycle step's records in one transaction (store.recordBatch). */
    recordBatch,

    /**
     * One lifecycle step in one activity (issue 12), or the few that queued
     * meanwhile: each one's records in one transaction, then the e-mails side
     * by side within the step's budget, and
     * what the workflow cannot compute itself: the person keys it asked for,
     * the public key decision proofs are checked against, and at the end of a
     * cycle the policy the next run adopts. Temporal bills
     * each activity, so a step costs one, not one plus one per e-mail.
     */
    async recordStep(input: RecordStepInput): Promise<RecordStepResult> {
      const { batches, inline, keysFor, wantPolicy, wantProofKeys } = input;
      const results: RecordBatchResult[] = [];
      for (const batch of batches) results.push(await recordBatch(batch));
      const keys = batches.flatMap((b, i) => [...b.mails.map((m) => m.key), ...results[i]!.resent.map((m) => m.key)]);
      const notes = inlineNotes();
      const delivered = inline
        ? await Promise.all(keys.map((key) => deliverInline(key, notes, inline.budgetMs)))
        : keys.map((key): InlineDelivery => ({ status: 'pending', key, error: 'not delivered inline' }));
      const mismatch = results[0]?.anchorMismatch;
      return {
        head: results.at(-1)?.head ?? null,
        ...(mismatch ? { anchorMismatch: mismatch } : {}),
        resent: results.map((r) => r.resent),
        delivered,
        personKeys: keysFor.map((e) => deps.personKeys.key(e)),
        ...(wantPolicy ? { policy: deps.policy } : {}),
        ...(wantProofKeys ? { proofKeys: [proofPublicKey(deps.decisionSigningKey)] } : {}),
      };
    },

    /** An e-mail on its own; `sentSubject` when the step's activity got the server's 250 but could not record it. */
    async deliverNotification(input: { key: string; systemId: string; sentSubject?: string }): Promise<DeliveryResult> {
      const notes = heartbeatNotes();
      const { sentSubject } = input;
      return deliver(
        input.key,
        undefined,
        sentSubject === undefined ? notes : { ...notes, earlier: (key) => notes.earlier(key) ?? sentSubject },
      );
    },

    /** Documents a version 1 run carried in its state, stored before it continues as version 2. */
    async storeDocuments(input: StoreDocumentsInput): Promise<string[]> {
      const digests = await store.putDocuments(input.documents);
      const mismatch = input.documents.findIndex((d, i) => d.digest !== digests[i]);
      if (mismatch >= 0) throw new Error(`document ${mismatch} of ${input.systemId} hashes differently in the store`);
      return digests;
    },

    async latestPolicy(): Promise<Policy> {
      return deps.policy;
    },

    /**
     * Run as a local activity by the decision handlers: only the verdict goes
     * into history. The clock is this worker's wall clock, like the API's that
     * signed, so a time-skipping test server cannot age a proof.
     */
    async verifyDecisionProof(input: ProofSubject & { proof: unknown }): Promise<ProofVerdict> {
      const proof = decisionProofSchema.safeParse(input.proof);
      if (!proof.success) return { ok: false, reason: 'bad_signature' };
      const { proof: _, ...subject } = input;
      return verifyDecisionProof(deps.decisionSigningKey, subject, proof.data);
    },

    /**
     * Run as a local activity: the person keys a workflow publishes as search
     * attributes, which workflow code cannot compute because the secret must
     * stay out of the sandbox and out of history.
     */
    async personKeysFor(emails: string[]): Promise<string[]> {
      return emails.map((e) => deps.personKeys.key(e));
    },

    // ---- the activities version 1 runs call (workflows/v1); kept while such runs can be open ----

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
      await store.putDocuments([{ kind: 'assessment', content: a.content }]);
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
     * A version 1 run's e-mail, through the same outbox. It reports a failure
     * instead of throwing a non-retryable error, which failed the whole
     * lifecycle before version 2.
     */
    async sendNotification(
      input: SendNotificationInput,
    ): Promise<{ messageId: string; status: 'sent' | 'already_sent' | 'rejected' }> {
      await enqueue(input.idempotencyKey, input.systemId, input.notification);
      const r = await deliver(input.idempotencyKey, { notification: input.notification });
      const status = r.status === 'failed' ? 'rejected' : r.alreadySent ? 'already_sent' : 'sent';
      return { messageId: messageIdFor(input.idempotencyKey), status };
    },

    /** The weekly digest: overdue reviews and pending approvals from Temporal's visibility store. */
    async sendGovernanceDigest(input: {
      idempotencyKey: string;
      to: string;
    }): Promise<{ overdue: number; pending: number }> {
      if (!deps.client) throw new Error('the digest needs a Temporal client');
      const now = new Date();
      // The governance lead sees every system; the people come from the record store (no e-mail is in Temporal).
      const people = storePeople(store, deps.personKeys, input.to);
      const [overdue, pending] = await Promise.all([
        listOverdueReviews(deps.client, now, undefined, people),
        listPendingApprovals(deps.client, now, undefined, people),
      ]);
      const mail = renderDigest({ overdue, pending }, deps.publicBaseUrl);
      const claim = await store.claimNotification({
        idempotencyKey: input.idempotencyKey,
        systemId: 'governance',
        kind: 'governance_digest',
        toAddress: input.to,
        subject: mail.subject,
        messageId: messageIdFor(input.idempotencyKey),
        createdAt: now,
      });
      if (claim.status !== 'sent') {
        await mailer.send({
          to: input.to,
          ...mail,
          messageId: claim.messageId,
          headers: { 'X-Idempotency-Key': digest(input.idempotencyKey), 'X-AI-System': 'governance' },
        });
        await store.markNotificationSent(input.idempotencyKey, new Date());
      }
      return { overdue: overdue.length, pending: pending.length };
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
