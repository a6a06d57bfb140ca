import { z } from 'zod';
import { likelihoods, severities, type Policy, type RiskTier } from './policy.js';

/**
 * Impact areas from ISO/IEC 42005 and the EU AI Act's fundamental-rights
 * lens; each identified impact is scored severity × likelihood.
 */
export const impactAreas = [
  'fundamental_rights',
  'fairness',
  'safety',
  'privacy',
  'transparency',
  'human_oversight',
  'environment',
  'security',
  'societal',
] as const;

export const impactSchema = z.object({
  area: z.enum(impactAreas),
  description: z.string().trim().min(5).max(4000),
  affected: z.array(z.string().trim().min(1).max(200)).min(1, 'name who is affected').max(50),
  severity: z.enum(severities),
  likelihood: z.enum(likelihoods),
});

export const impactAssessmentSchema = z.object({
  submittedBy: z.email('must be an e-mail address').transform((e) => e.toLowerCase()),
  intendedPurpose: z.string().trim().min(10).max(4000),
  contextOfUse: z.string().trim().min(10).max(4000),
  foreseeableMisuse: z.array(z.string().trim().min(3).max(1000)).max(50).default([]),
  impacts: z.array(impactSchema).min(1, 'list at least one identified impact').max(200),
  summary: z.string().trim().max(4000).optional(),
});

export type ImpactAssessment = z.infer<typeof impactAssessmentSchema>;
export type ImpactAssessmentInput = z.input<typeof impactAssessmentSchema>;
export type Impact = z.infer<typeof impactSchema>;

export function impactScore(impact: Pick<Impact, 'severity' | 'likelihood'>, policy: Policy): number {
  return policy.riskScoring.severity[impact.severity] * policy.riskScoring.likelihood[impact.likelihood];
}

export function tierForScore(score: number, policy: Policy): RiskTier {
  const { tierMinScore } = policy.riskScoring;
  if (score >= tierMinScore.high) return 'high';
  if (score >= tierMinScore.medium) return 'medium';
  return 'low';
}

/** The worst impact decides the tier: a single severe, likely harm is not averaged away. */
export function deriveRiskTier(
  assessment: Pick<ImpactAssessment, 'impacts'>,
  policy: Policy,
): { tier: RiskTier; score: number } {
  const score = Math.max(...assessment.impacts.map((i) => impactScore(i, policy)));
  return { tier: tierForScore(score, policy), score };
}
