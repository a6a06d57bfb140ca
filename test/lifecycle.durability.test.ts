/**
 * The lifecycle's durability promises on the time-skipping server, each
 * through the same doors users go through: a template that cannot render
 * fails one e-mail and never the lifecycle; a decision sent twice (a crash
 * before the answer) is one decision; the biggest assessment the schemas
 * allow stays far below Temporal's payload limit; a new policy reaches a
 * running system at its next cycle boundary and is recorded.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, messageIdFor } from '../activities/index.js';
import type { DeliveryResult } from '../activities/types.js';
import { createSmtpMailer } from '../activities/mailer.js';
import { sendToLifecycle } from '../api/lifecycle-state.js';
import { durationMs } from '../domain/duration.js';
import { workflowIdFor } from '../domain/system.js';
import { loadPolicy } from '../config/policy-file.js';
import { signDecisionProof } from '../links/decision-proofs.js';
import { decideUpdate } from '../workflows/messages.js';
import { example } from './support/examples.js';
import {
  GOVERNANCE_LEAD,
  PUBLIC_BASE_URL,
  startLifecycleEnv,
  TEST_DECISION_KEY,
  TEST_SECRET,
  type LifecycleEnv,
} from './support/lifecycle-env.js';
import { approveChain, walker } from './support/walk.js';
import { testPersonKeys } from './support/privacy.js';
import { scratchBlobStore } from './support/blobs.js';

/** An owner whose mail server keeps answering 451 (try again later). */
const HELD = 'held-owner@example.org';
const heldAddresses = new Set([HELD]);

/** Temporal refuses payloads over 2 MB; "far below" here is under a tenth of that. */
const PAYLOAD_BUDGET = 200 * 1024;

let t: LifecycleEnv;
let w: ReturnType<typeof walker>;
const base = await loadPolicy();
const newer = { ...base, version: `${base.version}-next` };

beforeAll(async () => {
  // The worker was deployed with a newer policy than the one systems were registered under.
  t = await startLifecycleEnv({
    policy: base,
    workerPolicy: newer,
    rejectRecipients: (a) => (heldAddresses.has(a) ? 451 : undefined),
  });
  w = walker(t);
});
afterAll(async () => {
  await t?.close();
});

/** What the API's own calls need: the same client and store it runs with. */
const api = () => ({ client: t.env.client, store: t.store });
const handleFor = (id: string, runId?: string) => t.env.client.workflow.getHandle(workflowIdFor(id), runId);

describe('no effect can kill a lifecycle', () => {
  it('an e-mail whose template cannot render is recorded as failed and answered, not thrown', async () => {
    const mailer = createSmtpMailer(t.mailbox.url, 'AI Governance <governance@example.org>');
    const activities = createActivities({
      store: t.store,
      mailer,
      publicBaseUrl: PUBLIC_BASE_URL,
      approvalLinkSecret: TEST_SECRET,
      decisionSigningKey: TEST_DECISION_KEY,
      policy: base,
      personKeys: testPersonKeys,
      blobs: scratchBlobStore(),
    });
    try {
      // An outbox entry queued by older code, lacking a field today's template reads.
      const key = 'ai-system-old-template/run/b1/m0';
      await t.store.recordBatch({
        systemId: 'old-template',
        batchKey: 'ai-system-old-template/run/b1',
        at: new Date().toISOString(),
        events: [],
        assessments: [],
        decisions: [],
        mails: [
          {
            key,
            messageId: messageIdFor(key),
            notification: { kind: 'work_requested', to: 'owner@example.org', systemId: 'old-template' } as never,
          },
        ],
        failedMails: [],
        resends: [],
      });
      const before = t.mailbox.messages().length;
      // Run as Temporal runs it, with an activity context (its logger).
      const deliver = () =>
        new MockActivityEnvironment().run(activities.deliverNotification, { key, systemId: 'old-template' });
      const result = (await deliver()) as DeliveryResult;
      expect(result).toMatchObject({ status: 'failed', key });
      expect(result.status === 'failed' && result.error).toMatch(/could not be rendered/);
      const [row] = await t.store.listNotifications('old-template');
      expect(row).toMatchObject({ status: 'failed', attempts: 1 });
      expect(t.mailbox.messages()).toHaveLength(before);
      // Delivering it again (a retry after a lost answer) reports the same, still without sending.
      expect(await deliver()).toMatchObject({
        status: 'failed',
      });
    } finally {
      mailer.close();
    }
  });
});

