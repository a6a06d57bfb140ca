/**
 * `npm run bench -- lifecycle` (issue 12): on the embedded product (bench/product.ts),
 * - throughput: N systems at once from registration to active through the API and the e-mailed approval links,
 *   against N runs of the minimal workflow (bench/minimal-workflow.ts) that takes the same inputs and sends the same
 *   e-mails at the same points and nothing else, on the same Temporal server; a system counts as done once it is
 *   active and every e-mail it sent on the way has reached the dev mailbox;
 * - cost: actions, events and workflow tasks from registration to active, and for one periodic review, counted
 *   (bench/actions.ts) from the histories of the systems this run drove, beside the necessary count: the start, one
 *   per human input, one per e-mail (counted at the SMTP server), one per change of the stage users see.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { workflowIdFor } from '../domain/system.js';
import {
  addCounts,
  countActions,
  inputKinds,
  mailsPerInput,
  productMails,
  necessaryActions,
  type ActionCount,
  type Necessary,
} from './actions.js';
import {
  approveNext,
  drive,
  example,
  mailsAbout,
  mailsArrived,
  stageChanges,
  type Drive,
  type Input,
} from './drive.js';
import { startMinimal, type MinimalInputs } from './minimal.js';
import { sharedProduct, until, type Product } from './product.js';
import { median, renderSection, round, type Figure, timed } from './report.js';
import { BenchError, type Section, type SectionContext, type Target } from './section.js';

type History = proto.temporal.api.history.v1.IHistory;

const SIZES = { quick: { systems: 10, reviews: 1 }, full: { systems: 50, reviews: 3 } };
const WARM_UP = 2;
const TARGET = { throughputRatio: 0.8, actionsRatio: 1.2 };

/**
 * Waits until a run has no activity in flight and no workflow task pending: its history has caught up. Asks the
 * service itself (the SDK's describe() would decode the memo, which the product encrypts).
 */
export async function settled(client: Client, workflowId: string, runId?: string): Promise<string> {
  return until(
    `${workflowId} to settle`,
    async () => {
      const d = await client.workflowService.describeWorkflowExecution({
        namespace: client.options.namespace,
        execution: { workflowId, runId },
      });
      const busy = (d.pendingActivities?.length ?? 0) > 0 || !!d.pendingWorkflowTask;
      return busy ? undefined : (d.workflowExecutionInfo?.execution?.runId ?? undefined);
    },
    120_000,
    undefined,
    100,
  );
}

/** The run a workflow id names now (the latest). */
async function currentRun(client: Client, workflowId: string): Promise<string | undefined> {
  const d = await client.workflowService.describeWorkflowExecution({
    namespace: client.options.namespace,
    execution: { workflowId },
  });
  return d.workflowExecutionInfo?.execution?.runId ?? undefined;
}

async function history(client: Client, workflowId: string, runId: string): Promise<History> {
  return client.workflow.getHandle(workflowId, runId).fetchHistory();
}

interface Cost {
  count: ActionCount;
  necessary: Necessary;
}

/** What one drive to active cost: its history once settled, its inputs, the e-mails the mailbox got. */
async function costToActive(p: Product, d: Drive): Promise<Cost & { runId: string; history: History }> {
  const wid = workflowIdFor(d.id);
  const runId = await settled(p.client, wid);
  const h = await history(p.client, wid, runId);
  const count = countActions(h.events ?? []);
  if (count.updates + count.signals !== d.inputs.length) {
    throw new BenchError(`${d.id}: ${d.inputs.length} inputs sent, ${count.updates + count.signals} in its history`);
  }
  const necessary = {
    starts: 1,
    humanInputs: d.inputs.length,
    emails: mailsAbout(p, d.id).length,
    stageChanges: stageChanges(d.initialStage, d.inputs),
  };
  return { count, necessary, runId, history: h };
}

