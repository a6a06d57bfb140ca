import { z } from 'zod';
import { durationSchema } from './duration.js';
import { metricNameSchema, thresholdsSchema, verdictModeSchema, verdictSchema } from './fairness/schema.js';
import { storable } from './storable.js';
import type { MetricVerdict } from './evidence.js';
import { emailSchema } from './system.js';

/**
 * The bias-testing gate (ISO/IEC 42001 A.6.2.4 verification, A.5 impact): the
 * policy names the metrics each tier must show per sensitive feature and their
 * thresholds; evidence is computed by the product from the predictions, or
 * declared by the team where the policy still allows it; a `fail` or
 * `inconclusive` verdict holds approval until new passing evidence or the
 * governance lead's recorded acceptance of that risk.
 */

const metricName = z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be a snake_case metric name');
const metricList = z.array(metricNameSchema).max(20);

export const biasTestingPolicySchema = z
  .strictObject({
    /** Threshold of each metric; a verdict compares the point or the whole interval against it. */
    thresholds: thresholdsSchema,
    /** Metrics each tier must show for every sensitive feature. */
    required: z.strictObject({ low: metricList, medium: metricList, high: metricList }),
    /** Other names a declared submission may carry: recorded and shown, never judged. */
    informational: z.array(metricName).max(100),
    /** Whether metrics of the intersection of all features gate too, or are reported only. */
    judgeIntersections: z.boolean(),
    /** Rows; a smaller group makes every metric it enters inconclusive. */
    minGroupSize: z.number().int().min(1).max(1_000_000),
    /** Two-sided level of every interval. */
    level: z.number().gt(0.5).lt(1),
    /** `interval`: pass only when the whole interval is within the threshold; `point`: the estimate decides. */
    verdicts: verdictModeSchema,
    bootstrap: z.strictObject({
      resamples: z.number().int().min(0).max(100_000),
      seed: z.number().int().min(0).max(0xffffffff),
    }),
    /**
     * Metric values typed in by the team carry no interval and no group sizes: `judge` compares the value
     * (the verdict is marked declared), `refuse` accepts evidence only as predictions the product computes from.
     */
    declaredMetrics: z.enum(['judge', 'refuse']),
    uploads: z.strictObject({
      maxBytes: z
        .number()
        .int()
        .min(1024)
        .max(64 * 1024 ** 3),
      /** Up to this many malformed rows are skipped and reported; one more refuses the file. */
      maxMalformedRows: z.number().int().min(0).max(1_000_000),
      /** How long an analysis may run before it is recorded as failed. */
      analysisTimeout: durationSchema,
    }),
    riskAcceptance: z.strictObject({ minReasonLength: z.number().int().min(1).max(2000) }),
  })
  .superRefine((p, ctx) => {
    for (const tier of ['low', 'medium', 'high'] as const) {
      p.required[tier].forEach((name, i) => {
        if (!p.thresholds[name] && name !== 'four_fifths_rule') {
          ctx.addIssue({
            code: 'custom',
            path: ['required', tier, i],
            message: `${name} is required but has no threshold`,
          });
        }
      });
    }
  });
export type BiasTestingPolicy = z.infer<typeof biasTestingPolicySchema>;

/** A column of the predictions file, as named in the request. */
export const columnSchema = z.string().min(1).max(200);

export const predictionSpecSchema = z.strictObject({
  format: z.enum(['csv', 'jsonl']),
  label: columnSchema,
  prediction: columnSchema,
  sensitive: z.array(columnSchema).min(1, 'name at least one sensitive column').max(8),
  score: columnSchema.optional(),
  weight: columnSchema.optional(),
  /** The positive class; without it 1/true/yes are positive. */
  positive: z.string().min(1).max(200).optional(),
});
export type PredictionSpecInput = z.infer<typeof predictionSpecSchema>;

export const analysisIdSchema = z.string().regex(/^an-[0-9a-f]{24}$/, 'must be an analysis id like an-<24 hex digits>');

/**
 * What the API sends once the upload is in the blob store: the file's hash,
 * never its rows. The workflow runs the computation in an activity and
 * consumes the verdicts when it ends.
 */
