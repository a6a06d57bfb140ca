/**
 * The registered systems the views and worker sections measure over: N registrations through the API (the AI
 * team's key, the README's registration body under N ids), CONCURRENCY at a time, each one starting a lifecycle
 * that stays open, waiting for its impact assessment. Made once per run and shared, timed as it goes.
 */
import { arrivals, registrationFor } from './drive.js';
import type { Product } from './product.js';
import { until } from './product.js';
import { percentile, round } from './report.js';
import { BenchError } from './section.js';

/**
 * Registrations in flight at once. Measured on 2 vCPUs with other work on the machine (load 7 to 9), 150
 * registrations each: 4, 8 and 16 at once were answered at 12–19, 16–21 and 20–26 per second, and all of them
 * settled (see Population.settledPerSecond) at 4–8 per second, whatever the concurrency: the lifecycles' first steps
 * behind each answer (a workflow task, the records, the first e-mail) are the limit, not the API. More at once only
 * lengthens the queue behind the answers.
 */
export const CONCURRENCY = 8;

export interface Population {
  systems: number;
  concurrency: number;
  /** Until the API had answered every registration (201). */
  seconds: number;
  perSecond: number;
  /**
   * How many lifecycles have settled so far: started, and their first e-mail (the owner's request for the impact
   * assessment) delivered, the records behind it written; and how long all of them took, once they have.
   */
  settledCount(): number;
  settledSeconds(): number | null;
  /** Whether the views were kept waiting until every lifecycle had settled (see population()). */
  waitedForSettled: boolean;
  p50Ms: number;
  p99Ms: number;
  /** The product's resident memory before the first registration, and when all were open (MB). */
  rssBeforeMb: number | null;
  rssOpenMb: number | null;
  /** performance.now() once every lifecycle was registered and listed by visibility (and settled, if waited for). */
  openAt: number;
  /** Lifecycles settled at openAt. */
  settledAtOpen: number;
}

let made: { n: number; population: Promise<Population> } | undefined;

/**
 * The population of `n` registered systems, registered now if this run has not yet. With `waitForSettled` it is
 * ready once every lifecycle has settled, so that the views are not timed against a backlog of first steps (what the
 * full run does, whose figures the targets judge); without, once the API has answered them all and visibility lists
 * them (--quick: 1,000 settling takes the product about 100 s on 2 vCPUs, more than the rest of the quick run).
 */
export function population(
  p: Product,
  n: number,
  log: (m: string) => void,
  waitForSettled: boolean,
): Promise<Population> {
  if (made && made.n !== n) throw new BenchError(`population of ${made.n} systems made; ${n} asked for`);
  made ??= { n, population: register(p, n, log, waitForSettled) };
  return made.population;
}

/** Lifecycles of systems the API registered, running now (the shared ones and any other section's). */
export async function openLifecycles(p: Product): Promise<number> {
  const { count } = await p.client.workflow.count('WorkflowType = "aiSystemLifecycle" AND ExecutionStatus = "Running"');
  return count;
}

async function register(p: Product, n: number, log: (m: string) => void, waitForSettled: boolean): Promise<Population> {
  const rssBeforeMb = p.memory()?.rssMb ?? null;
  const openBefore = await openLifecycles(p);
  const latencies: number[] = [];
  let next = 0;
  // Every registration sends its owner one e-mail once its first records are written: counted as they arrive.
  const settled = new Set<string>();
  let settledAt: number | null = null;
  const t0 = performance.now();
  const allSettled = arrivals(
    p,
    (m) => /^v-\d+$/.test(m.headers['x-ai-system'] ?? '') && !!settled.add(m.id),
    n,
    `${n} registrations' e-mails`,
  ).then((at) => {
    settledAt = at;
    log(
      `views: ${n} lifecycles settled in ${((at - t0) / 1000).toFixed(1)} s (${((n * 1000) / (at - t0)).toFixed(1)}/s)`,
    );
  });
  allSettled.catch(() => undefined);
  let lastLog = t0;
  const workers = Array.from({ length: Math.min(CONCURRENCY, n) }, async () => {
    while (next < n) {
      const i = ++next;
      const sent = performance.now();
      const res = await p.api('POST', '/api/v1/systems', registrationFor(`v-${i}`));
      latencies.push(performance.now() - sent);
      if (res.status !== 201) throw new BenchError(`register v-${i}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
      if (performance.now() - lastLog > 10_000) {
        lastLog = performance.now();
        log(
          `views: ${latencies.length} of ${n} registered (${Math.round((latencies.length * 1000) / (lastLog - t0))}/s)`,
        );
      }
    }
  });
  await Promise.all(workers);
  const seconds = (performance.now() - t0) / 1000;
  log(
    `views: ${n} systems registered in ${seconds.toFixed(1)} s (${Math.round(n / seconds)}/s, ${CONCURRENCY} at once)`,
  );
  if (waitForSettled) await allSettled;
  await until(
    `the visibility store to list all ${n} new lifecycles`,
    async () => ((await openLifecycles(p)) >= openBefore + n ? true : undefined),
    300_000,
    undefined,
    500,
  );
  const openAt = performance.now();
  return {
    systems: n,
    concurrency: CONCURRENCY,
    seconds: round(seconds, 2),
    perSecond: round(n / seconds, 1),
    settledCount: () => settled.size,
    settledSeconds: () => (settledAt === null ? null : round((settledAt - t0) / 1000, 2)),
    waitedForSettled: waitForSettled,
    settledAtOpen: settled.size,
    p50Ms: round(percentile(latencies, 50), 1),
    p99Ms: round(percentile(latencies, 99), 1),
    rssBeforeMb: rssBeforeMb === null ? null : round(rssBeforeMb, 1),
    rssOpenMb: p.memory() ? round(p.memory()!.rssMb, 1) : null,
    openAt,
  };
}
