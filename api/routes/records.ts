import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  approvalsRecordSchema,
  assessmentRecordSchema,
  assessmentSummarySchema,
  auditEntrySchema,
  biasEvidenceRecordSchema,
  friaNotificationRecordSchema,
  incidentRecordSchema,
  modelVersionRecordSchema,
  notificationRecordSchema,
  registrationRecordSchema,
  reviewRecordSchema,
  treatmentPlanRecordSchema,
  treatmentPlanSummarySchema,
  type SystemRecords,
} from '../../domain/records.js';
import { systemIdSchema } from '../../domain/system.js';
import { principalOf } from '../auth/plugin.js';
import { roleSchema } from '../auth/principal.js';
import type { ApiContext } from '../context.js';
import { ApiError, apiErrorBodySchema } from '../errors.js';
import { buildEvidencePack } from '../evidence-pack.js';
import { readSystemRecords } from '../records.js';

const errorBody = apiErrorBodySchema;
const errors = { 401: errorBody, 403: errorBody, 404: errorBody, 422: errorBody };
const idParams = z.object({ id: systemIdSchema });
const versionParams = idParams.extend({
  version: z.coerce.number().int('must be a whole number').positive('must be 1 or more'),
});
/** Whoever may see a system reads its records (team scoping as everywhere; auditors read all). */
const READERS = { roles: roleSchema.options, system: true } as const;

/**
 * Every full record of a system, each on its own, read from the record
 * store: what `GET /api/v1/systems/:id` only counts. The evidence pack writes
 * the same records, through the same schemas (domain/records.ts).
 */
export const recordRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    const read = (id: string) => readSystemRecords(ctx.store, id);

    /** A list (or one record) of a system's records, by a getter on all of them. */
    function listRoute(path: string, summary: string, schema: z.ZodType, pick: (r: SystemRecords) => unknown) {
      app.get(
        `/api/v1/systems/:id${path}`,
        {
          schema: { summary, tags: ['records'], params: idParams, response: { 200: schema, ...errors } },
          config: { access: READERS },
        },
        async (req) => pick(await read(req.params.id)) as never,
      );
    }

    /** One version of a versioned record; an unknown version answers 404 naming it. */
    function versionRoute(
      path: string,
      what: string,
      schema: z.ZodType,
      pick: (r: SystemRecords) => { version: number }[],
    ) {
      app.get(
        `/api/v1/systems/:id${path}/:version`,
        {
          schema: {
            summary: `One version of a system's ${what}, in full`,
            tags: ['records'],
            params: versionParams,
            response: { 200: schema, ...errors },
          },
          config: { access: READERS },
        },
        async (req) => {
          const { id, version } = req.params;
          // A restarted lifecycle counts from 1 again: the latest record of a version is the one in force.
          const found = pick(await read(id))
            .filter((x) => x.version === version)
            .at(-1);
          if (!found)
            throw new ApiError(404, { error: 'not_found', message: `${id} has no ${what} version ${version}` });
          return found as never;
        },
      );
    }

    listRoute(
      '/registration',
      'The registration as submitted, who registered it for which team, and where the lifecycle stands',
      registrationRecordSchema,
      (r) => r.registration,
    );
    listRoute(
      '/assessments',
      'Every impact assessment version (summaries; GET …/assessments/:version for one in full)',
      z.array(assessmentSummarySchema),
      (r) => r.assessments.map(({ content: _content, ...summary }) => summary),
    );
    versionRoute('/assessments', 'impact assessment', assessmentRecordSchema, (r) => r.assessments);
    listRoute(
      '/bias-evidence',
      'Every bias-testing evidence version: file hashes, verdicts, the metrics submitted or the fairness report computed',
      z.array(biasEvidenceRecordSchema),
      (r) => r.biasEvidence,
    );
    versionRoute('/bias-evidence', 'bias evidence', biasEvidenceRecordSchema, (r) => r.biasEvidence);
    listRoute(
      '/treatment-plans',
      'Every risk-treatment plan version (summaries; GET …/treatment-plans/:version for one in full)',
      z.array(treatmentPlanSummarySchema),
      (r) => r.treatmentPlans.map(({ content: _content, ...summary }) => summary),
    );
    versionRoute('/treatment-plans', 'treatment plan', treatmentPlanRecordSchema, (r) => r.treatmentPlans);
    listRoute(
      '/approvals',
      'Every approval request and its outcome, every decision with the digest it approved, and invalidated approvals',
      approvalsRecordSchema,
      (r) => r.approvals,
    );
    listRoute(
      '/reviews',
      'Every periodic review with its sign-off decisions',
      z.array(reviewRecordSchema),
      (r) => r.reviews,
    );
    listRoute(
      '/incidents',
      'Every incident with its corrective action and its closure',
      z.array(incidentRecordSchema),
      (r) => r.incidents,
    );
    listRoute(
      '/fria-notifications',
      'Every notification of the market surveillance authority (EU AI Act Art. 27(3))',
      z.array(friaNotificationRecordSchema),
      (r) => r.friaNotifications,
    );
    listRoute(
      '/model-versions',
      'Every change of model version announced',
      z.array(modelVersionRecordSchema),
      (r) => r.modelVersions,
    );
    listRoute(
      '/notifications',
      'Every e-mail in the outbox: kind, recipient, subject, delivery status',
      z.array(notificationRecordSchema),
      (r) => r.notifications,
    );
    listRoute(
      '/audit',
      'Every audit-trail entry in chain order, with what its hash covers and the lifecycle steps it records',
      z.array(auditEntrySchema),
      (r) => r.audit,
    );

    app.get(
      '/api/v1/systems/:id/evidence-pack',
      {
        schema: {
          summary: "A zip of every record of a system, its audit trail's verification, and a printable report",
          description:
            'application/zip: manifest.json (the SHA-256 of every other file, the generation time, the chain head), ' +
            'records/*.json (each as the per-record routes answer it), records/audit-verification.json (as ' +
            'GET …/audit/verify answers it) and report.html (self-contained, printable, each part labelled with ' +
            'the ISO/IEC 42001 controls and clauses it evidences).',
          tags: ['records'],
          params: idParams,
          response: errors,
        },
        config: { access: READERS },
      },
      async (req, reply) => {
        const caller = principalOf(req);
        const pack = await buildEvidencePack(ctx, req.params.id, `${caller.email} (${caller.id})`);
        return reply
          .type('application/zip')
          .header('content-disposition', `attachment; filename="${pack.fileName}"`)
          .header('cache-control', 'no-store')
          .send(pack.stream as never);
      },
    );
  };
