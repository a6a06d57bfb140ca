import { z } from 'zod';
import {
  controlMapping,
  mappingControl,
  mappingStep,
  stepReference,
  stepsForControl,
  type StepId,
} from './control-mapping.js';
import { annexAControls, controlIds, type ControlId } from './controls.js';
import { crosswalkEntry } from './crosswalk.js';
import { iso27001Control } from './iso27001.js';
import type { ApplicabilityPolicy } from './soa-policy.js';
import { storable } from './storable.js';

/**
 * The Statement of Applicability (ISO/IEC 42001 clause 6.1.3(d)), computed
 * from what is on record: for each of the 38 Annex A controls, whether it is
 * applicable or excluded (and why), which lifecycle steps implement it, and
 * per system the evidence with a status; organisation-level controls show the
 * organisation's own entries. Pure: the caller reads the record store and
 * passes `now`.
 */

// ---- inputs -----------------------------------------------------------------------------------

export { applicabilityPolicySchema, type ApplicabilityPolicy } from './soa-policy.js';

/** What an admin records for a control: the document that evidences it and when it is next reviewed. */
export const organisationEntrySchema = storable(
  z.object({
    documentReference: z.string().trim().min(1, 'is required').max(500),
    reviewDate: z.iso.date('must be a date, YYYY-MM-DD'),
    note: z.string().trim().max(4000).default(''),
  }),
);
export type OrganisationEntryInput = z.infer<typeof organisationEntrySchema>;

export interface OrganisationEntry {
  id: number;
  control: ControlId;
  documentReference: string;
  reviewDate: string;
  note: string;
  recordedBy: string;
  recordedAt: string;
}

export interface SystemRecords {
  systemId: string;
  name: string;
  stage: string;
  riskTier: string | null;
  reviewDueAt: string | null;
  registration: unknown;
  /** Audit-trail events, in chain order (only the evidence types are needed). */
  events: { seq: number; type: string; actor: string | null; at: string; payload: unknown }[];
  latestAssessment: { version: number; content: unknown } | null;
  plans: Map<string, unknown>;
}

// ---- outputs ----------------------------------------------------------------------------------

export const controlStatuses = ['implemented', 'partial', 'no_evidence', 'not_required', 'excluded'] as const;
export type ControlStatus = (typeof controlStatuses)[number];

export const statusText: Record<ControlStatus, string> = {
  implemented: 'implemented',
  partial: 'partial',
  no_evidence: 'no evidence yet',
  not_required: 'not required',
  excluded: 'excluded',
};

export interface EvidenceItem {
  step: StepId | 'treatment_plan_item';
  what: string;
  at: string;
  actor: string | null;
  /** The record on the system page's timeline. */
  href: string;
}

export interface SystemControlStatus {
  systemId: string;
  name: string;
  stage: string;
  status: Exclude<ControlStatus, 'excluded'>;
  /** Why the status is what it is, in a sentence. */
  reason: string;
  evidence: EvidenceItem[];
}

export interface StepRef {
  step: StepId;
  title: string;
  cites: string;
  appliesWhen?: string;
}

export interface StatementControl {
  id: ControlId;
  title: string;
  group: string;
  evidencedBy: 'lifecycle' | 'organisation';
  applicable: boolean;
  justification: string | null;
  implementedBy: StepRef[];
  supportedBy: StepRef[];
  status: ControlStatus;
  reason: string;
  organisation: { expects: string | null; entries: (OrganisationEntry & { due: boolean })[] };
  /** Lifecycle controls: every system. Organisation-level ones: the systems with supporting evidence. */
  systems: SystemControlStatus[];
}

export const crosswalkFilters = ['all', 'covered', 'open'] as const;
export type CrosswalkFilter = (typeof crosswalkFilters)[number];

export interface CrosswalkRow {
  control: ControlId;
  title: string;
  status: ControlStatus;
  /** partial: an ISMS has evidence to reuse, the AI-specific rest remains; none: nothing to reuse. */
  coverage: 'partial' | 'none';
  pairs: { id: string; title: string; theme: string; reuse: string }[];
  aiSpecific: string;
}

