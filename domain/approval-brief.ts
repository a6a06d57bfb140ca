import { recordsAtRequest, type AuditEvent } from './approval-records.js';
import { tierForScore, type ImpactAssessment } from './assessment.js';
import { blockingMetrics, describeVerdict, verdictLines, type VerdictLine } from './bias-gate.js';
import { describeClassification, euAiActFacts, friaScope, type EuAiActFacts } from './eu-ai-act.js';
import { metricKey, type MetricVerdict } from './evidence.js';
import type { ApprovalKind, FriaState, LifecycleState, PendingApproval, ReviewRecord } from './lifecycle.js';
import { likelihoods, severities, type Policy, type RiskTier } from './policy.js';
import type { Registration } from './system.js';
import type { TreatmentPlan } from './treatment.js';

/**
 * Everything an approver decides on, gathered once so the approval page and
 * the approval e-mail say the same: the model version being approved, the
 * EU AI Act classification with its rationale, data sources, suppliers, the
 * FRIA, the scores against the policy's scales in words, each failed or
 * inconclusive metric with what answers it, and for a review sign-off the
 * review itself.
 */
export interface ApprovalBrief {
  kind: ApprovalKind;
  model: { name: string; version: string; registered: string };
  riskTier: RiskTier | null;
  /** The policy the system's scores were judged by; null when only its version is known here. */
  policy: Policy | null;
  policyVersion: string;
  assessment: {
    version: number;
    score: number;
    riskTier: RiskTier;
    facts: EuAiActFacts | null;
    doc: ImpactAssessment | null;
  } | null;
  fria: Pick<FriaState, 'required' | 'basis' | 'notifiedAt' | 'authority' | 'reference'> | null;
  evidence: {
    version: number;
    verdicts: MetricVerdict[];
    failed: string[];
    inconclusive?: string[] | undefined;
    accepted?: { metrics: string[]; by: string; at: string }[] | undefined;
  } | null;
  /** The governance lead's acceptances with their reasons (the record store has the reasons, the state does not). */
  acceptanceReasons: { metrics: string[]; reasons: string }[];
  plan: { version: number; residualScore: number; requiresRiskAcceptance: boolean; doc: TreatmentPlan | null } | null;
  review: (Omit<ReviewRecord, 'cycle'> & { cycle: number; changeDescription?: string | null }) | null;
}

/** The deployed policy, when it is the one the system runs under: only then are its numbers the system's. */
export const policyFor = (version: string, deployed: Policy): Policy | null =>
  version === deployed.version ? deployed : null;

/** The highest score an impact can get: the top of both scales multiplied. */
export const maxScore = (p: Policy) =>
  Math.max(...Object.values<number>(p.riskScoring.severity)) *
  Math.max(...Object.values<number>(p.riskScoring.likelihood));

/** "severity negligible 1, minor 2, major 3, severe 4 × likelihood rare 1, …" */
export function scalesInWords(p: Policy): string {
  const sev = severities.map((s) => `${s} ${p.riskScoring.severity[s]}`).join(', ');
  const lik = likelihoods.map((l) => `${l} ${p.riskScoring.likelihood[l]}`).join(', ');
  return `Each impact is scored severity × likelihood (severity: ${sev}; likelihood: ${lik}), at most ${maxScore(p)}.`;
}

/** "score 9 of 16; the high tier starts at 9", from the policy's own thresholds. */
export function scoreInWords(score: number, tier: RiskTier, p: Policy | null): string {
  if (!p) return `score ${score}, risk tier ${tier}`;
  const { medium, high } = p.riskScoring.tierMinScore;
  const base = `score ${score} of ${maxScore(p)}`;
  const byScore = tierForScore(score, p);
  const where =
    byScore === 'high'
      ? `the high tier starts at ${high}`
      : byScore === 'medium'
        ? `the medium tier starts at ${medium}, the high tier at ${high}`
        : `the medium tier starts at ${medium}`;
  const raised = byScore !== tier ? `; the tier is ${tier} by the floor of its EU AI Act classification` : '';
  return `${base}; ${where}${raised}`;
}

