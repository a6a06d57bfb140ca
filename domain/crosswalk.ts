import { z } from 'zod';
import { controlIds, controlIdSchema } from './controls.js';
import { iso27001IdSchema } from './iso27001.js';

/**
 * ISO/IEC 42001 Annex A against ISO/IEC 27001:2022 Annex A (2022 numbering),
 * for an organisation that already runs an ISMS: per 42001 control, the
 * 27001 controls it overlaps with and what ISMS evidence can be reused for
 * each, and what is AI-specific and has no 27001 counterpart. The pairings
 * follow the published comparisons (information-security policies ↔ A.2,
 * roles ↔ A.3, people and assets ↔ A.4, risk assessment ↔ A.5, incidents ↔
 * A.8.4, logging ↔ A.6.2.8, suppliers ↔ A.10), with their 2013 numbers
 * mapped to 2022 (A.5 → 5.1, A.6 → 5.2–5.4, A.7 → 6.1–6.6, A.8 → 5.9–5.13,
 * A.15 → 5.19–5.22, A.16 → 5.24–5.28 and 6.8, A.12.4 → 8.15).
 */
export const crosswalkPairSchema = z.object({
  iso27001: iso27001IdSchema,
  /** The ISMS evidence an auditor can be shown again for the 42001 control. */
  reuse: z.string().min(10),
});

export const crosswalkEntrySchema = z.object({
  control: controlIdSchema,
  pairs: z.array(crosswalkPairSchema),
  /** What the 42001 control asks that no 27001 control covers: the work an ISMS does not do. */
  aiSpecific: z.string().min(10),
});
export type CrosswalkEntry = z.infer<typeof crosswalkEntrySchema>;

export const crosswalkSchema = z
  .object({
    version: z.string().regex(/^\d+$/),
    entries: z.array(crosswalkEntrySchema),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    for (const [i, e] of c.entries.entries()) {
      if (seen.has(e.control))
        ctx.addIssue({ code: 'custom', path: ['entries', i, 'control'], message: `${e.control} is listed twice` });
      seen.add(e.control);
      const pairs = new Set<string>();
      for (const [j, p] of e.pairs.entries()) {
        if (pairs.has(p.iso27001))
          ctx.addIssue({
            code: 'custom',
            path: ['entries', i, 'pairs', j, 'iso27001'],
            message: `${p.iso27001} is paired with ${e.control} twice`,
          });
        pairs.add(p.iso27001);
      }
    }
    for (const id of controlIds)
      if (!seen.has(id)) ctx.addIssue({ code: 'custom', path: ['entries'], message: `${id} is missing` });
  });
export type Crosswalk = z.infer<typeof crosswalkSchema>;

type Pair = [z.input<typeof iso27001IdSchema>, string];
const entry = (control: string, aiSpecific: string, ...pairs: Pair[]) => ({
  control,
  aiSpecific,
  pairs: pairs.map(([iso27001, reuse]) => ({ iso27001, reuse })),
});

