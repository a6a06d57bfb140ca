import {
  ApplicationFailure,
  condition,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type * as activities from '../activities/index.js';
import { deriveRiskTier, impactAssessmentSchema } from '../domain/assessment.js';
import { addMonths, durationMs } from '../domain/duration.js';
import {
  keepRecent,
  type ApprovalDecision,
  type LifecycleInput,
  type LifecycleState,
  type PendingApproval,
  type Stage,
} from '../domain/lifecycle.js';
import { SA } from '../domain/search-attributes.js';
import { personKey } from '../domain/system.js';
import type { Notification } from '../activities/types.js';
import {
  approvalDecisionSignal,
  INVALID_INPUT,
  stateQuery,
  submitImpactAssessmentUpdate,
  WRONG_STAGE,
} from './messages.js';

const { recordTransition, recordAssessment, recordDecision, sendNotification } = proxyActivities<
  ReturnType<typeof activities.createActivities>
>({
  startToCloseTimeout: '1 minute',
  // No attempt limit: an SMTP or database outage delays the effect, never drops it.
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    nonRetryableErrorTypes: ['InvalidNotification'],
  },
});

/**
 * One AI system's lifecycle: registration → impact assessment → approval →
 * active → review due. Human input arrives as an update (assessment) and
 * signals (decisions from e-mailed links); every wait is a durable timer.
 */
