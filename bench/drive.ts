/**
 * Drives systems through the embedded product as its users do: the AI team's requests with the README's example
 * bodies (examples/), each approval from the link in the approver's e-mail (GET the page, POST the form), read
 * back from the dev mailbox. Every input is logged with the stage the product answered, which the lifecycle
 * section turns into the necessary count and the minimal workflow's plan.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MailboxMessage } from '../embedded/dev-mailbox.js';
import { projectRoot } from '../embedded/temporal-binaries.js';
import { freshLoopbackAddress, httpRequest, type Product } from './product.js';
import { BenchError } from './section.js';

const examples = new Map<string, Record<string, any>>();
export function example(name: string): Record<string, any> {
  let e = examples.get(name);
  if (!e) {
    e = JSON.parse(readFileSync(join(projectRoot(), 'examples', name), 'utf8')) as Record<string, any>;
    examples.set(name, e);
  }
  return e;
}

export const registrationFor = (id: string) => ({ ...example('register.json'), id });

/** What the AI team sends in the stages where the lifecycle waits for its work (the README's walkthrough). */
const TEAM_WORK: Record<string, { method: string; path: string; example: string }> = {
  impact_assessment: { method: 'PUT', path: '/impact-assessment', example: 'impact-assessment.json' },
  bias_testing: { method: 'PUT', path: '/bias-evidence', example: 'bias-evidence.json' },
  risk_treatment: { method: 'PUT', path: '/treatment-plan', example: 'treatment-plan.json' },
  fria_notification: { method: 'POST', path: '/fria-notification', example: 'fria-notification.json' },
};

export interface Input {
  /** What was sent: a request path, or `approve` for a click on an e-mailed link. */
  what: string;
  /** Whether it waited for an e-mail (an approval link) before it could be sent. */
  waitedForMail: boolean;
  /** The stage the product showed once it was taken. */
  stage: string;
}

export interface Drive {
  id: string;
  /** The stage the registration answered with. */
  initialStage: string;
  inputs: Input[];
  /** The approval requests whose links were clicked. */
  used: Set<string>;
  /** performance.now() when the last input was answered (stage active), and when it began. */
  startedAt: number;
  activeAt: number;
  /** Each click from its POST to the view no longer showing the decided request as open (ms). */
  visibleMs: number[];
  /** Reads of the system's view answered 503 (its lifecycle did not answer the query in time). */
  viewErrors: number;
}

