/**
 * The fairness engine's arithmetic: from per-group confusion counts to per-group rates with Wilson intervals, and
 * to Fairlearn's across-group metrics with bootstrap intervals and verdicts. It never sees a row: the reader
 * (fairness/) streams the file into counts for each observed combination of sensitive values, and everything here
 * is computed from those, which is what keeps memory flat and makes the bootstrap a pass over counts, not over
 * the file.
 *
 * Definitions follow Fairlearn 0.15 (MetricFrame with `method="between_groups"`, equalized odds with
 * `agg="worst_case"`), with one divergence: a rate whose denominator is zero (the TPR of a group with no actual
 * positives, its FPR with no actual negatives, the precision of a group with no predicted positives) is
 * undefined here, with the reason, and left out of every difference and ratio; Fairlearn reports 0 for it through
 * scikit-learn's `nan_to_num`/`zero_division`, which then drags a min or a max to 0.
 *
 * Weights: a row adds its weight to its cell, as scikit-learn's `sample_weight` does, so every rate is a ratio of
 * weighted sums. The Wilson interval is computed on those weighted sums as if they were counts (successes = the
 * weighted numerator, trials = the weighted denominator): with unit weights it is the textbook interval; with
 * other weights it is a plug-in, and weights that do not average 1 change its width.
 *
 * Bootstrap (the method, also in the README under "Fairness: the method"): a Poisson bootstrap stratified by the
 * finest groups (Hanley & MacGibbon 2006; Chamandy et al. 2012). In each resample, every observed combination of
 * sensitive values redraws each of its four cells' row counts as Poisson(rows in that cell), which is exactly
 * what giving every row an independent Poisson(1) multiplicity does; a cell's weighted sum is its redrawn rows
 * times its mean weight (exact without weights, an approximation with unequal weights inside a cell). Groups of a
 * single feature are sums of these combinations, so a resample is consistent across features. Each metric is
 * recomputed per resample; its interval is the percentile interval (type 7 quantiles) of the resamples where it is
 * defined. The generator is xoshiro128** with the given seed (stats.ts): the same seed gives the same intervals.
 * A difference max−min is biased away from 0 when the groups are alike, so its interval can sit above a point
 * estimate near 0; the interval verdict is then inconclusive rather than pass, which is the safe side.
 */
import { Prng, quantileSorted, twoProportionZTest, wilson } from './stats.js';
import {
  INTERSECTION_JOINER,
  METRIC_NAMES,
  fairnessOptionsSchema,
  type ConfusionCounts,
  type FairnessOptions,
  type FairnessSettings,
  type GroupReport,
  type MetricName,
  type MetricReport,
  type Rate,
  type RateName,
  type Verdict,
} from './schema.js';

/** Counts for one observed combination of sensitive values (one value per feature, in feature order). */
export interface CellCounts {
  values: string[];
  counts: ConfusionCounts;
}

/** Input the engine refuses (too many groups, inconsistent cells): the caller reports it as bad input. */
export class FairnessInputError extends Error {}

/** Beyond this many groups in one feature or in the intersection, the report is no longer readable evidence. */
export const MAX_GROUPS = 10_000;

export function emptyCounts(): ConfusionCounts {
  return { tp: 0, fp: 0, fn: 0, tn: 0, rows: 0, weight: 0, cellRows: { tp: 0, fp: 0, fn: 0, tn: 0 } };
}

export function addCounts(into: ConfusionCounts, c: ConfusionCounts): void {
  into.tp += c.tp;
  into.fp += c.fp;
  into.fn += c.fn;
  into.tn += c.tn;
  into.rows += c.rows;
  into.weight += c.weight;
  into.cellRows.tp += c.cellRows.tp;
  into.cellRows.fp += c.cellRows.fp;
  into.cellRows.fn += c.cellRows.fn;
  into.cellRows.tn += c.cellRows.tn;
}

type Fraction = { num: number; den: number; zeroReason: string };

