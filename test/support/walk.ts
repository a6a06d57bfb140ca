import { expect } from 'vitest';
import { example, registrationFor } from './examples.js';
import { workflowIdFor } from '../../domain/system.js';
import { csrfFrom, pathOf, type LifecycleEnv } from './lifecycle-env.js';
import type { MailboxMessage } from '../../embedded/dev-mailbox.js';

/**
 * Drives a system through the README's walkthrough over the HTTP API, the
 * way AI teams and approvers do: request bodies from examples/, decisions
 * through the links in the e-mails.
 */
export function walker(t: LifecycleEnv) {
  async function call(method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown, expected?: number) {
    const res = await t.api.inject({ method, url, payload: payload as never });
    if (expected !== undefined) expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(expected);
    return res;
  }
  const sys = (id: string, path = '') => `/api/v1/systems/${id}${path}`;

  async function view(id: string) {
    return (await call('GET', sys(id), undefined, 200)).json();
  }

  /** Polls the system's view until it satisfies `ok` (effects run asynchronously after a message). */
  async function until(id: string, ok: (v: any) => boolean, what: string) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const v = await view(id);
      if (ok(v)) return v;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; last view ${JSON.stringify(v).slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const mailsTo = (to: string, id: string, pred: (m: MailboxMessage) => boolean = () => true) =>
    t.mailbox.messages().filter((m) => m.to.includes(to) && m.headers['x-ai-system'] === id && pred(m));

  /** The newest approval link e-mailed to `approver` for the system's open request. */
  async function approvalLink(id: string, approver: string, requestId?: string): Promise<string> {
    const rid =
      requestId ??
      (await until(id, (v) => v.pendingApproval?.approver === approver, `a request to ${approver}`)).pendingApproval
        .requestId;
    const mail = await t.mailbox.waitFor(
      (m) =>
        m.to.includes(approver) &&
        m.subject.includes('Approval needed') &&
        m.text.includes(id) &&
        m.links.some((l) => l.includes('/approvals/') && tokenRequest(l) === rid),
      { timeoutMs: 20_000 },
    );
    return mail.links.find((l) => l.includes('/approvals/') && tokenRequest(l) === rid)!;
  }

  async function decide(
    link: string,
    decision: 'approve' | 'reject' | 'request_changes',
    comment = '',
    extra: Record<string, string> = {},
  ) {
    const page = await t.api.inject({ method: 'GET', url: pathOf(link) });
    expect(page.statusCode, page.body).toBe(200);
    return t.api.inject({
      method: 'POST',
      url: pathOf(link),
      payload: new URLSearchParams({ decision, comment, csrf: csrfFrom(page.body), ...extra }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  }

  async function approveOpenRequest(id: string, comment = 'Approved.') {
    const v = await until(id, (x) => x.pendingApproval !== null, 'an open approval request');
    const res = await decide(
      await approvalLink(id, v.pendingApproval.approver, v.pendingApproval.requestId),
      'approve',
      comment,
    );
    expect(res.statusCode, res.body).toBe(200);
    return v.pendingApproval;
  }

  return {
    call,
    sys,
    view,
    until,
    mailsTo,
    approvalLink,
    decide,
    approveOpenRequest,
    register: (id: string, overrides: Record<string, unknown> = {}) =>
      call('POST', '/api/v1/systems', { ...registrationFor(id), ...overrides }, 201),
    assess: (id: string, body = example('impact-assessment.json'), expected = 200) =>
      call('PUT', sys(id, '/impact-assessment'), body, expected),
    evidence: (id: string, body = example('bias-evidence.json'), expected = 200) =>
      call('PUT', sys(id, '/bias-evidence'), body, expected),
    plan: (id: string, body = example('treatment-plan.json'), expected = 200) =>
      call('PUT', sys(id, '/treatment-plan'), body, expected),
    notifyAuthority: (id: string, expected = 200) =>
      call('POST', sys(id, '/fria-notification'), example('fria-notification.json'), expected),
    /** Registration to active through every step of the high-risk path. */
    async toActive(id: string) {
      await this.register(id);
      await this.assess(id);
      await this.evidence(id);
      await this.plan(id);
      const approvers: string[] = [];
      for (;;) {
        const v = await until(id, (x) => x.pendingApproval !== null || x.stage !== 'approval', 'next approval step');
        if (v.stage !== 'approval') break;
        approvers.push((await approveOpenRequest(id)).approver);
        await until(id, (x) => x.pendingApproval?.requestId !== v.pendingApproval.requestId, 'the step to advance');
      }
      const v = await view(id);
      if (v.stage === 'fria_notification') await this.notifyAuthority(id);
      return { approvers, view: await until(id, (x) => x.stage === 'active', 'stage active') };
    },
  };
}

/** The request id inside an approval link's token (its payload is plain base64url JSON). */
export function tokenRequest(link: string): string | undefined {
  const token = link.split('/approvals/')[1]?.split(/[/?#]/)[0];
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { req?: string }).req;
}

/** Polls describe() (answered by the server, not the workflow) until a new run has replaced `runId`. */
export async function nextRun(t: LifecycleEnv, id: string, runId: string) {
  const handle = () => t.env.client.workflow.getHandle(workflowIdFor(id));
  await expect.poll(async () => (await handle().describe()).runId, { timeout: 20_000, interval: 50 }).not.toBe(runId);
  return handle().describe();
}

/**
 * Approves every step of the open chain through the e-mailed links. When the
 * last step signs off a review, the run continues as new; the test server
 * never answers a query that arrives during that final workflow task, so the
 * change of run is awaited with describe() before the state is queried again.
 */
export async function approveChain(t: LifecycleEnv, w: ReturnType<typeof walker>, id: string) {
  const approvers: { approver: string; kind: string; step: number; of: number }[] = [];
  for (;;) {
    const v = await w.until(id, (x) => x.pendingApproval !== null || x.stage !== 'approval', 'next approval step');
    if (v.stage !== 'approval') return { approvers, view: v };
    const p = v.pendingApproval;
    const closesCycle = p.kind === 'review' && p.step === p.of;
    const runId = (await t.env.client.workflow.getHandle(workflowIdFor(id)).describe()).runId;
    await w.approveOpenRequest(id);
    approvers.push({ approver: p.approver, kind: p.kind, step: p.step, of: p.of });
    if (closesCycle) {
      await nextRun(t, id, runId);
      return { approvers, view: await w.until(id, (x) => x.cycle === v.cycle + 1, 'the next review cycle') };
    }
    await w.until(id, (x) => x.pendingApproval?.requestId !== p.requestId, 'the step to advance');
  }
}
