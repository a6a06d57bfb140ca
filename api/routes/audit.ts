import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditVerificationSchema } from '../../domain/audit.js';
import { systemIdSchema } from '../../domain/system.js';
import { verifyAuditTrail } from '../audit.js';
import type { ApiContext } from '../context.js';
import { apiErrorBodySchema, notFound } from '../errors.js';

/** Who reads the proof that the audit trail is intact: the cross-team roles that answer for it. */
const VERIFIERS = ['auditor', 'governance-lead', 'admin'] as const;

export const auditRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/api/v1/systems/:id/audit/verify',
      {
        schema: {
          summary: "Verify a system's audit trail: its hash chain, and its head against the workflow's anchor",
          description:
            'Recomputes every record of the SHA-256 hash chain in the record store (an edited, removed or inserted ' +
            'record breaks it), then compares the hash of the record at the seq the lifecycle workflow anchored ' +
            'outside the database with the anchored hash: a rewrite of the whole chain with every hash recomputed ' +
            'breaks that. Records after the anchored one (written, not yet anchored) are vouched for by the chain ' +
            'alone; `anchored.afterAnchor` counts them. `ok` is false on either break, with `brokenAtSeq` and ' +
            '`reason`.',
          tags: ['audit'],
          params: z.object({ id: systemIdSchema }),
          response: {
            200: auditVerificationSchema,
            401: apiErrorBodySchema,
            403: apiErrorBodySchema,
            404: apiErrorBodySchema,
            422: apiErrorBodySchema,
          },
        },
        config: { access: { roles: VERIFIERS, system: true } },
      },
      async (req) => {
        const verified = await verifyAuditTrail(ctx, req.params.id);
        if (!verified) throw notFound(req.params.id);
        return verified.verification;
      },
    );
  };