function fraction(rate: RateName, c: ConfusionCounts): Fraction {
  switch (rate) {
    case 'selection_rate':
      return { num: c.tp + c.fp, den: c.weight, zeroReason: 'the group has no weight (its weights sum to 0)' };
    case 'true_positive_rate':
      return {
        num: c.tp,
        den: c.tp + c.fn,
        zeroReason: 'no actual positives in the group (tp + fn = 0); Fairlearn reports 0',
      };
    case 'false_positive_rate':
      return {
        num: c.fp,
        den: c.fp + c.tn,
        zeroReason: 'no actual negatives in the group (fp + tn = 0); Fairlearn reports 0',
      };
    case 'false_negative_rate':
      return {
        num: c.fn,
        den: c.tp + c.fn,
        zeroReason: 'no actual positives in the group (tp + fn = 0); Fairlearn reports 0',
      };
    case 'precision':
      return {
        num: c.tp,
        den: c.tp + c.fp,
        zeroReason: 'no predicted positives in the group (tp + fp = 0); Fairlearn reports 0',
      };
  }
}

/** The rate's value, or null where its denominator is zero. */
export function rateValue(rate: RateName, c: ConfusionCounts): number | null {
  const f = fraction(rate, c);
  return f.den > 0 ? f.num / f.den : null;
}

/** The rate with its Wilson interval at `level` (weighted sums as counts: see the header). */
export function rate(name: RateName, c: ConfusionCounts, level: number): Rate {
  if (c.rows === 0) return { value: null, ci: null, undefinedReason: 'empty group: no rows' };
  const f = fraction(name, c);
  if (!(f.den > 0)) return { value: null, ci: null, undefinedReason: f.zeroReason };
  return { value: f.num / f.den, ci: wilson(f.num, f.den, level) };
}

/** A family: one sensitive feature's groups, or the intersection's. */
interface Family {
  feature: string;
  intersection: boolean;
  /** Non-empty groups only: empty intersections are reported but enter no metric. */
  groups: { name: string; counts: ConfusionCounts }[];
}

const byValue = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The groups of each feature, and of the intersection of all features when there are two or more: the Cartesian
 * product of the values seen, empty combinations included (marked empty).
 */
export function buildGroups(
  features: string[],
  cells: CellCounts[],
  level: number,
  minGroupSize: number,
): { groups: GroupReport[]; families: Family[]; index: number[][] } {
  if (!features.length) throw new FairnessInputError('at least one sensitive feature is needed');
  for (const cell of cells) {
    if (cell.values.length !== features.length) {
      throw new FairnessInputError(`a cell has ${cell.values.length} values for ${features.length} features`);
    }
  }
  const groups: GroupReport[] = [];
  const families: Family[] = [];
  // index[f][cell] = the position, in families[f].groups, of the group the cell falls into (for the bootstrap).
  const index: number[][] = [];
  const report = (feature: string, values: string[], intersection: boolean, counts: ConfusionCounts): GroupReport => ({
    feature,
    group: values.join(INTERSECTION_JOINER),
    values,
    intersection,
    empty: counts.rows === 0,
    count: counts.rows,
    small: counts.rows > 0 && counts.rows < minGroupSize,
    confusion: counts,
    selection_rate: rate('selection_rate', counts, level),
    true_positive_rate: rate('true_positive_rate', counts, level),
    false_positive_rate: rate('false_positive_rate', counts, level),
    false_negative_rate: rate('false_negative_rate', counts, level),
    precision: rate('precision', counts, level),
  });

  const valuesOf = features.map((_, f) => [...new Set(cells.map((c) => c.values[f]!))].sort(byValue));
  features.forEach((feature, f) => {
    if (valuesOf[f]!.length > MAX_GROUPS) {
      throw new FairnessInputError(
        `sensitive feature "${feature}" has ${valuesOf[f]!.length} distinct values; at most ${MAX_GROUPS} are analysed`,
      );
    }
    const position = new Map(valuesOf[f]!.map((v, i) => [v, i]));
    const sums = valuesOf[f]!.map(() => emptyCounts());
    const at = cells.map((c) => position.get(c.values[f]!)!);
    cells.forEach((c, i) => addCounts(sums[at[i]!]!, c.counts));
    const family: Family = { feature, intersection: false, groups: [] };
    valuesOf[f]!.forEach((v, i) => {
      groups.push(report(feature, [v], false, sums[i]!));
      family.groups.push({ name: v, counts: sums[i]! });
    });
    families.push(family);
    index.push(at);
  });

  if (features.length > 1) {
    const size = valuesOf.reduce((n, vs) => n * vs.length, 1);
    if (size > MAX_GROUPS) {
      throw new FairnessInputError(
        `the intersection of ${features.join(', ')} has ${size} combinations; at most ${MAX_GROUPS} are analysed`,
      );
    }
    const feature = features.join(INTERSECTION_JOINER);
    const observed = new Map(cells.map((c, i) => [JSON.stringify(c.values), i]));
    const family: Family = { feature, intersection: true, groups: [] };
    const at = new Array<number>(cells.length);
    for (const values of cartesian(valuesOf)) {
      const i = observed.get(JSON.stringify(values));
      const counts = emptyCounts();
      if (i !== undefined) addCounts(counts, cells[i]!.counts);
      groups.push(report(feature, values, true, counts));
      if (counts.rows > 0) {
        if (i !== undefined) at[i] = family.groups.length;
        family.groups.push({ name: values.join(INTERSECTION_JOINER), counts });
      }
    }
    families.push(family);
    index.push(at);
  }
  return { groups, families, index };
}

