import type { MetricVerdict } from './evidence.js';
import type {
  ApprovalKind,
  AssessmentRecord,
  ChainStep,
  DecisionRecord,
  EvidenceRecord,
  PlanRecord,
  ReviewRecord,
} from './lifecycle.js';
import type { ApproverRole, RiskTier } from './policy.js';

/** An audit event as the record store gives it back: only what the fold reads. */
export interface AuditEvent {
  type: string;
  payload: unknown;
  actor?: string | null;
  at?: Date;
}

export type Payload = Record<string, unknown>;
export const payloadOf = (e: { payload: unknown }) => (e.payload ?? {}) as Payload;
export const strOrNull = (v: unknown) => (typeof v === 'string' ? v : null);
const iso = (at: Date | undefined) => at?.toISOString() ?? '';

/**
 * What the audit trail says was current when an approval request was made.
 * The records are the parts the events themselves carry; the parts that live
 * in the documents (read by their digests) are the callers' to add.
 */
export interface RecordsAtRequest<E extends AuditEvent = AuditEvent> {
  /** The request's approval_requested event and where it is in the trail; null when it is not on record. */
  request: { event: E; payload: Payload; index: number } | null;
  assessment: Pick<
    AssessmentRecord,
    'version' | 'submittedAt' | 'submittedBy' | 'riskTier' | 'score' | 'digest'
  > | null;
  evidence: Omit<EvidenceRecord, 'dataset' | 'accepted'> | null;
  /** The governance lead's acceptances of the current evidence, oldest first; `actor` as recorded. */
  acceptances: { metrics: string[]; actor: string | null; at: string; reasons: string }[];
  plan: Pick<
    PlanRecord,
    'version' | 'submittedAt' | 'submittedBy' | 'digest' | 'residualScore' | 'requiresRiskAcceptance'
  > | null;
  modelVersion: string | null;
  review: (ReviewRecord & { changeDescription: string | null }) | null;
  notified: { notifiedAt: string; authority: string | null; reference: string | null } | null;
  decisions: DecisionRecord[];
  /** The steps of the request's chain requested so far (the request's own included), by step. */
  chain: Map<number, ChainStep>;
  /** Who handed the request on, when it is a delegated one. */
  delegatedFrom: string | null;
}

/** A request's chain: its id without the step and any delegation suffixes. */
const chainOf = (id: string) => id.replace(/\.s\d+(?:\.d)*$/, '');

/**
 * Folds a system's audit events (oldest first) up to and including the
 * approval_requested event of `requestId`, or all of them when the request is
 * not on record. The e-mails of a request and its link's pages read it, so
 * both say what the approver was asked to decide on.
 */
export function recordsAtRequest<E extends AuditEvent>(events: readonly E[], requestId: string): RecordsAtRequest<E> {
  const r: RecordsAtRequest<E> = {
    request: null,
    assessment: null,
    evidence: null,
    acceptances: [],
    plan: null,
    modelVersion: null,
    review: null,
    notified: null,
    decisions: [],
    chain: new Map(),
    delegatedFrom: null,
  };
  for (const [index, e] of events.entries()) {
    const p = payloadOf(e);
    switch (e.type) {
      case 'assessment_submitted':
        r.assessment = {
          version: Number(p.version),
          submittedAt: iso(e.at),
          submittedBy: e.actor ?? '',
          riskTier: p.riskTier as RiskTier,
          score: Number(p.score),
          digest: String(p.digest),
        };
        break;
      case 'bias_evidence_submitted':
        r.evidence = {
          version: Number(p.version),
          submittedAt: iso(e.at),
          submittedBy: e.actor ?? '',
          effectiveDate: String(p.effectiveDate ?? ''),
          modelVersion: String(p.modelVersion ?? ''),
          digest: String(p.digest),
          policyVersion: String(p.policyVersion ?? ''),
          verdicts: (p.verdicts as MetricVerdict[]) ?? [],
          failed: (p.failed as string[]) ?? [],
          ...(Array.isArray(p.inconclusive) ? { inconclusive: p.inconclusive as string[] } : {}),
          ...(p.source === 'computed' || p.source === 'declared' ? { source: p.source } : {}),
          ...(typeof p.analysisId === 'string' ? { analysisId: p.analysisId } : {}),
          ...(typeof p.predictions === 'string' ? { predictions: p.predictions } : {}),
          ...(typeof p.rows === 'number' ? { rows: p.rows } : {}),
        };
        r.acceptances = [];
        break;
      case 'fairness_risk_accepted':
        if (r.evidence && Number(p.evidenceVersion) === r.evidence.version) {
          const metrics = (p.metrics as string[]) ?? [];
          r.acceptances.push({ metrics, actor: e.actor ?? null, at: iso(e.at), reasons: String(p.reasons ?? '') });
        }
        break;
      case 'treatment_plan_submitted':
        r.plan = {
          version: Number(p.version),
          submittedAt: iso(e.at),
          submittedBy: e.actor ?? '',
          digest: String(p.digest),
          residualScore: Number(p.residualScore),
          requiresRiskAcceptance: p.requiresRiskAcceptance === true,
        };
        break;
      case 'model_version_changed':
        // The workflow always records `to`; one without it leaves the version it changed from.
        r.modelVersion = strOrNull(p.to) ?? r.modelVersion;
        break;
      case 'review_submitted':
        r.review = {
          cycle: Number(p.cycle),
          submittedAt: String(p.submittedAt),
          performedBy: String(p.performedBy),
          materialChange: p.materialChange === true,
          monitoringSummary: String(p.monitoringSummary ?? ''),
          trigger: p.trigger as ReviewRecord['trigger'],
          changeDescription: strOrNull(p.changeDescription),
        };
        break;
      case 'fria_authority_notified':
        r.notified = {
          notifiedAt: String(p.notifiedAt),
          authority: strOrNull(p.authority),
          reference: strOrNull(p.reference),
        };
        break;
      case 'fria_notification_superseded':
        r.notified = null;
        break;
      case 'decision_recorded':
        r.decisions.push(p as unknown as DecisionRecord);
        break;
      case 'approval_delegated':
        if (`${String(p.requestId)}.d` === requestId) r.delegatedFrom = strOrNull(p.from);
        break;
      case 'approval_requested':
        if (typeof p.requestId === 'string' && chainOf(p.requestId) === chainOf(requestId)) {
          r.chain.set(Number(p.step), { role: p.role as ApproverRole, kind: p.kind as ApprovalKind });
        }
        if (p.requestId === requestId) {
          r.request = { event: e, payload: p, index };
          return r;
        }
        break;
    }
  }
  return r;
}