export interface Statement {
  generatedAt: string;
  mappingVersion: string;
  policyVersion: string;
  cites: string;
  summary: Record<ControlStatus, number>;
  systems: { id: string; name: string; stage: string; riskTier: string | null; href: string }[];
  controls: StatementControl[];
  crosswalk: { filter: CrosswalkFilter; description: string; entries: CrosswalkRow[] };
}

/** The objectives of Annex A, as the standard heads them. */
export const controlGroups: Record<string, string> = {
  'A.2': 'Policies related to AI',
  'A.3': 'Internal organization',
  'A.4': 'Resources for AI systems',
  'A.5': 'Assessing impacts of AI systems',
  'A.6': 'AI system life cycle',
  'A.7': 'Data for AI systems',
  'A.8': 'Information for interested parties of AI systems',
  'A.9': 'Use of AI systems',
  'A.10': 'Third-party and customer relationships',
};
const groupOf = (id: ControlId) => id.split('.').slice(0, 2).join('.');

/** Every event type the statement reads: what the mapping names, and what judges it. */
export const evidenceEventTypes: readonly string[] = [
  ...new Set([
    ...controlMapping.steps.flatMap((s) => s.records.map((r) => r.event)),
    'stage_changed',
    'approval_requested',
    'approval_invalidated',
    'bias_evidence_submitted',
    'fairness_risk_accepted',
  ]),
];

// ---- per system, per step ---------------------------------------------------------------------

type Ev = SystemRecords['events'][number];
type P = Record<string, any>;
const pl = (e: Ev) => (e.payload ?? {}) as P;

interface StepEvidence {
  state: 'done' | 'partial' | 'none' | 'not_required';
  reason: string;
  items: EvidenceItem[];
}

const href = (systemId: string, seq: number) => `/systems/${encodeURIComponent(systemId)}#event-${seq}`;
const day = (iso: string | null | undefined) => (iso ? iso.slice(0, 10) : '—');
const list = (xs: unknown) => (Array.isArray(xs) ? xs.map(String).join(', ') : '');

/** Of the chains the system went through, which completed: a final-step approval names a request of step `of`. */
function completedChains(events: Ev[], purpose: 'lifecycle' | 'review'): Ev[] {
  const finalSteps = new Set(
    events.filter((e) => e.type === 'approval_requested' && pl(e).step === pl(e).of).map((e) => pl(e).requestId),
  );
  return events.filter(
    (e) =>
      e.type === 'decision_recorded' &&
      pl(e).purpose === purpose &&
      pl(e).decision === 'approve' &&
      finalSteps.has(pl(e).requestId),
  );
}

function describe(e: Ev): string {
  const p = pl(e);
  switch (e.type) {
    case 'stage_changed':
      return 'Registered';
    case 'assessment_submitted':
      return `Impact assessment v${p.version} (risk tier ${p.riskTier})`;
    case 'bias_evidence_submitted':
      return `Bias-testing evidence v${p.version} for model ${p.modelVersion} (tested ${p.effectiveDate})${list(p.failed) ? `: failed ${list(p.failed)}` : ''}${list(p.inconclusive) ? `; inconclusive ${list(p.inconclusive)}` : ''}`;
    case 'fairness_risk_accepted':
      return `Fairness risk accepted by ${e.actor ?? 'the governance lead'}`;
    case 'treatment_plan_submitted':
      return `Risk-treatment plan v${p.version} (residual score ${p.residualScore})`;
    case 'decision_recorded':
      return `${String(p.decision).replaceAll('_', ' ')} by ${p.approver} (${String(p.kind).replaceAll('_', ' ')}, step ${p.step})`;
    case 'fria_authority_notified':
      return `Authority notified: ${p.authority}${p.reference ? ` (reference ${p.reference})` : ''}`;
    case 'review_submitted':
      return `Periodic review, cycle ${p.cycle}${p.materialChange ? ', with a material change' : ''}`;
    case 'model_version_changed':
      return `Model version ${p.from} → ${p.to}`;
    case 'reassessment_pending':
      return `Reassessment pending for model version ${p.modelVersion}`;
    case 'incident_reported':
      return `Incident ${p.id} (${p.severity})`;
    case 'corrective_action_reminder_sent':
      return `Corrective action for incident ${p.incidentId}: ${p.owner} reminded, due ${day(p.dueAt)}`;
    case 'corrective_action_overdue':
      return `Corrective action for incident ${p.incidentId} overdue since ${day(p.dueAt)}: notice ${p.escalation} to ${p.owner} and the governance lead`;
    case 'corrective_action_closed':
      return `Corrective action for incident ${p.incidentId} closed`;
    case 'system_retired':
      return `Retired: ${p.reason}`;
    default:
      return e.type.replaceAll('_', ' ');
  }
}

