import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { z } from 'zod';
import { INVALID_INPUT, WRONG_STAGE } from '../workflows/messages.js';

/** The one error body every API route answers with (and documents in OpenAPI). */
export const apiErrorBodySchema = z.object({
  error: z.string(),
  message: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  stage: z.string().optional(),
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
 * Validation failures name the field: 400 for a body that is not JSON,
 * 422 for JSON that breaks the schema.
 */
export function apiErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof ApiError) {
    void reply.code(err.statusCode).send(err.body);
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
    void reply
      .code(err.statusCode)
      .send({ error: err.code ?? 'bad_request', message: err.message } satisfies ApiErrorBody);
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
