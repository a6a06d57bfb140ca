/**
 * Fairlearn 0.15 as a reference for the fairness tests: fairness-reference/metricframe.py run in the environment
 * fairness-reference/ensure.ts installs, and a seeded generator of predictions files to run both sides on.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ensureFairlearn, type FairlearnEnv } from '../../fairness-reference/ensure.js';
import { projectRoot } from '../../embedded/temporal-binaries.js';

export const SCRIPT = join(projectRoot(), 'fairness-reference', 'metricframe.py');

export const RATE_NAMES = [
  'selection_rate',
  'true_positive_rate',
  'false_positive_rate',
  'false_negative_rate',
  'precision',
] as const;
export type RateName = (typeof RATE_NAMES)[number];

const nullableNumber = z.number().nullable();
const rates = z.object(
  Object.fromEntries(RATE_NAMES.map((n) => [n, nullableNumber])) as Record<RateName, typeof nullableNumber>,
);

export const referenceReport = z.object({
  fairlearn: z.string(),
  rows: z.number(),
  features: z.array(
    z.object({
      feature: z.string(),
      columns: z.array(z.string()),
      by_group: z.array(z.object({ group: z.array(z.string()), count: z.number(), metrics: rates })),
      difference: rates,
      ratio: rates,
      fairness: z.object({
        demographic_parity_difference: nullableNumber,
        demographic_parity_ratio: nullableNumber,
        equalized_odds_difference: nullableNumber,
        equalized_odds_ratio: nullableNumber,
        equal_opportunity_difference: nullableNumber,
        equal_opportunity_ratio: nullableNumber,
      }),
    }),
  ),
});
export type ReferenceReport = z.infer<typeof referenceReport>;

export const wilsonReport = z.object({
  intervals: z.array(
    z.object({
      successes: z.number(),
      n: z.number(),
      level: z.number(),
      low: nullableNumber,
      high: nullableNumber,
    }),
  ),
});

export interface Columns {
  label: string;
  prediction: string;
  sensitive: string[];
  weight?: string;
  positive?: string;
}

let env: Promise<FairlearnEnv> | undefined;

/** Installs the environment once per test file (a no-op after the first install on this machine). */
export function fairlearn(): Promise<FairlearnEnv> {
  env ??= ensureFairlearn({ quiet: true });
  return env;
}

function runPython(args: string[], stdin?: string): Promise<string> {
  return fairlearn().then(
    ({ python, env }) =>
      new Promise((resolve, reject) => {
        const child = execFile(
          python,
          [SCRIPT, ...args],
          { env, maxBuffer: 64 * 1024 * 1024 },
          (err, stdout, stderr) => {
            if (err) reject(new Error(`metricframe.py ${args.join(' ')} failed: ${err.message}\n${stderr}`));
            else resolve(stdout);
          },
        );
        if (stdin !== undefined) child.stdin?.end(stdin);
      }),
  );
}

export async function referenceMetrics(file: string, cols: Columns): Promise<ReferenceReport> {
  const args = ['metrics', file, '--label', cols.label, '--prediction', cols.prediction];
  args.push('--sensitive', cols.sensitive.join(','));
  if (cols.weight) args.push('--weight', cols.weight);
  if (cols.positive) args.push('--positive', cols.positive);
  return referenceReport.parse(JSON.parse(await runPython(args)));
}

export async function referenceWilson(
  requests: { successes: number; n: number; level: number }[],
): Promise<z.infer<typeof wilsonReport>['intervals']> {
  return wilsonReport.parse(JSON.parse(await runPython(['wilson'], JSON.stringify(requests)))).intervals;
}

/** mulberry32: small, seedable and the same on every machine, so a failing data set can be regenerated. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Row {
  y: 0 | 1;
  p: 0 | 1;
  a: string;
  b: string;
  w: number;
}

export async function writeCsv(dir: string, name: string, rows: Row[]): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, 'y,p,a,b,w\n' + rows.map((r) => `${r.y},${r.p},${r.a},${r.b},${r.w}`).join('\n') + '\n');
  return file;
}