/** The minimal workflow's inputs, copied from a product lifecycle's history and drive. */
function minimalInputsOf(p: Product, d: Drive, h: History): MinimalInputs {
  const events = h.events ?? [];
  const mails = mailsPerInput(events, productMails);
  const kinds = inputKinds(events);
  const received = mailsAbout(p, d.id).length;
  const sent = mails.reduce((a, b) => a + b, 0);
  if (sent !== received) {
    throw new BenchError(
      `${d.id}: its history's activities show ${sent} e-mails but the mailbox got ${received}; ` +
        'has the product changed how it sends mail? (bench/actions.ts productMails)',
    );
  }
  if (kinds.length !== d.inputs.length) throw new BenchError(`${d.id}: inputs and history disagree`);
  return { kinds, waits: d.inputs.map((i: Input) => i.waitedForMail), mails };
}

/** A periodic review of an active system (examples/review.json) through its sign-off, to the next run. */
async function reviewCost(p: Product, d: Drive, activeRunId: string, atActive: History): Promise<Cost> {
  const wid = workflowIdFor(d.id);
  const mailsBefore = mailsAbout(p, d.id).length;
  const review: Drive = { ...d, initialStage: 'active', inputs: [] };
  const res = await p.api('POST', `/api/v1/systems/${d.id}/reviews`, example('review.json'));
  if (res.status !== 202) throw new BenchError(`POST review of ${d.id}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  review.inputs.push({ what: '/reviews', waitedForMail: false, stage: res.json.stage });
  let stage: string = res.json.stage;
  while (stage === 'approval') stage = await approveNext(p, review, false);
  if (stage !== 'active') throw new BenchError(`${d.id}: the review ended in stage ${stage}`);
  const nextRunId = await until(
    `${d.id} to continue as new after its review`,
    async () => {
      const run = await currentRun(p.client, wid);
      return run && run !== activeRunId ? run : undefined;
    },
    120_000,
  );
  await settled(p.client, wid, nextRunId);
  const whole = await history(p.client, wid, activeRunId);
  const next = await history(p.client, wid, nextRunId);
  const tail = (whole.events ?? []).slice((atActive.events ?? []).length);
  return {
    count: addCounts([countActions(tail), countActions(next.events ?? [])]),
    necessary: {
      starts: 1,
      humanInputs: review.inputs.length,
      emails: mailsAbout(p, d.id).length - mailsBefore,
      stageChanges: stageChanges('active', review.inputs),
    },
  };
}

/** The cost whose action count is the median (the runs differ only by timing: timers cancelled or not). */
function medianCost<T extends Cost>(costs: T[]): T {
  const sorted = [...costs].sort((a, b) => a.count.actions - b.count.actions);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

export async function runLifecycle(ctx: SectionContext) {
  const size = ctx.quick ? SIZES.quick : SIZES.full;
  const n = ctx.rows?.[0] ?? size.systems;
  const reviews = Math.min(n, ctx.rows ? 1 : size.reviews);
  const p = await sharedProduct(ctx.log);
  const minimal = await startMinimal(p);
  try {
    // Warm-up (the worker's first workflow tasks, the JIT); its first system's history is the minimal's plan.
    ctx.log(`lifecycle: warm-up, ${WARM_UP} product lifecycles and ${WARM_UP} minimal ones`);
    const warm = await Promise.all(Array.from({ length: WARM_UP }, (_, i) => drive(p, `lc-warm-${i + 1}`)));
    const calibration = warm[0]!;
    const calibrated = await costToActive(p, calibration);
    const inputs = minimalInputsOf(p, calibration, calibrated.history);
    const emails = inputs.mails.reduce((a, b) => a + b, 0);
    await Promise.all(warm.map((w) => mailsArrived(p, w.id, emails)));
    await Promise.all(Array.from({ length: WARM_UP }, (_, i) => minimal.run(`mw-warm-${i + 1}`, inputs)));

    // The yardstick first, so that the product runs on the fuller database, never the other way round.
    ctx.log(`lifecycle: ${n} minimal workflows at once (${inputs.kinds.length} inputs, ${emails} e-mails each)`);
    const m0 = performance.now();
    const mins = await Promise.all(Array.from({ length: n }, (_, i) => minimal.run(`mw-${i + 1}`, inputs)));
    const minimalSeconds = (Math.max(...mins.map((r) => r.doneAt)) - m0) / 1000;

    ctx.log(`lifecycle: ${n} product lifecycles at once, registration to active`);
    const t0 = performance.now();
    const drives = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const id = `lc-${i + 1}`;
        const d = await drive(p, id);
        return { d, doneAt: await mailsArrived(p, id, emails) };
      }),
    );
    const productSeconds = (Math.max(...drives.map((r) => r.doneAt)) - t0) / 1000;

    ctx.log('lifecycle: counting the histories');
    const costs = [];
    for (const { d } of drives) costs.push({ d, ...(await costToActive(p, d)) });
    const typical = medianCost(costs);
    ctx.log(`lifecycle: ${reviews} periodic review(s) through their sign-off`);
    const reviewCosts = await Promise.all(costs.slice(0, reviews).map((c) => reviewCost(p, c.d, c.runId, c.history)));
    const typicalReview = medianCost(reviewCosts);

    const productRate = n / productSeconds;
    const minimalRate = n / minimalSeconds;
    const necessary = necessaryActions(typical.necessary);
    const necessaryReview = necessaryActions(typicalReview.necessary);
    const actionsAll = costs.map((c) => c.count.actions);
    return {
      systems: n,
      concurrency: n,
      throughput_ratio: round(productRate / minimalRate, 3),
      product_systems_per_s: round(productRate, 3),
      minimal_systems_per_s: round(minimalRate, 3),
      product_seconds: round(productSeconds, 2),
      minimal_seconds: round(minimalSeconds, 2),
      product_median_lifecycle_s: round(median(drives.map((r) => (r.doneAt - r.d.startedAt) / 1000)), 2),
      minimal_median_lifecycle_s: round(median(mins.map((r) => (r.doneAt - r.startedAt) / 1000)), 2),
      inputs_per_lifecycle: inputs.kinds.length,
      updates_per_lifecycle: inputs.kinds.filter((k) => k === 'update').length,
      signals_per_lifecycle: inputs.kinds.filter((k) => k === 'signal').length,
      emails_per_lifecycle: emails,
      minimal_mails_per_step: inputs.mails,
      actions_to_active: typical.count.actions,
      actions_to_active_min: Math.min(...actionsAll),
      actions_to_active_max: Math.max(...actionsAll),
      events_to_active: typical.count.events,
      workflow_tasks_to_active: typical.count.workflowTasks,
      necessary_to_active: necessary,
      actions_ratio: round(typical.count.actions / necessary, 3),
      actions_breakdown_to_active: typical.count,
      necessary_breakdown_to_active: typical.necessary,
      reviews: reviews,
      actions_per_review: typicalReview.count.actions,
      events_per_review: typicalReview.count.events,
      workflow_tasks_per_review: typicalReview.count.workflowTasks,
      necessary_per_review: necessaryReview,
      review_actions_ratio: round(typicalReview.count.actions / necessaryReview, 3),
      actions_breakdown_per_review: typicalReview.count,
      necessary_breakdown_per_review: typicalReview.necessary,
      not_counted:
        'queries (each GET of a system and each approval page asks the workflow), rejected updates, heartbeats',
    };
  } finally {
    await minimal.stop();
  }
}

export type LifecycleFigures = Awaited<ReturnType<typeof runLifecycle>>;

export function lifecycleTargets(f: LifecycleFigures): Target[] {
  return [
    {
      name: 'throughput_ratio',
      description: `throughput at least ${TARGET.throughputRatio}× the minimal workflow's (systems/s, ${f.systems} at once)`,
      rows: f.systems,
      value: f.throughput_ratio,
      limit: TARGET.throughputRatio,
      met: f.throughput_ratio >= TARGET.throughputRatio,
    },
    {
      name: 'actions_ratio',
      description: `actions to active at most ${TARGET.actionsRatio}× the necessary count (${f.actions_to_active} / ${f.necessary_to_active})`,
      rows: null,
      value: f.actions_ratio,
      limit: TARGET.actionsRatio,
      met: f.actions_ratio <= TARGET.actionsRatio,
    },
  ];
}

