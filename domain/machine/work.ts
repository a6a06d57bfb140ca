import { deriveRiskTier } from '../assessment.js';
import { futureDateIssues } from '../dates.js';
import { friaScope, submissionProblems } from '../eu-ai-act.js';
import {
  analysisRequestSchema,
  blockingMetrics,
  declaredMetricProblems,
  fairnessRiskAcceptanceSchema,
  gateOf,
  gateOutcome,
  judgeComputed,
  judgeDeclared,
  openMetrics,
  type AnalysisRecord,
  type AnalysisRequest,
  type ComputedFairness,
  type FairnessRiskAcceptance,
} from '../bias-gate.js';
import { judgeEvidence, metricKey, type MetricVerdict } from '../evidence.js';
import { keepRecent, type FriaNotice, type LifecycleState, type Stage } from '../lifecycle.js';
import { authorityNotificationSchema, type AuthorityNotification } from '../operations.js';
import {
  assessmentSubmissionSchema,
  evidenceSubmissionSchema,
  planSubmissionSchema,
  type AssessmentSubmission,
  type EvidenceSubmission,
  type PlanSubmission,
} from '../submissions.js';
import { residualScore, unansweredMetrics } from '../treatment.js';
import {
  type Effect,
  type Ctx,
  Refusal,
  iso,
  accept,
  requireStage,
  requireNotFinal,
  notification,
  enter,
  biasTestingRequired,
  invalidateApproval,
} from './core.js';
import { requestApproval } from './approvals.js';

/** The AI team's submissions: impact assessment, bias evidence, risk treatment, the FRIA notification. */

/** A date naming something that already happened cannot lie in the future (422 naming the field). */
export function refuseFutureDates(
  state: LifecycleState,
  ctx: Ctx,
  dates: { path: string; value: string | undefined }[],
): void {
  const issues = futureDateIssues(dates, ctx.now, ctx.policy);
  if (issues.length > 0) {
    throw new Refusal('InvalidInput', issues.map((i) => `${i.path}: ${i.message}`).join('; '), state.stage, issues);
  }
}

// ---- impact assessment -------------------------------------------------------------------------

export function validateAssessment(state: LifecycleState, raw: unknown): AssessmentSubmission {
  requireStage(state, ['impact_assessment'], 'an impact assessment');
  const a = accept(assessmentSubmissionSchema, raw, state.stage);
  const problems = submissionProblems(state.registration.deployment.role, a.euAiAct, a.friaIncluded).map((p) => ({
    path: p.path.join('.'),
    message: p.message,
  }));
  if (problems.length > 0) {
    throw new Refusal('InvalidInput', problems.map((p) => `${p.path}: ${p.message}`).join('; '), state.stage, problems);
  }
  return a;
}

/** Applies an accepted assessment; validateAssessment ran when it was accepted. */
export function submitAssessment(state: LifecycleState, ctx: Ctx, content: AssessmentSubmission) {
  const { tier, score } = deriveRiskTier(content, ctx.policy);
  const version = (state.assessment?.version ?? 0) + 1;
  state.assessment = {
    version,
    submittedAt: iso(ctx.now),
    submittedBy: content.submittedBy,
    riskTier: tier,
    score,
    digest: content.digest,
    euAiActCategory: content.euAiAct.category,
    euAiAct: content.euAiAct,
    decisionsAboutPeople: content.decisionsAboutPeople,
    impacts: content.impacts.length,
  };
  state.riskTier = tier;
  if (state.plan) state.plan.current = false;
  const scope = friaScope(state.registration.deployment.role, content.euAiAct);
  const notified = state.fria.notifiedAt;
  state.fria.required = scope.required;
  state.fria.basis = scope.basis;
  const by = content.submittedBy;
  const superseded: Effect[] = [];
  // A re-assessment redoes the FRIA it contains (Art. 27(2)); the authority is told the new results (Art. 27(3)).
  // Assessments from before Art. 27(1)'s scope was recorded keep the notification they had.
  if (scope.art27 && scope.required && notified) {
    const { assessmentVersion, superseded: earlier = [] } = state.fria;
    const previous: FriaNotice = {
      notifiedAt: notified,
      authority: state.fria.authority ?? '',
      reference: state.fria.reference,
      ...(assessmentVersion !== undefined ? { assessmentVersion } : {}),
    };
    state.fria = {
      required: true,
      notifiedAt: null,
      authority: null,
      reference: null,
      basis: scope.basis,
      superseded: keepRecent(earlier, previous, 10),
    };
    superseded.push({
      kind: 'event',
      type: 'fria_notification_superseded',
      actor: by,
      payload: { previous: { ...previous }, assessmentVersion: version, basis: scope.basis },
    });
  }
  const effects: Effect[] = [{ kind: 'assessment', record: state.assessment }, ...superseded];
  if (content.euAiAct.category === 'prohibited') {
    effects.push(...enter(state, ctx, 'rejected', 'prohibited practice under EU AI Act Art. 5', by));
    for (const to of [ctx.governanceLead, state.registration.owner]) {
      effects.push(
        notification(state, {
          kind: 'lifecycle_stopped',
          to,
          reason: `The impact assessment (v${version}) classifies the system as a prohibited practice (EU AI Act Art. 5).`,
        }),
      );
    }
    return { result: { version, riskTier: tier, score, stage: state.stage }, effects };
  }
  const next: Stage = biasTestingRequired(state, ctx.policy) ? 'bias_testing' : 'risk_treatment';
  effects.push(...enter(state, ctx, next, `impact assessment v${version} submitted (tier ${tier})`, by));
  return { result: { version, riskTier: tier, score, stage: state.stage }, effects };
}

