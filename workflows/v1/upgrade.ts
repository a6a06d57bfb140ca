import type { LifecycleState } from '../../domain/lifecycle.js';
import { documentDigest } from '../../domain/submissions.js';
import type { LifecycleInput as V1Input, LifecycleState as V1State } from './model/lifecycle.js';

/** A version 1 input: anything without the version 2 marker. */
export type LegacyInput = V1Input;

export interface LegacyDocument {
  kind: 'assessment' | 'evidence' | 'plan';
  digest: string;
  content: unknown;
}

/** The documents a version 1 state carried whole, for the record store to keep by digest. */
export function legacyDocuments(s: V1State): LegacyDocument[] {
  const docs: LegacyDocument[] = [];
  const add = (kind: LegacyDocument['kind'], content: unknown) =>
    docs.push({ kind, digest: documentDigest(content), content });
  if (s.assessment) add('assessment', s.assessment.content);
  if (s.evidence) add('evidence', s.evidence.content);
  if (s.plan) add('plan', s.plan.content);
  return docs;
}

/** A version 1 state as version 2 keeps it: documents by digest, decisions with the policy that judged them. */
export function upgradeState(s: V1State, now: Date): LifecycleState {
  const { assessment: a, evidence: e, plan: p } = s;
  return {
    ...s,
    assessment: a && {
      version: a.version,
      submittedAt: a.submittedAt,
      submittedBy: a.submittedBy,
      riskTier: a.riskTier,
      score: a.score,
      digest: documentDigest(a.content),
      euAiActCategory: a.content.euAiAct.category,
      decisionsAboutPeople: a.content.decisionsAboutPeople,
      impacts: a.content.impacts.length,
    },
    evidence: e && {
      version: e.version,
      submittedAt: e.submittedAt,
      submittedBy: e.submittedBy,
      effectiveDate: e.effectiveDate,
      modelVersion: e.modelVersion,
      dataset: e.content.dataset,
      digest: documentDigest(e.content),
      policyVersion: s.policyVersion,
      verdicts: e.verdicts,
      failed: e.failed,
    },
    plan: p && {
      version: p.version,
      submittedAt: p.submittedAt,
      submittedBy: p.submittedBy,
      digest: documentDigest(p.content),
      items: p.content.items.length,
      residualScore: p.residualScore,
      requiresRiskAcceptance: p.requiresRiskAcceptance,
      addressedMetrics: [...new Set(p.content.items.flatMap((i) => i.addressesMetrics))].sort(),
      current: p.current,
    },
    decisions: s.decisions.map((d) => ({ ...d, policyVersion: s.policyVersion, via: 'link' as const })),
    runStartedAt: now.toISOString(),
    auditHead: null,
  };
}
