import { z } from 'zod';
import { metricResultSchema } from './evidence.js';

const email = z.email('must be an e-mail address').transform((e) => e.toLowerCase());

/** ISO/IEC 42001 clause 9: the periodic review of an active system. */
export const reviewSchema = z.object({
  performedBy: email,
  materialChange: z.boolean(),
  changeDescription: z.string().trim().max(4000).optional(),
  monitoringSummary: z.string().trim().min(10).max(8000),
  /** Fresh bias metrics: required when the policy needs bias testing and the evidence on record is too old. */
  biasEvidence: z
    .object({
      effectiveDate: z.iso.date(),
      dataset: z.string().trim().min(3).max(1000),
      metrics: z.array(metricResultSchema).min(1),
    })
    .optional(),
});
export type Review = z.infer<typeof reviewSchema>;
export type ReviewInput = z.input<typeof reviewSchema>;

/** A new model version from the AI team or its CI. */
export const newVersionSchema = z.object({
  version: z.string().trim().min(1).max(100),
  submittedBy: email,
  /** The owner confirms the intended purpose and context of use are unchanged, so the assessment carries over. */
  purposeAndContextUnchanged: z.boolean(),
  changeSummary: z.string().trim().min(3).max(4000),
});
export type NewVersionInput = z.input<typeof newVersionSchema>;

/** ISO/IEC 42001 A.8.4 and clause 10: an incident and its corrective action. */
export const incidentSchema = z.object({
  reportedBy: email,
  severity: z.enum(['minor', 'serious']),
  occurredAt: z.iso.datetime({ offset: true }),
  description: z.string().trim().min(10).max(8000),
  correctiveAction: z.string().trim().min(3).max(4000),
  correctiveActionOwner: email,
});
export type Incident = z.infer<typeof incidentSchema>;
export type IncidentInput = z.input<typeof incidentSchema>;

export const incidentClosureSchema = z.object({
  closedBy: email,
  resolution: z.string().trim().min(3).max(4000),
});
export type IncidentClosureInput = z.input<typeof incidentClosureSchema>;

export const retirementSchema = z.object({
  retiredBy: email,
  reason: z.string().trim().min(3).max(4000),
});
export type RetirementInput = z.input<typeof retirementSchema>;

/** EU AI Act Art. 27(3): the deployer notifies the market surveillance authority of the FRIA's results. */
export const authorityNotificationSchema = z.object({
  notifiedBy: email,
  notifiedAt: z.iso.date(),
  authority: z.string().trim().min(3).max(300),
  reference: z.string().trim().max(300).optional(),
});
export type AuthorityNotificationInput = z.input<typeof authorityNotificationSchema>;
