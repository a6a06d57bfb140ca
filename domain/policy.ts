import { z } from 'zod';
import { biasTestingPolicySchema } from './bias-gate.js';
import { cadenceSchema, durationMs, durationSchema } from './duration.js';
import { applicabilityPolicySchema } from './soa-policy.js';

/**
 * The governance policy: every number that decides how a system is treated
 * lives here, in one validated, versioned file, never as literals in code.
 * Workflows receive the parsed policy as input and record its version, so a
 * running lifecycle keeps the rules it started under.
 */
export const riskTiers = ['low', 'medium', 'high'] as const;
export const riskTierSchema = z.enum(riskTiers);
export type RiskTier = z.infer<typeof riskTierSchema>;

export const approverRoles = ['risk_owner', 'governance_lead'] as const;
export const approverRoleSchema = z.enum(approverRoles);
export type ApproverRole = z.infer<typeof approverRoleSchema>;

export const severities = ['negligible', 'minor', 'major', 'severe'] as const;
export const likelihoods = ['rare', 'unlikely', 'possible', 'likely'] as const;

const scoreTable = <T extends readonly [string, ...string[]]>(keys: T) =>
  z.object(Object.fromEntries(keys.map((k) => [k, z.number().int().min(1).max(10)])) as Record<T[number], z.ZodNumber>);

const rateLimitSchema = z.object({
  max: z.number().int().min(1).max(1_000_000),
  window: durationSchema,
});

