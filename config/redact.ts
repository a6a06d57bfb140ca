/**
 * What no log line may carry: approval-link and one-time login tokens (a
 * token copied from a log opens a live decision form), API keys, session
 * cookies, bearer tokens. The API's request logger and the worker's Temporal
 * logger both pass every line through here, so a new log call that happens
 * to include a URL or an error message quoting one stays safe.
 */
export const REDACTED = '[redacted]';

/** Header names whose values are credentials, lower case. */
export const SECRET_HEADERS = ['authorization', 'cookie', 'set-cookie', 'x-api-key', 'proxy-authorization'] as const;

// The path segment after these prefixes is a bearer credential.
const TOKEN_PATH = /(\/(?:approvals|login\/once)\/)[^/?#\s"'<>]+/g;
// A query parameter named like a credential (key, api_key, token, access_token, secret, password, session, code).
const SECRET_QUERY = /([?&;][^=&#\s"'<>]*(?:key|token|secret|password|session|code)[^=&#\s"'<>]*=)[^&#\s"'<>]*/gi;
// A JWT anywhere (approval tokens are JWTs; so are OIDC bearer tokens).
const JWT = /\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g;
// `ail_<prefix>_<secret>` (api/auth/keys.ts): the prefix identifies the key and may be logged.
const API_KEY = /\b(ail_[a-z0-9]{8}_)[A-Za-z0-9_-]{20,}/g;
const BEARER = /\b(Bearer\s+)[^\s"',;]+/gi;

/** The text with every credential it contains replaced by [redacted]. */
export function redactText(text: string): string {
  return text
    .replace(TOKEN_PATH, `$1${REDACTED}`)
    .replace(SECRET_QUERY, `$1${REDACTED}`)
    .replace(JWT, REDACTED)
    .replace(API_KEY, `$1${REDACTED}`)
    .replace(BEARER, `$1${REDACTED}`);
}

const isSecretHeader = (name: string) => (SECRET_HEADERS as readonly string[]).includes(name.toLowerCase());

/**
 * A deep copy of a log value with credentials redacted: strings through
 * redactText, secret headers (by key name) replaced whole. Errors keep their
 * message and stack, redacted. Depth-bounded so a cyclic or huge value cannot
 * stall logging.
 */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8) return '[too deep]';
  if (value instanceof Error) {
    const copy: Record<string, unknown> = { name: value.name, message: redactText(value.message) };
    if (value.stack) copy['stack'] = redactText(value.stack);
    for (const [k, v] of Object.entries(value)) copy[k] = isSecretHeader(k) ? REDACTED : redactValue(v, depth + 1);
    return copy;
  }
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  if (value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretHeader(k) ? REDACTED : redactValue(v, depth + 1);
  return out;
}
