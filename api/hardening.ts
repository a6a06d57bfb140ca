import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { durationMs } from '../domain/duration.js';
import type { Policy } from '../domain/policy.js';
import { redactText, redactValue, REDACTED, SECRET_HEADERS } from '../config/redact.js';
import { registerAssetRoutes } from './assets.js';
import { ApiError, invalidJson, notFoundHandler } from './errors.js';

/**
 * Server-wide defences, registered before any route: security headers, rate
 * limits on the doors open to anyone (approval links, login), strict body
 * parsing in the one error envelope, and request logs that never carry a
 * credential.
 */

/** JSON bodies; the document routes raise it to 16 MiB for themselves. */
export const JSON_BODY_LIMIT = 1024 * 1024;
/** Forms are a comment (4000 characters), a CSRF value, a few fields: nothing near a JSON document. */
export const FORM_BODY_LIMIT = 64 * 1024;

/**
 * No inline script or style anywhere: pages link /assets/*. Not in a frame
 * (clickjacking a decision form), no plugins, no <base> rewriting. No
 * form-action: the login form may hand over to the organisation's identity
 * provider.
 */
export const cspDirectives: Record<string, string[]> = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'"],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'frame-ancestors': ["'none'"],
};

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The media types an upload route takes as a raw stream (with a parser of its own) instead of JSON. */
    streamedBody?: readonly string[];
  }
}

export interface HardeningOptions {
  policy: Policy;
  /** HSTS is only sent when the product is served over HTTPS. */
  publicBaseUrl: string;
}

const pathOf = (url: string) => url.split('?')[0] ?? '/';
const isApprovalPath = (path: string) => path.startsWith('/approvals/');
const isLoginPath = (path: string) =>
  path === '/login' || path.startsWith('/login/') || path === '/auth' || path.startsWith('/auth/');
/** What the approval routes answer for a damaged, forged or expired link (and a foreign form): the attempts an attacker makes. */
const FAILED_LINK_STATUSES = new Set([400, 403, 410]);

function tooMany(reply: FastifyReply, retryAfterSeconds: number, what: string): ApiError {
  const seconds = Math.max(1, retryAfterSeconds);
  void reply.header('retry-after', String(seconds));
  return new ApiError(429, {
    error: 'rate_limited',
    message: `too many ${what} from this address; try again in ${seconds} seconds`,
  });
}

