import { z } from 'zod';

/**
 * The EU AI Act (Regulation (EU) 2024/1689) as the lifecycle applies it:
 * how a system is classified, and what follows from the classification.
 *
 * - Art. 5: prohibited practices stop the lifecycle.
 * - Art. 6(1): high-risk as (a safety component of) a product under the Union
 *   harmonisation law of Annex I that needs a third-party conformity assessment.
 * - Art. 6(2): high-risk by an Annex III use, named by its point and letter.
 * - Art. 6(3): the derogation "not high-risk despite Annex III", documented with
 *   the conditions (a)–(d) it meets and its reasons; never for a system that
 *   profiles natural persons.
 * - Art. 27(1): who must carry out a fundamental rights impact assessment (and,
 *   by Art. 27(3), notify the market surveillance authority of its results).
 * - Art. 50: transparency duties, alongside any category.
 * - Art. 51–55: a system built on a general-purpose AI model records which.
 *
 * Pure rules over the facts an assessment states, so the API's schema, the
 * workflow's validator and its handler all judge by the same code.
 */

/** Art. 5 prohibited practices, Art. 6 high-risk, limited (Art. 50 duties only), minimal. */
export const euAiActCategories = ['prohibited', 'high_risk', 'limited', 'minimal'] as const;
export type EuAiActCategory = (typeof euAiActCategories)[number];

/** The eight areas of Annex III (its points 1 to 8). */
export const annexIIIAreas = [
  'biometrics',
  'critical_infrastructure',
  'education',
  'employment',
  'essential_services',
  'law_enforcement',
  'migration',
  'justice_democracy',
] as const;
export type AnnexIIIArea = (typeof annexIIIAreas)[number];

/** Annex III's uses by point and letter (point 2 has none), each with its area and what it covers. */
export const annexIIIPoints = {
  '1(a)': ['biometrics', 'remote biometric identification'],
  '1(b)': ['biometrics', 'biometric categorisation by sensitive or protected attributes'],
  '1(c)': ['biometrics', 'emotion recognition'],
  '2': [
    'critical_infrastructure',
    'safety components in critical digital infrastructure, road traffic, or the supply of water, gas, heating or electricity',
  ],
  '3(a)': ['education', 'access or admission to education and vocational training'],
  '3(b)': ['education', 'evaluating learning outcomes'],
  '3(c)': ['education', 'assessing the level of education a person will receive or can access'],
  '3(d)': ['education', 'monitoring and detecting prohibited behaviour during tests'],
  '4(a)': ['employment', 'recruitment or selection: targeted job ads, filtering applications, evaluating candidates'],
  '4(b)': [
    'employment',
    'decisions on work relationships: terms, promotion, termination, task allocation, monitoring and evaluating performance',
  ],
  '5(a)': ['essential_services', 'eligibility for public assistance benefits and services'],
  '5(b)': ['essential_services', 'creditworthiness and credit scoring (fraud detection excepted)'],
  '5(c)': ['essential_services', 'risk assessment and pricing in life and health insurance'],
  '5(d)': ['essential_services', 'evaluating and classifying emergency calls, dispatch and triage'],
  '6(a)': ['law_enforcement', 'the risk of a person becoming the victim of a criminal offence'],
  '6(b)': ['law_enforcement', 'polygraphs and similar tools'],
  '6(c)': ['law_enforcement', 'the reliability of evidence'],
  '6(d)': ['law_enforcement', 'the risk of offending or re-offending, or personality traits and past behaviour'],
  '6(e)': ['law_enforcement', 'profiling in the detection, investigation or prosecution of criminal offences'],
  '7(a)': ['migration', 'polygraphs and similar tools'],
  '7(b)': ['migration', 'security, irregular migration or health risks of a person entering'],
  '7(c)': ['migration', 'examining applications for asylum, visas and residence permits'],
  '7(d)': ['migration', 'detecting, recognising or identifying persons (travel document checks excepted)'],
  '8(a)': ['justice_democracy', 'assisting judicial authorities in researching and interpreting facts and the law'],
  '8(b)': ['justice_democracy', 'influencing the outcome of an election or referendum, or voting behaviour'],
} as const satisfies Record<string, readonly [AnnexIIIArea, string]>;
export type AnnexIIIPoint = keyof typeof annexIIIPoints;
export const annexIIIPointIds = Object.keys(annexIIIPoints) as [AnnexIIIPoint, ...AnnexIIIPoint[]];
export const areaOfPoint = (point: AnnexIIIPoint): AnnexIIIArea => annexIIIPoints[point][0];