const item = (s: SystemRecords, step: StepId, e: Ev, what = describe(e)): EvidenceItem => ({
  step,
  what,
  at: e.at,
  actor: e.actor,
  href: href(s.systemId, e.seq),
});

const ofType = (s: SystemRecords, ...types: string[]) => s.events.filter((e) => types.includes(e.type));
const last = <T>(xs: T[]): T | undefined => xs[xs.length - 1];
const enteredStage = (s: SystemRecords, to: string) => ofType(s, 'stage_changed').some((e) => pl(e).to === to);
const WORK_STAGES = ['impact_assessment', 'bias_testing', 'risk_treatment'];

function stepEvidence(s: SystemRecords, step: StepId, now: Date): StepEvidence {
  const none = (reason: string): StepEvidence => ({ state: 'none', reason, items: [] });
  const assessmentEvents = ofType(s, 'assessment_submitted');
  const content = (s.latestAssessment?.content ?? {}) as P;
  const lastAssessment = last(assessmentEvents);
  switch (step) {
    case 'registration': {
      const items = s.events
        .filter((e) => e.type === 'stage_changed' && pl(e).from == null)
        .map((e) => item(s, step, e));
      return items.length
        ? { state: 'done', reason: 'registered with its intended purpose', items }
        : none('not registered');
    }
    case 'impact_assessment': {
      const items = assessmentEvents.map((e) => item(s, step, e));
      if (!items.length) return none('no impact assessment submitted yet');
      if (s.stage === 'impact_assessment')
        return { state: 'partial', reason: 'a new impact assessment is asked for', items };
      return { state: 'done', reason: `impact assessment v${pl(lastAssessment!).version} on record`, items };
    }
    case 'data_sources':
    case 'suppliers': {
      if (!lastAssessment) return none('no impact assessment submitted yet');
      const entries = (step === 'data_sources' ? content.dataSources : content.thirdParties) as P[] | undefined;
      const noun = step === 'data_sources' ? 'data source' : 'supplier';
      if (!Array.isArray(entries) || entries.length === 0) return none(`the latest impact assessment names no ${noun}`);
      const what = `${entries.length} ${noun}${entries.length === 1 ? '' : 's'} in impact assessment v${pl(lastAssessment).version}: ${entries.map((d) => String(d.name)).join(', ')}`;
      return {
        state: 'done',
        reason: `${entries.length} ${noun}${entries.length === 1 ? '' : 's'} documented`,
        items: [item(s, step, lastAssessment, what)],
      };
    }
    case 'bias_evidence': {
      const evidence = ofType(s, 'bias_evidence_submitted');
      const items = ofType(s, 'bias_evidence_submitted', 'fairness_risk_accepted').map((e) => item(s, step, e));
      const latest = last(evidence);
      if (!latest) {
        const movedOn = ofType(s, 'stage_changed').some((e) => ['risk_treatment', 'approval'].includes(pl(e).to));
        return movedOn
          ? { state: 'not_required', reason: 'the policy required no bias testing for this system', items: [] }
          : none('no bias-testing evidence yet');
      }
      const p = pl(latest);
      const currentModel =
        (last(ofType(s, 'model_version_changed')) && pl(last(ofType(s, 'model_version_changed'))!).to) ??
        ((s.registration as P | null)?.model?.version as string | undefined);
      if (currentModel !== undefined && p.modelVersion !== currentModel)
        return { state: 'partial', reason: `the evidence is for model ${p.modelVersion}, not ${currentModel}`, items };
      const open = [...((p.failed as string[]) ?? []), ...((p.inconclusive as string[]) ?? [])];
      if (open.length) {
        const accepted = ofType(s, 'fairness_risk_accepted').some(
          (e) => e.seq > latest.seq || pl(e).evidenceVersion === p.version,
        );
        return accepted
          ? { state: 'done', reason: `evidence v${p.version}; the governance lead accepted ${open.join(', ')}`, items }
          : { state: 'partial', reason: `evidence v${p.version} does not pass: ${open.join(', ')}`, items };
      }
      return { state: 'done', reason: `evidence v${p.version} passes the policy's thresholds`, items };
    }
    case 'treatment_plan': {
      const items = ofType(s, 'treatment_plan_submitted').map((e) => item(s, step, e));
      return items.length
        ? {
            state: 'done',
            reason: `plan v${pl(last(ofType(s, 'treatment_plan_submitted'))!).version} on record`,
            items,
          }
        : none('no risk-treatment plan yet');
    }
    case 'plan_approval': {
      const decisions = s.events.filter((e) => e.type === 'decision_recorded' && pl(e).purpose === 'lifecycle');
      const items = decisions.map((e) => item(s, step, e));
      const done = last(completedChains(s.events, 'lifecycle'));
      if (!done)
        return decisions.length
          ? { state: 'partial', reason: 'decided in part; the approval chain is not complete', items }
          : none('not approved yet');
      const invalidated = ofType(s, 'approval_invalidated').find((e) => e.seq > done.seq);
      if (invalidated)
        return { state: 'partial', reason: `the approval no longer stands: ${pl(invalidated).reason ?? ''}`, items };
      return { state: 'done', reason: `approved on ${day(done.at)} by the whole chain`, items };
    }
    case 'fria_notice': {
      const items = ofType(s, 'fria_authority_notified').map((e) => item(s, step, e));
      if (s.stage === 'fria_notification')
        return items.length
          ? { state: 'partial', reason: 'a fresh authority notification is asked for', items }
          : none('the authority notification is pending');
      if (items.length) return { state: 'done', reason: 'the market surveillance authority was notified', items };
      if (completedChains(s.events, 'lifecycle').length && !enteredStage(s, 'fria_notification'))
        return { state: 'not_required', reason: 'the lifecycle asked for no authority notification', items: [] };
      return none('not known until the system is approved');
    }
    case 'review': {
      const items = s.events
        .filter((e) => e.type === 'review_submitted' || (e.type === 'decision_recorded' && pl(e).purpose === 'review'))
        .map((e) => item(s, step, e));
      const signedOff = last(completedChains(s.events, 'review'));
      const overdue = s.stage === 'review_due' && s.reviewDueAt !== null && Date.parse(s.reviewDueAt) < now.getTime();
      if (signedOff)
        return overdue
          ? { state: 'partial', reason: `the next review is overdue since ${day(s.reviewDueAt)}`, items }
          : { state: 'done', reason: `review signed off on ${day(signedOff.at)}`, items };
      if (items.length) return { state: 'partial', reason: 'a review is submitted, not yet signed off', items };
      if (overdue) return none(`the first review is overdue since ${day(s.reviewDueAt)}`);
      if (s.reviewDueAt && !WORK_STAGES.includes(s.stage))
        return { state: 'partial', reason: `monitored; the first review is due on ${day(s.reviewDueAt)}`, items };
      return none('not in operation yet');
    }
    case 'incident': {
      const items = ofType(s, 'incident_reported').map((e) => item(s, step, e));
      return items.length
        ? {
            state: 'done',
            reason: `${items.length} incident${items.length === 1 ? '' : 's'} reported and communicated`,
            items,
          }
        : { state: 'not_required', reason: 'no incident has been reported', items: [] };
    }
    default: {
      // Steps that only support controls: their records are the evidence, whatever their number.
      const items = s.events
        .filter((e) => mappingStep(step).records.some((r) => r.event === e.type))
        .map((e) => item(s, step, e));
      return items.length ? { state: 'done', reason: `${items.length} on record`, items } : none('nothing on record');
    }
  }
}

