import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * What the Statement of Applicability reads of each system, in a handful of
 * queries over all systems (never one workflow at a time): the projection,
 * the team, the audit-trail events that are evidence, the latest assessment
 * in full and the treatment plans' items.
 */
export interface SystemEvidenceRecords {
  systemId: string;
  name: string;
  team: string | null;
  stage: string;
  riskTier: string | null;
  reviewDueAt: string | null;
  registration: unknown;
  events: { seq: number; type: string; actor: string | null; at: string; payload: unknown }[];
  latestAssessment: { version: number; content: unknown } | null;
  /** Treatment-plan documents by digest (their items name Annex A controls). */
  plans: Map<string, unknown>;
}

export async function readSystemEvidence(
  db: Kysely<Database>,
  eventTypes: readonly string[],
  systemIds?: readonly string[],
): Promise<SystemEvidenceRecords[]> {
  if (systemIds && systemIds.length === 0) return [];
  let systemsQ = db
    .selectFrom('systems')
    .leftJoin('systemAccess', 'systemAccess.systemId', 'systems.systemId')
    .select([
      'systems.systemId',
      'systems.name',
      'systems.stage',
      'systems.riskTier',
      'systems.reviewDueAt',
      'systems.registration',
      'systemAccess.team',
    ]);
  if (systemIds) systemsQ = systemsQ.where('systems.systemId', 'in', systemIds);
  const systems = await systemsQ.orderBy('systems.name').orderBy('systems.systemId').execute();
  if (systems.length === 0) return [];
  const ids = systems.map((s) => s.systemId);

  const events = await db
    .selectFrom('events')
    .select(['systemId', 'seq', 'type', 'actor', 'at', 'payload'])
    .where('systemId', 'in', ids)
    .where('type', 'in', eventTypes)
    .orderBy('systemId')
    .orderBy('seq')
    .execute();
  const assessments = await db
    .selectFrom('assessments')
    .distinctOn('systemId')
    .select(['systemId', 'version', 'content'])
    .where('systemId', 'in', ids)
    .orderBy('systemId')
    .orderBy('version', 'desc')
    .orderBy('id', 'desc')
    .execute();
  const planDigests = [
    ...new Set(
      events
        .filter((e) => e.type === 'treatment_plan_submitted')
        .map((e) => (e.payload as { digest?: unknown }).digest)
        .filter((d): d is string => typeof d === 'string'),
    ),
  ];
  const plans =
    planDigests.length === 0
      ? []
      : await db.selectFrom('documents').select(['digest', 'content']).where('digest', 'in', planDigests).execute();
  const planByDigest = new Map(plans.map((p) => [p.digest, p.content]));

  return systems.map((s) => {
    const own = events.filter((e) => e.systemId === s.systemId);
    const assessment = assessments.find((a) => a.systemId === s.systemId);
    const digests = new Set(own.map((e) => (e.payload as { digest?: unknown }).digest));
    return {
      systemId: s.systemId,
      name: s.name,
      team: s.team,
      stage: s.stage,
      riskTier: s.riskTier,
      reviewDueAt: s.reviewDueAt?.toISOString() ?? null,
      registration: s.registration,
      events: own.map((e) => ({
        seq: e.seq,
        type: e.type,
        actor: e.actor,
        at: e.at.toISOString(),
        payload: e.payload,
      })),
      latestAssessment: assessment ? { version: assessment.version, content: assessment.content } : null,
      plans: new Map([...planByDigest].filter(([d]) => digests.has(d))),
    };
  });
}
