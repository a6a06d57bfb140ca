import { stepsForEvent } from '../domain/control-mapping.js';
import { contentDigest } from '../domain/digest.js';
import {
  systemRecordsSchema,
  type ApprovalsRecord,
  type AuditEntry,
  type BiasEvidenceRecord,
  type DecisionRecordView,
  type SystemRecords,
} from '../domain/records.js';
import { getSystemAccess } from '../store/access.js';
import type { EventRow, Store } from '../store/index.js';

/**
 * A system's full records, read from the record store (never from the
 * workflow, so a retired or ended lifecycle reads the same): the per-record
 * API answers parts of this, the evidence pack writes all of it. The rows of
 * the audit trail may be passed in, so a pack's records are exactly the
 * entries its verification judged.
 */
export async function readSystemRecords(
  store: Store,
  systemId: string,
  events?: readonly EventRow[],
): Promise<SystemRecords> {
  const [system, access, rows, assessments, decisions, notifications] = await Promise.all([
    store.getSystem(systemId),
    getSystemAccess(store.db, systemId),
    events ? Promise.resolve(events) : store.listEvents(systemId),
    store.listAssessments(systemId),
    store.listDecisions(systemId),
    store.listNotifications(systemId),
  ]);
  const ofType = (...types: string[]) => rows.filter((e) => types.includes(e.type));
  const ref = (e: EventRow) => ({ seq: e.seq, hash: e.hash });
  const docs = new Map<string, { kind: string; content: unknown } | undefined>();
  const doc = async (digest: string | null) => {
    if (!digest) return undefined;
    if (!docs.has(digest)) docs.set(digest, await store.getDocument(digest));
    return docs.get(digest);
  };

  const retired = ofType('system_retired').at(-1);
  const registration = {
    systemId,
    team: access?.team ?? null,
    registeredBy: access?.registeredBy ?? null,
    registeredAt: access ? iso(access.createdAt) : null,
    registration: system ? (obj(system.registration) ?? null) : null,
    current: system
      ? {
          name: system.name,
          owner: system.owner,
          riskOwner: system.riskOwner,
          stage: system.stage,
          riskTier: system.riskTier,
          reviewDueAt: system.reviewDueAt ? iso(system.reviewDueAt) : null,
          policyVersion: system.policyVersion,
          updatedAt: iso(system.updatedAt),
        }
      : null,
    retirement: retired
      ? { at: iso(retired.at), by: retired.actor, reason: str(p(retired), 'reason'), audit: ref(retired) }
      : null,
  };

  // Each assessment row beside the event that recorded its version (a re-registered lifecycle counts from 1 again).
  const assessmentEvents = ofType('assessment_submitted');
  const assessmentRecords = assessments.map((a, i) => {
    const sameVersion = assessmentEvents.filter((e) => num(p(e), 'version') === a.version);
    const earlier = assessments.slice(0, i).filter((x) => x.version === a.version).length;
    const e = sameVersion[earlier];
    const content = obj(a.content) ?? {};
    return {
      version: a.version,
      riskTier: a.riskTier,
      score: e ? num(p(e), 'score') : null,
      digest: (e && str(p(e), 'digest')) || contentDigest(content),
      submittedBy: a.submittedBy,
      submittedAt: iso(a.submittedAt),
      audit: e ? ref(e) : null,
      content,
    };
  });

  const decisionEvents = ofType('decision_recorded');
  const decisionViews: DecisionRecordView[] = decisions.map((d) => {
    const e = decisionEvents.find(
      (x) => str(p(x), 'requestId') === d.requestId && str(p(x), 'decision') === d.decision,
    );
    const ep = e ? p(e) : {};
    return {
      requestId: d.requestId,
      step: d.step,
      approver: d.approver,
      decision: d.decision,
      comment: d.comment,
      decidedAt: iso(d.decidedAt),
      digest: d.digest,
      purpose: str(ep, 'purpose'),
      kind: str(ep, 'kind'),
      role: str(ep, 'role'),
      via: str(ep, 'via'),
      returnTo: str(ep, 'returnTo'),
      assessmentVersion: num(ep, 'assessmentVersion'),
      policyVersion: str(ep, 'policyVersion'),
      audit: e ? ref(e) : null,
    };
  });

  const batchOf = (e: EventRow) => e.idempotencyKey.replace(/\/e\d+$/, '');
  const reviewEvents = ofType('review_submitted');
  const analysisRequests = new Map(ofType('bias_analysis_requested').map((e) => [str(p(e), 'analysisId'), p(e)]));
  const acceptances = ofType('fairness_risk_accepted');
  const biasEvidence: BiasEvidenceRecord[] = [];
  for (const e of ofType('bias_evidence_submitted')) {
    const ep = p(e);
    const version = num(ep, 'version') ?? biasEvidence.length + 1;
    const digest = str(ep, 'digest') ?? '';
    const stored = await doc(digest);
    const predictions = str(ep, 'predictions');
    const analysisId = str(ep, 'analysisId');
    const review = reviewEvents.find((r) => batchOf(r) === batchOf(e));
    const nextEvidence = nextOf(rows, e, 'bias_evidence_submitted') ?? Infinity;
    biasEvidence.push({
      version,
      source: str(ep, 'source') ?? 'declared',
      submittedBy: e.actor,
      submittedAt: iso(e.at),
      effectiveDate: str(ep, 'effectiveDate'),
      modelVersion: str(ep, 'modelVersion'),
      policyVersion: str(ep, 'policyVersion'),
      failed: strings(ep, 'failed'),
      inconclusive: strings(ep, 'inconclusive'),
      verdicts: objects(ep, 'verdicts'),
      files: {
        document: { digest, kind: stored?.kind ?? null },
        predictions: predictions
          ? {
              sha256: predictions,
              rows: num(ep, 'rows'),
              bytes: analysisId ? num(analysisRequests.get(analysisId) ?? {}, 'bytes') : null,
              analysisId,
            }
          : null,
      },
      submitted: stored && stored.kind !== 'fairness_report' ? (obj(stored.content) ?? null) : null,
      fairnessReport: stored?.kind === 'fairness_report' ? (obj(stored.content) ?? null) : null,
      // Acceptances name the version they cover; one recorded after a later version cannot be of this one.
      acceptances: acceptances
        .filter((a) => num(p(a), 'evidenceVersion') === version && a.seq > e.seq && a.seq < nextEvidence)
        .map((a) => ({
          at: iso(a.at),
          by: a.actor,
          metrics: strings(p(a), 'metrics'),
          reasons: str(p(a), 'reasons'),
        })),
      reviewCycle: review ? num(p(review), 'cycle') : null,
      audit: ref(e),
    });
  }

  const treatmentPlans = [];
  for (const e of ofType('treatment_plan_submitted')) {
    const ep = p(e);
    const digest = str(ep, 'digest') ?? '';
    treatmentPlans.push({
      version: num(ep, 'version') ?? treatmentPlans.length + 1,
      submittedBy: e.actor,
      submittedAt: iso(e.at),
      digest,
      residualScore: num(ep, 'residualScore'),
      requiresRiskAcceptance: bool(ep, 'requiresRiskAcceptance'),
      policyVersion: str(ep, 'policyVersion'),
      audit: ref(e),
      content: obj((await doc(digest))?.content) ?? null,
    });
  }

  const delegations = ofType('approval_delegated');
  const withdrawals = ofType('approval_request_withdrawn');
  const requests: ApprovalsRecord['requests'] = ofType('approval_requested').map((e) => {
    const ep = p(e);
    const requestId = str(ep, 'requestId') ?? '';
    const after = (x: EventRow) => x.seq > e.seq && str(p(x), 'requestId') === requestId;
    const decision = decisionViews.find((d) => d.requestId === requestId && (d.audit?.seq ?? Infinity) > e.seq) ?? null;
    const delegated = delegations.find(after);
    const withdrawn = withdrawals.find(after);
    const from = delegations.find((d) => `${str(p(d), 'requestId')}.d` === requestId && d.seq < e.seq);
    return {
      requestId,
      step: num(ep, 'step'),
      of: num(ep, 'of'),
      role: str(ep, 'role'),
      kind: str(ep, 'kind'),
      approver: str(ep, 'approver'),
      digest: str(ep, 'digest'),
      requestedAt: iso(e.at),
      delegatedFrom: from ? str(p(from), 'from') : null,
      outcome: decision ? 'decided' : delegated ? 'delegated' : withdrawn ? 'withdrawn' : 'open',
      decision,
      delegation: delegated
        ? { at: iso(delegated.at), to: str(p(delegated), 'deputy'), reason: str(p(delegated), 'reason') }
        : null,
      withdrawal: withdrawn ? { at: iso(withdrawn.at), reason: str(p(withdrawn), 'reason') } : null,
      audit: ref(e),
    };
  });
  const approvals: ApprovalsRecord = {
    requests,
    decisions: decisionViews,
    invalidations: ofType('approval_invalidated').map((e) => ({
      at: iso(e.at),
      actor: e.actor,
      digest: str(p(e), 'digest'),
      reason: str(p(e), 'reason'),
      audit: ref(e),
    })),
  };

  const cycleOf = (requestId: string) => {
    const m = /\.c(\d+)\.r\d+\.s\d+/.exec(requestId);
    return m ? Number(m[1]) : null;
  };
  const reviews = reviewEvents.map((e) => {
    const ep = p(e);
    const cycle = num(ep, 'cycle');
    const evidence = biasEvidence.find((b) => b.audit.seq > e.seq && batchOf(e) === batchKeyOf(rows, b.audit.seq));
    const next = nextOf(rows, e, 'review_submitted') ?? Infinity;
    return {
      cycle,
      trigger: str(ep, 'trigger'),
      submittedAt: iso(e.at),
      performedBy: e.actor,
      materialChange: bool(ep, 'materialChange'),
      changeDescription: str(ep, 'changeDescription'),
      monitoringSummary: str(ep, 'monitoringSummary'),
      biasEvidenceVersion: evidence?.version ?? null,
      signOff: decisionViews.filter(
        (d) =>
          d.purpose === 'review' &&
          cycleOf(d.requestId) === cycle &&
          (d.audit === null || (d.audit.seq > e.seq && d.audit.seq < next)),
      ),
      audit: ref(e),
    };
  });

  const closures = ofType('corrective_action_closed');
  const incidents = ofType('incident_reported').map((e) => {
    // The closure is its own record: the incident was recorded open.
    const { closedAt: _at, closedBy: _by, resolution: _resolution, ...ep } = p(e);
    const id = str(ep, 'id') ?? '';
    const closed = closures.find((c) => c.seq > e.seq && str(p(c), 'incidentId') === id);
    return {
      ...ep,
      id,
      severity: str(ep, 'severity'),
      reportedBy: str(ep, 'reportedBy') ?? e.actor,
      reportedAt: str(ep, 'reportedAt') ?? iso(e.at),
      description: str(ep, 'description'),
      correctiveAction: str(ep, 'correctiveAction'),
      correctiveActionOwner: str(ep, 'correctiveActionOwner'),
      correctiveActionDueAt: str(ep, 'correctiveActionDueAt'),
      closure: closed
        ? {
            closedAt: iso(closed.at),
            closedBy: closed.actor,
            resolution: str(p(closed), 'resolution'),
            audit: ref(closed),
          }
        : null,
      audit: ref(e),
    };
  });

  const friaNotifications = ofType('fria_authority_notified').map((e) => ({
    ...p(e),
    at: iso(e.at),
    notifiedBy: str(p(e), 'notifiedBy') ?? e.actor,
    authority: str(p(e), 'authority'),
    audit: ref(e),
  }));

  const modelVersions = ofType('model_version_changed').map((e) => ({
    at: iso(e.at),
    submittedBy: e.actor,
    from: str(p(e), 'from'),
    to: str(p(e), 'to'),
    purposeAndContextUnchanged: bool(p(e), 'purposeAndContextUnchanged'),
    changeSummary: str(p(e), 'changeSummary'),
    audit: ref(e),
  }));

  const audit: AuditEntry[] = rows.map((e) => ({
    systemId: e.systemId,
    seq: e.seq,
    idempotencyKey: e.idempotencyKey,
    type: e.type,
    actor: e.actor,
    at: iso(e.at),
    payload: e.payload,
    prevHash: e.prevHash,
    hash: e.hash,
    recordedAt: iso(e.recordedAt),
    steps: stepsForEvent(e),
  }));

  return systemRecordsSchema.parse({
    registration,
    assessments: assessmentRecords,
    biasEvidence,
    treatmentPlans,
    approvals,
    reviews,
    incidents,
    friaNotifications,
    modelVersions,
    notifications: notifications.map((n) => ({
      key: n.idempotencyKey,
      kind: n.kind,
      to: n.toAddress,
      subject: n.subject,
      messageId: n.messageId,
      status: n.status,
      attempts: n.attempts,
      lastError: n.lastError,
      createdAt: iso(n.createdAt),
      sentAt: n.sentAt ? iso(n.sentAt) : null,
    })),
    audit,
  });
}

