/**
 * `npm run bench -- views` (issue 12): the governance views over 10,000 registered systems (1,000 with --quick),
 * as the embedded admin reads them: the overdue list, the pending approvals, /api/v1/systems a page of 100 at a
 * time (each page from the previous one's token, from the first page again at the end), the dashboard page
 * (signed in) and /metrics. One request at a time, so each figure is the view's own time, not a queue's; each view
 * is asked until it has SAMPLES answers or its time budget is spent (at least MIN_SAMPLES). The registrations
 * themselves are timed too (bench/population.ts); the full run times the views once every registered lifecycle
 * has taken its first steps, --quick as soon as they are all registered (see population()).
 */
import { openLifecycles, population, type Population } from './population.js';
import { sharedProduct, type Product } from './product.js';
import { percentile, renderSection, round, type Figure, timed } from './report.js';
import { BenchError, type Section, type Target } from './section.js';

const SIZES = { quick: 1_000, full: 10_000 };
const BUDGET = {
  quick: { samples: 20, seconds: 3 },
  full: { samples: 50, seconds: 30 },
  /** --rows: a handful of systems, as the tests run it. */
  rows: { samples: 5, seconds: 2 },
};
const MIN_SAMPLES = 3;
const TARGET = { systems: 10_000, overdueP99Ms: 500 };

interface ViewTiming {
  samples: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** What the last answer held (items listed, or bytes of the page). */
  items: number;
}

async function timeView(
  what: string,
  budget: { samples: number; seconds: number },
  request: () => Promise<{ status: number; items: number }>,
): Promise<ViewTiming> {
  const times: number[] = [];
  let items = 0;
  const t0 = performance.now();
  while (
    times.length < budget.samples &&
    (times.length < MIN_SAMPLES || performance.now() - t0 < budget.seconds * 1000)
  ) {
    const sent = performance.now();
    const res = await request();
    times.push(performance.now() - sent);
    if (res.status !== 200) throw new BenchError(`${what}: HTTP ${res.status}`);
    items = res.items;
  }
  return {
    samples: times.length,
    p50_ms: round(percentile(times, 50), 1),
    p99_ms: round(percentile(times, 99), 1),
    max_ms: round(Math.max(...times), 1),
    items,
  };
}

async function measureViews(p: Product, budget: { samples: number; seconds: number }) {
  const admin = (path: string) => p.api('GET', path, undefined, p.adminKey);
  const overdue = await timeView('GET /api/v1/reviews/overdue', budget, async () => {
    const r = await admin('/api/v1/reviews/overdue');
    return { status: r.status, items: r.json?.reviews?.length ?? 0 };
  });
  const pending = await timeView('GET /api/v1/approvals/pending', budget, async () => {
    const r = await admin('/api/v1/approvals/pending');
    return { status: r.status, items: r.json?.approvals?.length ?? 0 };
  });
  let token: string | null = null;
  let walked = 0;
  let pages = 0;
  const systemsPage = await timeView('GET /api/v1/systems', budget, async () => {
    const r = await admin(`/api/v1/systems?pageSize=100${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`);
    token = r.json?.nextPageToken ?? null;
    walked += r.json?.systems?.length ?? 0;
    pages++;
    return { status: r.status, items: r.json?.systems?.length ?? 0 };
  });
  const dashboard = await timeView('GET /', budget, async () => {
    const res = await fetch(`${p.baseUrl}/`, {
      headers: { cookie: p.adminCookie },
      redirect: 'manual',
      signal: AbortSignal.timeout(300_000),
    });
    const body = await res.text();
    return { status: res.status, items: body.length };
  });
  const metrics = await timeView('GET /metrics', budget, async () => {
    const r = await admin('/metrics');
    return { status: r.status, items: r.text.length };
  });
  return { overdue, pending, systemsPage, dashboard, metrics, walked, pages };
}

/** How far the registrations' first steps had got: before the views were timed, and by the end of the section. */
function settledFigures(pop: Population, n: number) {
  const seconds = pop.settledSeconds();
  return {
    registration_settled_seconds: seconds,
    registrations_settled_per_s: seconds === null ? null : round(n / seconds, 1),
    views_waited_for_settled: pop.waitedForSettled,
    settled_when_views_timed: pop.settledAtOpen,
    settled_by_end: pop.settledCount(),
  };
}

