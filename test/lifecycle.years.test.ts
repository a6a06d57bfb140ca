import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCadence, addMonths, durationMs } from '../domain/duration.js';
import { workflowIdFor } from '../domain/system.js';
import { example } from './support/examples.js';
import { GOVERNANCE_LEAD, startLifecycleEnv, type LifecycleEnv } from './support/lifecycle-env.js';
import { approveChain, walker } from './support/walk.js';

let t: LifecycleEnv;
let w: ReturnType<typeof walker>;
beforeAll(async () => {
  t = await startLifecycleEnv();
  w = walker(t);
});
afterAll(async () => {
  await t?.close();
});

const OWNER: string = example('register.json').owner;
const SCHEDULED_REVIEWS = 6;
const HISTORY_LIMIT = 500;

const serverNow = async () => await t.env.currentTimeMs();
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

async function sleepUntil(at: number): Promise<void> {
  const delta = at - (await serverNow());
  if (delta > 0) await t.env.sleep(delta);
}

const handleFor = (id: string, runId?: string) => t.env.client.workflow.getHandle(workflowIdFor(id), runId);

/** Every run of a workflow, newest first, followed back through continue-as-new. */
async function allRuns(id: string) {
  const runs: { runId: string; events: number; spanMs: number }[] = [];
  const time = (e: { eventTime?: { seconds?: unknown } | null }) => Number(e.eventTime!.seconds) * 1000;
  let runId: string | undefined = (await handleFor(id).describe()).runId;
  while (runId) {
    const history: {
      events?:
        | {
            eventTime?: { seconds?: unknown } | null;
            workflowExecutionStartedEventAttributes?: { continuedExecutionRunId?: string | null } | null;
          }[]
        | null;
    } = await handleFor(id, runId).fetchHistory();
    const events = history.events ?? [];
    runs.push({ runId, events: events.length, spanMs: time(events.at(-1)!) - time(events[0]!) });
    const previous: string | null | undefined =
      events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    runId = previous || undefined;
  }
  return runs;
}

/** Halfway between the last sign-off and the next due date. */
const midway = (v: { lastReviewCompletedAt: string; reviewDueAt: string }) =>
  (Date.parse(v.lastReviewCompletedAt) + Date.parse(v.reviewDueAt)) / 2;

/** The review example with fresh bias metrics run on `day`. */
const reviewOn = (day: string) => {
  const review = example('review.json');
  return { ...review, biasEvidence: { ...review.biasEvidence, effectiveDate: day } };
};

