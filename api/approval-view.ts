import { payloadOf, recordsAtRequest } from '../domain/approval-records.js';
import type { ImpactAssessment } from '../domain/assessment.js';
import { euAiActFacts, friaScope } from '../domain/eu-ai-act.js';
import type {
  ApprovalKind,
  AssessmentRecord,
  ChainStep,
  DecisionRecord,
  EvidenceRecord,
  FriaState,
  LifecycleState,
  PendingApproval,
  PlanRecord,
  ReviewRecord,
  Stage,
} from '../domain/lifecycle.js';
import type { ApproverRole, Policy, RiskTier } from '../domain/policy.js';
import type { Registration } from '../domain/system.js';
import type { TreatmentPlan } from '../domain/treatment.js';
import type { EventRow, SystemRow } from '../store/index.js';

/**
 * What an approval link's pages show and check, read from the record store
 * instead of asking the workflow (a query is a billable action and a worker
 * round trip per page view). The workflow's records activity writes every
 * step's events and the system's projection in one transaction, and mails a
 * link only after the step that requested it is written, so the request a
 * link names is on record when the link can first be opened. The store may
 * lag the workflow by the step in flight: the pages' checks are a fast
 * pre-check, and the decision itself is an update whose validator refuses a
 * request that is no longer open.
 */

/** The request as its records show it; its reminders, escalation and expiry (the link carries it) are left out. */
export type RecordedApproval = Omit<PendingApproval, 'remindersSent' | 'escalatedAt' | 'expiresAt'>;

/** The part of a lifecycle's state the approval pages and their duty checks read. */
export interface ApprovalSubject extends Pick<
  LifecycleState,
  | 'systemId'
  | 'registration'
  | 'stage'
  | 'policyVersion'
  | 'riskTier'
  | 'modelVersion'
  | 'assessment'
  | 'evidence'
  | 'plan'
  | 'decisions'
  | 'fria'
  | 'review'
> {
  approval: RecordedApproval | null;
}

/** Where a link's request stands on record. */
export type RequestStatus =
  | { open: true }
  | { open: false; why: 'decided'; decision: DecisionRecord }
  | { open: false; why: 'delegated' }
  | { open: false; why: 'closed' }
  /** Not on record (a store restored from before it): the page cannot tell, the workflow decides. */
  | { open: null };

export interface RecordedRequest {
  /** Null when the system or its registration is not on record. */
  subject: ApprovalSubject | null;
  status: RequestStatus;
}

export interface RecordedDocuments {
  assessment?: ImpactAssessment;
  evidence?: { dataset?: string };
  plan?: TreatmentPlan;
}

const iso = (d: Date) => d.toISOString();

/** The digests of the documents the request covers, for the caller to read them before `recordedRequest`. */
export function documentDigests(events: readonly EventRow[], requestId: string) {
  const { assessment, evidence, plan } = recordsAtRequest(events, requestId);
  const out: { assessment?: string; evidence?: string; plan?: string } = {};
  if (assessment) out.assessment = assessment.digest;
  if (evidence) out.evidence = evidence.digest;
  if (plan) out.plan = plan.digest;
  return out;
}

const closes = new Set(['decision_recorded', 'approval_delegated', 'approval_request_withdrawn']);

/**
 * Folds a system's audit events (oldest first) into what the approval pages
 * show for `requestId`: the documents' records as they stood when it was
 * requested (domain/approval-records.ts), the decisions so far, and whether it
 * is still open to `approver`.
 * `deployed` names the roles of the chain's later steps when the system runs
 * under it; under another policy those steps read as the current one's, so a
 * pre-check never refuses what the workflow would accept.
 */
