import { z } from 'zod';
import type { ImpactAssessment } from './assessment.js';
import type { Policy, RiskTier } from './policy.js';
import type { Registration } from './system.js';

export const stages = ['impact_assessment', 'approval', 'active', 'review_due'] as const;
export const stageSchema = z.enum(stages);
export type Stage = z.infer<typeof stageSchema>;

export const decisionKinds = ['approve', 'reject'] as const;
export const decisionKindSchema = z.enum(decisionKinds);
export type DecisionKind = z.infer<typeof decisionKindSchema>;

/** What the API sends the workflow once an e-mailed link has been verified. */
export const approvalDecisionSchema = z.object({
  requestId: z.string().min(1),
  decision: decisionKindSchema,
  comment: z.string().trim().max(4000).default(''),
  decidedBy: z.email(),
  decidedAt: z.iso.datetime(),
});
export type ApprovalDecision = z.infer<typeof approvalDecisionSchema>;

export interface LifecycleInput {
  registration: Registration;
  policy: Policy;
  governanceLead: string;
}

export interface AssessmentRecord {
  version: number;
  submittedAt: string;
  submittedBy: string;
  riskTier: RiskTier;
  score: number;
  content: ImpactAssessment;
}

export interface PendingApproval {
  requestId: string;
  approver: string;
  step: number;
  requestedAt: string;
  expiresAt: string;
  remindersSent: number;
  escalatedAt: string | null;
}

export interface DecisionRecord {
  requestId: string;
  step: number;
  approver: string;
  decision: DecisionKind;
  comment: string;
  decidedAt: string;
  assessmentVersion: number;
}

export interface Transition {
  at: string;
  from: Stage | null;
  to: Stage;
  reason: string;
}

export interface LifecycleState {
  systemId: string;
  registration: Registration;
  policyVersion: string;
  stage: Stage;
  riskTier: RiskTier | null;
  assessment: AssessmentRecord | null;
  approval: PendingApproval | null;
  decisions: DecisionRecord[];
  approvedAt: string | null;
  reviewDueAt: string | null;
  assessmentDueReminders: number;
  transitions: Transition[];
}

/** Decisions and transitions kept in workflow state; the record store keeps all of them. */
export const STATE_HISTORY_LIMIT = 50;

export function keepRecent<T>(items: T[], item: T): T[] {
  const next = [...items, item];
  return next.length > STATE_HISTORY_LIMIT ? next.slice(next.length - STATE_HISTORY_LIMIT) : next;
}
