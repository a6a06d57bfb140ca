import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ActivityOptions, SearchAttributeUpdatePair, UpdateDefinition } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import type { RecordBatchInput, RecordStepInput } from '../activities/types.js';
import type { Policy } from '../domain/policy.js';
import {
  decisionProofSchema,
  proofAge,
  proofRefusalText,
  signatureHolds,
  type DecisionProof,
  type ProvenMessage,
} from '../domain/decision-proof.js';
import { decisionBreach, delegationBreach, type DutyBreach } from '../domain/duties.js';
import { durationMs } from '../domain/duration.js';
import {
  isFinal,
  type ApprovalDecision,
  type Delegation,
  type LifecycleInput,
  type LifecycleState,
  type MailRef,
} from '../domain/lifecycle.js';
import * as machine from '../domain/machine.js';
import { SA } from '../domain/search-attributes.js';
import {
  legacyMemoOf,
  legacyMemoPersonFields,
  memoIsCurrent,
  memoOf,
  searchValues,
  type VisibilityValues,
} from '../domain/visibility.js';
import { BAD_PREDICTIONS_FILE, gateOf, type AnalysisRecord } from '../domain/bias-gate.js';
import {
  acceptFairnessRiskUpdate,
  analysePredictionsUpdate,
  closeIncidentUpdate,
  decideUpdate,
  delegateUpdate,
  FORGED_DECISION,
  INVALID_INPUT,
  legacyDecisionSignal,
  legacyDelegationSignal,
  newModelVersionUpdate,
  recordAuthorityNotificationUpdate,
  renewLinkUpdate,
  reportIncidentUpdate,
  resendNotificationUpdate,
  retireUpdate,
  SEGREGATION_OF_DUTIES,
  stateQuery,
  submitBiasEvidenceUpdate,
  submitImpactAssessmentUpdate,
  submitReviewUpdate,
  submitTreatmentPlanUpdate,
  upgradeSignal,
  WRONG_STAGE,
} from './messages.js';
import { lifecycleV1 } from './v1/lifecycle.js';
import { legacyDocuments, upgradeState, type LegacyInput } from './v1/upgrade.js';

/**
 * One AI system's lifecycle: the workflow type every system runs. Runs
 * started before version 2 replay the frozen version 1 code; everything new
 * runs `lifecycle` below.
 */
export async function aiSystemLifecycle(input: LifecycleInput | LegacyInput): Promise<LifecycleState | unknown> {
  if ('v' in input && input.v === 2) return lifecycle(input);
  if (patched('lifecycle-v2')) return lifecycle(await fromVersion1(input as LegacyInput));
  return lifecycleV1(input as LegacyInput);
}

/** A version 1 run continuing into version 2: its documents go to the record store, and it adopts today's policy. */
async function fromVersion1(input: LegacyInput): Promise<LifecycleInput> {
  const { storeDocuments, latestPolicy } = proxyActivities<Activities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '2 seconds', maximumInterval: '10 minutes' },
  });
  const resume = input.resume && upgradeState(input.resume, new Date());
  // Until version 2 registers its own handlers, its converted state already answers the state query.
  if (resume) setHandler(stateQuery, () => resume);
  const policy = await latestPolicy();
  if (!input.resume || !resume) {
    return { v: 2, registration: input.registration, policy, governanceLead: input.governanceLead };
  }
  await storeDocuments({ systemId: input.registration.id, documents: legacyDocuments(input.resume) });
  return {
    v: 2,
    registration: input.registration,
    policy,
    governanceLead: input.governanceLead,
    resume,
    ...(policy.version !== input.policy.version ? { adoptedPolicyFrom: input.policy.version } : {}),
  };
}

type BatchEvent = RecordBatchInput['events'][number];

interface Step {
  at: string;
  effects: machine.Effect[];
  /** The system as it stood after this step, so a late batch never shows a newer stage under an older time. */
  projection: Omit<NonNullable<RecordBatchInput['projection']>, 'registration'>;
  failedMails?: { key: string; error: string }[];
  resends?: string[];
  /** Who sent the message this step applies (`key:…` or `oidc:…`), recorded beside each actor's e-mail. */
  principal?: string;
}

/**
 * The API names who sent a message (`principal: 'key:…' | 'oidc:…'`) beside
 * its content; the machine never sees it, and a message without one (every
 * message sent before there were credentials) applies as it always did.
 * A principal that is not a credential id makes the message invalid.
 */
