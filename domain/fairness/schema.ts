/**
 * The fairness report's shape: what `ai-lifecycle fairness --json` prints and what the engine returns. Key names
 * that name a metric are snake_case, spelled as Fairlearn's functions are (selection_rate,
 * demographic_parity_difference, ...), so a reader can put the two side by side; the other keys are camelCase like
 * the rest of the API. The parity test against Fairlearn reads this shape: it is a contract.
 */
import { z } from 'zod';

export const RATE_NAMES = [
  'selection_rate',
  'true_positive_rate',
  'false_positive_rate',
  'false_negative_rate',
  'precision',
] as const;
export const rateNameSchema = z.enum(RATE_NAMES);
export type RateName = z.infer<typeof rateNameSchema>;

export const METRIC_NAMES = [
  'demographic_parity_difference',
  'demographic_parity_ratio',
  'equalized_odds_difference',
  'equalized_odds_ratio',
  'equal_opportunity_difference',
  'four_fifths_rule',
] as const;
export const metricNameSchema = z.enum(METRIC_NAMES);
export type MetricName = z.infer<typeof metricNameSchema>;

/** The joiner of the feature names and of the values of an intersectional group: "sex × race", "F × B". */
export const INTERSECTION_JOINER = ' × ';

const intervalSchema = z.tuple([z.number(), z.number()]);

/** A rate: null (with why) where its denominator is zero; `ci` is the Wilson interval. */
export const rateSchema = z.object({
  value: z.number().nullable(),
  ci: intervalSchema.nullable(),
  undefinedReason: z.string().optional(),
});
export type Rate = z.infer<typeof rateSchema>;

/** Weighted cell sums (each row adds its weight, 1 without a weight column) and the row count behind each cell. */
export const confusionCountsSchema = z.object({
  tp: z.number().nonnegative(),
  fp: z.number().nonnegative(),
  fn: z.number().nonnegative(),
  tn: z.number().nonnegative(),
  /** Rows in the group (unweighted). */
  rows: z.number().int().nonnegative(),
  /** The group's weight sum: tp + fp + fn + tn. */
  weight: z.number().nonnegative(),
  /** Rows per cell: what the bootstrap resamples. */
  cellRows: z.object({
    tp: z.number().int().nonnegative(),
    fp: z.number().int().nonnegative(),
    fn: z.number().int().nonnegative(),
    tn: z.number().int().nonnegative(),
  }),
});
export type ConfusionCounts = z.infer<typeof confusionCountsSchema>;

export const groupReportSchema = z.object({
  /** The column name, or the names joined with INTERSECTION_JOINER for the intersection of all features. */
  feature: z.string(),
  /** The value, or the values joined with INTERSECTION_JOINER. */
  group: z.string(),
  /** The values one by one (one for a single feature): unambiguous even if a value contains the joiner. */
  values: z.array(z.string()),
  intersection: z.boolean(),
  /** An intersection no row falls into: reported, and left out of every metric. */
  empty: z.boolean(),
  /** Rows (unweighted), as Fairlearn's `count`. */
  count: z.number().int().nonnegative(),
  /** Below the minimum group size: every metric it enters is inconclusive. */
  small: z.boolean(),
  confusion: confusionCountsSchema,
  selection_rate: rateSchema,
  true_positive_rate: rateSchema,
  false_positive_rate: rateSchema,
  false_negative_rate: rateSchema,
  precision: rateSchema,
});
export type GroupReport = z.infer<typeof groupReportSchema>;

export const verdictSchema = z.enum(['pass', 'fail', 'inconclusive']);
export type Verdict = z.infer<typeof verdictSchema>;

export const thresholdSchema = z
  .object({ max: z.number().optional(), min: z.number().optional() })
  .strict()
  .refine((t) => t.max !== undefined || t.min !== undefined, 'a threshold needs max, min or both');
export const thresholdsSchema = z.partialRecord(metricNameSchema, thresholdSchema);
export type Thresholds = z.infer<typeof thresholdsSchema>;

export const verdictModeSchema = z.enum(['point', 'interval']);
export type VerdictMode = z.infer<typeof verdictModeSchema>;

export const metricReportSchema = z.object({
  name: metricNameSchema,
  feature: z.string(),
  value: z.number().nullable(),
  /** Percentile bootstrap interval; null when too few resamples define the metric. */
  ci: intervalSchema.nullable(),
  undefinedReason: z.string().optional(),
  /** The groups whose rate is defined and so entered the metric. */
  groups: z.array(z.string()),
  /** For a difference or ratio: the groups at the extremes (of the rate that decided, for equalized odds). */
  lowest: z.string().optional(),
  highest: z.string().optional(),
  /** Present when a threshold applies (always for four_fifths_rule: min 0.8 unless overridden). */
  threshold: thresholdSchema.optional(),
  verdict: verdictSchema.optional(),
  reason: z.string().optional(),
  /** four_fifths_rule only: the two-sided p-value of the test between the lowest and highest selection rates. */
  p_value: z.number().nullable().optional(),
  test: z
    .object({
      method: z.literal('two_proportion_z_test'),
      groups: z.tuple([z.string(), z.string()]),
      statistic: z.number().nullable(),
      p_value: z.number().nullable(),
    })
    .optional(),
});
export type MetricReport = z.infer<typeof metricReportSchema>;

export const fairnessOptionsSchema = z.object({
  /** Two-sided level of every interval. */
  level: z.number().gt(0).lt(1).default(0.95),
  resamples: z.number().int().min(0).max(100_000).default(1000),
  seed: z.number().int().min(0).max(0xffffffff).default(42),
  /** Rows; a smaller group makes the metrics it enters inconclusive. */
  minGroupSize: z.number().int().min(0).default(30),
  mode: verdictModeSchema.default('interval'),
  thresholds: thresholdsSchema.default({}),
});
export type FairnessOptions = z.input<typeof fairnessOptionsSchema>;
export type FairnessSettings = z.output<typeof fairnessOptionsSchema>;

export const skippedRowSchema = z.object({ line: z.number().int(), message: z.string() });

export const fairnessReportSchema = z.object({
  /** Data rows counted (skipped rows excluded). */
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  /** SHA-256 of the file's bytes, hex. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  features: z.array(z.string()).min(1),
  /** How a label or prediction was read as positive, in words. */
  positive: z.string(),
  settings: z.object({
    level: z.number(),
    resamples: z.number().int(),
    seed: z.number().int(),
    minGroupSize: z.number().int(),
    mode: verdictModeSchema,
  }),
  skipped: z.object({ count: z.number().int().nonnegative(), first: z.array(skippedRowSchema) }),
  groups: z.array(groupReportSchema),
  metrics: z.array(metricReportSchema),
});
export type FairnessReport = z.infer<typeof fairnessReportSchema>;
