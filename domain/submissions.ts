import { z } from 'zod';
import type { ImpactAssessment } from './assessment.js';
import { contentDigest } from './digest.js';
import { euAiActFacts, euAiActFactsSchema } from './eu-ai-act.js';
import type { BiasEvidence } from './evidence.js';
import { likelihoods, severities } from './policy.js';
import { storable } from './storable.js';
import { emailSchema } from './system.js';
import type { TreatmentPlan } from './treatment.js';

/**
 * What the workflow receives for a submitted document. The document itself
 * (up to megabytes) is stored content-addressed in the record store by the
 * API before it sends this; the workflow gets the digest and only the facts
 * its rules decide on, so histories, queries and continue-as-new inputs stay
 * small whatever the document's size.
 */
export const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 digest in hex');

const scored = z.object({ severity: z.enum(severities), likelihood: z.enum(likelihoods) });

export const assessmentSubmissionSchema = z.strictObject({
  submittedBy: emailSchema,
  digest: sha256Schema,
  euAiAct: euAiActFactsSchema,
  decisionsAboutPeople: z.boolean(),
  friaIncluded: z.boolean(),
  impacts: z.array(scored).min(1).max(200),
});
export type AssessmentSubmission = z.output<typeof assessmentSubmissionSchema>;

const metricFact = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/),
  sensitiveFeature: z.string().min(1).max(100),
  value: z.number().finite(),
});

const evidenceFacts = {
  digest: sha256Schema,
  effectiveDate: z.iso.date(),
  dataset: z.string().min(3).max(1000),
  metrics: z.array(metricFact).min(1).max(500),
};

export const evidenceSubmissionSchema = storable(
  z.strictObject({ submittedBy: emailSchema, modelVersion: z.string().min(1).max(100), ...evidenceFacts }),
);
export type EvidenceSubmission = z.output<typeof evidenceSubmissionSchema>;

export const planSubmissionSchema = storable(
  z.strictObject({
    submittedBy: emailSchema,
    digest: sha256Schema,
    items: z
      .array(
        z.strictObject({
          residualSeverity: z.enum(severities),
          residualLikelihood: z.enum(likelihoods),
          addressesMetrics: z.array(z.string().max(200)).max(100),
        }),
      )
      .min(1)
      .max(200),
  }),
);
export type PlanSubmission = z.output<typeof planSubmissionSchema>;

/** A review's own text is short; fresh bias evidence inside it goes to the record store like any evidence. */
export const reviewSubmissionSchema = storable(
  z.strictObject({
    performedBy: emailSchema,
    materialChange: z.boolean(),
    changeDescription: z.string().max(4000).optional(),
    monitoringSummary: z.string().min(10).max(8000),
    biasEvidence: z.strictObject(evidenceFacts).optional(),
  }),
);
export type ReviewSubmission = z.output<typeof reviewSubmissionSchema>;

/** The digest the record store files a document under: SHA-256 of its canonical JSON. */
export const documentDigest = (document: unknown) => contentDigest(document);

export function assessmentSubmission(a: ImpactAssessment, digest = documentDigest(a)): AssessmentSubmission {
  return {
    submittedBy: a.submittedBy,
    digest,
    euAiAct: euAiActFacts(a.euAiAct),
    decisionsAboutPeople: a.decisionsAboutPeople,
    friaIncluded: a.fria !== undefined,
    impacts: a.impacts.map((i) => ({ severity: i.severity, likelihood: i.likelihood })),
  };
}

const metricFacts = (e: Pick<BiasEvidence, 'metrics'>) =>
  e.metrics.map((m) => ({ name: m.name, sensitiveFeature: m.sensitiveFeature, value: m.value }));

export function evidenceSubmission(e: BiasEvidence, digest = documentDigest(e)): EvidenceSubmission {
  return {
    submittedBy: e.submittedBy,
    modelVersion: e.modelVersion,
    digest,
    effectiveDate: e.effectiveDate,
    dataset: e.dataset,
    metrics: metricFacts(e),
  };
}

export function planSubmission(p: TreatmentPlan, digest = documentDigest(p)): PlanSubmission {
  return {
    submittedBy: p.submittedBy,
    digest,
    items: p.items.map((i) => ({
      residualSeverity: i.residualSeverity,
      residualLikelihood: i.residualLikelihood,
      addressesMetrics: i.addressesMetrics,
    })),
  };
}

export function reviewEvidenceFacts(
  e: Pick<BiasEvidence, 'effectiveDate' | 'dataset' | 'metrics'>,
  digest = documentDigest(e),
): NonNullable<ReviewSubmission['biasEvidence']> {
  return { digest, effectiveDate: e.effectiveDate, dataset: e.dataset, metrics: metricFacts(e) };
}
