import type { AuditVerification } from '../../domain/audit.js';
import { stepsForEvent, stepsReference } from '../../domain/control-mapping.js';
import { describeClassification } from '../../domain/eu-ai-act.js';
import type { LifecycleState } from '../../domain/lifecycle.js';
import { waitingOn } from '../../domain/waiting.js';
import type { EventRow, NotificationRow, SystemRow } from '../../store/index.js';
import { escapeHtml as e } from '../html.js';
import { governancePage, label, tierBadge, timeEl, when } from './layout.js';

export interface SystemPageData {
  id: string;
  /** From the workflow (one query); null when it cannot be asked. */
  state: LifecycleState | null;
  /** The record store's projection, the fallback for the facts. */
  record: SystemRow | null;
  events: EventRow[];
  /** GET /api/v1/systems/:id/audit/verify's answer; null when there is nothing to verify (no workflow, no record). */
  chain: AuditVerification | null;
  /** The system's e-mails given up on, newest first. */
  failedMail: NotificationRow[];
  /** After a re-send: what was done (plain text). */
  notice?: string;
  /** A refused re-send (plain text), and what the form held, so it can be corrected. */
  resendError?: string;
  requestedBy?: string;
  /** Named in what the system waits on when the governance lead's input is needed. */
  governanceLead?: string;
}

type Payload = Record<string, any>;

const list = (xs: unknown) => (Array.isArray(xs) ? xs.map(String).join(', ') : '');

/** One readable line per audit event; unknown types still show their name. */
export function describeEvent(ev: Pick<EventRow, 'type' | 'payload'>): string {
  const p = (ev.payload ?? {}) as Payload;
  switch (ev.type) {
    case 'stage_changed':
      return p.from
        ? `Stage changed from ${label(p.from)} to ${label(p.to)}: ${p.reason ?? ''}`
        : `Registered; stage ${label(p.to)}`;
    case 'assessment_submitted':
      return `Impact assessment v${p.version} submitted: risk tier ${p.riskTier} (highest score ${p.score})`;
    case 'bias_evidence_submitted':
      return Array.isArray(p.failed) && p.failed.length
        ? `Bias-testing evidence v${p.version} (tested ${p.effectiveDate}): failed ${list(p.failed)}`
        : `Bias-testing evidence v${p.version} (tested ${p.effectiveDate}): all metrics within thresholds`;
    case 'treatment_plan_submitted':
      return `Risk-treatment plan v${p.version} submitted: residual score ${p.residualScore}${p.requiresRiskAcceptance ? ', above the risk appetite' : ''}`;
    case 'approval_requested':
      return `Approval requested from ${p.approver}: ${label(p.kind)}, step ${p.step} of ${p.of} (${label(p.role)})`;
    case 'decision_recorded': {
      const verb: Record<string, string> = {
        approve: 'Approved',
        reject: 'Rejected',
        request_changes: 'Changes requested',
      };
      return `${verb[p.decision] ?? p.decision} by ${p.approver} (${label(p.kind)}, step ${p.step}, ${label(p.role)})${p.comment ? `: “${p.comment}”` : ''}`;
    }
    case 'decision_ignored':
      return `A ${label(p.decision)} decision for a request that is no longer open (${p.requestId}) was ignored`;
    case 'approval_delegated':
      return `Approval delegated by ${p.from} to ${p.deputy}${p.reason ? `: ${p.reason}` : ''}`;
    case 'delegation_ignored':
      return `A delegation for a request that is no longer open (${p.requestId}) was ignored`;
    case 'approval_link_renewed':
      return `Approval link renewed, valid until ${when(p.expiresAt)}`;
    case 'link_renewal_ignored':
      return `A link renewal for a request that is no longer open (${p.requestId}) was ignored`;
    case 'approval_invalidated':
      return `Approval invalidated: ${p.reason}`;
    case 'approval_request_withdrawn':
      return `Approval request ${p.requestId} withdrawn: ${p.reason}`;
    case 'fria_notification_superseded':
      return `Re-assessment v${p.assessmentVersion} supersedes the FRIA notification of ${p.previous?.notifiedAt ?? '—'}: the authority is to be notified of the new results (EU AI Act Art. 27(3))`;
    case 'fria_authority_notified':
      return `Market surveillance authority notified of the FRIA: ${p.authority}${p.reference ? ` (reference ${p.reference})` : ''}`;
    case 'model_version_changed':
      return `Model version changed from ${p.from} to ${p.to}${p.changeSummary ? `: ${p.changeSummary}` : ''}`;
    case 'reassessment_pending':
      return `Reassessment pending for model version ${p.modelVersion}`;
    case 'incident_reported':
      return `Incident ${p.id} reported (${p.severity}): ${p.description}`;
    case 'corrective_action_closed':
      return `Corrective action for incident ${p.incidentId} closed: ${p.resolution}`;
    case 'corrective_action_reminder_sent':
      return `${p.owner} reminded of the corrective action for incident ${p.incidentId}, due ${when(p.dueAt)}`;
    case 'corrective_action_overdue':
      return `Corrective action for incident ${p.incidentId} overdue (due ${when(p.dueAt)}): escalation ${p.escalation} to ${p.owner} and the governance lead`;
    case 'review_submitted':
      return `Periodic review submitted (cycle ${p.cycle}, ${p.trigger})${p.materialChange ? ' with a material change' : ''}: ${p.monitoringSummary ?? ''}`;
    case 'review_overdue_escalated':
      return `Overdue review escalated to the governance lead (escalation ${p.escalation}; due ${when(p.reviewDueAt)})`;
    case 'system_retired':
      return `System retired: ${p.reason}`;
    case 'notification_failed':
      return `E-mail (${label(p.kind)}) to ${p.to} could not be delivered: ${p.error}`;
    case 'notification_resend_requested':
      return `Failed e-mail asked to be sent again (${p.key})`;
    default:
      return label(ev.type);
  }
}

