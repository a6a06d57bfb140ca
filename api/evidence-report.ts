import {
  clauseTitles,
  controlLabel,
  controlMapping,
  mappingStep,
  stepReference,
  type StepId,
} from '../domain/control-mapping.js';
import type { AuditVerification } from '../domain/audit.js';
import type { SystemRecords } from '../domain/records.js';
import { escapeHtml } from './html.js';

/**
 * The evidence pack's report.html: one self-contained page (its CSS inline,
 * nothing fetched), readable offline and printable, in the order an auditor
 * reads a system: what it is, how it was assessed, tested, treated and
 * approved, how it was operated, and the proof that the records are intact.
 * Every part is labelled with the ISO/IEC 42001 controls and clauses its
 * records evidence, from domain/control-mapping.ts and nowhere else. Every
 * piece of recorded text is escaped.
 */

export interface ReportInput {
  records: SystemRecords;
  verification: AuditVerification;
  generatedAt: string;
  generatedBy: string;
  /** The pack's record files with their SHA-256, listed so the printed report names what it summarises. */
  files: { path: string; sha256: string; bytes: number }[];
}

const CSS = `
:root { --fg:#1a1a1a; --muted:#4a4a4a; --border:#c8ccd2; --subtle:#f4f5f7; --ok:#1b6e2d; --bad:#b3261e; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 62rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 2rem 0 .25rem; padding-top: .5rem; border-top: 2px solid var(--fg); }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .25rem; }
h4 { font-size: .95rem; margin: 1rem 0 .25rem; }
p { margin: .4rem 0; }
.muted { color: var(--muted); }
.controls { margin: .25rem 0 .75rem; padding: .5rem .75rem; background: var(--subtle); border-left: 4px solid var(--fg); }
.controls .ref { font-weight: 600; }
.controls ul { margin: .25rem 0 0; padding-left: 1.25rem; }
.ok { color: var(--ok); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
table { width: 100%; border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { text-align: left; vertical-align: top; padding: .3rem .45rem; border: 1px solid var(--border);
  overflow-wrap: anywhere; }
th { background: var(--subtle); font-weight: 600; }
dl.kv { display: grid; grid-template-columns: minmax(9rem, max-content) 1fr; gap: .15rem .75rem; margin: .4rem 0; }
dl.kv dt { font-weight: 600; }
dl.kv dd { margin: 0; overflow-wrap: anywhere; }
code, .hash { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .82rem;
  overflow-wrap: anywhere; }
nav ol { columns: 2; }
.none { font-style: italic; color: var(--muted); }
@page { size: A4; margin: 16mm 14mm; }
@media print {
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-before: page; border-top: none; }
  h2.first { break-before: auto; }
  h2, h3, h4 { break-after: avoid; }
  tr, .controls, dl.kv { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
`;

const e = (v: unknown): string => escapeHtml(v === null || v === undefined ? '—' : String(v));
const hash = (h: string | null | undefined) => (h ? `<span class="hash">${e(h)}</span>` : '—');
const none = (what: string) => `<p class="none">${e(what)}</p>`;

/** A step's label block: the reference the mapping gives, and each control and clause by name. */
function controls(steps: StepId[]): string {
  const items: string[] = [];
  for (const id of steps) {
    const s = mappingStep(id);
    const parts = [
      ...s.implements.map((c) => `implements ${e(controlLabel(c))}`),
      ...s.supports.map((c) => `supports ${e(controlLabel(c))}`),
      ...s.clauses.map((c) => `clause ${e(c)} ${e(clauseTitles[c])}`),
    ];
    items.push(
      `<li><span class="ref">${e(s.title)}: ${e(stepReference(id))}</span>` +
        (parts.length ? `<br><span class="muted">${parts.join('; ')}</span>` : '') +
        `<br><span class="muted">Produces ${e(s.produces)}.</span></li>`,
    );
  }
  return `<div class="controls">Evidences<ul>${items.join('')}</ul></div>`;
}