export const analysisRequestSchema = storable(
  z.strictObject({
    analysisId: analysisIdSchema,
    submittedBy: emailSchema,
    modelVersion: z.string().min(1).max(100),
    /** The day the model produced these predictions: evidence ages from here. */
    effectiveDate: z.iso.date('must be a date like 2026-11-20'),
    dataset: z.string().trim().min(3).max(1000),
    /** SHA-256 of the uploaded bytes: the blob store's key. */
    blob: z.string().regex(/^[0-9a-f]{64}$/),
    bytes: z.number().int().min(0),
    spec: predictionSpecSchema,
  }),
);
export type AnalysisRequest = z.output<typeof analysisRequestSchema>;

/** The governance lead accepts the risk of metrics that fail or are inconclusive, with reasons. */
export const fairnessRiskAcceptanceSchema = storable(
  z.strictObject({
    acceptedBy: emailSchema,
    /** The evidence version judged: an acceptance never carries over to newer evidence. */
    evidenceVersion: z.number().int().min(1),
    /** metric:feature keys, as the evidence lists them. */
    metrics: z.array(z.string().min(3).max(300)).min(1, 'name at least one metric').max(200),
    reasons: z.string().trim().min(1).max(4000),
  }),
);
export type FairnessRiskAcceptance = z.output<typeof fairnessRiskAcceptanceSchema>;

/** One involved group and its size, as the verdict shows it. */
const groupSizeSchema = z.object({ group: z.string(), count: z.number().int().nonnegative() });

/**
 * The activity's answer, small enough for workflow history: the full report
 * (every group's rates and intervals) is in the record store under reportDigest.
 */
export const computedFairnessSchema = z.object({
  reportDigest: z.string().regex(/^[0-9a-f]{64}$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  skippedRows: z.number().int().nonnegative(),
  features: z.array(z.string()),
  metrics: z.array(
    z.object({
      name: metricNameSchema,
      feature: z.string(),
      intersection: z.boolean(),
      value: z.number().nullable(),
      ci: z.tuple([z.number(), z.number()]).nullable(),
      verdict: verdictSchema.optional(),
      reason: z.string().optional(),
      undefinedReason: z.string().optional(),
      /** The groups that entered the metric with their row counts, smallest first, at most MAX_SHOWN_GROUPS. */
      groups: z.array(groupSizeSchema),
      /** How many groups entered the metric in all. */
      groupCount: z.number().int().nonnegative(),
    }),
  ),
});
export type ComputedFairness = z.infer<typeof computedFairnessSchema>;

/** Groups kept beside a verdict in workflow state; the report in the record store has them all. */
export const MAX_SHOWN_GROUPS = 20;

/** A predictions file the activity cannot analyse: the activity fails with this type, never retried. */
export const BAD_PREDICTIONS_FILE = 'BadPredictionsFile';

export interface AnalysisRecord {
  id: string;
  requestedAt: string;
  submittedBy: string;
  modelVersion: string;
  effectiveDate: string;
  dataset: string;
  blob: string;
  bytes: number;
  spec: PredictionSpecInput;
  status: 'running' | 'completed' | 'failed' | 'superseded';
  finishedAt: string | null;
  reportDigest: string | null;
  /** The evidence version the verdicts became (completed only). */
  evidenceVersion: number | null;
  error: string | null;
  issues: { line: number; message: string }[];
  /** The credential that uploaded the file, recorded beside the submitter on the evidence's events. */
  principal?: string;
}

/** What the activity needs, taken from the run's policy so verdicts follow the rules the run started under. */
export interface ComputeFairnessInput {
  systemId: string;
  analysisId: string;
  blob: string;
  spec: PredictionSpecInput;
  options: {
    level: number;
    resamples: number;
    seed: number;
    minGroupSize: number;
    mode: 'point' | 'interval';
    thresholds: z.infer<typeof thresholdsSchema>;
  };
  maxBytes: number;
  maxMalformedRows: number;
}

// ---- judging ------------------------------------------------------------------------------------

type Tier = 'low' | 'medium' | 'high';
type Threshold = { min?: number | undefined; max?: number | undefined };

/**
 * The gate of the policy a run judges by; null for runs started under a policy from before it, which replay
 * and keep judging by their own thresholds (domain/evidence.ts judgeEvidence) until they adopt a newer
 * policy at a cycle boundary. The recorded input decides the branch, so replay takes the one it took.
 */
export function gateOf(policy: { biasTesting?: BiasTestingPolicy | undefined }): BiasTestingPolicy | null {
  return policy.biasTesting ?? null;
}

const KNOWN: readonly string[] = metricNameSchema.options;

const within = (value: number, t: Threshold) =>
  (t.min === undefined || value >= t.min) && (t.max === undefined || value <= t.max);

const bounds = (t: Threshold | undefined) => ({
  ...(t?.min !== undefined ? { min: t.min } : {}),
  ...(t?.max !== undefined ? { max: t.max } : {}),
});

/** What is wrong with declared metrics under the gate: each problem with the path the API reports. */
export function declaredMetricProblems(
  metrics: { name: string; sensitiveFeature: string }[],
  declaredFeatures: readonly string[],
  gate: BiasTestingPolicy,
  tier: Tier,
): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (gate.declaredMetrics === 'refuse') {
    return [
      {
        path: 'metrics',
        message:
          'the policy accepts bias evidence only as computed from predictions: upload them to ' +
          'POST /api/v1/systems/:id/bias-evidence/predictions',
      },
    ];
  }
  metrics.forEach((m, i) => {
    if (!KNOWN.includes(m.name) && !gate.informational.includes(m.name)) {
      problems.push({
        path: `metrics.${i}.name`,
        message: `${m.name} is not a metric the policy knows: one of ${[...KNOWN, ...gate.informational].join(', ')}`,
      });
    }
  });
  const features = [...new Set([...declaredFeatures, ...metrics.map((m) => m.sensitiveFeature)])];
  const present = new Set(metrics.map((m) => `${m.name}:${m.sensitiveFeature}`));
  const missing = features.flatMap((f) =>
    gate.required[tier].filter((n) => !present.has(`${n}:${f}`)).map((n) => `${n}:${f}`),
  );
  if (missing.length) {
    problems.push({
      path: 'metrics',
      message: `a ${tier}-tier system must show ${gate.required[tier].join(', ')} for every sensitive feature; missing ${missing.join(', ')}`,
    });
  }
  return problems;
}

