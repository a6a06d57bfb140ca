import { durationMs } from '../duration.js';
import { evidenceIsStale } from '../evidence.js';
import type { LifecycleState } from '../lifecycle.js';
import {
  incidentClosureSchema,
  incidentSchema,
  newVersionSchema,
  retirementSchema,
  type Incident,
  type IncidentClosure,
  type NewVersion,
  type Retirement,
} from '../operations.js';
import { reviewSubmissionSchema, type ReviewSubmission } from '../submissions.js';
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
import { correctiveActionCadence } from './corrective-actions.js';
import { recordEvidence, refuseDeclaredMetrics, refuseFutureDates } from './work.js';
import { blockingMetrics, gateOf } from '../bias-gate.js';

/** Life after approval: new model versions, incidents, periodic reviews, retirement. */

// ---- new model version -------------------------------------------------------------------------

export function validateNewVersion(state: LifecycleState, raw: unknown): NewVersion {
  requireNotFinal(state, 'a new model version');
  if (!state.assessment)
    requireStage(
      state,
      ['bias_testing', 'risk_treatment', 'approval', 'active', 'review_due', 'fria_notification'],
      'a new model version',
    );
  const v = accept(newVersionSchema, raw, state.stage);
  if (v.version === state.modelVersion) {
    throw new Refusal('InvalidInput', `version: ${v.version} is already the system's model version`, state.stage, [
      { path: 'version', message: 'is already the current version' },
    ]);
  }
  return v;
}

export function newModelVersion(state: LifecycleState, ctx: Ctx, v: NewVersion) {
  const previous = state.modelVersion;
  state.modelVersion = v.version;
  const effects: Effect[] = [
    {
      kind: 'event',
      type: 'model_version_changed',
      actor: v.submittedBy,
      payload: {
        from: previous,
        to: v.version,
        purposeAndContextUnchanged: v.purposeAndContextUnchanged,
        changeSummary: v.changeSummary,
      },
    },
    ...invalidateApproval(state, `new model version ${v.version}`, v.submittedBy),
  ];
  const why = `model version ${previous} → ${v.version}`;
  if (state.stage === 'impact_assessment') {
    // A reassessment is already asked for (after a rejection or a material change); the new version joins it.
    effects.push({
      kind: 'event',
      type: 'reassessment_pending',
      actor: v.submittedBy,
      payload: { modelVersion: v.version },
    });
  } else if (!v.purposeAndContextUnchanged) {
    effects.push(
      ...enter(state, ctx, 'impact_assessment', `${why}; purpose or context changed: full reassessment`, v.submittedBy),
    );
  } else if (biasTestingRequired(state, ctx.policy)) {
    effects.push(
      ...enter(state, ctx, 'bias_testing', `${why}; assessment carried over, bias testing runs again`, v.submittedBy),
    );
  } else if (state.plan?.current) {
    effects.push(...enter(state, ctx, 'approval', `${why}; assessment and treatment plan carried over`, v.submittedBy));
    effects.push(...requestApproval(state, ctx, 'lifecycle'));
  } else {
    effects.push(...enter(state, ctx, 'risk_treatment', `${why}; assessment carried over`, v.submittedBy));
  }
  return { result: { modelVersion: v.version, stage: state.stage }, effects };
}

// ---- incidents ---------------------------------------------------------------------------------

export function validateIncident(state: LifecycleState, ctx: Ctx, raw: unknown): Incident {
  requireNotFinal(state, 'an incident');
  const incident = accept(incidentSchema, raw, state.stage);
  refuseFutureDates(state, ctx, [{ path: 'occurredAt', value: incident.occurredAt }]);
  return incident;
}

