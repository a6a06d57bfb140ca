import type { systemView } from '../api/routes/systems.js';
import type { DecisionRecord, Stage } from '../domain/lifecycle.js';

/** GET /api/v1/systems/:id, as the API builds it. */
export type SystemView = ReturnType<typeof systemView>;

/** Where an approver's "reject" or "request changes" sends a system back (reviews: review_due). */
const SENT_BACK_TO: readonly Stage[] = ['impact_assessment', 'bias_testing', 'risk_treatment', 'review_due'];

export type Outcome =
  | { outcome: 'approved'; exitCode: 0 }
  | { outcome: 'sent_back'; exitCode: 3; reason: string; decision: DecisionRecord | null }
  | { outcome: 'rejected' | 'retired'; exitCode: 4; reason: string | null }
  | { outcome: 'pending' };

/**
 * What `wait` makes of a system's state, from the state alone (so a `wait` started after the decision reports it
 * too):
 * - `active`: approved (exit 0). `fria_notification` is not yet: a high-risk deployer notifies the authority first.
 * - sent back (exit 3): its last transition left `approval` for a work stage (or `review_due` for a review) —
 *   an approver rejected or requested changes (that decision is returned), or the approval was invalidated
 *   (a newer model version, a serious incident).
 * - `rejected` or `retired` (exit 4).
 * - anything else is still on its way: keep waiting.
 */
export function outcomeOf(view: SystemView): Outcome {
  const stage = view.stage as Stage;
  const last = view.transitions.at(-1);
  if (stage === 'active') return { outcome: 'approved', exitCode: 0 };
  if (stage === 'rejected' || stage === 'retired') {
    return { outcome: stage, exitCode: 4, reason: last?.to === stage ? last.reason : null };
  }
  if (SENT_BACK_TO.includes(stage) && last?.from === 'approval' && last.to === stage) {
    // The decision that did it, if one did: the latest, not an approval, sending the system where it is, and
    // taken after the system entered approval (not an older round's; 5 s for clocks of API and worker hosts).
    const decision = view.decisions.at(-1);
    const enteredApproval = view.transitions.at(-2);
    const decided =
      decision &&
      decision.decision !== 'approve' &&
      decision.returnTo === stage &&
      (enteredApproval?.to !== 'approval' || Date.parse(decision.decidedAt) >= Date.parse(enteredApproval.at) - 5_000)
        ? decision
        : null;
    return { outcome: 'sent_back', exitCode: 3, reason: last.reason, decision: decided };
  }
  return { outcome: 'pending' };
}

/** "3m", "2h 5m", "4d 1h": how long ago an ISO time was. */
export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  const d = Math.floor(h / 24);
  return `${d}d ${h % 24}h`;
}

const day = (iso: string | null | undefined) => (iso ? iso.slice(0, 10) : '—');
const words = (s: string) => s.replaceAll('_', ' ');

/** What is pending on the system, in one line (for `status` and `wait`'s progress). */
export function pendingLine(view: SystemView, now = Date.now()): string | null {
  const a = view.pendingApproval;
  if (!a) return null;
  const delegated = a.delegatedFrom ? `, delegated by ${a.delegatedFrom}` : '';
  return `${a.approver} (${words(a.role)}${delegated}), step ${a.step} of ${a.of}, ${words(a.kind)}, requested ${age(a.requestedAt, now)} ago`;
}

/** `status`: the readable summary. */
export function renderStatus(view: SystemView, now = Date.now()): string {
  const rows: [string, string][] = [
    ['stage', words(view.stage) + (view.overdue ? ' (OVERDUE)' : '')],
    ['risk tier', `${view.riskTier ?? 'not assessed yet'} (policy ${view.policyVersion})`],
    ['model', `${view.model.name} ${view.model.version}`],
    ['owner', `${view.owner}; risk owner ${view.riskOwner}`],
  ];
  const pending = pendingLine(view, now);
  if (pending) rows.push(['pending approval', pending]);
  else if (view.stage === 'approval') rows.push(['pending approval', 'being requested']);
  if (view.approvedAt)
    rows.push(['approved', `${day(view.approvedAt)}${view.approvedDigest ? '' : ' (invalidated since)'}`]);
  if (view.reviewDueAt) {
    const overdue = Date.parse(view.reviewDueAt) < now;
    rows.push(['review due', `${day(view.reviewDueAt)}${overdue ? ' (overdue)' : ''}`]);
  }
  if (view.evidence) {
    const failed = view.evidence.failed;
    rows.push([
      'bias evidence',
      `v${view.evidence.version} for model ${view.evidence.modelVersion}, tested ${view.evidence.effectiveDate}: ` +
        (failed.length ? `FAILED ${failed.join(', ')}` : 'all metrics within thresholds'),
    ]);
  }
  if (view.treatmentPlan) {
    const p = view.treatmentPlan;
    rows.push([
      'treatment plan',
      `v${p.version}, ${p.items} item(s), residual score ${p.residualScore}` +
        (p.requiresRiskAcceptance ? ', needs risk acceptance' : '') +
        (p.current ? '' : ' (out of date)'),
    ]);
  }
  if (view.fria.required) {
    rows.push([
      'FRIA',
      view.fria.notifiedAt ? `authority notified ${view.fria.notifiedAt}` : 'authority not notified yet',
    ]);
  }
  const open = view.incidents.filter((i) => !i.closedAt);
  if (open.length) rows.push(['open incidents', open.map((i) => `${i.id} (${i.severity})`).join(', ')]);
  const last = view.transitions.at(-1);
  if (last) rows.push(['last change', `${day(last.at)}: ${last.reason}`]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = [`${view.id} — ${view.name}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}${v}`)];
  const decisions = view.decisions.slice(-3);
  if (decisions.length) {
    lines.push('  last decisions');
    for (const d of decisions) lines.push(`    ${decisionLine(d)}`);
  }
  return lines.join('\n');
}

export function decisionLine(d: DecisionRecord): string {
  const back = d.returnTo ? ` → ${d.returnTo}` : '';
  return `${day(d.decidedAt)} ${words(d.decision)} by ${d.approver} (${words(d.kind)}, step ${d.step})${back}${d.comment ? `: ${d.comment}` : ''}`;
}