// ---- bias evidence -----------------------------------------------------------------------------

export function validateEvidence(state: LifecycleState, ctx: Ctx, raw: unknown): EvidenceSubmission {
  requireStage(state, ['bias_testing', 'risk_treatment'], 'bias-testing evidence');
  const e = accept(evidenceSubmissionSchema, raw, state.stage);
  refuseFutureDates(state, ctx, [{ path: 'effectiveDate', value: e.effectiveDate }]);
  if (e.modelVersion !== state.modelVersion) {
    throw new Refusal(
      'InvalidInput',
      `modelVersion: the evidence is for ${e.modelVersion}, the system runs ${state.modelVersion}`,
      state.stage,
      [{ path: 'modelVersion', message: `must be the system's current model version ${state.modelVersion}` }],
    );
  }
  refuseDeclaredMetrics(state, ctx, e.metrics);
  return e;
}

/** Under the gate: unknown names and required metrics missing for a feature refuse declared evidence (422). */
export function refuseDeclaredMetrics(
  state: LifecycleState,
  ctx: Ctx,
  metrics: { name: string; sensitiveFeature: string }[],
): void {
  const gate = gateOf(ctx.policy);
  if (!gate) return;
  const problems = declaredMetricProblems(
    metrics,
    state.registration.sensitiveFeatures ?? [],
    gate,
    state.riskTier ?? 'low',
  );
  if (problems.length) {
    throw new Refusal('InvalidInput', problems.map((p) => `${p.path}: ${p.message}`).join('; '), state.stage, problems);
  }
}

export function submitEvidence(state: LifecycleState, ctx: Ctx, content: EvidenceSubmission) {
  const { submittedBy } = content;
  const effects = [...recordEvidence(state, ctx, content, submittedBy), ...afterEvidence(state, ctx, submittedBy)];
  return { result: evidenceResult(state), effects };
}

const evidenceResult = (state: LifecycleState) => {
  const e = state.evidence!;
  return {
    version: e.version,
    failed: e.failed,
    ...(e.inconclusive ? { inconclusive: e.inconclusive } : {}),
    verdicts: e.verdicts,
    stage: state.stage,
  };
};

/**
 * Where new evidence leads: to approval when the current plan still applies and nothing holds it, else to
 * risk treatment. Under the gate a failed or inconclusive metric holds approval until new passing evidence
 * or the governance lead's recorded acceptance; a plan item naming it is no longer enough.
 */
function afterEvidence(state: LifecycleState, ctx: Ctx, submittedBy: string): Effect[] {
  const effects: Effect[] = [];
  const { version, failed } = state.evidence!;
  const gated = gateOf(ctx.policy) !== null;
  const blocking = gated ? blockingMetrics(state.evidence!) : failed;
  const planCovers =
    state.plan?.current === true &&
    unansweredMetrics(state.plan.addressedMetrics, blocking).length === 0 &&
    (!gated || openMetrics(state.evidence!).length === 0);
  if (planCovers) {
    effects.push(
      ...enter(
        state,
        ctx,
        'approval',
        `bias evidence v${version} submitted; the treatment plan still applies`,
        submittedBy,
      ),
    );
    effects.push(...requestApproval(state, ctx, 'lifecycle'));
  } else if (state.stage !== 'risk_treatment') {
    const inconclusive = state.evidence!.inconclusive ?? [];
    const why = failed.length
      ? `${failed.length} fairness metric(s) failed: ${failed.join(', ')}`
      : inconclusive.length
        ? `${inconclusive.length} fairness metric(s) inconclusive: ${inconclusive.join(', ')}`
        : 'all fairness metrics within thresholds';
    effects.push(...enter(state, ctx, 'risk_treatment', `bias evidence v${version} submitted; ${why}`, submittedBy));
  }
  return effects;
}