export function reportIncident(state: LifecycleState, ctx: Ctx, incident: Incident) {
  state.incidentSeq += 1;
  const id = `inc-${state.incidentSeq}`;
  const record = {
    ...incident,
    id,
    reportedAt: iso(ctx.now),
    correctiveActionDueAt: iso(new Date(ctx.now.getTime() + durationMs(ctx.policy.incidents.correctiveActionDue))),
    closedAt: null,
    closedBy: null,
    resolution: null,
  };
  // Open incidents are never trimmed away: their corrective actions must stay closable.
  const closed = state.incidents.filter((i) => i.closedAt !== null);
  const open = state.incidents.filter((i) => i.closedAt === null);
  state.incidents = [...closed.slice(-10), ...open, record];
  const effects: Effect[] = [{ kind: 'event', type: 'incident_reported', actor: incident.reportedBy, payload: record }];
  const mail = (to: string) =>
    notification(state, {
      kind: 'incident_reported',
      to,
      incidentId: id,
      severity: incident.severity,
      description: incident.description,
      reportedBy: incident.reportedBy,
    });
  effects.push(mail(state.registration.owner));
  if (ctx.correctiveActions && correctiveActionCadence(ctx.policy)) {
    effects.push(
      notification(state, {
        kind: 'corrective_action_assigned',
        to: incident.correctiveActionOwner,
        incidentId: id,
        correctiveAction: incident.correctiveAction,
        dueAt: record.correctiveActionDueAt,
        severity: incident.severity,
        description: incident.description,
      }),
    );
  }
  if (incident.severity === 'serious') {
    effects.push(mail(ctx.governanceLead));
    effects.push(...invalidateApproval(state, `serious incident ${id}`, incident.reportedBy));
    if (state.stage === 'active' || state.stage === 'approval') {
      // A serious incident calls for a review now, not at the next scheduled date.
      state.reviewDueAt = iso(ctx.now);
      state.reviewTrigger = 'incident';
      state.reviewEscalations = 0;
      effects.push(...enter(state, ctx, 'review_due', `serious incident ${id}: immediate review`, incident.reportedBy));
      effects.push(
        notification(state, { kind: 'review_due', to: state.registration.owner, reviewDueAt: state.reviewDueAt }),
      );
    }
  }
  return { result: { incidentId: id, stage: state.stage }, effects };
}

export function validateIncidentClosure(state: LifecycleState, incidentId: string, raw: unknown): IncidentClosure {
  const incident = state.incidents.find((i) => i.id === incidentId);
  if (!incident)
    throw new Refusal('InvalidInput', `incidentId: no incident ${incidentId}`, state.stage, [
      { path: 'incidentId', message: 'is unknown' },
    ]);
  if (incident.closedAt)
    throw new Refusal('WrongStage', `incident ${incidentId} was closed on ${incident.closedAt}`, state.stage);
  return accept(incidentClosureSchema, raw, state.stage);
}

export function closeIncident(state: LifecycleState, ctx: Ctx, incidentId: string, c: IncidentClosure) {
  const incident = state.incidents.find((i) => i.id === incidentId)!;
  incident.closedAt = iso(ctx.now);
  incident.closedBy = c.closedBy;
  incident.resolution = c.resolution;
  return {
    result: { incidentId, closedAt: incident.closedAt },
    effects: [
      {
        kind: 'event',
        type: 'corrective_action_closed',
        actor: c.closedBy,
        payload: { incidentId, resolution: c.resolution },
      },
    ] as Effect[],
  };
}

// ---- periodic review ---------------------------------------------------------------------------

