/**
 * Drives lifecycles through a topology's real HTTP APIs the way AI teams and
 * approvers do (the README's walkthrough: examples/ bodies, decisions through
 * the e-mailed links, page first, then the form with its CSRF value), and
 * keeps going through faults: a refused or unanswered request is retried
 * after reading the system's state again, so a lost answer never makes it
 * submit twice what was already recorded. Then the checks every fault test
 * ends with: nothing lost, nothing recorded or e-mailed twice.
 */
import { defaultHolder, TEST_TEAM, type KeySpec } from './credentials.js';
import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';
import { apiRequest, type ApiAnswer } from '../../embedded/api-request.js';
import { canonicalJson } from '../../store/hash.js';
import { example, registrationFor } from './examples.js';
import { tokenRequest } from './walk.js';
import type { SmtpMessage, Topology } from './topology.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Walk {
  id: string;
  /** Requests that failed (network, 5xx) and were retried. */
  retries: number;
  /** The last of those failures, for the message when the deadline passes. */
  lastFailure?: string;
  /** Steps taken, for progress-based fault schedules. */
  steps: string[];
  approvers: string[];
  view?: any;
}

/** Progress of many walks, for "mid-flight" fault schedules. */
export interface Progress {
  steps(): number;
  done(): number;
  /** Requests sent to each API base URL. */
  served(): Map<string, number>;
}

export interface DriverOptions {
  deadline: number;
  /**
   * Each approval-link request from a loopback address of its own (127.1.0.1, 127.1.0.2, …), as approvers click
   * from their own machines: the links' per-address rate limit (policy security.rateLimits) then counts each
   * approver, not the whole test as one client. Off, every request comes from 127.0.0.1.
   */
  clickFromOwnAddress?: boolean;
}

