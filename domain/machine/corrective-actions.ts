import { durationMs } from '../duration.js';
import type { IncidentRecord, LifecycleState } from '../lifecycle.js';
import type { Policy } from '../policy.js';
import { type Ctx, type Effect, iso, notification } from './core.js';
import type { Timer } from './timers.js';

/**
 * Corrective actions (ISO/IEC 42001 clause 10.2, A.8.4) fall due
 * `incidents.correctiveActionDue` after their incident. Each open one gets a
 * reminder to its owner `correctiveActionReminderBefore` ahead, an overdue
 * notice to its owner and the governance lead on the due date, and another
 * every `correctiveActionEscalateEvery` until the incident is closed.
 */
export interface CorrectiveActionCadence {
  remindBefore: number;
  escalateEvery: number;
}

/** Null under a policy from before these reminders: its runs keep sending none. */
export function correctiveActionCadence(policy: Policy): CorrectiveActionCadence | null {
  const { correctiveActionReminderBefore: before, correctiveActionEscalateEvery: every } = policy.incidents;
  if (before === undefined || every === undefined) return null;
  return { remindBefore: durationMs(before), escalateEvery: durationMs(every) };
}

/** When an incident's corrective action next needs a notice; null once it is closed. */
export function nextNoticeAt(incident: IncidentRecord, cadence: CorrectiveActionCadence): number | null {
  if (incident.closedAt !== null) return null;
  const due = Date.parse(incident.correctiveActionDueAt);
  const notices = incident.overdueNotices ?? 0;
  if (notices > 0) return due + notices * cadence.escalateEvery;
  return incident.reminderSentAt ? due : due - cadence.remindBefore;
}

/** Whether a corrective action is past its due date and still open, as of `now`. */
export function correctiveActionOverdue(
  incident: Pick<IncidentRecord, 'closedAt' | 'correctiveActionDueAt'>,
  now: Date,
) {
  return incident.closedAt === null && now.getTime() >= Date.parse(incident.correctiveActionDueAt);
}

/**
 * One timer for all open corrective actions: the nearest notice among them.
 * Firing sends every notice whose moment has come, so actions due together
 * share one wake-up. A notice whose moment passed while nobody looked (a
 * policy adopted after the due date) is not sent late: an action already
 * due gets its overdue notice, numbered by the periods it is overdue, and
 * no reminder.
 */
export function nextCorrectiveActionTimer(state: LifecycleState, policy: Policy): Timer | null {
  const cadence = correctiveActionCadence(policy);
  if (!cadence) return null;
  let at = Infinity;
  for (const i of state.incidents) at = Math.min(at, nextNoticeAt(i, cadence) ?? Infinity);
  if (!Number.isFinite(at)) return null;
  return { at: new Date(at), fire: (s, ctx) => correctiveActionNotices(s, ctx, cadence) };
}

function correctiveActionNotices(state: LifecycleState, ctx: Ctx, cadence: CorrectiveActionCadence): Effect[] {
  const now = ctx.now.getTime();
  const effects: Effect[] = [];
  for (const incident of state.incidents) {
    const at = nextNoticeAt(incident, cadence);
    if (at === null || at > now) continue;
    const dueAt = incident.correctiveActionDueAt;
    const due = Date.parse(dueAt);
    const owner = incident.correctiveActionOwner;
    if (now < due) {
      incident.reminderSentAt = iso(ctx.now);
      effects.push(
        notification(state, {
          kind: 'corrective_action_reminder',
          to: owner,
          incidentId: incident.id,
          correctiveAction: incident.correctiveAction,
          dueAt,
        }),
        {
          kind: 'event',
          type: 'corrective_action_reminder_sent',
          actor: null,
          payload: { incidentId: incident.id, owner, dueAt },
        },
      );
      continue;
    }
    const escalation = Math.max(
      (incident.overdueNotices ?? 0) + 1,
      Math.floor((now - due) / cadence.escalateEvery) + 1,
    );
    incident.overdueNotices = escalation;
    for (const to of new Set([owner, ctx.governanceLead.toLowerCase()])) {
      effects.push(
        notification(state, {
          kind: 'corrective_action_overdue',
          to,
          incidentId: incident.id,
          correctiveAction: incident.correctiveAction,
          owner,
          dueAt,
          escalation,
        }),
      );
    }
    effects.push({
      kind: 'event',
      type: 'corrective_action_overdue',
      actor: null,
      payload: { incidentId: incident.id, owner, dueAt, escalation },
    });
  }
  return effects;
}