/** Annex III uses whose deployers carry out a FRIA whoever they are (Art. 27(1), second case). */
const FRIA_FOR_EVERY_DEPLOYER: readonly AnnexIIIPoint[] = ['5(b)', '5(c)'];
/** Annex III point 2 (critical infrastructure) is outside Art. 27(1). */
const FRIA_EXEMPT: readonly AnnexIIIPoint[] = ['2'];

/**
 * Art. 6(3) second subparagraph: the system only (a) performs a narrow procedural task, (b) improves the
 * result of a completed human activity, (c) detects decision patterns or deviations without replacing or
 * influencing the human assessment without proper review, or (d) performs a task preparatory to an assessment.
 */
export const derogationConditions = ['a', 'b', 'c', 'd'] as const;

/** Art. 50(1)–(4). */
export const transparencyDuties = [
  /** 50(1): people are told they interact with an AI system. */
  'interacts_with_people',
  /** 50(2): synthetic audio, image, video or text is marked, machine-readably, as generated. */
  'synthetic_content',
  /** 50(3): people exposed to emotion recognition or biometric categorisation are informed. */
  'emotion_recognition_or_biometric_categorisation',
  /** 50(4): deep fakes, and AI-generated text published on matters of public interest, are disclosed. */
  'deep_fake_or_public_interest_text',
] as const;
export type TransparencyDuty = (typeof transparencyDuties)[number];

export const organisationRoles = ['provider', 'deployer', 'provider_and_deployer'] as const;
export type OrganisationRole = (typeof organisationRoles)[number];

const unique = (xs: readonly unknown[]) => new Set(xs).size === xs.length;

const modelName = z.string().trim().min(1).max(200);

/**
 * What the workflow decides by: the classification without its prose. Every
 * field but the category is optional, so assessments submitted before these
 * rules still parse; the validator asks a new one for what its rules need.
 */
export const euAiActFactsSchema = z.strictObject({
  category: z.enum(euAiActCategories),
  annexIIIArea: z.enum(annexIIIAreas).optional(),
  annexIIIPoint: z.enum(annexIIIPointIds).optional(),
  annexI: z
    .strictObject({
      legislation: z.string().trim().min(3).max(300),
      safetyComponent: z.boolean(),
      thirdPartyConformityAssessment: z.boolean(),
    })
    .optional(),
  derogation: z
    .strictObject({
      conditions: z.array(z.enum(derogationConditions)).min(1).max(4),
      profilesNaturalPersons: z.boolean(),
    })
    .optional(),
  deployer: z.strictObject({ publicLawBody: z.boolean(), publicServices: z.boolean() }).optional(),
  transparency: z.array(z.enum(transparencyDuties)).max(4).optional(),
  generalPurposeModel: z.strictObject({ name: modelName, provider: modelName, systemicRisk: z.boolean() }).optional(),
});
export type EuAiActFacts = z.output<typeof euAiActFactsSchema>;