export function validateReview(state: LifecycleState, ctx: Ctx, raw: unknown): ReviewSubmission {
  requireStage(state, ['active', 'review_due'], 'a review');
  const r = accept(reviewSubmissionSchema, raw, state.stage);
  refuseFutureDates(state, ctx, [{ path: 'biasEvidence.effectiveDate', value: r.biasEvidence?.effectiveDate }]);
  const needsEvidence = biasTestingRequired(state, ctx.policy);
  const stale = !state.evidence || evidenceIsStale(state.evidence.effectiveDate, ctx.now, ctx.policy);
  if (needsEvidence && stale && !r.materialChange && !r.biasEvidence) {
    const since = state.evidence
      ? `the evidence on record ran on ${state.evidence.effectiveDate}, older than ${ctx.policy.evidence.maxAge}`
      : 'no evidence is on record';
    throw new Refusal('InvalidInput', `biasEvidence: fresh bias metrics are required (${since})`, state.stage, [
      { path: 'biasEvidence', message: `is required: ${since}` },
    ]);
  }
  if (r.biasEvidence) refuseDeclaredMetrics(state, ctx, r.biasEvidence.metrics);
  return r;
}

export function submitReview(state: LifecycleState, ctx: Ctx, r: ReviewSubmission) {
  const trigger = state.reviewTrigger ?? (state.stage === 'active' ? 'early' : 'schedule');
  state.review = {
    cycle: state.cycle,
    submittedAt: iso(ctx.now),
    performedBy: r.performedBy,
    materialChange: r.materialChange,
    monitoringSummary: r.monitoringSummary,
    trigger,
  };
  const effects: Effect[] = [
    {
      kind: 'event',
      type: 'review_submitted',
      actor: r.performedBy,
      payload: { ...state.review, changeDescription: r.changeDescription ?? null },
    },
  ];
  if (r.biasEvidence) {
    effects.push(...recordEvidence(state, ctx, r.biasEvidence, r.performedBy));
    // Under the gate an inconclusive metric holds approval as a failed one does.
    const failed = gateOf(ctx.policy) ? blockingMetrics(state.evidence!) : state.evidence!.failed;
    if (failed.length > 0 && !r.materialChange) {
      // Failed evidence is a material change: the treatment plan must answer it before a new approval.
      effects.push(...invalidateApproval(state, `review evidence failed ${failed.join(', ')}`, r.performedBy));
      if (state.plan) state.plan.current = false;
      effects.push(
        ...enter(
          state,
          ctx,
          'risk_treatment',
          `review found failed fairness metrics ${failed.join(', ')}`,
          r.performedBy,
        ),
      );
      return { result: { stage: state.stage }, effects };
    }
  }
  if (r.materialChange) {
    effects.push(
      ...invalidateApproval(state, `material change found in review: ${r.changeDescription ?? ''}`, r.performedBy),
    );
    effects.push(
      ...enter(state, ctx, 'impact_assessment', 'material change found in review: full reassessment', r.performedBy),
    );
    return { result: { stage: state.stage }, effects };
  }
  const from = state.stage;
  if (from !== 'review_due') effects.push(...enter(state, ctx, 'review_due', 'early review submitted', r.performedBy));
  effects.push(...enter(state, ctx, 'approval', 'review submitted for sign-off', r.performedBy));
  effects.push(...requestApproval(state, ctx, 'review'));
  return { result: { stage: state.stage }, effects };
}

// ---- retirement --------------------------------------------------------------------------------

export function validateRetirement(state: LifecycleState, raw: unknown): Retirement {
  requireNotFinal(state, 'retirement');
  return accept(retirementSchema, raw, state.stage);
}

export function retire(state: LifecycleState, ctx: Ctx, r: Retirement) {
  state.approval = null;
  state.retiredAt = iso(ctx.now);
  const effects: Effect[] = [
    {
      kind: 'event',
      type: 'system_retired',
      actor: r.retiredBy,
      payload: { reason: r.reason, openIncidents: state.incidents.filter((i) => !i.closedAt).map((i) => i.id) },
    },
    ...enter(state, ctx, 'retired', `retired: ${r.reason}`, r.retiredBy),
  ];
  for (const to of new Set([state.registration.owner, ctx.governanceLead])) {
    effects.push(notification(state, { kind: 'retired', to, reason: r.reason, retiredBy: r.retiredBy }));
  }
  return { result: { stage: state.stage, retiredAt: state.retiredAt }, effects };
}