/** Judges evidence by the policy in force and keeps it as the system's current evidence. */
export function recordEvidence(
  state: LifecycleState,
  ctx: Ctx,
  e: Pick<EvidenceSubmission, 'digest' | 'effectiveDate' | 'dataset' | 'metrics'>,
  submittedBy: string,
): Effect[] {
  const gate = gateOf(ctx.policy);
  if (gate)
    return recordJudged(state, ctx, e, judgeDeclared(e.metrics, gate, state.riskTier ?? 'low'), submittedBy, {
      source: 'declared',
    });
  const verdicts = judgeEvidence(e, ctx.policy);
  const failed = verdicts.filter((v) => !v.passed).map(metricKey);
  const version = (state.evidence?.version ?? 0) + 1;
  state.evidence = {
    version,
    submittedAt: iso(ctx.now),
    submittedBy,
    effectiveDate: e.effectiveDate,
    modelVersion: state.modelVersion,
    dataset: e.dataset,
    digest: e.digest,
    policyVersion: ctx.policy.version,
    verdicts,
    failed,
  };
  return [
    {
      kind: 'event',
      type: 'bias_evidence_submitted',
      actor: submittedBy,
      payload: {
        version,
        digest: e.digest,
        effectiveDate: e.effectiveDate,
        modelVersion: state.modelVersion,
        policyVersion: ctx.policy.version,
        failed,
        verdicts,
      },
    },
  ];
}

/** Keeps gate-judged verdicts as the system's current evidence. */
function recordJudged(
  state: LifecycleState,
  ctx: Ctx,
  e: Pick<EvidenceSubmission, 'digest' | 'effectiveDate' | 'dataset'>,
  verdicts: MetricVerdict[],
  submittedBy: string,
  extra: { source: 'computed' | 'declared'; analysisId?: string; predictions?: string; rows?: number },
): Effect[] {
  const { failed, inconclusive } = gateOutcome(verdicts);
  const version = (state.evidence?.version ?? 0) + 1;
  state.evidence = {
    version,
    submittedAt: iso(ctx.now),
    submittedBy,
    effectiveDate: e.effectiveDate,
    modelVersion: state.modelVersion,
    dataset: e.dataset,
    digest: e.digest,
    policyVersion: ctx.policy.version,
    verdicts,
    failed,
    inconclusive,
    ...extra,
    accepted: [],
  };
  return [
    {
      kind: 'event',
      type: 'bias_evidence_submitted',
      actor: submittedBy,
      payload: {
        version,
        digest: e.digest,
        effectiveDate: e.effectiveDate,
        modelVersion: state.modelVersion,
        policyVersion: ctx.policy.version,
        ...extra,
        failed,
        inconclusive,
        verdicts,
      },
    },
  ];
}

// ---- predictions analysed by the product -------------------------------------------------------

/** Analyses kept in state; the record store keeps every one. */
const ANALYSES_KEPT = 20;
/** At most this many analyses run at once for one system, so an upload loop cannot flood the workers. */
export const MAX_RUNNING_ANALYSES = 3;

/** Stages that take predictions: bias testing and treatment, and monitoring between reviews (A.6.2.6). */
const ANALYSIS_STAGES: Stage[] = ['bias_testing', 'risk_treatment', 'active', 'review_due'];

