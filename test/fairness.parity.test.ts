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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fairlearn, referenceMetrics, referenceWilson, type ReferenceReport } from './support/fairlearn-reference.js';

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