export const policySchema = z
  .object({
    version: z.string().min(1),
    riskScoring: z.object({
      severity: scoreTable(severities),
      likelihood: scoreTable(likelihoods),
      /** The highest score (severity × likelihood) among the impacts gives the tier. */
      tierMinScore: z.object({ medium: z.number().positive(), high: z.number().positive() }),
    }),
    /** Time between periodic reviews, per tier, counted from the last completed review or approval. */
    reviewCadence: z.object({ low: cadenceSchema, medium: cadenceSchema, high: cadenceSchema }),
    assessment: z.object({
      /** Nudge the owner when no assessment has arrived after this long, then every this long. */
      reminderAfter: durationSchema,
      maxReminders: z.number().int().min(0).max(20),
    }),
    /** EU AI Act category → the lowest tier a system in it can have. */
    euAiActTierFloor: z.object({
      high_risk: riskTierSchema,
      limited: riskTierSchema,
      minimal: riskTierSchema,
    }),
    evidence: z.object({
      /** Bias testing is required from this tier up… */
      biasTestingFromTier: riskTierSchema,
      /** …and always when the system takes or supports decisions about people. */
      biasTestingWhenDecidingAboutPeople: z.boolean(),
      /** Evidence older than this (from the day the test ran) must be refreshed at review. */
      maxAge: durationSchema,
    }),
    /**
     * Thresholds of typed-in metrics under policies before 2026.12 (a metric absent here was recorded, not
     * judged). Runs started under such a policy replay and judge by it until they adopt a newer one; a policy
     * written today sets biasTesting instead.
     */
    fairness: z
      .record(
        z.string().regex(/^[a-z][a-z0-9_]*$/),
        z
          .object({ min: z.number().optional(), max: z.number().optional() })
          .refine((t) => t.min !== undefined || t.max !== undefined, 'needs min or max'),
      )
      .optional(),
    /** The bias-testing gate: required metrics per tier, thresholds, uncertainty and uploads (domain/bias-gate.ts). */
    biasTesting: biasTestingPolicySchema,
    /** Residual risk (severity × likelihood after treatment) above this needs the governance lead's acceptance. */
    riskAppetite: z.object({ maxResidualScore: z.number().positive() }),
    /** Who approves, in order, per tier. */
    approvalChains: z.object({
      low: z.array(approverRoleSchema).min(1),
      medium: z.array(approverRoleSchema).min(1),
      high: z.array(approverRoleSchema).min(1),
    }),
    reviews: z.object({
      /** The owner is reminded this long before a review falls due. */
      remindBefore: durationSchema,
      /** While overdue, the governance lead is told again every this long. */
      overdueEscalationEvery: durationSchema,
    }),
    /** When the governance lead's weekly digest of overdue and pending work goes out (UTC). */
    digest: z.object({
      dayOfWeek: z.enum(['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY']),
      hourUtc: z.number().int().min(0).max(23),
    }),
    incidents: z
      .object({
        /** A corrective action is due this long after its incident is reported. */
        correctiveActionDue: durationSchema,
        /**
         * Its owner is reminded this long before the due date; once overdue, the owner and the governance lead
         * are told, then again every `correctiveActionEscalateEvery`. Absent in policies from before these
         * reminders, whose runs send none.
         */
        correctiveActionReminderBefore: durationSchema.optional(),
        correctiveActionEscalateEvery: durationSchema.optional(),
      })
      .superRefine((i, ctx) => {
        if ((i.correctiveActionReminderBefore === undefined) !== (i.correctiveActionEscalateEvery === undefined)) {
          ctx.addIssue({
            code: 'custom',
            path: [
              i.correctiveActionReminderBefore === undefined
                ? 'correctiveActionReminderBefore'
                : 'correctiveActionEscalateEvery',
            ],
            message: 'correctiveActionReminderBefore and correctiveActionEscalateEvery come together',
          });
        }
        const before = i.correctiveActionReminderBefore;
        // Measured only once both parse: zod runs this refinement after a failed duration too.
        if (
          before &&
          durationSchema.safeParse(before).success &&
          durationSchema.safeParse(i.correctiveActionDue).success
        ) {
          if (durationMs(before) >= durationMs(i.correctiveActionDue)) {
            ctx.addIssue({
              code: 'custom',
              path: ['correctiveActionReminderBefore'],
              message: 'must be shorter than correctiveActionDue, or the reminder would go out before the incident',
            });
          }
        }
      }),
    /**
     * Dates that name something that already happened (occurredAt, effectiveDate, notifiedAt) may lie at most
     * this far ahead of the workflow's clock, for senders whose clocks run ahead (domain/dates.ts). Absent in
     * policies from before the check, whose runs do not check.
     */
    pastDates: z.object({ clockSkewTolerance: durationSchema }).optional(),
    /** How long one workflow run may last before it continues as new, so no run spans a whole review cycle. */
    runs: z.object({
      continueAsNewAfter: durationSchema,
      /** Before a new run, how long to let e-mails in flight finish; the rest the next run sends (idempotently). */
      deliveryDrain: durationSchema,
    }),
    /** Records retry until the store is back; this caps the wait between attempts. */
    records: z.object({ retryMaxInterval: durationSchema }),
    /** E-mails retry on temporary failures (4xx, network) up to giveUpAfter, then count as failed. */
    notifications: z.object({
      retryMaxInterval: durationSchema,
      giveUpAfter: durationSchema,
      /**
       * How long a step's records activity tries its e-mails before handing
       * the rest to activities of their own. Optional, so policies recorded
       * before it still parse (their runs give every e-mail its own activity).
       */
      inlineBudget: durationSchema.optional(),
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
    /** The Annex A controls excluded from the Statement of Applicability, with the reasons; none when absent. */
    statementOfApplicability: applicabilityPolicySchema.default({ exclusions: [] }),
    /** Per client address, within a fixed window: how often the doors open to anyone may be knocked on. */
    security: z.object({
      rateLimits: z.object({
        /** Every request to an approval link (show, decide, delegate, renew). */
        approvalLinks: rateLimitSchema,
        /** Refused link attempts (bad signature, expired, damaged); past this, they are answered 429 and not recorded. */
        failedLinkAttempts: rateLimitSchema,
        /** Login attempts (/login, /auth/*): API keys and one-time links are guessed here if anywhere. */
        login: rateLimitSchema,
      }),
    }),
  })
  .superRefine((p, ctx) => {
    if (p.fairness) {
      ctx.addIssue({
        code: 'custom',
        path: ['fairness'],
        message: 'replaced by biasTesting.thresholds: a policy has one set of fairness thresholds',
      });
    }
    if (p.riskScoring.tierMinScore.high <= p.riskScoring.tierMinScore.medium) {
      ctx.addIssue({
        code: 'custom',
        path: ['riskScoring', 'tierMinScore', 'high'],
        message: 'must be greater than the medium threshold',
      });
    }
  });

export type Policy = z.infer<typeof policySchema>;

export const tierRank: Record<RiskTier, number> = { low: 0, medium: 1, high: 2 };
export const maxTier = (a: RiskTier, b: RiskTier): RiskTier => (tierRank[a] >= tierRank[b] ? a : b);

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
