import { z } from 'zod';
import { durationSchema } from './duration.js';

/**
 * The governance policy: every number that decides how a system is treated
 * lives here, in one validated, versioned file, never as literals in code.
 * Workflows receive the parsed policy as input and record its version, so a
 * running lifecycle keeps the rules it started under.
 */
export const riskTiers = ['low', 'medium', 'high'] as const;
export const riskTierSchema = z.enum(riskTiers);
export type RiskTier = z.infer<typeof riskTierSchema>;

export const severities = ['negligible', 'minor', 'major', 'severe'] as const;
export const likelihoods = ['rare', 'unlikely', 'possible', 'likely'] as const;

const scoreTable = <T extends readonly [string, ...string[]]>(keys: T) =>
  z.object(Object.fromEntries(keys.map((k) => [k, z.number().int().min(1).max(10)])) as Record<T[number], z.ZodNumber>);

export const policySchema = z
  .object({
    version: z.string().min(1),
    riskScoring: z.object({
      severity: scoreTable(severities),
      likelihood: scoreTable(likelihoods),
      /** The highest score (severity × likelihood) among the impacts gives the tier. */
      tierMinScore: z.object({ medium: z.number().positive(), high: z.number().positive() }),
    }),
    /** Months between periodic reviews, per tier. */
    reviewCadenceMonths: z.object({
      low: z.number().int().min(1).max(60),
      medium: z.number().int().min(1).max(60),
      high: z.number().int().min(1).max(60),
    }),
    assessment: z.object({
      /** Nudge the owner when no assessment has arrived after this long, then every this long. */
      reminderAfter: durationSchema,
      maxReminders: z.number().int().min(0).max(20),
    }),
    approvals: z.object({
      /** How long an e-mailed approval link stays valid. */
      linkTtl: durationSchema,
      /** A reminder to the approver when no decision has arrived after this long, then every this long. */
      reminderAfter: durationSchema,
      maxReminders: z.number().int().min(0).max(20),
      /** After this long without a decision the governance lead is told. */
      escalateAfter: durationSchema,
    }),
  })
  .superRefine((p, ctx) => {
    if (p.riskScoring.tierMinScore.high <= p.riskScoring.tierMinScore.medium) {
      ctx.addIssue({
        code: 'custom',
        path: ['riskScoring', 'tierMinScore', 'high'],
        message: 'must be greater than the medium threshold',
      });
    }
  });

export type Policy = z.infer<typeof policySchema>;

export class PolicyError extends Error {
  constructor(
    source: string,
    readonly problems: string[],
  ) {
    super(`Policy ${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PolicyError';
  }
}

export function parsePolicy(raw: unknown, source = '(inline)'): Policy {
  const result = policySchema.safeParse(raw);
  if (!result.success) {
    throw new PolicyError(
      source,
      result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  return result.data;
}
