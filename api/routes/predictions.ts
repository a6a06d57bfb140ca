/**
 * Bias evidence the product computes (issue 10): the AI team uploads its model's predictions, the API streams
 * them into the blob store and hands the workflow their hash, and an activity computes the metrics while the
 * caller polls the result link. The governance lead may accept the risk of metrics that fail or are
 * inconclusive, with reasons.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BlobTooLarge } from '../../blobs/index.js';
import {
  analysisIdSchema,
  columnSchema,
  fairnessRiskAcceptanceSchema,
  type AnalysisRecord,
  type AnalysisRequest,
  type PredictionSpecInput,
} from '../../domain/bias-gate.js';
import type { LifecycleState } from '../../domain/lifecycle.js';
import { Refusal, validateAnalysis } from '../../domain/machine.js';
import { emailSchema, systemIdSchema } from '../../domain/system.js';
import { acceptFairnessRiskUpdate, analysePredictionsUpdate } from '../../workflows/messages.js';
import { bindActors } from '../auth/actors.js';
import { principalOf } from '../auth/plugin.js';
import { roleSchema, type Role } from '../auth/principal.js';
import type { ApiContext } from '../context.js';
import { ApiError, apiErrorBodySchema } from '../errors.js';
import { queryState, sendToLifecycle } from '../lifecycle-state.js';
import { headProblems, readHead } from '../../fairness/head.js';

const errorBody = apiErrorBodySchema;
const errorResponses = { 401: errorBody, 403: errorBody, 404: errorBody, 409: errorBody, 422: errorBody };

/** Who uploads: as for every other submission of the AI team's work (api/routes/systems.ts). */
const WORKERS: readonly Role[] = ['ai-team', 'governance-lead', 'admin'];

/** The media types an upload may come as; the format follows from the type unless it says nothing (octet-stream). */
const UPLOAD_TYPES: Record<string, 'csv' | 'jsonl' | undefined> = {
  'text/csv': 'csv',
  'application/x-ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
  'application/octet-stream': undefined,
};

const UPLOAD_PATH = /^\/api\/v1\/systems\/[^/]+\/bias-evidence\/predictions\/?$/;
/** Requests that were sent their 100 Continue. */
const continued = new WeakSet<IncomingMessage>();
const expectsContinue = (req: IncomingMessage) => /^\s*100-continue\s*$/i.test(req.headers.expect ?? '');

const idParams = z.object({ id: systemIdSchema });
const analysisParams = z.object({ id: systemIdSchema, analysisId: analysisIdSchema });

/** `sensitive=a,b`, or the parameter given more than once. */
const columnList = z
  .union([z.string(), z.array(z.string())], {
    error: (issue) => (issue.input === undefined ? 'is required' : 'must be column names separated by commas'),
  })
  .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()))
  .pipe(z.array(columnSchema).min(1, 'name at least one sensitive column').max(8));

const predictionsQuery = z.strictObject({
  label: columnSchema.describe('the column holding the true outcome'),
  prediction: columnSchema.describe("the column holding the model's decision"),
  sensitive: columnList.describe(
    'the sensitive-attribute columns, comma-separated: every feature the registration names',
  ),
  positive: z.string().min(1).max(200).optional().describe('the positive class; without it 1/true/yes are positive'),
  weight: columnSchema.optional(),
  score: columnSchema.optional(),
  format: z.enum(['csv', 'jsonl']).optional().describe('defaults from the content type'),
  dataset: z.string().trim().min(3).max(1000).optional().describe('what the predictions were made on'),
  effectiveDate: z.iso.date('must be a date like 2026-11-20').optional().describe('default: today (UTC)'),
  modelVersion: z.string().min(1).max(100).optional().describe("default: the system's current model version"),
  submittedBy: emailSchema.optional().describe('the caller, or left out'),
});
type PredictionsQuery = z.output<typeof predictionsQuery>;

const accepted = z.object({
  analysisId: z.string(),
  status: z.literal('running'),
  result: z.string(),
  sha256: z.string(),
  bytes: z.number().int(),
  stage: z.string(),
});
const analysisBody = z.record(z.string(), z.unknown());