/** Declared values carry no interval and no group sizes: only the point can be judged, and the verdict says so. */
export function judgeDeclared(
  metrics: { name: string; sensitiveFeature: string; value: number }[],
  gate: BiasTestingPolicy,
  tier: Tier,
): MetricVerdict[] {
  return metrics.map((m) => {
    const t = KNOWN.includes(m.name) ? thresholdOf(gate, m.name) : undefined;
    const base = {
      name: m.name,
      sensitiveFeature: m.sensitiveFeature,
      value: m.value,
      ...bounds(t),
      source: 'declared' as const,
    };
    if (!t) return { ...base, passed: true, gating: false, reason: 'informational: recorded, not judged' };
    const ok = within(m.value, t);
    return {
      ...base,
      passed: ok,
      verdict: ok ? 'pass' : 'fail',
      gating: gate.required[tier].includes(m.name as (typeof gate.required)[Tier][number]),
      reason: `declared value ${m.value} ${ok ? 'within' : 'outside'} ${describeThreshold(t)} (no interval: not computed by the product)`,
    };
  });
}

/** The engine judged each metric by the run's thresholds; the gate decides which verdicts hold approval. */
export function judgeComputed(computed: ComputedFairness, gate: BiasTestingPolicy, tier: Tier): MetricVerdict[] {
  return computed.metrics.map((m) => {
    const t = thresholdOf(gate, m.name);
    const gating =
      t !== undefined && gate.required[tier].includes(m.name) && (!m.intersection || gate.judgeIntersections);
    return {
      name: m.name,
      sensitiveFeature: m.feature,
      value: m.value,
      ...bounds(t),
      passed: m.verdict === undefined || m.verdict === 'pass',
      ...(m.verdict ? { verdict: m.verdict } : {}),
      source: 'computed' as const,
      gating,
      ci: m.ci,
      ...(m.reason || m.undefinedReason ? { reason: m.reason ?? m.undefinedReason } : {}),
      intersection: m.intersection,
      groups: m.groups.slice(0, MAX_SHOWN_GROUPS),
      groupCount: m.groupCount,
    };
  });
}

function thresholdOf(gate: BiasTestingPolicy, name: string): Threshold | undefined {
  const t = (gate.thresholds as Record<string, Threshold | undefined>)[name];
  // The engine judges the four-fifths rule by its own definition unless the policy overrides it.
  return t ?? (name === 'four_fifths_rule' ? { min: 0.8 } : undefined);
}

