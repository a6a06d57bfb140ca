import { z } from 'zod';
import { auditVerificationSchema, chainHeadSchema } from './audit.js';

/**
 * A system's full records as the record store keeps them, in the shapes the
 * per-record API answers with and the evidence pack writes: one schema per
 * record, so the two can never disagree. Fields read from an audit-trail
 * payload are lenient (older runs recorded fewer), and every record names the
 * audit entry that recorded it (`audit`), so an auditor can find it in the
 * hash chain.
 */

const instant = z.string().describe('an ISO 8601 instant');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 in hex');
const json = z.record(z.string(), z.unknown());

/** The audit entry that recorded a record: its place in the chain and its hash. */
export const auditRefSchema = z.object({ seq: z.number().int().positive(), hash: sha256 });

export const registrationRecordSchema = z.object({
  systemId: z.string(),
  /** Who the system belongs to, as every access check reads it. */
  team: z.string().nullable(),
  registeredBy: z.string().nullable(),
  registeredAt: instant.nullable(),
  /** The registration as submitted (null while the lifecycle has not recorded its first step). */
  registration: json.nullable(),
  /** Where the lifecycle stands, as last recorded. */
  current: z
    .object({
      name: z.string(),
      owner: z.string(),
      riskOwner: z.string(),
      stage: z.string(),
      riskTier: z.string().nullable(),
      reviewDueAt: instant.nullable(),
      policyVersion: z.string(),
      updatedAt: instant,
    })
    .nullable(),
  retirement: z
    .object({ at: instant, by: z.string().nullable(), reason: z.string().nullable(), audit: auditRefSchema })
    .nullable(),
});
export type RegistrationRecord = z.infer<typeof registrationRecordSchema>;

const assessmentFacts = {
  version: z.number().int().positive(),
  riskTier: z.string(),
  score: z.number().nullable(),
  /** SHA-256 of the canonical JSON of the content: what approvals cite. */
  digest: sha256,
  submittedBy: z.string(),
  submittedAt: instant,
  audit: auditRefSchema.nullable(),
};
export const assessmentSummarySchema = z.object(assessmentFacts);
export const assessmentRecordSchema = z.object({
  ...assessmentFacts,
  /** The assessment in full, as submitted. */
  content: json,
});
export type AssessmentRecord = z.infer<typeof assessmentRecordSchema>;

export const biasEvidenceRecordSchema = z.object({
  version: z.number().int().positive(),
  /** declared: metrics submitted; computed: computed by the product from uploaded predictions. */
  source: z.string(),
  submittedBy: z.string().nullable(),
  submittedAt: instant,
  effectiveDate: z.string().nullable(),
  modelVersion: z.string().nullable(),
  policyVersion: z.string().nullable(),
  failed: z.array(z.string()),
  inconclusive: z.array(z.string()),
  verdicts: z.array(json),
  /** The files behind the verdicts, by hash. */
  files: z.object({
    /** The record store's document: the submitted metrics, or the computed fairness report. */
    document: z.object({ digest: sha256, kind: z.string().nullable() }),
    /** The uploaded predictions file (computed evidence only). */
    predictions: z
      .object({ sha256, rows: z.number().nullable(), bytes: z.number().nullable(), analysisId: z.string().nullable() })
      .nullable(),
  }),
  /** The metrics as submitted (declared evidence). */
  submitted: json.nullable(),
  /** The full fairness report the product computed (computed evidence). */
  fairnessReport: json.nullable(),
  /** The governance lead's recorded acceptances of this version's failed or inconclusive metrics. */
  acceptances: z.array(
    z.object({ at: instant, by: z.string().nullable(), metrics: z.array(z.string()), reasons: z.string().nullable() }),
  ),
  /** Set when the evidence came with a periodic review: that review's cycle. */
  reviewCycle: z.number().int().nullable(),
  audit: auditRefSchema,
});
export type BiasEvidenceRecord = z.infer<typeof biasEvidenceRecordSchema>;

const planFacts = {
  version: z.number().int().positive(),
  submittedBy: z.string().nullable(),
  submittedAt: instant,
  digest: sha256,
  residualScore: z.number().nullable(),
  requiresRiskAcceptance: z.boolean().nullable(),
  policyVersion: z.string().nullable(),
  audit: auditRefSchema,
};
export const treatmentPlanSummarySchema = z.object(planFacts);
export const treatmentPlanRecordSchema = z.object({ ...planFacts, content: json.nullable() });
export type TreatmentPlanRecord = z.infer<typeof treatmentPlanRecordSchema>;

export const decisionRecordSchema = z.object({
  requestId: z.string(),
  step: z.number().int(),
  approver: z.string(),
  decision: z.string(),
  comment: z.string(),
  decidedAt: instant,
  /** The digest of exactly what was approved (assessment, evidence, plan, review). */
  digest: sha256.nullable(),
  purpose: z.string().nullable(),
  kind: z.string().nullable(),
  role: z.string().nullable(),
  via: z.string().nullable(),
  returnTo: z.string().nullable(),
  assessmentVersion: z.number().nullable(),
  policyVersion: z.string().nullable(),
  audit: auditRefSchema.nullable(),
});
export type DecisionRecordView = z.infer<typeof decisionRecordSchema>;