function* cartesian(lists: string[][]): Generator<string[]> {
  const [first, ...rest] = lists;
  if (!first) {
    yield [];
    return;
  }
  for (const v of first) for (const tail of cartesian(rest)) yield [v, ...tail];
}

/** max − min and min / max of a rate over the groups where it is defined. */
interface Spread {
  defined: number[];
  lowest: number;
  highest: number;
  difference: number | null;
  ratio: number | null;
}

function spread(rate: RateName, counts: ConfusionCounts[]): Spread {
  const defined: number[] = [];
  let lowest = -1;
  let highest = -1;
  let min = Infinity;
  let max = -Infinity;
  counts.forEach((c, i) => {
    const v = rateValue(rate, c);
    if (v === null || c.rows === 0) return;
    defined.push(i);
    if (v < min) [min, lowest] = [v, i];
    if (v > max) [max, highest] = [v, i];
  });
  if (!defined.length) return { defined, lowest, highest, difference: null, ratio: null };
  return { defined, lowest, highest, difference: max - min, ratio: max > 0 ? min / max : null };
}

/** Every metric's value for one family's group counts: the numeric core the point estimate and bootstrap share. */
function metricValues(counts: ConfusionCounts[]): Record<MetricName, number | null> {
  const sel = spread('selection_rate', counts);
  const tpr = spread('true_positive_rate', counts);
  const fpr = spread('false_positive_rate', counts);
  return {
    demographic_parity_difference: sel.difference,
    demographic_parity_ratio: sel.ratio,
    equalized_odds_difference:
      tpr.difference === null || fpr.difference === null ? null : Math.max(tpr.difference, fpr.difference),
    equalized_odds_ratio: tpr.ratio === null || fpr.ratio === null ? null : Math.min(tpr.ratio, fpr.ratio),
    equal_opportunity_difference: tpr.difference,
    four_fifths_rule: sel.ratio,
  };
}

/** The rates a metric is computed from. */
const METRIC_RATES: Record<MetricName, RateName[]> = {
  demographic_parity_difference: ['selection_rate'],
  demographic_parity_ratio: ['selection_rate'],
  equalized_odds_difference: ['true_positive_rate', 'false_positive_rate'],
  equalized_odds_ratio: ['true_positive_rate', 'false_positive_rate'],
  equal_opportunity_difference: ['true_positive_rate'],
  four_fifths_rule: ['selection_rate'],
};

const RATIO_METRICS = new Set<MetricName>(['demographic_parity_ratio', 'equalized_odds_ratio', 'four_fifths_rule']);

/** The four-fifths rule's own threshold (29 CFR 1607.4(D)); a thresholds entry for it replaces this. */
export const FOUR_FIFTHS = { min: 0.8 } as const;