function withoutPrincipal<Args extends unknown[]>(sent: Args): { args: Args; principal?: string } {
  let principal: string | undefined;
  const args = sent.map((arg) => {
    if (typeof arg !== 'object' || arg === null || Array.isArray(arg) || !Object.hasOwn(arg, 'principal')) return arg;
    const { principal: p, ...rest } = arg as Record<string, unknown>;
    if (typeof p !== 'string' || !/^(key|oidc):[\x21-\x7e]{1,300}$/.test(p)) {
      throw ApplicationFailure.create({
        type: INVALID_INPUT,
        message: 'principal: must be the id of a credential (key:… or oidc:…)',
        nonRetryable: true,
        details: [{ issues: [{ path: 'principal', message: 'must be the id of a credential' }] }],
      });
    }
    principal = p;
    return rest;
  }) as Args;
  return { args, principal };
}

/**
 * Version 2. The rules live in domain/machine.ts; this wires them to
 * Temporal. Three things run side by side so none waits on another:
 * message handlers and timers change the state; the records lane writes
 * each step's records (events, documents' rows, the projection and the
 * step's e-mails into the outbox) in one activity and one transaction, in
 * order, each stamped with the step's own time; and every e-mail is
 * delivered by its own activity, so a recipient whose server answers 451
 * holds up nobody else. No effect can fail the lifecycle: an e-mail that
 * cannot be delivered becomes a recorded failure the governance lead hears
 * of, and records retry until the store is back.
 */