export function renderLifecycle(f: LifecycleFigures, targets: Target[]): string {
  const b = f.actions_breakdown_to_active;
  const figures: Figure[] = [
    {
      key: 'lifecycle.throughput_ratio',
      value: f.throughput_ratio,
      what: "the product's systems/s over the minimal workflow's",
    },
    {
      key: 'lifecycle.product_systems_per_s',
      value: f.product_systems_per_s,
      unit: '/s',
      what: `${f.systems} systems at once, registration to active (${f.product_seconds} s)`,
    },
    {
      key: 'lifecycle.minimal_systems_per_s',
      value: f.minimal_systems_per_s,
      unit: '/s',
      what: `${f.systems} minimal workflows at once: ${f.updates_per_lifecycle} updates, ${f.signals_per_lifecycle} signals, ${f.emails_per_lifecycle} e-mails (${f.minimal_seconds} s)`,
    },
    {
      key: 'lifecycle.actions_to_active',
      value: f.actions_to_active,
      what: `billable actions in the history, median of ${f.systems} (${f.actions_to_active_min}–${f.actions_to_active_max})`,
    },
    {
      key: 'lifecycle.necessary_to_active',
      value: f.necessary_to_active,
      what: necessaryText(f.necessary_breakdown_to_active),
    },
    { key: 'lifecycle.actions_ratio', value: f.actions_ratio, what: 'actions to active over the necessary count' },
    {
      key: 'lifecycle.events_to_active',
      value: f.events_to_active,
      what: `history events (${f.workflow_tasks_to_active} workflow tasks)`,
    },
    {
      key: 'lifecycle.actions_per_review',
      value: f.actions_per_review,
      what: `one periodic review to the next run, median of ${f.reviews} (necessary ${f.necessary_per_review}: ${necessaryText(f.necessary_breakdown_per_review)})`,
    },
    {
      key: 'lifecycle.events_per_review',
      value: f.events_per_review,
      what: `history events (${f.workflow_tasks_per_review} workflow tasks)`,
    },
  ];
  return renderSection(
    'lifecycle: the embedded product against a minimal workflow on the same Temporal server',
    figures,
    targets,
    [
      `actions to active: ${b.starts} start, ${b.updates} updates, ${b.signals} signals, ${b.activities} activities` +
        ` (+${b.activityRetries} retries), ${b.localActivityTasks} local-activity tasks, ${b.timers} timers,` +
        ` ${b.searchAttributeUpserts} search-attribute upserts; not actions: ${b.memoUpserts} memo upserts,` +
        ` ${b.changeVersionUpserts} TemporalChangeVersion upserts`,
      `not counted (no history shows them): ${f.not_counted}`,
    ],
  );
}

function necessaryText(n: Necessary): string {
  return `${n.starts} start + ${n.humanInputs} inputs + ${n.emails} e-mails + ${n.stageChanges} stage changes`;
}

export const lifecycleSection: Section = timed({
  name: 'lifecycle',
  summary: 'systems/s to active against a minimal workflow, and actions per lifecycle (quick: 10 systems)',
  async run(ctx) {
    const f = await runLifecycle(ctx);
    const targets = lifecycleTargets(f);
    return { json: f, targets, text: renderLifecycle(f, targets) };
  },
});
