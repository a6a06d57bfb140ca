import { z } from 'zod';
import type { EuAiActCategory } from './assessment.js';
import type { EuAiActFacts } from './eu-ai-act.js';
import type { AnalysisRecord } from './bias-gate.js';
import type { MetricVerdict } from './evidence.js';
import type { Incident } from './operations.js';
import type { ApproverRole, Policy, RiskTier } from './policy.js';
import { storable } from './storable.js';
import { emailSchema, type Registration } from './system.js';

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

/**
 * A decision as the workflow accepts it: from an approver the API has
 * authenticated (a verified link, or their own credential). The time is the
 * workflow's own, never the sender's.
 */
export const approvalDecisionSchema = storable(
  z.object({
    requestId: z.string().min(1).max(300),
    decision: decisionKindSchema,
    comment: z.string().trim().max(4000),
    returnTo: z.enum(returnStages).optional(),
    decidedBy: emailSchema,
    /** How the approver proved who they are: an e-mailed link, or an authenticated API call. */
    via: z.enum(['link', 'api']),
  }),
);
export type ApprovalDecision = z.output<typeof approvalDecisionSchema>;

/** An approver hands the decision to a named deputy, who gets a fresh link. */
export const delegationSchema = storable(
  z.object({
    requestId: z.string().min(1).max(300),
    delegatedBy: emailSchema,
    deputy: emailSchema,
    reason: z.string().trim().max(1000),
  }),
);
export type Delegation = z.output<typeof delegationSchema>;

export const linkRenewalSchema = z.object({ requestId: z.string().min(1).max(300), approver: emailSchema });
export type LinkRenewal = z.output<typeof linkRenewalSchema>;

/** An e-mail the previous run had not finished delivering: its outbox key, for the next run to dispatch again. */
export interface MailRef {
  key: string;
  to: string;
  kind: string;
}

export interface LifecycleInput {
  /** Inputs without it come from runs started before the lifecycle's second version (workflows/v1). */
  v: 2;
  registration: Registration;
  policy: Policy;
  governanceLead: string;
  /** Set on continue-as-new: the state the next run starts from. */
  resume?: LifecycleState;
  /** Deliveries in flight when the previous run ended; the outbox makes sending them again safe. */
  undelivered?: MailRef[];
  /** Set when this run adopted a newer policy than the run before it had. */
  adoptedPolicyFrom?: string;
  /** The credential that registered the system (`key:…` or `oidc:…`); absent on runs started before credentials. */
  registeredBy?: string;
}

/** A big document lives in the record store under its SHA-256; the workflow keeps only that and what it decides on. */
export interface AssessmentRecord {
  version: number;
  submittedAt: string;
  submittedBy: string;
  riskTier: RiskTier;
  score: number;
  digest: string;
  euAiActCategory: EuAiActCategory;
  /** The classification's facts (Annex I/III basis, derogation, Art. 50 duties, GPAI); absent on older records. */
  euAiAct?: EuAiActFacts;
  decisionsAboutPeople: boolean;
  impacts: number;
}

/** The authority's notification of a FRIA's results (EU AI Act Art. 27(3)). */
export interface FriaNotice {
  notifiedAt: string;
  authority: string;
  reference: string | null;
  /** The assessment whose FRIA was notified; absent on notifications recorded before it was kept. */
  assessmentVersion?: number;
}

export interface FriaState {
  required: boolean;
  notifiedAt: string | null;
  authority: string | null;
  reference: string | null;
  /** Why a FRIA is (not) required (domain/eu-ai-act.ts friaScope); absent in runs from before it was kept. */
  basis?: string;
  /** The assessment version the current notification covers. */
  assessmentVersion?: number;
  /** Notifications a later re-assessment superseded, oldest first. */
  superseded?: FriaNotice[];
}

export interface EvidenceRecord {
  version: number;
  submittedAt: string;
  submittedBy: string;
  effectiveDate: string;
  modelVersion: string;
  dataset: string;
  digest: string;
  /** The policy version whose thresholds judged the metrics. */
  policyVersion: string;
  verdicts: MetricVerdict[];
  /** metric:feature keys of failed metrics (under the gate: of gating metrics). */
  failed: string[];
  // Set under the bias-testing gate (domain/bias-gate.ts); absent on evidence of older runs.
  /** metric:feature keys of gating metrics whose verdict is inconclusive: they hold approval as a failure does. */
  inconclusive?: string[];
  source?: 'computed' | 'declared';
  /** Computed evidence: the analysis, the predictions file's SHA-256 (blob store) and its data rows. */
  analysisId?: string;
  predictions?: string;
  rows?: number;
  /** The governance lead's recorded acceptances of failed or inconclusive metrics of this evidence. */
  accepted?: { metrics: string[]; by: string; at: string }[];
}

export interface PlanRecord {
  version: number;
  submittedAt: string;
  submittedBy: string;
  digest: string;
  items: number;
  residualScore: number;
  requiresRiskAcceptance: boolean;
  /** Failed metrics (metric:feature) that an item of the plan answers. */
  addressedMetrics: string[];
  /** False once the assessment it treated has been replaced. */
  current: boolean;
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
  /** The policy version in force when the decision was taken. */
  policyVersion: string;
  via: ApprovalDecision['via'];
}

export interface IncidentRecord extends Incident {
  id: string;
  reportedAt: string;
  correctiveActionDueAt: string;
  closedAt: string | null;
  closedBy: string | null;
  resolution: string | null;
  /**
   * The corrective action's reminders (domain/machine/corrective-actions.ts): when its owner was reminded
   * before the due date, and how many overdue notices went out since. Absent in runs that send none.
   */
  reminderSentAt?: string | null;
  overdueNotices?: number;
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
  fria: FriaState;
  reviewDueAt: string | null;
  reviewTrigger: ReviewRecord['trigger'] | null;
  reviewReminderSent: boolean;
  reviewEscalations: number;
  lastReviewCompletedAt: string | null;
  review: ReviewRecord | null;
  incidents: IncidentRecord[];
  /** Predictions analyses, newest last (absent in runs from before computed evidence). */
  analyses?: AnalysisRecord[];
  /** Numbers incidents for the system's whole life, across review cycles. */
  incidentSeq: number;
  /** Set when a review has been signed off: the workflow continues as new. */
  cycleComplete: boolean;
  /** When the current run started, so a run is cut short at the policy's interval even while nothing happens. */
  runStartedAt: string;
  /**
   * The audit chain's head as the record store last returned it, kept
   * outside the database: someone who rewrites the whole chain consistently
   * still cannot match it.
   */
  auditHead: { seq: number; hash: string } | null;

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