/** The classification as the assessment document states it: the facts, with the reasons behind them. */
export const euAiActSchema = z.object({
  category: z.enum(euAiActCategories),
  /** Annex III area; the point (with its letter) says more, and new assessments name it. */
  annexIIIArea: z.enum(annexIIIAreas).optional(),
  /** Annex III point and letter, e.g. "4(a)" (Art. 6(2)). */
  annexIIIPoint: z
    .enum(annexIIIPointIds, 'must be an Annex III point with its letter, like 4(a), 5(b) or 2')
    .optional(),
  /** Art. 6(1): a safety component of a product, or a product, under Annex I legislation. */
  annexI: z
    .object({
      /** The Union harmonisation act of Annex I, e.g. "Regulation (EU) 2017/745 (medical devices)". */
      legislation: z.string().trim().min(3).max(300),
      /** True: a safety component of the product; false: the product itself (Art. 6(1)(a)). */
      safetyComponent: z.boolean(),
      /** Art. 6(1)(b): that legislation requires a third-party conformity assessment of the product. */
      thirdPartyConformityAssessment: z.boolean(),
    })
    .optional(),
  /** Art. 6(3): an Annex III system that is not high-risk, and why (Art. 6(4): documented before it is placed on the market). */
  derogation: z
    .object({
      conditions: z
        .array(z.enum(derogationConditions))
        .min(1, 'name the condition(s) (a)–(d) of Art. 6(3) the system meets')
        .max(4),
      reasons: z
        .string()
        .trim()
        .min(20, 'give the reasons: why the system poses no significant risk of harm (20 characters at least)')
        .max(4000),
      profilesNaturalPersons: z.boolean(),
    })
    .optional(),
  /** Art. 27(1): the deploying organisation, which decides whether a FRIA is required. */
  deployer: z
    .object({
      /** A body governed by public law. */
      publicLawBody: z.boolean(),
      /** A private entity providing public services. */
      publicServices: z.boolean(),
    })
    .optional(),
  /** Art. 50 duties; they apply alongside any category. */
  transparency: z.array(z.enum(transparencyDuties)).max(4).optional(),
  /** Art. 51–55: the general-purpose AI model the system is built on, and its provider. */
  generalPurposeModel: z
    .object({
      name: modelName,
      provider: modelName,
      /** Classified as a model with systemic risk (Art. 51; presumed above 10^25 FLOPs of training compute). */
      systemicRisk: z.boolean().default(false),
    })
    .optional(),
  rationale: z.string().trim().min(3).max(4000),
});
export type EuAiAct = z.output<typeof euAiActSchema>;

/** The facts the workflow receives from a document's classification. */
export function euAiActFacts(a: EuAiAct): EuAiActFacts {
  const area = a.annexIIIArea ?? (a.annexIIIPoint ? areaOfPoint(a.annexIIIPoint) : undefined);
  return {
    category: a.category,
    ...(area ? { annexIIIArea: area } : {}),
    ...(a.annexIIIPoint ? { annexIIIPoint: a.annexIIIPoint } : {}),
    ...(a.annexI ? { annexI: { ...a.annexI } } : {}),
    ...(a.derogation
      ? {
          derogation: {
            conditions: a.derogation.conditions,
            profilesNaturalPersons: a.derogation.profilesNaturalPersons,
          },
        }
      : {}),
    ...(a.deployer ? { deployer: { ...a.deployer } } : {}),
    ...(a.transparency ? { transparency: a.transparency } : {}),
    ...(a.generalPurposeModel ? { generalPurposeModel: { ...a.generalPurposeModel } } : {}),
  };
}

export interface Problem {
  /** Within the classification (`euAiAct`), e.g. ['derogation', 'profilesNaturalPersons']. */
  path: (string | number)[];
  message: string;
}

type Classification = Pick<
  EuAiActFacts,
  'category' | 'annexIIIArea' | 'annexIIIPoint' | 'annexI' | 'derogation' | 'transparency'
>;

const viaAnnexI = (f: Classification) => f.annexI?.thirdPartyConformityAssessment === true;
const inAnnexIII = (f: Classification) => f.annexIIIPoint !== undefined || f.annexIIIArea !== undefined;
const notHighRisk = (f: Classification) => f.category === 'limited' || f.category === 'minimal';

/**
 * A classification that contradicts the Act. Rules only on the facts it
 * states: what a document from before these rules left out is not asked for
 * here (stored documents must keep parsing); the workflow asks new
 * submissions for it (submissionProblems).
 */
