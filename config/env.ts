import { join } from 'node:path';
import { z } from 'zod';
import { payloadKeysSchema } from '../payloads/keys.js';

/**
 * Every setting the processes read from the environment, in one schema.
 * The embedded launcher, the worker and the API all parse through here so a
 * bad variable is named the same way whichever process meets it first.
 */
const port = z.coerce.number({ error: 'must be a port number' }).int().min(0).max(65535);
const milliseconds = z.coerce
  .number({ error: 'must be a number of milliseconds' })
  .int('must be a whole number of milliseconds')
  .min(100, 'must be at least 100 ms');
const optionalUrl = (protocols: string[]) =>
  z
    .string()
    .trim()
    .min(1)
    .optional()
    .refine((v) => v === undefined || isUrlWithProtocol(v, protocols), {
      message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
    });

function isUrlWithProtocol(value: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

function isOrigin(value: string): boolean {
  try {
    const u = new URL(value);
    return ['http:', 'https:'].includes(u.protocol) && value.replace(/\/$/, '') === u.origin;
  } catch {
    return false;
  }
}

export const envSchema = z.object({
  PORT: port.default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('.data'),
  /**
   * Where uploads (predictions for bias testing) are kept by their SHA-256: the API writes, the worker reads, so
   * in production every API and worker replica mounts the same directory. Unset: $DATA_DIR/blobs (see blobDir).
   */
  BLOB_DIR: z.string().min(1).optional(),
  PUBLIC_BASE_URL: optionalUrl(['http:', 'https:']),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:/]+:\d+$/, 'must be host:port, e.g. localhost:7233')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('ai-lifecycle'),
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  /** Embedded mode only: where the bundled Temporal dev server listens, and its web UI (0 = no UI). */
  TEMPORAL_DEV_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  DATABASE_URL: optionalUrl(['postgres:', 'postgresql:']),
  SMTP_URL: optionalUrl(['smtp:', 'smtps:']),
  MAIL_FROM: z.string().min(3).default('AI Governance <governance@localhost>'),
  GOVERNANCE_LEAD_EMAIL: z
    .email('must be an e-mail address')
    .default('governance-lead@example.com')
    .transform((e) => e.toLowerCase()),
  APPROVAL_LINK_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /**
   * Signs every approval decision the API sends to Temporal (HMAC-SHA256); the worker holds it too and refuses a
   * decision without a valid proof. Never the link secret: each key has one job, so a leak of one is not both.
   */
  DECISION_SIGNING_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  POLICY_PATH: z.string().min(1).optional(),
  /**
   * AES-256 keys for Temporal payloads, `id:<base64 of 32 bytes>` separated by commas: the first encrypts, all
   * decrypt (a rotation puts the new key first). Embedded mode makes one in $DATA_DIR/payload-keys.
   */
  PAYLOAD_ENCRYPTION_KEYS: payloadKeysSchema.optional(),
  /** Keys the person pseudonyms in search attributes (an HMAC); embedded mode makes one in $DATA_DIR. */
  PERSON_KEY_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** The Temporal UI's origin (scheme://host:port), allowed to call /codec/* from the browser. */
  TEMPORAL_UI_ORIGIN: z
    .string()
    .trim()
    .min(1)
    .optional()
    .refine((v) => v === undefined || isOrigin(v), {
      message: 'must be an origin: http(s)://host[:port], without a path',
    })
    .transform((v) => (v === undefined ? v : new URL(v).origin)),
  /** Signs session cookies; embedded mode makes one in $DATA_DIR. */
  SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SESSION_TTL_MINUTES: z.coerce
    .number({ error: 'must be a number of minutes' })
    .int()
    .min(5)
    .max(7 * 24 * 60)
    .default(12 * 60),
  /** A bearer token Prometheus may scrape /metrics with, besides an auditor's credential. */
  METRICS_SCRAPE_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  /** OIDC bearer tokens (all three or none): the issuer, the audience tokens are minted for, and the JWKS to verify them with. */
  OIDC_ISSUER: z.string().trim().min(1).optional(),
  OIDC_AUDIENCE: z.string().trim().min(1).optional(),
  OIDC_JWKS_URL: optionalUrl(['http:', 'https:']),
  /** Which claims carry the role, the team and the e-mail; the role claim may be a string or an array. */
  OIDC_ROLE_CLAIM: z.string().min(1).default('roles'),
  OIDC_TEAM_CLAIM: z.string().min(1).default('team'),
  OIDC_EMAIL_CLAIM: z.string().min(1).default('email'),
  /** JSON: the identity provider's role (or group) names to this product's roles, e.g. {"grc-auditors":"auditor"}. */
  OIDC_ROLE_MAP: z.string().min(2).optional(),
  /** For the login page's redirect (authorization-code flow with PKCE); bearer tokens need only the three above. */
  OIDC_AUTHORIZATION_URL: optionalUrl(['http:', 'https:']),
  OIDC_TOKEN_URL: optionalUrl(['http:', 'https:']),
  OIDC_CLIENT_ID: z.string().min(1).optional(),
  OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  /**
   * The reverse proxies in front of the API, whose X-Forwarded-For then names the client: a number of hops, or
   * their addresses or CIDR ranges separated by commas. Unset, the connecting address is the client: behind a
   * proxy every caller would then share one rate-limit allowance (see policy security.rateLimits).
   */
  TRUST_PROXY: z
    .string()
    .trim()
    .regex(
      /^(?:\d{1,2}|(?:[0-9a-fA-F:.]+(?:\/\d{1,3})?|loopback|linklocal|uniquelocal)(?:\s*,\s*(?:[0-9a-fA-F:.]+(?:\/\d{1,3})?|loopback|linklocal|uniquelocal))*)$/,
      'must be a number of hops or proxy addresses / CIDR ranges separated by commas, e.g. 10.0.0.0/8,127.0.0.1',
    )
    .optional()
    .transform((v) => (v === undefined ? v : /^\d+$/.test(v) ? Number(v) : v.split(',').map((a) => a.trim()))),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Operational, not governance policy: how often each worker writes its heartbeat row, and how old the freshest
   * row of the task queue may be before /healthz stops answering ready. Temporal's own poller list keeps a dead
   * worker for minutes, so readiness trusts these rows instead; about three intervals tolerates a missed beat.
   */
  WORKER_HEARTBEAT_INTERVAL_MS: milliseconds.default(3_000),
  READINESS_HEARTBEAT_MAX_AGE_MS: milliseconds.default(10_000),
  /**
   * Deployment sizing, not governance policy: how many workflow runs each worker keeps in memory between their tasks
   * (the SDK's maxCachedWorkflows). A cached run holds its own instance of the workflow bundle's modules, about 3 MB
   * measured (bench worker), so the cache is the worker's memory; a run pushed out replays its history when it next
   * has a task. The SDK's own default grows with the heap (about 2,300 at a 4 GB heap, 7 GB of runs); 0 turns the
   * cache off, every task then replaying. 50 by default: the workflow thread's heap is capped from it (worker/worker.ts),
   * which with 100 held the embedded product's peak above 1 GB, and a lifecycle waits weeks between its tasks, so
   * a larger cache mostly holds runs that have nothing to do.
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce
    .number({ error: 'must be a number of workflow runs' })
    .int('must be a whole number of workflow runs')
    .min(0, 'must be 0 (no cache) or at least 2')
    .refine((n) => n !== 1, 'must be 0 (no cache) or at least 2')
    .default(50),
});

export type Env = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; empty strings count as unset so `FOO= npm start` behaves. */
export function parseEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`));
  }
  const env = result.data;
  if (env.DECISION_SIGNING_KEY !== undefined && env.DECISION_SIGNING_KEY === env.APPROVAL_LINK_SECRET) {
    throw new ConfigError(['DECISION_SIGNING_KEY: must differ from APPROVAL_LINK_SECRET (one key, one job)']);
  }
  // A max age within one interval would report a healthy worker as lost between two of its beats.
  if (env.READINESS_HEARTBEAT_MAX_AGE_MS <= env.WORKER_HEARTBEAT_INTERVAL_MS) {
    throw new ConfigError([
      `READINESS_HEARTBEAT_MAX_AGE_MS: must be longer than WORKER_HEARTBEAT_INTERVAL_MS (${env.WORKER_HEARTBEAT_INTERVAL_MS} ms), about three times it`,
    ]);
  }
  return env;
}

/** Settings a process that must run against external services cannot do without. */
export function requireProduction(env: Env, names: (keyof Env)[]): void {
  const missing = names.filter((n) => env[n] === undefined);
  if (missing.length > 0) {
    throw new ConfigError(missing.map((n) => `${n}: is required when running this process on its own`));
  }
}

/** BLOB_DIR, or the blobs folder of DATA_DIR. */
export function blobDir(env: Pick<Env, 'BLOB_DIR' | 'DATA_DIR'>): string {
  return env.BLOB_DIR ?? join(env.DATA_DIR, 'blobs');
}

export function publicBaseUrl(env: Env): string {
  return (env.PUBLIC_BASE_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
}