function undefinedReason(name: MetricName, counts: ConfusionCounts[]): string {
  for (const r of METRIC_RATES[name]) {
    const s = spread(r, counts);
    if (!s.defined.length) return `no group has a defined ${r}`;
    if (RATIO_METRICS.has(name) && s.ratio === null) return `every group's ${r} is 0, so the ratio is 0/0`;
  }
  return 'undefined';
}

/** Bootstrap replicates of every metric for each family (see the header): [family][metric] → values. */
function bootstrap(
  families: Family[],
  index: number[][],
  cells: CellCounts[],
  settings: FairnessSettings,
): Record<MetricName, number[]>[] {
  const prng = new Prng(settings.seed);
  const out = families.map(() => Object.fromEntries(METRIC_NAMES.map((m) => [m, [] as number[]])));
  const meanWeight = cells.map(({ counts: c }) => ({
    tp: c.cellRows.tp ? c.tp / c.cellRows.tp : 0,
    fp: c.cellRows.fp ? c.fp / c.cellRows.fp : 0,
    fn: c.cellRows.fn ? c.fn / c.cellRows.fn : 0,
    tn: c.cellRows.tn ? c.tn / c.cellRows.tn : 0,
  }));
  const resampled = cells.map(() => emptyCounts());
  for (let r = 0; r < settings.resamples; r++) {
    cells.forEach(({ counts: c }, i) => {
      const into = resampled[i]!;
      const w = meanWeight[i]!;
      const tp = prng.poisson(c.cellRows.tp);
      const fp = prng.poisson(c.cellRows.fp);
      const fn = prng.poisson(c.cellRows.fn);
      const tn = prng.poisson(c.cellRows.tn);
      into.cellRows = { tp, fp, fn, tn };
      into.rows = tp + fp + fn + tn;
      into.tp = tp * w.tp;
      into.fp = fp * w.fp;
      into.fn = fn * w.fn;
      into.tn = tn * w.tn;
      into.weight = into.tp + into.fp + into.fn + into.tn;
    });
    families.forEach((family, f) => {
      const sums = family.groups.map(() => emptyCounts());
      resampled.forEach((c, i) => addCounts(sums[index[f]![i]!]!, c));
      const values = metricValues(sums);
      for (const m of METRIC_NAMES) {
        const v = values[m];
        if (v !== null) out[f]![m]!.push(v);
      }
    });
  }
  return out as Record<MetricName, number[]>[];
}

function percentile(values: number[], level: number): [number, number] | null {
  if (!values.length) return null;
  const sorted = Float64Array.from(values).sort();
  const tail = (1 - level) / 2;
  return [quantileSorted(sorted, tail), quantileSorted(sorted, 1 - tail)];
}

/**
 * The verdict on a metric against its threshold. `point`: the estimate decides. `interval`: pass only if the
 * whole interval is on the good side, fail only if the whole interval is on the bad side, otherwise
 * inconclusive. Before either: an undefined value, a group below the minimum size among those the metric is
 * computed from, or fewer than two such groups make it inconclusive, never pass.
 */
export function verdictFor(
  metric: Pick<MetricReport, 'value' | 'ci' | 'undefinedReason'>,
  threshold: { min?: number | undefined; max?: number | undefined },
  mode: 'point' | 'interval',
  involved: { name: string; rows: number }[],
  minGroupSize: number,
): { verdict: Verdict; reason: string } {
  if (metric.value === null) return { verdict: 'inconclusive', reason: `undefined: ${metric.undefinedReason}` };
  const small = involved.filter((g) => g.rows < minGroupSize);
  if (small.length) {
    const names = small.map((g) => `${g.name} (${g.rows} rows)`).join(', ');
    return { verdict: 'inconclusive', reason: `below the minimum group size of ${minGroupSize}: ${names}` };
  }
  if (involved.length < 2) {
    return { verdict: 'inconclusive', reason: 'fewer than two groups to compare' };
  }
  const { min, max } = threshold;
  const bound = [min !== undefined ? `≥ ${min}` : '', max !== undefined ? `≤ ${max}` : '']
    .filter(Boolean)
    .join(' and ');
  const fmt = (x: number) => String(Number(x.toPrecision(6)));
  if (mode === 'point') {
    const ok = (min === undefined || metric.value >= min) && (max === undefined || metric.value <= max);
    return { verdict: ok ? 'pass' : 'fail', reason: `${fmt(metric.value)} ${ok ? 'is' : 'is not'} ${bound}` };
  }
  if (!metric.ci) return { verdict: 'inconclusive', reason: 'no bootstrap interval (resamples 0, or none defined)' };
  const [lo, hi] = metric.ci;
  const shown = `[${fmt(lo)}, ${fmt(hi)}]`;
  if ((min === undefined || lo >= min) && (max === undefined || hi <= max)) {
    return { verdict: 'pass', reason: `the whole interval ${shown} is ${bound}` };
  }
  if ((min !== undefined && hi < min) || (max !== undefined && lo > max)) {
    return { verdict: 'fail', reason: `the whole interval ${shown} is outside ${bound}` };
  }
  return { verdict: 'inconclusive', reason: `the interval ${shown} straddles the threshold (${bound})` };
}