export function driver(t: Topology, opts: DriverOptions) {
  let turn = 0;
  let stepCount = 0;
  let doneCount = 0;
  let clickAddresses = 0;
  const served = new Map<string, number>();

  /** A running API, a different one each call: the APIs are interchangeable replicas. */
  function base(): string {
    const urls = t.runningApiUrls();
    if (urls.length === 0) throw new Error('no API process is running');
    const url = urls[turn++ % urls.length]!;
    served.set(url, (served.get(url) ?? 0) + 1);
    return url;
  }

  /** Real keys, made through the API by the admin: one per person the walks' bodies name. */
  const keys = new Map<string, Promise<string>>();
  function keyFor(holder: KeySpec): Promise<string> {
    let key = keys.get(holder.email);
    if (!key) {
      key = apiRequest('POST', base() + '/api/v1/keys', {
        body: { name: `topology ${holder.email}`, ...holder, team: holder.team ?? TEST_TEAM },
        key: t.adminKey,
        timeoutMs: 30_000,
      }).then((res) => {
        const made = res.json as { key?: string } | undefined;
        if (res.status !== 201 || !made?.key)
          throw new Error(`could not make a key for ${holder.email}: ${res.status}`);
        return made.key;
      });
      key.catch(() => keys.delete(holder.email));
      keys.set(holder.email, key);
    }
    return key;
  }

  async function request(
    method: string,
    path: string,
    body?: unknown,
    form?: Record<string, string>,
  ): Promise<ApiAnswer> {
    // Approval links are used as approvers use them: with no credential.
    const holder = defaultHolder(body, path, method);
    const key = path.startsWith('/approvals/') ? undefined : holder ? await keyFor(holder) : t.adminKey;
    if (opts.clickFromOwnAddress && path.startsWith('/approvals/')) {
      const n = clickAddresses++;
      const localAddress = `127.${1 + Math.floor(n / (254 * 256))}.${Math.floor(n / 254) % 256}.${(n % 254) + 1}`;
      return requestFrom(localAddress, method, base() + path, form);
    }
    return apiRequest(method, base() + path, { body, form, key });
  }

  const left = () => opts.deadline - Date.now();
  function checkDeadline(w: Walk, what: string) {
    // A process that died by itself would only show as a passed deadline: say so at once.
    const exits = t.unexpectedExits();
    if (exits.length > 0) throw new Error(`${w.id}: while ${what}, ${exits.join('\n')}`);
    if (left() < 0) {
      throw new Error(
        `${w.id}: deadline passed while ${what}; steps so far ${w.steps.join(' > ')}; ${w.retries} retries ` +
          `(last: ${w.lastFailure ?? 'none'}); last view ` +
          JSON.stringify(w.view ?? null).slice(0, 1500),
      );
    }
  }

  /** The request's answer, or undefined after a failure worth retrying (network error, 5xx). */
  async function attempt(w: Walk, method: string, path: string, body?: unknown, form?: Record<string, string>) {
    try {
      const a = await request(method, path, body, form);
      if (a.status < 500) return a;
      w.lastFailure = `${method} ${path.slice(0, 60)}: ${a.status} ${a.text.slice(0, 300)}`;
    } catch (err) {
      // the API was killed mid-request, or the request timed out: the state is read again
      w.lastFailure = `${method} ${path.slice(0, 60)}: ${(err as Error).message}`;
    }
    w.retries++;
    await sleep(500 + Math.random() * 1_000);
    return undefined;
  }

  async function view(w: Walk): Promise<any> {
    for (;;) {
      checkDeadline(w, 'reading the view');
      const a = await attempt(w, 'GET', `/api/v1/systems/${w.id}`);
      if (a?.status === 200) return (w.view = a.json);
      if (a && a.status !== 404) throw new Error(`${w.id}: GET view answered ${a.status} ${a.text.slice(0, 500)}`);
      // 404 right after registration when the start was retried, or 5xx: try again
      if (a) await sleep(500);
    }
  }

  function step(w: Walk, name: string) {
    w.steps.push(name);
    stepCount++;
  }

  /** PUT/POST a work item; done when it is recorded now or was recorded by an earlier attempt (the stage moved). */
  async function submit(w: Walk, stage: string, method: 'PUT' | 'POST', path: string, body: unknown) {
    const a = await attempt(w, method, `/api/v1/systems/${w.id}${path}`, body);
    if (!a) return;
    if (a.status === 200 || a.status === 201) return step(w, stage);
    if (a.status === 409) return; // moved on meanwhile: the next view says where
    throw new Error(`${w.id}: ${method} ${path} answered ${a.status} ${a.text.slice(0, 800)}`);
  }

  const pathOf = (link: string) => {
    const u = new URL(link);
    return u.pathname + u.search;
  };

  /** The approval link e-mailed to `approver` for `requestId`. */
  function linkFor(m: SmtpMessage, requestId: string): string | undefined {
    return m.links.find((l) => l.includes('/approvals/') && tokenRequest(l) === requestId);
  }

  async function approve(w: Walk, approver: string, requestId: string) {
    const mail = await t.smtp
      .waitFor(
        (m) => m.to.includes(approver) && m.system === w.id && linkFor(m, requestId) !== undefined,
        `to ${approver} with the approval link for ${requestId}`,
        Math.max(1_000, Math.min(left(), 5_000)),
      )
      .catch(() => undefined);
    if (!mail) return; // not sent yet: the caller reads the view again (and the deadline is checked)
    const path = pathOf(linkFor(mail, requestId)!);
    const page = await attempt(w, 'GET', path);
    if (!page) return;
    if (page.status === 200 && page.text.includes('Already decided')) return;
    if (page.status === 409) return; // closed meanwhile
    if (page.status !== 200) throw new Error(`${w.id}: GET approval page answered ${page.status}`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1];
    if (!csrf) throw new Error(`${w.id}: no CSRF value on the approval page`);
    const res = await attempt(w, 'POST', path, undefined, { decision: 'approve', comment: 'Approved.', csrf });
    if (!res) return;
    if (res.status === 200 && /You approved/.test(res.text)) {
      w.approvers.push(approver);
      return step(w, `approved ${requestId}`);
    }
    if (res.status === 200 && res.text.includes('Already decided')) return;
    if (res.status === 409) return;
    throw new Error(`${w.id}: POST approval answered ${res.status} ${res.text.slice(0, 500)}`);
  }

  /** Registration to `active` through every step of the high-risk path. */
  async function toActive(id: string, overrides: Record<string, unknown> = {}): Promise<Walk> {
    const w: Walk = { id, retries: 0, steps: [], approvers: [] };
    for (;;) {
      checkDeadline(w, 'registering');
      const a = await attempt(w, 'POST', '/api/v1/systems', { ...registrationFor(id), ...overrides });
      if (a?.status === 201 || (a?.status === 409 && w.retries > 0)) break; // 409 after a retry: the first one started it
      if (a) throw new Error(`${id}: registration answered ${a.status} ${a.text.slice(0, 800)}`);
    }
    step(w, 'registered');
    for (;;) {
      const v = await view(w);
      checkDeadline(w, `in stage ${v.stage}`);
      switch (v.stage) {
        case 'impact_assessment':
          await submit(w, 'assessed', 'PUT', '/impact-assessment', example('impact-assessment.json'));
          break;
        case 'bias_testing':
          await submit(w, 'evidence', 'PUT', '/bias-evidence', example('bias-evidence.json'));
          break;
        case 'risk_treatment':
          await submit(w, 'planned', 'PUT', '/treatment-plan', example('treatment-plan.json'));
          break;
        case 'approval':
          if (v.pendingApproval) await approve(w, v.pendingApproval.approver, v.pendingApproval.requestId);
          else await sleep(500);
          break;
        case 'fria_notification':
          await submit(w, 'fria', 'POST', '/fria-notification', example('fria-notification.json'));
          break;
        case 'active':
          step(w, 'active');
          doneCount++;
          return w;
        default:
          throw new Error(`${id}: unexpected stage ${v.stage}: ${JSON.stringify(v).slice(0, 1500)}`);
      }
      // Effects run after the answer: give the workflow a moment before the next view (a query per view).
      await sleep(300);
    }
  }

  const progress: Progress = { steps: () => stepCount, done: () => doneCount, served: () => new Map(served) };
  return { toActive, request, view, progress };
}

