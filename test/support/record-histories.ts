/**
 * Records workflow histories for test/replay.test.ts.
 *
 *   npx tsx test/support/record-histories.ts [name ...]
 *
 * Runs the lifecycles below on the time-skipping test server through the
 * HTTP API (the same doors users go through) and writes each workflow's
 * history to test/histories/<name>.json. With names, only those are
 * recorded again. Re-record only when a change to the workflow is meant to be
 * incompatible and ships with a patched()/versioning plan: see the comment at
 * the top of test/replay.test.ts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { historyToJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import { durationMs } from '../../domain/duration.js';
import { workflowIdFor } from '../../domain/system.js';
import type { MailboxMessage } from '../../embedded/dev-mailbox.js';
import { example } from './examples.js';
import { csrfFrom, pathOf, startLifecycleEnv, type LifecycleEnv } from './lifecycle-env.js';
import { walker } from './walk.js';

const outDir = fileURLToPath(new URL('../histories/', import.meta.url));
const DAY = 86_400_000;
const HOUR = 3_600_000;

type Walker = ReturnType<typeof walker>;
interface Scenario {
  name: string;
  /** The system driven through the lifecycle; its workflow id is workflowIdFor(systemId). */
  systemId: string;
  description: string;
  /** Drives the lifecycle; returns the runs to record (undefined: the latest run) by file name. */
  run(t: LifecycleEnv, w: Walker, id: string): Promise<Record<string, string | undefined>>;
}

/**
 * The SDK's historyToJSON, or the same proto3 JSON conversion done with the
 * protobufjs copy @temporalio/proto was built with: in this install
 * @temporalio/common and @temporalio/proto each get a private copy of
 * protobufjs 8 (a top-level protobufjs 7 blocks hoisting), and protojson's
 * `instanceof Type` check fails across copies ("type must be a Type").
 */
function historyJSON(history: History): string {
  try {
    return historyToJSON(history);
  } catch (err) {
    if (!(err instanceof TypeError && /type must be a Type/.test(err.message))) throw err;
    const require = createRequire(import.meta.url);
    const fromProto = createRequire(require.resolve('@temporalio/proto'));
    const protojson = fromProto('protobufjs/ext/protojson') as { toJson(type: unknown, message: unknown): unknown };
    const { patchProtobufRoot } = require('@temporalio/proto/lib/patch-protobuf-root') as {
      patchProtobufRoot(root: unknown): any;
    };
    const proto = require('@temporalio/proto');
    const type = patchProtobufRoot(proto).lookupType('temporal.api.history.v1.History');
    return JSON.stringify(protojson.toJson(type, proto.temporal.api.history.v1.History.fromObject(history)));
  }
}

const handleFor = (t: LifecycleEnv, id: string, runId?: string) =>
  t.env.client.workflow.getHandle(workflowIdFor(id), runId);