const resultLink = (id: string, analysisId: string) => `/api/v1/systems/${id}/bias-evidence/analyses/${analysisId}`;

/** A refusal of the request's own parameters or file, in the one envelope. */
const invalid = (issues: { path: string; message: string }[], error = 'validation_failed') =>
  new ApiError(422, { error, message: issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues });

/** The workflow's validator names fields of the message; here they came as query parameters. */
function asQueryIssues(err: ApiError): ApiError {
  const issues = err.body.issues?.map((i) => ({
    ...i,
    path: `querystring.${i.path.replace(/^body\./, '').replace(/^spec\./, '')}`,
  }));
  return issues ? new ApiError(err.statusCode, { ...err.body, issues }) : err;
}

/** A Refusal of the workflow's own rules (domain/machine), answered as the workflow's answer would be. */
function refusalAnswer(r: Refusal): ApiError {
  if (r.type === 'WrongStage') return new ApiError(409, { error: 'wrong_stage', message: r.message, stage: r.stage });
  return asQueryIssues(
    new ApiError(422, {
      error: 'validation_failed',
      message: r.message,
      stage: r.stage,
      issues: r.issues.map((i) => ({ path: i.path, message: i.message })),
    }),
  );
}

function formatOf(contentType: string | undefined, query: PredictionsQuery): 'csv' | 'jsonl' {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const implied = UPLOAD_TYPES[mediaType];
  if (query.format && implied && query.format !== implied) {
    throw invalid([
      { path: 'querystring.format', message: `is ${query.format}, but the body is sent as ${mediaType}` },
    ]);
  }
  const format = query.format ?? implied;
  if (!format) {
    throw invalid([{ path: 'querystring.format', message: `is required with ${mediaType}: csv or jsonl` }]);
  }
  return format;
}

/** What the caller sees of an analysis; the report only where asked for one. */
function analysisView(systemId: string, a: AnalysisRecord) {
  return {
    analysisId: a.id,
    systemId,
    status: a.status,
    result: resultLink(systemId, a.id),
    requestedAt: a.requestedAt,
    finishedAt: a.finishedAt,
    submittedBy: a.submittedBy,
    modelVersion: a.modelVersion,
    effectiveDate: a.effectiveDate,
    dataset: a.dataset,
    sha256: a.blob,
    bytes: a.bytes,
    spec: a.spec,
    evidenceVersion: a.evidenceVersion,
    reportDigest: a.reportDigest,
    ...(a.status === 'failed' ? { error: a.error, issues: a.issues } : {}),
  };
}

/** The evidence the analysis became, while it is still the system's current evidence. */
function evidenceOf(state: LifecycleState, a: AnalysisRecord) {
  const e = state.evidence;
  if (!e || a.evidenceVersion === null || e.version !== a.evidenceVersion) return null;
  return {
    version: e.version,
    failed: e.failed,
    inconclusive: e.inconclusive ?? [],
    accepted: e.accepted ?? [],
    verdicts: e.verdicts,
  };
}