export const viewsSection: Section = timed({
  name: 'views',
  summary: 'overdue list, pending list, /api/v1/systems paging and the dashboard over 10,000 systems (quick: 1,000)',
  async run(ctx) {
    const n = ctx.rows?.[0] ?? (ctx.quick ? SIZES.quick : SIZES.full);
    const budget = ctx.rows ? BUDGET.rows : ctx.quick ? BUDGET.quick : BUDGET.full;
    const p = await sharedProduct(ctx.log);
    const pop = await population(p, n, ctx.log, !ctx.quick || !!ctx.rows);
    const open = await openLifecycles(p);
    ctx.log(`views: ${open} lifecycles open; timing the views one request at a time`);
    const v = await measureViews(p, budget);
    const settled = settledFigures(pop, n);
    const json = {
      systems: n,
      open_lifecycles: open,
      registration_seconds: pop.seconds,
      registrations_per_s: pop.perSecond,
      registration_concurrency: pop.concurrency,
      registration_p50_ms: pop.p50Ms,
      registration_p99_ms: pop.p99Ms,
      ...settled,
      overdue_p50_ms: v.overdue.p50_ms,
      overdue_p99_ms: v.overdue.p99_ms,
      pending_p50_ms: v.pending.p50_ms,
      pending_p99_ms: v.pending.p99_ms,
      systems_page_p50_ms: v.systemsPage.p50_ms,
      systems_page_p99_ms: v.systemsPage.p99_ms,
      dashboard_p50_ms: v.dashboard.p50_ms,
      dashboard_p99_ms: v.dashboard.p99_ms,
      metrics_p50_ms: v.metrics.p50_ms,
      metrics_p99_ms: v.metrics.p99_ms,
      detail: {
        overdue: v.overdue,
        pending: v.pending,
        systems_page: { ...v.systemsPage, page_size: 100, pages: v.pages, systems_walked: v.walked },
        dashboard: { ...v.dashboard, items: undefined, bytes: v.dashboard.items },
        metrics: { ...v.metrics, items: undefined, bytes: v.metrics.items },
      },
    };
    const judged = n >= TARGET.systems;
    const targets: Target[] = [
      {
        name: 'overdue_p99_ms',
        description: `overdue list over ${TARGET.systems.toLocaleString('en-US')} systems p99 under ${TARGET.overdueP99Ms} ms`,
        rows: TARGET.systems,
        value: json.overdue_p99_ms,
        limit: TARGET.overdueP99Ms,
        met: judged ? json.overdue_p99_ms < TARGET.overdueP99Ms : null,
        ...(judged
          ? {}
          : {
              note: `judged at ${TARGET.systems.toLocaleString('en-US')} systems; this run had ${n.toLocaleString('en-US')}`,
            }),
      },
    ];
    const ms = (t: ViewTiming, what: string) => `${what} (${t.samples} requests, one at a time)`;
    const figures: Figure[] = [
      {
        key: 'views.registrations_per_s',
        value: pop.perSecond,
        unit: '/s',
        what: `${n.toLocaleString('en-US')} registrations, ${pop.concurrency} at once, in ${pop.seconds} s (p50 ${pop.p50Ms} ms, p99 ${pop.p99Ms} ms)`,
      },
      {
        key: 'views.overdue_p50_ms',
        value: v.overdue.p50_ms,
        unit: 'ms',
        what: ms(v.overdue, `GET /api/v1/reviews/overdue, ${v.overdue.items} listed`),
      },
      { key: 'views.overdue_p99_ms', value: v.overdue.p99_ms, unit: 'ms', what: '' },
      {
        key: 'views.pending_p50_ms',
        value: v.pending.p50_ms,
        unit: 'ms',
        what: ms(v.pending, `GET /api/v1/approvals/pending, ${v.pending.items} listed`),
      },
      { key: 'views.pending_p99_ms', value: v.pending.p99_ms, unit: 'ms', what: '' },
      {
        key: 'views.systems_page_p50_ms',
        value: v.systemsPage.p50_ms,
        unit: 'ms',
        what: ms(v.systemsPage, `GET /api/v1/systems?pageSize=100, ${v.walked} systems over ${v.pages} pages`),
      },
      { key: 'views.systems_page_p99_ms', value: v.systemsPage.p99_ms, unit: 'ms', what: '' },
      {
        key: 'views.dashboard_p50_ms',
        value: v.dashboard.p50_ms,
        unit: 'ms',
        what: ms(v.dashboard, `GET / signed in, ${Math.round(v.dashboard.items / 1024)} KB`),
      },
      { key: 'views.dashboard_p99_ms', value: v.dashboard.p99_ms, unit: 'ms', what: '' },
      { key: 'views.metrics_p50_ms', value: v.metrics.p50_ms, unit: 'ms', what: ms(v.metrics, 'GET /metrics') },
      { key: 'views.metrics_p99_ms', value: v.metrics.p99_ms, unit: 'ms', what: '' },
    ];
    const text = renderSection(
      `views: governance views with ${n.toLocaleString('en-US')} registered systems (${open.toLocaleString('en-US')} lifecycles open)`,
      figures,
      targets,
      pop.waitedForSettled
        ? []
        : [
            `--quick times the views without waiting for the registrations' first steps: ${settled.settled_when_views_timed} ` +
              `of ${n} had settled when the timing began, ${settled.settled_by_end} by its end (the full run waits for all)`,
          ],
    );
    return { json, targets, text };
  },
});