/** The request id inside an approval link's token (its payload is plain base64url JSON). */
export function tokenRequest(link: string): string | undefined {
  const token = link.split('/approvals/')[1]?.split(/[/?#]/)[0];
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try {
    return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { req?: string }).req;
  } catch {
    return undefined;
  }
}

const isFor = (id: string) => (m: MailboxMessage) => m.headers['x-ai-system'] === id;

/** Resolves when `count` messages about system `id` have arrived (already, or later), at the time of the last. */
export function mailsArrived(p: Product, id: string, count: number): Promise<number> {
  return arrivals(p, isFor(id), count, `${count} e-mails about ${id}`);
}

/**
 * Resolves once `count` messages matching `matches` have reached the mailbox, counting those already there, at the
 * time the last arrived. Fails when none arrives for `idleMs`: waits are short, so a failed section leaves no long
 * timer behind to hold the process.
 */
export async function arrivals(
  p: Product,
  matches: (m: MailboxMessage) => boolean,
  count: number,
  what: string,
  idleMs = 120_000,
): Promise<number> {
  const seen = new Set<string>();
  // Short waits, asked again: once the product has stopped, nothing is left holding the process for long.
  const step = Math.min(idleMs, 2_000);
  let idleSince = performance.now();
  while (seen.size < count) {
    if (p.stopped.aborted) throw new BenchError(`${what}: the product stopped after ${seen.size}`);
    const before = seen.size;
    try {
      // Each message counted once by id, so asking again (which looks through the kept ones first) adds nothing twice.
      await p.mailbox.waitFor((m) => matches(m) && seen.add(m.id).size >= count, { timeoutMs: step });
    } catch {
      if (seen.size > before) idleSince = performance.now();
      else if (performance.now() - idleSince > idleMs) {
        throw new BenchError(`${what}: ${seen.size} arrived, then none for ${idleMs / 1000} s`);
      }
    }
  }
  return performance.now();
}

export function mailsAbout(p: Product, id: string): MailboxMessage[] {
  return p.mailbox.messages().filter(isFor(id));
}

function expectStatus(res: { status: number; text: string }, status: number, what: string): void {
  if (res.status !== status)
    throw new BenchError(`${what}: HTTP ${res.status}, expected ${status}: ${res.text.slice(0, 500)}`);
}

export interface DriveOptions {
  /** Stop once the system waits for its first approval (the approval section clicks them all at once). */
  stopAtApproval?: boolean;
  /** Poll the view after each click until it shows the decision taken, timing it (the approval section). */
  timeVisibility?: boolean;
}

/**
 * A product system from registration as far as `opts` says (active by default): each step as the system's own
 * answer says, so a policy with another chain or without the FRIA stage is driven just the same.
 */
export async function drive(p: Product, id: string, opts: DriveOptions = {}): Promise<Drive> {
  const startedAt = performance.now();
  const registered = await p.api('POST', '/api/v1/systems', registrationFor(id));
  expectStatus(registered, 201, `register ${id}`);
  let stage: string = registered.json.stage;
  const d: Drive = {
    id,
    initialStage: stage,
    inputs: [],
    used: new Set(),
    startedAt,
    activeAt: 0,
    visibleMs: [],
    viewErrors: 0,
  };
  for (let steps = 0; stage !== 'active'; steps++) {
    if (steps > 20) throw new BenchError(`${id}: no way to active after ${steps} steps (stage ${stage})`);
    const work = TEAM_WORK[stage];
    if (work) {
      const res = await p.api(work.method, `/api/v1/systems/${id}${work.path}`, example(work.example));
      expectStatus(res, 200, `${work.method} ${work.path} of ${id} in ${stage}`);
      stage = res.json.stage;
      d.inputs.push({ what: work.path, waitedForMail: false, stage });
      continue;
    }
    if (stage !== 'approval') throw new BenchError(`${id}: the bench does not know what to send in stage ${stage}`);
    if (opts.stopAtApproval) return d;
    stage = await approveNext(p, d, opts.timeVisibility ?? false);
  }
  d.activeAt = performance.now();
  return d;
}

/** The link of the next approval request e-mailed for system `id` that no click of this drive has used. */
export async function nextApprovalLink(p: Product, id: string, used: Set<string>): Promise<string> {
  const fresh = (l: string) => l.includes('/approvals/') && !used.has(tokenRequest(l) ?? '');
  const mine = isFor(id);
  const mail = await p.mailbox.waitFor((m) => mine(m) && m.subject.includes('Approval needed') && m.links.some(fresh), {
    timeoutMs: 120_000,
  });
  const link = mail.links.find(fresh)!;
  used.add(tokenRequest(link) ?? link);
  return link;
}

/**
 * Clicks the next approval link of the drive's system: the page (for its CSRF field), then the Approve POST, as a
 * browser does, from an address of its own; then reads the system's stage. With `timeVisibility`, the view is
 * read until it no longer shows the decided request as open, and that wait from the POST is recorded.
 */
export async function approveNext(p: Product, d: Drive, timeVisibility: boolean): Promise<string> {
  const link = await nextApprovalLink(p, d.id, d.used);
  return decide(p, d, await openLink(p, d.id, link), timeVisibility);
}

export interface OpenedLink {
  url: string;
  csrf: string;
  requestId: string | undefined;
  localAddress: string;
}

/** Opens an approval link as the approver's browser does (the page, for its CSRF field), deciding nothing. */
export async function openLink(p: Product, id: string, link: string): Promise<OpenedLink> {
  // The link names PUBLIC_BASE_URL (localhost); the bench reaches the same server on 127.0.0.1.
  const url = `${p.baseUrl}${new URL(link).pathname}`;
  const localAddress = freshLoopbackAddress();
  const page = await httpRequest({ url, method: 'GET', localAddress });
  if (page.status !== 200) throw new BenchError(`GET approval page of ${id}: HTTP ${page.status}`);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1];
  if (!csrf) throw new BenchError(`no CSRF field on the approval page of ${id}`);
  return { url, csrf, requestId: tokenRequest(link), localAddress };
}

/**
 * Presses Approve on an opened link, then reads the system until the view no longer shows the decided request as
 * open; with `timeVisibility` that wait, from the POST, is recorded. Returns the stage then shown.
 */
export async function decide(p: Product, d: Drive, opened: OpenedLink, timeVisibility: boolean): Promise<string> {
  const posted = performance.now();
  const res = await httpRequest({
    url: opened.url,
    method: 'POST',
    localAddress: opened.localAddress,
    form: { decision: 'approve', comment: 'Approved (benchmark).', csrf: opened.csrf },
  });
  if (res.status !== 200)
    throw new BenchError(`POST approval of ${d.id}: HTTP ${res.status} ${res.body.slice(0, 300)}`);
  for (;;) {
    const view = await p.api('GET', `/api/v1/systems/${d.id}`);
    // A lifecycle too busy to answer its query in time: what a user would see too; counted, and asked again.
    if (view.status === 503) d.viewErrors++;
    else expectStatus(view, 200, `GET /api/v1/systems/${d.id}`);
    const open =
      view.status === 503 ||
      (view.json.stage === 'approval' && view.json.pendingApproval?.requestId === opened.requestId);
    if (!open) {
      if (timeVisibility) d.visibleMs.push(performance.now() - posted);
      d.inputs.push({ what: 'approve', waitedForMail: true, stage: view.json.stage });
      return view.json.stage as string;
    }
    if (performance.now() - posted > 120_000)
      throw new BenchError(`${d.id}: the decision was not visible within 120 s`);
    await new Promise((r) => setTimeout(r, timeVisibility ? 10 : 50));
  }
}

/** How many times the stage users see changed over the drive's inputs, from `initial`. */
export function stageChanges(initial: string, inputs: Input[]): number {
  let changes = 0;
  let stage = initial;
  for (const input of inputs) {
    if (input.stage !== stage) changes++;
    stage = input.stage;
  }
  return changes;
}
