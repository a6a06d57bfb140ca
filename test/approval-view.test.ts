/**
 * The approval link's pages read the request from the record store, not from the workflow (api/approval-view.ts):
 * here what the store's records say of each request of a high-risk chain (and of a delegated one) is checked
 * against the workflow's own state at the same moment, and each closed request reads as decided or delegated.
 */
import { describe, expect, it } from 'vitest';
import { documentDigests, recordedRequest } from '../api/approval-view.js';
import type { LifecycleState } from '../domain/lifecycle.js';
import { workflowIdFor } from '../domain/system.js';
import { stateQuery } from '../workflows/messages.js';
import { example } from './support/examples.js';
import { csrfFrom, lifecycleSuite, pathOf } from './support/lifecycle-env.js';

const s = lifecycleSuite();
const RISK_OWNER: string = example('register.json').riskOwner;
const DEPUTY = 'deputy-hr@example.org';

const stateOf = (id: string): Promise<LifecycleState> =>
  s.t.env.client.workflow.getHandle(workflowIdFor(id)).query(stateQuery);

/** The request as the pages read it: the system's events and projection, and the documents by digest. */
async function fromStore(id: string, requestId: string, approver: string) {
  const events = await s.t.store.listEvents(id);
  const system = await s.t.store.getSystem(id);
  const digests = documentDigests(events, requestId);
  const read = async (d: string | undefined) => (d ? ((await s.t.store.getDocument(d))?.content as never) : undefined);
  const docs = {
    assessment: await read(digests.assessment),
    evidence: await read(digests.evidence),
    plan: await read(digests.plan),
  };
  return recordedRequest(events, system, requestId, approver, docs, s.t.policy);
}

/** Every field the pages read agrees with the workflow's state while the request is open. */
function expectSameAsState(
  subject: NonNullable<Awaited<ReturnType<typeof fromStore>>['subject']>,
  state: LifecycleState,
) {
  const { remindersSent: _r, escalatedAt: _e, expiresAt: _x, ...approval } = state.approval!;
  expect(subject.approval).toEqual(approval);
  expect(subject.assessment).toEqual(state.assessment);
  const { accepted: _a, ...evidence } = state.evidence!;
  expect(subject.evidence).toMatchObject(evidence);
  expect(subject.evidence?.accepted ?? []).toEqual(state.evidence!.accepted ?? []);
  const { current: _c, ...plan } = state.plan!;
  expect(subject.plan).toMatchObject(plan);
  expect(subject.decisions.map((d) => ({ ...d, principal: undefined }))).toEqual(
    state.decisions.map((d) => ({ ...d, principal: undefined })),
  );
  expect(subject.fria).toMatchObject({
    required: state.fria.required,
    notifiedAt: state.fria.notifiedAt,
    basis: state.fria.basis,
  });
  expect(subject).toMatchObject({
    systemId: state.systemId,
    stage: state.stage,
    riskTier: state.riskTier,
    modelVersion: state.modelVersion,
    policyVersion: state.policyVersion,
    registration: state.registration,
  });
}

/** Waits until the store has the workflow's open request on record (the records activity runs after the step). */
async function openOnRecord(id: string) {
  for (const deadline = Date.now() + 20_000; ;) {
    const state = await stateOf(id);
    if (state.approval) {
      const r = await fromStore(id, state.approval.requestId, state.approval.approver);
      if (r.status.open) return { state, r };
    }
    if (Date.now() > deadline) throw new Error(`no open request of ${id} on record`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('the approval pages read the request from the record store', () => {
  it('agrees with the workflow on each step of the chain, and reads decided and delegated requests as closed', async () => {
    const id = 'approval-view-high';
    await s.w.register(id);
    await s.w.assess(id);
    await s.w.evidence(id);
    await s.w.plan(id);

    const first = await openOnRecord(id);
    expect(first.state.approval!.approver).toBe(RISK_OWNER);
    expectSameAsState(first.r.subject!, first.state);
    // Someone the request is not bound to reads it as closed.
    expect((await fromStore(id, first.state.approval!.requestId, DEPUTY)).status).toEqual({
      open: false,
      why: 'closed',
    });

    // The risk owner delegates: their request reads as delegated, the deputy's as open, from the same chain.
    const link = await s.w.approvalLink(id, RISK_OWNER, first.state.approval!.requestId);
    const page = await s.t.api.inject({ method: 'GET', url: pathOf(link) });
    expect(page.statusCode, page.body).toBe(200);
    const delegated = await s.t.api.inject({
      method: 'POST',
      url: `${pathOf(link)}/delegate`,
      payload: new URLSearchParams({ deputy: DEPUTY, reason: 'On leave', csrf: csrfFrom(page.body) }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(delegated.statusCode, delegated.body).toBe(200);
    const deputy = await openOnRecord(id);
    expect(deputy.state.approval!.approver).toBe(DEPUTY);
    expectSameAsState(deputy.r.subject!, deputy.state);
    expect(deputy.r.subject!.approval!.delegatedFrom).toBe(RISK_OWNER);
    expect((await fromStore(id, first.state.approval!.requestId, RISK_OWNER)).status).toEqual({
      open: false,
      why: 'delegated',
    });

    // The deputy approves: their request reads as decided, with the decision; the next step is open and agrees.
    await s.w.approveOpenRequest(id);
    const second = await openOnRecord(id);
    expect(second.state.approval!.step).toBe(2);
    expectSameAsState(second.r.subject!, second.state);
    const decided = await fromStore(id, deputy.state.approval!.requestId, DEPUTY);
    expect(decided.status).toMatchObject({
      open: false,
      why: 'decided',
      decision: { requestId: deputy.state.approval!.requestId, decision: 'approve', approver: DEPUTY },
    });

    // A request id the records do not know is neither open nor closed there: the workflow decides.
    expect((await fromStore(id, `${id}.c0.r9.s1`, RISK_OWNER)).status).toEqual({ open: null });
  });
});
