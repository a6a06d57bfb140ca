import {
  isFinal,
  keepRecent,
  workStages,
  type AssessmentRecord,
  type DecisionRecord,
  type LifecycleInput,
  type LifecycleState,
  type Stage,
  type WorkStage,
} from '../lifecycle.js';
import { canonicalJson } from '../digest.js';
import type { Notification, NotificationBody } from '../notifications.js';
import { tierRank, type Policy } from '../policy.js';
import { assertTransition } from '../process.js';

/**
 * The lifecycle as a pure state machine. Message handlers and timers call
 * these functions; they change the state and return the effects (records,
 * e-mails) for the workflow to carry out through activities. No I/O, no
 * clock: `now` comes in, so the same code runs inside the deterministic
 * workflow and in plain unit tests.
 */

export type Effect =
  | { kind: 'notify'; notification: Notification }
  | { kind: 'transition'; from: Stage | null; to: Stage; reason: string; actor: string | null }
  | { kind: 'event'; type: string; actor: string | null; payload: Record<string, unknown> }
  | { kind: 'assessment'; record: AssessmentRecord }
  | { kind: 'decision'; record: DecisionRecord };

export interface Ctx {
  now: Date;
  policy: Policy;
  governanceLead: string;
  /**
   * Set by runs from patch `corrective-action-timers` on: a corrective action's owner is told of it when the
   * incident is reported (under a policy with the reminders; domain/machine/corrective-actions.ts).
   */
  correctiveActions?: boolean;
}

/** A message refused because of the lifecycle's state (HTTP 409) or its content (HTTP 422). */
export class Refusal extends Error {
  constructor(
    readonly type: 'WrongStage' | 'InvalidInput',
    message: string,
    readonly stage: Stage,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'Refusal';
  }
}

export const iso = (d: Date) => d.toISOString();

export function parseOr<T>(
  schema: {
    safeParse(
      v: unknown,
    ): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
  },
  raw: unknown,
  stage: Stage,
): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  throw new Refusal('InvalidInput', issues.map((i) => `${i.path}: ${i.message}`).join('; '), stage, issues);
}

/**
 * What a validator accepts: the message must parse with its schema and
 * already be in the parsed form (defaults filled, addresses lowercased), so
 * the handler can apply exactly the value that was accepted without parsing
 * again. Re-parsing on replay with a schema tightened later would fail old
 * histories; applying the accepted value never does.
 */
export function accept<T>(schema: Parameters<typeof parseOr<T>>[0], raw: unknown, stage: Stage): T {
  const parsed = parseOr(schema, raw, stage);
  if (canonicalJson(parsed) !== canonicalJson(raw)) {
    throw new Refusal('InvalidInput', 'the message is not in its parsed form: send what the schema outputs', stage);
  }
  return parsed;
}

export function requireStage(state: LifecycleState, allowed: readonly Stage[], what: string): void {
  if (!allowed.includes(state.stage)) {
    throw new Refusal(
      'WrongStage',
      `${what} is accepted in stage ${allowed.join(' or ')}; the system is in stage ${state.stage}`,
      state.stage,
    );
  }
}

export function requireNotFinal(state: LifecycleState, what: string): void {
  if (isFinal(state.stage))
    throw new Refusal('WrongStage', `${what} is not accepted: the system is ${state.stage}`, state.stage);
}

export function initialState(input: LifecycleInput, now: Date): LifecycleState {
  const { registration, policy } = input;
  return {
    systemId: registration.id,
    registration,
    policyVersion: policy.version,
    cycle: 0,
    stage: 'impact_assessment',
    stageEnteredAt: iso(now),
    nudges: 0,
    riskTier: null,
    modelVersion: registration.model.version,
    assessment: null,
    evidence: null,
    plan: null,
    approval: null,
    approvalRound: 0,
    approvedDigest: null,
    approvedAt: null,
    decisions: [],
    fria: { required: false, notifiedAt: null, authority: null, reference: null },
    reviewDueAt: null,
    reviewTrigger: null,
    reviewReminderSent: false,
    reviewEscalations: 0,
    lastReviewCompletedAt: null,
    review: null,
    incidents: [],
    incidentSeq: 0,
    cycleComplete: false,
    runStartedAt: iso(now),
    auditHead: null,
    retiredAt: null,
    transitions: [],
  };
}

/**
 * The state the next run starts from after continue-as-new: only what it
 * needs. A signed-off review opens the next cycle; a run cut short for size
 * or age goes on with the same one.
 */
export function carryOver(state: LifecycleState, now: Date): LifecycleState {
  return {
    ...state,
    cycle: state.cycleComplete ? state.cycle + 1 : state.cycle,
    cycleComplete: false,
    runStartedAt: iso(now),
    decisions: state.decisions.slice(-10),
    transitions: state.transitions.slice(-10),
    incidents: state.incidents.filter((i) => i.closedAt === null),
  };
}

export function notification(state: LifecycleState, n: NotificationBody): Effect {
  return {
    kind: 'notify',
    notification: { systemId: state.systemId, systemName: state.registration.name, ...n } as Notification,
  };
}

export function enter(state: LifecycleState, ctx: Ctx, to: Stage, reason: string, actor: string | null): Effect[] {
  const from = state.transitions.length === 0 ? null : state.stage;
  assertTransition(from, to);
  state.stage = to;
  state.stageEnteredAt = iso(ctx.now);
  state.nudges = 0;
  state.transitions = keepRecent(state.transitions, { at: iso(ctx.now), from, to, reason });
  const effects: Effect[] = [{ kind: 'transition', from, to, reason, actor }];
  if ((workStages as readonly string[]).includes(to)) effects.push(workRequest(state, to as WorkStage, 0, reason));
  return effects;
}

export function workRequest(state: LifecycleState, stage: WorkStage, reminder: number, reason: string): Effect {
  return notification(state, { kind: 'work_requested', to: state.registration.owner, stage, reminder, reason });
}

/** Registration: the first transition and the request for an impact assessment. */
export function start(state: LifecycleState, ctx: Ctx): Effect[] {
  return enter(state, ctx, 'impact_assessment', 'registered', state.registration.owner);
}

export function biasTestingRequired(state: LifecycleState, policy: Policy): boolean {
  if (!state.riskTier) return false;
  if (policy.evidence.biasTestingWhenDecidingAboutPeople && state.assessment?.decisionsAboutPeople) return true;
  return tierRank[state.riskTier] >= tierRank[policy.evidence.biasTestingFromTier];
}

/** A material change after approval: the pinned approval no longer covers the system. */
export function invalidateApproval(state: LifecycleState, reason: string, actor: string | null): Effect[] {
  const effects: Effect[] = [];
  if (state.approvedDigest) {
    effects.push({
      kind: 'event',
      type: 'approval_invalidated',
      actor,
      payload: { digest: state.approvedDigest, reason },
    });
    state.approvedDigest = null;
  }
  if (state.approval) {
    effects.push({
      kind: 'event',
      type: 'approval_request_withdrawn',
      actor,
      payload: { requestId: state.approval.requestId, reason },
    });
    state.approval = null;
  }
  return effects;
}
