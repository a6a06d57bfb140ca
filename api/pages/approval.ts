import type { LifecycleState } from '../../domain/lifecycle.js';
import { escapeHtml as e, page } from '../html.js';

export interface ApprovalPageData {
  state: LifecycleState | null;
  approver: string;
  requestId: string;
  expiresAt: Date;
  csrf: string;
  action: string;
  error?: string;
}

const when = (iso: string) => iso.replace('T', ' ').slice(0, 16) + ' UTC';

function assessmentSection(state: LifecycleState): string {
  const a = state.assessment;
  if (!a) return '<p class="muted">No impact assessment is on record.</p>';
  const rows = a.content.impacts
    .map(
      (i) =>
        `<tr><td>${e(i.area.replaceAll('_', ' '))}</td><td>${e(i.description)}</td><td>${e(i.affected.join(', '))}</td><td>${e(i.severity)}</td><td>${e(i.likelihood)}</td></tr>`,
    )
    .join('');
  return `
<h2>Impact assessment v${a.version}</h2>
<p>Submitted by ${e(a.submittedBy)} on ${e(when(a.submittedAt))}. Risk tier <strong>${e(a.riskTier)}</strong> (highest score ${a.score}).</p>
<p><strong>Intended purpose:</strong> ${e(a.content.intendedPurpose)}</p>
<p><strong>Context of use:</strong> ${e(a.content.contextOfUse)}</p>
${a.content.foreseeableMisuse.length ? `<p><strong>Foreseeable misuse:</strong> ${e(a.content.foreseeableMisuse.join('; '))}</p>` : ''}
<table class="stack"><caption>Identified impacts</caption>
<thead><tr><th scope="col">Area</th><th scope="col">Impact</th><th scope="col">Affected</th><th scope="col">Severity</th><th scope="col">Likelihood</th></tr></thead>
<tbody>${rows}</tbody></table>`;
}

function decisionsSection(state: LifecycleState): string {
  if (state.decisions.length === 0) return '';
  const items = state.decisions
    .map(
      (d) =>
        `<li>${e(when(d.decidedAt))}: ${e(d.approver)} — <strong>${e(d.decision)}</strong>${d.comment ? `: ${e(d.comment)}` : ''}</li>`,
    )
    .join('');
  return `<h2>Earlier decisions</h2><ul>${items}</ul>`;
}

/** What the approver sees on opening the link: everything needed to decide, and a form that only POST submits. */
export function approvalPage(d: ApprovalPageData): string {
  const s = d.state;
  const heading = s ? `Approve ${s.registration.name}?` : 'Approval request';
  const system = s
    ? `<p><strong>${e(s.registration.name)}</strong> (${e(s.systemId)}) — model ${e(s.registration.model.name)} ${e(s.registration.model.version)}</p>
<p><strong>Purpose:</strong> ${e(s.registration.purpose)}</p>
<p><strong>Owner:</strong> ${e(s.registration.owner)} · <strong>Deployment:</strong> ${e(s.registration.deployment.context)}</p>
<p><strong>Affected stakeholders:</strong> ${e(s.registration.stakeholders.join(', '))}</p>
${assessmentSection(s)}${decisionsSection(s)}`
    : '<p class="muted">The system details cannot be loaded right now; you can still decide.</p>';
  return page({
    title: heading,
    body: `<h1>${e(heading)}</h1>
<p class="muted">Request ${e(d.requestId)} for ${e(d.approver)}; this link works until ${e(when(d.expiresAt.toISOString()))}.</p>
${d.error ? `<p class="error" role="alert">${e(d.error)}</p>` : ''}
${system}
<h2>Your decision</h2>
<form method="post" action="${e(d.action)}">
<input type="hidden" name="csrf" value="${e(d.csrf)}">
<label for="comment">Comment (required to reject)</label>
<textarea id="comment" name="comment" rows="4" maxlength="4000"></textarea>
<p><button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="reject" class="secondary">Reject</button></p>
</form>`,
  });
}

export function messagePage(title: string, message: string, detail?: string): string {
  return page({
    title,
    body: `<h1>${e(title)}</h1><p>${e(message)}</p>${detail ? `<p class="muted">${e(detail)}</p>` : ''}`,
  });
}
