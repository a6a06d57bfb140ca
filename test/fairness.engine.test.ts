/**
 * The fairness engine's arithmetic (domain/fairness) on data sets small enough to check by hand: rates, undefined
 * rates and their reasons, empty intersections, weights, Wilson intervals (against the closed formula written out
 * here, and against published values), the seeded bootstrap, the minimum group size and both verdict modes.
 */
import { describe, expect, it } from 'vitest';
import { analyseCounts, emptyCounts, verdictFor, type CellCounts } from '../domain/fairness/engine.js';
import type { GroupReport, MetricReport } from '../domain/fairness/schema.js';
import { normalQuantile, twoProportionZTest, twoSidedNormalP, wilson } from '../domain/fairness/stats.js';

type Row = { y: 0 | 1; p: 0 | 1; s: string[]; w?: number };

/** Counts per combination of sensitive values, built naively from rows. */
function cellsOf(rows: Row[]): CellCounts[] {
  const cells = new Map<string, CellCounts>();
  for (const r of rows) {
    const key = JSON.stringify(r.s);
    if (!cells.has(key)) cells.set(key, { values: r.s, counts: emptyCounts() });
    const c = cells.get(key)!.counts;
    const at = r.y ? (r.p ? 'tp' : 'fn') : r.p ? 'fp' : 'tn';
    const w = r.w ?? 1;
    c[at] += w;
    c.cellRows[at]++;
    c.rows++;
    c.weight += w;
  }
  return [...cells.values()];
}

/** `n` copies of one row. */
const times = (n: number, row: Row): Row[] => Array.from({ length: n }, () => row);

const group = (groups: GroupReport[], feature: string, name: string) =>
  groups.find((g) => g.feature === feature && g.group === name)!;
const metric = (metrics: MetricReport[], name: string, feature: string) =>
  metrics.find((m) => m.name === name && m.feature === feature)!;

// Group A: tp 2, fp 1, fn 1, tn 4. Group B: tp 1, fp 3, fn 0... no: B has no actual positives (fp 3, tn 1).
const rowsAB: Row[] = [
  ...times(2, { y: 1, p: 1, s: ['A'] }),
  ...times(1, { y: 0, p: 1, s: ['A'] }),
  ...times(1, { y: 1, p: 0, s: ['A'] }),
  ...times(4, { y: 0, p: 0, s: ['A'] }),
  ...times(3, { y: 0, p: 1, s: ['B'] }),
  ...times(1, { y: 0, p: 0, s: ['B'] }),
];