export const predictionRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    // Expect: 100-continue: Node would answer 100 before any route runs. An upload is asked for its body only
    // once the request has passed every check that needs none of it (credential, stage, size), so a refused
    // file is never sent; every other request gets its 100 at once, as before.
    app.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      if (!UPLOAD_PATH.test((req.url ?? '').split('?')[0]!)) {
        continued.add(req);
        res.writeContinue();
      }
      app.server.emit('request', req, res);
    });

    // Its own scope: only the upload route takes these bodies, and takes them as the raw stream (never buffered).
    await app.register(async (scope) => {
      const upload = scope.withTypeProvider<ZodTypeProvider>();
      upload.addContentTypeParser(Object.keys(UPLOAD_TYPES), (_req, payload, done) => done(null, payload));
      // An answer before the whole file has arrived (a refusal) must still reach a client that is busy sending:
      // a socket closed under it loses the answer. A client that asked to be told first (Expect: 100-continue)
      // has sent nothing, and the connection ends. One sending a file of a size the server would take has it
      // read to the end and discarded (what Node does with an unread body), as an accepted upload would cost.
      // Anything larger, or of no stated size, ends the connection: reading more would cost more than it tells.
      upload.addHook('onSend', async (req, reply) => {
        if (req.raw.complete) return;
        const length = Number(req.headers['content-length']);
        const waiting = expectsContinue(req.raw) && !continued.has(req.raw);
        if (waiting || !Number.isFinite(length) || length > ctx.policy.biasTesting.uploads.maxBytes) {
          void reply.header('connection', 'close');
        }
      });
      upload.post(
        '/api/v1/systems/:id/bias-evidence/predictions',
        {
          schema: {
            summary: 'Upload predictions (CSV or JSON Lines): the product computes the fairness metrics',
            tags: ['lifecycle'],
            description:
              'The body is the file itself (text/csv, application/x-ndjson, application/jsonl, or application/octet-stream with format=), streamed into the blob store under its SHA-256. A file over the policy limit answers 413; a column the file lacks, or a file without data rows, 422 naming it. Accepted uploads answer 202 with the link to poll (Location); the analysis runs in the background and its verdicts become the bias evidence.',
            params: idParams,
            querystring: predictionsQuery,
            response: { 202: accepted, 413: errorBody, 415: errorBody, ...errorResponses },
          },
          config: {
            access: { roles: WORKERS, system: true },
            streamedBody: Object.keys(UPLOAD_TYPES),
          },
        },
        async (req, reply) => {
          const { id } = req.params;
          const query = req.query;
          const caller = principalOf(req);
          if (query.submittedBy !== undefined && query.submittedBy.trim().toLowerCase() !== caller.email) {
            const issue = {
              path: 'querystring.submittedBy',
              message: `must be the authenticated caller (${caller.email}) or left out: actors come from the credential, never from the request`,
            };
            throw new ApiError(422, {
              error: 'actor_mismatch',
              message: `${issue.path}: ${issue.message}`,
              issues: [issue],
            });
          }
          const format = formatOf(req.headers['content-type'], query);
          const maxBytes = ctx.policy.biasTesting.uploads.maxBytes;
          const tooLarge = () =>
            reply
              .code(413)
              .header('connection', 'close')
              .send({
                error: 'body_too_large',
                message: `the predictions file is over the limit of ${maxBytes} bytes (policy biasTesting.uploads.maxBytes)`,
              });
          const length = Number(req.headers['content-length']);
          if (Number.isFinite(length) && length > maxBytes) return tooLarge();

          const state = await queryState(ctx, id);
          const spec: PredictionSpecInput = {
            format,
            label: query.label,
            prediction: query.prediction,
            sensitive: query.sensitive,
            ...(query.weight !== undefined ? { weight: query.weight } : {}),
            ...(query.score !== undefined ? { score: query.score } : {}),
            ...(query.positive !== undefined ? { positive: query.positive } : {}),
          };
          const draft = {
            analysisId: `an-${randomBytes(12).toString('hex')}`,
            submittedBy: caller.email,
            modelVersion: query.modelVersion ?? state.modelVersion,
            effectiveDate: query.effectiveDate ?? new Date().toISOString().slice(0, 10),
            dataset: query.dataset ?? 'uploaded predictions',
            blob: '0'.repeat(64),
            bytes: 0,
            spec,
          };
          // The workflow's own rules on the state it answered, before a byte is read: a wrong stage, model
          // version or feature list is told at once, not after the upload. The update's validator decides.
          try {
            validateAnalysis(state, { now: new Date(), policy: ctx.policy, governanceLead: ctx.governanceLead }, draft);
          } catch (err) {
            if (err instanceof Refusal) throw refusalAnswer(err);
            throw err;
          }

          const body = req.body as Readable | undefined;
          if (!body) throw invalid([{ path: 'body', message: 'is required: the predictions file itself' }]);
          let stored: { sha256: string; bytes: number };
          try {
            // Every check that needs no byte of the file has passed: now it is asked for.
            if (expectsContinue(req.raw) && !continued.has(req.raw)) {
              continued.add(req.raw);
              reply.raw.writeContinue();
            }
            stored = await ctx.blobs.put(body, { maxBytes });
          } catch (err) {
            if (err instanceof BlobTooLarge) return tooLarge();
            if (body.errored || body.destroyed) {
              throw new ApiError(400, { error: 'upload_interrupted', message: 'the upload ended before the file did' });
            }
            throw err;
          }

          const problems = headProblems(await readHead(ctx.blobs.open(stored.sha256), format), spec, stored.bytes);
          if (problems.length) {
            throw invalid(
              problems.map((p) => ({
                path: p.param === 'body' ? 'body' : `querystring.${p.param}`,
                message: p.message,
              })),
              'invalid_predictions',
            );
          }

          const request: AnalysisRequest = {
            ...draft,
            dataset: query.dataset ?? `uploaded predictions, sha256 ${stored.sha256}`,
            blob: stored.sha256,
            bytes: stored.bytes,
          };
          let result: { analysisId: string; status: 'running'; stage: string };
          try {
            // The analysis id is the update's id: a retried request is the same update, never a second analysis.
            result = await sendToLifecycle(
              ctx,
              id,
              analysePredictionsUpdate,
              [{ ...request, principal: caller.id } as AnalysisRequest],
              { updateId: request.analysisId },
            );
          } catch (err) {
            throw err instanceof ApiError ? asQueryIssues(err) : err;
          }
          const link = resultLink(id, result.analysisId);
          return reply.code(202).header('location', link).send({
            analysisId: result.analysisId,
            status: result.status,
            result: link,
            sha256: stored.sha256,
            bytes: stored.bytes,
            stage: result.stage,
          });
        },
      );
    });

    app.get(
      '/api/v1/systems/:id/bias-evidence/analyses',
      {
        schema: {
          summary: "A system's predictions analyses, newest first",
          tags: ['lifecycle'],
          params: idParams,
          response: { 200: z.object({ analyses: z.array(analysisBody) }), 401: errorBody, 404: errorBody },
        },
        config: { access: { roles: roleSchema.options, system: true } },
      },
      async (req) => {
        const state = await queryState(ctx, req.params.id);
        return { analyses: [...(state.analyses ?? [])].reverse().map((a) => analysisView(state.systemId, a)) };
      },
    );

    app.get(
      '/api/v1/systems/:id/bias-evidence/analyses/:analysisId',
      {
        schema: {
          summary:
            'One analysis: running, completed (with the full report and its verdicts), failed (with why) or superseded',
          tags: ['lifecycle'],
          params: analysisParams,
          response: { 200: analysisBody, 401: errorBody, 404: errorBody, 422: errorBody },
        },
        config: { access: { roles: roleSchema.options, system: true } },
      },
      async (req, reply) => {
        const { id, analysisId } = req.params;
        const state = await queryState(ctx, id);
        const a = (state.analyses ?? []).find((x) => x.id === analysisId);
        if (!a) throw new ApiError(404, { error: 'not_found', message: `no analysis ${analysisId} of ${id}` });
        if (a.status === 'running') void reply.header('retry-after', '2');
        const view = analysisView(id, a);
        if (a.status !== 'completed' || !a.reportDigest) return view;
        const report = await ctx.store.getDocument(a.reportDigest);
        if (!report)
          throw new Error(`the report ${a.reportDigest} of analysis ${analysisId} is not in the record store`);
        return { ...view, report: report.content, evidence: evidenceOf(state, a) };
      },
    );

    app.post(
      '/api/v1/systems/:id/bias-evidence/risk-acceptance',
      {
        schema: {
          summary: "The governance lead's recorded acceptance of fairness metrics that fail or are inconclusive",
          tags: ['lifecycle'],
          description:
            'Names the evidence version and its metric:feature keys, with the reasons. Only the governance lead: acceptedBy is the credential, and an acceptance covers only the evidence it names.',
          params: idParams,
          body: fairnessRiskAcceptanceSchema,
          response: { 200: z.record(z.string(), z.unknown()), ...errorResponses },
        },
        config: { access: { roles: ['governance-lead'], system: true } },
        preValidation: bindActors([['acceptedBy']]),
      },
      async (req) => {
        const { id } = req.params;
        const result = await sendToLifecycle(ctx, id, acceptFairnessRiskUpdate, [
          { ...req.body, principal: principalOf(req).id } as z.output<typeof fairnessRiskAcceptanceSchema>,
        ]);
        return { id, ...result };
      },
    );
  };