/** Groups and across-group metrics, with intervals and verdicts, from the cell counts. */
export function analyseCounts(
  features: string[],
  cells: CellCounts[],
  options: FairnessOptions = {},
): { settings: FairnessSettings; groups: GroupReport[]; metrics: MetricReport[] } {
  const settings = fairnessOptionsSchema.parse(options);
  const { groups, families, index } = buildGroups(features, cells, settings.level, settings.minGroupSize);
  const replicates = bootstrap(families, index, cells, settings);
  const metrics: MetricReport[] = [];
  families.forEach((family, f) => {
    const counts = family.groups.map((g) => g.counts);
    const values = metricValues(counts);
    for (const name of METRIC_NAMES) {
      const rates = METRIC_RATES[name];
      const spreads = rates.map((r) => spread(r, counts));
      const involvedAt = [...new Set(spreads.flatMap((s) => s.defined))].sort((a, b) => a - b);
      const value = values[name];
      // For equalized odds, the extremes of the rate that decided the worst case.
      let decisive = spreads[0]!;
      if (name === 'equalized_odds_difference' && spreads[1]!.difference! > spreads[0]!.difference!) {
        decisive = spreads[1]!;
      }
      if (name === 'equalized_odds_ratio' && spreads[1]!.ratio! < spreads[0]!.ratio!) decisive = spreads[1]!;
      const metric: MetricReport = {
        name,
        feature: family.feature,
        value,
        ci: value === null ? null : percentile(replicates[f]![name], settings.level),
        ...(value === null ? { undefinedReason: undefinedReason(name, counts) } : {}),
        groups: involvedAt.map((i) => family.groups[i]!.name),
        ...(decisive.lowest >= 0
          ? { lowest: family.groups[decisive.lowest]!.name, highest: family.groups[decisive.highest]!.name }
          : {}),
      };
      if (name === 'four_fifths_rule') {
        const sel = spreads[0]!;
        if (sel.lowest >= 0) {
          const low = family.groups[sel.lowest]!;
          const high = family.groups[sel.highest]!;
          const t = twoProportionZTest(
            low.counts.tp + low.counts.fp,
            low.counts.weight,
            high.counts.tp + high.counts.fp,
            high.counts.weight,
          );
          metric.p_value = t?.pValue ?? null;
          metric.test = {
            method: 'two_proportion_z_test',
            groups: [low.name, high.name],
            statistic: t?.statistic ?? null,
            p_value: t?.pValue ?? null,
          };
        } else {
          metric.p_value = null;
        }
      }
      const threshold = settings.thresholds[name] ?? (name === 'four_fifths_rule' ? FOUR_FIFTHS : undefined);
      if (threshold) {
        const involved = involvedAt.map((i) => ({ name: family.groups[i]!.name, rows: family.groups[i]!.counts.rows }));
        metric.threshold = threshold;
        Object.assign(metric, verdictFor(metric, threshold, settings.mode, involved, settings.minGroupSize));
      }
      metrics.push(metric);
    }
  });
  return { settings, groups, metrics };
}
