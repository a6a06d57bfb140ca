import type { Payload } from '@temporalio/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PayloadCodecError } from '../../payloads/codec.js';
import type { ApiContext } from '../context.js';
import { ApiError, apiErrorBodySchema } from '../errors.js';

/**
 * Temporal's remote codec server protocol, so that an auditor or admin can
 * read this product's encrypted payloads in the Temporal UI (or the CLI with
 * `--codec-endpoint`): the UI posts `{payloads: [{metadata, data}]}` in
 * proto3 JSON (bytes as base64) to `<endpoint>/decode` and `/encode`, and
 * reads back the same shape. The browser calls it cross-origin, so the
 * configured Temporal UI origin (TEMPORAL_UI_ORIGIN) is allowed, with
 * credentials and the preflight; no other origin is.
 */
const base64 = z
  .string()
  .regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64')
  .transform((s) => new Uint8Array(Buffer.from(s, 'base64')));
const jsonPayload = z.object({
  metadata: z.record(z.string().min(1).max(256), base64).optional(),
  data: base64.optional(),
});
const body = z.object({ payloads: z.array(jsonPayload).max(10_000) });
const answer = z.object({
  payloads: z.array(z.object({ metadata: z.record(z.string(), z.string()), data: z.string() })),
});

const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/** Temporal's limit per payload is 2 MB; base64 and a few payloads at once fit in this. */
const CODEC_BODY_LIMIT = 8 * 1024 * 1024;
const ALLOWED_HEADERS = 'Content-Type, Authorization, X-Namespace';

export const codecRoutes =
  (ctx: Pick<ApiContext, 'payloadCodec' | 'temporalUiOrigin'>): FastifyPluginAsyncZod =>
  async (app) => {
    const allowedOrigin = (req: FastifyRequest) =>
      ctx.temporalUiOrigin !== undefined && req.headers.origin === ctx.temporalUiOrigin
        ? ctx.temporalUiOrigin
        : undefined;
    const cors = (req: FastifyRequest, reply: FastifyReply) => {
      void reply.header('vary', 'Origin');
      const origin = allowedOrigin(req);
      if (origin) {
        void reply.header('access-control-allow-origin', origin);
        // The UI's "include cross-origin credentials" sends the session cookie or its bearer token.
        void reply.header('access-control-allow-credentials', 'true');
      }
    };
    // On every answer of these routes, refusals by the auth hook included, so the UI can tell a 401 from a network error.
    app.addHook('onSend', async (req, reply, payload) => {
      cors(req, reply);
      return payload;
    });

    for (const op of ['decode', 'encode'] as const) {
      app.options(
        `/codec/${op}`,
        {
          schema: { hide: true },
          config: { access: { open: 'CORS preflight: browsers send it without credentials; it reveals nothing' } },
        },
        async (req, reply) => {
          if (!allowedOrigin(req)) {
            throw new ApiError(403, {
              error: 'origin_not_allowed',
              message: ctx.temporalUiOrigin
                ? `origin ${String(req.headers.origin ?? '(none)').slice(0, 200)} is not the configured Temporal UI (TEMPORAL_UI_ORIGIN)`
                : 'no Temporal UI origin is configured (TEMPORAL_UI_ORIGIN)',
            });
          }
          return reply
            .code(204)
            .header('access-control-allow-methods', 'POST, OPTIONS')
            .header('access-control-allow-headers', ALLOWED_HEADERS)
            .header('access-control-max-age', '600')
            .send();
        },
      );

      app.post(
        `/codec/${op}`,
        {
          bodyLimit: CODEC_BODY_LIMIT,
          schema: {
            summary:
              op === 'decode'
                ? 'Decrypt Temporal payloads (remote codec server protocol, for the Temporal UI and CLI)'
                : 'Encrypt Temporal payloads (remote codec server protocol, for the Temporal UI and CLI)',
            tags: ['temporal'],
            body,
            response: { 200: answer, 401: apiErrorBodySchema, 403: apiErrorBodySchema, 422: apiErrorBodySchema },
          },
          // Auditors read; encrypting is for sending into Temporal (the UI's start and signal forms): admins only.
          config: { access: { roles: op === 'decode' ? ['auditor', 'admin'] : ['admin'] } },
        },
        async (req, reply) => {
          const out: Payload[] = [];
          // One at a time, so a refusal names the payload that failed.
          for (const [i, p] of req.body.payloads.entries()) {
            const payload: Payload = { metadata: p.metadata ?? {}, data: p.data };
            try {
              out.push(
                ...(await (op === 'decode' ? ctx.payloadCodec.decode([payload]) : ctx.payloadCodec.encode([payload]))),
              );
            } catch (err) {
              if (!(err instanceof PayloadCodecError)) throw err;
              throw new ApiError(422, {
                error: 'undecodable_payload',
                message: `payload ${i}: ${err.message}`,
                issues: [{ path: `body.payloads.${i}`, message: err.message }],
              });
            }
          }
          return reply.header('cache-control', 'no-store').send({ payloads: out.map(toJson) });
        },
      );
    }
  };
