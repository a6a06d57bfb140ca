import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair, UpdateDefinition } from '@temporalio/common';
import type * as activities from '../../activities/index.js';
import { isFinal, type LifecycleInput, type LifecycleState } from './model/lifecycle.js';
import * as machine from './machine.js';
import { SA } from '../../domain/search-attributes.js';
import { memoOf, searchValues, type VisibilityValues } from './model/visibility.js';
import {
  approvalDecisionSignal,
  closeIncidentUpdate,
  delegationSignal,
  renewLinkUpdate,
  newModelVersionUpdate,
  recordAuthorityNotificationUpdate,
  reportIncidentUpdate,
  retireUpdate,
  stateQuery,
  submitBiasEvidenceUpdate,
  submitImpactAssessmentUpdate,
  submitReviewUpdate,
  submitTreatmentPlanUpdate,
} from './messages.js';
import { upgradeSignal } from '../messages.js';

const { recordTransition, recordEvent, recordAssessment, recordDecision, sendNotification } = proxyActivities<
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
 * FROZEN: the lifecycle as it ran before version 2, kept byte for byte so
 * that runs started by it replay (test/histories/ holds their histories).
 * Its only change is the way out: at the first point it reaches live (not
 * replaying), behind patched('v1-upgrade-to-v2'), it continues as new into
 * version 2 (workflows/lifecycle.ts), which converts its state. The
 * upgradeLifecycle signal wakes it so that happens at once. Do not edit
 * anything else here; delete the folder once no run from before version 2
 * can be open.
 */