async function hardening(app: FastifyInstance, opts: HardeningOptions): Promise<void> {
  const https = opts.publicBaseUrl.startsWith('https:');
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: https ? { ...cspDirectives, 'upgrade-insecure-requests': [] } : cspDirectives,
    },
    frameguard: { action: 'deny' },
    // Approval pages and one-time login links carry their token in the URL: no page leaks it in a Referer.
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: https ? { maxAge: 15_552_000, includeSubDomains: true } : false,
  });

  // Fastify's own JSON parser answers a bare "Body is not valid JSON"; this one names the position.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim().length === 0) return done(invalidJson(text), undefined);
    try {
      // The reviver costs time on every key: only a body that could spell one of the keys pays it.
      const risky = text.includes('__proto__') || text.includes('constructor') || text.includes('\\u');
      done(null, risky ? JSON.parse(text, refusePoisonedKeys) : JSON.parse(text));
    } catch (err) {
      done(err instanceof ApiError ? err : invalidJson(text), undefined);
    }
  });
  // A JSON API takes JSON: a form or any other body type on /api/* is refused before parsing.
  app.addHook('onRequest', async (req) => {
    const type = req.headers['content-type'];
    if (!type || !pathOf(req.url).startsWith('/api/')) return;
    const mediaType = type.split(';')[0]!.trim().toLowerCase();
    // An upload route names the types it streams (and parses them itself); those, and only those, it takes.
    const streamed = req.routeOptions.config?.streamedBody;
    if (streamed) {
      if (streamed.includes(mediaType)) return;
      throw new ApiError(415, {
        error: 'unsupported_media_type',
        message: `this route takes the file as ${streamed.join(', ')}, not ${mediaType || 'an empty content type'}`,
      });
    }
    if (mediaType !== 'application/json') {
      throw new ApiError(415, {
        error: 'unsupported_media_type',
        message: `the API takes application/json bodies, not ${mediaType || 'an empty content type'}`,
      });
    }
  });

  await app.register(rateLimit, { global: false });
  const limits = opts.policy.security.rateLimits;
  const limiter = (l: { max: number; window: string }) =>
    app.createRateLimit({ max: l.max, timeWindow: durationMs(l.window) });
  const approvalLinks = limiter(limits.approvalLinks);
  const failedLinks = limiter(limits.failedLinkAttempts);
  const login = limiter(limits.login);

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const path = pathOf(req.url);
    if (isApprovalPath(path)) {
      // Past the refused-attempt limit nothing reaches the approval routes, so nothing more is recorded.
      const failed = await failedLinks(req, { increment: false });
      if (!failed.isAllowed && failed.remaining === 0) {
        throw tooMany(reply, failed.ttlInSeconds, 'refused approval-link attempts');
      }
      const all = await approvalLinks(req);
      if (!all.isAllowed && all.isExceeded) throw tooMany(reply, all.ttlInSeconds, 'approval-link requests');
    } else if (isLoginPath(path)) {
      const attempt = await login(req);
      if (!attempt.isAllowed && attempt.isExceeded) throw tooMany(reply, attempt.ttlInSeconds, 'login attempts');
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    if (isApprovalPath(pathOf(req.url)) && FAILED_LINK_STATUSES.has(reply.statusCode)) await failedLinks(req);
  });

  app.setNotFoundHandler(notFoundHandler);
  registerAssetRoutes(app);
}
// Applies to the instance it is registered on (what fastify-plugin does), so every route gets the hooks.
(hardening as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
export { hardening };

function refusePoisonedKeys(key: string, value: unknown): unknown {
  if (
    key === '__proto__' ||
    (key === 'constructor' && value !== null && typeof value === 'object' && 'prototype' in value)
  ) {
    throw new ApiError(400, { error: 'forbidden_key', message: `body: the key "${key}" is not accepted` });
  }
  return value;
}

/** Whatever the URL says, minus its credentials. */
const safeUrl = (url: string | undefined) => (url === undefined ? url : redactText(url));

const headerPaths = (root: string) => SECRET_HEADERS.map((h) => `${root}.headers["${h}"]`);

/**
 * The request logger's options: request lines show the URL with approval and
 * login tokens, and query values named like credentials, redacted; credential
 * headers are censored wherever a log call puts headers; every string handed
 * to a log call passes through the same redaction.
 */
export function loggerOptions(opts: {
  level: string;
  stream?: { write(line: string): void };
}): Exclude<FastifyServerOptions['logger'], boolean | undefined> {
  return {
    level: opts.level,
    ...(opts.stream ? { stream: opts.stream } : {}),
    serializers: {
      req: (req: FastifyRequest) => ({
        method: req.method,
        url: safeUrl(req.url),
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
      res: (reply) => ({ statusCode: reply.statusCode }),
      err: (err) => {
        const safe = redactValue(err) as { [key: string]: unknown; message: string; stack?: string };
        return { ...safe, type: err.name, message: safe.message, stack: safe.stack ?? '' };
      },
    },
    redact: {
      paths: [...headerPaths('req'), ...headerPaths('res'), ...SECRET_HEADERS.map((h) => `headers["${h}"]`)],
      censor: REDACTED,
    },
    hooks: {
      logMethod(args, method) {
        const safe = args.map((a: unknown) => {
          if (typeof a === 'string') return redactText(a);
          if (a && typeof a === 'object' && Object.getPrototypeOf(a) === Object.prototype) {
            // req, res and err go through their serializers; anything else a caller logs is redacted here.
            return Object.fromEntries(
              Object.entries(a).map(([k, v]) => [k, k === 'req' || k === 'res' || k === 'err' ? v : redactValue(v)]),
            );
          }
          return a;
        });
        return method.apply(this, safe as Parameters<typeof method>);
      },
    },
  };
}