/** The data as written, before validation: what the test checks id by id against both standards. */
export const crosswalkSource = {
  version: '1',
  entries: [
    entry(
      'A.2.2',
      'The AI policy’s own content: responsible-AI principles, the organisation’s role for AI systems (provider, deployer), commitments to impact assessment and to the AI objectives.',
      [
        '5.1',
        'The ISMS policy framework: approval by top management, publication, communication and acknowledgement records; the AI policy can be issued through the same channel.',
      ],
    ),
    entry(
      'A.2.3',
      'Aligning AI duties (EU AI Act obligations, fairness, human oversight) with the quality, privacy and security policies.',
      ['5.1', 'The hierarchy of the policy and its topic-specific policies, where the AI policy takes its place.'],
      [
        '5.31',
        'The register of legal, statutory, regulatory and contractual requirements, extended with the AI regulation.',
      ],
      ['5.34', 'The privacy and PII protection policy the AI policy must agree with.'],
    ),
    entry(
      'A.2.4',
      'Reviewing the AI policy against AI-specific changes: new AI uses, the EU AI Act and its guidance, what impact assessments and incidents showed.',
      ['5.1', 'The planned reviews of the information security policies, their minutes and approvals.'],
      ['5.35', 'Independent reviews of the management system, which can take the AI policy in scope.'],
    ),
    entry(
      'A.3.2',
      'AI-specific roles: the system owner, the risk owner of AI risks, human oversight, who performs impact assessments and bias testing, who approves.',
      ['5.2', 'Role descriptions and the assignment of responsibilities (RACI).'],
      ['5.3', 'The segregation-of-duties matrix and how conflicting duties are kept apart.'],
      ['5.4', 'Management’s responsibilities for applying policies and procedures.'],
    ),
    entry(
      'A.3.3',
      'Concerns about AI harms that are not security events (unfair outcomes, misuse, effects on rights), reported confidentially and without reprisal.',
      ['6.8', 'The channels and procedure people use to report information security events.'],
    ),
    entry(
      'A.4.2',
      'The resources each AI life-cycle stage needs: models, training and test data, compute, tooling and people.',
      ['5.9', 'The inventory of information and other associated assets, with their owners.'],
    ),
    entry(
      'A.4.3',
      'Data as an AI resource: provenance, intended use for training, validation or testing, known biases, quality and representativeness.',
      ['5.9', 'The asset inventory, with datasets as information assets.'],
      ['5.12', 'The classification of information, applied to the datasets.'],
    ),
    entry(
      'A.4.4',
      'Machine-learning tooling: frameworks, training and evaluation tools, model registries, fairness tooling.',
      ['5.9', 'The inventory of software assets.'],
      ['8.19', 'Controlled installation of software on operational systems.'],
    ),
    entry(
      'A.4.5',
      'Compute for training and inference, and the environmental cost of AI workloads.',
      ['8.6', 'Capacity management and its monitoring.'],
      ['5.23', 'Agreements and controls for the cloud services the compute runs on.'],
      ['8.14', 'Redundancy of the information processing facilities.'],
    ),
    entry(
      'A.4.6',
      'AI competences: data science, the domain, fairness, human oversight, law and ethics, per life-cycle stage.',
      ['6.1', 'Screening of people before they join.'],
      ['6.2', 'Terms and conditions of employment.'],
      ['6.3', 'Awareness, education and training records, extended with AI training.'],
    ),
    entry(
      'A.5.2',
      'Assessing consequences for individuals, groups and society (ISO/IEC 42005), not only risks to the organisation’s information; its triggers (new system, significant change, periodic).',
      ['5.8', 'Risk assessment in project management, and the ISMS risk method behind it (27001 clause 6.1.2).'],
      ['5.34', 'The DPIA process for personal data (GDPR Art. 35), which the impact assessment complements.'],
    ),
    entry(
      'A.5.3',
      'What the impact assessment records (ISO/IEC 42005 clause 6): the system, its data, interested parties, impacts and measures.',
      ['5.33', 'Protection of records: retention, integrity and access for the documented assessments.'],
    ),
    entry(
      'A.5.4',
      'Impacts on individuals and groups beyond privacy: fundamental rights, fairness, and the FRIA of EU AI Act Art. 27.',
      ['5.34', 'DPIAs where the system processes personal data.'],
    ),
    entry('A.5.5', 'Societal and environmental impacts of AI systems: no 27001 counterpart.'),
    entry(
      'A.6.1.2',
      'Objectives for fairness, transparency, explainability, robustness and human oversight in development.',
      ['8.25', 'The secure development life cycle and its objectives.'],
    ),
    entry(
      'A.6.1.3',
      'Responsible-AI gates in the development process: impact assessment, bias testing, approval before release.',
      ['8.25', 'The secure development life cycle the responsible-AI steps join.'],
      ['8.27', 'Secure system architecture and engineering principles.'],
      ['5.8', 'Information security in project management.'],
    ),
    entry('A.6.2.2', 'AI requirements: intended purpose, performance, fairness and human-oversight requirements.', [
      '8.26',
      'How application security requirements are specified and approved.',
    ]),
    entry('A.6.2.3', 'Design choices of the model: training approach, data design, evaluation design.', [
      '8.25',
      'Development documentation kept under the secure development life cycle.',
    ]),
    entry(
      'A.6.2.4',
      'Validating model performance and fairness against thresholds (bias testing): no 27001 counterpart.',
      ['8.29', 'Test planning, acceptance criteria and sign-off in development and acceptance.'],
      ['8.33', 'Selection and protection of test information.'],
    ),
    entry(
      'A.6.2.5',
      'Approval of the impact assessment and the risk-treatment plan by the accountable owners before an AI system goes live, and the FRIA before first use.',
      ['8.32', 'Change management: change approval and release records.'],
      ['8.31', 'Separation of development, test and production environments.'],
    ),
    entry(
      'A.6.2.6',
      'Monitoring model performance, drift and fairness in operation, and reviewing the impact assessment on its cadence.',
      ['8.16', 'Monitoring of networks, systems and applications, and its alerting.'],
      ['8.32', 'Change management for updates in operation.'],
    ),
    entry(
      'A.6.2.7',
      'Documentation for users and authorities of the system’s capabilities and limits (EU AI Act Art. 11 and 13).',
      ['5.37', 'Documented operating procedures.'],
    ),
    entry(
      'A.6.2.8',
      'Logging what the AI system decided and on which inputs, to trace outcomes (EU AI Act Art. 12 and 26(6)).',
      ['8.15', 'Logging: what is logged, log protection, retention and review.'],
      ['8.17', 'Clock synchronization, so that logs can be correlated.'],
    ),
    entry(
      'A.7.2',
      'Data management for AI development: selection, training, validation and test splits, enhancement.',
      ['5.12', 'Classification of information, applied to datasets.'],
      ['5.13', 'Labelling of information.'],
    ),
    entry(
      'A.7.3',
      'Whether acquired data suits the AI task and the system’s intended use.',
      ['5.19', 'Information security in supplier relationships, for data bought or licensed.'],
      ['5.20', 'Supplier agreements covering the data.'],
      ['5.32', 'Intellectual property rights over the data.'],
      ['5.34', 'The lawful basis and protection of PII in the data.'],
    ),
    entry('A.7.4', 'Data quality for AI: accuracy, completeness, representativeness and bias: no 27001 counterpart.'),
    entry(
      'A.7.5',
      'Provenance through the data’s life cycle: collection, transformation, labelling.',
      ['5.9', 'Inventory entries recording each dataset’s origin and owner.'],
      ['5.33', 'Protection of the records that document provenance.'],
    ),
    entry(
      'A.7.6',
      'Labelling, cleaning and feature engineering, and what they do to bias.',
      ['8.11', 'Data masking and pseudonymisation rules applied in preparation.'],
      ['8.33', 'Protection of test information.'],
    ),
    entry(
      'A.8.2',
      'Telling users they deal with an AI system, its purpose and its limits (EU AI Act Art. 13 and 50).',
      ['5.10', 'Acceptable-use rules and the information given with them.'],
      ['5.37', 'Documented operating procedures made available to users.'],
    ),
    entry(
      'A.8.3',
      'The FRIA notification to the market surveillance authority (EU AI Act Art. 27(3)) and serious-incident reports (Art. 73).',
      ['5.5', 'The register of authorities and the procedure for contacting them.'],
    ),
    entry(
      'A.8.4',
      'AI incidents that are not security incidents (harmful or unfair outcomes), and the EU AI Act’s serious-incident deadlines (Art. 73).',
      ['5.24', 'Incident management planning and preparation.'],
      ['5.25', 'Assessment and decision on events.'],
      ['5.26', 'Response to incidents.'],
      ['5.27', 'Learning from incidents.'],
      ['6.8', 'Event reporting by people.'],
    ),
    entry(
      'A.8.5',
      'What interested parties need to know about AI systems and their impacts.',
      ['5.5', 'Contact with authorities.'],
      ['5.6', 'Contact with special interest groups.'],
    ),
    entry('A.9.2', 'Responsible use of AI: human oversight, and use within the intended purpose.', [
      '5.10',
      'Acceptable-use rules and their acknowledgement.',
    ]),
    entry('A.9.3', 'Objectives for responsible use of AI systems: no 27001 counterpart.'),
    entry(
      'A.9.4',
      'Using the system for its intended purpose and in its deployment context, with foreseeable misuse identified.',
      ['5.10', 'Acceptable use of information and other associated assets.'],
    ),
    entry(
      'A.10.2',
      'AI responsibilities between provider and deployer along the value chain (EU AI Act Art. 25 and 26).',
      ['5.19', 'The supplier relationship policy that allocates responsibilities.'],
      ['5.20', 'Supplier agreements stating each party’s responsibilities.'],
    ),
    entry(
      'A.10.3',
      'Assessing model and data suppliers for AI risks: training data, model documentation, fairness.',
      ['5.19', 'Information security in supplier relationships.'],
      ['5.20', 'Security within supplier agreements.'],
      ['5.21', 'The ICT supply chain.'],
      ['5.22', 'Monitoring, review and change management of supplier services.'],
    ),
    entry('A.10.4', 'Meeting customers’ needs for responsible AI: information on intended use, limits and risks.', [
      '5.31',
      'Contractual requirements towards customers.',
    ]),
  ],
};

export const crosswalk: Crosswalk = crosswalkSchema.parse(crosswalkSource);

const byControl = new Map(crosswalk.entries.map((e) => [e.control, e]));
export const crosswalkEntry = (id: z.infer<typeof controlIdSchema>): CrosswalkEntry => byControl.get(id)!;
