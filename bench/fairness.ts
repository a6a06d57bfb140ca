/**
 * `npm run bench -- fairness` (issue 10): our fairness engine against Fairlearn 0.15's MetricFrame on the same
 * generated predictions files (bench/fairness-data.ts), each side in its own process so that its wall time and
 * peak memory are its own:
 * - ours (bench/fairness-ours.ts): file → report with Wilson intervals, the policy's bootstrap and verdicts, as the
 *   computeFairness activity computes it, pinned to one core (taskset) where Linux allows, run OURS_RUNS times
 *   and the median run reported, since it takes seconds and the machine may be busy;
 * - Fairlearn (bench/fairness_metricframe.py): pandas.read_csv, one MetricFrame with the five rates over the
 *   intersection of both features, difference() and ratio(); no bootstrap. Run once: it takes minutes at 10M.
 * Rows/s come from the span each side times itself (file opened to results), which leaves out the interpreter's
 * start and imports; the process's whole wall time is reported beside it.
 *
 * Both must have computed the same thing: every rate of every intersectional group, and the intersection's
 * selection-rate difference and ratio, agree to 1e-9, or the run fails (checkAgreement).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { projectRoot } from '../embedded/temporal-binaries.js';
import { ensureFairlearn } from '../fairness-reference/ensure.js';
import { COLUMNS, ensureDataFile } from './fairness-data.js';
import { BenchError, type Section, type SectionContext, type Target } from './section.js';

export const FULL_SIZES = [1_000_000, 10_000_000];
export const QUICK_SIZES = [100_000, 1_000_000];
/** The sizes the targets name: the memory target compares the two. */
const SMALL = 1_000_000;
const LARGE = 10_000_000;
const OURS_RUNS = 3;
export const AGREEMENT_TOLERANCE = 1e-9;

const TARGET = { ratio: 50, rowsPerSecond: 2_000_000, peakRssMb: 200, rssGrowth: 1.2 };

const ROOT = projectRoot();
const OURS_SCRIPT = join(ROOT, 'bench', 'fairness-ours.ts');
const FAIRLEARN_SCRIPT = join(ROOT, 'bench', 'fairness_metricframe.py');

const rate = z.number().nullable();
const groupRates = z.record(z.string(), z.record(z.string(), rate));

/** What bench/fairness-ours.ts prints. */
export const oursResultSchema = z.object({
  rows: z.number().int(),
  seconds: z.number(),
  cpu_seconds: z.number(),
  peak_rss_mb: z.number(),
  resamples: z.number().int(),
  groups: z.number().int(),
  /** Per intersectional group (values joined by " × "): each rate's value, null where undefined. */
  rates: groupRates,
  selection_rate_difference: rate,
  selection_rate_ratio: rate,
  /** Across-group metrics with a bootstrap interval, and with a verdict. */
  intervals: z.number().int(),
  verdicts: z.number().int(),
  sha256: z.string(),
});
export type FairnessOursResult = z.infer<typeof oursResultSchema>;

/** What bench/fairness_metricframe.py prints. */
export const fairlearnResultSchema = z.object({
  fairlearn: z.string(),
  pandas: z.string(),
  rows: z.number().int(),
  seconds: z.number(),
  cpu_seconds: z.number(),
  peak_rss_mb: z.number(),
  groups: z.number().int(),
  rates: groupRates,
  difference: z.record(z.string(), z.number()),
  ratio: z.record(z.string(), z.number()),
});
export type FairlearnResult = z.infer<typeof fairlearnResultSchema>;

export interface Agreement {
  groups: number;
  values_compared: number;
  max_abs_diff: number;
}

/**
 * Whether both engines computed the same numbers: the same rows, the same intersectional groups, and each rate
 * our engine defines (Fairlearn reports 0 where ours reports undefined, the documented divergence) equal to
 * Fairlearn's within AGREEMENT_TOLERANCE, as are the selection rate's difference and ratio. Throws a BenchError
 * listing what differs.
 */
