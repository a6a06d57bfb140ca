import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import {
  buildStatement,
  crosswalkFilters,
  evidenceEventTypes,
  organisationEntrySchema,
  statusText,
  type CrosswalkFilter,
  type OrganisationEntry,
  type Statement,
} from '../../domain/applicability.js';
import { mappingControl, stepReference } from '../../domain/control-mapping.js';
import { annexAControls, controlIds, controlIdSchema, type ControlId } from '../../domain/controls.js';
import { readSystemEvidence } from '../../store/applicability.js';
import {
  addOrganisationControlEntry,
  listOrganisationControlEntries,
  type OrganisationControlEntryRow,
} from '../../store/organisation-controls.js';
import { principalOf } from '../auth/plugin.js';
import type { Role } from '../auth/principal.js';
import type { ApiContext } from '../context.js';
import { apiErrorBodySchema } from '../errors.js';
import { statementPage } from '../pages/applicability.js';

/** Who reads the Statement of Applicability and the organisation's entries: every system, so cross-team roles only. */
export const STATEMENT_READERS: readonly Role[] = ['auditor', 'governance-lead', 'admin'];

const errorBody = apiErrorBodySchema;

const entryView = z.object({
  id: z.number().int(),
  control: z.string(),
  documentReference: z.string(),
  reviewDate: z.string(),
  note: z.string(),
  recordedBy: z.string(),
  recordedAt: z.string(),
  supersededAt: z.string().nullable(),
});

const toView = (r: OrganisationControlEntryRow) => ({
  id: r.id,
  control: r.controlId,
  documentReference: r.documentReference,
  reviewDate: r.reviewDate,
  note: r.note,
  recordedBy: r.recordedBy,
  recordedAt: r.recordedAt.toISOString(),
  supersededAt: r.supersededAt?.toISOString() ?? null,
});

const toEntry = (r: OrganisationControlEntryRow): OrganisationEntry => ({
  id: r.id,
  control: r.controlId as ControlId,
  documentReference: r.documentReference,
  reviewDate: r.reviewDate,
  note: r.note,
  recordedBy: r.recordedBy,
  recordedAt: r.recordedAt.toISOString(),
});

/** The statement as of now, from the record store alone (no workflow is asked). */
export async function loadStatement(ctx: ApiContext, crosswalkFilter: CrosswalkFilter): Promise<Statement> {
  const [systems, entries] = await Promise.all([
    readSystemEvidence(ctx.store.db, evidenceEventTypes),
    listOrganisationControlEntries(ctx.store.db),
  ]);
  return buildStatement({
    now: new Date(),
    policyVersion: ctx.policy.version,
    applicability: ctx.policy.statementOfApplicability,
    organisation: entries.map(toEntry),
    systems,
    crosswalkFilter,
  });
}

export const CSV_COLUMNS = [
  'control',
  'title',
  'group',
  'evidenced_by',
  'applicable',
  'exclusion_justification',
  'implemented_by',
  'supported_by',
  'status',
  'reason',
  'organisation_entries',
  'system_id',
  'system_name',
  'system_stage',
  'system_status',
  'system_reason',
  'evidence',
] as const;

/**
 * One row per control (its overall status, no system), then one per system the control has evidence or a
 * status for. Lists inside a cell are joined with " | ".
 */
export function statementCsv(s: Statement, baseUrl: string): string {
  const rows: Record<(typeof CSV_COLUMNS)[number], string>[] = [];
  for (const c of s.controls) {
    const control = {
      control: c.id,
      title: c.title,
      group: c.group,
      evidenced_by: c.evidencedBy,
      applicable: c.applicable ? 'yes' : 'no',
      exclusion_justification: c.justification ?? '',
      implemented_by: c.implementedBy.map((r) => `${r.title} (${r.cites})`).join(' | '),
      supported_by: c.supportedBy.map((r) => r.title).join(' | '),
      status: statusText[c.status],
      reason: c.reason,
      organisation_entries: c.organisation.entries
        .map((e) => `${e.documentReference} (review ${e.reviewDate}${e.due ? ', due' : ''})`)
        .join(' | '),
    };
    rows.push({
      ...control,
      system_id: '',
      system_name: '',
      system_stage: '',
      system_status: '',
      system_reason: '',
      evidence: '',
    });
    for (const sys of c.systems) {
      rows.push({
        ...control,
        system_id: sys.systemId,
        system_name: sys.name,
        system_stage: sys.stage,
        system_status: statusText[sys.status],
        system_reason: sys.reason,
        evidence: sys.evidence.map((e) => `${e.what} (${e.at}) ${baseUrl}${e.href}`).join(' | '),
      });
    }
  }
  return stringify(rows, { header: true, columns: [...CSV_COLUMNS], record_delimiter: 'windows' });
}

const wantsCsv = (req: FastifyRequest, format: string | undefined) =>
  format === 'csv' || (format === undefined && /\btext\/csv\b/i.test(req.headers.accept ?? ''));