/** Plan items that name a control as their treatment: evidence that it is planned, not yet that it works. */
function planMentions(s: SystemRecords, control: ControlId): EvidenceItem[] {
  const out: EvidenceItem[] = [];
  for (const e of ofType(s, 'treatment_plan_submitted')) {
    const doc = s.plans.get(String(pl(e).digest)) as { items?: { risk?: string; controls?: string[] }[] } | undefined;
    for (const i of doc?.items ?? []) {
      if (i.controls?.includes(control))
        out.push(item(s, 'treatment_plan', e, `Named in plan v${pl(e).version} as a treatment of “${i.risk ?? ''}”`));
    }
  }
  return out.map((x) => ({ ...x, step: 'treatment_plan_item' }));
}

function systemStatus(s: SystemRecords, control: ControlId, steps: Map<StepId, StepEvidence>): SystemControlStatus {
  const { implementedBy, supportedBy } = stepsForControl(control);
  const impl = implementedBy.map((id) => [id, steps.get(id)!] as const);
  const supporting = [...supportedBy.flatMap((id) => steps.get(id)!.items), ...planMentions(s, control)];
  const evidence = [...impl.flatMap(([, e]) => e.items), ...supporting].sort((a, b) => a.at.localeCompare(b.at));
  const base = { systemId: s.systemId, name: s.name, stage: s.stage, evidence };
  const done = impl.find(([, e]) => e.state === 'done');
  if (done) return { ...base, status: 'implemented', reason: done[1].reason };
  const part = impl.find(([, e]) => e.state === 'partial');
  if (part) return { ...base, status: 'partial', reason: part[1].reason };
  if (impl.length && impl.every(([, e]) => e.state === 'not_required'))
    return { ...base, status: supporting.length ? 'partial' : 'not_required', reason: impl[0]![1].reason };
  if (supporting.length)
    return {
      ...base,
      status: 'partial',
      reason: `only supporting evidence so far; ${impl[0]?.[1].reason ?? 'nothing implements it yet'}`,
    };
  return { ...base, status: 'no_evidence', reason: impl[0]?.[1].reason ?? 'no evidence on record' };
}