/** Any recorded JSON value, as nested definition lists and tables: nothing recorded is left out of the page. */
function value(v: unknown, depth = 0): string {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'object') return e(v);
  if (Array.isArray(v)) {
    if (v.length === 0) return '<span class="muted">none</span>';
    const rows = v as unknown[];
    const allObjects = rows.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r));
    if (allObjects && depth < 4) {
      const keys = [...new Set(rows.flatMap((r) => Object.keys(r as object)))];
      const flat = rows.every((r) =>
        Object.values(r as object).every((x) => x === null || typeof x !== 'object' || Array.isArray(x)),
      );
      if (flat && keys.length <= 8) {
        return `<table><thead><tr>${keys.map((k) => `<th>${e(k)}</th>`).join('')}</tr></thead><tbody>${rows
          .map(
            (r) =>
              `<tr>${keys.map((k) => `<td>${value((r as Record<string, unknown>)[k], depth + 1)}</td>`).join('')}</tr>`,
          )
          .join('')}</tbody></table>`;
      }
    }
    if (rows.every((r) => r === null || typeof r !== 'object')) return rows.map((r) => e(r)).join(', ');
    return rows.map((r, i) => `<h4>${i + 1}.</h4>${value(r, depth + 1)}`).join('');
  }
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) return '<span class="muted">none</span>';
  return `<dl class="kv">${entries.map(([k, x]) => `<dt>${e(k)}</dt><dd>${value(x, depth + 1)}</dd>`).join('')}</dl>`;
}