/** One request over its own connection from `localAddress` (fetch cannot choose its source address). */
function requestFrom(
  localAddress: string,
  method: string,
  url: string,
  form?: Record<string, string>,
): Promise<ApiAnswer> {
  const u = new URL(url);
  const body = form ? new URLSearchParams(form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        localAddress,
        agent: false,
        headers: body
          ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) }
          : {},
        timeout: 120_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${u.pathname.slice(0, 40)}: no answer within 120 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------- checks

interface EventRecord {
  system_id: string;
  seq: number;
  type: string;
  payload: unknown;
}

/** The audit trail of `ids` straight from the events table (not through the store code under test). */
export async function eventsOf(t: Topology, ids: string[]): Promise<Map<string, EventRecord[]>> {
  const rows = await t.postgres.query<EventRecord>(
    'select system_id, seq::int as seq, type, payload from events where system_id = any($1) order by system_id, seq',
    [ids],
  );
  const out = new Map<string, EventRecord[]>(ids.map((id) => [id, []]));
  for (const r of rows) out.get(r.system_id)!.push(r);
  return out;
}

/**
 * No event recorded twice: within a system, no two events with the same type
 * and canonical payload (their idempotency keys are unique by constraint, so
 * a duplicate would come from the same effect run under a second key). And
 * each system's trail has the high-risk path's events, once.
 */
export async function expectAuditTrails(t: Topology, ids: string[], settleMs = 100_000) {
  // The view says active as soon as the workflow is; its effects are recorded after, in order, the
  // transition to active last. An activity a SIGKILL stranded is retried after its 1-minute timeout.
  const deadline = Date.now() + settleMs;
  let trails = await eventsOf(t, ids);
  const settled = () =>
    [...trails.values()].every((events) =>
      events.some((e) => e.type === 'stage_changed' && (e.payload as { to: string }).to === 'active'),
    );
  while (!settled() && Date.now() < deadline) {
    await sleep(1_000);
    trails = await eventsOf(t, ids);
  }
  const duplicates: string[] = [];
  for (const [id, events] of trails) {
    const seen = new Map<string, number>();
    for (const e of events) {
      const key = `${e.type} ${canonicalJson(e.payload)}`;
      if (seen.has(key)) duplicates.push(`${id}: seq ${seen.get(key)} and ${e.seq} are both ${key.slice(0, 300)}`);
      else seen.set(key, e.seq);
    }
  }
  expect(duplicates, 'events recorded twice').toEqual([]);
  for (const [id, events] of trails) {
    const stages = events.filter((e) => e.type === 'stage_changed').map((e) => (e.payload as { to: string }).to);
    expect(stages, `${id}: stage changes`).toEqual([
      'impact_assessment',
      'bias_testing',
      'risk_treatment',
      'approval',
      'fria_notification',
      'active',
    ]);
    expect(events.filter((e) => e.type === 'decision_recorded').length, `${id}: decisions`).toBe(2);
    expect(events.filter((e) => e.type === 'assessment_submitted').length, `${id}: assessments`).toBe(1);
    expect(
      events.map((e) => e.seq),
      `${id}: an unbroken sequence`,
    ).toEqual(events.map((_, i) => i + 1));
  }
}

interface OutboxRecord {
  idempotency_key: string;
  system_id: string;
  kind: string;
  to_address: string;
  message_id: string;
  status: string;
  attempts: number;
}

export async function outboxOf(t: Topology, ids: string[]): Promise<OutboxRecord[]> {
  return t.postgres.query<OutboxRecord>(
    'select idempotency_key, system_id, kind, to_address, message_id, status, attempts from notifications where system_id = any($1)',
    [ids],
  );
}

/**
 * No e-mail sent twice, none lost: every accepted message has its own
 * Message-ID and X-Idempotency-Key, every outbox row of `ids` is sent and
 * arrived exactly once, and each system got its approval requests.
 * Waits (bounded) for mail still in flight once the lifecycles are active.
 */
