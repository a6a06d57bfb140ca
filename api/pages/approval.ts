import {
  answerInWords,
  briefFromState,
  friaInWords,
  impactScoreInWords,
  metricAnswers,
  residualInWords,
  reviewInWords,
  scalesInWords,
  scoreInWords,
  type ApprovalBrief,
} from '../../domain/approval-brief.js';
import type { ImpactAssessment } from '../../domain/assessment.js';
import { describeVerdict, verdictLines } from '../../domain/bias-gate.js';
import { controlLabel, stepReference, type StepId } from '../../domain/control-mapping.js';
import { describeClassification } from '../../domain/eu-ai-act.js';
import type { BiasEvidence } from '../../domain/evidence.js';
import type { Policy } from '../../domain/policy.js';
import type { TreatmentPlan } from '../../domain/treatment.js';
import type { ApprovalSubject } from '../approval-view.js';
import { escapeHtml as e, page } from '../html.js';

/** The documents in full, from the record store: the workflow holds only their digests. */
export interface ApprovalDocuments {
  assessment?: ImpactAssessment;
  evidence?: BiasEvidence;
  plan?: TreatmentPlan;
}

export interface ApprovalPageData {
  /** The request and what it covers, from the record store (api/approval-view.ts); null when not on record. */
  state: ApprovalSubject | null;
  documents: ApprovalDocuments;
  approver: string;
  requestId: string;
  expiresAt: Date;
  csrf: string;
  action: string;
  error?: string;
  /** The deployed policy: its scales and thresholds are put in words when the system runs under it. */
  policy?: Policy | null;
  /** The governance lead's reasons for accepting fairness risks, from the record store. */
  acceptanceReasons?: ApprovalBrief['acceptanceReasons'];
  /** For a review sign-off: the change the review described, from the record store. */
  reviewChange?: string | null;
}

const when = (iso: string) => iso.replace('T', ' ').slice(0, 16) + ' UTC';

/** Under each part's heading: the control or clause it is the evidence of (domain/control-mapping.ts). */
const cites = (step: StepId) => `<p class="muted cites">Evidence for ${e(stepReference(step))}</p>`;

