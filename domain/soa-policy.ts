import { z } from 'zod';
import { controlIdSchema } from './controls.js';

/**
 * policy.statementOfApplicability: the Annex A controls the organisation
 * excludes, each with its justification, as the Statement of Applicability
 * states them (ISO/IEC 42001 6.1.3(d)). Apart from domain/applicability.ts so
 * that the policy, which workflows import, does not pull in the mapping.
 */
export const applicabilityPolicySchema = z
  .object({
    exclusions: z
      .array(
        z.object({
          control: controlIdSchema,
          justification: z.string().trim().min(20, 'justify the exclusion (20 characters at least)').max(2000),
        }),
      )
      .max(38),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    for (const [i, e] of p.exclusions.entries()) {
      if (seen.has(e.control))
        ctx.addIssue({ code: 'custom', path: ['exclusions', i, 'control'], message: `${e.control} is excluded twice` });
      seen.add(e.control);
    }
  });
export type ApplicabilityPolicy = z.infer<typeof applicabilityPolicySchema>;
