import { z } from 'zod';
import { annexAControls, controlIds, controlIdSchema, type ControlId } from './controls.js';

/**
 * Which step of the lifecycle produces evidence for which ISO/IEC 42001
 * control or clause: the one mapping the Statement of Applicability, the
 * evidence pack, the approval page, the e-mails and the pages take their
 * labels from. No control label is written anywhere else; a change to what
 * a step evidences is a change here, with a new `version` (the Statement of
 * Applicability names the version it was computed with).
 *
 * A step *implements* a control when its evidence, once there, is what the
 * auditor asks for; it *supports* one when it contributes without being
 * enough on its own. Each Annex A control is evidenced either by the
 * lifecycle, per system, or by the organisation's own documented
 * information (a policy, a role description, a resource plan), which an admin
 * records against it.
 */

/** The ISO/IEC 42001:2023 clauses (4 to 10, the harmonized structure) the mapping cites. */
export const clauseTitles = {
  '6.1.2': 'AI risk assessment',
  '6.1.3': 'AI risk treatment',
  '6.1.3(d)': 'AI risk treatment: the statement of applicability',
  '6.1.3(f)': 'AI risk treatment: approval of the plan and acceptance of residual AI risk',
  '6.1.4': 'AI system impact assessment',
  '7.5': 'Documented information',
  '8.2': 'AI risk assessment (operation)',
  '8.3': 'AI risk treatment (operation)',
  '8.4': 'AI system impact assessment (operation)',
  '10.2': 'Nonconformity and corrective action',
} as const;
export type ClauseId = keyof typeof clauseTitles;
export const clauseIdSchema = z.enum(Object.keys(clauseTitles) as [ClauseId, ...ClauseId[]]);

export const stepIds = [
  'registration',
  'impact_assessment',
  'data_sources',
  'suppliers',
  'bias_evidence',
  'treatment_plan',
  'plan_approval',
  'fria_notice',
  'review',
  'model_version',
  'incident',
  'corrective_action',
  'retirement',
  'audit_trail',
  'segregation_of_duties',
  'statement_of_applicability',
] as const;
export const stepIdSchema = z.enum(stepIds);
export type StepId = z.infer<typeof stepIdSchema>;

/** An audit-trail event that is this step's record: its type, and payload fields that must equal the given values. */
const recordSchema = z.object({
  event: z.string().regex(/^[a-z][a-z_]*$/),
  where: z.record(z.string(), z.union([z.string(), z.boolean(), z.null()])).optional(),
});

const stepSchema = z.object({
  id: stepIdSchema,
  title: z.string().min(3),
  /** What the step leaves on record, in words an auditor reads. */
  produces: z.string().min(10),
  /** lifecycle: a step of a system's lifecycle; management: something the product does for the whole AIMS. */
  kind: z.enum(['lifecycle', 'management']),
  /** Set for a step that not every system goes through: when it applies. */
  appliesWhen: z.string().min(10).optional(),
  records: z.array(recordSchema),
  implements: z.array(controlIdSchema),
  supports: z.array(controlIdSchema),
  clauses: z.array(clauseIdSchema),
});
export type MappingStep = z.infer<typeof stepSchema>;

const controlSchema = z.object({
  control: controlIdSchema,
  /** Where the evidence comes from: the lifecycle of each system, or the organisation's own documents. */
  evidence: z.enum(['lifecycle', 'organisation']),
  /** What the organisation is expected to hold, for an organisation-level control. */
  expects: z.string().min(10).optional(),
});
export type MappingControl = z.infer<typeof controlSchema>;

export const controlMappingSchema = z
  .object({
    version: z.string().regex(/^\d+$/, 'must be a whole number, raised at each change'),
    steps: z.array(stepSchema).min(1),
    controls: z.array(controlSchema),
  })
  .superRefine((m, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const stepSeen = new Set<string>();
    for (const [i, s] of m.steps.entries()) {
      if (stepSeen.has(s.id)) issue(['steps', i, 'id'], `${s.id} is listed twice`);
      stepSeen.add(s.id);
      if (s.implements.length + s.supports.length + s.clauses.length === 0)
        issue(['steps', i], `${s.id} evidences no control and no clause`);
      for (const c of s.implements)
        if (s.supports.includes(c)) issue(['steps', i, 'supports'], `${c} is already implemented by ${s.id}`);
    }
    for (const id of stepIds) if (!stepSeen.has(id)) issue(['steps'], `step ${id} is missing`);
    const seen = new Map<string, number>();
    for (const [i, c] of m.controls.entries()) {
      if (seen.has(c.control)) issue(['controls', i, 'control'], `${c.control} is listed twice`);
      seen.set(c.control, i);
      const implementers = m.steps.filter((s) => s.implements.includes(c.control));
      if (c.evidence === 'lifecycle' && implementers.length === 0)
        issue(['controls', i, 'evidence'], `${c.control} is evidenced by the lifecycle, but no step implements it`);
      if (c.evidence === 'organisation' && implementers.length > 0)
        issue(
          ['controls', i, 'evidence'],
          `${c.control} is organisation-level, but ${implementers.map((s) => s.id).join(', ')} implement it`,
        );
      if (c.evidence === 'organisation' && !c.expects)
        issue(['controls', i, 'expects'], `say what the organisation holds for ${c.control}`);
    }
    for (const id of controlIds) if (!seen.has(id)) issue(['controls'], `${id} is missing`);
  });