export function validateAnalysis(state: LifecycleState, ctx: Ctx, raw: unknown): AnalysisRequest {
  requireStage(state, ANALYSIS_STAGES, 'predictions for bias testing');
  if (!gateOf(ctx.policy)) {
    throw new Refusal(
      'WrongStage',
      `this lifecycle runs under policy ${ctx.policy.version}, from before computed bias evidence; it adopts the current policy at its next review cycle`,
      state.stage,
    );
  }
  const a = accept(analysisRequestSchema, raw, state.stage);
  refuseFutureDates(state, ctx, [{ path: 'effectiveDate', value: a.effectiveDate }]);
  if (a.modelVersion !== state.modelVersion) {
    throw new Refusal(
      'InvalidInput',
      `modelVersion: the predictions are of ${a.modelVersion}, the system runs ${state.modelVersion}`,
      state.stage,
      [{ path: 'modelVersion', message: `must be the system's current model version ${state.modelVersion}` }],
    );
  }
  const missing = (state.registration.sensitiveFeatures ?? []).filter((f) => !a.spec.sensitive.includes(f));
  if (missing.length) {
    throw new Refusal(
      'InvalidInput',
      `sensitive: the system's registration names the sensitive feature(s) ${missing.join(', ')}, which the analysis must cover`,
      state.stage,
      [{ path: 'sensitive', message: `must include ${missing.join(', ')}` }],
    );
  }
  const analyses = state.analyses ?? [];
  if (analyses.some((x) => x.id === a.analysisId)) {
    throw new Refusal('InvalidInput', `analysisId: ${a.analysisId} was already requested`, state.stage, [
      { path: 'analysisId', message: 'is already in use' },
    ]);
  }
  if (analyses.filter((x) => x.status === 'running').length >= MAX_RUNNING_ANALYSES) {
    throw new Refusal(
      'WrongStage',
      `${MAX_RUNNING_ANALYSES} analyses are running for this system; wait for one to finish`,
      state.stage,
    );
  }
  return a;
}

export function requestAnalysis(
  state: LifecycleState,
  ctx: Ctx,
  a: AnalysisRequest,
  principal?: string,
): { result: { analysisId: string; status: 'running'; stage: Stage }; effects: Effect[]; analysis: AnalysisRecord } {
  const analysis: AnalysisRecord = {
    id: a.analysisId,
    requestedAt: iso(ctx.now),
    submittedBy: a.submittedBy,
    modelVersion: a.modelVersion,
    effectiveDate: a.effectiveDate,
    dataset: a.dataset,
    blob: a.blob,
    bytes: a.bytes,
    spec: a.spec,
    status: 'running',
    finishedAt: null,
    reportDigest: null,
    evidenceVersion: null,
    error: null,
    issues: [],
    ...(principal ? { principal } : {}),
  };
  state.analyses = keepRecent(state.analyses ?? [], analysis, ANALYSES_KEPT);
  const effects: Effect[] = [
    {
      kind: 'event',
      type: 'bias_analysis_requested',
      actor: a.submittedBy,
      payload: { analysisId: a.analysisId, blob: a.blob, bytes: a.bytes, spec: a.spec, modelVersion: a.modelVersion },
    },
  ];
  return { result: { analysisId: a.analysisId, status: 'running', stage: state.stage }, effects, analysis };
}

const findAnalysis = (state: LifecycleState, id: string) => (state.analyses ?? []).find((a) => a.id === id);

/**
 * The verdicts arrive: they become the current evidence unless the system has moved on (another model
 * version, a stage that takes no evidence) or a later upload's verdicts already did.
 */
export function completeAnalysis(state: LifecycleState, ctx: Ctx, id: string, computed: ComputedFairness) {
  const a = findAnalysis(state, id);
  if (!a || a.status !== 'running') return [];
  a.finishedAt = iso(ctx.now);
  a.reportDigest = computed.reportDigest;
  const later = (state.analyses ?? []).slice((state.analyses ?? []).indexOf(a) + 1);
  const why =
    a.modelVersion !== state.modelVersion
      ? `the system now runs model version ${state.modelVersion}`
      : !ANALYSIS_STAGES.includes(state.stage)
        ? `the system is in ${state.stage}, which takes no evidence`
        : later.some((l) => l.status === 'completed')
          ? 'a later upload was analysed first'
          : null;
  const done: Effect = {
    kind: 'event',
    type: why ? 'bias_analysis_superseded' : 'bias_analysis_completed',
    actor: null,
    payload: {
      analysisId: id,
      reportDigest: computed.reportDigest,
      sha256: computed.sha256,
      rows: computed.rows,
      skippedRows: computed.skippedRows,
      ...(why ? { reason: why } : {}),
    },
  };
  if (why) {
    a.status = 'superseded';
    a.error = why;
    return [done];
  }
  a.status = 'completed';
  const gate = gateOf(ctx.policy)!;
  const effects = [
    done,
    ...recordJudged(
      state,
      ctx,
      { digest: computed.reportDigest, effectiveDate: a.effectiveDate, dataset: a.dataset },
      judgeComputed(computed, gate, state.riskTier ?? 'low'),
      a.submittedBy,
      { source: 'computed', analysisId: id, predictions: computed.sha256, rows: computed.rows },
    ),
  ];
  a.evidenceVersion = state.evidence!.version;
  if (state.stage === 'active' || state.stage === 'review_due') {
    // Monitoring evidence: a pass refreshes the record; anything holding approval reopens risk treatment.
    const held = openMetrics(state.evidence!);
    if (held.length === 0) return effects;
    effects.push(...invalidateApproval(state, `monitoring evidence holds approval: ${held.join(', ')}`, a.submittedBy));
    if (state.plan) state.plan.current = false;
    effects.push(
      ...enter(state, ctx, 'risk_treatment', `monitoring found fairness metrics ${held.join(', ')}`, a.submittedBy),
    );
    return effects;
  }
  return [...effects, ...afterEvidence(state, ctx, a.submittedBy)];
}

