import { z } from 'zod';
import type { ImpactAssessment } from './assessment.js';
import type { BiasEvidence, MetricVerdict } from './evidence.js';
import type { Incident } from './operations.js';
import type { ApproverRole, Policy, RiskTier } from '../../../domain/policy.js';
import type { Registration } from './system.js';
import type { TreatmentPlan } from './treatment.js';

export const stages = [
  'impact_assessment',
  'bias_testing',
  'risk_treatment',
  'approval',
  'fria_notification',
  'active',
  'review_due',
  'rejected',
  'retired',
] as const;
export const stageSchema = z.enum(stages);
export type Stage = z.infer<typeof stageSchema>;

/** Stages in which the lifecycle waits for the AI team's work. */
export const workStages = ['impact_assessment', 'bias_testing', 'risk_treatment', 'fria_notification'] as const;
export type WorkStage = (typeof workStages)[number];

/** Where a "request changes" decision may send the system back to. */
export const returnStages = ['impact_assessment', 'bias_testing', 'risk_treatment'] as const;

export const decisionKinds = ['approve', 'reject', 'request_changes'] as const;
export const decisionKindSchema = z.enum(decisionKinds);
export type DecisionKind = z.infer<typeof decisionKindSchema>;

/** What the API sends the workflow once an e-mailed link has been verified. */
export const approvalDecisionSchema = z.object({
  requestId: z.string().min(1),
  decision: decisionKindSchema,
  comment: z.string().trim().max(4000).default(''),
  returnTo: z.enum(returnStages).optional(),
  decidedBy: z.email(),
  decidedAt: z.iso.datetime(),
});
export type ApprovalDecision = z.infer<typeof approvalDecisionSchema>;

/** An approver hands the decision to a named deputy, who gets a fresh link. */
export const delegationSchema = z.object({
  requestId: z.string().min(1),
  delegatedBy: z.email(),
  deputy: z.email().transform((e) => e.toLowerCase()),
  reason: z.string().trim().max(1000).default(''),
});
export type Delegation = z.input<typeof delegationSchema>;

export interface LifecycleInput {
  registration: Registration;
  policy: Policy;
  governanceLead: string;
  /** Set on continue-as-new: the state the next review cycle starts from. */
  resume?: LifecycleState;
}

export interface AssessmentRecord {
  version: number;
  submittedAt: string;
  submittedBy: string;
  riskTier: RiskTier;
  score: number;
  content: ImpactAssessment;
}

export interface EvidenceRecord {
  version: number;
  submittedAt: string;
  submittedBy: string;
  effectiveDate: string;
  modelVersion: string;
  verdicts: MetricVerdict[];
  /** metric:feature keys of failed metrics. */
  failed: string[];
  content: Omit<BiasEvidence, 'submittedBy'>;
}

export interface PlanRecord {
  version: number;
  submittedAt: string;
  submittedBy: string;
  residualScore: number;
  requiresRiskAcceptance: boolean;
  /** False once the assessment it treated has been replaced. */
  current: boolean;
  content: TreatmentPlan;
}

export type ApprovalPurpose = 'lifecycle' | 'review';
export type ApprovalKind = 'treatment_plan' | 'risk_acceptance' | 'review';

export interface ChainStep {
  role: ApproverRole;
  kind: ApprovalKind;
}

export interface PendingApproval {
  requestId: string;
  purpose: ApprovalPurpose;
  chain: ChainStep[];
  /** 1-based position in the chain. */
  step: number;
  role: ApproverRole;
  kind: ApprovalKind;
  approver: string;
  delegatedFrom: string | null;
  /** SHA-256 of exactly what this request covers. */
  digest: string;
  requestedAt: string;
  expiresAt: string;
  remindersSent: number;
  escalatedAt: string | null;
}

export interface DecisionRecord {
  requestId: string;
  purpose: ApprovalPurpose;
  kind: ApprovalKind;
  step: number;
  role: ApproverRole;
  approver: string;
  decision: DecisionKind;
  comment: string;
  returnTo: Stage | null;
  decidedAt: string;
  digest: string;
  assessmentVersion: number;
}

export interface IncidentRecord extends Incident {
  id: string;
  reportedAt: string;
  correctiveActionDueAt: string;
  closedAt: string | null;
  closedBy: string | null;
  resolution: string | null;
}

export interface ReviewRecord {
  cycle: number;
  submittedAt: string;
  performedBy: string;
  materialChange: boolean;
  monitoringSummary: string;
  trigger: 'schedule' | 'incident' | 'early';
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
  /** Review cycles completed; each cycle is one workflow run (continue-as-new). */
  cycle: number;
  stage: Stage;
  stageEnteredAt: string;
  /** Reminders sent for the work the current stage waits on. */
  nudges: number;
  riskTier: RiskTier | null;
  modelVersion: string;
  assessment: AssessmentRecord | null;
  evidence: EvidenceRecord | null;
  plan: PlanRecord | null;
  approval: PendingApproval | null;
  /** Counts approval rounds so request ids never repeat. */
  approvalRound: number;
  /** The digest of what the last completed approval covered; null once a material change invalidated it. */
  approvedDigest: string | null;
  approvedAt: string | null;
  decisions: DecisionRecord[];
  fria: { required: boolean; notifiedAt: string | null; authority: string | null; reference: string | null };
  reviewDueAt: string | null;
  reviewTrigger: ReviewRecord['trigger'] | null;
  reviewReminderSent: boolean;
  reviewEscalations: number;
  lastReviewCompletedAt: string | null;
  review: ReviewRecord | null;
  incidents: IncidentRecord[];
  /** Numbers incidents for the system's whole life, across review cycles. */
  incidentSeq: number;
  /** Set when a review has been signed off: the workflow continues as new. */
  cycleComplete: boolean;
  retiredAt: string | null;
  transitions: Transition[];
}

/** Decisions, transitions and closed incidents kept in workflow state; the record store keeps all of them. */
export const STATE_HISTORY_LIMIT = 50;

export function keepRecent<T>(items: T[], item: T, limit = STATE_HISTORY_LIMIT): T[] {
  const next = [...items, item];
  return next.length > limit ? next.slice(next.length - limit) : next;
}

export const isFinal = (stage: Stage) => stage === 'retired' || stage === 'rejected';