describe('records and e-mails are independent', () => {
  it('while one e-mail is held by 451, every record goes in at its transition’s time and other e-mails go out', async () => {
    const id = 'held-mail';
    await w.register(id, { owner: HELD });
    await w.assess(id, { ...example('impact-assessment.json'), submittedBy: HELD });
    await w.evidence(id, { ...example('bias-evidence.json'), submittedBy: HELD });
    await w.plan(id, { ...example('treatment-plan.json'), submittedBy: HELD });
    // The risk owner's approval request arrives although every e-mail to the owner is still being retried.
    const v = await w.until(id, (x) => x.pendingApproval?.step === 1, 'the approval request');
    await w.approvalLink(id, v.pendingApproval.approver, v.pendingApproval.requestId);
    const held = (await t.store.listNotifications(id)).filter((n) => n.toAddress === HELD);
    expect(held.length).toBeGreaterThanOrEqual(3);
    expect(held.every((n) => n.status !== 'sent')).toBe(true);
    expect(held.some((n) => n.attempts > 0 && /451/.test(n.lastError ?? ''))).toBe(true);
    // Every transition is on record, stamped with the time it happened in the workflow, not when an effect ran.
    const recorded = (await t.store.listEvents(id)).filter((e) => e.type === 'stage_changed');
    expect(recorded.map((e) => (e.payload as { to: string }).to)).toEqual(
      v.transitions.map((x: { to: string }) => x.to),
    );
    expect(recorded.map((e) => e.at.toISOString())).toEqual(v.transitions.map((x: { at: string }) => x.at));
    expect((await t.store.getSystem(id))?.stage).toBe('approval');

    // Once the server takes the owner's mail again, the retries deliver each held e-mail, once.
    heldAddresses.clear();
    await t.env.sleep(durationMs(base.notifications.retryMaxInterval) * 2);
    await expect
      .poll(
        async () =>
          (await t.store.listNotifications(id)).filter((n) => n.toAddress === HELD && n.status !== 'sent').length,
        {
          timeout: 20_000,
        },
      )
      .toBe(0);
    const ids = t.mailbox
      .messages()
      .filter((m) => m.to.includes(HELD))
      .map((m) => m.messageId);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('approval decisions', () => {
  it('the same decision sent twice (a crash before the answer) is one decision, and the caller learns the truth', async () => {
    const id = 'decide-twice';
    await w.register(id);
    await w.assess(id);
    await w.evidence(id);
    await w.plan(id);
    const v = await w.until(id, (x) => x.pendingApproval?.step === 1, 'the first approval request');
    const decision = {
      requestId: v.pendingApproval.requestId,
      decision: 'approve' as const,
      comment: 'Approved once.',
      decidedBy: v.pendingApproval.approver,
      via: 'link' as const,
    };
    // Signed as the API signs a claimed link's decision: the workflow takes no decision without the proof.
    const proofFor = (jti: string) =>
      signDecisionProof(
        TEST_DECISION_KEY,
        { message: 'decideApproval', systemId: id, payload: decision },
        { via: 'link', credential: jti },
      );
    const send = () =>
      sendToLifecycle(api(), id, decideUpdate, [decision, proofFor('link-jti-1')], { updateId: 'decide-link-jti-1' });
    const [first, second] = await Promise.all([send(), send()]);
    expect(second).toEqual(first);
    expect(first).toMatchObject({ decision: 'approve', stage: 'approval', nextApprover: GOVERNANCE_LEAD });
    const after = await w.until(id, (x) => x.pendingApproval?.step === 2, 'the second step');
    expect(after.decisions).toHaveLength(1);
    // Another link for the same, now decided, request is refused with the reason.
    const refused = await sendToLifecycle(api(), id, decideUpdate, [decision, proofFor('link-jti-2')], {
      updateId: 'decide-link-jti-2',
    }).catch((err: unknown) => err);
    expect(refused).toMatchObject({ statusCode: 409 });
    expect((refused as { body: { message: string } }).body.message).toMatch(/already decided: approve by/);
    await approveChain(t, w, id);
    expect(await t.store.listDecisions(id)).toHaveLength(2);
  });
});

describe('bounded payloads', () => {
  it('the largest assessment the schema allows travels as a digest: every payload stays far below the limit', async () => {
    const id = 'max-size';
    await w.register(id);
    const text = (n: number) => 'x'.repeat(n);
    const a = example('impact-assessment.json');
    const biggest = {
      ...a,
      intendedPurpose: text(4000),
      contextOfUse: text(4000),
      foreseeableMisuse: Array.from({ length: 50 }, () => text(1000)),
      euAiAct: { ...a.euAiAct, rationale: text(4000) },
      impacts: Array.from({ length: 200 }, (_, i) => ({
        ...a.impacts[0],
        description: `${i}${text(3990)}`,
        affected: Array.from({ length: 50 }, () => text(200)),
      })),
      dataSources: Array.from({ length: 100 }, () => ({
        name: text(200),
        provenance: text(4000),
        personalData: true,
        qualityMeasures: text(4000),
      })),
      thirdParties: Array.from({ length: 100 }, () => ({
        name: text(200),
        role: 'other',
        responsibilities: text(4000),
      })),
      fria: {
        processes: text(4000),
        periodAndFrequency: text(4000),
        affectedCategories: Array.from({ length: 50 }, () => text(200)),
        specificRisks: text(4000),
        humanOversight: text(4000),
        mitigationAndComplaints: text(4000),
      },
      summary: text(4000),
    };
    const body = JSON.stringify(biggest);
    expect(body.length).toBeGreaterThan(4 * 1024 * 1024);
    const res = await t.api.inject({
      method: 'PUT',
      url: w.sys(id, '/impact-assessment'),
      payload: body,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.statusCode, res.body.slice(0, 500)).toBe(200);
    const view = await w.view(id);
    expect(view.assessment.impacts).toBe(200);
    // The whole document is in the record store, once, under its digest.
    const stored = await t.store.getDocument(view.assessment.digest);
    expect((stored?.content as { impacts: unknown[] }).impacts).toHaveLength(200);
    // Its row in the assessments table follows with the step's records.
    await expect
      .poll(async () => (await t.store.listAssessments(id))[0]?.content, { timeout: 20_000 })
      .toEqual(stored?.content);

    const history = await handleFor(id).fetchHistory();
    const sizes = history.events!.flatMap((e) => {
      const payloads = [
        e.workflowExecutionStartedEventAttributes?.input,
        e.activityTaskScheduledEventAttributes?.input,
        e.activityTaskCompletedEventAttributes?.result,
        e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.args,
        e.workflowExecutionUpdateCompletedEventAttributes?.outcome?.success,
      ];
      return payloads.flatMap((p) => (p?.payloads ?? []).map((x) => x.data?.length ?? 0));
    });
    expect(Math.max(...sizes)).toBeLessThan(PAYLOAD_BUDGET);
    // The state query answers with digests, not the document.
    expect(JSON.stringify(view).length).toBeLessThan(PAYLOAD_BUDGET);
  });
});

describe('policy upgrades', () => {
  it('a running system adopts the worker’s newer policy at its next cycle boundary, on record', async () => {
    const id = 'policy-upgrade';
    const { view } = await w.toActive(id);
    expect(view.policyVersion).toBe(base.version);
    expect(view.decisions.every((d: { policyVersion: string }) => d.policyVersion === base.version)).toBe(true);
    await t.env.sleep(Date.parse(view.reviewDueAt) - (await t.env.currentTimeMs()) + 3_600_000);
    await w.until(id, (x) => x.stage === 'review_due', 'the review to fall due');
    await w.call('POST', w.sys(id, '/reviews'), example('review.json'), 202);
    const { view: next } = await approveChain(t, w, id);
    expect(next.cycle).toBe(view.cycle + 1);
    const adopted = (await t.store.listEvents(id)).filter((e) => e.type === 'policy_adopted');
    expect(adopted).toHaveLength(1);
    expect(adopted[0]!.payload).toMatchObject({ from: base.version, to: newer.version, cycle: view.cycle + 1 });
    // The sign-off itself was judged by the policy in force then; the next cycle runs under the new one.
    expect(next.decisions.at(-1)).toMatchObject({ kind: 'review', policyVersion: base.version });
    expect(next.policyVersion).toBe(newer.version);
  });
});