export function checkAgreement(ours: FairnessOursResult, fairlearn: FairlearnResult): Agreement {
  const problems: string[] = [];
  if (ours.rows !== fairlearn.rows) problems.push(`rows: ours ${ours.rows}, Fairlearn ${fairlearn.rows}`);
  const ourGroups = Object.keys(ours.rates).sort();
  const theirGroups = Object.keys(fairlearn.rates).sort();
  if (ourGroups.length === 0) problems.push('our engine reported no intersectional group');
  if (JSON.stringify(ourGroups) !== JSON.stringify(theirGroups)) {
    problems.push(`groups: ours ${JSON.stringify(ourGroups)}, Fairlearn ${JSON.stringify(theirGroups)}`);
  }
  let compared = 0;
  let max = 0;
  const compare = (what: string, a: number | null | undefined, b: number | null | undefined) => {
    if (typeof a !== 'number' || typeof b !== 'number' || !Number.isFinite(a) || !Number.isFinite(b)) {
      problems.push(`${what}: ours ${a}, Fairlearn ${b}`);
      return;
    }
    const d = Math.abs(a - b);
    compared++;
    max = Math.max(max, d);
    if (!(d <= AGREEMENT_TOLERANCE)) problems.push(`${what}: ours ${a}, Fairlearn ${b} (|Δ| ${d.toExponential(2)})`);
  };
  for (const group of ourGroups) {
    const theirs = fairlearn.rates[group];
    if (!theirs) continue;
    for (const [name, value] of Object.entries(ours.rates[group]!)) {
      if (name === 'selection_rate' || value !== null) compare(`${group} ${name}`, value, theirs[name]);
    }
  }
  compare('selection rate difference', ours.selection_rate_difference, fairlearn.difference.selection_rate);
  compare('selection rate ratio', ours.selection_rate_ratio, fairlearn.ratio.selection_rate);
  if (problems.length) {
    throw new BenchError(
      `our engine and Fairlearn disagree on ${problems.length} value(s), so the benchmark would not measure the ` +
        `same computation:\n  ${problems.slice(0, 20).join('\n  ')}`,
    );
  }
  return { groups: ourGroups.length, values_compared: compared, max_abs_diff: max };
}

interface ChildRun {
  stdout: string;
  /** From spawn to exit, as the parent saw it. */
  wallSeconds: number;
}

function runChild(what: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
    child.on('error', (err) => reject(new BenchError(`${what} could not start (${cmd}): ${err.message}`)));
    child.on('close', (code, signal) => {
      const wallSeconds = (performance.now() - started) / 1000;
      if (code === 0) resolve({ stdout, wallSeconds });
      else reject(new BenchError(`${what} failed (${signal ?? `exit ${code}`}):\n${stderr.trim()}`));
    });
  });
}