// ---------------------------------------------------------------- reading payloads

const iso = (d: Date | string) => (d instanceof Date ? d : new Date(d)).toISOString();

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
const p = (e: EventRow) => obj(e.payload) ?? {};
const str = (o: Record<string, unknown>, k: string) => (typeof o[k] === 'string' ? o[k] : null);
const num = (o: Record<string, unknown>, k: string) => (typeof o[k] === 'number' ? o[k] : null);
const bool = (o: Record<string, unknown>, k: string) => (typeof o[k] === 'boolean' ? o[k] : null);
const strings = (o: Record<string, unknown>, k: string) =>
  Array.isArray(o[k]) ? (o[k] as unknown[]).filter((x): x is string => typeof x === 'string') : [];
const objects = (o: Record<string, unknown>, k: string): Record<string, unknown>[] =>
  Array.isArray(o[k])
    ? (o[k] as unknown[]).flatMap((x) => {
        const r = obj(x);
        return r ? [r] : [];
      })
    : [];

/** The seq of the next event of a type after `e`, if any. */
function nextOf(rows: readonly EventRow[], e: EventRow, type: string): number | undefined {
  return rows.find((x) => x.seq > e.seq && x.type === type)?.seq;
}

/** The lifecycle step (batch) an event was recorded in: its key without the event's index. */
function batchKeyOf(rows: readonly EventRow[], seq: number): string | undefined {
  return rows.find((x) => x.seq === seq)?.idempotencyKey.replace(/\/e\d+$/, '');
}