function friaFact(f: LifecycleState['fria']): string {
  const basis = f.basis ? ` (${e(f.basis)})` : '';
  if (!f.required) return `not required${basis}`;
  const notified = f.notifiedAt
    ? `authority notified ${e(f.notifiedAt)}${f.authority ? `: ${e(f.authority)}` : ''}`
    : '<strong>authority not notified yet</strong>';
  return `required${basis}; ${notified}`;
}

function facts(d: SystemPageData): string {
  const s = d.state;
  const r = d.record;
  const row = (k: string, v: string) => `<dt>${e(k)}</dt><dd>${v}</dd>`;
  const stage = s?.stage ?? r?.stage ?? null;
  const overdue =
    stage === 'review_due' && s?.reviewDueAt && Date.parse(s.reviewDueAt) < Date.now()
      ? ' <strong class="error">(overdue)</strong>'
      : '';
  const waiting = s ? waitingOn(s, new Date(), d.governanceLead) : null;
  const waitingHtml = waiting
    ? `<span id="waiting-on" data-stage="${e(s!.stage)}"${waiting.overdue ? ' data-overdue="true"' : ''}>${waiting.who ? `<strong>${e(waiting.who)}</strong>: ` : ''}${e(waiting.what)}${waiting.since ? `, since ${timeEl(waiting.since)}` : ''}</span>`
    : '';
  // A retired system has no review ahead of it, whatever date its last cycle had set.
  const retired = stage === 'retired';
  return `<dl class="facts">
${row('Current stage', `<strong id="current-stage">${e(label(stage))}</strong>${overdue}`)}
${row('Risk tier', tierBadge(s?.riskTier ?? r?.riskTier))}
${row('Owner', e(s?.registration.owner ?? r?.owner ?? '—'))}
${row('Risk owner', e(s?.registration.riskOwner ?? r?.riskOwner ?? '—'))}
${s ? row('Model', `${e(s.registration.model.name)} ${e(s.modelVersion)}`) : ''}
${s?.assessment ? row('EU AI Act', e(describeClassification(s.assessment.euAiAct ?? { category: s.assessment.euAiActCategory }))) : ''}
${s?.assessment ? row('FRIA (Art. 27)', friaFact(s.fria)) : ''}
${retired ? row('Retired', timeEl(s?.retiredAt ?? null)) : row('Next review due', timeEl(s?.reviewDueAt ?? r?.reviewDueAt?.toISOString() ?? null))}
${s ? row('Last review completed', timeEl(s.lastReviewCompletedAt)) : ''}
${s ? row('Waiting on', waitingHtml) : ''}
${s && s.stage === 'review_due' ? row('Escalations sent', String(s.reviewEscalations)) : ''}
</dl>${s ? '' : '<p class="muted">The live lifecycle could not be asked just now; these facts come from the record store.</p>'}`;
}

