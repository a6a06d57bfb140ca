/**
 * `npm run bench -- lifecycle approval views worker --rows 3 --json`: the real dispatcher starting the real embedded
 * product (Temporal dev server, worker, API, PGlite) and its own dev mailbox, at the smallest size. One JSON object
 * on stdout, of the documented shape, whose figures agree with each other: the actions counted from the histories
 * are at least the necessary count, which adds up from its parts; the minimal workflow got the product's inputs
 * and e-mails; the percentiles are ordered; the registered systems are open lifecycles; the size-bound targets
 * are not judged at this size.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { PROJECT_ROOT } from './support/product-process.js';

const MAIN = join(PROJECT_ROOT, 'bench', 'main.ts');
const SYSTEMS = 3;

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'bench-lifecycle-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const positive = z.number().positive();
const count = z.number().int().nonnegative();
const breakdown = z.object({
  events: positive,
  workflowTasks: positive,
  actions: positive,
  starts: count,
  signals: count,
  updates: count,
  timers: count,
  searchAttributeUpserts: count,
  activities: count,
  activityRetries: count,
  localActivityTasks: count,
  childWorkflows: count,
  memoUpserts: count,
  changeVersionUpserts: count,
  localActivities: count,
});
const necessary = z.object({ starts: z.literal(1), humanInputs: positive, emails: positive, stageChanges: positive });
const target = z.object({
  name: z.string(),
  description: z.string(),
  rows: z.number().nullable(),
  value: z.number().nullable(),
  limit: z.number(),
  met: z.boolean().nullable(),
  note: z.string().optional(),
});
const output = z.object({
  machine: z.object({ cpus: positive, memory_mb: positive, node: z.string(), load_average: z.array(z.number()) }),
  lifecycle: z.object({
    systems: z.literal(SYSTEMS),
    throughput_ratio: positive,
    product_systems_per_s: positive,
    minimal_systems_per_s: positive,
    updates_per_lifecycle: positive,
    signals_per_lifecycle: count,
    emails_per_lifecycle: positive,
    minimal_mails_per_step: z.array(count),
    actions_to_active: positive,
    actions_to_active_min: positive,
    actions_to_active_max: positive,
    events_to_active: positive,
    workflow_tasks_to_active: positive,
    necessary_to_active: positive,
    actions_ratio: positive,
    actions_breakdown_to_active: breakdown,
    necessary_breakdown_to_active: necessary,
    reviews: z.literal(1),
    actions_per_review: positive,
    events_per_review: positive,
    necessary_per_review: positive,
    actions_breakdown_per_review: breakdown,
    necessary_breakdown_per_review: necessary,
  }),
  approval: z.object({
    concurrent: z.literal(SYSTEMS),
    samples: positive,
    visible_p50_ms: positive,
    visible_p99_ms: positive,
    visible_max_ms: positive,
    view_errors: count,
  }),
  views: z.object({
    systems: z.literal(SYSTEMS),
    open_lifecycles: positive,
    registrations_per_s: positive,
    registrations_settled_per_s: positive,
    views_waited_for_settled: z.literal(true),
    settled_when_views_timed: z.literal(SYSTEMS),
    settled_by_end: z.literal(SYSTEMS),
    registration_p50_ms: positive,
    registration_p99_ms: positive,
    overdue_p50_ms: positive,
    overdue_p99_ms: positive,
    pending_p50_ms: positive,
    pending_p99_ms: positive,
    systems_page_p50_ms: positive,
    systems_page_p99_ms: positive,
    dashboard_p50_ms: positive,
    dashboard_p99_ms: positive,
    detail: z.object({ systems_page: z.object({ systems_walked: positive, pages: positive }) }),
  }),
  worker: z.object({
    systems: z.literal(SYSTEMS),
    open_lifecycles: positive,
    peak_rss_mb: positive,
    process_peak_rss_mb: positive,
    rss_when_open_mb: positive,
    samples: positive,
  }),
  targets: z.object({
    lifecycle: z.array(target).length(2),
    approval: z.array(target).length(1),
    views: z.array(target).length(1),
    worker: z.array(target).length(1),
  }),
});

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      {
        cwd: PROJECT_ROOT,
        env: { ...process.env, BENCH_DATA_DIR: dataDir },
        timeout: 240_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        if (typeof code !== 'number') reject(new Error(`bench did not exit normally: ${err?.message}\n${stderr}`));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

it('runs the product sections at the smallest size as one JSON object whose figures agree', async () => {
  const run = await bench(['lifecycle', 'approval', 'views', 'worker', '--rows', String(SYSTEMS), '--json']);
  const tail = run.stderr.split('\n').slice(-40).join('\n');
  expect(run.code, tail).toBe(0);
  // Exactly one object: the whole of stdout parses, progress went to stderr.
  const parsed = output.safeParse(JSON.parse(run.stdout));
  expect(parsed.error?.issues ?? [], run.stdout.slice(0, 2000)).toEqual([]);
  const { lifecycle: l, approval: a, views: v, worker: w, targets } = parsed.data!;
  expect(run.stderr).toContain('lifecycle: counting the histories');

  // Cost: counted from the histories, never less than what a lifecycle must do, and adding up.
  const b = l.actions_breakdown_to_active;
  expect(l.actions_to_active).toBe(b.actions);
  expect(b.actions).toBe(
    b.starts +
      b.signals +
      b.updates +
      b.timers +
      b.searchAttributeUpserts +
      b.activities +
      b.activityRetries +
      b.localActivityTasks +
      b.childWorkflows,
  );
  expect(b.starts).toBe(1);
  expect(l.actions_to_active).toBeGreaterThanOrEqual(l.necessary_to_active);
  expect(l.necessary_to_active).toBeGreaterThan(0);
  const n = l.necessary_breakdown_to_active;
  expect(l.necessary_to_active).toBe(n.starts + n.humanInputs + n.emails + n.stageChanges);
  // Every input the bench sent is in the history; every e-mail the history scheduled reached the SMTP server.
  expect(n.humanInputs).toBe(b.updates + b.signals);
  expect(n.humanInputs).toBe(l.updates_per_lifecycle + l.signals_per_lifecycle);
  expect(n.emails).toBe(l.emails_per_lifecycle);
  // A step's e-mails ride in its records activity (recordStep), so there may be fewer activities than e-mails; the
  // minimal workflow's e-mails, read from those activities' ids, add up to the mailbox's count (below).
  expect(b.activities).toBeGreaterThan(0);
  expect(n.stageChanges).toBeLessThanOrEqual(n.humanInputs);
  expect(l.events_to_active).toBe(b.events);
  expect(l.events_to_active).toBeGreaterThan(l.actions_to_active);
  expect(l.actions_ratio).toBeCloseTo(l.actions_to_active / l.necessary_to_active, 2);
  expect(l.actions_to_active_min).toBeLessThanOrEqual(l.actions_to_active);
  expect(l.actions_to_active_max).toBeGreaterThanOrEqual(l.actions_to_active);
  const r = l.actions_breakdown_per_review;
  expect(l.actions_per_review).toBe(r.actions);
  expect(l.actions_per_review).toBeGreaterThanOrEqual(l.necessary_per_review);
  const nr = l.necessary_breakdown_per_review;
  expect(l.necessary_per_review).toBe(nr.starts + nr.humanInputs + nr.emails + nr.stageChanges);
  // A review is the review and the chain's decisions, and the next run's start.
  expect(r.starts).toBe(1);
  expect(nr.humanInputs).toBe(r.updates + r.signals);

  // Throughput: the minimal workflow took the product's inputs and sent its e-mails.
  expect(l.minimal_mails_per_step).toHaveLength(l.updates_per_lifecycle + l.signals_per_lifecycle + 1);
  expect(l.minimal_mails_per_step.reduce((x, y) => x + y, 0)).toBe(l.emails_per_lifecycle);
  expect(l.throughput_ratio).toBeCloseTo(l.product_systems_per_s / l.minimal_systems_per_s, 2);

  // Approval: every click of every step of the chain timed, percentiles in order.
  expect(a.samples % SYSTEMS).toBe(0);
  expect(a.samples).toBeGreaterThanOrEqual(SYSTEMS);
  expect(a.visible_p50_ms).toBeLessThanOrEqual(a.visible_p99_ms);
  expect(a.visible_p99_ms).toBeLessThanOrEqual(a.visible_max_ms);

  // Views and worker: the registered systems are open lifecycles, with those the other sections drove.
  expect(v.open_lifecycles).toBeGreaterThanOrEqual(SYSTEMS);
  expect(w.open_lifecycles).toBe(v.open_lifecycles);
  expect(v.registrations_settled_per_s).toBeLessThanOrEqual(v.registrations_per_s);
  for (const [p50, p99] of [
    [v.overdue_p50_ms, v.overdue_p99_ms],
    [v.pending_p50_ms, v.pending_p99_ms],
    [v.systems_page_p50_ms, v.systems_page_p99_ms],
    [v.dashboard_p50_ms, v.dashboard_p99_ms],
  ]) {
    expect(p50).toBeLessThanOrEqual(p99!);
  }
  expect(v.detail.systems_page.systems_walked).toBeGreaterThanOrEqual(v.open_lifecycles);
  expect(w.peak_rss_mb).toBeGreaterThanOrEqual(w.rss_when_open_mb);
  expect(w.process_peak_rss_mb).toBeGreaterThanOrEqual(w.peak_rss_mb);

  // Targets: the ratios and the click are judged at any size, the views and memory only at 10,000 systems.
  expect(targets.lifecycle.map((t) => [t.name, typeof t.met])).toEqual([
    ['throughput_ratio', 'boolean'],
    ['actions_ratio', 'boolean'],
  ]);
  expect(targets.lifecycle[1]!.met).toBe(l.actions_ratio <= 1.2);
  expect(targets.approval[0]!.met).toBe(a.visible_p99_ms < 100);
  expect(targets.views[0]).toMatchObject({ name: 'overdue_p99_ms', met: null, value: v.overdue_p99_ms });
  expect(targets.worker[0]).toMatchObject({ name: 'peak_rss_mb', met: null, value: w.peak_rss_mb });
}, 300_000);