export async function lifecycleV1(input: LifecycleInput): Promise<LifecycleState> {
  const { policy, governanceLead } = input;
  const info = workflowInfo();
  const ctx = (): machine.Ctx => ({ now: new Date(), policy, governanceLead });
  const state: LifecycleState = input.resume ?? machine.initialState(input, new Date());
  const pending: machine.Effect[] = input.resume ? [] : machine.start(state, ctx());

  setHandler(stateQuery, () => state);

  /** Registers an update whose validator is the machine's own check, so refusals never touch history. */
  function onUpdate<Args extends unknown[], R>(
    def: UpdateDefinition<R, Args>,
    validate: (...args: Args) => void,
    apply: (...args: Args) => { result: R; effects: machine.Effect[] },
  ): void {
    setHandler(
      def,
      (...args: Args) => {
        const { result, effects } = apply(...args);
        pending.push(...effects);
        return result;
      },
      { validator: (...args: Args) => asFailure(() => validate(...args)) },
    );
  }

  onUpdate(
    submitImpactAssessmentUpdate,
    (a) => machine.validateAssessment(state, a),
    (a) => machine.submitAssessment(state, ctx(), a),
  );
  onUpdate(
    submitBiasEvidenceUpdate,
    (e) => machine.validateEvidence(state, e),
    (e) => machine.submitEvidence(state, ctx(), e),
  );
  onUpdate(
    submitTreatmentPlanUpdate,
    (p) => machine.validatePlan(state, p),
    (p) => machine.submitPlan(state, ctx(), p),
  );
  onUpdate(
    submitReviewUpdate,
    (r) => machine.validateReview(state, ctx(), r),
    (r) => machine.submitReview(state, ctx(), r),
  );
  onUpdate(
    newModelVersionUpdate,
    (v) => machine.validateNewVersion(state, v),
    (v) => machine.newModelVersion(state, ctx(), v),
  );
  onUpdate(
    reportIncidentUpdate,
    (i) => machine.validateIncident(state, i),
    (i) => machine.reportIncident(state, ctx(), i),
  );
  onUpdate(
    closeIncidentUpdate,
    (id, c) => machine.validateIncidentClosure(state, id, c),
    (id, c) => machine.closeIncident(state, ctx(), id, c),
  );
  onUpdate(
    recordAuthorityNotificationUpdate,
    (n) => machine.validateAuthorityNotification(state, n),
    (n) => machine.recordAuthorityNotification(state, ctx(), n),
  );
  onUpdate(
    renewLinkUpdate,
    (r) => machine.validateRenewal(state, ctx(), r),
    (r) => machine.renewLink(state, ctx(), r),
  );
  onUpdate(
    retireUpdate,
    (r) => machine.validateRetirement(state, r),
    (r) => machine.retire(state, ctx(), r),
  );
  let upgradeRequested = false;
  setHandler(upgradeSignal, () => void (upgradeRequested = true));
  setHandler(approvalDecisionSignal, (d) => void pending.push(...machine.decide(state, ctx(), d)));
  setHandler(delegationSignal, (d) => void pending.push(...machine.delegate(state, ctx(), d)));

  let effectSeq = 0;
  /** One idempotency key per effect, stable across replays and activity retries. */
  const effectKey = (name: string) => `${info.workflowId}/${info.runId}/${++effectSeq}/${name}`;

  async function carryOut(effect: machine.Effect): Promise<void> {
    const systemId = state.systemId;
    switch (effect.kind) {
      case 'notify':
        await sendNotification({
          idempotencyKey: effectKey(effect.notification.kind),
          systemId,
          notification: effect.notification,
        });
        return;
      case 'transition':
        await recordTransition({
          idempotencyKey: effectKey(`transition-${effect.to}`),
          systemId,
          type: 'stage_changed',
          actor: effect.actor,
          at: new Date().toISOString(),
          payload: { from: effect.from, to: effect.to, reason: effect.reason },
          projection: {
            stage: state.stage,
            riskTier: state.riskTier,
            reviewDueAt: state.reviewDueAt,
            policyVersion: state.policyVersion,
            registration: state.registration,
          },
        });
        return;
      case 'event':
        await recordEvent({
          idempotencyKey: effectKey(effect.type),
          systemId,
          type: effect.type,
          actor: effect.actor,
          at: new Date().toISOString(),
          payload: effect.payload,
        });
        return;
      case 'assessment':
        await recordAssessment({
          idempotencyKey: effectKey(`assessment-v${effect.record.version}`),
          systemId,
          assessment: effect.record,
        });
        return;
      case 'decision':
        await recordDecision({ idempotencyKey: effectKey('decision'), systemId, decision: effect.record });
        return;
    }
  }

  // What the previous run published carries over with continue-as-new; start from it so nothing is re-sent.
  let published: Partial<VisibilityValues> = input.resume ? searchValues(input.resume) : {};
  let publishedMemo = input.resume ? JSON.stringify(memoOf(input.resume)) : '';
  /** Search attributes and memo for governance views, upserted only when they change (each upsert costs an action). */
  function publishVisibility(): void {
    const values = searchValues(state);
    const changed = (Object.keys(values) as (keyof VisibilityValues)[]).filter((k) => values[k] !== published[k]);
    if (changed.length > 0) {
      const pairs: SearchAttributeUpdatePair[] = changed.map((k) => {
        switch (k) {
          case 'stage':
            return { key: SA.stage, value: values.stage };
          case 'riskTier':
            return { key: SA.riskTier, value: values.riskTier };
          case 'reviewDueAt':
            return { key: SA.reviewDueAt, value: values.reviewDueAt ? new Date(values.reviewDueAt) : null };
          case 'pendingApprover':
            return { key: SA.pendingApprover, value: values.pendingApprover };
        }
      });
      upsertSearchAttributes(pairs);
      published = values;
    }
    const memo = memoOf(state);
    if (JSON.stringify(memo) !== publishedMemo) {
      upsertMemo({ ...memo });
      publishedMemo = JSON.stringify(memo);
    }
  }

  for (;;) {
    while (pending.length > 0) await carryOut(pending.shift()!);
    if (patched('v1-upgrade-to-v2')) {
      await condition(allHandlersFinished);
      if (pending.length === 0) await continueAsNew<typeof lifecycleV1>({ ...input, resume: state });
      continue;
    }
    publishVisibility();
    if (isFinal(state.stage)) break;
    if (state.cycleComplete) {
      await condition(allHandlersFinished);
      if (pending.length === 0) await continueAsNew<typeof lifecycleV1>({ ...input, resume: machine.carryOver(state) });
      continue;
    }
    const timer = machine.nextTimer(state, policy);
    const wake = () => pending.length > 0 || upgradeRequested;
    if (!timer) {
      await condition(wake);
      continue;
    }
    const remaining = timer.at.getTime() - Date.now();
    if (remaining > 0 && (await condition(wake, remaining))) continue;
    pending.push(...timer.fire(state, ctx()));
  }
  await condition(allHandlersFinished);
  return state;
}

/** A refusal from the machine becomes an ApplicationFailure the client can read the type and details of. */
function asFailure(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (err instanceof machine.Refusal) {
      throw ApplicationFailure.create({
        type: err.type,
        message: err.message,
        details: [{ stage: err.stage, issues: err.issues }],
      });
    }
    throw err;
  }
}