export async function aiSystemLifecycle(input: LifecycleInput): Promise<LifecycleState> {
  const { registration, policy, governanceLead } = input;
  const workflowId = workflowInfo().workflowId;
  const state: LifecycleState = {
    systemId: registration.id,
    registration,
    policyVersion: policy.version,
    stage: 'impact_assessment',
    riskTier: null,
    assessment: null,
    approval: null,
    decisions: [],
    approvedAt: null,
    reviewDueAt: null,
    assessmentDueReminders: 0,
    transitions: [],
  };
  const inbox: ApprovalDecision[] = [];

  setHandler(stateQuery, () => state);

  setHandler(
    submitImpactAssessmentUpdate,
    (raw) => {
      const assessment = impactAssessmentSchema.parse(raw);
      const { tier, score } = deriveRiskTier(assessment, policy);
      const version = (state.assessment?.version ?? 0) + 1;
      state.assessment = {
        version,
        submittedAt: new Date().toISOString(),
        submittedBy: assessment.submittedBy,
        riskTier: tier,
        score,
        content: assessment,
      };
      state.riskTier = tier;
      // Moving the stage here, not in the main loop, makes a second submission
      // in the same instant fail validation instead of overwriting this one.
      state.stage = 'approval';
      return { version, riskTier: tier, score };
    },
    {
      validator: (raw) => {
        if (state.stage !== 'impact_assessment') {
          throw ApplicationFailure.create({
            type: WRONG_STAGE,
            message: `an impact assessment is accepted in stage impact_assessment; the system is in stage ${state.stage}`,
            details: [{ stage: state.stage }],
          });
        }
        const parsed = impactAssessmentSchema.safeParse(raw);
        if (!parsed.success) {
          throw ApplicationFailure.create({
            type: INVALID_INPUT,
            message: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
            details: [parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))],
          });
        }
      },
    },
  );

  setHandler(approvalDecisionSignal, (decision) => {
    inbox.push(decision);
  });

  const now = () => new Date();
  let effect = 0;
  /** Idempotency keys are stable across replays and retries: workflow id plus a per-run sequence. */
  const effectKey = (name: string) => `${workflowId}/${workflowInfo().runId}/${++effect}/${name}`;

  async function enter(to: Stage, reason: string, actor: string | null = null): Promise<void> {
    const from = state.transitions.length === 0 ? null : state.stage;
    const at = now().toISOString();
    state.stage = to;
    state.transitions = keepRecent(state.transitions, { at, from, to, reason });
    const updates: SearchAttributeUpdatePair[] = [
      { key: SA.stage, value: to },
      { key: SA.riskTier, value: state.riskTier ?? 'unassessed' },
      { key: SA.reviewDueAt, value: state.reviewDueAt ? new Date(state.reviewDueAt) : null },
      { key: SA.pendingApprover, value: state.approval ? personKey(state.approval.approver) : null },
    ];
    upsertSearchAttributes(updates);
    await recordTransition({
      idempotencyKey: effectKey(`transition-${to}`),
      systemId: state.systemId,
      type: 'stage_changed',
      actor,
      at,
      payload: { from, to, reason },
      projection: {
        stage: to,
        riskTier: state.riskTier,
        reviewDueAt: state.reviewDueAt,
        policyVersion: state.policyVersion,
        registration,
      },
    });
  }

  async function notify(notification: Notification): Promise<void> {
    await sendNotification({
      idempotencyKey: effectKey(notification.kind),
      systemId: state.systemId,
      notification,
    });
  }

  /** Waits until `done()` or the deadline; false on timeout. */
  async function waitUntil(done: () => boolean, deadline: Date | null): Promise<boolean> {
    if (done()) return true;
    if (deadline === null) {
      await condition(done);
      return true;
    }
    const remaining = deadline.getTime() - now().getTime();
    if (remaining <= 0) return false;
    return condition(done, remaining);
  }

  async function awaitAssessment(): Promise<void> {
    const every = durationMs(policy.assessment.reminderAfter);
    state.assessmentDueReminders = 0;
    let lastAsked = now();
    for (;;) {
      const deadline =
        state.assessmentDueReminders < policy.assessment.maxReminders ? new Date(lastAsked.getTime() + every) : null;
      if (await waitUntil(() => state.stage === 'approval', deadline)) return;
      state.assessmentDueReminders += 1;
      lastAsked = now();
      await notify({
        kind: 'assessment_requested',
        to: registration.owner,
        systemId: state.systemId,
        systemName: registration.name,
        reminder: state.assessmentDueReminders,
      });
    }
  }

  async function awaitDecision(approval: PendingApproval): Promise<ApprovalDecision> {
    const requestedAt = new Date(approval.requestedAt).getTime();
    const reminderEvery = durationMs(policy.approvals.reminderAfter);
    const escalateAt = requestedAt + durationMs(policy.approvals.escalateAfter);
    const matching = () =>
      inbox.find((d) => d.requestId === approval.requestId && d.decidedBy.toLowerCase() === approval.approver);
    for (;;) {
      const nextReminder =
        approval.remindersSent < policy.approvals.maxReminders
          ? requestedAt + (approval.remindersSent + 1) * reminderEvery
          : Infinity;
      const nextEscalation = approval.escalatedAt === null ? escalateAt : Infinity;
      const wakeAt = Math.min(nextReminder, nextEscalation);
      const decided = await waitUntil(
        () => matching() !== undefined,
        Number.isFinite(wakeAt) ? new Date(wakeAt) : null,
      );
      if (decided) return matching()!;
      const t = now().getTime();
      if (t >= nextEscalation) {
        approval.escalatedAt = now().toISOString();
        await notify({
          kind: 'approval_escalation',
          to: governanceLead,
          systemId: state.systemId,
          systemName: registration.name,
          approver: approval.approver,
          requestedAt: approval.requestedAt,
        });
      }
      if (t >= nextReminder) {
        approval.remindersSent += 1;
        await requestApproval(approval);
      }
    }
  }

  async function requestApproval(approval: PendingApproval): Promise<void> {
    await notify({
      kind: 'approval_request',
      to: approval.approver,
      systemId: state.systemId,
      systemName: registration.name,
      riskTier: state.riskTier!,
      requestId: approval.requestId,
      step: approval.step,
      expiresAt: approval.expiresAt,
      reminder: approval.remindersSent,
    });
  }

  await enter('impact_assessment', 'registered', registration.owner);
  await notify({
    kind: 'assessment_requested',
    to: registration.owner,
    systemId: state.systemId,
    systemName: registration.name,
    reminder: 0,
  });

  for (;;) {
    await awaitAssessment();
    const assessment = state.assessment!;
    await recordAssessment({
      idempotencyKey: effectKey(`assessment-v${assessment.version}`),
      systemId: state.systemId,
      assessment,
    });
    const requestedAt = now();
    state.approval = {
      requestId: `${state.systemId}.a${assessment.version}.s1`,
      approver: registration.riskOwner,
      step: 1,
      requestedAt: requestedAt.toISOString(),
      expiresAt: new Date(requestedAt.getTime() + durationMs(policy.approvals.linkTtl)).toISOString(),
      remindersSent: 0,
      escalatedAt: null,
    };
    await enter(
      'approval',
      `impact assessment v${assessment.version} submitted (tier ${assessment.riskTier})`,
      assessment.submittedBy,
    );
    await requestApproval(state.approval);

    const decision = await awaitDecision(state.approval);
    const record = {
      requestId: decision.requestId,
      step: state.approval.step,
      approver: state.approval.approver,
      decision: decision.decision,
      comment: decision.comment,
      decidedAt: decision.decidedAt,
      assessmentVersion: assessment.version,
    };
    state.decisions = keepRecent(state.decisions, record);
    state.approval = null;
    await recordDecision({
      idempotencyKey: effectKey('decision'),
      systemId: state.systemId,
      decision: record,
      digest: null,
    });

    if (decision.decision === 'approve') {
      state.approvedAt = now().toISOString();
      state.reviewDueAt = addMonths(now(), policy.reviewCadenceMonths[assessment.riskTier]).toISOString();
      await enter('active', `approved by ${record.approver}`, record.approver);
      await notify({
        kind: 'decision_outcome',
        to: registration.owner,
        systemId: state.systemId,
        systemName: registration.name,
        decision: 'approve',
        approver: record.approver,
        comment: record.comment,
        reviewDueAt: state.reviewDueAt,
      });
      break;
    }
    await enter('impact_assessment', `rejected by ${record.approver}: ${record.comment}`, record.approver);
    await notify({
      kind: 'decision_outcome',
      to: registration.owner,
      systemId: state.systemId,
      systemName: registration.name,
      decision: 'reject',
      approver: record.approver,
      comment: record.comment,
      reviewDueAt: null,
    });
  }

  // Active until the review falls due; the periodic review itself builds on this.
  await waitUntil(() => false, new Date(state.reviewDueAt!));
  await enter('review_due', 'periodic review due');
  await notify({
    kind: 'review_due',
    to: registration.owner,
    systemId: state.systemId,
    systemName: registration.name,
    reviewDueAt: state.reviewDueAt!,
  });
  await condition(() => false);
  return state;
}
