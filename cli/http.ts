import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CliError, EXIT, usageError, type ErrorBody, type Issue } from './errors.js';

const REQUEST_TIMEOUT_MS = 30_000;
/** How long an upload waits for the server's 100 Continue before sending anyway (curl waits a second; a slow lifecycle query may take longer). */
const CONTINUE_WAIT_MS = 3_000;

/** Where the key comes from; what a missing or refused key's message tells the user to set. */
export const API_KEY_ENV = 'AI_LIFECYCLE_API_KEY';

/**
 * Said when there is no key: every route but the open ones needs one, and a newcomer's first key is the one
 * `npm start` made.
 */
export const MISSING_KEY_MESSAGE =
  `no API key: set ${API_KEY_ENV} to your API key (or pass --api-key). With \`npm start\` the admin key is in ` +
  `$DATA_DIR/admin-api-key (by default .data/admin-api-key): export ${API_KEY_ENV}=$(cat .data/admin-api-key)`;

/** The API under `--server`: each answer mapped to the CLI's exit codes (see errors.ts). */
export class Api {
  /** The server as given, without a trailing slash: what messages name. */
  readonly server: string;

  /**
   * `apiKey` is sent as `Authorization: Bearer …` with every request. Without one, the first request fails with
   * MISSING_KEY_MESSAGE: only then, so that files are still checked (and named) without a key.
   */
  constructor(
    server: string,
    private readonly apiKey?: string,
  ) {
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

  async request<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<T> {
    if (!this.apiKey) throw new CliError(EXIT.USAGE, { error: 'no_api_key', message: MISSING_KEY_MESSAGE });
    const headers: Record<string, string> = { authorization: `Bearer ${this.apiKey}` };
    if (body === undefined) headers['accept'] = 'application/json';
    else headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new CliError(EXIT.SERVER, {
        error: 'unreachable',
        message: `cannot reach ${this.server}: ${networkReason(err)}`,
      });
    }
    return answer<T>(res, `${method} ${this.server}${path}`, this.server, `${method} ${path}`);
  }

  /**
   * GETs a file (a zip) and streams it to `file`, never held whole: written to `file.part`, renamed once
   * complete, so a broken download leaves no file that looks whole. A refusal maps as request()'s do.
   * Answers the bytes written and the answer's content type.
   */
  async download(path: string, file: string): Promise<{ bytes: number; contentType: string }> {
    if (!this.apiKey) throw new CliError(EXIT.USAGE, { error: 'no_api_key', message: MISSING_KEY_MESSAGE });
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}`, { headers: { authorization: `Bearer ${this.apiKey}` } });
    } catch (err) {
      throw new CliError(EXIT.SERVER, {
        error: 'unreachable',
        message: `cannot reach ${this.server}: ${networkReason(err)}`,
      });
    }
    if (!res.ok || !res.body) return answer(res, `GET ${this.server}${path}`, this.server, `GET ${path}`);
    const part = `${file}.part`;
    let bytes = 0;
    try {
      const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
      body.on('data', (c: Buffer) => (bytes += c.length));
      await pipeline(body, createWriteStream(part, { mode: 0o600 }));
      await rename(part, file);
    } catch (err) {
      await rm(part, { force: true });
      const e = err as NodeJS.ErrnoException;
      if (e.code && e.syscall) throw usageError(`cannot write ${file}: ${e.code} (${e.message})`);
      throw new CliError(EXIT.SERVER, {
        error: 'unreachable',
        message: `the download from ${this.server}${path} broke: ${networkReason(err)}`,
      });
    }
    return { bytes, contentType: res.headers.get('content-type') ?? '' };
  }

  /**
   * POSTs a file as the body, streamed from disk (never read whole), with `contentType`. It announces the file's
   * size and sends `Expect: 100-continue`: the server answers a refusal (wrong stage, too large, no such system)
   * before a byte is sent, and asks for the file only once it will take it. No overall deadline: a large file
   * takes as long as it takes.
   */
  async upload<T = Record<string, unknown>>(
    path: string,
    file: string,
    bytes: number,
    contentType: string,
  ): Promise<T> {
    if (!this.apiKey) throw new CliError(EXIT.USAGE, { error: 'no_api_key', message: MISSING_KEY_MESSAGE });
    const url = new URL(`${this.server}${path}`);
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.apiKey}`,
          'content-type': contentType,
          'content-length': String(bytes),
          accept: 'application/json',
          expect: '100-continue',
        },
      });
      let sending = false;
      const send = () => {
        if (sending) return;
        sending = true;
        clearTimeout(unasked);
        const body = createReadStream(file);
        body.on('error', (err) => req.destroy(err));
        body.pipe(req);
      };
      // A server (or proxy) that ignores Expect never says 100: after a few seconds, send anyway, as curl does after one.
      const unasked = setTimeout(send, CONTINUE_WAIT_MS);
      req.on('continue', send);
      req.on('response', (res) => {
        clearTimeout(unasked);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
          // Refused before it was all sent: the rest is not wanted.
          if (!req.writableFinished) req.destroy();
        });
        res.on('error', reject);
      });
      req.on('error', (err) => {
        clearTimeout(unasked);
        reject(
          new CliError(EXIT.SERVER, {
            error: 'unreachable',
            message: sending
              ? `the connection to ${this.server} broke while ${file} (${bytes} bytes) was being sent: ${networkReason(err)}`
              : `cannot reach ${this.server}: ${networkReason(err)}`,
          }),
        );
      });
      req.flushHeaders();
    });
    return answerText<T>(status, text, `POST ${this.server}${path}`, this.server, `POST ${path}`);
  }
}

/** An answer as a command's result: the JSON of a 2xx, else the refusal with the exit code it means. */
async function answer<T>(res: Response, where: string, server: string, what: string): Promise<T> {
  return answerText<T>(res.status, await res.text().catch(() => ''), where, server, what);
}

function answerText<T>(status: number, text: string, where: string, server: string, what: string): T {
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (status >= 200 && status < 300) {
    if (json === undefined || typeof json !== 'object' || json === null) {
      throw new CliError(EXIT.SERVER, {
        error: 'bad_response',
        status,
        message: `${where} answered HTTP ${status} without a JSON body: is ${server} the AI lifecycle API?`,
      });
    }
    return json as T;
  }
  throw refusal(status, json, what);
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
  // The server says what is wrong with the credential; the CLI adds where the credential came from.
  if (status === 401) error.message += ` (the key in ${API_KEY_ENV} or --api-key)`;
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
