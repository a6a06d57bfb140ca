/**
 * Dev mailbox: a real, in-process SMTP server that catches every message the
 * product sends in embedded mode (no SMTP_URL), and the SMTP catcher the tests
 * use. Messages are parsed with mailparser and kept in memory (optionally
 * mirrored to a JSON file so they survive a restart of `npm start`).
 *
 * Delivery semantics: one SMTP DATA transaction = one stored message, whatever
 * the number of recipients, and the message is stored *before* the server
 * answers `250`, so once a client's `sendMail` resolves the message is already
 * visible in `messages()` (and written to `persistFile`, if there is one).
 */
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { simpleParser } from 'mailparser';
import type { AddressObject, HeaderValue, ParsedMail } from 'mailparser';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './private-files.js';

export interface MailboxMessage {
  id: string;
  /** The Message-ID header as sent (including angle brackets), or null if absent. */
  messageId: string | null;
  /** Sender address (From header; envelope MAIL FROM if the header is missing). */
  from: string;
  /** To addresses; envelope recipients that are neither in To nor Cc (Bcc) are appended. */
  to: string[];
  cc: string[];
  subject: string;
  text: string;
  html: string | null;
  /** http(s) URLs from the HTML hrefs (entities decoded) and the text, de-duplicated, in order. */
  links: string[];
  /** Decoded header values keyed by lower-case header name (repeated headers joined with ", "). */
  headers: Record<string, string>;
  /** ISO timestamp of reception. */
  receivedAt: string;
}

export interface DevMailbox {
  readonly host: string;
  readonly port: number;
  /** e.g. smtp://127.0.0.1:2525 */
  readonly url: string;
  /** Oldest first. */
  messages(): MailboxMessage[];
  get(id: string): MailboxMessage | undefined;
  /**
   * Resolves with the first matching message (already received or future).
   * Rejects after `timeoutMs` (default 10 s) with an error listing the subjects received so far.
   */
  waitFor(predicate: (m: MailboxMessage) => boolean, opts?: { timeoutMs?: number }): Promise<MailboxMessage>;
  clear(): void;
  /** Closes the SMTP server; connections are refused afterwards. */
  stop(): Promise<void>;
  /** (Re)starts listening on the same port. */
  start(): Promise<void>;
}

export interface DevMailboxOptions {
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port to listen on; 0 picks a free port (kept across stop/start). Default 2525. */
  port?: number;
  /** Keep only the newest N messages. Default 500. */
  maxMessages?: number;
  /** Optional JSON file mirroring the messages so they survive a restart. */
  persistFile?: string;
  /** Maximum accepted message size in bytes. Default 25 MiB. */
  maxMessageBytes?: number;
  /**
   * Refuses a recipient at RCPT TO, as a real server would: 550 (no such
   * mailbox, permanent) or 451 (try later, temporary); undefined accepts.
   * Asked on every RCPT, so the answer may change while the mailbox runs.
   * Lets tests reach the product's bounce handling through real SMTP.
   */
  rejectRecipients?: (address: string) => 550 | 451 | undefined;
}

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 2525;
const DEFAULT_MAX_MESSAGES = 500;
const DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024;
const DEFAULT_WAIT_MS = 10_000;
/** Grace period for in-flight SMTP sessions when stopping, before they are cut. */
const CLOSE_GRACE_MS = 1_000;

export async function startDevMailbox(opts: DevMailboxOptions = {}): Promise<DevMailbox> {
  const mailbox = new DevMailboxImpl(opts);
  await mailbox.load();
  await mailbox.start();
  return mailbox;
}

interface Waiter {
  predicate: (m: MailboxMessage) => boolean;
  resolve: (m: MailboxMessage) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

class DevMailboxImpl implements DevMailbox {
  readonly host: string;
  private boundPort: number;
  private readonly maxMessages: number;
  private readonly maxMessageBytes: number;
  private readonly persistFile: string | undefined;
  private readonly rejectRecipients: DevMailboxOptions['rejectRecipients'];
  private store: MailboxMessage[] = [];
  private waiters = new Set<Waiter>();
  private server: SMTPServer | null = null;
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  // persistence: single writer, coalescing
  private saving: Promise<void> | null = null;
  private dirty = false;

  constructor(opts: DevMailboxOptions) {
    this.host = opts.host ?? DEFAULT_HOST;
    this.boundPort = opts.port ?? DEFAULT_PORT;
    this.maxMessages = Math.max(1, Math.floor(opts.maxMessages ?? DEFAULT_MAX_MESSAGES));
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.persistFile = opts.persistFile;
    this.rejectRecipients = opts.rejectRecipients;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `smtp://${host}:${this.boundPort}`;
  }

  messages(): MailboxMessage[] {
    return [...this.store];
  }

  get(id: string): MailboxMessage | undefined {
    return this.store.find((m) => m.id === id);
  }

