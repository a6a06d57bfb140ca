import { z } from 'zod';
import { storable } from './storable.js';
import { durationMs } from './duration.js';
import type { Policy } from './policy.js';

/**
 * Bias-testing evidence: metrics as the AI team computed them, per sensitive
 * feature. Recomputing them from raw predictions plugs in here later; the
 * stage only needs the metric values and when the test was run.
 */
export const metricResultSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be a snake_case metric name, e.g. demographic_parity_ratio'),
  sensitiveFeature: z.string().trim().min(1).max(100),
  value: z.number().finite(),
  groups: z.record(z.string(), z.number().finite()).optional(),
});

export const biasEvidenceSchema = storable(
  z.object({
    submittedBy: z.email('must be an e-mail address').transform((e) => e.toLowerCase()),
    /** The day the test was run: evidence ages from here, not from the upload. */
    effectiveDate: z.iso.date('must be a date like 2026-11-20'),
    dataset: z.string().trim().min(3).max(1000),
    modelVersion: z.string().trim().min(1).max(100),
    metrics: z.array(metricResultSchema).min(1, 'submit at least one metric').max(500),
    notes: z.string().trim().max(4000).optional(),
  }),
);
export type BiasEvidence = z.infer<typeof biasEvidenceSchema>;
export type BiasEvidenceInput = z.input<typeof biasEvidenceSchema>;

export interface MetricVerdict {
  name: string;
  sensitiveFeature: string;
  /** Null for a computed metric no group defines (e.g. TPR without positives); such a metric is inconclusive. */
  value: number | null;
  min?: number;
  max?: number;
  passed: boolean;
  // What the bias-testing gate adds (domain/bias-gate.ts); verdicts of runs under older policies lack it.
  verdict?: 'pass' | 'fail' | 'inconclusive';
  /** Computed from predictions by the product, or declared (typed in) by the team. */
  source?: 'computed' | 'declared';
  /** Whether this verdict holds approval when it is not a pass: the policy requires the metric for the tier. */
  gating?: boolean;
  /** The bootstrap interval at the policy's level (computed metrics only). */
  ci?: [number, number] | null;
  reason?: string;
  intersection?: boolean;
  /** The groups that entered the metric, smallest first, with their row counts (at most MAX_SHOWN_GROUPS). */
  groups?: { group: string; count: number }[];
  groupCount?: number;
}

/**
 * Each metric against the thresholds of a policy from before the bias-testing gate; metrics without a
 * threshold pass but stay on record. Runs under such a policy keep judging this way (domain/bias-gate.ts).
 */
export function judgeEvidence(
  evidence: { metrics: { name: string; sensitiveFeature: string; value: number }[] },
  policy: Pick<Policy, 'fairness'>,
): MetricVerdict[] {
  const thresholds = policy.fairness ?? {};
  return evidence.metrics.map((m) => {
    const t = thresholds[m.name];
    const passed = !t || ((t.min === undefined || m.value >= t.min) && (t.max === undefined || m.value <= t.max));
    return { name: m.name, sensitiveFeature: m.sensitiveFeature, value: m.value, min: t?.min, max: t?.max, passed };
  });
}

export const metricKey = (m: { name: string; sensitiveFeature: string }) => `${m.name}:${m.sensitiveFeature}`;

export function evidenceIsStale(effectiveDate: string, now: Date, policy: Policy): boolean {
  return now.getTime() - Date.parse(effectiveDate) > durationMs(policy.evidence.maxAge);
}