function chainSection(c: AuditVerification | null): string {
  const records = (n: number) => `${n} record${n === 1 ? '' : 's'}`;
  let body: string;
  if (!c) body = '<p id="chain-status">No records to verify.</p>';
  else if (c.ok) {
    const anchor =
      c.anchored.status === 'matched'
        ? `The chain was not rewritten either: ${e(c.anchored.detail)}.`
        : `Not compared with the anchor kept outside the database: ${e(c.anchored.detail)}.`;
    body = `<p class="verify good" id="chain-status"><strong>Verified:</strong> all ${records(c.count)} of the audit trail chain correctly (SHA-256 hash chain, nothing altered or removed). <span id="chain-anchor" data-status="${c.anchored.status}">${anchor}</span></p>`;
  } else if (c.brokenBy === 'anchor') {
    body = `<p class="verify bad" id="chain-status" role="alert"><strong>Broken:</strong> ${e(c.reason ?? '')}. <span id="chain-anchor" data-status="${c.anchored.status}">Checked against the head the lifecycle workflow keeps outside the database (record #${c.anchored.seq}).</span></p>`;
  } else {
    body = `<p class="verify bad" id="chain-status" role="alert"><strong>Broken:</strong> the hash chain fails at record #${c.brokenAtSeq} of ${c.count}: ${e(c.reason ?? '')}. The audit trail from that record on cannot be trusted. <span id="chain-anchor" data-status="${c.anchored.status}">${e(c.anchored.detail)}.</span></p>`;
  }
  return `<section aria-labelledby="chain-h"><h2 id="chain-h">Audit trail integrity</h2>${body}</section>`;
}

function timeline(events: EventRow[]): string {
  if (events.length === 0) return '<p>No records yet.</p>';
  const rows = events
    .map(
      (ev) => `<tr data-type="${e(ev.type)}" id="event-${ev.seq}">
<td data-label="#" class="num seq">${ev.seq}</td>
<td data-label="When" class="nowrap when">${timeEl(ev.at.toISOString())}</td>
<td data-label="Who" class="who">${e(ev.actor ?? 'the lifecycle (automatic)')}</td>
<td data-label="What">${e(describeEvent(ev))}</td>
<td data-label="Evidence for" class="cites">${e(stepsReference(stepsForEvent(ev)).replace('ISO/IEC 42001 ', '')) || '—'}</td>
</tr>`,
    )
    .join('');
  return `<table class="stack" id="timeline"><caption>${events.length} record${events.length === 1 ? '' : 's'}, oldest first</caption>
<thead><tr><th scope="col" class="num">#</th><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Evidence for (ISO/IEC 42001)</th></tr></thead>
<tbody>${rows}</tbody></table>`;
}

export const resendAction = (id: string) => `/systems/${encodeURIComponent(id)}/notifications/resend`;

/**
 * One form for the whole table: the e-mail field is filled once and each
 * row's button submits its own key. There is no login yet, so who asked is
 * what the form says; the audit trail records it as given.
 */