/** "residual score 4 of 16; the risk appetite allows up to 4". */
export function residualInWords(residual: number, p: Policy | null, above: boolean): string {
  if (!p) return `residual score ${residual}${above ? ', above the risk appetite' : ', within the risk appetite'}`;
  const appetite = p.riskAppetite.maxResidualScore;
  return above
    ? `residual score ${residual} of ${maxScore(p)}, above the risk appetite of ${appetite}: the governance lead accepts it as a decision of its own`
    : `residual score ${residual} of ${maxScore(p)}; the risk appetite allows up to ${appetite}`;
}

export const impactScoreInWords = (
  i: { severity: (typeof severities)[number]; likelihood: (typeof likelihoods)[number] },
  p: Policy | null,
) =>
  p
    ? `${p.riskScoring.severity[i.severity]} × ${p.riskScoring.likelihood[i.likelihood]} = ${p.riskScoring.severity[i.severity] * p.riskScoring.likelihood[i.likelihood]} of ${maxScore(p)}`
    : `${i.severity} × ${i.likelihood}`;

/** A failed or inconclusive metric and what answers it: plan items naming it, the governance lead's acceptance. */
export interface MetricAnswer {
  key: string;
  line: VerdictLine;
  items: TreatmentPlan['items'];
  acceptance: { by: string; at: string; reasons: string | null } | null;
}

export function metricAnswers(b: Pick<ApprovalBrief, 'evidence' | 'plan' | 'acceptanceReasons'>): MetricAnswer[] {
  const ev = b.evidence;
  if (!ev) return [];
  const lines = verdictLines(ev);
  const keys = [...new Set(blockingMetrics(ev))];
  return keys.flatMap((key) => {
    const i = ev.verdicts.findIndex((v) => metricKey(v) === key);
    if (i < 0) return [];
    const accepted = (ev.accepted ?? []).find((a) => a.metrics.includes(key));
    const reasons = b.acceptanceReasons.find((a) => a.metrics.includes(key))?.reasons ?? null;
    return [
      {
        key,
        line: lines[i]!,
        items: (b.plan?.doc?.items ?? []).filter((item) => item.addressesMetrics.includes(key)),
        acceptance: accepted ? { by: accepted.by, at: accepted.at, reasons } : null,
      },
    ];
  });
}

/** How a metric's answer reads: the plan items and the acceptance, or that nothing answers it. */
export function answerInWords(a: MetricAnswer): string {
  const parts = [
    ...a.items.map((i) => `plan item "${i.risk}": ${i.measures} (${i.owner}, by ${i.dueDate})`),
    ...(a.acceptance
      ? [
          `risk accepted by ${a.acceptance.by} on ${a.acceptance.at.slice(0, 10)}${a.acceptance.reasons ? `: ${a.acceptance.reasons}` : ''}`,
        ]
      : []),
  ];
  return parts.length ? parts.join('; ') : 'no plan item or acceptance answers it';
}

export function friaInWords(f: NonNullable<ApprovalBrief['fria']>): string {
  const basis = f.basis ? ` (${f.basis})` : '';
  if (!f.required) return `not required${basis}`;
  const notified = f.notifiedAt
    ? `the market surveillance authority was notified on ${f.notifiedAt.slice(0, 10)}${f.authority ? ` (${f.authority}${f.reference ? `, reference ${f.reference}` : ''})` : ''}`
    : 'the market surveillance authority is still to be notified (Art. 27(3)) before the system goes live';
  return `required${basis}; ${notified}`;
}

export function reviewInWords(r: NonNullable<ApprovalBrief['review']>): string {
  const change = r.materialChange
    ? `a material change${r.changeDescription ? `: ${r.changeDescription}` : ''}`
    : 'no material change';
  return `Periodic review of cycle ${r.cycle} (${r.trigger}), by ${r.performedBy} on ${r.submittedAt.slice(0, 10)}, found ${change}. Monitoring: ${r.monitoringSummary}`;
}

