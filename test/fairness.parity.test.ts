/**
 * Parity with Fairlearn 0.15 (issue 10). The reference is Fairlearn itself, installed from PyPI into
 * .tools/fairlearn by fairness-reference/ensure.ts and run through fairness-reference/metricframe.py.
 *
 * The reference script is checked first on a data set small enough to work out by hand, so that a parity failure
 * further down points at the engine and not at how the reference was called.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fairnessReportSchema,
  type FairnessReport,
  type MetricName,
  type RateName,
} from '../domain/fairness/schema.js';
import { projectRoot } from '../embedded/temporal-binaries.js';
import {
  RATE_NAMES,
  fairlearn,
  referenceMetrics,
  referenceWilson,
  seeded,
  writeCsv,
  type Columns,
  type ReferenceReport,
  type Row,
} from './support/fairlearn-reference.js';

/** A fresh machine installs the environment in about ten seconds; a slow PyPI mirror may take minutes. */
const INSTALL_TIMEOUT_MS = 15 * 60_000;

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fairness-parity-'));
  await fairlearn();
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Seven rows, worked out by hand below. Feature a has x (4 rows), y (2) and z (1: a group of one, with no actual
 * positives); a × b has two empty intersections, (y, v) and (z, v).
 */
const TINY = ['y,p,a,b,w', '1,1,x,u,1', '1,0,x,u,2', '0,1,x,v,1', '0,0,x,v,1', '1,1,y,u,3', '0,0,y,u,1', '0,1,z,u,1'];

function feature(report: ReferenceReport, name: string) {
  const found = report.features.find((f) => f.feature === name);
  if (!found) throw new Error(`no feature ${name} in ${report.features.map((f) => f.feature).join(', ')}`);
  return found;
}

function group(report: ReferenceReport, name: string, values: string[]) {
  const found = feature(report, name).by_group.find((g) => g.group.join('\u0000') === values.join('\u0000'));
  if (!found) throw new Error(`no group ${values.join(',')} of ${name}`);
  return found;
}

