/**
 * `npm run bench -- worker` (issue 12): the worker's memory while 10,000 lifecycles are open (1,000 with --quick):
 * the registered systems of bench/population.ts, each lifecycle waiting for its impact assessment. In the embedded
 * product the worker shares its process with the API, PGlite and the outbox, so the figure is that process's
 * resident memory (sampled every 250 ms from the moment the last lifecycle was open to the end of this section,
 * which holds HOLD_SECONDS; the views, when they ran in between, are inside that span): an upper bound of the
 * worker's own. The kernel's high-water mark over the whole run and the Temporal dev server's memory are beside it.
 */
import { openLifecycles, population } from './population.js';
import { processMemory, sharedProduct } from './product.js';
import { renderSection, round, timed } from './report.js';
import type { Section, Target } from './section.js';

const SIZES = { quick: 1_000, full: 10_000 };
const HOLD_SECONDS = { quick: 1, full: 10 };
const TARGET = { systems: 10_000, peakRssMb: 1024 };

export const workerSection: Section = timed({
  name: 'worker',
  summary: 'peak resident memory of the embedded worker with 10,000 open lifecycles (quick: 1,000)',
  async run(ctx) {
    const n = ctx.rows?.[0] ?? (ctx.quick ? SIZES.quick : SIZES.full);
    const p = await sharedProduct(ctx.log);
    const pop = await population(p, n, ctx.log, !ctx.quick || !!ctx.rows);
    const open = await openLifecycles(p);
    const hold = ctx.quick || ctx.rows ? HOLD_SECONDS.quick : HOLD_SECONDS.full;
    ctx.log(`worker: ${open} lifecycles open; sampling the product's memory for ${hold} s`);
    await new Promise((r) => setTimeout(r, hold * 1000));
    const whileOpen = p.rssSamples.filter((s) => s.at >= pop.openAt).map((s) => s.rssMb);
    const now = p.memory();
    if (now) whileOpen.push(now.rssMb);
    if (pop.rssOpenMb !== null) whileOpen.push(pop.rssOpenMb);
    const peak = Math.max(...whileOpen);
    const temporalPid = p.temporalPid();
    const temporal = temporalPid ? processMemory(temporalPid) : null;
    const perLifecycleKb =
      pop.rssBeforeMb !== null && pop.rssOpenMb !== null ? ((pop.rssOpenMb - pop.rssBeforeMb) * 1024) / n : null;
    const json = {
      systems: n,
      open_lifecycles: open,
      peak_rss_mb: round(peak, 1),
      rss_mb_now: now ? round(now.rssMb, 1) : null,
      rss_before_registrations_mb: pop.rssBeforeMb,
      rss_when_open_mb: pop.rssOpenMb,
      kb_per_open_lifecycle: perLifecycleKb === null ? null : round(perLifecycleKb, 1),
      process_peak_rss_mb: now ? round(now.peakRssMb, 1) : null,
      temporal_server_rss_mb: temporal ? round(temporal.rssMb, 1) : null,
      samples: whileOpen.length,
      /** Lifecycles past their first steps when sampling ended: --quick does not wait for them all (population()). */
      settled_lifecycles: pop.settledCount(),
      process: 'the embedded product (worker, API, PGlite in one process, as npm start runs them)',
    };
    const judged = n >= TARGET.systems;
    const targets: Target[] = [
      {
        name: 'peak_rss_mb',
        description: `worker memory with ${TARGET.systems.toLocaleString('en-US')} open lifecycles under ${TARGET.peakRssMb} MB`,
        rows: TARGET.systems,
        value: json.peak_rss_mb,
        limit: TARGET.peakRssMb,
        met: judged ? json.peak_rss_mb < TARGET.peakRssMb : null,
        ...(judged
          ? {}
          : { note: `judged at ${TARGET.systems.toLocaleString('en-US')}; this run had ${n.toLocaleString('en-US')}` }),
      },
    ];
    const text = renderSection(
      `worker: memory of the embedded product's process with ${open.toLocaleString('en-US')} lifecycles open`,
      [
        {
          key: 'worker.peak_rss_mb',
          value: json.peak_rss_mb,
          unit: 'MB',
          what: `peak resident memory while open (${json.samples} samples; worker, API and PGlite in one process)`,
        },
        {
          key: 'worker.kb_per_open_lifecycle',
          value: json.kb_per_open_lifecycle,
          unit: 'KB',
          what: `growth over the registrations, per lifecycle (${json.rss_before_registrations_mb} → ${json.rss_when_open_mb} MB)`,
        },
        {
          key: 'worker.process_peak_rss_mb',
          value: json.process_peak_rss_mb,
          unit: 'MB',
          what: "the kernel's high-water mark over the whole run (VmHWM)",
        },
        {
          key: 'worker.temporal_server_rss_mb',
          value: json.temporal_server_rss_mb,
          unit: 'MB',
          what: 'the Temporal dev server, for comparison',
        },
      ],
      targets,
      pop.settledCount() < n
        ? [
            `only ${pop.settledCount()} of the ${n} registered lifecycles had taken their first steps (--quick does not ` +
              'wait for them): the worker had not yet held them all, so this is less than their full cost',
          ]
        : [],
    );
    return { json, targets, text };
  },
});