export const approvalRequestRecordSchema = z.object({
  requestId: z.string(),
  step: z.number().int().nullable(),
  of: z.number().int().nullable(),
  role: z.string().nullable(),
  kind: z.string().nullable(),
  approver: z.string().nullable(),
  /** The digest the request asked to approve. */
  digest: sha256.nullable(),
  requestedAt: instant,
  delegatedFrom: z.string().nullable(),
  outcome: z.enum(['decided', 'delegated', 'withdrawn', 'open']),
  decision: decisionRecordSchema.nullable(),
  delegation: z.object({ at: instant, to: z.string().nullable(), reason: z.string().nullable() }).nullable(),
  withdrawal: z.object({ at: instant, reason: z.string().nullable() }).nullable(),
  audit: auditRefSchema,
});

export const approvalsRecordSchema = z.object({
  requests: z.array(approvalRequestRecordSchema),
  /** Every decision in the record store, in order. */
  decisions: z.array(decisionRecordSchema),
  /** Approvals a later change (a new version, an incident, failed evidence) no longer let stand. */
  invalidations: z.array(
    z.object({
      at: instant,
      actor: z.string().nullable(),
      digest: z.string().nullable(),
      reason: z.string().nullable(),
      audit: auditRefSchema,
    }),
  ),
});
export type ApprovalsRecord = z.infer<typeof approvalsRecordSchema>;

export const reviewRecordSchema = z.object({
  cycle: z.number().int().nullable(),
  trigger: z.string().nullable(),
  submittedAt: instant,
  performedBy: z.string().nullable(),
  materialChange: z.boolean().nullable(),
  changeDescription: z.string().nullable(),
  monitoringSummary: z.string().nullable(),
  /** The bias evidence version submitted with the review, if any. */
  biasEvidenceVersion: z.number().int().nullable(),
  /** The sign-off decisions of this review's cycle. */
  signOff: z.array(decisionRecordSchema),
  audit: auditRefSchema,
});

export const incidentRecordSchema = z.looseObject({
  id: z.string(),
  severity: z.string().nullable(),
  reportedBy: z.string().nullable(),
  reportedAt: instant,
  description: z.string().nullable(),
  correctiveAction: z.string().nullable(),
  correctiveActionOwner: z.string().nullable(),
  correctiveActionDueAt: instant.nullable(),
  closure: z
    .object({
      closedAt: instant,
      closedBy: z.string().nullable(),
      resolution: z.string().nullable(),
      audit: auditRefSchema,
    })
    .nullable(),
  audit: auditRefSchema,
});

export const friaNotificationRecordSchema = z.looseObject({
  at: instant,
  notifiedBy: z.string().nullable(),
  authority: z.string().nullable(),
  audit: auditRefSchema,
});

export const modelVersionRecordSchema = z.object({
  at: instant,
  submittedBy: z.string().nullable(),
  from: z.string().nullable(),
  to: z.string().nullable(),
  purposeAndContextUnchanged: z.boolean().nullable(),
  changeSummary: z.string().nullable(),
  audit: auditRefSchema,
});

export const notificationRecordSchema = z.object({
  key: z.string(),
  kind: z.string(),
  to: z.string(),
  subject: z.string(),
  messageId: z.string(),
  status: z.string(),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  createdAt: instant,
  sentAt: instant.nullable(),
});

/** One entry of the hash chain, with everything needed to recompute its hash. */
export const auditEntrySchema = z.object({
  systemId: z.string(),
  seq: z.number().int().positive(),
  idempotencyKey: z.string(),
  type: z.string(),
  actor: z.string().nullable(),
  at: instant,
  payload: z.unknown(),
  prevHash: sha256,
  hash: sha256,
  recordedAt: instant,
  /** The lifecycle steps (domain/control-mapping.ts) this entry is the record of. */
  steps: z.array(z.string()),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** Everything the record store holds about one system. */
export const systemRecordsSchema = z.object({
  registration: registrationRecordSchema,
  assessments: z.array(assessmentRecordSchema),
  biasEvidence: z.array(biasEvidenceRecordSchema),
  treatmentPlans: z.array(treatmentPlanRecordSchema),
  approvals: approvalsRecordSchema,
  reviews: z.array(reviewRecordSchema),
  incidents: z.array(incidentRecordSchema),
  friaNotifications: z.array(friaNotificationRecordSchema),
  modelVersions: z.array(modelVersionRecordSchema),
  notifications: z.array(notificationRecordSchema),
  audit: z.array(auditEntrySchema),
});
export type SystemRecords = z.infer<typeof systemRecordsSchema>;

export const EVIDENCE_PACK_FORMAT = 'ai-lifecycle-evidence-pack/1';

/** The pack's table of contents: every other file with its SHA-256. */
export const evidencePackManifestSchema = z.object({
  format: z.literal(EVIDENCE_PACK_FORMAT),
  systemId: z.string(),
  generatedAt: instant,
  generatedBy: z.string(),
  /** The chain's last record when the pack was made; null for an empty chain. */
  chainHead: chainHeadSchema.nullable(),
  verification: auditVerificationSchema.pick({ ok: true, count: true }),
  controlMappingVersion: z.string(),
  files: z.array(z.object({ path: z.string(), sha256, bytes: z.number().int().nonnegative() })),
});
export type EvidencePackManifest = z.infer<typeof evidencePackManifestSchema>;