  waitFor(predicate: (m: MailboxMessage) => boolean, opts: { timeoutMs?: number } = {}): Promise<MailboxMessage> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
    return new Promise<MailboxMessage>((resolve, reject) => {
      try {
        const existing = this.store.find(predicate);
        if (existing) {
          resolve(existing);
          return;
        }
      } catch (err) {
        reject(err);
        return;
      }
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          const subjects = this.store.map((m) => JSON.stringify(m.subject));
          reject(
            new Error(
              `DevMailbox.waitFor: no matching message within ${timeoutMs} ms (mailbox ${this.url}); ` +
                (subjects.length
                  ? `${subjects.length} message(s) received: ${subjects.join(', ')}`
                  : 'no messages received'),
            ),
          );
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  clear(): void {
    this.store = [];
    this.schedulePersist();
  }

  async start(): Promise<void> {
    if (this.stopping) await this.stopping;
    if (this.server) return;
    if (this.starting) return this.starting;
    this.starting = this.listen().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  async stop(): Promise<void> {
    if (this.starting) await this.starting.catch(() => undefined);
    const server = this.server;
    if (!server) {
      if (this.stopping) await this.stopping;
      await this.flush();
      return;
    }
    this.server = null;
    this.stopping = new Promise<void>((resolve) => server.close(() => resolve())).finally(() => {
      this.stopping = null;
    });
    await this.stopping;
    await this.flush();
  }

  // ---------------------------------------------------------------------------

  private listen(): Promise<void> {
    const server = new SMTPServer({
      name: 'dev-mailbox',
      banner: 'dev mailbox (messages are caught, not delivered)',
      logger: false,
      secure: false,
      disabledCommands: ['STARTTLS'],
      authOptional: true,
      allowInsecureAuth: true,
      disableReverseLookup: true,
      size: this.maxMessageBytes,
      closeTimeout: CLOSE_GRACE_MS,
      onAuth: (_auth, _session, callback) => callback(null, { user: 'dev' }),
      onRcptTo: (address, _session, callback) => {
        const code = this.rejectRecipients?.(address.address);
        if (code === undefined) return callback();
        const err = new Error(
          code === 550 ? `<${address.address}>: no such mailbox` : `<${address.address}>: try again later`,
        );
        (err as Error & { responseCode?: number }).responseCode = code;
        callback(err);
      },
      onData: (stream, session, callback) => {
        this.receive(stream, session).then(
          () => callback(),
          (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
        );
      },
    });
    return new Promise<void>((resolve, reject) => {
      const onListenError = (err: Error): void => {
        server.off('error', onListenError);
        reject(err);
      };
      server.on('error', onListenError);
      server.listen(this.boundPort, this.host, () => {
        server.off('error', onListenError);
        // keep a permanent handler: an unhandled 'error' event would crash the process
        server.on('error', (err: Error) => {
          if (process.env['DEV_MAILBOX_DEBUG']) console.error('[dev-mailbox]', err);
        });
        const address = server.server.address() as AddressInfo | null;
        if (address && typeof address === 'object') this.boundPort = address.port;
        this.server = server;
        resolve();
      });
    });
  }

  private async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    if (stream.sizeExceeded) {
      const err = new Error(`Message exceeds fixed maximum message size of ${this.maxMessageBytes} bytes`);
      (err as Error & { responseCode?: number }).responseCode = 552;
      throw err;
    }
    const parsed = await simpleParser(Buffer.concat(chunks));
    this.add(toMailboxMessage(parsed, session));
    // On disk before the 250: the sender then counts it delivered and never resends, so a crash must not lose it.
    await this.flush();
  }

  private add(message: MailboxMessage): void {
    this.store.push(message);
    if (this.store.length > this.maxMessages) this.store.splice(0, this.store.length - this.maxMessages);
    this.schedulePersist();
    for (const waiter of [...this.waiters]) {
      let matches: boolean;
      try {
        matches = waiter.predicate(message);
      } catch (err) {
        this.waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.reject(err);
        continue;
      }
      if (matches) {
        this.waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(message);
      }
    }
  }

  // --- persistence -------------------------------------------------------------

  async load(): Promise<void> {
    if (!this.persistFile) return;
    let raw: string;
    try {
      raw = await readFile(this.persistFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let data: unknown;
    try {
      data = JSON.parse(raw);
    } catch {
      console.warn(`[dev-mailbox] ignoring unreadable persist file ${this.persistFile}`);
      return;
    }
    const list = Array.isArray(data)
      ? data
      : data && typeof data === 'object' && Array.isArray((data as { messages?: unknown }).messages)
        ? (data as { messages: unknown[] }).messages
        : [];
    this.store = list.filter(isMailboxMessage).slice(-this.maxMessages);
  }

  private schedulePersist(): void {
    if (!this.persistFile) return;
    this.dirty = true;
    if (!this.saving) this.saving = this.saveLoop();
  }

  private async saveLoop(): Promise<void> {
    const file = this.persistFile;
    if (!file) return;
    try {
      while (this.dirty) {
        this.dirty = false;
        const json = JSON.stringify({ version: 1, messages: this.store });
        const tmp = `${file}.${process.pid}.tmp`;
        try {
          // The caught mail holds live approval links: readable by this user only.
          await mkdir(dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
          await writeFile(tmp, json, { encoding: 'utf8', mode: PRIVATE_FILE_MODE });
          await chmod(tmp, PRIVATE_FILE_MODE);
          await rename(tmp, file);
        } catch (err) {
          console.warn(`[dev-mailbox] could not persist messages to ${file}:`, err);
        }
      }
    } finally {
      this.saving = null;
    }
  }

  private async flush(): Promise<void> {
    while (this.saving) await this.saving;
  }
}

// --- parsing helpers -----------------------------------------------------------

function toMailboxMessage(parsed: ParsedMail, session: SMTPServerSession): MailboxMessage {
  const to = addresses(parsed.to);
  const cc = addresses(parsed.cc);
  const known = new Set([...to, ...cc].map((a) => a.toLowerCase()));
  for (const rcpt of session.envelope.rcptTo) {
    if (rcpt.address && !known.has(rcpt.address.toLowerCase())) {
      known.add(rcpt.address.toLowerCase());
      to.push(rcpt.address);
    }
  }
  const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
  const from = addresses(parsed.from)[0] ?? envelopeFrom;
  const html = typeof parsed.html === 'string' ? parsed.html : null;
  const text = parsed.text ?? '';
  return {
    id: randomUUID(),
    messageId: parsed.messageId ?? null,
    from,
    to,
    cc,
    subject: parsed.subject ?? '',
    text,
    html,
    links: extractLinks(html, text),
    headers: headerRecord(parsed.headers),
    receivedAt: new Date().toISOString(),
  };
}

function addresses(value: AddressObject | AddressObject[] | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  const visit = (entries: AddressObject['value']): void => {
    for (const e of entries) {
      if (e.group) visit(e.group);
      else if (e.address) out.push(e.address);
    }
  };
  for (const obj of Array.isArray(value) ? value : [value]) visit(obj.value);
  return out;
}

function headerRecord(headers: Map<string, HeaderValue>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of headers) out[key.toLowerCase()] = headerToString(value);
  return out;
}

function headerToString(value: HeaderValue): string {
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return (value as HeaderValue[]).map((v) => headerToString(v)).join(', ');
  if (value && typeof value === 'object') {
    if ('text' in value && typeof value.text === 'string') return value.text; // AddressObject
    if ('value' in value && typeof value.value === 'string') {
      // StructuredHeader, e.g. content-type with params
      const params = Object.entries((value as { params?: Record<string, string> }).params ?? {});
      return [value.value, ...params.map(([k, v]) => `${k}=${v}`)].join('; ');
    }
  }
  return String(value);
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** Decodes the HTML character references that can appear in an attribute value. */
export function decodeHtmlEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);?/gi, (match, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : match;
    }
    return NAMED_ENTITIES[ref.toLowerCase()] ?? match;
  });
}

/** http(s) URLs from the HTML hrefs (entities decoded) then from the text; de-duplicated, in order. */
export function extractLinks(html: string | null, text: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const push = (url: string): void => {
    const u = url.trim();
    if (!/^https?:\/\/\S+$/i.test(u) || seen.has(u)) return;
    seen.add(u);
    out.push(u);
  };
  if (html) {
    const hrefRe = /\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>`=]+))/gi;
    for (const m of html.matchAll(hrefRe)) push(decodeHtmlEntities(m[1] ?? m[2] ?? m[3] ?? ''));
  }
  const urlRe = /https?:\/\/[^\s<>"'`]+/gi;
  for (const m of text.matchAll(urlRe)) push(trimTrailingPunctuation(m[0]));
  return out;
}

function trimTrailingPunctuation(url: string): string {
  let u = url;
  for (;;) {
    const last = u.at(-1);
    if (last && '.,;:!?'.includes(last)) u = u.slice(0, -1);
    else if (last === ')' && count(u, '(') < count(u, ')')) u = u.slice(0, -1);
    else if (last === ']' && count(u, '[') < count(u, ']')) u = u.slice(0, -1);
    else return u;
  }
}

function count(s: string, ch: string): number {
  let n = 0;
  for (const c of s) if (c === ch) n++;
  return n;
}

function isMailboxMessage(v: unknown): v is MailboxMessage {
  if (!v || typeof v !== 'object') return false;
  const m = v as Record<string, unknown>;
  return (
    typeof m['id'] === 'string' &&
    typeof m['from'] === 'string' &&
    Array.isArray(m['to']) &&
    Array.isArray(m['cc']) &&
    typeof m['subject'] === 'string' &&
    typeof m['text'] === 'string' &&
    (m['html'] === null || typeof m['html'] === 'string') &&
    Array.isArray(m['links']) &&
    typeof m['headers'] === 'object' &&
    m['headers'] !== null &&
    typeof m['receivedAt'] === 'string' &&
    (m['messageId'] === null || typeof m['messageId'] === 'string')
  );
}