export type ControlMapping = z.infer<typeof controlMappingSchema>;

const org = (control: ControlId, expects: string): MappingControl => ({ control, evidence: 'organisation', expects });
const sys = (control: ControlId): MappingControl => ({ control, evidence: 'lifecycle' });

export const controlMapping: ControlMapping = controlMappingSchema.parse({
  version: '2',
  steps: [
    {
      id: 'registration',
      title: 'Registration',
      kind: 'lifecycle',
      produces:
        'the inventory entry: intended purpose, model and version, deployment context and role, owner and risk owner, affected stakeholders',
      records: [{ event: 'stage_changed', where: { from: null } }],
      implements: ['A.9.4'],
      supports: ['A.3.2', 'A.4.2', 'A.6.2.2'],
      clauses: [],
    },
    {
      id: 'impact_assessment',
      title: 'Impact assessment',
      kind: 'lifecycle',
      produces:
        'the impact assessment (ISO/IEC 42005): impacts on individuals, groups and society scored severity × likelihood, the EU AI Act category, context of use and foreseeable misuse, and the FRIA where Art. 27 asks for one',
      records: [{ event: 'assessment_submitted' }],
      implements: ['A.5.2', 'A.5.3', 'A.5.4', 'A.5.5'],
      supports: ['A.9.4'],
      clauses: ['6.1.2', '6.1.4'],
    },
    {
      id: 'data_sources',
      title: 'Data sources',
      kind: 'lifecycle',
      produces:
        "the assessment's data sources: how each was acquired, its provenance, personal data and quality measures",
      records: [{ event: 'assessment_submitted' }],
      implements: ['A.7.3', 'A.7.4', 'A.7.5'],
      supports: ['A.4.3', 'A.7.2', 'A.7.6'],
      clauses: [],
    },
    {
      id: 'suppliers',
      title: 'Suppliers',
      kind: 'lifecycle',
      produces: "the assessment's suppliers and third-party components, with each one's role and responsibilities",
      records: [{ event: 'assessment_submitted' }],
      implements: ['A.10.2', 'A.10.3'],
      supports: ['A.4.2'],
      clauses: [],
    },
    {
      id: 'bias_evidence',
      title: 'Bias-testing evidence',
      kind: 'lifecycle',
      produces:
        "fairness metrics for the current model version judged against the policy's thresholds (computed from predictions or declared), and the governance lead's recorded risk acceptances",
      appliesWhen: 'the policy requires bias testing for the tier, or the system decides about people',
      records: [{ event: 'bias_evidence_submitted' }, { event: 'fairness_risk_accepted' }],
      implements: ['A.6.2.4'],
      supports: ['A.7.4'],
      clauses: [],
    },
    {
      id: 'treatment_plan',
      title: 'Risk-treatment plan',
      kind: 'lifecycle',
      produces:
        'per risk a treatment option, the Annex A controls applied, measures, an owner, a due date and the residual risk',
      records: [{ event: 'treatment_plan_submitted' }],
      implements: [],
      supports: [],
      clauses: ['6.1.3', '8.3'],
    },
    {
      id: 'plan_approval',
      title: 'Plan approval',
      kind: 'lifecycle',
      produces:
        'each approver’s decision on the digest of what was approved (assessment, evidence, plan), the residual-risk acceptance above appetite, by people kept apart by segregation of duties',
      records: [{ event: 'decision_recorded', where: { purpose: 'lifecycle' } }],
      implements: ['A.6.2.5'],
      supports: ['A.3.2'],
      clauses: ['6.1.3(f)'],
    },
    {
      id: 'fria_notice',
      title: 'FRIA notice',
      kind: 'lifecycle',
      produces:
        'the record of notifying the market surveillance authority of the fundamental rights impact assessment (EU AI Act Art. 27(3))',
      appliesWhen: 'the lifecycle asks a deployer of a high-risk system for the authority notification',
      records: [{ event: 'fria_authority_notified' }],
      implements: ['A.8.3'],
      supports: [],
      clauses: [],
    },
    {
      id: 'review',
      title: 'Periodic review',
      kind: 'lifecycle',
      produces:
        'the periodic review on its cadence (monitoring summary, material change, fresh evidence) and its sign-off by the approval chain',
      records: [{ event: 'review_submitted' }, { event: 'decision_recorded', where: { purpose: 'review' } }],
      implements: ['A.6.2.6'],
      supports: ['A.5.2'],
      clauses: ['8.4'],
    },
    {
      id: 'model_version',
      title: 'New model version',
      kind: 'lifecycle',
      produces: 'the change of model version, the approval it invalidated and the reassessment it asked for',
      records: [{ event: 'model_version_changed' }, { event: 'reassessment_pending' }],
      implements: [],
      supports: ['A.6.2.6'],
      clauses: ['8.4'],
    },
    {
      id: 'incident',
      title: 'Incident',
      kind: 'lifecycle',
      produces:
        'the incident report, who was told (the governance lead), and for a serious one the invalidated approval and the immediate review',
      appliesWhen: 'an incident is reported',
      records: [{ event: 'incident_reported' }],
      implements: ['A.8.4'],
      supports: ['A.3.3'],
      clauses: ['10.2'],
    },
    {
      id: 'corrective_action',
      title: 'Corrective action',
      kind: 'lifecycle',
      produces:
        "an incident's corrective action followed up to its closing: its owner reminded before the due date, the owner and the governance lead told while it is overdue, and the resolution with who closed it",
      appliesWhen: 'an incident is reported',
      records: [
        { event: 'corrective_action_reminder_sent' },
        { event: 'corrective_action_overdue' },
        { event: 'corrective_action_closed' },
      ],
      implements: [],
      supports: ['A.8.4'],
      clauses: ['10.2'],
    },
    {
      id: 'retirement',
      title: 'Retirement',
      kind: 'lifecycle',
      produces: 'the final record: who retired the system, when and why',
      records: [{ event: 'system_retired' }],
      implements: [],
      supports: ['A.6.2.6'],
      clauses: [],
    },
    {
      id: 'audit_trail',
      title: 'Audit trail',
      kind: 'management',
      produces: 'every record of every step in an append-only SHA-256 hash chain per system, and its verification',
      records: [],
      implements: [],
      supports: [],
      clauses: ['7.5'],
    },
    {
      id: 'segregation_of_duties',
      title: 'Segregation of duties',
      kind: 'management',
      produces:
        'the four-eyes rules enforced at registration and at every decision: an owner never approves their own system, nobody decides two steps of one chain',
      records: [],
      implements: [],
      supports: ['A.3.2'],
      clauses: [],
    },
    {
      id: 'statement_of_applicability',
      title: 'Statement of Applicability',
      kind: 'management',
      produces:
        'the Annex A controls, applicable or excluded with the justification, how each is implemented and the evidence behind it',
      records: [],
      implements: [],
      supports: [],
      clauses: ['6.1.3(d)'],
    },
  ],
  controls: [
    org('A.2.2', 'the AI policy, approved by top management'),
    org('A.2.3', 'how the AI policy aligns with the other policies (information security, privacy, quality)'),
    org('A.2.4', 'the record of the AI policy’s planned reviews'),
    org('A.3.2', 'the AI roles and responsibilities, and who holds them'),
    org('A.3.3', 'the process for reporting concerns about AI systems'),
    org('A.4.2', 'the documentation of resources AI systems need over their life cycle'),
    org('A.4.3', 'the documentation of the data resources used'),
    org('A.4.4', 'the documentation of the tooling resources used'),
    org('A.4.5', 'the documentation of system and computing resources'),
    org('A.4.6', 'the competences of the people working on AI systems'),
    sys('A.5.2'),
    sys('A.5.3'),
    sys('A.5.4'),
    sys('A.5.5'),
    org('A.6.1.2', 'the objectives for responsible development of AI systems'),
    org('A.6.1.3', 'the processes for responsible design and development'),
    org('A.6.2.2', 'the requirements and specifications of AI systems'),
    org('A.6.2.3', 'the design and development documentation'),
    sys('A.6.2.4'),
    sys('A.6.2.5'),
    sys('A.6.2.6'),
    org('A.6.2.7', 'the technical documentation given to interested parties'),
    org('A.6.2.8', 'when AI systems record event logs, and how long the logs are kept (EU AI Act Art. 26(6))'),
    org('A.7.2', 'the data management processes for development and enhancement'),
    sys('A.7.3'),
    sys('A.7.4'),
    sys('A.7.5'),
    org('A.7.6', 'the criteria and methods of data preparation'),
    org('A.8.2', 'the information given to users of AI systems'),
    sys('A.8.3'),
    sys('A.8.4'),
    org('A.8.5', 'the information given to interested parties'),
    org('A.9.2', 'the processes for responsible use of AI systems'),
    org('A.9.3', 'the objectives for responsible use of AI systems'),
    sys('A.9.4'),
    sys('A.10.2'),
    sys('A.10.3'),
    org('A.10.4', 'how customers’ expectations and needs are met'),
  ],
});