const kv = (pairs: [string, string][]) =>
  `<dl class="kv">${pairs.map(([k, v]) => `<dt>${e(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;
const audited = (ref: { seq: number; hash: string } | null) =>
  ref ? `audit entry #${ref.seq} ${hash(ref.hash)}` : '<span class="muted">no audit entry</span>';

interface Part {
  id: string;
  title: string;
  steps: StepId[];
  body: string;
}

function parts(r: SystemRecords, verification: AuditVerification, files: ReportInput['files']): Part[] {
  const reg = r.registration;
  const list: Part[] = [];

  list.push({
    id: 'registration',
    title: 'Registration',
    steps: ['registration'],
    body:
      kv([
        ['System', e(reg.systemId)],
        ['Team', e(reg.team)],
        ['Registered by', e(reg.registeredBy)],
        ['Registered at', e(reg.registeredAt)],
        ['Stage', e(reg.current?.stage)],
        ['Risk tier', e(reg.current?.riskTier)],
        ['Review due', e(reg.current?.stage === 'retired' ? null : reg.current?.reviewDueAt)],
        ['Policy', e(reg.current?.policyVersion)],
      ]) +
      '<h3>The registration as submitted</h3>' +
      (reg.registration ? value(reg.registration) : none('The lifecycle has recorded no registration yet.')),
  });

  const assessmentBody = r.assessments.length
    ? r.assessments
        .map((a) => {
          const { dataSources, thirdParties, ...rest } = a.content;
          return (
            `<h3>Assessment v${e(a.version)}</h3>` +
            kv([
              ['Risk tier', e(a.riskTier)],
              ['Score', e(a.score)],
              ['Submitted', `${e(a.submittedAt)} by ${e(a.submittedBy)}`],
              ['Digest', hash(a.digest)],
              ['Recorded', audited(a.audit)],
            ]) +
            value(rest) +
            `<h4>Data sources</h4>${controls(['data_sources'])}${value(dataSources ?? [])}` +
            `<h4>Suppliers and third parties</h4>${controls(['suppliers'])}${value(thirdParties ?? [])}`
          );
        })
        .join('')
    : none('No impact assessment has been submitted.');
  list.push({ id: 'assessment', title: 'Impact assessment', steps: ['impact_assessment'], body: assessmentBody });

  list.push({
    id: 'bias-evidence',
    title: 'Bias-testing evidence',
    steps: ['bias_evidence'],
    body: r.biasEvidence.length
      ? r.biasEvidence
          .map(
            (b) =>
              `<h3>Evidence v${e(b.version)} (${e(b.source)})</h3>` +
              kv([
                ['Submitted', `${e(b.submittedAt)} by ${e(b.submittedBy)}`],
                ['Effective date', e(b.effectiveDate)],
                ['Model version', e(b.modelVersion)],
                ['Policy', e(b.policyVersion)],
                ['Document', `${e(b.files.document.kind)} ${hash(b.files.document.digest)}`],
                [
                  'Predictions file',
                  b.files.predictions
                    ? `${hash(b.files.predictions.sha256)} (${e(b.files.predictions.rows)} rows, ${e(b.files.predictions.bytes)} bytes)`
                    : '—',
                ],
                ['Failed', e(b.failed.join(', ') || 'none')],
                ['Inconclusive', e(b.inconclusive.join(', ') || 'none')],
                ['With review', e(b.reviewCycle === null ? 'no' : `cycle ${b.reviewCycle}`)],
                ['Recorded', audited(b.audit)],
              ]) +
              `<h4>Verdicts</h4>${value(b.verdicts)}` +
              (b.acceptances.length ? `<h4>Risk accepted by the governance lead</h4>${value(b.acceptances)}` : '') +
              (b.submitted ? `<h4>Metrics as submitted</h4>${value(b.submitted)}` : '') +
              (b.fairnessReport
                ? `<h4>Fairness report (computed)</h4>${value({ groups: b.fairnessReport.groups, metrics: b.fairnessReport.metrics })}`
                : ''),
          )
          .join('')
      : none('No bias-testing evidence is on record.'),
  });

  list.push({
    id: 'treatment-plan',
    title: 'Risk-treatment plan',
    steps: ['treatment_plan'],
    body: r.treatmentPlans.length
      ? r.treatmentPlans
          .map(
            (t) =>
              `<h3>Plan v${e(t.version)}</h3>` +
              kv([
                ['Submitted', `${e(t.submittedAt)} by ${e(t.submittedBy)}`],
                ['Residual score', e(t.residualScore)],
                ['Requires risk acceptance', e(t.requiresRiskAcceptance)],
                ['Digest', hash(t.digest)],
                ['Recorded', audited(t.audit)],
              ]) +
              value(t.content),
          )
          .join('')
      : none('No risk-treatment plan has been submitted.'),
  });

  const requests = r.approvals.requests;
  list.push({
    id: 'approvals',
    title: 'Approvals',
    steps: ['plan_approval', 'segregation_of_duties'],
    body:
      (requests.length
        ? `<table><thead><tr><th>Request</th><th>Step</th><th>Approver</th><th>Requested</th><th>Approves digest</th><th>Outcome</th><th>Decided</th><th>Comment</th></tr></thead><tbody>${requests
            .map(
              (q) =>
                `<tr><td><code>${e(q.requestId)}</code><br>${e(q.kind)}</td><td>${e(q.step)} of ${e(q.of)}<br>${e(q.role)}</td>` +
                `<td>${e(q.approver)}${q.delegatedFrom ? `<br><span class="muted">for ${e(q.delegatedFrom)}</span>` : ''}</td>` +
                `<td>${e(q.requestedAt)}</td><td>${hash(q.digest)}</td>` +
                `<td>${e(q.decision?.decision ?? q.outcome)}${q.delegation ? ` to ${e(q.delegation.to)}` : ''}${q.withdrawal ? `: ${e(q.withdrawal.reason)}` : ''}</td>` +
                `<td>${e(q.decision?.decidedAt ?? null)}${q.decision ? ` via ${e(q.decision.via)}` : ''}</td><td>${e(q.decision?.comment ?? null)}</td></tr>`,
            )
            .join('')}</tbody></table>`
        : none('No approval has been requested.')) +
      (r.approvals.invalidations.length
        ? `<h3>Approvals invalidated</h3>${value(r.approvals.invalidations.map((i) => ({ at: i.at, by: i.actor, digest: i.digest, reason: i.reason })))}`
        : ''),
  });

  list.push({
    id: 'fria',
    title: 'FRIA notification to the authority',
    steps: ['fria_notice'],
    body: r.friaNotifications.length
      ? value(r.friaNotifications.map(({ audit: _audit, ...n }) => n))
      : none('No authority notification is on record (required only where EU AI Act Art. 27 asks for one).'),
  });

  list.push({
    id: 'model-versions',
    title: 'Model versions',
    steps: ['model_version'],
    body: r.modelVersions.length
      ? value(r.modelVersions.map(({ audit: _audit, ...m }) => m))
      : none('No new model version has been announced since registration.'),
  });

  list.push({
    id: 'incidents',
    title: 'Incidents and corrective actions',
    steps: ['incident', 'corrective_action'],
    body: r.incidents.length
      ? r.incidents
          .map(
            (i) =>
              `<h3>${e(i.id)} (${e(i.severity)})</h3>` +
              kv([
                ['Reported', `${e(i.reportedAt)} by ${e(i.reportedBy)}`],
                ['Description', e(i.description)],
                ['Corrective action', e(i.correctiveAction)],
                ['Owner', e(i.correctiveActionOwner)],
                ['Due', e(i.correctiveActionDueAt)],
                [
                  'Closed',
                  i.closure
                    ? `${e(i.closure.closedAt)} by ${e(i.closure.closedBy)}: ${e(i.closure.resolution)}`
                    : '<span class="bad">open</span>',
                ],
                ['Recorded', audited(i.audit)],
              ]),
          )
          .join('')
      : none('No incident has been reported.'),
  });

  list.push({
    id: 'reviews',
    title: 'Periodic reviews',
    steps: ['review'],
    body: r.reviews.length
      ? r.reviews
          .map(
            (v) =>
              `<h3>Review of cycle ${e(v.cycle)} (${e(v.trigger)})</h3>` +
              kv([
                ['Submitted', `${e(v.submittedAt)} by ${e(v.performedBy)}`],
                ['Material change', e(v.materialChange)],
                ['Change', e(v.changeDescription)],
                ['Monitoring', e(v.monitoringSummary)],
                ['Bias evidence', e(v.biasEvidenceVersion === null ? 'none' : `v${v.biasEvidenceVersion}`)],
                ['Recorded', audited(v.audit)],
              ]) +
              `<h4>Sign-off</h4>${
                v.signOff.length
                  ? value(
                      v.signOff.map((d) => ({
                        step: d.step,
                        approver: d.approver,
                        decision: d.decision,
                        decidedAt: d.decidedAt,
                        comment: d.comment,
                        digest: d.digest,
                      })),
                    )
                  : none('Not signed off yet.')
              }`,
          )
          .join('')
      : none('No periodic review has been submitted.'),
  });

  const retired = reg.retirement;
  list.push({
    id: 'retirement',
    title: 'Retirement',
    steps: ['retirement'],
    body: retired
      ? kv([
          ['Retired', `${e(retired.at)} by ${e(retired.by)}`],
          ['Reason', e(retired.reason)],
          ['Recorded', audited(retired.audit)],
        ])
      : none('The system is not retired.'),
  });

  list.push({
    id: 'notifications',
    title: 'Notifications sent',
    steps: ['audit_trail'],
    body: r.notifications.length
      ? value(
          r.notifications.map((n) => ({
            createdAt: n.createdAt,
            kind: n.kind,
            to: n.to,
            subject: n.subject,
            status: n.status,
            sentAt: n.sentAt,
            lastError: n.lastError,
          })),
        )
      : none('No e-mail is on record.'),
  });

  const verdict = verification.ok
    ? '<span class="ok">intact</span>'
    : `<span class="bad">broken at record #${e(verification.brokenAtSeq)} (${e(verification.brokenBy)}): ${e(verification.reason)}</span>`;
  list.push({
    id: 'audit-trail',
    title: 'Audit trail and its verification',
    steps: ['audit_trail'],
    body:
      kv([
        ['Verdict', verdict],
        ['Records', e(verification.count)],
        ['Chain head', verification.head ? `#${e(verification.head.seq)} ${hash(verification.head.hash)}` : '—'],
        ['Anchor', `${e(verification.anchored.status)}: ${e(verification.anchored.detail)}`],
      ]) +
      `<table><thead><tr><th>#</th><th>At</th><th>Type</th><th>Actor</th><th>Evidences</th><th>Hash</th></tr></thead><tbody>${r.audit
        .map(
          (a) =>
            `<tr><td>${e(a.seq)}</td><td>${e(a.at)}</td><td>${e(a.type)}</td><td>${e(a.actor)}</td>` +
            `<td>${e(a.steps.map((s) => mappingStep(s as StepId).title).join(', ') || '')}</td><td>${hash(a.hash)}</td></tr>`,
        )
        .join('')}</tbody></table>`,
  });

  list.push({
    id: 'files',
    title: 'Files in this pack',
    steps: ['audit_trail'],
    body:
      '<p>Each record file with its SHA-256; manifest.json lists these and this report. Compare with <code>sha256sum</code>.</p>' +
      `<table><thead><tr><th>File</th><th>Bytes</th><th>SHA-256</th></tr></thead><tbody>${files
        .map((f) => `<tr><td><code>${e(f.path)}</code></td><td>${e(f.bytes)}</td><td>${hash(f.sha256)}</td></tr>`)
        .join('')}</tbody></table>`,
  });
  return list;
}

export function renderEvidenceReport(input: ReportInput): string {
  const { records, verification } = input;
  const reg = records.registration;
  const name = reg.current?.name ?? reg.systemId;
  const all = parts(records, verification, input.files);
  const sections = all
    .map(
      (part, i) =>
        `<section id="${e(part.id)}"><h2${i === 0 ? ' class="first"' : ''}>${i + 1}. ${e(part.title)}</h2>${controls(part.steps)}${part.body}</section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evidence pack: ${e(name)} (${e(reg.systemId)})</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
<h1>Evidence pack: ${e(name)}</h1>
<p class="muted">AI system <code>${e(reg.systemId)}</code> · generated ${e(input.generatedAt)} by ${e(input.generatedBy)} · control mapping version ${e(controlMapping.version)}</p>
<p>Audit trail: ${verification.ok ? '<span class="ok">verified intact</span>' : '<span class="bad">broken</span>'} · ${e(verification.count)} records · head ${verification.head ? `#${e(verification.head.seq)} ${hash(verification.head.hash)}` : '—'}</p>
</header>
<nav aria-label="Contents"><ol>${all.map((p) => `<li><a href="#${e(p.id)}">${e(p.title)}</a></li>`).join('')}</ol></nav>
${sections}
</main>
</body>
</html>
`;
}