/**
 * SMTP has no transaction with the record store: a worker SIGKILLed between the server's 250 and its own record of
 * it (a few milliseconds, longer on a loaded machine) cannot know the mail went out, and the next attempt sends it
 * again. That window no design closes, so with `kills` given a mail may arrive twice only if its first copy came in
 * at most KILL_WINDOW_MS before a kill and its second after that kill; any other duplicate still fails. The first
 * copy may also complete up to KILL_DRAIN_MS after the kill: bytes the killed process had already written to its
 * socket still reach the server (seen with pooled SMTP connections: five copies 2-23 ms after a SIGKILL).
 */
const KILL_WINDOW_MS = 1_000;
const KILL_DRAIN_MS = 250;

export async function expectMailExactlyOnce(
  t: Topology,
  ids: string[],
  timeoutMs = 60_000,
  context?: string,
  kills: Date[] = [],
) {
  const wanted = new Set(ids);
  const deadline = Date.now() + timeoutMs;
  let rows = await outboxOf(t, ids);
  while (rows.some((r) => r.status !== 'sent') && Date.now() < deadline) {
    await sleep(500);
    rows = await outboxOf(t, ids);
  }
  expect(
    rows.filter((r) => r.status !== 'sent').map((r) => `${r.system_id} ${r.kind} to ${r.to_address}: ${r.status}`),
    'outbox rows not sent',
  ).toEqual([]);

  const received = t.smtp.messages().filter((m) => m.system !== null && wanted.has(m.system));
  const killedInFlight = (first: SmtpMessage, second: SmtpMessage) =>
    kills.some((k) => {
      const before = k.getTime() - first.receivedAt.getTime();
      return (
        before >= -KILL_DRAIN_MS &&
        before <= KILL_WINDOW_MS &&
        second.receivedAt.getTime() > k.getTime() + KILL_DRAIN_MS
      );
    });
  // The second copy of a mail caught in a kill's window is set aside (and reported); a third copy never is.
  const seen = new Map<string, SmtpMessage>();
  const setAside = new Set<SmtpMessage>();
  for (const m of [...received].sort((a, b) => a.receivedAt.getTime() - b.receivedAt.getTime())) {
    const first = seen.get(m.messageId ?? '');
    if (first && killedInFlight(first, m) && ![...setAside].some((x) => x.messageId === m.messageId)) {
      setAside.add(m);
      continue;
    }
    if (!first) seen.set(m.messageId ?? '', m);
  }
  if (setAside.size > 0) {
    console.log(
      `resent after a SIGKILL between the SMTP server's 250 and its record: ${[...setAside].map((m) => `#${m.n} ${m.system} ${m.messageId}`).join(', ')}`,
    );
  }
  const mails = received.filter((m) => !setAside.has(m));
  const byMessageId = groupCount(mails.map((m) => m.messageId ?? '(none)'));
  const byKey = groupCount(mails.map((m) => m.idempotencyKey ?? '(none)'));
  // Each copy with when it arrived, so a duplicate can be matched against the faults' times.
  const copies = (pick: (m: SmtpMessage) => string | null, value: string) =>
    mails
      .filter((m) => pick(m) === value)
      .map(
        (m) => `#${m.n} ${m.system} "${m.subject.slice(0, 50)}" to ${m.to.join(',')} at ${m.receivedAt.toISOString()}`,
      );
  expect(
    [...byMessageId].filter(([, n]) => n > 1).map(([id]) => `${id}: ${copies((m) => m.messageId, id).join(' | ')}`),
    `Message-IDs delivered more than once (${context ?? 'no faults noted'})`,
  ).toEqual([]);
  expect(
    [...byKey].filter(([, n]) => n > 1).map(([k]) => `${k}: ${copies((m) => m.idempotencyKey, k).join(' | ')}`),
    'X-Idempotency-Keys delivered more than once',
  ).toEqual([]);
  expect(byMessageId.has('(none)'), 'a message without Message-ID').toBe(false);
  expect(byKey.has('(none)'), 'a message without X-Idempotency-Key').toBe(false);

  const delivered = new Set(mails.map((m) => m.messageId));
  expect(
    rows.filter((r) => !delivered.has(r.message_id)).map((r) => `${r.system_id} ${r.kind} to ${r.to_address}`),
    'outbox rows marked sent that never arrived',
  ).toEqual([]);
  expect(mails.length, 'accepted messages vs outbox rows').toBe(rows.length);
  for (const id of ids) {
    const approvals = rows.filter((r) => r.system_id === id && r.kind === 'approval_request');
    expect(approvals.length, `${id}: approval requests`).toBe(2);
  }
}

function groupCount(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

/** Seeded PRNG (mulberry32): a failing schedule is replayed with the seed printed by the test. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs all `ids` to active concurrently, starts staggered so registration is not one burst. */
export async function walkAll(d: ReturnType<typeof driver>, ids: string[], staggerMs = 150): Promise<Walk[]> {
  return Promise.all(
    ids.map(async (id, i) => {
      await sleep(i * staggerMs);
      return d.toActive(id);
    }),
  );
}