function assessmentSection(state: ApprovalSubject, doc: ImpactAssessment | undefined, b: ApprovalBrief): string {
  const a = state.assessment;
  if (!a) return '<p class="muted">No impact assessment is on record.</p>';
  if (!doc)
    return `<h2>Impact assessment v${a.version}</h2><p class="error">The assessment document ${e(a.digest.slice(0, 16))}… cannot be read from the record store right now.</p>`;
  const rows = doc.impacts
    .map(
      (i) =>
        `<tr><td data-label="Area">${e(i.area.replaceAll('_', ' '))}</td><td data-label="Impact">${e(i.description)}</td><td data-label="Affected">${e(i.affected.join(', '))}</td><td data-label="Severity">${e(i.severity)}</td><td data-label="Likelihood">${e(i.likelihood)}</td><td data-label="Score">${e(impactScoreInWords(i, b.policy))}</td></tr>`,
    )
    .join('');
  const facts = b.assessment?.facts;
  const sources = doc.dataSources
    .map(
      (d) =>
        `<tr><td data-label="Source">${e(d.name)}</td><td data-label="Provenance">${e(d.provenance)}</td><td data-label="Personal data">${d.personalData ? 'yes' : 'no'}</td><td data-label="Quality measures">${e(d.qualityMeasures)}</td></tr>`,
    )
    .join('');
  const suppliers = doc.thirdParties
    .map(
      (t) =>
        `<tr><td data-label="Supplier">${e(t.name)}</td><td data-label="Role">${e(t.role.replaceAll('_', ' '))}</td><td data-label="Responsibilities">${e(t.responsibilities)}</td></tr>`,
    )
    .join('');
  return `
<h2>Impact assessment v${a.version}</h2>
${cites('impact_assessment')}
<p>Submitted by ${e(a.submittedBy)} on ${e(when(a.submittedAt))}. Risk tier <strong>${e(a.riskTier)}</strong> (highest score ${a.score}).</p>
<p id="score-in-words"><strong>Scores in words:</strong> the highest impact has ${e(scoreInWords(a.score, a.riskTier, b.policy))}.${b.policy ? ` ${e(scalesInWords(b.policy))}` : ` <span class="muted">(judged by policy ${e(b.policyVersion)}, whose scales are not the deployed policy's)</span>`}</p>
<p><strong>Intended purpose:</strong> ${e(doc.intendedPurpose)}</p>
<p><strong>Context of use:</strong> ${e(doc.contextOfUse)}</p>
${doc.foreseeableMisuse.length ? `<p><strong>Foreseeable misuse:</strong> ${e(doc.foreseeableMisuse.join('; '))}</p>` : ''}
<table class="stack words"><caption>Identified impacts</caption>
<thead><tr><th scope="col">Area</th><th scope="col">Impact</th><th scope="col">Affected</th><th scope="col">Severity</th><th scope="col">Likelihood</th><th scope="col">Score</th></tr></thead>
<tbody>${rows}</tbody></table>
<h3 id="eu-ai-act">EU AI Act classification</h3>
<p id="eu-ai-act-category">${facts ? e(describeClassification(facts)) : e(doc.euAiAct.category.replaceAll('_', ' '))}.</p>
<p id="eu-ai-act-rationale"><strong>Rationale:</strong> ${e(doc.euAiAct.rationale)}</p>
${doc.euAiAct.derogation ? `<p><strong>Why not high-risk (Art. 6(3)):</strong> ${e(doc.euAiAct.derogation.reasons)}</p>` : ''}
<h3 id="data-sources">Data sources</h3>
${cites('data_sources')}
${sources ? `<table class="stack words"><caption>Where the data comes from</caption><thead><tr><th scope="col">Source</th><th scope="col">Provenance</th><th scope="col">Personal data</th><th scope="col">Quality measures</th></tr></thead><tbody>${sources}</tbody></table>` : '<p class="muted">No data source is listed.</p>'}
<h3 id="suppliers">Suppliers and third parties</h3>
${cites('suppliers')}
${suppliers ? `<table class="stack words"><caption>Suppliers</caption><thead><tr><th scope="col">Supplier</th><th scope="col">Role</th><th scope="col">Responsibilities</th></tr></thead><tbody>${suppliers}</tbody></table>` : '<p class="muted">No supplier or third party is listed.</p>'}
${friaSection(doc, b)}`;
}

function friaSection(doc: ImpactAssessment, b: ApprovalBrief): string {
  if (!b.fria) return '';
  const f = doc.fria;
  const rows = f
    ? (
        [
          ['Processes', f.processes],
          ['Period and frequency', f.periodAndFrequency],
          ['Affected categories', f.affectedCategories.join(', ')],
          ['Specific risks', f.specificRisks],
          ['Human oversight', f.humanOversight],
          ['Mitigation and complaints', f.mitigationAndComplaints],
        ] as const
      )
        .map(([k, v]) => `<dt>${e(k)}</dt><dd>${e(v)}</dd>`)
        .join('')
    : '';
  return `<h3 id="fria">Fundamental rights impact assessment (EU AI Act Art. 27)</h3>
${cites('fria_notice')}
<p id="fria-status">${e(friaInWords(b.fria))}.</p>
${rows ? `<dl class="facts">${rows}</dl>` : ''}`;
}

function answersSection(b: ApprovalBrief): string {
  const answers = metricAnswers(b);
  if (answers.length === 0) return '';
  const rows = answers
    .map(
      (a) =>
        `<tr data-metric="${e(a.key)}"><td data-label="Metric">${e(describeVerdict(a.line))}</td><td data-label="Answered by">${e(answerInWords(a))}</td></tr>`,
    )
    .join('');
  return `<table class="stack words" id="metric-answers"><caption>Failed or inconclusive metrics, and what answers each</caption>
<thead><tr><th scope="col">Metric</th><th scope="col">Answered by</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function evidenceSection(state: ApprovalSubject, b: ApprovalBrief): string {
  const ev = state.evidence;
  if (!ev) return '';
  const lines = verdictLines(ev);
  const gated = ev.verdicts.some((v) => v.verdict !== undefined);
  const rows = ev.verdicts
    .map((v, i) => {
      const l = lines[i]!;
      const bound =
        [v.min !== undefined ? `≥ ${v.min}` : '', v.max !== undefined ? `≤ ${v.max}` : '']
          .filter(Boolean)
          .join(' and ') || 'no threshold';
      const result = gated
        ? l.verdict === 'pass'
          ? 'pass'
          : l.verdict === 'informational'
            ? 'recorded'
            : `<strong class="error">${e(l.verdict)}</strong>${l.accepted ? ' (risk accepted)' : ''}`
        : v.passed
          ? 'passed'
          : '<strong class="error">failed</strong>';
      const interval = l.ci ? `[${l.ci[0].toFixed(3)}, ${l.ci[1].toFixed(3)}]` : '—';
      const extra = gated
        ? `<td data-label="Interval">${e(interval)}</td><td data-label="Groups (rows)">${e(l.groups || '—')}${v.groupCount && v.groupCount > (v.groups?.length ?? 0) ? ` and ${v.groupCount - (v.groups?.length ?? 0)} more` : ''}</td><td data-label="Gates approval">${v.gating ? 'yes' : 'no'}</td>`
        : '';
      const value = v.value === null ? 'undefined' : String(v.value);
      return `<tr><td data-label="Metric">${e(v.name)}</td><td data-label="Feature">${e(v.sensitiveFeature)}</td><td data-label="Value">${e(value)}</td>${extra}<td data-label="Threshold">${e(bound)}</td><td data-label="Result">${result}${v.reason && gated ? `<br><span class="muted">${e(v.reason)}</span>` : ''}</td></tr>`;
    })
    .join('');
  const head = gated
    ? '<th scope="col">Metric</th><th scope="col">Feature</th><th scope="col">Value</th><th scope="col">Interval</th><th scope="col">Groups (rows)</th><th scope="col">Gates approval</th><th scope="col">Threshold</th><th scope="col">Result</th>'
    : '<th scope="col">Metric</th><th scope="col">Feature</th><th scope="col">Value</th><th scope="col">Threshold</th><th scope="col">Result</th>';
  const source =
    ev.source === 'computed'
      ? `Computed by the product from ${ev.rows ?? '?'} predictions (file SHA-256 ${e((ev.predictions ?? '').slice(0, 16))}…).`
      : ev.source === 'declared'
        ? 'Declared by the AI team: values typed in, without intervals or group sizes.'
        : '';
  const acceptances = (ev.accepted ?? [])
    .map((a) => `<li>${e(when(a.at))}: ${e(a.by)} accepted the risk of ${e(a.metrics.join(', '))}</li>`)
    .join('');
  return `<h2>Bias-testing evidence v${ev.version}</h2>
${cites('bias_evidence')}
<p>Test run on ${e(ev.effectiveDate)} for model ${e(ev.modelVersion)}; dataset: ${e(ev.dataset)}; judged by policy ${e(ev.policyVersion)}. ${source}</p>
<table class="stack words"><caption>Fairness metrics against the policy</caption>
<thead><tr>${head}</tr></thead>
<tbody>${rows}</tbody></table>${answersSection(b)}${acceptances ? `<h3>Risk accepted by the governance lead</h3><ul>${acceptances}</ul>` : ''}`;
}

function planSection(state: ApprovalSubject, doc: TreatmentPlan | undefined, b: ApprovalBrief): string {
  const plan = state.plan;
  if (!plan) return '';
  if (!doc)
    return `<h2>Risk-treatment plan v${plan.version}</h2><p class="error">The plan document cannot be read from the record store right now.</p>`;
  const rows = doc.items
    .map(
      (i) =>
        `<tr><td data-label="Risk">${e(i.risk)}</td><td data-label="Option">${e(i.option)}</td><td data-label="Annex A controls">${e(i.controls.map(controlLabel).join('; '))}</td><td data-label="Measures">${e(i.measures)}</td><td data-label="Owner">${e(i.owner)}, by ${e(i.dueDate)}</td><td data-label="Residual">${e(i.residualSeverity)} × ${e(i.residualLikelihood)}</td></tr>`,
    )
    .join('');
  return `<h2>Risk-treatment plan v${plan.version}</h2>
${cites('treatment_plan')}
<p>Highest residual risk score <strong>${plan.residualScore}</strong>${plan.requiresRiskAcceptance ? ' — <strong>above the risk appetite</strong>: the governance lead must accept it separately' : ' (within the risk appetite)'}.</p>
<p id="residual-in-words">In words: ${e(residualInWords(plan.residualScore, b.policy, plan.requiresRiskAcceptance))}.</p>
<table class="stack words"><caption>Treated risks</caption>
<thead><tr><th scope="col">Risk</th><th scope="col">Option</th><th scope="col">Annex A controls</th><th scope="col">Measures</th><th scope="col">Owner</th><th scope="col">Residual</th></tr></thead>
<tbody>${rows}</tbody></table>`;
}

function decisionsSection(state: ApprovalSubject): string {
  if (state.decisions.length === 0) return '';
  const items = state.decisions
    .map(
      (d) =>
        `<li>${e(when(d.decidedAt))}: ${e(d.approver)} — <strong>${e(d.decision)}</strong>${d.comment ? `: ${e(d.comment)}` : ''}</li>`,
    )
    .join('');
  return `<h2>Earlier decisions</h2><ul>${items}</ul>`;
}

function reviewSection(b: ApprovalBrief): string {
  if (!b.review) return '';
  return `<h2 id="review">The periodic review you sign off</h2>
${cites('review')}
<p id="review-summary">${e(reviewInWords(b.review))}</p>`;
}

/** The model as approved: the current version, and the registered one when a newer version replaced it. */
function modelLine(b: ApprovalBrief): string {
  const m = b.model;
  return `model ${e(m.name)} ${e(m.version)}${m.version !== m.registered ? ` <span class="muted">(registered as ${e(m.registered)}; this decision is on version ${e(m.version)})</span>` : ''}`;
}

/** What the approver sees on opening the link: everything needed to decide, and a form that only POST submits. */
export function approvalPage(d: ApprovalPageData): string {
  const s = d.state;
  const review = s?.approval?.kind === 'review';
  const heading = s
    ? review
      ? `Sign off the review of ${s.registration.name}?`
      : `Approve ${s.registration.name}?`
    : 'Approval request';
  const b = s ? briefFromState(s, d.documents, d.policy ?? null, d.acceptanceReasons, d.reviewChange) : null;
  const system =
    s && b
      ? `<p><strong>${e(s.registration.name)}</strong> (${e(s.systemId)}) — ${modelLine(b)}</p>
<p><strong>Purpose:</strong> ${e(s.registration.purpose)}</p>
<p><strong>Owner:</strong> ${e(s.registration.owner)} · <strong>Deployment:</strong> ${e(s.registration.deployment.context)}</p>
<p><strong>Affected stakeholders:</strong> ${e(s.registration.stakeholders.join(', '))}</p>
${reviewSection(b)}${assessmentSection(s, d.documents.assessment, b)}${evidenceSection(s, b)}${planSection(s, d.documents.plan, b)}${decisionsSection(s)}`
      : '<p class="muted">The system details cannot be loaded right now; you can still decide.</p>';
  return page({
    title: heading,
    body: `<h1>${e(heading)}</h1>
<p class="muted">Request ${e(d.requestId)} for ${e(d.approver)}; this link works until ${e(when(d.expiresAt.toISOString()))}.</p>
<p><a href="#decide">Go to your decision</a></p>
${d.error ? `<p class="error" role="alert">${e(d.error)}</p>` : ''}
${system}
<h2 id="decide">Your decision${s?.approval ? `: ${e(s.approval.kind.replaceAll('_', ' '))}, step ${s.approval.step} of ${s.approval.chain.length}` : ''}</h2>
${s?.approval ? cites(s.approval.kind === 'review' ? 'review' : 'plan_approval') : ''}
${s?.approval ? `<p class="muted">You decide on content with digest <code>${e(s.approval.digest.slice(0, 16))}…</code>; any later change needs a new decision.</p>` : ''}
<form method="post" action="${e(d.action)}">
<input type="hidden" name="csrf" value="${e(d.csrf)}">
<label for="comment">Comment (required to reject or request changes)</label>
<textarea id="comment" name="comment" rows="4" maxlength="4000"></textarea>
<label for="returnTo">If you request changes, send it back to</label>
<select id="returnTo" name="returnTo">
<option value="">risk treatment (default)</option>
<option value="bias_testing">bias testing</option>
<option value="impact_assessment">impact assessment</option>
</select>
<p><button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="request_changes" class="secondary">Request changes</button>
<button type="submit" name="decision" value="reject" class="secondary">Reject</button></p>
</form>
<details><summary>Delegate this decision to a deputy</summary>
<form method="post" action="${e(d.action)}/delegate">
<input type="hidden" name="csrf" value="${e(d.csrf)}">
<label for="deputy">Deputy's e-mail</label>
<input id="deputy" name="deputy" type="email" required>
<label for="reason">Reason</label>
<input id="reason" name="reason" type="text" maxlength="1000">
<p><button type="submit" class="secondary">Delegate</button></p>
</form></details>`,
  });
}

/** A short page with a title and a message; `actionHtml` is trusted markup (a form) built by the caller. */
export function messagePage(title: string, message: string, detail?: string, actionHtml = ''): string {
  return page({
    title,
    body: `<h1>${e(title)}</h1><p>${e(message)}</p>${detail ? `<p class="muted">${e(detail)}</p>` : ''}${actionHtml}`,
  });
}