describe('per-group rates', () => {
  it('selection rate, TPR, FPR, FNR and precision from the confusion counts', () => {
    const { groups } = analyseCounts(['g'], cellsOf(rowsAB), { resamples: 0, minGroupSize: 0 });
    const a = group(groups, 'g', 'A');
    expect(a.count).toBe(8);
    expect(a.selection_rate.value).toBeCloseTo(3 / 8, 15);
    expect(a.true_positive_rate.value).toBeCloseTo(2 / 3, 15);
    expect(a.false_positive_rate.value).toBeCloseTo(1 / 5, 15);
    expect(a.false_negative_rate.value).toBeCloseTo(1 / 3, 15);
    expect(a.precision.value).toBeCloseTo(2 / 3, 15);
    const b = group(groups, 'g', 'B');
    expect(b.selection_rate.value).toBeCloseTo(3 / 4, 15);
    expect(b.false_positive_rate.value).toBeCloseTo(3 / 4, 15);
    expect(b.precision.value).toBe(0);
  });

  it('a rate whose denominator is zero is null with the reason, and left out of differences and ratios', () => {
    const { groups, metrics } = analyseCounts(['g'], cellsOf(rowsAB), { resamples: 0, minGroupSize: 0 });
    const b = group(groups, 'g', 'B');
    expect(b.true_positive_rate).toEqual({
      value: null,
      ci: null,
      undefinedReason: expect.stringMatching(/no actual positives/),
    });
    expect(b.false_negative_rate.value).toBeNull();
    // Fairlearn would take B's TPR as 0 and answer 2/3; only A has a defined TPR here.
    const eop = metric(metrics, 'equal_opportunity_difference', 'g');
    expect(eop.value).toBe(0);
    expect(eop.groups).toEqual(['A']);
    // Equalized odds: TPR difference 0 (A alone), FPR difference 3/4 − 1/5.
    expect(metric(metrics, 'equalized_odds_difference', 'g').value).toBeCloseTo(3 / 4 - 1 / 5, 15);
    expect(metric(metrics, 'equalized_odds_ratio', 'g').value).toBeCloseTo(1 / 5 / (3 / 4), 15);
    expect(metric(metrics, 'demographic_parity_difference', 'g').value).toBeCloseTo(3 / 4 - 3 / 8, 15);
    expect(metric(metrics, 'demographic_parity_ratio', 'g').value).toBeCloseTo(3 / 8 / (3 / 4), 15);
    const ff = metric(metrics, 'four_fifths_rule', 'g');
    expect(ff.value).toBeCloseTo(0.5, 15);
    expect([ff.lowest, ff.highest]).toEqual(['A', 'B']);
  });

  it('a ratio whose every rate is 0 is undefined (0/0), with the reason', () => {
    const rows = [...times(3, { y: 1, p: 0, s: ['A'] }), ...times(2, { y: 0, p: 0, s: ['B'] })];
    const { metrics } = analyseCounts(['g'], cellsOf(rows), { resamples: 0, minGroupSize: 0 });
    const ratio = metric(metrics, 'demographic_parity_ratio', 'g');
    expect(ratio.value).toBeNull();
    expect(ratio.undefinedReason).toMatch(/0\/0/);
    expect(metric(metrics, 'demographic_parity_difference', 'g').value).toBe(0);
    expect(metric(metrics, 'four_fifths_rule', 'g').verdict).toBe('inconclusive');
  });

  it('weights enter every rate as weighted sums; count stays the number of rows', () => {
    const rows: Row[] = [
      { y: 1, p: 1, s: ['A'], w: 3 },
      { y: 1, p: 0, s: ['A'], w: 1 },
      { y: 0, p: 1, s: ['A'], w: 0.5 },
      { y: 0, p: 0, s: ['A'], w: 1.5 },
    ];
    const { groups } = analyseCounts(['g'], cellsOf(rows), { resamples: 0, minGroupSize: 0 });
    const a = group(groups, 'g', 'A');
    expect(a.count).toBe(4);
    expect(a.confusion.weight).toBe(6);
    expect(a.selection_rate.value).toBeCloseTo(3.5 / 6, 15);
    expect(a.true_positive_rate.value).toBeCloseTo(3 / 4, 15);
    expect(a.false_positive_rate.value).toBeCloseTo(0.5 / 2, 15);
    expect(a.precision.value).toBeCloseTo(3 / 3.5, 15);
    // The Wilson interval on the weighted sums, as documented.
    expect(a.selection_rate.ci).toEqual(wilson(3.5, 6, 0.95));
  });
});

describe('intersections', () => {
  const rows: Row[] = [
    ...times(4, { y: 1, p: 1, s: ['F', 'x'] }),
    ...times(2, { y: 0, p: 0, s: ['F', 'x'] }),
    ...times(3, { y: 1, p: 0, s: ['M', 'y'] }),
    ...times(3, { y: 0, p: 1, s: ['M', 'y'] }),
  ];

  it('are the Cartesian product of the values seen; empty ones are reported and left out of the metrics', () => {
    const { groups, metrics } = analyseCounts(['sex', 'site'], cellsOf(rows), { resamples: 0, minGroupSize: 0 });
    const inter = groups.filter((g) => g.intersection);
    expect(inter.map((g) => [g.feature, g.group, g.count, g.empty])).toEqual([
      ['sex × site', 'F × x', 6, false],
      ['sex × site', 'F × y', 0, true],
      ['sex × site', 'M × x', 0, true],
      ['sex × site', 'M × y', 6, false],
    ]);
    expect(group(groups, 'sex × site', 'F × y').selection_rate.value).toBeNull();
    expect(group(groups, 'sex × site', 'F × y').values).toEqual(['F', 'y']);
    const dp = metric(metrics, 'demographic_parity_difference', 'sex × site');
    expect(dp.groups).toEqual(['F × x', 'M × y']);
    expect(dp.value).toBeCloseTo(4 / 6 - 3 / 6, 15);
    // Each feature on its own too.
    expect(group(groups, 'sex', 'M').count).toBe(6);
    expect(metric(metrics, 'demographic_parity_difference', 'site').value).toBeCloseTo(4 / 6 - 3 / 6, 15);
  });
});