/** The approver's reading list from the workflow's state and the documents it holds digests of. */
export function briefFromState(
  state: Pick<
    LifecycleState,
    | 'registration'
    | 'modelVersion'
    | 'riskTier'
    | 'policyVersion'
    | 'assessment'
    | 'fria'
    | 'evidence'
    | 'plan'
    | 'review'
  > & { approval: Pick<PendingApproval, 'kind'> | null },
  docs: { assessment?: ImpactAssessment | undefined; plan?: TreatmentPlan | undefined },
  deployed: Policy | null,
  acceptanceReasons: ApprovalBrief['acceptanceReasons'] = [],
  reviewChange?: string | null,
): ApprovalBrief {
  const a = state.assessment;
  return {
    kind: state.approval?.kind ?? 'treatment_plan',
    model: {
      name: state.registration.model.name,
      version: state.modelVersion,
      registered: state.registration.model.version,
    },
    riskTier: state.riskTier,
    policy: deployed && policyFor(state.policyVersion, deployed),
    policyVersion: state.policyVersion,
    assessment: a
      ? {
          version: a.version,
          score: a.score,
          riskTier: a.riskTier,
          facts:
            a.euAiAct ?? (docs.assessment ? euAiActFacts(docs.assessment.euAiAct) : { category: a.euAiActCategory }),
          doc: docs.assessment ?? null,
        }
      : null,
    fria: a ? state.fria : null,
    evidence: state.evidence,
    acceptanceReasons,
    plan: state.plan ? { ...state.plan, doc: docs.plan ?? null } : null,
    review:
      state.approval?.kind === 'review' && state.review
        ? { ...state.review, changeDescription: reviewChange ?? null }
        : null,
  };
}

/** The digests and records an approval request covered, read from the audit trail up to the request itself. */
export interface RequestRecords {
  kind: ApprovalKind;
  modelVersion: string | null;
  assessment: { version: number; score: number; riskTier: RiskTier; digest: string } | null;
  evidence: ApprovalBrief['evidence'];
  acceptanceReasons: ApprovalBrief['acceptanceReasons'];
  plan: { version: number; residualScore: number; requiresRiskAcceptance: boolean; digest: string } | null;
  review: ApprovalBrief['review'];
  notified: { notifiedAt: string; authority: string | null; reference: string | null } | null;
}

/**
 * What was current when `requestId` was requested (domain/approval-records.ts),
 * so every e-mail of one request (reminders, a renewed link) says the same.
 * Null when the request is not on record.
 */
export function requestRecords(events: readonly AuditEvent[], requestId: string): RequestRecords | null {
  const at = recordsAtRequest(events, requestId);
  if (!at.request) return null;
  const { assessment: a, evidence: ev, plan } = at;
  const kind = at.request.payload.kind as ApprovalKind;
  return {
    kind,
    modelVersion: at.modelVersion,
    assessment: a ? { version: a.version, score: a.score, riskTier: a.riskTier, digest: a.digest } : null,
    evidence: ev
      ? {
          version: ev.version,
          verdicts: ev.verdicts,
          failed: ev.failed,
          inconclusive: ev.inconclusive ?? [],
          accepted: at.acceptances.map((x) => ({ metrics: x.metrics, by: x.actor ?? 'the governance lead', at: x.at })),
        }
      : null,
    acceptanceReasons: at.acceptances.map((x) => ({ metrics: x.metrics, reasons: x.reasons })),
    plan: plan
      ? {
          version: plan.version,
          residualScore: plan.residualScore,
          requiresRiskAcceptance: plan.requiresRiskAcceptance,
          digest: plan.digest,
        }
      : null,
    review: kind === 'review' ? at.review : null,
    notified: at.notified,
  };
}

