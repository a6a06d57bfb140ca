import { z } from 'zod';
import { storable } from './storable.js';
import { classificationProblems, euAiActSchema, type EuAiActCategory, type TransparencyDuty } from './eu-ai-act.js';
import { likelihoods, maxTier, severities, type Policy, type RiskTier } from './policy.js';

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

const text = (max = 4000) => z.string().trim().min(3).max(max);

export { annexIIIAreas, euAiActCategories, type EuAiActCategory } from './eu-ai-act.js';

/** A.7: where the data came from and how fit it is. */
export const dataSourceSchema = z.object({
  name: text(200),
  provenance: text(),
  personalData: z.boolean(),
  qualityMeasures: text(),
});

/** A.10: suppliers and third-party components. */
export const thirdPartySchema = z.object({
  name: text(200),
  role: z.enum(['model_provider', 'data_provider', 'platform', 'other']),
  responsibilities: text(),
});

/** EU AI Act Art. 27(1) (a)-(f): the deployer's fundamental rights impact assessment. */
export const friaSchema = z.object({
  processes: text(),
  periodAndFrequency: text(),
  affectedCategories: z.array(text(200)).min(1),
  specificRisks: text(),
  humanOversight: text(),
  mitigationAndComplaints: text(),
});

export const impactAssessmentSchema = storable(
  z
    .object({
      submittedBy: z.email('must be an e-mail address').transform((e) => e.toLowerCase()),
      intendedPurpose: z.string().trim().min(10).max(4000),
      contextOfUse: z.string().trim().min(10).max(4000),
      foreseeableMisuse: z.array(z.string().trim().min(3).max(1000)).max(50).default([]),
      euAiAct: euAiActSchema,
      /** Whether the system takes or supports decisions about natural persons. */
      decisionsAboutPeople: z.boolean(),
      impacts: z.array(impactSchema).min(1, 'list at least one identified impact').max(200),
      dataSources: z.array(dataSourceSchema).max(100).default([]),
      thirdParties: z.array(thirdPartySchema).max(100).default([]),
      fria: friaSchema.optional(),
      summary: z.string().trim().max(4000).optional(),
    })
    .superRefine((a, ctx) => {
      for (const p of classificationProblems(a.euAiAct)) {
        ctx.addIssue({ code: 'custom', path: ['euAiAct', ...p.path], message: p.message });
      }
    }),
);

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

/**
 * The worst impact decides the tier (a single severe, likely harm is not
 * averaged away), raised to the floor of the system's EU AI Act category.
 * Art. 50 duties apply alongside any category: a system that has them is
 * raised to at least the limited category's floor whatever its category.
 */
export function deriveRiskTier(
  assessment: {
    impacts: Pick<Impact, 'severity' | 'likelihood'>[];
    euAiAct: { category: EuAiActCategory; transparency?: readonly TransparencyDuty[] };
  },
  policy: Policy,
): { tier: RiskTier; score: number } {
  const score = Math.max(...assessment.impacts.map((i) => impactScore(i, policy)));
  const category = assessment.euAiAct.category;
  const floor = category === 'prohibited' ? 'high' : policy.euAiActTierFloor[category];
  const withDuties = assessment.euAiAct.transparency?.length ? maxTier(floor, policy.euAiActTierFloor.limited) : floor;
  return { tier: maxTier(tierForScore(score, policy), withDuties), score };
}
