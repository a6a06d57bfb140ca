import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { z } from 'zod';
import { FORGED_DECISION, INVALID_INPUT, SEGREGATION_OF_DUTIES, WRONG_STAGE } from '../workflows/messages.js';
import { jsonErrorOffset } from '../cli/files.js';
import { redactText } from '../config/redact.js';
import { escapeHtml, page } from './html.js';

/** The one error body every API route answers with (and documents in OpenAPI). */
export const apiErrorBodySchema = z.object({
  error: z.string(),
  message: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  stage: z.string().optional(),
  /** The segregation-of-duties rule (domain/duties.ts) a refusal applied. */
  rule: z.string().optional(),
});
export type ApiErrorBody = z.infer<typeof apiErrorBodySchema>;

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.message);
  }
}

const pointerToPath = (pointer: string) => pointer.replace(/^\//, '').replaceAll('/', '.');

/**
 * The envelope's name for what Fastify refuses before a handler runs, so a
 * caller never sees a raw `FST_ERR_*` code: by Fastify's code first, then by status.
 */
const FRAMEWORK_ERRORS: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_content_length',
};
const STATUS_ERRORS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  409: 'conflict',
  413: 'body_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  431: 'headers_too_large',
};
/** Refusals of the request itself (not of what a handler decided): a page asked for by a browser gets them as HTML. */
const REQUEST_LEVEL = new Set([
  'invalid_json',
  'forbidden_key',
  'unsupported_media_type',
  'body_too_large',
  'invalid_content_length',
  'rate_limited',
  'method_not_allowed',
]);

/** A browser asking for a page, not an API client: pages keep HTML error pages, with the same status codes. */
export function wantsHtml(req: FastifyRequest): boolean {
  if (req.url.startsWith('/api/')) return false;
  const accept = req.headers.accept ?? '';
  return accept.includes('text/html');
}

function sendError(
  req: FastifyRequest,
  reply: FastifyReply,
  status: number,
  body: ApiErrorBody,
  requestLevel = REQUEST_LEVEL.has(body.error),
): void {
  if (requestLevel && wantsHtml(req)) {
    const title = status === 429 ? 'Too many requests' : status === 404 ? 'Page not found' : 'Request refused';
    void reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(page({ title, body: `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(body.message)}</p>` }));
    return;
  }
  void reply.code(status).send(body);
}

/**
 * The 400 for a body that is not JSON, naming where it stops being JSON (the
 * body's length when it ends too early). Never echoes the body itself.
 */
export function invalidJson(text: string): ApiError {
  if (text.trim().length === 0) {
    return new ApiError(400, { error: 'invalid_json', message: 'body is empty: expected JSON at position 0' });
  }
  let at: number;
  try {
    at = jsonErrorOffset(text);
  } catch {
    // A body nested deeper than the scanner's stack: say where V8 stopped, if it said.
    try {
      JSON.parse(text);
      at = 0;
    } catch (err) {
      at = Number(/position (\d+)/.exec((err as Error).message)?.[1] ?? 0);
    }
  }
  const what = at >= text.length ? 'unexpected end of input' : `unexpected ${JSON.stringify(text[at])}`;
  return new ApiError(400, { error: 'invalid_json', message: `body is not valid JSON: ${what} at position ${at}` });
}

const ROUTE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * No route answers this request: 405 with an Allow header when the path
 * exists under other methods, else 404, both in the envelope (HTML for a page).
 * Paths are named redacted: a mistyped approval link still holds its token.
 */
export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): void {
  const path = req.url.split('?')[0] ?? '/';
  const allowed = ROUTE_METHODS.filter((method) => req.server.findRoute({ method, url: path }) !== null);
  const shown = redactText(path);
  if (allowed.length > 0) {
    void reply.header('allow', allowed.join(', '));
    sendError(req, reply, 405, {
      error: 'method_not_allowed',
      message: `${req.method} is not allowed on ${shown}; allowed: ${allowed.join(', ')}`,
    });
    return;
  }
  sendError(req, reply, 404, { error: 'not_found', message: `nothing answers ${req.method} ${shown}` }, true);
}

/**
 * Validation failures name the field: 400 for a body that is not JSON,
 * 422 for JSON that breaks the schema.
 */
export function apiErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof ApiError) {
    sendError(req, reply, err.statusCode, err.body);
    return;
  }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = err.validationContext ?? 'body';
    const issues = err.validation.map((v) => ({
      path: [where, pointerToPath(v.instancePath)].filter(Boolean).join('.'),
      message: v.message ?? 'is invalid',
    }));
    void reply.code(422).send({
      error: 'validation_failed',
      message: issues.map((i) => `${i.path}: ${i.message}`).join('; '),
      issues,
    } satisfies ApiErrorBody);
    return;
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    const error =
      (err.code ? FRAMEWORK_ERRORS[err.code] : undefined) ??
      (err.code && !err.code.startsWith('FST_') ? err.code : (STATUS_ERRORS[err.statusCode] ?? 'bad_request'));
    sendError(req, reply, err.statusCode, { error, message: err.message });
    return;
  }
  req.log.error({ err }, 'request failed');
  void reply
    .code(500)
    .send({ error: 'internal', message: 'the request could not be completed' } satisfies ApiErrorBody);
}

export function notFound(systemId: string): ApiError {
  return new ApiError(404, { error: 'not_found', message: `no AI system with id ${systemId}` });
}

/** Turns what Temporal answers to a message into the HTTP status a caller can act on. */
export function fromWorkflowError(err: unknown, systemId: string): ApiError | undefined {
  if (err instanceof WorkflowNotFoundError) return notFound(systemId);
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    const failure = err.cause;
    const details = (failure.details?.[0] ?? {}) as { stage?: string; issues?: { path: string; message: string }[] };
    if (failure.type === WRONG_STAGE) {
      return new ApiError(409, { error: 'wrong_stage', message: failure.message, stage: details.stage });
    }
    if (failure.type === SEGREGATION_OF_DUTIES) {
      const { rule } = (failure.details?.[0] ?? {}) as { rule?: string };
      return new ApiError(403, { error: 'segregation_of_duties', rule, message: failure.message });
    }
    if (failure.type === FORGED_DECISION) {
      return new ApiError(403, { error: 'forged_decision', message: failure.message, stage: details.stage });
    }
    if (failure.type === INVALID_INPUT) {
      return new ApiError(422, {
        error: 'validation_failed',
        message: failure.message,
        stage: details.stage,
        issues: (details.issues ?? []).map((i) => ({ path: `body.${i.path}`, message: i.message })),
      });
    }
  }
  return undefined;
}