/** The brief from the audit trail and the documents, for an e-mail rendered outside the workflow. */
export function briefFromRecords(
  rec: RequestRecords,
  registration: Registration,
  docs: { assessment?: ImpactAssessment | undefined; plan?: TreatmentPlan | undefined },
  policy: Policy | null,
  policyVersion: string,
): ApprovalBrief {
  const facts = docs.assessment ? euAiActFacts(docs.assessment.euAiAct) : null;
  const scope = facts ? friaScope(registration.deployment.role, facts) : null;
  return {
    kind: rec.kind,
    model: {
      name: registration.model.name,
      version: rec.modelVersion ?? registration.model.version,
      registered: registration.model.version,
    },
    riskTier: rec.assessment?.riskTier ?? null,
    policy,
    policyVersion,
    assessment: rec.assessment ? { ...rec.assessment, facts, doc: docs.assessment ?? null } : null,
    fria: scope
      ? {
          required: scope.required,
          basis: scope.basis,
          notifiedAt: rec.notified?.notifiedAt ?? null,
          authority: rec.notified?.authority ?? null,
          reference: rec.notified?.reference ?? null,
        }
      : null,
    evidence: rec.evidence,
    acceptanceReasons: rec.acceptanceReasons,
    plan: rec.plan ? { ...rec.plan, doc: docs.plan ?? null } : null,
    review: rec.review,
  };
}

/** A paragraph, or a titled list, of an e-mail. */
export type BriefPart = string | { title: string; items: string[] };

/** The brief as an e-mail's paragraphs (plain text: the template escapes it for HTML). */
export function briefParts(b: ApprovalBrief): BriefPart[] {
  const parts: BriefPart[] = [];
  const m = b.model;
  parts.push(
    `Model: ${m.name} ${m.version}${m.version !== m.registered ? ` (registered as ${m.registered}; this approval is for ${m.version})` : ''}.`,
  );
  if (b.review) parts.push(reviewInWords(b.review));
  const a = b.assessment;
  if (a) {
    if (a.facts) parts.push(`EU AI Act: ${describeClassification(a.facts)}.`);
    if (a.doc) parts.push(`Rationale: ${a.doc.euAiAct.rationale}`);
    parts.push(
      `Risk tier ${a.riskTier}: the highest impact has ${scoreInWords(a.score, a.riskTier, b.policy)}.${b.policy ? ` ${scalesInWords(b.policy)}` : ` (policy ${b.policyVersion})`}`,
    );
    if (a.doc) {
      parts.push({
        title: 'Data sources:',
        items: a.doc.dataSources.length
          ? a.doc.dataSources.map(
              (d) =>
                `${d.name}: ${d.provenance} (${d.personalData ? 'personal data' : 'no personal data'}; quality: ${d.qualityMeasures})`,
            )
          : ['none listed'],
      });
      parts.push({
        title: 'Suppliers and third parties:',
        items: a.doc.thirdParties.length
          ? a.doc.thirdParties.map((t) => `${t.name} (${t.role.replaceAll('_', ' ')}): ${t.responsibilities}`)
          : ['none listed'],
      });
    }
  }
  if (b.fria) {
    const f = a?.doc?.fria;
    parts.push(
      f
        ? {
            title: `Fundamental rights impact assessment (EU AI Act Art. 27): ${friaInWords(b.fria)}.`,
            items: [
              `Processes: ${f.processes}`,
              `Period and frequency: ${f.periodAndFrequency}`,
              `Affected: ${f.affectedCategories.join(', ')}`,
              `Specific risks: ${f.specificRisks}`,
              `Human oversight: ${f.humanOversight}`,
              `Mitigation and complaints: ${f.mitigationAndComplaints}`,
            ],
          }
        : `Fundamental rights impact assessment (EU AI Act Art. 27): ${friaInWords(b.fria)}.`,
    );
  }
  const answers = metricAnswers(b);
  if (answers.length) {
    parts.push({
      title: 'Failed or inconclusive fairness metrics, and what answers each:',
      items: answers.map((x) => `${describeVerdict(x.line)} → ${answerInWords(x)}`),
    });
  }
  if (b.plan) {
    parts.push(
      `Risk-treatment plan v${b.plan.version}${b.plan.doc ? ` (${b.plan.doc.items.length} treated risk${b.plan.doc.items.length === 1 ? '' : 's'})` : ''}: ${residualInWords(b.plan.residualScore, b.policy, b.plan.requiresRiskAcceptance)}.`,
    );
  }
  return parts;
}
