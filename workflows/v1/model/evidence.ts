import { z } from 'zod';
import { durationMs } from '../../../domain/duration.js';
import type { Policy } from '../../../domain/policy.js';

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

export const biasEvidenceSchema = z.object({
  submittedBy: z.email('must be an e-mail address').transform((e) => e.toLowerCase()),
  /** The day the test was run: evidence ages from here, not from the upload. */
  effectiveDate: z.iso.date('must be a date like 2026-11-20'),
  dataset: z.string().trim().min(3).max(1000),
  modelVersion: z.string().trim().min(1).max(100),
  metrics: z.array(metricResultSchema).min(1, 'submit at least one metric').max(500),
  notes: z.string().trim().max(4000).optional(),
});
export type BiasEvidence = z.infer<typeof biasEvidenceSchema>;
export type BiasEvidenceInput = z.input<typeof biasEvidenceSchema>;

export interface MetricVerdict {
  name: string;
  sensitiveFeature: string;
  value: number;
  min?: number;
  max?: number;
  passed: boolean;
}

/** Each metric against the policy's thresholds; metrics without a threshold pass but stay on record. */
export function judgeEvidence(evidence: Pick<BiasEvidence, 'metrics'>, policy: Policy): MetricVerdict[] {
  return evidence.metrics.map((m) => {
    // Version 1 runs were all started under policies that set `fairness`.
    const t = policy.fairness?.[m.name];
    const passed = !t || ((t.min === undefined || m.value >= t.min) && (t.max === undefined || m.value <= t.max));
    return { name: m.name, sensitiveFeature: m.sensitiveFeature, value: m.value, min: t?.min, max: t?.max, passed };
  });
}

export const metricKey = (m: { name: string; sensitiveFeature: string }) => `${m.name}:${m.sensitiveFeature}`;

export function evidenceIsStale(effectiveDate: string, now: Date, policy: Policy): boolean {
  return now.getTime() - Date.parse(effectiveDate) > durationMs(policy.evidence.maxAge);
}
