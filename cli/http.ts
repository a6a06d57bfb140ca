import { CliError, EXIT, usageError, type ErrorBody, type Issue } from './errors.js';

const REQUEST_TIMEOUT_MS = 30_000;

/** The API under `--server`: each answer mapped to the CLI's exit codes (see errors.ts). */
export class Api {
  /** The server as given, without a trailing slash: what messages name. */
  readonly server: string;

  constructor(server: string) {
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      throw usageError(`--server ${server} is not a URL like http://localhost:3000`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw usageError(`--server ${server} must start with http:// or https://`);
    }
    this.server = url.href.replace(/\/+$/, '');
  }

  systemPath(id?: string, suffix = ''): string {
    return `/api/v1/systems${id === undefined ? '' : `/${encodeURIComponent(id)}`}${suffix}`;
  }

  async request<T = Record<string, unknown>>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}`, {
        method,
        headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new CliError(EXIT.SERVER, {
        error: 'unreachable',
        message: `cannot reach ${this.server}: ${networkReason(err)}`,
      });
    }
    const text = await res.text().catch(() => '');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.ok) {
      if (json === undefined || typeof json !== 'object' || json === null) {
        throw new CliError(EXIT.SERVER, {
          error: 'bad_response',
          status: res.status,
          message: `${method} ${this.server}${path} answered HTTP ${res.status} without a JSON body: is ${this.server} the AI lifecycle API?`,
        });
      }
      return json as T;
    }
    throw refusal(res.status, json, `${method} ${path}`);
  }
}

/** An error answer: the API's body `{ error, message, issues?, stage? }` when there is one. */
function refusal(status: number, json: unknown, what: string): CliError {
  const body = (typeof json === 'object' && json !== null ? json : {}) as Partial<ErrorBody>;
  const error: ErrorBody = {
    error: typeof body.error === 'string' ? body.error : `http_${status}`,
    message: typeof body.message === 'string' ? body.message : `${what} answered HTTP ${status}`,
    status,
  };
  if (Array.isArray(body.issues)) error.issues = body.issues.filter(isIssue);
  if (typeof body.stage === 'string') error.stage = body.stage;
  // 4xx: the request is wrong for this system (bad content, unknown system, wrong stage): the caller's input.
  // Anything else is the server's trouble.
  return new CliError(status >= 400 && status < 500 ? EXIT.USAGE : EXIT.SERVER, error);
}

const isIssue = (i: unknown): i is Issue =>
  typeof i === 'object' &&
  i !== null &&
  typeof (i as Issue).path === 'string' &&
  typeof (i as Issue).message === 'string';

/** ECONNREFUSED, ENOTFOUND …: what fetch's "fetch failed" hides in its cause. */
function networkReason(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string; errors?: { code?: string }[] } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = e?.cause;
  return cause?.code ?? cause?.errors?.find((x) => x.code)?.code ?? cause?.message ?? e?.message ?? String(err);
}
