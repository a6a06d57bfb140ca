import { escapeHtml } from '../api/html.js';
import type { Notification } from './types.js';

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export interface MailLinks {
  baseUrl: string;
  /** Present for approval requests: the signed link. */
  approvalUrl?: string;
}

const esc = escapeHtml;

const day = (iso: string) => iso.slice(0, 10);

/** Plain paragraphs and one call to action, as text and as HTML, so both parts always say the same. */
function compose(subject: string, paragraphs: string[], action?: { label: string; url: string }): RenderedMail {
  const text = [...paragraphs, ...(action ? [`${action.label}: ${action.url}`] : [])].join('\n\n') + '\n';
  const button = action
    ? `<p><a href="${esc(action.url)}" style="display:inline-block;padding:10px 18px;background:#1d4ed8;color:#fff;border-radius:6px;text-decoration:none">${esc(action.label)}</a></p>` +
      `<p style="font-size:12px;color:#555">Or open this address: ${esc(action.url)}</p>`
    : '';
  const html =
    `<!doctype html><html lang="en"><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#111;max-width:640px">` +
    paragraphs.map((p) => `<p>${esc(p)}</p>`).join('') +
    button +
    `</body></html>`;
  return { subject, text, html };
}

export function renderNotification(n: Notification, links: MailLinks): RenderedMail {
  const systemUrl = `${links.baseUrl}/api/v1/systems/${encodeURIComponent(n.systemId)}`;
  switch (n.kind) {
    case 'assessment_requested':
      return compose(
        `${n.reminder > 0 ? `Reminder ${n.reminder}: ` : ''}Impact assessment needed for ${n.systemName}`,
        [
          `${n.systemName} (${n.systemId}) is registered and waits for its impact assessment (ISO/IEC 42001 A.5, ISO/IEC 42005).`,
          `Submit it with PUT ${systemUrl}/impact-assessment.`,
        ],
        { label: 'See the system', url: systemUrl },
      );
    case 'approval_request':
      if (!links.approvalUrl) throw new Error('an approval request needs its signed link');
      return compose(
        `${n.reminder > 0 ? `Reminder ${n.reminder}: ` : ''}Approval needed: ${n.systemName} (${n.riskTier} risk)`,
        [
          `You are asked, as risk owner, to approve or reject ${n.systemName} (${n.systemId}), assessed as ${n.riskTier} risk.`,
          `The link below shows what you are deciding on; nothing is decided until you press Approve or Reject. It is yours alone and works until ${day(n.expiresAt)}.`,
        ],
        { label: 'Review and decide', url: links.approvalUrl },
      );
    case 'approval_escalation':
      return compose(
        `Escalation: approval of ${n.systemName} is waiting on ${n.approver}`,
        [
          `The approval of ${n.systemName} (${n.systemId}) was requested from ${n.approver} on ${day(n.requestedAt)} and has not been decided.`,
          'As governance lead you may follow up with the approver.',
        ],
        { label: 'See the system', url: systemUrl },
      );
    case 'decision_outcome':
      return n.decision === 'approve'
        ? compose(
            `Approved: ${n.systemName}`,
            [
              `${n.approver} approved ${n.systemName} (${n.systemId}). It is now active.`,
              ...(n.comment ? [`Comment: ${n.comment}`] : []),
              ...(n.reviewDueAt ? [`Its next periodic review is due on ${day(n.reviewDueAt)}.`] : []),
            ],
            { label: 'See the system', url: systemUrl },
          )
        : compose(
            `Rejected: ${n.systemName} needs a revised impact assessment`,
            [
              `${n.approver} rejected the impact assessment of ${n.systemName} (${n.systemId}).`,
              `Comment: ${n.comment || '(none given)'}`,
              `Revise it and submit it again with PUT ${systemUrl}/impact-assessment.`,
            ],
            { label: 'See the system', url: systemUrl },
          );
    case 'review_due':
      return compose(
        `Periodic review due: ${n.systemName}`,
        [`The periodic review of ${n.systemName} (${n.systemId}) was due on ${day(n.reviewDueAt)}.`],
        { label: 'See the system', url: systemUrl },
      );
  }
}
