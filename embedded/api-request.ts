/**
 * One request to the product's HTTP API as a script drives it (the bench, the
 * topology tests): a refusal is an answer to read, not an error, so every
 * status comes back with the text and, when the text is JSON, its value (an
 * HTML page reads as json undefined). Here, beside the dev mailbox and the
 * launcher, because both the bench and test/support use it and neither may
 * import the other.
 */

export interface ApiAnswer {
  status: number;
  text: string;
  json: any;
}

export interface ApiRequestOptions {
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as a form (application/x-www-form-urlencoded) instead of `body`. */
  form?: Record<string, string>;
  /** Sent as `Authorization: Bearer …`; none for an approval link, whose signature is the credential. */
  key?: string;
  /** An update waits for a worker, through a worker restart and Temporal's task timeouts. */
  timeoutMs?: number;
}

export async function apiRequest(method: string, url: string, opts: ApiRequestOptions = {}): Promise<ApiAnswer> {
  const { body, form, key, timeoutMs = 120_000 } = opts;
  const headers: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` };
  if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
  else if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    body: form ? new URLSearchParams(form).toString() : body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeoutMs),
  });
  return answerOf(res);
}

/** A response's status, text and, when the text is JSON, its value. */
export async function answerOf(res: Response): Promise<ApiAnswer> {
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}