function sendCsv(reply: FastifyReply, body: string, at: string) {
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="statement-of-applicability-${at.slice(0, 10)}.csv"`)
    .send(body);
}

/**
 * The Statement of Applicability (JSON, CSV, and a page) with the ISO/IEC 27001
 * cross-walk beside it, and the organisation's entries for its controls.
 */
export const applicabilityRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    const soa = stepReference('statement_of_applicability');

    app.get(
      '/api/v1/statement-of-applicability',
      {
        schema: {
          summary: `The Statement of Applicability (${soa}): all 38 Annex A controls with their status and evidence, and the ISO/IEC 27001:2022 cross-walk`,
          description:
            'JSON by default; CSV with `Accept: text/csv` or `format=csv`. `crosswalk=covered` keeps the controls an ISO/IEC 27001 ISMS already has evidence for, `crosswalk=open` those still to do.',
          tags: ['audit'],
          querystring: z.object({
            format: z.enum(['json', 'csv']).optional(),
            crosswalk: z.enum(crosswalkFilters).default('all'),
          }),
          response: {
            200: z.any().describe('The statement (JSON), or the same as CSV (text/csv)'),
            401: errorBody,
            403: errorBody,
            422: errorBody,
          },
        },
        config: { access: { roles: STATEMENT_READERS } },
      },
      async (req, reply) => {
        const statement = await loadStatement(ctx, req.query.crosswalk);
        if (wantsCsv(req, req.query.format))
          return sendCsv(reply, statementCsv(statement, ctx.publicBaseUrl), statement.generatedAt);
        return reply.header('cache-control', 'no-store').send(statement);
      },
    );

    app.get<{ Querystring: Record<string, unknown> }>(
      '/statement-of-applicability',
      { schema: { hide: true }, config: { access: { roles: STATEMENT_READERS } } },
      async (req, reply) => {
        const raw = req.query?.crosswalk;
        const asked = typeof raw === 'string' && raw !== '' ? raw : 'all';
        const filter = (crosswalkFilters as readonly string[]).includes(asked) ? (asked as CrosswalkFilter) : 'all';
        const statement = await loadStatement(ctx, filter);
        return reply.type('text/html; charset=utf-8').send(
          statementPage(statement, {
            filterError:
              filter === asked ? undefined : `“${asked}” is not a cross-walk filter, so every control is shown.`,
          }),
        );
      },
    );

    app.get(
      '/api/v1/organisation/controls',
      {
        schema: {
          summary:
            "The organisation's documented information per ISO/IEC 42001 control (current entries; history=true adds the superseded)",
          tags: ['audit'],
          querystring: z.object({ history: z.enum(['true', 'false']).default('false') }),
          response: {
            200: z.object({
              controls: z.array(
                z.object({
                  control: z.string(),
                  title: z.string(),
                  evidencedBy: z.enum(['lifecycle', 'organisation']),
                  expects: z.string().nullable(),
                  entries: z.array(entryView),
                }),
              ),
            }),
            401: errorBody,
            403: errorBody,
            422: errorBody,
          },
        },
        config: { access: { roles: STATEMENT_READERS } },
      },
      async (req) => {
        const rows = await listOrganisationControlEntries(ctx.store.db, { history: req.query.history === 'true' });
        return {
          controls: controlIds.map((id) => ({
            control: id,
            title: annexAControls[id],
            evidencedBy: mappingControl(id).evidence,
            expects: mappingControl(id).expects ?? null,
            entries: rows.filter((r) => r.controlId === id).map(toView),
          })),
        };
      },
    );

    const entryRoute = (method: 'POST' | 'PUT') =>
      app.route({
        method,
        url: '/api/v1/organisation/controls/:controlId',
        schema: {
          summary:
            method === 'POST'
              ? "Add a document to the organisation's entries for an ISO/IEC 42001 control"
              : "Replace the organisation's entries for an ISO/IEC 42001 control with this one (the old stay on record, superseded)",
          tags: ['audit'],
          params: z.object({ controlId: controlIdSchema }),
          body: organisationEntrySchema,
          response: {
            [method === 'POST' ? 201 : 200]: z.object({
              entry: entryView,
              superseded: z.number().int(),
              entries: z.array(entryView),
            }),
            401: errorBody,
            403: errorBody,
            422: errorBody,
          },
        },
        config: { access: { roles: ['admin'] } },
        handler: async (req, reply) => {
          const { controlId } = req.params as { controlId: ControlId };
          const body = req.body as z.infer<typeof organisationEntrySchema>;
          const who = principalOf(req);
          const { entry, superseded } = await addOrganisationControlEntry(
            ctx.store.db,
            { controlId, ...body, recordedBy: who.email, recordedById: who.id },
            { replace: method === 'PUT' },
          );
          const entries = await listOrganisationControlEntries(ctx.store.db, { controlId });
          return reply
            .code(method === 'POST' ? 201 : 200)
            .send({ entry: toView(entry), superseded, entries: entries.map(toView) });
        },
      });
    entryRoute('POST');
    entryRoute('PUT');
  };