async function waitForStatus(t: LifecycleEnv, id: string, runId: string, status: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const d = await handleFor(t, id, runId).describe();
    if (d.status.name === status) return;
    if (Date.now() > deadline) throw new Error(`${id} run ${runId} is ${d.status.name}, not ${status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the workflow has no activity in flight, so the recorded history ends on a settled point. */
async function settled(t: LifecycleEnv, id: string, runId?: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const d = await handleFor(t, id, runId).describe();
    const pending = d.raw.pendingActivities?.length ?? 0;
    const task = d.raw.pendingWorkflowTask;
    if (pending === 0 && !task) return;
    if (Date.now() > deadline)
      throw new Error(`${id} did not settle: ${pending} activities, workflow task ${task ? 'pending' : 'none'}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function sleepUntil(t: LifecycleEnv, at: number): Promise<void> {
  const delta = at - (await t.env.currentTimeMs());
  if (delta > 0) await t.env.sleep(delta);
}

async function approveChain(w: Walker, id: string): Promise<void> {
  for (;;) {
    const v = await w.until(id, (x) => x.pendingApproval !== null || x.stage !== 'approval', 'next approval step');
    if (v.stage !== 'approval') return;
    await w.approveOpenRequest(id);
    await w.until(id, (x) => x.pendingApproval?.requestId !== v.pendingApproval.requestId, 'the step to advance');
  }
}

const scenarios: Scenario[] = [
  {
    name: 'approved-to-active',
    systemId: 'replay-approved',
    description: 'register → assessment → evidence → plan → two approvals → FRIA notification → active',
    async run(t, w, id) {
      await w.toActive(id);
      return { 'approved-to-active': undefined };
    },
  },
  {
    name: 'rejected-then-resubmitted',
    systemId: 'replay-rejected',
    description: 'a rejection back to impact assessment, the revision resubmitted and approved',
    async run(t, w, id) {
      await w.register(id);
      await w.assess(id);
      await w.evidence(id);
      await w.plan(id);
      const link = await w.approvalLink(id, example('register.json').riskOwner);
      const res = await w.decide(link, 'reject', 'Add the data provenance of the training CVs.');
      if (res.statusCode !== 200) throw new Error(`reject: ${res.statusCode} ${res.body}`);
      await w.until(id, (v) => v.stage === 'impact_assessment', 'back to impact assessment');
      await w.assess(id);
      await w.evidence(id);
      await w.plan(id);
      await approveChain(w, id);
      await w.until(id, (v) => v.stage === 'fria_notification', 'FRIA notification step');
      await w.notifyAuthority(id);
      await w.until(id, (v) => v.stage === 'active', 'active');
      return { 'rejected-then-resubmitted': undefined };
    },
  },
  {
    name: 'reminder-delegation-new-version',
    systemId: 'replay-delegation',
    description: 'an approval reminder timer, a delegation to a deputy, then a new model version approved again',
    async run(t, w, id) {
      const riskOwner: string = example('register.json').riskOwner;
      await w.register(id);
      await w.assess(id);
      await w.evidence(id);
      await w.plan(id);
      const requested = await w.until(id, (v) => v.pendingApproval?.step === 1, 'the first approval request');
      await sleepUntil(t, Date.parse(requested.pendingApproval.requestedAt) + 2 * DAY + HOUR);
      await w.until(id, (v) => v.pendingApproval?.remindersSent === 1, 'the approval reminder');
      const link = await w.approvalLink(id, riskOwner);
      const page = await t.api.inject({ method: 'GET', url: pathOf(link) });
      const res = await t.api.inject({
        method: 'POST',
        url: `${pathOf(link)}/delegate`,
        payload: new URLSearchParams({
          deputy: 'deputy-hr@example.org',
          reason: 'On leave this week.',
          csrf: csrfFrom(page.body),
        }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      if (res.statusCode !== 200) throw new Error(`delegate: ${res.statusCode} ${res.body}`);
      await w.until(id, (v) => v.pendingApproval?.approver === 'deputy-hr@example.org', 'the deputy request');
      await approveChain(w, id);
      await w.notifyAuthority(id);
      await w.until(id, (v) => v.stage === 'active', 'active');
      await w.call('POST', w.sys(id, '/versions'), example('new-version.json'), 202);
      await w.until(id, (v) => v.stage === 'bias_testing', 'bias testing for the new version');
      await w.evidence(id, { ...example('bias-evidence.json'), modelVersion: example('new-version.json').version });
      await approveChain(w, id);
      await w.until(id, (v) => v.stage === 'active' && v.model.version === '2.4.0', 'active on the new version');
      return { 'reminder-delegation-new-version': undefined };
    },
  },
  {
    name: 'review-cycle',
    systemId: 'replay-review',
    description:
      'active, the review reminder and due timers, a review signed off, continue-as-new (first run); the next run up to its review reminder',
    async run(t, w, id) {
      const { view } = await w.toActive(id);
      const firstRunId = (await handleFor(t, id).describe()).runId;
      await sleepUntil(t, Date.parse(view.reviewDueAt) + HOUR);
      await w.until(id, (v) => v.stage === 'review_due', 'the review to fall due');
      await w.call('POST', w.sys(id, '/reviews'), example('review.json'), 202);
      await approveChain(w, id);
      await waitForStatus(t, id, firstRunId, 'CONTINUED_AS_NEW');
      await w.until(id, (v) => v.cycle === 1 && v.stage === 'active', 'cycle 1');
      const secondRunId = (await handleFor(t, id).describe()).runId;
      if (secondRunId === firstRunId) throw new Error('no new run after the review');
      // The next run resumes from the carried-over state: let its first timer fire (the review reminder).
      const next = await w.view(id);
      const remindAt = Date.parse(next.reviewDueAt) - durationMs(t.policy.reviews.remindBefore);
      const upcoming = (m: MailboxMessage) =>
        m.headers['x-ai-system'] === id && m.subject.startsWith('Periodic review coming up');
      const before = t.mailbox.messages().filter(upcoming).length;
      await sleepUntil(t, remindAt + HOUR);
      const deadline = Date.now() + 20_000;
      while (t.mailbox.messages().filter(upcoming).length === before) {
        if (Date.now() > deadline) throw new Error('no review reminder in the next run');
        await new Promise((r) => setTimeout(r, 100));
      }
      return { 'review-cycle': firstRunId, 'review-cycle-next-run': secondRunId };
    },
  },
  {
    name: 'incident-then-retired',
    systemId: 'replay-retired',
    description:
      'active, a serious incident (immediate review), the corrective action closed, retirement: the workflow completes',
    async run(t, w, id) {
      await w.toActive(id);
      const incident = (await w.call('POST', w.sys(id, '/incidents'), example('incident.json'), 201)).json();
      await w.until(id, (v) => v.stage === 'review_due', 'the immediate review');
      await w.call('POST', w.sys(id, `/incidents/${incident.incidentId}/close`), example('incident-close.json'), 200);
      await w.call('POST', w.sys(id, '/retire'), example('retire.json'), 200);
      await handleFor(t, id).result();
      return { 'incident-then-retired': undefined };
    },
  },
];

const only = process.argv.slice(2);
const unknown = only.filter((n) => !scenarios.some((s) => s.name === n));
if (unknown.length)
  throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`);

const t = await startLifecycleEnv();
const w = walker(t);
await mkdir(outDir, { recursive: true });
try {
  for (const scenario of scenarios.filter((s) => only.length === 0 || only.includes(s.name))) {
    const started = Date.now();
    console.log(`${scenario.name}: ${scenario.description}`);
    const runs = await scenario.run(t, w, scenario.systemId);
    for (const [name, runId] of Object.entries(runs)) {
      await settled(t, scenario.systemId, runId);
      const history = await handleFor(t, scenario.systemId, runId).fetchHistory();
      // One event per line: compact, and a re-recording still shows as a readable diff.
      const { events } = JSON.parse(historyJSON(history)) as { events: unknown[] };
      const json = `{"events":[\n${events.map((e) => JSON.stringify(e)).join(',\n')}\n]}\n`;
      const file = `${outDir}${name}.json`;
      await writeFile(file, json);
      console.log(
        `${name}: ${history.events?.length ?? 0} events, ${(json.length / 1024).toFixed(0)} KB (${Date.now() - started} ms)`,
      );
    }
  }
} finally {
  await t.close();
}