function parseLast<T>(what: string, schema: z.ZodType<T>, stdout: string): T {
  const line = stdout.trim().split('\n').pop() ?? '';
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new BenchError(`${what} printed no JSON object: ${JSON.stringify(stdout.slice(-500))}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new BenchError(`${what} printed an unexpected object: ${parsed.error.message}`);
  return parsed.data;
}

/** The last CPU this process may run on, for taskset; undefined where there is no taskset (not Linux). */
function oneCore(): string | undefined {
  if (process.platform !== 'linux' || !existsSync('/usr/bin/taskset')) return undefined;
  return String(availableParallelism() - 1);
}

const columnArgs = (file: string) => [
  file,
  '--label',
  COLUMNS.label,
  '--prediction',
  COLUMNS.prediction,
  '--sensitive',
  COLUMNS.sensitive.join(','),
];

export async function runOurs(file: string): Promise<FairnessOursResult & { wallSeconds: number }> {
  const node = [process.execPath, '--import', 'tsx', OURS_SCRIPT, ...columnArgs(file)];
  const core = oneCore();
  const [cmd, ...args] = core === undefined ? node : ['/usr/bin/taskset', '--cpu-list', core, ...node];
  const run = await runChild('our engine (bench/fairness-ours.ts)', cmd!, args);
  return { ...parseLast('bench/fairness-ours.ts', oursResultSchema, run.stdout), wallSeconds: run.wallSeconds };
}

export async function runFairlearn(file: string): Promise<FairlearnResult & { wallSeconds: number }> {
  const { python, env } = await ensureFairlearn();
  const run = await runChild(
    'Fairlearn (bench/fairness_metricframe.py)',
    python,
    [FAIRLEARN_SCRIPT, ...columnArgs(file)],
    env,
  );
  return {
    ...parseLast('bench/fairness_metricframe.py', fairlearnResultSchema, run.stdout),
    wallSeconds: run.wallSeconds,
  };
}

export interface FairnessSize {
  rows: number;
  file_mb: number;
  ours_rows_per_s: number;
  fairlearn_rows_per_s: number;
  /** ours_rows_per_s / fairlearn_rows_per_s. */
  ratio: number;
  /** fairlearn_cpu_seconds / ours_cpu_seconds: the ratio with what else ran on the machine taken out. */
  cpu_ratio: number;
  ours_peak_rss_mb: number;
  fairlearn_peak_rss_mb: number;
  ours_seconds: number;
  fairlearn_seconds: number;
  ours_cpu_seconds: number;
  fairlearn_cpu_seconds: number;
  /** Each process from spawn to exit (interpreter start and imports included). */
  ours_process_seconds: number;
  fairlearn_process_seconds: number;
  /** Every run of ours, in order; the figures above are the median one's. */
  ours_runs_seconds: number[];
  /** The CPU ours was pinned to, or null where it ran unpinned. */
  ours_cpu_pinned: number | null;
  ours_bootstrap_resamples: number;
  ours_metrics_with_intervals: number;
  ours_verdicts: number;
  fairlearn_version: string;
  pandas_version: string;
  agreement: Agreement;
}

async function measure(file: string, rows: number, log: (m: string) => void): Promise<FairnessSize> {
  const runs: (FairnessOursResult & { wallSeconds: number })[] = [];
  for (let i = 0; i < OURS_RUNS; i++) {
    const r = await runOurs(file);
    log(`  ours, run ${i + 1}/${OURS_RUNS}: ${r.seconds.toFixed(2)} s, ${r.peak_rss_mb.toFixed(0)} MB peak`);
    runs.push(r);
  }
  const ours = [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)]!;
  log(`  Fairlearn MetricFrame on ${rows.toLocaleString('en-US')} rows ...`);
  const fl = await runFairlearn(file);
  log(`  Fairlearn: ${fl.seconds.toFixed(1)} s, ${fl.peak_rss_mb.toFixed(0)} MB peak`);
  const agreement = checkAgreement(ours, fl);
  if (ours.rows !== rows) throw new BenchError(`the ${rows}-row file gave ${ours.rows} rows`);
  const core = oneCore();
  const oursRate = ours.rows / ours.seconds;
  const theirRate = fl.rows / fl.seconds;
  return {
    rows,
    file_mb: (await stat(file)).size / 1024 ** 2,
    ours_rows_per_s: oursRate,
    fairlearn_rows_per_s: theirRate,
    ratio: oursRate / theirRate,
    cpu_ratio: fl.cpu_seconds / ours.cpu_seconds,
    // The most any run of ours took: the target is a bound, so the worst run answers it.
    ours_peak_rss_mb: Math.max(...runs.map((r) => r.peak_rss_mb)),
    fairlearn_peak_rss_mb: fl.peak_rss_mb,
    ours_seconds: ours.seconds,
    fairlearn_seconds: fl.seconds,
    ours_cpu_seconds: ours.cpu_seconds,
    fairlearn_cpu_seconds: fl.cpu_seconds,
    ours_process_seconds: ours.wallSeconds,
    fairlearn_process_seconds: fl.wallSeconds,
    ours_runs_seconds: runs.map((r) => r.seconds),
    ours_cpu_pinned: core === undefined ? null : Number(core),
    ours_bootstrap_resamples: ours.resamples,
    ours_metrics_with_intervals: ours.intervals,
    ours_verdicts: ours.verdicts,
    fairlearn_version: fl.fairlearn,
    pandas_version: fl.pandas,
    agreement,
  };
}

const fmtRows = (n: number) => n.toLocaleString('en-US');

/** The issue's targets, each met, missed, or (null) not measured because its size was not run. */
export function fairnessTargets(sizes: FairnessSize[]): Target[] {
  const at = (rows: number) => sizes.find((s) => s.rows === rows);
  const large = at(LARGE);
  const small = at(SMALL);
  const largest = sizes.reduce<FairnessSize | undefined>((a, s) => (a && a.rows > s.rows ? a : s), undefined);
  const notRun = (rows: number[]) => `not measured: needs a run at ${rows.map(fmtRows).join(' and ')} rows`;
  const targets: Target[] = [];
  targets.push({
    name: 'ratio',
    description: `at least ${TARGET.ratio}× Fairlearn's rows/s at ${fmtRows(LARGE)} rows`,
    rows: LARGE,
    value: large?.ratio ?? null,
    limit: TARGET.ratio,
    met: large ? large.ratio >= TARGET.ratio : null,
    ...(large ? {} : { note: notRun([LARGE]) }),
  });
  targets.push({
    name: 'ours_rows_per_s',
    description: `at least ${fmtRows(TARGET.rowsPerSecond)} rows/s on one core (at the largest size run)`,
    rows: largest?.rows ?? null,
    value: largest?.ours_rows_per_s ?? null,
    limit: TARGET.rowsPerSecond,
    met: largest ? largest.ours_rows_per_s >= TARGET.rowsPerSecond : null,
    ...(largest?.ours_cpu_pinned === null ? { note: 'ran unpinned: no taskset here' } : {}),
  });
  targets.push({
    name: 'ours_peak_rss_mb',
    description: `peak memory under ${TARGET.peakRssMb} MB at ${fmtRows(LARGE)} rows`,
    rows: LARGE,
    value: large?.ours_peak_rss_mb ?? null,
    limit: TARGET.peakRssMb,
    met: large ? large.ours_peak_rss_mb < TARGET.peakRssMb : null,
    ...(large ? {} : { note: notRun([LARGE]) }),
  });
  const growth = large && small ? large.ours_peak_rss_mb / small.ours_peak_rss_mb : null;
  targets.push({
    name: 'ours_peak_rss_growth',
    description: `peak memory at ${fmtRows(LARGE)} rows at most ${TARGET.rssGrowth}× the ${fmtRows(SMALL)}-row figure`,
    rows: LARGE,
    value: growth,
    limit: TARGET.rssGrowth,
    met: growth === null ? null : growth <= TARGET.rssGrowth,
    ...(growth === null ? { note: notRun([SMALL, LARGE]) } : {}),
  });
  return targets;
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function renderFairness(sizes: FairnessSize[], targets: Target[]): string {
  const n0 = (x: number) => Math.round(x).toLocaleString('en-US');
  const s = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
  const first = sizes[0];
  const lines = [
    `fairness: our engine (file → report with Wilson intervals, ${first?.ours_bootstrap_resamples ?? '?'} bootstrap ` +
      `resamples and the policy's verdicts${first?.ours_cpu_pinned === null ? '' : ', one core'}) against ` +
      `Fairlearn ${first?.fairlearn_version ?? '?'} MetricFrame (pandas ${first?.pandas_version ?? '?'} read_csv ` +
      'included, five rates over 12 intersectional groups, difference() and ratio(), no bootstrap)',
    '',
    table(
      [
        'rows',
        'ours s',
        'ours rows/s',
        'ours peak MB',
        'Fairlearn s',
        'Fairlearn rows/s',
        'Fairlearn peak MB',
        'ratio',
      ],
      sizes.map((r) => [
        fmtRows(r.rows),
        s(r.ours_seconds),
        n0(r.ours_rows_per_s),
        n0(r.ours_peak_rss_mb),
        s(r.fairlearn_seconds),
        n0(r.fairlearn_rows_per_s),
        n0(r.fairlearn_peak_rss_mb),
        `${r.ratio.toFixed(1)}×`,
        `${r.cpu_ratio.toFixed(1)}×`,
      ]),
    ),
    "ratio: our rows/s over Fairlearn's (wall time); CPU ratio: Fairlearn's CPU seconds over ours, which other " +
      'work on the machine sways less',
    '',
    ...sizes.map(
      (r) =>
        `agreement at ${fmtRows(r.rows)} rows: ${r.agreement.values_compared} values over ${r.agreement.groups} ` +
        `groups, max |Δ| ${r.agreement.max_abs_diff.toExponential(1)} (tolerance ${AGREEMENT_TOLERANCE})`,
    ),
    '',
    'targets:',
    ...targets.map((t) => {
      const mark = t.met === null ? '–' : t.met ? '✓' : '✗';
      const value = t.value === null ? '' : `: ${t.value >= 1000 ? n0(t.value) : t.value.toFixed(2)}`;
      return `  ${mark} ${t.description}${value}${t.note ? ` (${t.note})` : ''}`;
    }),
  ];
  return lines.join('\n');
}

export const fairnessSection: Section = {
  name: 'fairness',
  summary: 'our fairness engine against Fairlearn 0.15 MetricFrame on 1M and 10M rows (quick: 100k and 1M)',
  async run(ctx: SectionContext) {
    const sizes = ctx.rows ?? (ctx.quick ? QUICK_SIZES : FULL_SIZES);
    const dir = join(ctx.dataDir, 'fairness');
    const results: FairnessSize[] = [];
    for (const rows of sizes) {
      const file = await ensureDataFile(dir, rows, ctx.log);
      ctx.log(`fairness: ${fmtRows(rows)} rows (${file})`);
      results.push(await measure(file, rows, ctx.log));
    }
    const targets = fairnessTargets(results);
    return { json: results, targets, text: renderFairness(results, targets) };
  },
};
