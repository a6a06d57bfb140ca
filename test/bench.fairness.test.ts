/**
 * `npm run bench -- fairness` at a tiny size: the real dispatcher, our engine and Fairlearn 0.15 in their own
 * processes on files it generates, --json as one object of the documented shape with positive figures and the
 * agreement check's counts; and that check refusing real outputs of the two engines once they differ.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ensureDataFile } from '../bench/fairness-data.js';
import {
  AGREEMENT_TOLERANCE,
  checkAgreement,
  renderFairness,
  runFairlearn,
  runOurs,
  type FairnessSize,
} from '../bench/fairness.js';
import { BenchError, type Target } from '../bench/section.js';
import { fairlearn } from './support/fairlearn-reference.js';
import { PROJECT_ROOT } from './support/product-process.js';

const MAIN = join(PROJECT_ROOT, 'bench', 'main.ts');
const SIZES = [1500, 3000];
/** The first test's figures, which the second renders. */
let sizes: FairnessSize[] = [];
let targets: Target[] = [];

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'bench-fairness-'));
  // Installs Fairlearn when this machine has not yet (a no-op after the first time), outside the timed runs.
  await fairlearn();
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { cwd: PROJECT_ROOT, env: { ...process.env, BENCH_DATA_DIR: dataDir }, timeout: 90_000 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        if (typeof code !== 'number') reject(new Error(`bench did not exit normally: ${err?.message}\n${stderr}`));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

const positive = z.number().positive();
const sizeSchema = z.object({
  rows: z.number().int(),
  file_mb: positive,
  ours_rows_per_s: positive,
  fairlearn_rows_per_s: positive,
  ratio: positive,
  cpu_ratio: positive,
  ours_peak_rss_mb: positive,
  fairlearn_peak_rss_mb: positive,
  ours_seconds: positive,
  fairlearn_seconds: positive,
  ours_cpu_seconds: positive,
  fairlearn_cpu_seconds: positive,
  ours_process_seconds: positive,
  fairlearn_process_seconds: positive,
  ours_runs_seconds: z.array(positive).length(3),
  ours_cpu_pinned: z.number().int().nonnegative().nullable(),
  ours_bootstrap_resamples: positive,
  ours_metrics_with_intervals: positive,
  ours_verdicts: positive,
  fairlearn_version: z.literal('0.15.0'),
  pandas_version: z.string(),
  agreement: z.object({
    groups: z.literal(12),
    values_compared: z
      .number()
      .int()
      .min(12 * 5),
    max_abs_diff: z.number().min(0).max(AGREEMENT_TOLERANCE),
  }),
});
const targetSchema = z.object({
  name: z.string(),
  description: z.string(),
  rows: z.number().nullable(),
  value: z.number().nullable(),
  limit: positive,
  met: z.boolean().nullable(),
  note: z.string().optional(),
});
const outputSchema = z.object({
  machine: z.object({ cpus: positive, model: z.string(), node: z.string(), memory_mb: positive }),
  fairness: z.array(sizeSchema),
  targets: z.object({ fairness: z.array(targetSchema).length(4) }),
});

describe('npm run bench -- fairness', () => {
  it('--json prints one object: per size both engines timed, their memory, the ratio and the agreement', async () => {
    const r = await bench(['fairness', '--rows', SIZES.join(','), '--json']);
    expect(r.stderr).not.toMatch(/bench: /);
    expect(r.code).toBe(0);
    // Exactly one object: the whole of stdout parses.
    const out = outputSchema.parse(JSON.parse(r.stdout));
    sizes = out.fairness;
    targets = out.targets.fairness;
    expect(out.fairness.map((s) => s.rows)).toEqual(SIZES);
    for (const s of out.fairness) {
      expect(s.ratio).toBeCloseTo(s.ours_rows_per_s / s.fairlearn_rows_per_s, 6);
      expect(s.cpu_ratio).toBeCloseTo(s.fairlearn_cpu_seconds / s.ours_cpu_seconds, 6);
      expect(s.ours_rows_per_s).toBeCloseTo(s.rows / s.ours_seconds, 3);
      expect(s.fairlearn_rows_per_s).toBeCloseTo(s.rows / s.fairlearn_seconds, 3);
      // The median run is the one reported.
      expect([...s.ours_runs_seconds].sort((a, b) => a - b)[1]).toBe(s.ours_seconds);
      expect(s.ours_process_seconds).toBeGreaterThan(s.ours_seconds);
    }
    const byName = Object.fromEntries(out.targets.fairness.map((t) => [t.name, t]));
    // Neither 1M nor 10M ran: the targets that name them are not measured, rows/s is judged at the largest size.
    expect(byName.ratio).toMatchObject({ met: null, value: null });
    expect(byName.ours_peak_rss_mb).toMatchObject({ met: null, value: null });
    expect(byName.ours_peak_rss_growth).toMatchObject({ met: null, value: null });
    expect(byName.ours_rows_per_s).toMatchObject({ rows: 3000, value: out.fairness[1]!.ours_rows_per_s });
    expect(byName.ours_rows_per_s!.met).toBe(out.fairness[1]!.ours_rows_per_s >= 2_000_000);
    // Progress went to stderr, the files were generated into BENCH_DATA_DIR.
    expect(r.stderr).toContain(`generating 1500 rows into ${join(dataDir, 'fairness')}`);
    expect(r.stderr).toMatch(/ours, run 3\/3: /);
  });

  it('the table shows each size and the targets; an unknown section or bad --rows is refused (exit 2)', async () => {
    // What bench/main.ts prints without --json, from the figures of the run above.
    const text = renderFairness(sizes, targets);
    expect(text).toMatch(/\n *1,500 +[\d.]+ +[\d,]+ +\d+ +[\d.]+ +[\d,]+ +\d+ +[\d.]+× +[\d.]+×\n/);
    expect(text).toMatch(/\n *3,000 +[\d.]+ +[\d,]+ +\d+ +[\d.]+ +[\d,]+ +\d+ +[\d.]+× +[\d.]+×\n/);
    expect(text).toContain("– at least 50× Fairlearn's rows/s at 10,000,000 rows (not measured");
    expect(text).toMatch(/[✓✗] at least 2,000,000 rows\/s on one core/);
    expect(text).toMatch(/agreement at 3,000 rows: \d+ values over 12 groups/);

    const unknown = await bench(['lifecycle-throughput-not-yet']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no section "lifecycle-throughput-not-yet"');
    const rows = await bench(['fairness', '--rows', '0']);
    expect(rows.code).toBe(2);
    expect(rows.stderr).toContain('--rows 0: at least 1 row');
  });

  it('the agreement check passes on the real outputs of both engines and fails once one value differs', async () => {
    const file = await ensureDataFile(join(dataDir, 'fairness'), 1500, () => undefined);
    const [ours, theirs] = await Promise.all([runOurs(file), runFairlearn(file)]);
    const ok = checkAgreement(ours, theirs);
    expect(ok.groups).toBe(12);

    const group = Object.keys(ours.rates)[3]!;
    const tpr = ours.rates[group]!.true_positive_rate!;
    const nudged = {
      ...ours,
      rates: { ...ours.rates, [group]: { ...ours.rates[group], true_positive_rate: tpr + 1e-8 } },
    };
    expect(() => checkAgreement(nudged, theirs)).toThrow(BenchError);
    expect(() => checkAgreement(nudged, theirs)).toThrow(`${group} true_positive_rate`);

    const { [group]: _dropped, ...fewer } = theirs.rates;
    expect(() => checkAgreement(ours, { ...theirs, rates: fewer })).toThrow(/groups: ours/);
    expect(() => checkAgreement(ours, { ...theirs, rows: theirs.rows - 1 })).toThrow(/rows: ours 1500, Fairlearn 1499/);
    expect(() => checkAgreement({ ...ours, selection_rate_ratio: null }, theirs)).toThrow(/selection rate ratio/);
  });
});