describe('the reference script (Fairlearn 0.15 MetricFrame)', () => {
  it('computes weighted per-group rates, differences and ratios that agree with the hand calculation', async () => {
    const file = join(dir, 'tiny.csv');
    await writeFile(file, TINY.join('\n') + '\n');
    const r = await referenceMetrics(file, { label: 'y', prediction: 'p', sensitive: ['a', 'b'], weight: 'w' });
    expect(r.fairlearn).toBe('0.15.0');
    expect(r.features.map((f) => f.feature)).toEqual(['a', 'b', 'a,b']);

    // x: weight 5, of it predicted positive 1 + 1; positives TP 1, FN 2; negatives FP 1, TN 1.
    const x = group(r, 'a', ['x']);
    expect(x.count).toBe(4); // rows, not weights
    expect(x.metrics.selection_rate).toBeCloseTo(2 / 5, 12);
    expect(x.metrics.true_positive_rate).toBeCloseTo(1 / 3, 12);
    expect(x.metrics.false_negative_rate).toBeCloseTo(2 / 3, 12);
    expect(x.metrics.false_positive_rate).toBeCloseTo(1 / 2, 12);
    expect(x.metrics.precision).toBeCloseTo(1 / 2, 12);
    // y: weight 4, TP 3, TN 1.
    const y = group(r, 'a', ['y']);
    expect(y.metrics.selection_rate).toBeCloseTo(3 / 4, 12);
    expect(y.metrics.true_positive_rate).toBe(1);
    expect(y.metrics.false_positive_rate).toBe(0);
    // z: one false positive and no actual positives. TPR and FNR have a zero denominator, and Fairlearn says 0:
    // the convention our engine departs from (it reports them as undefined).
    const z = group(r, 'a', ['z']);
    expect(z.count).toBe(1);
    expect(z.metrics.true_positive_rate).toBe(0);
    expect(z.metrics.false_negative_rate).toBe(0);
    expect(z.metrics.false_positive_rate).toBe(1);
    expect(z.metrics.precision).toBe(0);

    const a = feature(r, 'a');
    expect(a.difference.selection_rate).toBeCloseTo(1 - 2 / 5, 12);
    expect(a.ratio.selection_rate).toBeCloseTo(2 / 5, 12);
    expect(a.fairness.demographic_parity_difference).toBeCloseTo(1 - 2 / 5, 12);
    expect(a.fairness.demographic_parity_ratio).toBeCloseTo(2 / 5, 12);
    // TPR spans z's 0 to y's 1, FPR y's 0 to z's 1: worst case 1, smaller ratio 0.
    expect(a.fairness.equalized_odds_difference).toBe(1);
    expect(a.fairness.equalized_odds_ratio).toBe(0);
    expect(a.fairness.equal_opportunity_difference).toBe(1);

    // (x, u): rows (1,1,w1) and (1,0,w2): no negatives, so Fairlearn's FPR is 0 there too.
    const xu = group(r, 'a,b', ['x', 'u']);
    expect(xu.metrics.selection_rate).toBeCloseTo(1 / 3, 12);
    expect(xu.metrics.true_positive_rate).toBeCloseTo(1 / 3, 12);
    expect(xu.metrics.false_positive_rate).toBe(0);
    expect(xu.metrics.precision).toBe(1);
    for (const empty of [
      ['y', 'v'],
      ['z', 'v'],
    ]) {
      const g = group(r, 'a,b', empty);
      expect(g.count).toBe(0);
      expect(Object.values(g.metrics)).toEqual([null, null, null, null, null]);
    }
  });

  it('weighs every row alike without a weight column', async () => {
    const file = join(dir, 'tiny-unweighted.csv');
    await writeFile(file, TINY.join('\n') + '\n');
    const r = await referenceMetrics(file, { label: 'y', prediction: 'p', sensitive: ['a'] });
    expect(r.features.map((f) => f.feature)).toEqual(['a']);
    expect(group(r, 'a', ['x']).metrics.selection_rate).toBe(1 / 2);
    expect(group(r, 'a', ['x']).metrics.true_positive_rate).toBe(1 / 2);
  });

  it('names the missing column and exits non-zero', async () => {
    const file = join(dir, 'tiny-missing.csv');
    await writeFile(file, TINY.join('\n') + '\n');
    await expect(referenceMetrics(file, { label: 'y', prediction: 'p', sensitive: ['a', 'c'] })).rejects.toThrow(
      /has no column c/,
    );
  });

  it("gives statsmodels' Wilson interval, the textbook formula", async () => {
    const z = { 0.95: 1.959963984540054, 0.9: 1.6448536269514722 } as const;
    const cases = [
      { successes: 3, n: 10, level: 0.95 },
      { successes: 0, n: 7, level: 0.9 },
      { successes: 7, n: 7, level: 0.95 },
    ];
    const out = await referenceWilson(cases);
    for (const [i, c] of cases.entries()) {
      const zz = z[c.level as keyof typeof z];
      const centre = (c.successes + (zz * zz) / 2) / (c.n + zz * zz);
      const half = (zz / (c.n + zz * zz)) * Math.sqrt((c.successes * (c.n - c.successes)) / c.n + (zz * zz) / 4);
      expect(out[i]?.low).toBeCloseTo(centre - half, 12);
      expect(out[i]?.high).toBeCloseTo(centre + half, 12);
    }
    expect((await referenceWilson([{ successes: 0, n: 0, level: 0.95 }]))[0]).toMatchObject({ low: null, high: null });
  });
});

// ---------------------------------------------------------------- parity

const BIN = join(projectRoot(), 'cli', 'bin.mjs');
const TOLERANCE = 1e-9;