const stepsById = new Map(controlMapping.steps.map((s) => [s.id, s]));
const controlsById = new Map(controlMapping.controls.map((c) => [c.control, c]));

export const mappingStep = (id: StepId): MappingStep => stepsById.get(id)!;
export const mappingControl = (id: ControlId): MappingControl => controlsById.get(id)!;

/** "A.5.2 AI system impact assessment process". */
export const controlLabel = (id: ControlId) => `${id} ${annexAControls[id]}`;

/** Controls in the standard's order, runs of neighbours in one group written as a range: "A.5.2–A.5.5, A.9.4". */
export function controlList(ids: readonly ControlId[]): string {
  const sorted = controlIds.filter((id) => ids.includes(id));
  const group = (id: ControlId) => id.slice(0, id.lastIndexOf('.'));
  const parts: string[] = [];
  let run: ControlId[] = [];
  const flush = () => {
    if (run.length === 1) parts.push(run[0]!);
    else if (run.length > 1) parts.push(`${run[0]}–${run[run.length - 1]}`);
    run = [];
  };
  for (const id of sorted) {
    const prev = run[run.length - 1];
    if (prev && !(group(prev) === group(id) && controlIds.indexOf(prev) + 1 === controlIds.indexOf(id))) flush();
    run.push(id);
  }
  flush();
  return parts.join(', ');
}

