import type { z } from 'zod';
import { deriveRiskTier, impactAssessmentSchema, type ImpactAssessmentInput } from '../model/assessment.js';
import { biasEvidenceSchema, judgeEvidence, metricKey, type BiasEvidenceInput } from '../model/evidence.js';
import type { LifecycleState, Stage } from '../model/lifecycle.js';
import { authorityNotificationSchema, type AuthorityNotificationInput } from '../model/operations.js';
import { residualScore, treatmentPlanSchema, unansweredMetrics, type TreatmentPlanInput } from '../model/treatment.js';
import {
  type Effect,
  type Ctx,
  Refusal,
  iso,
  parseOr,
  requireStage,
  requireNotFinal,
  notification,
  enter,
  biasTestingRequired,
} from './core.js';
import { requestApproval } from './approvals.js';

/** The AI team's submissions: impact assessment, bias evidence, risk treatment, the FRIA notification. */

// ---- impact assessment -------------------------------------------------------------------------

export function validateAssessment(
  state: LifecycleState,
  raw: ImpactAssessmentInput,
): z.output<typeof impactAssessmentSchema> {
  requireStage(state, ['impact_assessment'], 'an impact assessment');
  const a = parseOr(impactAssessmentSchema, raw, state.stage);
  const isDeployer = state.registration.deployment.role !== 'provider';
  if (a.euAiAct.category === 'high_risk' && isDeployer && !a.fria) {
    throw new Refusal(
      'InvalidInput',
      'fria: a deployer of a high-risk system must include the fundamental rights impact assessment (EU AI Act Art. 27)',
      state.stage,
      [{ path: 'fria', message: 'is required for a deployer of a high-risk system (EU AI Act Art. 27)' }],
    );
  }
  return a;
}

export function submitAssessment(state: LifecycleState, ctx: Ctx, raw: ImpactAssessmentInput) {
  const content = validateAssessment(state, raw);
  const { tier, score } = deriveRiskTier(content, ctx.policy);
  const version = (state.assessment?.version ?? 0) + 1;
  state.assessment = {
    version,
    submittedAt: iso(ctx.now),
    submittedBy: content.submittedBy,
    riskTier: tier,
    score,
    content,
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
          reason: `The impact assessment classifies the system as a prohibited practice (EU AI Act Art. 5): ${content.euAiAct.rationale}`,
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

export function validateEvidence(state: LifecycleState, raw: BiasEvidenceInput): z.output<typeof biasEvidenceSchema> {
  requireStage(state, ['bias_testing', 'risk_treatment'], 'bias-testing evidence');
  const e = parseOr(biasEvidenceSchema, raw, state.stage);
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

export function submitEvidence(state: LifecycleState, ctx: Ctx, raw: BiasEvidenceInput) {
  const { submittedBy, ...content } = validateEvidence(state, raw);
  const verdicts = judgeEvidence(content, ctx.policy);
  const failed = verdicts.filter((v) => !v.passed).map(metricKey);
  const version = (state.evidence?.version ?? 0) + 1;
  state.evidence = {
    version,
    submittedAt: iso(ctx.now),
    submittedBy,
    effectiveDate: content.effectiveDate,
    modelVersion: content.modelVersion,
    verdicts,
    failed,
    content,
  };
  const effects: Effect[] = [
    {
      kind: 'event',
      type: 'bias_evidence_submitted',
      actor: submittedBy,
      payload: { version, effectiveDate: content.effectiveDate, failed, verdicts },
    },
  ];
  const planCovers = state.plan?.current === true && unansweredMetrics(state.plan.content, failed).length === 0;
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
  return { result: { version, failed, verdicts, stage: state.stage }, effects };
}

// ---- risk treatment ----------------------------------------------------------------------------

export function validatePlan(state: LifecycleState, raw: TreatmentPlanInput): z.output<typeof treatmentPlanSchema> {
  requireStage(state, ['risk_treatment'], 'a risk-treatment plan');
  const plan = parseOr(treatmentPlanSchema, raw, state.stage);
  const open = unansweredMetrics(plan, state.evidence?.failed ?? []);
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

export function submitPlan(state: LifecycleState, ctx: Ctx, raw: TreatmentPlanInput) {
  const content = validatePlan(state, raw);
  const residual = residualScore(content, ctx.policy);
  const version = (state.plan?.version ?? 0) + 1;
  state.plan = {
    version,
    submittedAt: iso(ctx.now),
    submittedBy: content.submittedBy,
    residualScore: residual,
    requiresRiskAcceptance: residual > ctx.policy.riskAppetite.maxResidualScore,
    current: true,
    content,
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
        plan: content,
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

export function validateAuthorityNotification(
  state: LifecycleState,
  raw: AuthorityNotificationInput,
): z.output<typeof authorityNotificationSchema> {
  requireNotFinal(state, 'an authority notification');
  if (!state.fria.required)
    throw new Refusal('WrongStage', 'no fundamental rights impact assessment is required for this system', state.stage);
  if (state.fria.notifiedAt)
    throw new Refusal('WrongStage', `the authority was already notified on ${state.fria.notifiedAt}`, state.stage);
  return parseOr(authorityNotificationSchema, raw, state.stage);
}

export function recordAuthorityNotification(state: LifecycleState, ctx: Ctx, raw: AuthorityNotificationInput) {
  const n = validateAuthorityNotification(state, raw);
  state.fria = { required: true, notifiedAt: n.notifiedAt, authority: n.authority, reference: n.reference ?? null };
  const effects: Effect[] = [{ kind: 'event', type: 'fria_authority_notified', actor: n.notifiedBy, payload: n }];
  if (state.stage === 'fria_notification')
    effects.push(
      ...enter(state, ctx, 'active', `market surveillance authority notified (${n.authority})`, n.notifiedBy),
    );
  return { result: { stage: state.stage, notifiedAt: n.notifiedAt }, effects };
}