function describeThreshold(t: Threshold): string {
  if (t.min !== undefined && t.max !== undefined) return `[${t.min}, ${t.max}]`;
  return t.min !== undefined ? `min ${t.min}` : `max ${t.max}`;
}

const key = (v: { name: string; sensitiveFeature: string }) => `${v.name}:${v.sensitiveFeature}`;

/** metric:feature keys of gating verdicts, by outcome: `fail` and `inconclusive` both hold approval. */
export function gateOutcome(verdicts: MetricVerdict[]): { failed: string[]; inconclusive: string[] } {
  const gating = verdicts.filter((v) => v.gating);
  return {
    failed: gating.filter((v) => v.verdict === 'fail').map(key),
    inconclusive: gating.filter((v) => v.verdict === 'inconclusive').map(key),
  };
}

/** Metrics that hold approval on this evidence: failed or inconclusive, and not accepted by the governance lead. */
export function openMetrics(evidence: {
  failed: string[];
  inconclusive?: string[] | undefined;
  accepted?: { metrics: string[] }[] | undefined;
}): string[] {
  const accepted = new Set((evidence.accepted ?? []).flatMap((a) => a.metrics));
  return blockingMetrics(evidence).filter((k) => !accepted.has(k));
}

export const blockingMetrics = (evidence: { failed: string[]; inconclusive?: string[] | undefined }) => [
  ...evidence.failed,
  ...(evidence.inconclusive ?? []),
];

// ---- how a verdict reads to an approver -------------------------------------------------------

/** One verdict as the approval e-mail lists it: small, so notifications stay small in history. */
export interface VerdictLine {
  metric: string;
  feature: string;
  verdict: 'pass' | 'fail' | 'inconclusive' | 'informational';
  value: number | null;
  ci: [number, number] | null;
  source: 'computed' | 'declared';
  /** "F 412, M 3,980" — the groups behind the number, smallest first. */
  groups: string;
  accepted: boolean;
}

/** E-mails list at most this many verdicts (holding ones first); the page shows them all. */
export const MAX_MAILED_VERDICTS = 12;

const thousands = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const num = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3).replace(/\.?0+$/, ''));

export function verdictLines(evidence: {
  verdicts: MetricVerdict[];
  accepted?: { metrics: string[] }[] | undefined;
}): VerdictLine[] {
  const accepted = new Set((evidence.accepted ?? []).flatMap((a) => a.metrics));
  return evidence.verdicts.map((v) => ({
    metric: v.name,
    feature: v.sensitiveFeature,
    verdict: v.verdict ?? 'informational',
    value: v.value,
    ci: v.ci ?? null,
    source: v.source ?? 'declared',
    groups: (v.groups ?? []).map((g) => `${g.group} ${thousands(g.count)}`).join(', '),
    accepted: accepted.has(key(v)),
  }));
}

/** "fail: 0.74 [0.69, 0.79] · groups 50_plus 412, under_30 1,204 (computed)", for e-mail text. */
export function describeVerdict(l: VerdictLine): string {
  const value = l.value === null ? 'undefined' : num(l.value);
  const ci = l.ci ? ` [${num(l.ci[0])}, ${num(l.ci[1])}]` : '';
  const groups = l.groups ? ` · groups ${l.groups}` : '';
  const accepted = l.accepted ? ' — risk accepted by the governance lead' : '';
  return `${l.metric} (${l.feature}): ${l.verdict} ${value}${ci}${groups} (${l.source})${accepted}`;
}

/** The lines an approval e-mail carries: verdicts that hold or held approval first, then the gating passes. */
export function mailedVerdicts(evidence: Parameters<typeof verdictLines>[0]): VerdictLine[] {
  const gatingKeys = new Set(evidence.verdicts.filter((v) => v.gating).map(key));
  const lines = verdictLines(evidence).filter((l) => gatingKeys.has(`${l.metric}:${l.feature}`));
  const rank = (l: VerdictLine) => (l.verdict === 'fail' ? 0 : l.verdict === 'inconclusive' ? 1 : 2);
  return [...lines].sort((a, b) => rank(a) - rank(b)).slice(0, MAX_MAILED_VERDICTS);
}