// ---- the statement ----------------------------------------------------------------------------

const stepRef = (id: StepId): StepRef => {
  const s = mappingStep(id);
  return {
    step: id,
    title: s.title,
    cites: stepReference(id),
    ...(s.appliesWhen ? { appliesWhen: s.appliesWhen } : {}),
  };
};

/** Systems a control currently applies to: those not retired or rejected. */
const IN_SCOPE = (stage: string) => stage !== 'retired' && stage !== 'rejected';

export function buildStatement(input: {
  now: Date;
  policyVersion: string;
  applicability: ApplicabilityPolicy;
  organisation: OrganisationEntry[];
  systems: SystemRecords[];
  crosswalkFilter?: CrosswalkFilter;
}): Statement {
  const today = input.now.toISOString().slice(0, 10);
  const excluded = new Map(input.applicability.exclusions.map((e) => [e.control, e.justification]));
  const perSystem = new Map(
    input.systems.map((s) => [
      s.systemId,
      new Map(controlMapping.steps.map((st) => [st.id, stepEvidence(s, st.id, input.now)] as const)),
    ]),
  );

  const controls: StatementControl[] = controlIds.map((id) => {
    const m = mappingControl(id);
    const { implementedBy, supportedBy } = stepsForControl(id);
    const entries = input.organisation
      .filter((e) => e.control === id)
      .map((e) => ({ ...e, due: e.reviewDate < today }));
    const systems = input.systems
      .map((s) => systemStatus(s, id, perSystem.get(s.systemId)!))
      .filter((s) => m.evidence === 'lifecycle' || s.evidence.length > 0);
    let status: ControlStatus;
    let reason: string;
    if (excluded.has(id)) {
      status = 'excluded';
      reason = 'excluded by the organisation (justification in the policy)';
    } else if (m.evidence === 'organisation') {
      const current = entries.filter((e) => !e.due);
      if (current.length) {
        status = 'implemented';
        reason = `${current.length} document${current.length === 1 ? '' : 's'} on record, next review ${current.map((e) => e.reviewDate).sort()[0]}`;
      } else if (entries.length) {
        status = 'partial';
        reason = `documented, but the review date has passed (${entries.map((e) => e.reviewDate).join(', ')})`;
      } else {
        status = 'no_evidence';
        reason = 'the organisation has recorded no document for it yet';
      }
    } else {
      const inScope = systems.filter((s) => IN_SCOPE(s.stage));
      const counted = inScope.filter((s) => s.status !== 'not_required');
      if (inScope.length === 0) {
        status = 'no_evidence';
        reason = 'no AI system in operation or in progress';
      } else if (counted.length === 0) {
        status = 'not_required';
        reason = 'required for none of the systems';
      } else if (counted.every((s) => s.status === 'implemented')) {
        status = 'implemented';
        reason = `implemented for ${counted.length} of ${counted.length} system${counted.length === 1 ? '' : 's'} where required`;
      } else {
        const n = counted.filter((s) => s.status === 'implemented').length;
        status = counted.some((s) => s.status !== 'no_evidence') ? 'partial' : 'no_evidence';
        reason = `implemented for ${n} of ${counted.length} system${counted.length === 1 ? '' : 's'} where required`;
      }
    }
    return {
      id,
      title: annexAControls[id],
      group: `${groupOf(id)} ${controlGroups[groupOf(id)]}`,
      evidencedBy: m.evidence,
      applicable: !excluded.has(id),
      justification: excluded.get(id) ?? null,
      implementedBy: implementedBy.map(stepRef),
      supportedBy: supportedBy.map(stepRef),
      status,
      reason,
      organisation: { expects: m.expects ?? null, entries },
      systems,
    };
  });

  const filter = input.crosswalkFilter ?? 'all';
  const rows: CrosswalkRow[] = controls.map((c) => {
    const cw = crosswalkEntry(c.id);
    return {
      control: c.id,
      title: c.title,
      status: c.status,
      coverage: cw.pairs.length ? 'partial' : 'none',
      pairs: cw.pairs.map((p) => {
        const iso = iso27001Control(p.iso27001);
        return { id: iso.id, title: iso.title, theme: iso.theme, reuse: p.reuse };
      }),
      aiSpecific: cw.aiSpecific,
    };
  });
  const summary = Object.fromEntries(controlStatuses.map((s) => [s, 0])) as Record<ControlStatus, number>;
  for (const c of controls) summary[c.status] += 1;

  return {
    generatedAt: input.now.toISOString(),
    mappingVersion: controlMapping.version,
    policyVersion: input.policyVersion,
    cites: stepReference('statement_of_applicability'),
    summary,
    systems: input.systems.map((s) => ({
      id: s.systemId,
      name: s.name,
      stage: s.stage,
      riskTier: s.riskTier,
      href: `/systems/${encodeURIComponent(s.systemId)}`,
    })),
    controls,
    crosswalk: {
      filter,
      description: crosswalkDescriptions[filter],
      entries: rows.filter((r) =>
        filter === 'covered'
          ? r.pairs.length > 0
          : filter === 'open'
            ? r.status !== 'implemented' && r.status !== 'excluded' && r.status !== 'not_required'
            : true,
      ),
    },
  };
}

export const crosswalkDescriptions: Record<CrosswalkFilter, string> = {
  all: 'Every ISO/IEC 42001 control with the ISO/IEC 27001:2022 controls it overlaps with.',
  covered:
    'What an ISO/IEC 27001 ISMS already covers: the controls with a 27001 counterpart, and the ISMS evidence that can be shown again.',
  open: 'What is still open: applicable controls not yet implemented, with the AI-specific part that no 27001 control covers.',
};