function failedMailSection(d: SystemPageData): string {
  const resent = new Map<string, EventRow[]>();
  for (const ev of d.events) {
    const key = (ev.payload as Payload | null)?.key;
    if (ev.type === 'notification_resend_requested' && typeof key === 'string') {
      resent.set(key, [...(resent.get(key) ?? []), ev]);
    }
  }
  const notice = d.notice ? `<p class="ok" role="status" id="resend-notice">${e(d.notice)}</p>` : '';
  const error = d.resendError ? `<p class="error" role="alert" id="resend-error">${e(d.resendError)}</p>` : '';
  if (d.failedMail.length === 0) {
    return `<section aria-labelledby="failed-mail-h" id="failed-mail"><h2 id="failed-mail-h">E-mails that could not be delivered</h2>
${notice}${error}<p class="ok">No e-mail of this system has failed.</p></section>`;
  }
  const rows = d.failedMail
    .map((n) => {
      const again = (resent.get(n.idempotencyKey) ?? [])
        .map(
          (ev) =>
            `<br><span class="muted">Sent again ${timeEl(ev.at.toISOString())} at the request of ${e(ev.actor ?? 'unknown')}</span>`,
        )
        .join('');
      return `<tr data-key="${e(n.idempotencyKey)}">
<td data-label="E-mail">${e(label(n.kind))}</td>
<td data-label="To" class="who">${e(n.toAddress)}</td>
<td data-label="Error">${e(n.lastError ?? '—')}</td>
<td data-label="Failed" class="nowrap">${timeEl(n.updatedAt.toISOString())}${again}</td>
<td data-label="Action"><button type="submit" name="key" value="${e(n.idempotencyKey)}" aria-label="${e(`Send again: ${label(n.kind)} to ${n.toAddress}`)}">Send again</button></td>
</tr>`;
    })
    .join('');
  return `<section aria-labelledby="failed-mail-h" id="failed-mail"><h2 id="failed-mail-h">E-mails that could not be delivered</h2>
${notice}${error}
<form method="post" action="${e(resendAction(d.id))}">
<p class="muted">Sending again makes a new e-mail from the same content, to the same address; the failed one stays on record. Fix the address at the mail server first if it refused it.</p>
<label for="resend-by">Your e-mail address (recorded as who asked)</label>
<input id="resend-by" name="requestedBy" type="email" required autocomplete="email" value="${e(d.requestedBy ?? '')}"${d.resendError ? ' aria-describedby="resend-error"' : ''}>
<table class="stack" id="failed-mail-table"><caption>${d.failedMail.length} e-mail${d.failedMail.length === 1 ? '' : 's'} could not be delivered, newest first</caption>
<thead><tr><th scope="col">E-mail</th><th scope="col">To</th><th scope="col">Error</th><th scope="col">Failed</th><th scope="col">Action</th></tr></thead>
<tbody>${rows}</tbody></table>
</form>
</section>`;
}

/** One system: where it stands, whether its audit trail is intact, and everything that happened to it. */
export function systemPage(d: SystemPageData): string {
  const name = d.state?.registration.name ?? d.record?.name ?? d.id;
  return governancePage({
    title: `${name} — AI system`,
    nav: [{ href: `/api/v1/systems/${encodeURIComponent(d.id)}`, text: 'JSON' }],
    main: `<h1>${e(name)} <span class="muted">(${e(d.id)})</span></h1>
${facts(d)}
${failedMailSection(d)}
${chainSection(d.chain)}
<section aria-labelledby="timeline-h"><h2 id="timeline-h">Timeline</h2>
<p class="muted">From the record store's append-only audit trail: registration, assessments, evidence, decisions, reviews and incidents.</p>
${timeline(d.events)}
</section>`,
  });
}

export function systemNotFoundPage(id: string): string {
  return governancePage({
    title: 'No such AI system',
    main: `<h1>No such AI system</h1><p>There is no AI system with id <code>${e(id)}</code>.</p><p><a href="/">Back to the dashboard</a></p>`,
  });
}
