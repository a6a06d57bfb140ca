import { openMetrics } from './bias-gate.js';
import type { LifecycleState } from './lifecycle.js';
import { subjectLine } from './machine/approvals.js';

/** What a system waits on: whose input, for what, since when. */
export interface WaitingOn {
  /** Who must act; null when nobody needs to (active, retired, rejected). */
  who: string | null;
  what: string;
  since: string | null;
  /** A periodic review past its due date. */
  overdue: boolean;
}

/**
 * In every stage, the one thing the lifecycle waits for, in words for the
 * system page: the AI team's work, an approver's decision, the FRIA
 * notification, the periodic review (overdue or not), or nothing.
 */
export function waitingOn(s: LifecycleState, now: Date, governanceLead = 'the governance lead'): WaitingOn {
  const owner = s.registration.owner;
  const since = s.stageEnteredAt;
  const wait = (who: string | null, what: string, at: string | null = since, overdue = false): WaitingOn => ({
    who,
    what,
    since: at,
    overdue,
  });
  switch (s.stage) {
    case 'impact_assessment':
      return wait(owner, 'the impact assessment');
    case 'bias_testing':
      return wait(owner, `bias-testing evidence for model version ${s.modelVersion}`);
    case 'risk_treatment': {
      // Under the bias-testing gate a failed or inconclusive metric holds the plan until it is answered.
      const held = s.evidence?.inconclusive !== undefined ? openMetrics(s.evidence) : [];
      return held.length
        ? wait(
            `${owner} or ${governanceLead}`,
            `the risk-treatment plan, held by the fairness metrics ${held.join(', ')} until new passing evidence (${owner}) or the recorded acceptance of their risk (${governanceLead})`,
          )
        : wait(owner, 'the risk-treatment plan');
    }
    case 'approval': {
      const a = s.approval;
      if (!a) return wait(null, 'an approval request to be sent');
      return wait(
        a.approver,
        `the decision on the ${subjectLine(a.kind)}, step ${a.step} of ${a.chain.length}${a.delegatedFrom ? ` (delegated by ${a.delegatedFrom})` : ''}`,
        a.requestedAt,
      );
    }
    case 'fria_notification':
      return wait(
        owner,
        'the FRIA notification: the record that the market surveillance authority was notified of the fundamental rights impact assessment (EU AI Act Art. 27(3)), pending before the system goes live',
      );
    case 'active':
      return wait(
        null,
        s.reviewDueAt ? `nothing until the periodic review due on ${s.reviewDueAt.slice(0, 10)}` : 'nothing',
        null,
      );
    case 'review_due': {
      const due = s.reviewDueAt;
      // Past its date by the caller's clock, or by the workflow's own: it escalates only once the review is overdue.
      const overdue = due !== null && (Date.parse(due) < now.getTime() || s.reviewEscalations > 0);
      const why = s.reviewTrigger === 'incident' ? ', made due by a serious incident' : '';
      return overdue
        ? wait(
            owner,
            `the periodic review${why}, overdue (${s.reviewEscalations} escalation${s.reviewEscalations === 1 ? '' : 's'} sent to ${governanceLead})`,
            due,
            true,
          )
        : wait(owner, `the periodic review${why}`, due ?? since);
    }
    case 'rejected':
      return wait(null, 'nothing: the lifecycle ended with a rejection', null);
    case 'retired':
      return wait(null, `nothing: retired${s.retiredAt ? ` on ${s.retiredAt.slice(0, 10)}` : ''}`, null);
  }
}
