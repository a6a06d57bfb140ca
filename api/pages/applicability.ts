import {
  crosswalkDescriptions,
  crosswalkFilters,
  statusText,
  type ControlStatus,
  type Statement,
  type StatementControl,
} from '../../domain/applicability.js';
import { escapeHtml as e } from '../html.js';
import { governancePage, label, systemLink, timeEl } from './layout.js';

const statusBadge = (s: ControlStatus) =>
  `<span class="badge status-${e(s)}${s === 'no_evidence' ? ' high' : ''}">${e(statusText[s])}</span>`;

const filterLabels: Record<(typeof crosswalkFilters)[number], string> = {
  all: 'Every control',
  covered: 'What my ISMS already covers',
  open: 'What is still open',
};

function implementation(c: StatementControl): string {
  const steps = c.implementedBy
    .map(
      (r) =>
        `<li>${e(r.title)} <span class="muted">(${e(r.cites)})</span>${r.appliesWhen ? `<br><span class="muted">when ${e(r.appliesWhen)}</span>` : ''}</li>`,
    )
    .join('');
  const support = c.supportedBy.length
    ? `<p class="muted">Supported by: ${e(c.supportedBy.map((r) => r.title).join(', '))}</p>`
    : '';
  const expects = c.organisation.expects ? `<p>The organisation holds ${e(c.organisation.expects)}.</p>` : '';
  return `${steps ? `<ul class="plain">${steps}</ul>` : ''}${expects}${support}`;
}

function organisationEntries(c: StatementControl): string {
  if (c.organisation.entries.length === 0)
    return c.evidencedBy === 'organisation' ? '<p class="muted">No document recorded.</p>' : '';
  const items = c.organisation.entries
    .map(
      (x) =>
        `<li><strong>${e(x.documentReference)}</strong>, review by ${e(x.reviewDate)}${x.due ? ' <strong class="error">(review date passed)</strong>' : ''}${x.note ? `<br><span class="muted">${e(x.note)}</span>` : ''}<br><span class="muted">recorded by ${e(x.recordedBy)} ${timeEl(x.recordedAt)}</span></li>`,
    )
    .join('');
  return `<p>Organisation’s documents:</p><ul>${items}</ul>`;
}

function perSystem(c: StatementControl): string {
  if (c.systems.length === 0) return '';
  const items = c.systems
    .map((s) => {
      const evidence = s.evidence
        .map((x) => `<li><a href="${e(x.href)}">${e(x.what)}</a> <span class="muted">${timeEl(x.at)}</span></li>`)
        .join('');
      return `<li data-system="${e(s.systemId)}">${systemLink(s.systemId, s.name)} <span class="muted">(${e(label(s.stage))})</span>: ${statusBadge(s.status)} <span class="muted">${e(s.reason)}</span>${evidence ? `<ul>${evidence}</ul>` : ''}</li>`;
    })
    .join('');
  return `<ul class="plain systems">${items}</ul>`;
}

function controlRow(c: StatementControl): string {
  const applicable = c.applicable
    ? 'applicable'
    : `<strong>excluded</strong><br><span class="muted">${e(c.justification ?? '')}</span>`;
  return `<tr id="${e(c.id)}" data-status="${e(c.status)}">
<th scope="row" data-label="Control"><span class="nowrap">${e(c.id)}</span> ${e(c.title)}</th>
<td data-label="Applicability">${applicable}</td>
<td data-label="Implemented by">${implementation(c)}</td>
<td data-label="Status">${statusBadge(c.status)}<br><span class="muted">${e(c.reason)}</span></td>
<td data-label="Evidence">${organisationEntries(c)}${perSystem(c)}</td>
</tr>`;
}

function controlsTable(s: Statement): string {
  const groups = [...new Set(s.controls.map((c) => c.group))];
  return groups
    .map(
      (g) => `<table class="stack soa"><caption>${e(g)}</caption>
<thead><tr><th scope="col">Control</th><th scope="col">Applicability</th><th scope="col">Implemented by</th><th scope="col">Status</th><th scope="col">Evidence</th></tr></thead>
<tbody>${s.controls
        .filter((c) => c.group === g)
        .map(controlRow)
        .join('')}</tbody></table>`,
    )
    .join('\n');
}

