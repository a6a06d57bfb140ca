import { escapeHtml } from '../views/escape.js';
import { briefParts, type ApprovalBrief, type BriefPart } from '../domain/approval-brief.js';
import { describeVerdict } from '../domain/bias-gate.js';
import { stepReference } from '../domain/control-mapping.js';
import { subjectLine } from '../domain/machine/approvals.js';
import type { Notification } from '../domain/notifications.js';

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export interface MailLinks {
  baseUrl: string;
  /** Present for approval requests: the signed link. */
  approvalUrl?: string;
  /** For approval requests: what the request covers, read from the record store (domain/approval-brief.ts). */
  brief?: ApprovalBrief | null;
}

const esc = escapeHtml;

const day = (iso: string) => iso.slice(0, 10);

const asText = (p: BriefPart) => (typeof p === 'string' ? p : [p.title, ...p.items.map((i) => `• ${i}`)].join('\n'));
const asHtml = (p: BriefPart) =>
  typeof p === 'string'
    ? `<p>${esc(p)}</p>`
    : `<p>${esc(p.title)}</p><ul>${p.items.map((i) => `<li>${esc(i)}</li>`).join('')}</ul>`;

/** Plain paragraphs (or titled lists) and one call to action, as text and as HTML, so both parts always say the same. */
function compose(subject: string, paragraphs: BriefPart[], action?: { label: string; url: string }): RenderedMail {
  const text = [...paragraphs.map(asText), ...(action ? [`${action.label}: ${action.url}`] : [])].join('\n\n') + '\n';
  const button = action
    ? `<p><a href="${esc(action.url)}" style="display:inline-block;padding:10px 18px;background:#1d4ed8;color:#fff;border-radius:6px;text-decoration:none">${esc(action.label)}</a></p>` +
      `<p style="font-size:12px;color:#555;word-break:break-all">Or open this address: ${esc(action.url)}</p>`
    : '';
  const html =
    `<!doctype html><html lang="en"><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#111;max-width:640px">` +
    paragraphs.map(asHtml).join('') +
    button +
    `</body></html>`;
  return { subject, text, html };
}

const stageWork: Record<string, { what: string; how: string }> = {
  impact_assessment: {
    what: `its impact assessment (${stepReference('impact_assessment')}; ISO/IEC 42005)`,
    how: 'PUT {url}/impact-assessment',
  },
  bias_testing: {
    what: `bias-testing evidence for its current model version (${stepReference('bias_evidence')})`,
    how: 'PUT {url}/bias-evidence',
  },
  risk_treatment: {
    what: `its risk-treatment plan (${stepReference('treatment_plan')})`,
    how: 'PUT {url}/treatment-plan',
  },
  fria_notification: {
    what: `the record of notifying the market surveillance authority of its fundamental rights impact assessment (EU AI Act Art. 27; ${stepReference('fria_notice')})`,
    how: 'POST {url}/fria-notification',
  },
};

const prefix = (reminder: number) => (reminder > 0 ? `Reminder ${reminder}: ` : '');

