import { deriveRiskTier } from '../assessment.js';
import { judgeEvidence, metricKey } from '../evidence.js';
import type { LifecycleState, Stage } from '../lifecycle.js';
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
} from './core.js';
import { requestApproval } from './approvals.js';

/** The AI team's submissions: impact assessment, bias evidence, risk treatment, the FRIA notification. */

// ---- impact assessment -------------------------------------------------------------------------

export function validateAssessment(state: LifecycleState, raw: unknown): AssessmentSubmission {
  requireStage(state, ['impact_assessment'], 'an impact assessment');
  const a = accept(assessmentSubmissionSchema, raw, state.stage);
  const isDeployer = state.registration.deployment.role !== 'provider';
  if (a.euAiAct.category === 'high_risk' && isDeployer && !a.friaIncluded) {
    throw new Refusal(
      'InvalidInput',
      'fria: a deployer of a high-risk system must include the fundamental rights impact assessment (EU AI Act Art. 27)',
      state.stage,
      [{ path: 'fria', message: 'is required for a deployer of a high-risk system (EU AI Act Art. 27)' }],
    );
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
    decisionsAboutPeople: content.decisionsAboutPeople,
    impacts: content.impacts.length,
  };
  state.riskTier = tier;
  if (state.plan) state.plan.current = false;
  state.fria.required = content.euAiAct.category === 'high_risk' && state.registration.deployment.role !== 'provider';
  const effects: Effect[] = [{ kind: 'assessment', record: state.assessment }];
  const by = content.submittedBy;
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

export function validateEvidence(state: LifecycleState, raw: unknown): EvidenceSubmission {
  requireStage(state, ['bias_testing', 'risk_treatment'], 'bias-testing evidence');
  const e = accept(evidenceSubmissionSchema, raw, state.stage);
  if (e.modelVersion !== state.modelVersion) {
    throw new Refusal(
      'InvalidInput',
      `modelVersion: the evidence is for ${e.modelVersion}, the system runs ${state.modelVersion}`,
      state.stage,
      [{ path: 'modelVersion', message: `must be the system's current model version ${state.modelVersion}` }],
    );
  }
  return e;
}

export function submitEvidence(state: LifecycleState, ctx: Ctx, content: EvidenceSubmission) {
  const { submittedBy } = content;
  const effects = recordEvidence(state, ctx, content, submittedBy);
  const { version, failed } = state.evidence!;
  const planCovers =
    state.plan?.current === true && unansweredMetrics(state.plan.addressedMetrics, failed).length === 0;
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
    const why = failed.length
      ? `${failed.length} fairness metric(s) failed: ${failed.join(', ')}`
      : 'all fairness metrics within thresholds';
    effects.push(...enter(state, ctx, 'risk_treatment', `bias evidence v${version} submitted; ${why}`, submittedBy));
  }
  return { result: { version, failed, verdicts: state.evidence!.verdicts, stage: state.stage }, effects };
}

/** Judges evidence by the policy in force and keeps it as the system's current evidence. */
export function recordEvidence(
  state: LifecycleState,
  ctx: Ctx,
  e: Pick<EvidenceSubmission, 'digest' | 'effectiveDate' | 'dataset' | 'metrics'>,
  submittedBy: string,
): Effect[] {
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

// ---- risk treatment ----------------------------------------------------------------------------

const addressed = (plan: PlanSubmission) => [...new Set(plan.items.flatMap((i) => i.addressesMetrics))].sort();

export function validatePlan(state: LifecycleState, raw: unknown): PlanSubmission {
  requireStage(state, ['risk_treatment'], 'a risk-treatment plan');
  const plan = accept(planSubmissionSchema, raw, state.stage);
  const open = unansweredMetrics(addressed(plan), state.evidence?.failed ?? []);
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

export function validateAuthorityNotification(state: LifecycleState, raw: unknown): AuthorityNotification {
  requireNotFinal(state, 'an authority notification');
  if (!state.fria.required)
    throw new Refusal('WrongStage', 'no fundamental rights impact assessment is required for this system', state.stage);
  if (state.fria.notifiedAt)
    throw new Refusal('WrongStage', `the authority was already notified on ${state.fria.notifiedAt}`, state.stage);
  return accept(authorityNotificationSchema, raw, state.stage);
}

export function recordAuthorityNotification(state: LifecycleState, ctx: Ctx, n: AuthorityNotification) {
  state.fria = { required: true, notifiedAt: n.notifiedAt, authority: n.authority, reference: n.reference ?? null };
  const effects: Effect[] = [{ kind: 'event', type: 'fria_authority_notified', actor: n.notifiedBy, payload: n }];
  if (state.stage === 'fria_notification')
    effects.push(
      ...enter(state, ctx, 'active', `market surveillance authority notified (${n.authority})`, n.notifiedBy),
    );
  return { result: { stage: state.stage, notifiedAt: n.notifiedAt }, effects };
}