async function lifecycle(input: LifecycleInput): Promise<LifecycleState> {
  const { policy, governanceLead } = input;
  const info = workflowInfo();
  /**
   * Runs from before this patch replay the loop they recorded: a fresh timer
   * after every change, and no corrective-action notices. From it on, one
   * timer stands for the nearest moment and is re-armed only when that moment
   * changes (Temporal bills each timer), and corrective actions are reminded
   * and escalated when the run's policy says how (domain/machine/corrective-actions.ts).
   */
  const standingTimer = patched('corrective-action-timers');
  /**
   * From this patch on a step costs one activity (issue 12): its records and
   * its e-mails together (recordStep), which also brings the person keys the
   * search attributes need; a timer is re-armed only for an earlier moment;
   * and nothing waits on a timer for e-mails when none is in flight. Runs from
   * before it replay an activity per record batch and per e-mail.
   */
  const lean = patched('lean-effects');
  const ctx = (): machine.Ctx => ({
    now: new Date(),
    policy,
    governanceLead,
    ...(standingTimer ? { correctiveActions: true } : {}),
  });
  const recordsOptions: ActivityOptions = {
    startToCloseTimeout: '1 minute',
    // No attempt limit: a database outage delays records, never drops them.
    retry: { initialInterval: '2 seconds', maximumInterval: durationMs(policy.records.retryMaxInterval) },
  };
  const { recordBatch, latestPolicy } = proxyActivities<Activities>(recordsOptions);
  const mailOptions: ActivityOptions = {
    // Below the outbox lease (activities/index.ts), so the retry after a dead worker finds the e-mail free.
    startToCloseTimeout: '1 minute',
    scheduleToCloseTimeout: durationMs(policy.notifications.giveUpAfter),
    retry: { initialInterval: '5 seconds', maximumInterval: durationMs(policy.notifications.retryMaxInterval) },
  };
  const { deliverNotification } = proxyActivities<Activities>(mailOptions);
  const inlineBudget = policy.notifications.inlineBudget;
  /**
   * The ids say what each activity carries, readable in Temporal's UI (and by
   * the benchmark) although payloads are encrypted: `step-3-mails-2` recorded
   * step 3 and sent its 2 e-mails, `steps-4-6-mails-1` steps 4 to 6 and their
   * one e-mail; `handoff-1` is an e-mail given an activity of its own.
   */
  const recordStep = (activityId: string, input: RecordStepInput) =>
    proxyActivities<Activities>({ ...recordsOptions, activityId }).recordStep(input);
  let handoffs = 0;
  const handOff = (input: { key: string; systemId: string; sentSubject?: string }) =>
    proxyActivities<Activities>({ ...mailOptions, activityId: `handoff-${++handoffs}` }).deliverNotification(input);
  /** The policy the next run adopts, when the records of the cycle's end brought it. */
  let policyForNextRun: Policy | undefined;
  /** The public keys v2 decision proofs are checked against here, as this run's first records activity reported. */
  let proofKeys: string[] = [];

  const state: LifecycleState = input.resume ?? machine.initialState(input, new Date());
  if (input.resume) {
    state.runStartedAt = new Date().toISOString();
    // A run started with a newer policy (adopted at the cycle boundary) judges by it from here on.
    state.policyVersion = policy.version;
  }
  const steps: Step[] = [];
  /** Bumped on every change, so the main loop wakes for it. */
  let changes = 0;
  const push = (effects: machine.Effect[], extra: Pick<Step, 'failedMails' | 'resends' | 'principal'> = {}) => {
    if (effects.length === 0 && !extra.failedMails?.length && !extra.resends?.length) return;
    const projection = {
      stage: state.stage,
      riskTier: state.riskTier,
      reviewDueAt: state.reviewDueAt,
      policyVersion: state.policyVersion,
      name: state.registration.name,
      owner: state.registration.owner,
      riskOwner: state.registration.riskOwner,
    };
    steps.push({ at: new Date().toISOString(), effects, projection, ...extra });
    changes++;
  };
  if (!input.resume) push(machine.start(state, ctx()), input.registeredBy ? { principal: input.registeredBy } : {});
  if (input.adoptedPolicyFrom) push([policyAdopted(input.adoptedPolicyFrom, policy.version, state.cycle)]);

  setHandler(stateQuery, () => state);

  /**
   * An update whose validator is the machine's check: a refusal never
   * touches history. The handler applies the value exactly as accepted; it
   * never parses again, so a schema tightened later cannot break a replay.
   */
  function onUpdate<Args extends unknown[], R>(
    def: UpdateDefinition<R, Args>,
    validate: (...args: Args) => unknown,
    apply: (...args: Args) => { result: R; effects: machine.Effect[] },
  ): void {
    setHandler(
      def,
      (...sent: Args) => {
        const { args, principal } = withoutPrincipal(sent);
        const { result, effects } = apply(...args);
        push(effects, principal ? { principal } : {});
        return result;
      },
      {
        validator: (...sent: Args) =>
          void asFailure(() => {
            const { args } = withoutPrincipal(sent);
            return validate(...args);
          }),
      },
    );
  }

  onUpdate(
    submitImpactAssessmentUpdate,
    (a) => machine.validateAssessment(state, a),
    (a) => machine.submitAssessment(state, ctx(), a),
  );
  onUpdate(
    submitBiasEvidenceUpdate,
    (e) => machine.validateEvidence(state, ctx(), e),
    (e) => machine.submitEvidence(state, ctx(), e),
  );
  onUpdate(
    submitTreatmentPlanUpdate,
    (p) => machine.validatePlan(state, ctx(), p),
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
    (i) => machine.validateIncident(state, ctx(), i),
    (i) => machine.reportIncident(state, ctx(), i),
  );
  onUpdate(
    closeIncidentUpdate,
    (id, c) => machine.validateIncidentClosure(state, id, c),
    (id, c) => machine.closeIncident(state, ctx(), id, c),
  );
  onUpdate(
    recordAuthorityNotificationUpdate,
    (n) => machine.validateAuthorityNotification(state, ctx(), n),
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

  onUpdate(
    acceptFairnessRiskUpdate,
    (r) => machine.validateRiskAcceptance(state, ctx(), r),
    (r) => machine.acceptRisk(state, ctx(), r),
  );

  // ---- predictions: the product computes the fairness metrics -----------------------------------

  /**
   * The computation reads a file of up to gigabytes, so it is an activity
   * that heartbeats, running beside everything else; its verdicts come back
   * as a step of their own. A file it cannot read fails for good at once; any
   * other failure retries a few times, then is recorded as failed, so no
   * upload can hold the lifecycle.
   */
  const gate = gateOf(policy);
  const { computeFairness } = proxyActivities<Activities>({
    startToCloseTimeout: gate ? durationMs(gate.uploads.analysisTimeout) : '30 minutes',
    heartbeatTimeout: '2 minutes',
    retry: {
      initialInterval: '5 seconds',
      maximumInterval: '5 minutes',
      maximumAttempts: 5,
      nonRetryableErrorTypes: [BAD_PREDICTIONS_FILE],
    },
  });
  function runAnalysis(a: AnalysisRecord): void {
    const g = gate!;
    const principal = a.principal ? { principal: a.principal } : {};
    computeFairness({
      systemId: state.systemId,
      analysisId: a.id,
      blob: a.blob,
      spec: a.spec,
      options: {
        level: g.level,
        resamples: g.bootstrap.resamples,
        seed: g.bootstrap.seed,
        minGroupSize: g.minGroupSize,
        mode: g.verdicts,
        thresholds: g.thresholds,
      },
      maxBytes: g.uploads.maxBytes,
      maxMalformedRows: g.uploads.maxMalformedRows,
    }).then(
      (computed) => push(machine.completeAnalysis(state, ctx(), a.id, computed), principal),
      (err: unknown) => {
        const cause = err instanceof ActivityFailure ? err.cause : undefined;
        const bad = cause instanceof ApplicationFailure && cause.type === BAD_PREDICTIONS_FILE;
        const issues = bad
          ? ((cause.details?.[0] as { issues?: { line: number; message: string }[] })?.issues ?? [])
          : [];
        const error = bad ? cause.message : `the analysis could not be computed: ${describe(err)}`;
        push(machine.failAnalysis(state, ctx(), a.id, error, issues), principal);
      },
    );
  }
  setHandler(
    analysePredictionsUpdate,
    (sent) => {
      const { args, principal } = withoutPrincipal([sent] as const);
      const { result, effects, analysis } = machine.requestAnalysis(state, ctx(), args[0], principal);
      push(effects, principal ? { principal } : {});
      runAnalysis(analysis);
      return result;
    },
    {
      validator: (sent) =>
        void asFailure(() => machine.validateAnalysis(state, ctx(), withoutPrincipal([sent] as const).args[0])),
    },
  );
  // An analysis the previous run had not finished runs again here: it is idempotent (content-addressed).
  for (const a of state.analyses ?? []) if (a.status === 'running') runAnalysis(a);

  // ---- decisions: who decides is proven, and duties stay apart ---------------------------------

  const { verifyDecisionProof } = proxyLocalActivities<Activities>({
    startToCloseTimeout: '10 seconds',
    retry: { maximumAttempts: 3 },
  });

  /**
   * Anyone who reaches Temporal's frontend can send an update; only the API
   * holds the key that proves a decision came through a claimed link or an
   * authenticated approver. Without a valid proof nothing is decided: the
   * attempt is recorded as forged_decision and the caller told why.
   */
  async function proven(
    message: ProvenMessage,
    payload: { requestId: string },
    claimedBy: string,
    via: 'link' | 'api' | null,
    raw: unknown,
  ): Promise<DecisionProof> {
    const parsed = decisionProofSchema.safeParse(raw);
    let reason: keyof typeof proofRefusalText | null;
    if (raw === undefined || raw === null) reason = 'missing';
    else if (!parsed.success) reason = 'malformed';
    else if (via !== null && parsed.data.via !== via) reason = 'bad_signature';
    else if (
      lean &&
      signatureHolds(proofKeys, { message, systemId: state.systemId, payload }, parsed.data) &&
      proofAge(parsed.data, new Date()).ok
    ) {
      // Checked here, with no local activity; whatever this cannot vouch for, the worker's check below decides.
      reason = null;
    } else {
      const verdict = await verifyDecisionProof({ message, systemId: state.systemId, payload, proof: parsed.data });
      reason = verdict.ok ? null : verdict.reason;
    }
    if (reason === null && parsed.success) return parsed.data;
    const why = reason ?? 'malformed';
    push([
      {
        kind: 'event',
        type: 'forged_decision',
        actor: null,
        payload: {
          message,
          requestId: payload.requestId,
          claimedBy,
          via,
          reason: why,
          credential: parsed.success ? parsed.data.credential : null,
          openRequest: state.approval?.requestId ?? null,
        },
      },
    ]);
    throw ApplicationFailure.create({
      type: FORGED_DECISION,
      nonRetryable: true,
      message: `not recorded: ${proofRefusalText[why]}`,
      details: [{ stage: state.stage, reason: why }],
    });
  }

  /** Between the validator and the proof's verdict another decision may have closed the request. */
  function stillOpen(requestId: string, who: string, breach: () => DutyBreach | null): void {
    if (!machine.matchesOpenRequest(state, requestId, who)) {
      throw ApplicationFailure.create({
        type: WRONG_STAGE,
        message: `approval request ${requestId} is no longer open to ${who}`,
        details: [{ stage: state.stage }],
      });
    }
    refuseBreach(breach());
  }

  const authenticated = (requestId: string, who: string, proof: DecisionProof): machine.Effect => ({
    kind: 'event',
    type: 'decision_authenticated',
    actor: who,
    payload: { requestId, via: proof.via, credential: proof.credential, signedAt: proof.signedAt },
  });

  // Validators never run on replay, so the duty rules there need no patch; the proof check in the handler does.
  setHandler(
    decideUpdate,
    async (d, proof) => {
      if (patched('signed-decisions')) {
        const p = await proven('decideApproval', d, d.decidedBy, d.via, proof);
        stillOpen(d.requestId, d.decidedBy, () => decisionBreach(state, d.decidedBy));
        const { result, effects } = machine.decide(state, ctx(), d);
        push([authenticated(d.requestId, d.decidedBy, p), ...effects]);
        return result;
      }
      const { result, effects } = machine.decide(state, ctx(), d);
      push(effects);
      return result;
    },
    {
      validator: (raw, _proof?: unknown) => {
        const d = asFailure(() => machine.validateDecision(state, raw)) as ApprovalDecision;
        refuseBreach(decisionBreach(state, d.decidedBy));
      },
    },
  );
  setHandler(
    delegateUpdate,
    async (d, proof) => {
      if (patched('signed-decisions')) {
        const p = await proven('delegateApproval', d, d.delegatedBy, null, proof);
        stillOpen(d.requestId, d.delegatedBy, () => delegationBreach(state, governanceLead, d.deputy));
        const { result, effects } = machine.delegate(state, ctx(), d);
        push([authenticated(d.requestId, d.delegatedBy, p), ...effects]);
        return result;
      }
      const { result, effects } = machine.delegate(state, ctx(), d);
      push(effects);
      return result;
    },
    {
      validator: (raw, _proof?: unknown) => {
        const d = asFailure(() => machine.validateDelegation(state, raw)) as Delegation;
        refuseBreach(delegationBreach(state, governanceLead, d.deputy));
      },
    },
  );
  setHandler(
    resendNotificationUpdate,
    ({ key, requestedBy }) => {
      push([{ kind: 'event', type: 'notification_resend_requested', actor: requestedBy, payload: { key } }], {
        resends: [key],
      });
      return { requested: key };
    },
    {
      validator: ({ key, requestedBy }) => {
        if (typeof key !== 'string' || !key.startsWith(`${info.workflowId}/`) || key.length > 500)
          throw ApplicationFailure.create({
            type: 'InvalidInput',
            message: `key: ${key} is not an e-mail of this system`,
          });
        if (typeof requestedBy !== 'string' || requestedBy.length === 0 || requestedBy.length > 320)
          throw ApplicationFailure.create({ type: 'InvalidInput', message: 'requestedBy: must name who asked' });
      },
    },
  );
  setHandler(legacyDecisionSignal, (d) => push(machine.ignoredMessage(state, 'decision_ignored', d)));
  setHandler(legacyDelegationSignal, (d) => push(machine.ignoredMessage(state, 'delegation_ignored', d)));
  setHandler(upgradeSignal, () => undefined);

  // ---- effects ----------------------------------------------------------------------------------

  let batchSeq = 0;
  let recording = false;
  const inFlight = new Map<string, MailRef>();

  /** The records lane: one step at a time, in order, each in one activity and one transaction. */
  async function recordsLane(): Promise<never> {
    for (;;) {
      await condition(() => steps.length > 0);
      recording = true;
      // Runs from before the check send no anchor; their results carry no mismatch, so they keep every head.
      const anchor = patched('audit-anchor-check') ? (state.auditHead ?? undefined) : undefined;
      if (lean) {
        await recordLean(anchor);
        continue;
      }
      const step = steps[0]!;
      const batch = toBatch(step, `${info.workflowId}/${info.runId}/b${++batchSeq}`, anchor);
      const result = await expectNoFailure(recordBatch(batch), 'recordBatch');
      steps.shift();
      recording = false;
      // A head from a chain that no longer holds the anchored one is not adopted: following it would launder a
      // rewrite, so the anchor stays where it was and verify keeps showing the break.
      if (result.head && !result.anchorMismatch) state.auditHead = result.head;
      for (const mail of batch.mails)
        dispatch({ key: mail.key, to: mail.notification.to, kind: mail.notification.kind });
      for (const mail of result.resent) dispatch(mail);
    }
  }

  /**
   * The queued steps in one activity (each its own batch, in order; the
   * anchor with the first): records, e-mails within the budget, person keys.
   * Steps that arrive while it runs wait for the next one, so a burst of
   * inputs costs one activity, and what is not delivered goes on by itself.
   */
  async function recordLean(anchor: RecordBatchInput['anchor'] | undefined): Promise<void> {
    const taken = steps.slice(0, STEPS_PER_ACTIVITY);
    const batches = taken.map((step, i) =>
      toBatch(step, `${info.workflowId}/${info.runId}/b${++batchSeq}`, i === 0 ? anchor : undefined),
    );
    const keysFor = peopleWithoutKeys();
    const mails = batches.reduce((n, b) => n + b.mails.length, 0);
    const first = batchSeq - batches.length + 1;
    const result = await expectNoFailure(
      recordStep(first === batchSeq ? `step-${first}-mails-${mails}` : `steps-${first}-${batchSeq}-mails-${mails}`, {
        batches,
        ...(inlineBudget ? { inline: { budgetMs: durationMs(inlineBudget) } } : {}),
        keysFor,
        ...(state.cycleComplete ? { wantPolicy: true } : {}),
        ...(proofKeys.length === 0 ? { wantProofKeys: true } : {}),
      }),
      'recordStep',
    );
    steps.splice(0, taken.length);
    recording = false;
    if (result.head && !result.anchorMismatch) state.auditHead = result.head;
    keysFor.forEach((email, i) => knownKeys.set(email, result.personKeys[i]!));
    if (result.policy) policyForNextRun = result.policy;
    if (result.proofKeys) proofKeys = result.proofKeys;
    const refs: MailRef[] = batches.flatMap((b, i): MailRef[] => [
      ...b.mails.map((m) => ({ key: m.key, to: m.notification.to, kind: m.notification.kind })),
      ...(result.resent[i] ?? []),
    ]);
    refs.forEach((mail, i) => {
      const d = result.delivered[i];
      if (d?.status === 'sent') return;
      if (d?.status === 'failed') mailFailed(mail, d.error);
      else dispatch(mail, d?.sentSubject);
    });
  }

  function toBatch(step: Step, batchKey: string, anchor?: RecordBatchInput['anchor']): RecordBatchInput {
    const events: BatchEvent[] = [];
    const batch: RecordBatchInput = {
      systemId: state.systemId,
      batchKey,
      at: step.at,
      ...(anchor ? { anchor } : {}),
      events,
      assessments: [],
      decisions: [],
      mails: [],
      failedMails: step.failedMails ?? [],
      resends: step.resends ?? [],
      projection: {
        ...step.projection,
        // The registration is written once per run; every other batch updates only what changes.
        registration: batchSeq === 1 ? state.registration : undefined,
      },
    };
    for (const effect of step.effects) {
      switch (effect.kind) {
        case 'notify':
          batch.mails.push({ key: `${batchKey}/m${batch.mails.length}`, notification: effect.notification });
          break;
        case 'transition':
          events.push({
            type: 'stage_changed',
            actor: effect.actor,
            payload: { from: effect.from, to: effect.to, reason: effect.reason },
          });
          break;
        case 'event':
          events.push({ type: effect.type, actor: effect.actor, payload: effect.payload });
          break;
        case 'assessment': {
          const a = effect.record;
          batch.assessments.push(a);
          events.push({
            type: 'assessment_submitted',
            actor: a.submittedBy,
            payload: { version: a.version, riskTier: a.riskTier, score: a.score, digest: a.digest },
          });
          break;
        }
        case 'decision':
          batch.decisions.push(effect.record);
          events.push({ type: 'decision_recorded', actor: effect.record.approver, payload: { ...effect.record } });
          break;
      }
    }
    if (step.principal) {
      for (const ev of events) if (ev.actor !== null) ev.payload = { ...ev.payload, principal: step.principal };
    }
    return batch;
  }

  /** Each e-mail on its own: delivery retries with backoff up to the policy's limit, then counts as failed. */
  function dispatch(mail: MailRef, sentSubject?: string): void {
    inFlight.set(mail.key, mail);
    const input = { key: mail.key, systemId: state.systemId, ...(sentSubject !== undefined ? { sentSubject } : {}) };
    (lean ? handOff(input) : deliverNotification(input)).then(
      (r) => {
        inFlight.delete(mail.key);
        if (r.status === 'failed') mailFailed(mail, r.error);
      },
      (err: unknown) => {
        inFlight.delete(mail.key);
        mailFailed(mail, describe(err));
      },
    );
  }

  /** A failed e-mail is recorded, shows on the dashboard, and the governance lead hears of it unless it was to them. */
  function mailFailed(mail: MailRef, error: string): void {
    const effects: machine.Effect[] = [
      {
        kind: 'event',
        type: 'notification_failed',
        actor: null,
        payload: { key: mail.key, kind: mail.kind, to: mail.to, error },
      },
    ];
    if (mail.to !== governanceLead.toLowerCase() && mail.kind !== 'delivery_failed') {
      effects.push(
        machine.notification(state, {
          kind: 'delivery_failed',
          to: governanceLead.toLowerCase(),
          failedTo: mail.to,
          failedKind: mail.kind,
          error,
        }),
      );
    }
    push(effects, { failedMails: [{ key: mail.key, error }] });
  }

  for (const mail of input.undelivered ?? []) dispatch(mail);
  void recordsLane();

  // ---- visibility -------------------------------------------------------------------------------

  /**
   * Person keys are HMACs under a secret the workflow cannot hold: a local
   * activity computes them, once per address and run. Runs from before this
   * patch replay the unsalted hash and the memo with e-mail addresses.
   */
  const hmacPersonKeys = patched('person-key-hmac');
  const { personKeysFor } = proxyLocalActivities<Activities>({
    startToCloseTimeout: '10 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
  });
  const knownKeys = new Map<string, string>();
  const keyOf = (email: string) => knownKeys.get(email)!;
  /** The addresses whose key the next publish needs and this run has not got yet. */
  const unknownPeople = () =>
    state.approval && !knownKeys.has(state.approval.approver) ? [state.approval.approver] : [];
  /** What a step's records activity is asked for: whoever may be the approver next, and anyone the state names. */
  const peopleWithoutKeys = () =>
    hmacPersonKeys
      ? [...new Set([state.registration.riskOwner, governanceLead.toLowerCase(), ...unknownPeople()])].filter(
          (e) => !knownKeys.has(e),
        )
      : [];
  async function learnKeys(emails: string[]): Promise<void> {
    const keys = await personKeysFor(emails);
    emails.forEach((email, i) => knownKeys.set(email, keys[i]!));
  }

  // What the previous run published carries over with continue-as-new; start from it so nothing is re-sent.
  let published: Partial<VisibilityValues>;
  let publishedMemo: string;
  if (hmacPersonKeys) {
    // What Temporal holds, whoever published it: a run before this patch left legacy keys and e-mails to replace.
    const sa = info.typedSearchAttributes;
    const due = sa.get(SA.reviewDueAt);
    published = {
      stage: sa.get(SA.stage),
      riskTier: sa.get(SA.riskTier),
      reviewDueAt: due ? due.toISOString() : null,
      pendingApprover: sa.get(SA.pendingApprover) ?? null,
    };
    publishedMemo = memoIsCurrent(info.memo, memoOf(state)) ? JSON.stringify(memoOf(state)) : '';
  } else {
    published = input.resume ? searchValues(input.resume) : {};
    publishedMemo = input.resume ? JSON.stringify(legacyMemoOf(input.resume)) : '';
  }
  /** Search attributes and memo for governance views, upserted only when they change (each upsert costs an action). */
  function publishVisibility(): void {
    const values = hmacPersonKeys ? searchValues(state, keyOf) : searchValues(state);
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
    const memo = hmacPersonKeys ? memoOf(state) : legacyMemoOf(state);
    if (JSON.stringify(memo) !== publishedMemo) {
      const cleared = hmacPersonKeys ? Object.fromEntries(legacyMemoPersonFields.map((k) => [k, null])) : {};
      upsertMemo({ ...cleared, ...memo });
      publishedMemo = JSON.stringify(memo);
    }
  }

  // ---- the main loop: timers, and when to start a new run ------------------------------------------

  const runEndsAt = Date.parse(state.runStartedAt) + durationMs(policy.runs.continueAsNewAfter);
  const recordsDrained = () => steps.length === 0 && !recording;
  let armed: { at: number; fired: boolean; scope: CancellationScope } | null = null;
  const arm = (at: number) => {
    const timer = { at, fired: false, scope: new CancellationScope() };
    timer.scope
      .run(() => sleep(at - Date.now()))
      .then(
        () => void (timer.fired = true),
        // Cancelled because the nearest moment moved: the loop has armed another.
        () => undefined,
      );
    return timer;
  };
  for (;;) {
    // Awaited only when a key is missing, and only in patched runs: older histories see the loop they recorded.
    if (hmacPersonKeys) {
      // The step that named the person brings the key with its records; the local activity only if none is coming.
      if (lean) await condition(() => unknownPeople().length === 0 || recordsDrained());
      for (let missing = unknownPeople(); missing.length > 0; missing = unknownPeople()) await learnKeys(missing);
    }
    publishVisibility();
    if (isFinal(state.stage)) break;
    if (state.cycleComplete || workflowInfo().continueAsNewSuggested || Date.now() >= runEndsAt) {
      await condition(() => recordsDrained() && allHandlersFinished());
      if (steps.length > 0) continue;
      // E-mails just sent usually land within seconds; only one stuck retrying (a 451) is handed to the next run.
      if (!lean || inFlight.size > 0) await condition(() => inFlight.size === 0, durationMs(policy.runs.deliveryDrain));
      if (steps.length > 0) continue;
      const next = state.cycleComplete ? ((lean ? policyForNextRun : undefined) ?? (await latestPolicy())) : policy;
      if (next.version !== policy.version) push([policyAdopted(policy.version, next.version, state.cycle + 1)]);
      await condition(() => recordsDrained() && allHandlersFinished());
      if (steps.length > 0) continue;
      return continueAsNew<typeof aiSystemLifecycle>({
        v: 2,
        registration: input.registration,
        policy: next,
        governanceLead,
        resume: machine.carryOver(state, new Date()),
        undelivered: [...inFlight.values()],
      });
    }
    const seen = changes;
    const timer = machine.nextTimer(state, policy);
    const actions = standingTimer ? machine.nextCorrectiveActionTimer(state, policy) : null;
    const wakeAt = Math.min(timer?.at.getTime() ?? Infinity, actions?.at.getTime() ?? Infinity, runEndsAt);
    const remaining = wakeAt - Date.now();
    if (!standingTimer) {
      if (remaining > 0 && (await condition(() => changes !== seen, remaining))) continue;
    } else if (remaining > 0) {
      // Temporal bills every timer: a lean run keeps one that fires sooner and, woken early, re-arms then.
      if (!armed || (lean ? wakeAt < armed.at : armed.at !== wakeAt)) {
        armed?.scope.cancel();
        armed = arm(wakeAt);
      }
      const current = armed;
      await condition(() => changes !== seen || current.fired);
      if (!current.fired) continue;
    }
    if (armed?.fired) armed = null;
    if (timer && Date.now() >= timer.at.getTime()) push(timer.fire(state, ctx()));
    if (actions && Date.now() >= actions.at.getTime()) push(actions.fire(state, ctx()));
  }
  // Final: the last records and e-mails (the retirement notices) go out before the workflow completes.
  await condition(() => recordsDrained() && inFlight.size === 0 && allHandlersFinished());
  return state;
}

/** Steps one records activity takes at most: what queued while the last ran, well inside an activity's payload limit. */
const STEPS_PER_ACTIVITY = 20;

function policyAdopted(from: string, to: string, cycle: number): machine.Effect {
  return { kind: 'event', type: 'policy_adopted', actor: null, payload: { from, to, cycle } };
}

/**
 * Records retry without limit, so a failure reaching here is no outage but a
 * defect: rethrown as a plain error it fails the workflow task, which retries
 * and resumes once fixed code is deployed, instead of failing the lifecycle.
 */
async function expectNoFailure<T>(p: Promise<T>, what: string): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof ActivityFailure) throw new Error(`${what} failed for good: ${describe(err)}`);
    throw err;
  }
}

function describe(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return String((cause as Error)?.message ?? cause).slice(0, 500);
}

/** A segregation-of-duties refusal names its rule, for the API to pass on. */
function refuseBreach(breach: DutyBreach | null): void {
  if (!breach) return;
  throw ApplicationFailure.create({
    type: SEGREGATION_OF_DUTIES,
    nonRetryable: true,
    message: breach.message,
    details: [{ rule: breach.rule }],
  });
}

/** A refusal from the machine becomes an ApplicationFailure the client can read the type and details of. */
function asFailure(check: () => unknown): unknown {
  try {
    return check();
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