const clauseList = (cs: readonly ClauseId[]) =>
  cs.length === 0
    ? ''
    : `clause${cs.length > 1 ? 's' : ''} ${cs.slice(0, -1).join(', ')}${cs.length > 1 ? ' and ' : ''}${cs[cs.length - 1]}`;

/**
 * What a step evidences, as the pages and e-mails cite it: "ISO/IEC 42001 A.5.2–A.5.5, clauses 6.1.2 and 6.1.4".
 * A step that implements nothing and cites no clause is cited by what it supports.
 */
export function stepReference(id: StepId): string {
  return stepsReference([id]);
}

/** What several steps evidence together (one record can be the evidence of several steps); '' for none. */
export function stepsReference(ids: readonly StepId[]): string {
  if (ids.length === 0) return '';
  const steps = ids.map(mappingStep);
  const cited = (s: MappingStep) => (s.implements.length || s.clauses.length ? s.implements : s.supports);
  const controls = [...new Set(steps.flatMap(cited))];
  const clauses = (Object.keys(clauseTitles) as ClauseId[]).filter((c) => steps.some((s) => s.clauses.includes(c)));
  return `ISO/IEC 42001 ${[controlList(controls), clauseList(clauses)].filter(Boolean).join(', ')}`;
}

/** The steps whose record an audit-trail event is (none for most bookkeeping events). */
export function stepsForEvent(ev: { type: string; payload: unknown }): StepId[] {
  const payload = (ev.payload ?? {}) as Record<string, unknown>;
  return controlMapping.steps
    .filter((s) =>
      s.records.some(
        (r) =>
          r.event === ev.type &&
          Object.entries(r.where ?? {}).every(([k, v]) => (v === null ? payload[k] == null : payload[k] === v)),
      ),
    )
    .map((s) => s.id);
}

/** The steps that implement, and those that support, a control. */
export function stepsForControl(id: ControlId): { implementedBy: StepId[]; supportedBy: StepId[] } {
  return {
    implementedBy: controlMapping.steps.filter((s) => s.implements.includes(id)).map((s) => s.id),
    supportedBy: controlMapping.steps.filter((s) => s.supports.includes(id)).map((s) => s.id),
  };
}