export function classificationProblems(f: Classification): Problem[] {
  const problems: Problem[] = [];
  if (f.category === 'high_risk' && !inAnnexIII(f) && !viaAnnexI(f)) {
    problems.push(
      f.annexI
        ? {
            path: ['annexI', 'thirdPartyConformityAssessment'],
            message:
              'makes a product under Annex I high-risk only when it needs a third-party conformity assessment (Art. 6(1)(b)); otherwise name the Annex III point (annexIIIPoint)',
          }
        : {
            path: ['annexIIIPoint'],
            message:
              'name what makes the system high-risk: its Annex III point, e.g. "4(a)" (Art. 6(2)), or the Annex I legislation of its product (annexI, Art. 6(1))',
          },
    );
  }
  if (f.annexIIIPoint && f.annexIIIArea && areaOfPoint(f.annexIIIPoint) !== f.annexIIIArea) {
    problems.push({
      path: ['annexIIIPoint'],
      message: `is in Annex III area ${areaOfPoint(f.annexIIIPoint)}, not ${f.annexIIIArea}`,
    });
  }
  if (viaAnnexI(f) && notHighRisk(f)) {
    problems.push({
      path: ['category'],
      message:
        'must be high_risk: a product (or its safety component) under Annex I legislation that needs a third-party conformity assessment is high-risk (Art. 6(1)); the Art. 6(3) derogation covers Annex III only',
    });
  }
  if (f.annexIIIPoint && notHighRisk(f) && !f.derogation && !viaAnnexI(f)) {
    problems.push({
      path: ['derogation'],
      message: `is required: an Annex III system (point ${f.annexIIIPoint}) is high-risk (Art. 6(2)) unless an Art. 6(3) derogation documents the conditions it meets and the reasons`,
    });
  }
  if (f.derogation) {
    if (f.category === 'high_risk' || f.category === 'prohibited') {
      problems.push({
        path: ['derogation'],
        message:
          f.category === 'prohibited'
            ? 'does not apply to a prohibited practice (Art. 5)'
            : 'documents that the system is not high-risk: its category cannot be high_risk',
      });
    }
    if (!inAnnexIII(f)) {
      problems.push({
        path: ['annexIIIPoint'],
        message: 'name the Annex III point the Art. 6(3) derogation is from',
      });
    }
    if (f.derogation.profilesNaturalPersons) {
      problems.push({
        path: ['derogation', 'profilesNaturalPersons'],
        message: 'an Annex III system that profiles natural persons is always high-risk (Art. 6(3)): no derogation',
      });
    }
    if (!unique(f.derogation.conditions)) {
      problems.push({ path: ['derogation', 'conditions'], message: 'must not name a condition twice' });
    }
  }
  if (f.transparency) {
    if (!unique(f.transparency)) problems.push({ path: ['transparency'], message: 'must not name a duty twice' });
    if (f.category === 'limited' && f.transparency.length === 0) {
      problems.push({
        path: ['transparency'],
        message: 'name the Art. 50 duty (or duties) that put the system in the limited category',
      });
    }
  }
  return problems;
}

export interface FriaScope {
  required: boolean;
  /** Why, in words, for the record and the system page. */
  basis: string;
  /**
   * False for an assessment submitted before Art. 27(1)'s scope was recorded
   * (no Annex III point, no Annex I basis): its decision stays the one its
   * run made then, a FRIA from every deployer of a high-risk system.
   */
  art27: boolean;
}

/** Art. 27(1): whether the deployer must carry out a FRIA, and notify the authority of it (Art. 27(3)). */
export function friaScope(role: OrganisationRole, f: EuAiActFacts): FriaScope {
  const deployer = role !== 'provider';
  if (f.annexIIIPoint === undefined && f.annexI === undefined) {
    const required = f.category === 'high_risk' && deployer;
    return {
      required,
      art27: false,
      basis: required
        ? 'a deployer of a high-risk system (assessed before the Annex III point was recorded)'
        : f.category === 'high_risk'
          ? 'the organisation is the provider only; Art. 27 binds deployers'
          : 'not a high-risk system',
    };
  }
  const scope = (required: boolean, basis: string): FriaScope => ({ required, basis, art27: true });
  if (f.category !== 'high_risk') return scope(false, 'not a high-risk system');
  if (!deployer) return scope(false, 'the organisation is the provider only; Art. 27 binds deployers');
  const point = f.annexIIIPoint;
  if (!point) {
    return scope(
      false,
      'high-risk through Annex I (Art. 6(1)) only; Art. 27(1) covers the Annex III systems of Art. 6(2)',
    );
  }
  if (FRIA_EXEMPT.includes(point)) {
    return scope(false, 'Annex III point 2 (critical infrastructure) is exempt from Art. 27(1)');
  }
  if (FRIA_FOR_EVERY_DEPLOYER.includes(point)) {
    return scope(true, `a deployer of an Annex III point ${point} system (${annexIIIPoints[point][1]})`);
  }
  if (f.deployer?.publicLawBody) return scope(true, 'the deployer is a body governed by public law');
  if (f.deployer?.publicServices) return scope(true, 'the deployer is a private entity providing public services');
  return scope(
    false,
    'a private deployer that provides no public services, of a system outside Annex III points 5(b) and 5(c)',
  );
}