export function renderNotification(n: Notification, links: MailLinks): RenderedMail {
  const systemUrl = `${links.baseUrl}/api/v1/systems/${encodeURIComponent(n.systemId)}`;
  // People follow links to the system page; the API address is for the requests the text names.
  const see = { label: 'See the system', url: `${links.baseUrl}/systems/${encodeURIComponent(n.systemId)}` };
  const name = `${n.systemName} (${n.systemId})`;
  switch (n.kind) {
    case 'work_requested': {
      const work = stageWork[n.stage]!;
      return compose(
        `${prefix(n.reminder)}${n.systemName} needs ${n.stage.replaceAll('_', ' ')}`,
        [
          `${name} waits for ${work.what}.`,
          ...(n.reminder === 0 ? [`Why: ${n.reason}.`] : []),
          `Submit it with ${work.how.replace('{url}', systemUrl)}.`,
        ],
        see,
      );
    }
    case 'approval_request': {
      if (!links.approvalUrl) throw new Error('an approval request needs its signed link');
      const review = links.brief ? links.brief.kind === 'review' : n.subject === subjectLine('review');
      return compose(
        `${prefix(n.reminder)}Approval needed: ${review ? 'periodic review of ' : ''}${n.systemName} (${n.riskTier} risk), step ${n.step} of ${n.of}`,
        [
          `You are asked to decide on the ${n.subject} of ${name}, assessed as ${n.riskTier} risk.`,
          ...(n.delegatedFrom ? [`${n.delegatedFrom} delegated this decision to you.`] : []),
          ...(links.brief ? briefParts(links.brief) : []),
          ...(n.fairness?.length
            ? [
                {
                  title:
                    'Bias testing, as the policy judged it (verdict, value [interval], the groups behind it and their sizes):',
                  items: n.fairness.map(describeVerdict),
                },
              ]
            : []),
          `The link below shows what you are deciding on; nothing is decided until you press a button on that page. It is yours alone and works until ${day(n.expiresAt)}.`,
        ],
        { label: 'Review and decide', url: links.approvalUrl },
      );
    }
    case 'approval_escalation':
      return compose(
        `Escalation: ${n.subject} of ${n.systemName} is waiting on ${n.approver}`,
        [
          `The ${n.subject} of ${name} was requested from ${n.approver} on ${day(n.requestedAt)} and has not been decided.`,
          'As governance lead you may follow up with the approver.',
        ],
        see,
      );
    case 'decision_outcome': {
      const verb = { approve: 'Approved', reject: 'Rejected', request_changes: 'Changes requested' }[n.decision];
      return compose(
        `${verb}: ${n.systemName}`,
        [
          `${n.approver} decided "${n.decision.replace('_', ' ')}" on ${name}. The system is now in stage ${n.nextStage.replaceAll('_', ' ')}.`,
          ...(n.comment ? [`Comment: ${n.comment}`] : []),
          ...(n.reviewDueAt ? [`Its next periodic review is due on ${day(n.reviewDueAt)}.`] : []),
        ],
        see,
      );
    }
    case 'review_upcoming':
      return compose(
        `Periodic review coming up: ${n.systemName}`,
        [
          `The periodic review of ${name} (${stepReference('review')}) is due on ${day(n.reviewDueAt)}.`,
          `Submit it with POST ${systemUrl}/reviews.`,
        ],
        see,
      );
    case 'review_due':
      return compose(
        `Periodic review due: ${n.systemName}`,
        [
          `The periodic review of ${name} (${stepReference('review')}) is due (${day(n.reviewDueAt)}).`,
          `Submit it with POST ${systemUrl}/reviews.`,
        ],
        see,
      );
    case 'review_overdue':
      return compose(
        `Overdue review (escalation ${n.escalation}): ${n.systemName}`,
        [`The review of ${name}, owned by ${n.owner}, was due on ${day(n.reviewDueAt)} and is still not done.`],
        see,
      );
    case 'incident_reported':
      return compose(
        `${n.severity === 'serious' ? 'Serious incident' : 'Incident'} ${n.incidentId}: ${n.systemName}`,
        [
          `${n.reportedBy} reported a ${n.severity} incident on ${name}: ${n.description}`,
          ...(n.severity === 'serious'
            ? [`Its approval no longer stands; an immediate review is required (${stepReference('incident')}).`]
            : []),
        ],
        see,
      );
    case 'corrective_action_assigned':
      return compose(
        `Corrective action for you, due ${day(n.dueAt)}: incident ${n.incidentId} of ${n.systemName}`,
        [
          `A ${n.severity} incident was reported on ${name}: ${n.description}`,
          `You own its corrective action (${stepReference('corrective_action')}): ${n.correctiveAction}`,
          `It is due on ${day(n.dueAt)}; you will be reminded before then, and the governance lead told if it is not closed by then. Once it is done, close the incident with its resolution: POST ${systemUrl}/incidents/${encodeURIComponent(n.incidentId)}/close.`,
        ],
        see,
      );
    case 'corrective_action_reminder':
      return compose(
        `Corrective action due ${day(n.dueAt)}: incident ${n.incidentId} of ${n.systemName}`,
        [
          `You own the corrective action for incident ${n.incidentId} of ${name} (${stepReference('corrective_action')}): ${n.correctiveAction}`,
          `It is due on ${day(n.dueAt)}. Once it is done, close the incident with its resolution: POST ${systemUrl}/incidents/${encodeURIComponent(n.incidentId)}/close.`,
        ],
        see,
      );
    case 'corrective_action_overdue':
      return compose(
        `Overdue corrective action (escalation ${n.escalation}): incident ${n.incidentId} of ${n.systemName}`,
        [
          `The corrective action for incident ${n.incidentId} of ${name} (${stepReference('corrective_action')}), owned by ${n.owner}, was due on ${day(n.dueAt)} and the incident is still open: ${n.correctiveAction}`,
          `It is closed with its resolution: POST ${systemUrl}/incidents/${encodeURIComponent(n.incidentId)}/close. The governance lead hears of it again every escalation period until then.`,
        ],
        see,
      );
    case 'delivery_failed':
      return compose(
        `Undeliverable e-mail for ${n.systemName}`,
        [
          `An e-mail about ${name} could not be delivered to ${n.failedTo} (${n.failedKind.replaceAll('_', ' ')}).`,
          `The mail server said: ${n.error}`,
          'It is recorded as failed on the dashboard and can be sent again from the system page once the address is fixed.',
        ],
        see,
      );
    case 'lifecycle_stopped':
      return compose(`Stopped: ${n.systemName}`, [`The lifecycle of ${name} was stopped.`, n.reason], see);
    case 'retired':
      return compose(`Retired: ${n.systemName}`, [`${n.retiredBy} retired ${name}.`, `Reason: ${n.reason}`], see);
  }
}

export interface DigestContent {
  overdue: { id: string; name: string; owner: string; daysOverdue: number; escalationsSent: number }[];
  pending: { id: string; name: string; approver: string | null; ageDays: number }[];
}

/** The governance lead's weekly digest: what is late and who is holding it. */
export function renderDigest(d: DigestContent, baseUrl: string): RenderedMail {
  const system = (id: string) => `${baseUrl}/systems/${encodeURIComponent(id)}`;
  const lines = [
    d.overdue.length === 0 ? 'No periodic review is overdue.' : `${d.overdue.length} periodic review(s) overdue:`,
    ...d.overdue.map(
      (o) =>
        `- ${o.name} (${o.id}): ${o.daysOverdue} day(s) overdue, owner ${o.owner}, ${o.escalationsSent} escalation(s) sent — ${system(o.id)}`,
    ),
    d.pending.length === 0 ? 'No approval is waiting.' : `${d.pending.length} approval(s) waiting:`,
    ...d.pending.map(
      (p) => `- ${p.name} (${p.id}): waiting on ${p.approver ?? 'unknown'} for ${p.ageDays} day(s) — ${system(p.id)}`,
    ),
  ];
  return compose(`Weekly AI governance digest: ${d.overdue.length} overdue, ${d.pending.length} pending`, lines, {
    label: 'Open the dashboard',
    url: `${baseUrl}/`,
  });
}