/** A file that cannot be analysed, or an analysis that could not run: recorded, and nothing partial kept. */
export function failAnalysis(
  state: LifecycleState,
  ctx: Ctx,
  id: string,
  error: string,
  issues: { line: number; message: string }[],
): Effect[] {
  const a = findAnalysis(state, id);
  if (!a || a.status !== 'running') return [];
  a.status = 'failed';
  a.finishedAt = iso(ctx.now);
  a.error = error.slice(0, 2000);
  a.issues = issues.slice(0, 10);
  return [
    {
      kind: 'event',
      type: 'bias_analysis_failed',
      actor: null,
      payload: { analysisId: id, blob: a.blob, error: a.error, issues: a.issues },
    },
  ];
}

// ---- the governance lead's acceptance of fairness risk ---------------------------------------

export function validateRiskAcceptance(state: LifecycleState, ctx: Ctx, raw: unknown): FairnessRiskAcceptance {
  requireStage(state, ['risk_treatment'], "the governance lead's acceptance of fairness risk");
  const gate = gateOf(ctx.policy);
  const evidence = state.evidence;
  if (!gate || !evidence) {
    throw new Refusal('WrongStage', 'no bias evidence judged by the gate is on record', state.stage);
  }
  const r = accept(fairnessRiskAcceptanceSchema, raw, state.stage);
  if (r.acceptedBy !== ctx.governanceLead.toLowerCase()) {
    throw new Refusal('InvalidInput', 'acceptedBy: only the governance lead accepts fairness risk', state.stage, [
      { path: 'acceptedBy', message: 'must be the governance lead' },
    ]);
  }
  if (r.evidenceVersion !== evidence.version) {
    throw new Refusal(
      'WrongStage',
      `evidence v${r.evidenceVersion} is not the current evidence (v${evidence.version}): an acceptance covers the verdicts it names`,
      state.stage,
    );
  }
  const open = openMetrics(evidence);
  const notOpen = r.metrics.filter((m) => !open.includes(m));
  if (notOpen.length) {
    throw new Refusal(
      'InvalidInput',
      `metrics: ${notOpen.join(', ')} ${notOpen.length > 1 ? 'are' : 'is'} not failed or inconclusive and unaccepted on evidence v${evidence.version} (open: ${open.join(', ') || 'none'})`,
      state.stage,
      [{ path: 'metrics', message: `must be among ${open.join(', ') || '(none open)'}` }],
    );
  }
  if (r.reasons.length < gate.riskAcceptance.minReasonLength) {
    throw new Refusal(
      'InvalidInput',
      `reasons: give the reasons for accepting the risk (${gate.riskAcceptance.minReasonLength} characters at least)`,
      state.stage,
      [{ path: 'reasons', message: `must be ${gate.riskAcceptance.minReasonLength} characters at least` }],
    );
  }
  return r;
}

export function acceptRisk(state: LifecycleState, ctx: Ctx, r: FairnessRiskAcceptance) {
  const evidence = state.evidence!;
  evidence.accepted = [...(evidence.accepted ?? []), { metrics: r.metrics, by: r.acceptedBy, at: iso(ctx.now) }];
  const open = openMetrics(evidence);
  const verdicts = evidence.verdicts.filter((v) => r.metrics.includes(metricKey(v)));
  const effects: Effect[] = [
    {
      kind: 'event',
      type: 'fairness_risk_accepted',
      actor: r.acceptedBy,
      payload: { evidenceVersion: evidence.version, metrics: r.metrics, reasons: r.reasons, verdicts, open },
    },
  ];
  return { result: { evidenceVersion: evidence.version, accepted: r.metrics, open, stage: state.stage }, effects };
}

// ---- risk treatment ----------------------------------------------------------------------------