/**
 * What a new submission must state for the rules to decide, beyond the
 * document's own consistency; paths from the assessment's root. Only the
 * validator asks this (validators never run on replay), so assessments
 * recorded before keep their decisions.
 */
export function submissionProblems(role: OrganisationRole, f: EuAiActFacts, friaIncluded: boolean): Problem[] {
  const inBlock = (p: Problem): Problem => ({ ...p, path: ['euAiAct', ...p.path] });
  const problems = classificationProblems(f).map(inBlock);
  if (f.annexIIIArea && !f.annexIIIPoint) {
    const example = annexIIIPointIds.find((p) => areaOfPoint(p) === f.annexIIIArea);
    problems.push(
      inBlock({
        path: ['annexIIIPoint'],
        message: `name the Annex III point with its letter (e.g. ${example}): Art. 6(3) and Art. 27(1) turn on it`,
      }),
    );
  }
  if (problems.length > 0) return problems;
  if (f.category === 'high_risk' && f.annexIIIPoint && role !== 'provider' && !f.deployer) {
    return [
      inBlock({
        path: ['deployer'],
        message:
          'state whether the deployer is a body governed by public law (publicLawBody) or a private entity providing public services (publicServices): Art. 27(1) decides by it whether a FRIA is required',
      }),
    ];
  }
  const scope = friaScope(role, f);
  if (scope.required && !friaIncluded) {
    return [{ path: ['fria'], message: `is required: ${scope.basis} (EU AI Act Art. 27(1))` }];
  }
  return [];
}

const DUTY_WORDS: Record<TransparencyDuty, string> = {
  interacts_with_people: 'tells people they interact with an AI system (50(1))',
  synthetic_content: 'marks synthetic content as generated (50(2))',
  emotion_recognition_or_biometric_categorisation:
    'informs people exposed to emotion recognition or biometric categorisation (50(3))',
  deep_fake_or_public_interest_text: 'discloses deep fakes and AI-generated public-interest text (50(4))',
};
const CATEGORY_WORDS: Record<EuAiActCategory, string> = {
  prohibited: 'Prohibited practice (Art. 5)',
  high_risk: 'High-risk',
  limited: 'Limited risk (Art. 50 duties)',
  minimal: 'Minimal risk',
};

/** The classification in one line, for pages and e-mails. */
export function describeClassification(f: EuAiActFacts): string {
  const parts: string[] = [CATEGORY_WORDS[f.category]];
  const bases: string[] = [];
  if (f.annexI?.thirdPartyConformityAssessment)
    bases.push(`Annex I product legislation ${f.annexI.legislation} (Art. 6(1))`);
  if (f.annexIIIPoint) bases.push(`Annex III point ${f.annexIIIPoint}, ${annexIIIPoints[f.annexIIIPoint][1]}`);
  else if (f.annexIIIArea) bases.push(`Annex III area ${f.annexIIIArea.replaceAll('_', ' ')}`);
  if (bases.length) parts[0] += f.derogation ? ` despite ${bases.join(' and ')}` : `: ${bases.join(' and ')}`;
  if (f.derogation)
    parts.push(`Art. 6(3) derogation, condition ${f.derogation.conditions.map((c) => `(${c})`).join(', ')}`);
  if (f.transparency?.length) parts.push(`Art. 50: ${f.transparency.map((d) => DUTY_WORDS[d]).join('; ')}`);
  if (f.generalPurposeModel) {
    const g = f.generalPurposeModel;
    parts.push(
      `Built on the general-purpose AI model ${g.name} by ${g.provider}${g.systemicRisk ? ' (systemic risk, Art. 51)' : ''}`,
    );
  }
  return parts.join('. ');
}
