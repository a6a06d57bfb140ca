import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DevMailbox } from '../embedded/dev-mailbox.js';
import { registerDevMailboxRoutes } from '../embedded/dev-mailbox-routes.js';
import type { ApiContext } from './context.js';
import { apiErrorHandler } from './errors.js';
import { FORM_BODY_LIMIT, hardening, JSON_BODY_LIMIT, loggerOptions } from './hardening.js';
import { installAuth } from './auth/plugin.js';
import { healthAnswer } from './readiness.js';
import { authRoutes } from './routes/auth.js';
import { applicabilityRoutes } from './routes/applicability.js';
import { approvalRoutes } from './routes/approvals.js';
import { auditRoutes } from './routes/audit.js';
import { codecRoutes } from './routes/codec.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { governanceRoutes } from './routes/governance.js';
import { oidcLoginRoutes } from './routes/oidc-login.js';
import { predictionRoutes } from './routes/predictions.js';
import { recordRoutes } from './routes/records.js';
import { systemRoutes } from './routes/systems.js';

// A missing field reads "is required" rather than zod's "expected string, received undefined".
z.config({
  customError: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined),
});

export interface ApiOptions {
  logLevel?: string;
  /** Where the request log goes (default stdout): tests read every line from here. */
  logStream?: { write(line: string): void };
  /** TRUST_PROXY: which proxies' X-Forwarded-For names the client (rate limits count per client address). */
  trustProxy?: number | string[];
  /** Embedded mode only: the in-process SMTP server whose messages /dev/mailbox shows. */
  mailbox?: DevMailbox;
}

/** A number of hops trusts that many proxies nearest the server (as Fastify does; its types only take a function). */
const trustedProxies = (t: ApiOptions['trustProxy']) =>
  typeof t === 'number' ? (_address: string, hop: number) => hop < t : (t ?? false);

export async function buildApi(ctx: ApiContext, opts: ApiOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions({ level: opts.logLevel ?? 'info', stream: opts.logStream }),
    bodyLimit: JSON_BODY_LIMIT,
    trustProxy: trustedProxies(opts.trustProxy),
    // Approval tokens travel in the path and are longer than the default limit of 100.
    routerOptions: { maxParamLength: 4096 },
    // A URL the router cannot even read answers in the one envelope too, and never echoes the path (it may hold a token).
    frameworkErrors: (err, _req, res) => {
      const reply = res as unknown as FastifyReply;
      // The router answers before any hook runs, so the hardening plugin's headers are set here by hand.
      void reply.headers({
        'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
      });
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
      void reply.code(status).send({
        error: status === 414 ? 'uri_too_long' : 'bad_url',
        message: status === 414 ? 'a part of the URL is longer than 4096 characters' : 'the URL is not validly encoded',
      });
    },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(apiErrorHandler);
  await app.register(hardening, { policy: ctx.policy, publicBaseUrl: ctx.publicBaseUrl });

  await app.register(formbody, { bodyLimit: FORM_BODY_LIMIT });
  await app.register(cookie);
  installAuth(app, { store: ctx.store, auth: ctx.auth });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'AI impact assessment workflows',
        description: 'Register AI systems, submit impact assessments and follow their ISO/IEC 42001 lifecycle.',
        version: '1',
      },
    },
    transform: jsonSchemaTransform,
  });

  app.get(
    '/healthz',
    { schema: { hide: true }, config: { access: { open: 'load balancers and orchestrators probe it' } } },
    async (_req, reply) => {
      const answer = healthAnswer(await ctx.isReady());
      return reply.code(answer.status).header('cache-control', 'no-store').send(answer.body);
    },
  );
  app.get(
    '/openapi.json',
    { schema: { hide: true }, config: { access: { open: 'the API description holds no data' } } },
    async () => app.swagger(),
  );

  await app.register(authRoutes(ctx));
  await app.register(systemRoutes(ctx));
  await app.register(auditRoutes(ctx));
  await app.register(recordRoutes(ctx));
  await app.register(predictionRoutes(ctx));
  await app.register(approvalRoutes(ctx));
  await app.register(governanceRoutes(ctx));
  await app.register(dashboardRoutes(ctx));
  await app.register(applicabilityRoutes(ctx));
  // The organisation's sign-in redirect exists only where one is configured; bearer tokens need only the JWKS.
  if (ctx.auth.oidc?.login) await app.register(oidcLoginRoutes(ctx));
  await app.register(codecRoutes(ctx));
  if (opts.mailbox) registerDevMailboxRoutes(app, opts.mailbox);
  return app;
}