function ours(file: string, cols: Columns): Promise<FairnessReport> {
  const args = [BIN, 'fairness', file, '--label', cols.label, '--prediction', cols.prediction];
  args.push('--sensitive', cols.sensitive.join(','), '--json');
  if (cols.weight) args.push('--weight', cols.weight);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: dir, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ai-lifecycle fairness failed: ${err.message}\n${stderr}`));
      else resolve(fairnessReportSchema.parse(JSON.parse(stdout)));
    });
  });
}

function pick<T>(random: () => number, items: readonly T[], weights: readonly number[]): T {
  const total = weights.reduce((a, b) => a + b, 0);
  let u = random() * total;
  for (const [i, item] of items.entries()) {
    u -= weights[i]!;
    if (u < 0) return item;
  }
  return items[items.length - 1]!;
}

/** Rows whose label and prediction rates differ by group, so that no metric is trivially 0 or 1. */
function rows(random: () => number, n: number, as: readonly string[], bs: readonly string[]): Row[] {
  const out: Row[] = [];
  for (let i = 0; i < n; i++) {
    const a = pick(
      random,
      as,
      as.map((_, j) => j + 1),
    );
    const b = pick(
      random,
      bs,
      bs.map((_, j) => bs.length - j),
    );
    const base = 0.2 + (0.5 * as.indexOf(a)) / as.length + 0.1 * bs.indexOf(b);
    const y = random() < base ? 1 : 0;
    const p = random() < (y ? 0.55 + 0.3 * random() : 0.15 + 0.4 * base) ? 1 : 0;
    out.push({ y, p, a, b, w: Math.round((0.1 + 2.9 * random()) * 1000) / 1000 });
  }
  return out;
}

/** Five by three groups, every intersection populated. */
function severalGroups(): Row[] {
  return rows(seeded(10), 900, ['a0', 'a1', 'a2', 'a3', 'a4'], ['b0', 'b1', 'b2']);
}

/**
 * The edges: "solo" is a group of one (and has no actual positives); "nopos" has no actual positives, "noneg" no
 * actual negatives, "nosel" no predicted positives; b's value "rare" occurs only with a = "p", so every other
 * intersection with it is empty.
 */
function edges(): Row[] {
  const random = seeded(20);
  const out = rows(random, 300, ['p', 'q', 'r'], ['u', 'v']);
  const w = () => Math.round((0.5 + random()) * 100) / 100;
  out.push({ y: 0, p: 1, a: 'solo', b: 'u', w: 1.5 });
  for (let i = 0; i < 25; i++) out.push({ y: 0, p: random() < 0.3 ? 1 : 0, a: 'nopos', b: i % 2 ? 'u' : 'v', w: w() });
  for (let i = 0; i < 25; i++) out.push({ y: 1, p: random() < 0.7 ? 1 : 0, a: 'noneg', b: i % 2 ? 'u' : 'v', w: w() });
  for (let i = 0; i < 25; i++) out.push({ y: random() < 0.5 ? 1 : 0, p: 0, a: 'nosel', b: i % 2 ? 'u' : 'v', w: w() });
  for (let i = 0; i < 12; i++)
    out.push({ y: random() < 0.5 ? 1 : 0, p: random() < 0.5 ? 1 : 0, a: 'p', b: 'rare', w: w() });
  return out;
}

const DATA_SETS: { name: string; rows: () => Row[] }[] = [
  { name: 'several groups', rows: severalGroups },
  { name: 'empty intersections, no positives, a group of one', rows: edges },
];

/** Fairlearn's names of the across-group metrics ours reports; the four-fifths rule is Fairlearn's DP ratio. */
const FAIRLEARN_NAME: Record<MetricName, keyof ReferenceReport['features'][number]['fairness']> = {
  demographic_parity_difference: 'demographic_parity_difference',
  demographic_parity_ratio: 'demographic_parity_ratio',
  equalized_odds_difference: 'equalized_odds_difference',
  equalized_odds_ratio: 'equalized_odds_ratio',
  equal_opportunity_difference: 'equal_opportunity_difference',
  four_fifths_rule: 'demographic_parity_ratio',
};

const METRIC_RATES: Record<MetricName, RateName[]> = {
  demographic_parity_difference: ['selection_rate'],
  demographic_parity_ratio: ['selection_rate'],
  equalized_odds_difference: ['true_positive_rate', 'false_positive_rate'],
  equalized_odds_ratio: ['true_positive_rate', 'false_positive_rate'],
  equal_opportunity_difference: ['true_positive_rate'],
  four_fifths_rule: ['selection_rate'],
};

/** Fairlearn's max − min and min / max of one rate over the given groups (NaN ratio, 0/0, as null). */
function spreadOf(values: number[]): { difference: number | null; ratio: number | null } {
  if (!values.length) return { difference: null, ratio: null };
  const max = Math.max(...values);
  const min = Math.min(...values);
  return { difference: max - min, ratio: max > 0 ? min / max : null };
}

function close(a: number | null, b: number | null): boolean {
  return a === null || b === null ? a === b : Math.abs(a - b) <= TOLERANCE;
}

/** What the runs covered, so that a data set that stops exercising an edge fails the test instead of passing. */
const seen = { empty: 0, one: 0, undefinedRates: 0, divergentMetrics: 0, metrics: 0, rates: 0 };

describe('parity with Fairlearn 0.15 MetricFrame', () => {
  for (const set of DATA_SETS) {
    for (const weighted of [false, true]) {
      it(`${set.name}, ${weighted ? 'weighted' : 'unweighted'}: every value both define agrees to 1e-9`, async () => {
        const file = await writeCsv(dir, `${set.name.replace(/\W+/g, '-')}.csv`, set.rows());
        const cols: Columns = {
          label: 'y',
          prediction: 'p',
          sensitive: ['a', 'b'],
          ...(weighted ? { weight: 'w' } : {}),
        };
        const [mine, ref] = await Promise.all([ours(file, cols), referenceMetrics(file, cols)]);
        expect(mine.rows).toBe(ref.rows);

        const refFeature = (feature: string, intersection: boolean) => {
          const f = intersection
            ? ref.features.find((r) => r.columns.length > 1)
            : ref.features.find((r) => r.columns.length === 1 && r.feature === feature);
          if (!f) throw new Error(`Fairlearn has no feature for ${feature}`);
          return f;
        };
        const key = (values: string[]) => JSON.stringify(values);
        const off: string[] = [];

        // Groups: the same set on both sides, the same counts, and every rate ours defines equal to Fairlearn's.
        for (const f of ref.features) {
          const intersection = f.columns.length > 1;
          const mineHere = mine.groups.filter(
            (g) => g.intersection === intersection && (intersection || g.feature === f.feature),
          );
          expect(mineHere.map((g) => key(g.values)).sort(), f.feature).toEqual(
            f.by_group.map((g) => key(g.group)).sort(),
          );
        }
        for (const g of mine.groups) {
          const r = refFeature(g.feature, g.intersection).by_group.find((b) => key(b.group) === key(g.values))!;
          const where = `${g.feature} = ${g.group}`;
          if (g.count !== r.count) off.push(`${where}: count ${g.count}, Fairlearn ${r.count}`);
          if (g.empty) {
            seen.empty++;
            if (Object.values(r.metrics).some((v) => v !== null)) off.push(`${where}: empty here, not in Fairlearn`);
            continue;
          }
          if (g.count === 1) seen.one++;
          for (const name of RATE_NAMES) {
            const value = g[name].value;
            const theirs = r.metrics[name];
            if (value === null) {
              // The documented divergence: a zero denominator is undefined here, 0 in Fairlearn.
              seen.undefinedRates++;
              if (theirs !== 0) off.push(`${where}: ${name} undefined here, Fairlearn ${theirs} (expected 0)`);
              if (!g[name].undefinedReason) off.push(`${where}: ${name} undefined without a reason`);
            } else {
              seen.rates++;
              if (!close(value, theirs)) off.push(`${where}: ${name} ${value}, Fairlearn ${theirs}`);
            }
          }
        }

        // Across groups: Fairlearn's own function where ours and Fairlearn use the same groups; where ours left out
        // undefined rates, Fairlearn's per-group values over the groups ours kept (the divergence, applied).
        for (const m of mine.metrics) {
          const intersection = mine.groups.some((g) => g.feature === m.feature && g.intersection);
          const f = refFeature(m.feature, intersection);
          const groups = mine.groups.filter((g) => g.feature === m.feature && !g.empty);
          const rates = METRIC_RATES[m.name];
          const divergent = groups.some((g) => rates.some((r) => g[r].value === null));
          let expected: number | null;
          if (!divergent) {
            expected = f.fairness[FAIRLEARN_NAME[m.name]];
          } else {
            seen.divergentMetrics++;
            const spreads = rates.map((r) =>
              spreadOf(
                groups
                  .filter((g) => g[r].value !== null)
                  .map((g) => f.by_group.find((b) => key(b.group) === key(g.values))!.metrics[r]!),
              ),
            );
            const [first, second] = spreads;
            const ratioMetric = m.name.endsWith('_ratio') || m.name === 'four_fifths_rule';
            if (!second) expected = ratioMetric ? first!.ratio : first!.difference;
            else if (ratioMetric)
              expected = first!.ratio === null || second.ratio === null ? null : Math.min(first!.ratio, second.ratio);
            else
              expected =
                first!.difference === null || second.difference === null
                  ? null
                  : Math.max(first!.difference, second.difference);
          }
          seen.metrics++;
          if (!close(m.value, expected)) {
            off.push(
              `${m.name} over ${m.feature}: ${m.value}, Fairlearn ${expected}${divergent ? ' (defined groups)' : ''}`,
            );
          }
        }
        expect(off).toEqual([]);
      });
    }
  }

  it('covered the edges the issue names: empty intersections, a group of one, undefined rates', () => {
    // Runs after the data-set tests in this file (vitest keeps declaration order within a file).
    expect(seen.empty).toBeGreaterThan(0);
    expect(seen.one).toBeGreaterThan(0);
    expect(seen.undefinedRates).toBeGreaterThan(0);
    expect(seen.divergentMetrics).toBeGreaterThan(0);
    expect(seen.rates).toBeGreaterThan(100);
    expect(seen.metrics).toBeGreaterThan(0);
  });
});
