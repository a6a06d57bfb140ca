import { durationMs } from '../../../domain/duration.js';
import { isFinal, workStages, type LifecycleState, type WorkStage } from '../model/lifecycle.js';
import type { Policy } from '../../../domain/policy.js';
import { type Effect, type Ctx, iso, notification, enter, workRequest } from './core.js';
import { approvalMail, subjectLine } from './approvals.js';

// ---- timers ------------------------------------------------------------------------------------

export interface Timer {
  at: Date;
  fire: (state: LifecycleState, ctx: Ctx) => Effect[];
}

/**
 * The next thing that happens by itself if nobody acts: a reminder, an
 * escalation, a review falling due. The workflow sleeps on a durable timer
 * until then (or until a message arrives).
 */
export function nextTimer(state: LifecycleState, policy: Policy): Timer | null {
  if (isFinal(state.stage)) return null;
  const t = (iso: string) => new Date(iso).getTime();
  if ((workStages as readonly string[]).includes(state.stage)) {
    if (state.nudges >= policy.assessment.maxReminders) return null;
    return {
      at: new Date(t(state.stageEnteredAt) + (state.nudges + 1) * durationMs(policy.assessment.reminderAfter)),
      fire: (s) => {
        s.nudges += 1;
        return [workRequest(s, s.stage as WorkStage, s.nudges, 'reminder')];
      },
    };
  }
  if (state.stage === 'approval' && state.approval) {
    const a = state.approval;
    const reminderAt =
      a.remindersSent < policy.approvals.maxReminders
        ? t(a.requestedAt) + (a.remindersSent + 1) * durationMs(policy.approvals.reminderAfter)
        : Infinity;
    const escalateAt =
      a.escalatedAt === null ? t(a.requestedAt) + durationMs(policy.approvals.escalateAfter) : Infinity;
    const at = Math.min(reminderAt, escalateAt);
    if (!Number.isFinite(at)) return null;
    return {
      at: new Date(at),
      fire: (s, ctx) => {
        const p = s.approval!;
        const effects: Effect[] = [];
        if (ctx.now.getTime() >= escalateAt) {
          p.escalatedAt = iso(ctx.now);
          effects.push(
            notification(s, {
              kind: 'approval_escalation',
              to: ctx.governanceLead,
              approver: p.approver,
              requestedAt: p.requestedAt,
              subject: subjectLine(p.kind),
            }),
          );
        }
        if (ctx.now.getTime() >= reminderAt) {
          p.remindersSent += 1;
          effects.push(approvalMail(s, p.remindersSent));
        }
        return effects;
      },
    };
  }
  if (state.stage === 'active' && state.reviewDueAt) {
    const due = t(state.reviewDueAt);
    if (!state.reviewReminderSent) {
      return {
        at: new Date(due - durationMs(policy.reviews.remindBefore)),
        fire: (s) => {
          s.reviewReminderSent = true;
          return [notification(s, { kind: 'review_upcoming', to: s.registration.owner, reviewDueAt: s.reviewDueAt! })];
        },
      };
    }
    return {
      at: new Date(due),
      fire: (s, ctx) => [
        ...enter(s, ctx, 'review_due', 'periodic review due', null),
        notification(s, { kind: 'review_due', to: s.registration.owner, reviewDueAt: s.reviewDueAt! }),
      ],
    };
  }
  if (state.stage === 'review_due' && state.reviewDueAt) {
    return {
      at: new Date(
        t(state.reviewDueAt) + (state.reviewEscalations + 1) * durationMs(policy.reviews.overdueEscalationEvery),
      ),
      fire: (s, ctx) => {
        s.reviewEscalations += 1;
        return [
          notification(s, {
            kind: 'review_overdue',
            to: ctx.governanceLead,
            reviewDueAt: s.reviewDueAt!,
            escalation: s.reviewEscalations,
            owner: s.registration.owner,
          }),
          {
            kind: 'event',
            type: 'review_overdue_escalated',
            actor: null,
            payload: { escalation: s.reviewEscalations, reviewDueAt: s.reviewDueAt },
          },
        ];
      },
    };
  }
  return null;
}