describe('Wilson intervals', () => {
  // Written out here from Wilson (1927), independently of the engine; z for 95% is Φ⁻¹(0.975).
  const closed = (x: number, n: number, z: number) => {
    const p = x / n;
    const d = 1 + (z * z) / n;
    const c = (p + (z * z) / (2 * n)) / d;
    const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
    return [c - h, c + h];
  };

  it('agree with the closed formula', () => {
    for (const [x, n] of [
      [0, 1],
      [1, 1],
      [3, 7],
      [50, 100],
      [999, 1000],
      [12345, 67890],
    ] as const) {
      const got = wilson(x, n, 0.95)!;
      const want = closed(x, n, 1.959963984540054);
      expect(got[0]).toBeCloseTo(Math.max(0, want[0]!), 12);
      expect(got[1]).toBeCloseTo(Math.min(1, want[1]!), 12);
    }
    const z99 = 2.5758293035489004;
    expect(wilson(7, 40, 0.99)![0]).toBeCloseTo(closed(7, 40, z99)[0]!, 12);
  });

  it('agree with published values (Newcombe 1998, Statistics in Medicine 17:857, table I, method 3)', () => {
    const published: [number, number, number, number][] = [
      [81, 263, 0.2553, 0.3662],
      [15, 148, 0.0624, 0.1605],
      [0, 20, 0, 0.1611],
      [1, 29, 0.0061, 0.1718],
    ];
    for (const [x, n, lo, hi] of published) {
      const [l, h] = wilson(x, n, 0.95)!;
      expect(l).toBeCloseTo(lo, 4);
      expect(h).toBeCloseTo(hi, 4);
    }
  });

  it('rest on a normal quantile and tail that match published values', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 14);
    expect(normalQuantile(0.995)).toBeCloseTo(2.5758293035489004, 14);
    expect(normalQuantile(0.1)).toBeCloseTo(-1.2815515655446004, 14);
    expect(normalQuantile(1e-12)).toBeCloseTo(-7.034483825301132, 12);
    expect(twoSidedNormalP(1.959963984540054)).toBeCloseTo(0.05, 14);
    expect(twoSidedNormalP(0.5)).toBeCloseTo(0.6170750774519738, 14);
    expect(twoSidedNormalP(6) / 1.973175290075396e-9).toBeCloseTo(1, 10);
  });
});

describe('the four-fifths rule', () => {
  it('carries the pooled two-proportion z-test between the lowest and highest selection rates', () => {
    const rows = [
      ...times(30, { y: 1, p: 1, s: ['A'] }),
      ...times(70, { y: 0, p: 0, s: ['A'] }),
      ...times(50, { y: 1, p: 1, s: ['B'] }),
      ...times(50, { y: 0, p: 0, s: ['B'] }),
    ] as Row[];
    const { metrics } = analyseCounts(['g'], cellsOf(rows), { resamples: 0, minGroupSize: 30 });
    const ff = metric(metrics, 'four_fifths_rule', 'g');
    expect(ff.value).toBeCloseTo(0.6, 15);
    // 30/100 against 50/100: pooled 0.4, se √(0.4·0.6·(2/100)), z = −0.2 / se.
    const z = -0.2 / Math.sqrt(0.4 * 0.6 * 0.02);
    expect(ff.test!.statistic).toBeCloseTo(z, 12);
    expect(ff.p_value).toBeCloseTo(0.0038924171227786, 12);
    expect(ff.test!.groups).toEqual(['A', 'B']);
    expect(ff.threshold).toEqual({ min: 0.8 });
    // Point mode: the estimate 0.6 < 0.8 fails.
    expect(analyseCounts(['g'], cellsOf(rows), { resamples: 0, mode: 'point' }).metrics.at(-1)!.verdict).toBe('fail');
    expect(twoProportionZTest(0, 10, 0, 10)).toBeNull();
  });
});

describe('bootstrap intervals', () => {
  const rows: Row[] = [
    ...times(200, { y: 1, p: 1, s: ['A'] }),
    ...times(100, { y: 1, p: 0, s: ['A'] }),
    ...times(250, { y: 0, p: 0, s: ['A'] }),
    ...times(50, { y: 0, p: 1, s: ['A'] }),
    ...times(60, { y: 1, p: 1, s: ['B'] }),
    ...times(140, { y: 1, p: 0, s: ['B'] }),
    ...times(190, { y: 0, p: 0, s: ['B'] }),
    ...times(10, { y: 0, p: 1, s: ['B'] }),
  ];

  it('are reproducible with a seed, change with it, and cover the point estimate', () => {
    const run = (seed: number) => analyseCounts(['g'], cellsOf(rows), { resamples: 400, seed }).metrics;
    const first = run(7);
    expect(run(7)).toEqual(first);
    const other = run(8);
    for (const m of first) {
      expect(m.ci, m.name).not.toBeNull();
      expect(m.ci![0], m.name).toBeLessThanOrEqual(m.value!);
      expect(m.ci![1], m.name).toBeGreaterThanOrEqual(m.value!);
      expect(m.ci![1]).toBeGreaterThan(m.ci![0]);
    }
    expect(other.map((m) => m.ci)).not.toEqual(first.map((m) => m.ci));
  });

  it('have roughly the width of the normal approximation for a difference of two proportions', () => {
    // Selection rates 250/600 and 70/400: the DP difference's standard error is √(p1q1/n1 + p2q2/n2).
    const m = metric(
      analyseCounts(['g'], cellsOf(rows), { resamples: 2000 }).metrics,
      'demographic_parity_difference',
      'g',
    );
    const se = Math.sqrt(((5 / 12) * (7 / 12)) / 600 + (0.175 * 0.825) / 400);
    const width = m.ci![1] - m.ci![0];
    expect(width / (2 * 1.96 * se)).toBeGreaterThan(0.85);
    expect(width / (2 * 1.96 * se)).toBeLessThan(1.15);
  });

  it('are null with no resamples', () => {
    expect(analyseCounts(['g'], cellsOf(rows), { resamples: 0 }).metrics.every((m) => m.ci === null)).toBe(true);
  });
});