const addressed = (plan: PlanSubmission) => [...new Set(plan.items.flatMap((i) => i.addressesMetrics))].sort();

export function validatePlan(state: LifecycleState, ctx: Ctx, raw: unknown): PlanSubmission {
  requireStage(state, ['risk_treatment'], 'a risk-treatment plan');
  const plan = accept(planSubmissionSchema, raw, state.stage);
  if (gateOf(ctx.policy) && state.evidence) {
    const held = openMetrics(state.evidence);
    if (held.length > 0) {
      throw new Refusal(
        'InvalidInput',
        `items: fairness metrics ${held.join(', ')} of evidence v${state.evidence.version} fail or are inconclusive; ` +
          "approval waits for new passing evidence or the governance lead's recorded acceptance of the risk",
        state.stage,
        [{ path: 'items', message: `approval is held by ${held.join(', ')}: a plan item naming them is not enough` }],
      );
    }
  }
  const evidence = state.evidence;
  const blocking = evidence ? (gateOf(ctx.policy) ? blockingMetrics(evidence) : evidence.failed) : [];
  const open = unansweredMetrics(addressed(plan), blocking);
  if (open.length > 0) {
    throw new Refusal(
      'InvalidInput',
      `items: failed fairness metrics ${open.join(', ')} must be answered by an item's addressesMetrics, or by new evidence`,
      state.stage,
      [{ path: 'items', message: `no item addresses the failed metrics ${open.join(', ')}` }],
    );
  }
  return plan;
}

export function submitPlan(state: LifecycleState, ctx: Ctx, content: PlanSubmission) {
  const residual = residualScore(content, ctx.policy);
  const version = (state.plan?.version ?? 0) + 1;
  state.plan = {
    version,
    submittedAt: iso(ctx.now),
    submittedBy: content.submittedBy,
    digest: content.digest,
    items: content.items.length,
    residualScore: residual,
    requiresRiskAcceptance: residual > ctx.policy.riskAppetite.maxResidualScore,
    addressedMetrics: addressed(content),
    current: true,
  };
  const effects: Effect[] = [
    {
      kind: 'event',
      type: 'treatment_plan_submitted',
      actor: content.submittedBy,
      payload: {
        version,
        residualScore: residual,
        requiresRiskAcceptance: state.plan.requiresRiskAcceptance,
        digest: content.digest,
        policyVersion: ctx.policy.version,
      },
    },
    ...enter(
      state,
      ctx,
      'approval',
      `risk-treatment plan v${version} submitted (residual ${residual})`,
      content.submittedBy,
    ),
    ...requestApproval(state, ctx, 'lifecycle'),
  ];
  return {
    result: {
      version,
      residualScore: residual,
      requiresRiskAcceptance: state.plan.requiresRiskAcceptance,
      stage: state.stage,
    },
    effects,
  };
}

// ---- FRIA notification -------------------------------------------------------------------------

export function validateAuthorityNotification(state: LifecycleState, ctx: Ctx, raw: unknown): AuthorityNotification {
  requireNotFinal(state, 'an authority notification');
  if (!state.fria.required) {
    const why = state.fria.basis ? `: ${state.fria.basis}` : '';
    throw new Refusal(
      'WrongStage',
      `no fundamental rights impact assessment is required for this system (EU AI Act Art. 27(1))${why}`,
      state.stage,
    );
  }
  if (state.fria.notifiedAt)
    throw new Refusal('WrongStage', `the authority was already notified on ${state.fria.notifiedAt}`, state.stage);
  const n = accept(authorityNotificationSchema, raw, state.stage);
  refuseFutureDates(state, ctx, [{ path: 'notifiedAt', value: n.notifiedAt }]);
  return n;
}

export function recordAuthorityNotification(state: LifecycleState, ctx: Ctx, n: AuthorityNotification) {
  state.fria = {
    ...state.fria,
    required: true,
    notifiedAt: n.notifiedAt,
    authority: n.authority,
    reference: n.reference ?? null,
    ...(state.assessment ? { assessmentVersion: state.assessment.version } : {}),
  };
  const effects: Effect[] = [{ kind: 'event', type: 'fria_authority_notified', actor: n.notifiedBy, payload: n }];
  if (state.stage === 'fria_notification')
    effects.push(
      ...enter(state, ctx, 'active', `market surveillance authority notified (${n.authority})`, n.notifiedBy),
    );
  return { result: { stage: state.stage, notifiedAt: n.notifiedAt }, effects };
}
