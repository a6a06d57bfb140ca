import { z } from 'zod';
import { likelihoods, severities, type Policy } from '../../../domain/policy.js';
import { controlIdSchema } from '../../../domain/controls.js';

/** ISO/IEC 42001 6.1.3 risk treatment: one item per identified risk. */
export const treatmentItemSchema = z.object({
  risk: z.string().trim().min(3).max(1000),
  option: z.enum(['modify', 'avoid', 'share', 'retain']),
  controls: z.array(controlIdSchema).min(1, 'name the Annex A controls applied').max(38),
  measures: z.string().trim().min(3).max(4000),
  owner: z.email('must be an e-mail address').transform((e) => e.toLowerCase()),
  dueDate: z.iso.date('must be a date like 2027-01-31'),
  residualSeverity: z.enum(severities),
  residualLikelihood: z.enum(likelihoods),
  /** Failed fairness metrics (name:sensitiveFeature) this item answers. */
  addressesMetrics: z
    .array(z.string().regex(/^[a-z][a-z0-9_]*:.+$/, 'must be metric:feature'))
    .max(100)
    .default([]),
});

export const treatmentPlanSchema = z.object({
  submittedBy: z.email('must be an e-mail address').transform((e) => e.toLowerCase()),
  items: z.array(treatmentItemSchema).min(1, 'list at least one treated risk').max(200),
});
export type TreatmentPlan = z.infer<typeof treatmentPlanSchema>;
export type TreatmentPlanInput = z.input<typeof treatmentPlanSchema>;

export function residualScore(plan: Pick<TreatmentPlan, 'items'>, policy: Policy): number {
  return Math.max(
    ...plan.items.map(
      (i) => policy.riskScoring.severity[i.residualSeverity] * policy.riskScoring.likelihood[i.residualLikelihood],
    ),
  );
}

/** Failed metrics that no plan item answers: each must be treated or re-tested before approval. */
export function unansweredMetrics(plan: Pick<TreatmentPlan, 'items'>, failedMetricKeys: string[]): string[] {
  const answered = new Set(plan.items.flatMap((i) => i.addressesMetrics));
  return failedMetricKeys.filter((k) => !answered.has(k));
}