describe('a high-risk system over three years', () => {
  it('goes through six scheduled reviews, an incident review and a new model version, no run longer than the policy allows', async () => {
    const id = 'three-years';
    const cadence = t.policy.reviewCadence.high;
    const chain = t.policy.approvalChains.high;
    const { view: active } = await w.toActive(id);
    expect(active.riskTier).toBe('high');
    const start = Date.parse(active.approvedAt);
    expect(active.reviewDueAt).toBe(addCadence(new Date(start), cadence).toISOString());

    const runIds: string[] = [(await handleFor(id).describe()).runId];
    let view = active;
    let scheduled = 0;
    let incidentAt: number | null = null;
    let versionAt: number | null = null;
    const newVersion = example('new-version.json');

    /** Submits the review and signs it off; checks the next due date rolls from the sign-off. */
    async function completeReview(kind: 'schedule' | 'incident') {
      const before = view;
      const res = await w.call('POST', w.sys(id, '/reviews'), reviewOn(before.reviewDueAt.slice(0, 10)), 202);
      expect(res.json().stage).toBe('approval');
      const { approvers, view: after } = await approveChain(t, w, id);
      expect(approvers.map((a) => a.kind)).toEqual(chain.map(() => 'review'));
      expect(after).toMatchObject({ stage: 'active', cycle: before.cycle + 1 });
      const completed = Date.parse(after.lastReviewCompletedAt);
      expect(completed).toBeGreaterThanOrEqual(Date.parse(before.reviewDueAt));
      expect(after.reviewDueAt).toBe(addCadence(new Date(completed), cadence).toISOString());
      expect(Date.parse(after.reviewDueAt)).toBeGreaterThan(Date.parse(before.reviewDueAt));
      expect(after.evidence.effectiveDate).toBe(before.reviewDueAt.slice(0, 10));
      expect(after.transitions.at(-1)).toMatchObject({ to: 'active' });
      if (kind === 'incident') expect(after.transitions.map((tr: { to: string }) => tr.to)).toContain('review_due');

      // The finished run stays small and ended by continuing as new.
      const finished = runIds.at(-1)!;
      const current = (await handleFor(id).describe()).runId;
      expect(current).not.toBe(finished);
      expect((await handleFor(id, finished).describe()).status.name).toBe('CONTINUED_AS_NEW');
      expect((await handleFor(id, finished).fetchHistory()).events!.length).toBeLessThan(HISTORY_LIMIT);
      runIds.push(current);
      view = after;
    }

    while (scheduled < SCHEDULED_REVIEWS) {
      if (scheduled === 1 && incidentAt === null) {
        // Year one: a serious incident halfway to the next review calls for a review at once.
        await sleepUntil(midway(view));
        incidentAt = await serverNow();
        const res = await w.call('POST', w.sys(id, '/incidents'), example('incident.json'), 201);
        expect(res.json().stage).toBe('review_due');
        view = await w.view(id);
        expect(view).toMatchObject({ stage: 'review_due', approvedDigest: null });
        expect(Date.parse(view.reviewDueAt)).toBeGreaterThanOrEqual(incidentAt);
        await w.call(
          'POST',
          w.sys(id, `/incidents/${res.json().incidentId}/close`),
          example('incident-close.json'),
          200,
        );
        await completeReview('incident');
        continue;
      }
      if (scheduled === 2 && versionAt === null) {
        // Year two: a new model version; its evidence and the carried-over plan go to approval again.
        await sleepUntil(midway(view));
        versionAt = await serverNow();
        const res = await w.call('POST', w.sys(id, '/versions'), newVersion, 202);
        expect(res.json().stage).toBe('bias_testing');
        const evidence = {
          ...example('bias-evidence.json'),
          modelVersion: newVersion.version,
          effectiveDate: isoDay(versionAt),
        };
        expect((await w.evidence(id, evidence)).json().stage).toBe('approval');
        const { approvers, view: approved } = await approveChain(t, w, id);
        expect(approvers.map((a) => a.kind)).toEqual(chain.map(() => 'treatment_plan'));
        expect(approved).toMatchObject({ stage: 'active', cycle: view.cycle, model: { version: newVersion.version } });
        // A new approval restarts the review clock.
        expect(approved.reviewDueAt).toBe(addCadence(new Date(approved.approvedAt), cadence).toISOString());
        view = approved;
        continue;
      }
      // A scheduled review: sleep to the due date, review with metrics run that day, sign off.
      const due = Date.parse(view.reviewDueAt);
      await sleepUntil(due);
      view = await w.until(id, (x) => x.stage === 'review_due', `review ${scheduled + 1} due`);
      expect(view.reviewDueAt).toBe(new Date(due).toISOString());
      await completeReview('schedule');
      scheduled += 1;
    }

    const end = await serverNow();
    expect(end).toBeGreaterThanOrEqual(addMonths(new Date(start), 36).getTime());
    expect(incidentAt).not.toBeNull();
    expect(incidentAt!).toBeLessThan(addMonths(new Date(start), 12).getTime());
    expect(versionAt).not.toBeNull();
    expect(versionAt!).toBeGreaterThanOrEqual(addMonths(new Date(start), 12).getTime());
    expect(versionAt!).toBeLessThan(addMonths(new Date(start), 24).getTime());

    // Six scheduled reviews plus the incident review, each its own run.
    expect(view.cycle).toBe(SCHEDULED_REVIEWS + 1);
    expect(runIds).toHaveLength(view.cycle + 1);
    expect(new Set(runIds).size).toBe(runIds.length);
    expect((await handleFor(id).fetchHistory()).events!.length).toBeLessThan(HISTORY_LIMIT);
    expect(view.model.version).toBe(newVersion.version);

    // No run spans a review cycle: each lasts at most the policy's interval (plus the step that ended it).
    const runs = await allRuns(id);
    const interval = durationMs(t.policy.runs.continueAsNewAfter);
    expect(runs.length).toBeGreaterThan((36 * 30 * 86_400_000) / interval / 2);
    for (const run of runs) {
      expect(run.events, run.runId).toBeLessThan(HISTORY_LIMIT);
      expect(run.spanMs, run.runId).toBeLessThanOrEqual(interval + durationMs(t.policy.runs.deliveryDrain) + 60_000);
    }

    // Reminded before every scheduled review, never escalated.
    expect(
      w.mailsTo(OWNER, id, (m) => m.subject.startsWith('Periodic review coming up')).length,
    ).toBeGreaterThanOrEqual(SCHEDULED_REVIEWS);
    expect(w.mailsTo(GOVERNANCE_LEAD, id, (m) => m.subject.startsWith('Overdue review'))).toHaveLength(0);

    // The record store kept every step, and its hash chain holds.
    const events = await t.store.listEvents(id);
    expect(events.filter((e) => e.type === 'review_submitted')).toHaveLength(SCHEDULED_REVIEWS + 1);
    expect(events.filter((e) => e.type === 'model_version_changed')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'incident_reported')).toHaveLength(1);
    const verified = await t.store.verifyChain(id);
    expect(verified).toMatchObject({ ok: true, count: events.length });
    expect(await t.store.listDecisions(id)).toHaveLength(chain.length * (SCHEDULED_REVIEWS + 1 + 2));
  });
});