function crosswalkSection(s: Statement): string {
  const options = crosswalkFilters
    .map(
      (f) =>
        `<li>${f === s.crosswalk.filter ? `<strong aria-current="true">${e(filterLabels[f])}</strong>` : `<a href="/statement-of-applicability?crosswalk=${f}#crosswalk">${e(filterLabels[f])}</a>`}</li>`,
    )
    .join('');
  const rows = s.crosswalk.entries
    .map(
      (r) => `<tr data-control="${e(r.control)}">
<th scope="row" data-label="ISO/IEC 42001"><a href="#${e(r.control)}">${e(r.control)}</a> ${e(r.title)}</th>
<td data-label="Status">${statusBadge(r.status)}</td>
<td data-label="ISO/IEC 27001:2022">${
        r.pairs.length
          ? `<ul class="plain">${r.pairs.map((p) => `<li><strong>${e(p.id)}</strong> ${e(p.title)} <span class="muted">(${e(p.theme)})</span><br>${e(p.reuse)}</li>`).join('')}</ul>`
          : '<span class="muted">no counterpart</span>'
      }</td>
<td data-label="AI-specific, no 27001 counterpart">${e(r.aiSpecific)}</td>
</tr>`,
    )
    .join('');
  return `<section aria-labelledby="crosswalk-h" id="crosswalk"><h2 id="crosswalk-h">ISO/IEC 27001:2022 cross-walk</h2>
<nav aria-label="Cross-walk filter"><ul class="plain filters">${options}</ul></nav>
<p class="muted">${e(crosswalkDescriptions[s.crosswalk.filter])}</p>
<table class="stack words" id="crosswalk-table"><caption>${s.crosswalk.entries.length} of ${s.controls.length} controls</caption>
<thead><tr><th scope="col">ISO/IEC 42001</th><th scope="col">Status</th><th scope="col">ISO/IEC 27001:2022 and the ISMS evidence to reuse</th><th scope="col">AI-specific, no 27001 counterpart</th></tr></thead>
<tbody>${rows}</tbody></table></section>`;
}

/** The Statement of Applicability as an auditor reads it, with the cross-walk beside it. */
export function statementPage(s: Statement, opts: { filterError?: string } = {}): string {
  const cards = (['implemented', 'partial', 'no_evidence', 'not_required', 'excluded'] as const)
    .map(
      (k) =>
        `<li${k === 'no_evidence' && s.summary[k] ? ' class="late"' : ''}><span class="n">${s.summary[k]}</span>${e(statusText[k])}</li>`,
    )
    .join('');
  const systems = s.systems.length
    ? s.systems.map((x) => `${systemLink(x.id, x.name)} <span class="muted">(${e(label(x.stage))})</span>`).join(', ')
    : 'none yet';
  const q = s.crosswalk.filter === 'all' ? '' : `&crosswalk=${s.crosswalk.filter}`;
  return governancePage({
    title: 'Statement of Applicability',
    nav: [
      { href: `/api/v1/statement-of-applicability?format=json${q}`, text: 'JSON' },
      { href: `/api/v1/statement-of-applicability?format=csv${q}`, text: 'CSV' },
    ],
    main: `<h1>Statement of Applicability</h1>
<p>The ${s.controls.length} controls of ISO/IEC 42001 Annex A (${e(s.cites)}): whether each applies, how the lifecycle implements it, and the evidence on record per AI system. Computed ${timeEl(s.generatedAt)} with control mapping v${e(s.mappingVersion)} and policy ${e(s.policyVersion)}.</p>
${opts.filterError ? `<p class="error" role="alert">${e(opts.filterError)}</p>` : ''}
<ul class="cards" aria-label="Controls by status">${cards}</ul>
<p><strong>AI systems:</strong> ${systems}</p>
<p><a href="#crosswalk">Go to the ISO/IEC 27001 cross-walk</a></p>
<section aria-labelledby="controls-h"><h2 id="controls-h">Annex A controls</h2>
${controlsTable(s)}
</section>
${crosswalkSection(s)}`,
  });
}