export function recordedRequest(
  events: readonly EventRow[],
  system: SystemRow | undefined,
  requestId: string,
  approver: string,
  /** Null when the caller needs only the request's status and duty facts (a POST's pre-check): none were read. */
  documents: RecordedDocuments | null,
  deployed: Policy,
): RecordedRequest {
  const docs = documents ?? {};
  const at = recordsAtRequest(events, requestId);
  const { decisions, delegatedFrom, notified } = at;
  const request = at.request && { ...at.request.event, p: at.request.payload };
  let status: RequestStatus = request ? { open: true } : { open: null };

  // After the request: only what closes it, renews it, or is decided on it.
  for (let i = at.request ? at.request.index + 1 : events.length; i < events.length; i++) {
    const e = events[i]!;
    const p = payloadOf(e);
    if (e.type === 'decision_recorded') decisions.push(p as unknown as DecisionRecord);
    if (closes.has(e.type) && p.requestId === requestId) {
      status =
        e.type === 'decision_recorded'
          ? { open: false, why: 'decided', decision: p as unknown as DecisionRecord }
          : e.type === 'approval_delegated'
            ? { open: false, why: 'delegated' }
            : { open: false, why: 'closed' };
    } else if (e.type === 'system_retired') {
      if (status.open) status = { open: false, why: 'closed' };
    }
  }

  const assessment: AssessmentRecord | null = at.assessment && {
    ...at.assessment,
    // Without its document (checked below) the record is not shown: its classification lives there.
    euAiActCategory: docs.assessment?.euAiAct.category ?? 'minimal',
    ...(docs.assessment ? { euAiAct: euAiActFacts(docs.assessment.euAiAct) } : {}),
    decisionsAboutPeople: docs.assessment?.decisionsAboutPeople ?? false,
    impacts: docs.assessment?.impacts.length ?? 0,
  };
  const evidence: EvidenceRecord | null = at.evidence && {
    ...at.evidence,
    dataset: docs.evidence?.dataset ?? '',
    accepted: at.acceptances.map((x) => ({ metrics: x.metrics, by: x.actor ?? '', at: x.at })),
  };
  const plan: PlanRecord | null = at.plan && {
    ...at.plan,
    items: docs.plan?.items.length ?? 0,
    addressedMetrics: [...new Set((docs.plan?.items ?? []).flatMap((i) => i.addressesMetrics))],
    current: true,
  };
  let review: ReviewRecord | null = null;
  if (at.review) {
    // The subject's review is the workflow's ReviewRecord, which has no change description (the brief reads it).
    const { changeDescription: _, ...recorded } = at.review;
    review = recorded;
  }

  if (request && status.open && (system?.stage !== 'approval' || request.p.approver !== approver.toLowerCase())) {
    status = { open: false, why: 'closed' };
  }
  if (!system) return { subject: null, status };
  const registration = system.registration as Registration | null;
  if (!registration || typeof registration !== 'object') return { subject: null, status };
  // A document the records name but the store cannot give back: the page shows no details rather than guessed ones.
  if (documents && assessment && !documents.assessment) return { subject: null, status };

  let approval: RecordedApproval | null = null;
  if (request) {
    const p = request.p;
    const step = Number(p.step);
    const kind = p.kind as ApprovalKind;
    const role = p.role as ApproverRole;
    const of = Number(p.of) || step;
    const tier = (assessment?.riskTier ?? system.riskTier ?? 'low') as RiskTier;
    const policyChain: ChainStep[] | null =
      system.policyVersion === deployed.version && kind !== 'review'
        ? [
            ...deployed.approvalChains[tier].map((r) => ({ role: r, kind: 'treatment_plan' as const })),
            ...(plan?.requiresRiskAcceptance
              ? [{ role: 'governance_lead' as const, kind: 'risk_acceptance' as const }]
              : []),
          ]
        : system.policyVersion === deployed.version
          ? deployed.approvalChains[tier].map((r) => ({ role: r, kind: 'review' as const }))
          : null;
    const chain: ChainStep[] = Array.from(
      { length: of },
      (_, i) => at.chain.get(i + 1) ?? (policyChain?.length === of ? policyChain[i] : undefined) ?? { role, kind },
    );
    approval = {
      requestId,
      purpose: kind === 'review' ? 'review' : 'lifecycle',
      chain,
      step,
      role,
      kind,
      approver: String(p.approver),
      delegatedFrom,
      digest: String(p.digest),
      requestedAt: iso(request.at),
    };
  }
  const facts = docs.assessment ? euAiActFacts(docs.assessment.euAiAct) : null;
  const scope = facts ? friaScope(registration.deployment.role, facts) : null;
  const fria: FriaState = {
    required: scope?.required ?? false,
    notifiedAt: notified?.notifiedAt ?? null,
    authority: notified?.authority ?? null,
    reference: notified?.reference ?? null,
    ...(scope ? { basis: scope.basis } : {}),
  };
  return {
    subject: {
      systemId: system.systemId,
      registration,
      stage: system.stage as Stage,
      policyVersion: system.policyVersion,
      riskTier: (system.riskTier as RiskTier | null) ?? assessment?.riskTier ?? null,
      modelVersion: at.modelVersion ?? registration.model.version,
      assessment,
      evidence,
      plan,
      decisions,
      fria,
      review: approval?.kind === 'review' ? review : null,
      approval,
    },
    status,
  };
}