describe('verdicts', () => {
  const involved = [
    { name: 'A', rows: 100 },
    { name: 'B', rows: 100 },
  ];
  const m = (value: number | null, ci: [number, number] | null) => ({ value, ci, undefinedReason: 'why' });

  it('point mode: the estimate decides', () => {
    expect(verdictFor(m(0.05, [0, 0.2]), { max: 0.1 }, 'point', involved, 30).verdict).toBe('pass');
    expect(verdictFor(m(0.15, [0.12, 0.2]), { max: 0.1 }, 'point', involved, 30).verdict).toBe('fail');
    expect(verdictFor(m(0.85, [0.7, 0.9]), { min: 0.8 }, 'point', involved, 30).verdict).toBe('pass');
  });

  it('interval mode: pass only wholly inside, fail only wholly outside, else inconclusive', () => {
    expect(verdictFor(m(0.05, [0.01, 0.09]), { max: 0.1 }, 'interval', involved, 30).verdict).toBe('pass');
    expect(verdictFor(m(0.15, [0.11, 0.2]), { max: 0.1 }, 'interval', involved, 30).verdict).toBe('fail');
    const straddle = verdictFor(m(0.05, [0.01, 0.2]), { max: 0.1 }, 'interval', involved, 30);
    expect(straddle).toEqual({ verdict: 'inconclusive', reason: expect.stringMatching(/straddles/) });
    expect(verdictFor(m(0.9, [0.81, 0.95]), { min: 0.8, max: 1 }, 'interval', involved, 30).verdict).toBe('pass');
    expect(verdictFor(m(0.5, null), { max: 0.1 }, 'interval', involved, 30).verdict).toBe('inconclusive');
  });

  it('an undefined value, a small group or a single group is inconclusive, never pass or fail', () => {
    expect(verdictFor(m(null, null), { max: 0.1 }, 'point', involved, 30)).toEqual({
      verdict: 'inconclusive',
      reason: 'undefined: why',
    });
    const small = verdictFor(m(0.5, [0.4, 0.6]), { max: 0.1 }, 'point', [...involved, { name: 'C', rows: 5 }], 30);
    expect(small.verdict).toBe('inconclusive');
    expect(small.reason).toMatch(/C \(5 rows\)/);
    expect(verdictFor(m(0, [0, 0]), { max: 0.1 }, 'point', [involved[0]!], 30).verdict).toBe('inconclusive');
  });

  it('a group below the minimum size makes every metric it enters inconclusive, from the thresholds given', () => {
    const rows: Row[] = [
      ...times(40, { y: 1, p: 1, s: ['A'] }),
      ...times(40, { y: 0, p: 0, s: ['A'] }),
      ...times(2, { y: 1, p: 1, s: ['B'] }),
      ...times(3, { y: 0, p: 0, s: ['B'] }),
    ];
    const thresholds = {
      demographic_parity_difference: { max: 0.5 },
      equalized_odds_difference: { max: 0.5 },
      equal_opportunity_difference: { max: 0.5 },
    };
    const analysed = (minGroupSize: number) =>
      analyseCounts(['g'], cellsOf(rows), { resamples: 0, mode: 'point', minGroupSize, thresholds }).metrics;
    const strict = analysed(10);
    for (const name of Object.keys(thresholds)) {
      const got = metric(strict, name, 'g');
      expect(got.verdict, name).toBe('inconclusive');
      expect(got.reason).toMatch(/minimum group size of 10: B \(5 rows\)/);
    }
    // The same data with the minimum at 5: the estimates decide.
    expect(metric(analysed(5), 'demographic_parity_difference', 'g').verdict).toBe('pass');
    expect(metric(analysed(5), 'demographic_parity_ratio', 'g').verdict).toBeUndefined();
  });
});
