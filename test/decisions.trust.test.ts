/**
 * Temporal is a trust boundary: whoever reaches its frontend can send any
 * update or signal. A decision counts only with the API's proof; payloads
 * are validated whoever sent them; duties stay apart (ISO/IEC 42001 A.3.2);
 * and a lifecycle terminated from the Temporal UI can be started again.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import type { ApprovalDecision, Delegation } from '../domain/lifecycle.js';
import { workflowIdFor } from '../domain/system.js';
import { signDecisionProof } from '../links/decision-proofs.js';
import { decideUpdate, delegateUpdate } from '../workflows/messages.js';
import { registrationFor } from './support/examples.js';
import {
  barrier,
  csrfFrom,
  GOVERNANCE_LEAD,
  lifecycleSuite,
  pathOf,
  TEST_DECISION_KEY,
} from './support/lifecycle-env.js';

const s = lifecycleSuite();

const RISK_OWNER = 'head-of-hr@example.org';
const OWNER = 'ml-team-lead@example.org';
const DEPUTY = 'deputy-hr@example.org';
const DAY = 86_400_000;

const handle = (id: string) => s.t.env.client.workflow.getHandle(workflowIdFor(id));

/** Registration to the first approval request of a high-risk system (two steps: risk owner, governance lead). */
async function toApproval(id: string) {
  await s.w.register(id);
  await s.w.assess(id);
  await s.w.evidence(id);
  await s.w.plan(id);
  return (await s.w.until(id, (v) => v.pendingApproval?.step === 1, 'the first approval request')).pendingApproval;
}

/** What Temporal answered an update: its failure's type, message and details, or the result. */
async function answer(p: Promise<unknown>) {
  try {
    return { result: await p };
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (err as WorkflowUpdateFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    const f = cause as ApplicationFailure;
    return { type: f.type, message: f.message, details: f.details?.[0] as Record<string, unknown> };
  }
}

const proofFor = (
  id: string,
  payload: ApprovalDecision | Delegation,
  opts: { key?: string; signedAt?: Date; message?: 'decideApproval' | 'delegateApproval' } = {},
) =>
  signDecisionProof(
    opts.key ?? TEST_DECISION_KEY,
    { message: opts.message ?? ('decision' in payload ? 'decideApproval' : 'delegateApproval'), systemId: id, payload },
    { via: 'link', credential: 'forger-jti', signedAt: opts.signedAt },
  );

describe('a decision sent straight to Temporal', () => {
  it('without the API proof, with a wrong one, a backdated one or one for other content, decides nothing and is recorded as forged', async () => {
    const id = 'trust-forged';
    const pending = await toApproval(id);
    const decision: ApprovalDecision = {
      requestId: pending.requestId,
      decision: 'approve',
      comment: '',
      decidedBy: pending.approver,
      via: 'link',
    };
    const rejected: ApprovalDecision = { ...decision, decision: 'reject', comment: 'Signed as a rejection.' };
    const attempts: [string, unknown, string][] = [
      ['no proof', undefined, 'missing'],
      ['a proof of the wrong shape', { mac: 'x' }, 'malformed'],
      [
        'a proof signed with another key',
        proofFor(id, decision, { key: 'not-the-decision-key-0123456789abcdef' }),
        'bad_signature',
      ],
      // A proof read from history (every update's arguments are there) and sent again a day later.
      ['a backdated proof', proofFor(id, decision, { signedAt: new Date(Date.now() - DAY) }), 'stale'],
      ['a proof for a rejection, sent with an approval', proofFor(id, rejected), 'bad_signature'],
      [
        'a delegation proof sent with a decision',
        proofFor(id, decision, { message: 'delegateApproval' }),
        'bad_signature',
      ],
    ];
    for (const [what, proof, reason] of attempts) {
      const args = (proof === undefined ? [decision] : [decision, proof]) as [ApprovalDecision];
      const res = await answer(handle(id).executeUpdate(decideUpdate, { args }));
      expect(res, what).toMatchObject({ type: 'ForgedDecision', details: { reason } });
      expect(res.message, what).toMatch(/^not recorded: /);
    }
    const events = await barrier(s.t, id);
    const forged = events.filter((e) => e.type === 'forged_decision');
    expect(forged.map((e) => (e.payload as { reason: string }).reason)).toEqual(attempts.map(([, , r]) => r));
    expect(forged[0]!.payload).toMatchObject({
      message: 'decideApproval',
      requestId: pending.requestId,
      claimedBy: pending.approver,
      openRequest: pending.requestId,
    });
    expect(events.some((e) => e.type === 'decision_recorded')).toBe(false);
    const v = await s.w.view(id);
    expect(v).toMatchObject({ stage: 'approval', decisions: [] });
    expect(v.pendingApproval).toMatchObject({ requestId: pending.requestId, step: 1 });

    // The same decision through the link counts, and says how it was proven.
    const res = await s.w.decide(await s.w.approvalLink(id, RISK_OWNER), 'approve', 'Through the link.');
    expect(res.statusCode, res.body).toBe(200);
    await s.w.until(id, (x) => x.pendingApproval?.step === 2, 'step 2');
    const authenticated = (await barrier(s.t, id)).filter((e) => e.type === 'decision_authenticated');
    expect(authenticated).toHaveLength(1);
    expect(authenticated[0]).toMatchObject({
      actor: RISK_OWNER,
      payload: { requestId: pending.requestId, via: 'link' },
    });
    expect(await s.t.store.verifyChain(id)).toMatchObject({ ok: true });
  });

  it('a v2 (Ed25519) proof is checked by the workflow itself, a v1 (HMAC) proof by the worker, and both decide', async () => {
    const id = 'trust-proof-versions';
    const localActivities = async () =>
      ((await handle(id).fetchHistory()).events ?? []).filter(
        (e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
      ).length;
    const first = await toApproval(id);
    const before = await localActivities();
    const approve = (p: typeof first): ApprovalDecision => ({
      requestId: p.requestId,
      decision: 'approve',
      comment: '',
      decidedBy: p.approver,
      via: 'link',
    });
    const d1 = approve(first);
    const v2 = proofFor(id, d1);
    expect(v2).toMatchObject({ v: 2, sig: expect.stringMatching(/^[0-9a-f]{128}$/) });
    expect(await answer(handle(id).executeUpdate(decideUpdate, { args: [d1, v2] as never }))).toHaveProperty('result');
    // No local activity: the workflow knew the public key from its records activity and checked the signature.
    expect(await localActivities()).toBe(before);
    const second = (await s.w.until(id, (v) => v.pendingApproval?.step === 2, 'step 2')).pendingApproval;
    const d2 = approve(second);
    const v1 = signDecisionProof(
      TEST_DECISION_KEY,
      { message: 'decideApproval', systemId: id, payload: d2 },
      { via: 'link', credential: 'older-api-jti', v: 1 },
    );
    expect(await answer(handle(id).executeUpdate(decideUpdate, { args: [d2, v1] as never }))).toHaveProperty('result');
    expect(await localActivities()).toBe(before + 1);
    const authenticated = (await barrier(s.t, id)).filter((e) => e.type === 'decision_authenticated');
    expect(authenticated.map((e) => (e.payload as { credential: string }).credential)).toEqual([
      'forger-jti',
      'older-api-jti',
    ]);
  });

  it('a delegation without the proof hands nothing to the deputy', async () => {
    const id = 'trust-forged-delegation';
    const pending = await toApproval(id);
    const delegation: Delegation = {
      requestId: pending.requestId,
      delegatedBy: pending.approver,
      deputy: 'attacker@example.org',
      reason: '',
    };
    const res = await answer(handle(id).executeUpdate(delegateUpdate, { args: [delegation] }));
    expect(res).toMatchObject({ type: 'ForgedDecision', details: { reason: 'missing' } });
    const events = await barrier(s.t, id);
    expect(events.filter((e) => e.type === 'forged_decision')).toHaveLength(1);
    expect(events.some((e) => e.type === 'approval_delegated')).toBe(false);
    expect((await s.w.view(id)).pendingApproval).toMatchObject({ approver: RISK_OWNER, requestId: pending.requestId });
  });

  it('a legacy approvalDecision signal, well-formed, bogus or junk, changes nothing and the lifecycle goes on', async () => {
    const id = 'trust-legacy-signal';
    const pending = await toApproval(id);
    const payloads: unknown[] = [
      { requestId: pending.requestId, decision: 'approve', comment: '', decidedBy: RISK_OWNER, decidedAt: new Date(0) },
      { requestId: pending.requestId, decision: 'bogus', decidedBy: RISK_OWNER },
      'approve',
      [1, 2, 3],
      null,
      { requestId: { $ne: null }, decidedBy: ['x'] },
    ];
    for (const p of payloads) await handle(id).signal('approvalDecision', p);
    await handle(id).signal('delegateApproval', { requestId: pending.requestId, deputy: 'attacker@example.org' });
    const events = await barrier(s.t, id);
    expect(events.filter((e) => e.type === 'decision_ignored')).toHaveLength(payloads.length);
    expect(events.filter((e) => e.type === 'delegation_ignored')).toHaveLength(1);
    const v = await s.w.view(id);
    expect(v).toMatchObject({ stage: 'approval', decisions: [] });
    expect(v.pendingApproval).toMatchObject({ requestId: pending.requestId, approver: RISK_OWNER });
    // Not stalled: the link still decides, the system moves on.
    await s.w.approveOpenRequest(id);
    await s.w.until(id, (x) => x.pendingApproval?.step === 2, 'step 2');
  });
});

describe('segregation of duties (ISO/IEC 42001 A.3.2)', () => {
  const refusedRegistration = async (id: string, overrides: Record<string, unknown>, rule: string) => {
    const res = await s.t.api.inject({
      method: 'POST',
      url: '/api/v1/systems',
      payload: { ...registrationFor(id), ...overrides },
    });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json()).toMatchObject({ error: 'segregation_of_duties', rule });
    expect(res.json().message).toContain(rule);
    expect(await s.t.store.getSystem(id)).toBeUndefined();
  };

  it('a registration refuses an owner who is the risk owner, an owner who is the governance lead, and a risk owner who is the governance lead', async () => {
    await refusedRegistration('sod-owner-risk-owner', { riskOwner: OWNER }, 'owner_cannot_be_risk_owner');
    await refusedRegistration('sod-owner-lead', { owner: GOVERNANCE_LEAD }, 'owner_cannot_approve');
    await refusedRegistration('sod-risk-owner-lead', { riskOwner: GOVERNANCE_LEAD }, 'no_two_steps_of_one_chain');
  });

  it('the owner cannot be a deputy, on the link page and straight to Temporal with a valid proof', async () => {
    const id = 'sod-owner-deputy';
    const pending = await toApproval(id);
    const link = await s.w.approvalLink(id, RISK_OWNER);
    const page = await s.t.api.inject({ method: 'GET', url: pathOf(link) });
    const res = await s.t.api.inject({
      method: 'POST',
      url: `${pathOf(link)}/delegate`,
      payload: new URLSearchParams({ deputy: OWNER, reason: 'Away.', csrf: csrfFrom(page.body) }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.statusCode).toBe(422);
    expect(res.body).toContain('owner_cannot_be_deputy');
    const delegation: Delegation = { requestId: pending.requestId, delegatedBy: RISK_OWNER, deputy: OWNER, reason: '' };
    const direct = await answer(
      handle(id).executeUpdate(delegateUpdate, { args: [delegation, proofFor(id, delegation)] }),
    );
    expect(direct).toMatchObject({ type: 'SegregationOfDuties', details: { rule: 'owner_cannot_be_deputy' } });
    expect((await s.w.view(id)).pendingApproval).toMatchObject({ approver: RISK_OWNER });
  });

  it('nobody decides two steps of one chain: not the next step’s approver as deputy, not step 1’s deputy for step 2', async () => {
    const id = 'sod-two-steps';
    await toApproval(id);
    const link = await s.w.approvalLink(id, RISK_OWNER);
    const delegate = async (l: string, deputy: string) => {
      const page = await s.t.api.inject({ method: 'GET', url: pathOf(l) });
      return s.t.api.inject({
        method: 'POST',
        url: `${pathOf(l)}/delegate`,
        payload: new URLSearchParams({ deputy, reason: 'Away.', csrf: csrfFrom(page.body) }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    };
    // The governance lead decides step 2; deciding step 1 as the risk owner's deputy would be both.
    const toLead = await delegate(link, GOVERNANCE_LEAD);
    expect(toLead.statusCode).toBe(422);
    expect(toLead.body).toContain('no_two_steps_of_one_chain');
    // Step 1 goes to a deputy, who approves it.
    expect((await delegate(link, DEPUTY)).statusCode).toBe(200);
    await s.w.until(id, (v) => v.pendingApproval?.approver === DEPUTY, 'the deputy request');
    await s.w.approveOpenRequest(id);
    const step2 = (await s.w.until(id, (v) => v.pendingApproval?.step === 2, 'step 2')).pendingApproval;
    // The governance lead cannot hand step 2 to the deputy who decided step 1, nor to the risk owner.
    const leadLink = await s.w.approvalLink(id, GOVERNANCE_LEAD);
    for (const deputy of [DEPUTY, RISK_OWNER]) {
      const res = await delegate(leadLink, deputy);
      expect(res.statusCode, deputy).toBe(422);
      expect(res.body, deputy).toContain('no_two_steps_of_one_chain');
    }
    // Straight to Temporal with a valid proof, the workflow applies the same rule.
    const delegation: Delegation = {
      requestId: step2.requestId,
      delegatedBy: GOVERNANCE_LEAD,
      deputy: DEPUTY,
      reason: '',
    };
    const direct = await answer(
      handle(id).executeUpdate(delegateUpdate, { args: [delegation, proofFor(id, delegation)] }),
    );
    expect(direct).toMatchObject({ type: 'SegregationOfDuties', details: { rule: 'no_two_steps_of_one_chain' } });
    expect((await s.w.view(id)).pendingApproval).toMatchObject({ approver: GOVERNANCE_LEAD, step: 2 });
  });
});

describe('re-registration (admin)', () => {
  it('restarts a lifecycle terminated from Temporal, keeping its records and a verifiable chain; a running one answers 409', async () => {
    const id = 'reregister-terminated';
    await s.w.register(id);
    await s.w.assess(id);
    const before = await barrier(s.t, id);
    const runBefore = (await handle(id).describe()).runId;

    const running = await s.t.api.inject({ method: 'POST', url: `/api/v1/systems/${id}/re-register` });
    expect(running.statusCode, running.body).toBe(409);
    expect(running.json()).toMatchObject({ error: 'lifecycle_running' });

    await handle(id).terminate('terminated from the Temporal UI');
    // Before: a second registration is refused, whatever happened to the workflow.
    const again = await s.t.api.inject({ method: 'POST', url: '/api/v1/systems', payload: registrationFor(id) });
    expect(again.statusCode).toBe(409);

    const res = await s.t.api.inject({ method: 'POST', url: `/api/v1/systems/${id}/re-register` });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({
      id,
      stage: 'impact_assessment',
      previous: { runId: runBefore, status: 'TERMINATED' },
    });
    expect(res.json().runId).not.toBe(runBefore);
    const v = await s.w.until(id, (x) => x.stage === 'impact_assessment', 'the restarted lifecycle');
    expect(v.owner).toBe(OWNER);

    const after = await barrier(s.t, id);
    // Every record from before is still there, in order, and the chain continues through the restart.
    expect(after.slice(0, before.length).map((e) => e.seq)).toEqual(before.map((e) => e.seq));
    expect(after.some((e) => e.type === 'lifecycle_re_registered')).toBe(true);
    expect(after.length).toBeGreaterThan(before.length);
    const chain = await s.t.store.verifyChain(id);
    expect(chain).toMatchObject({ ok: true });
    expect(chain.count).toBeGreaterThan(after.length);
    // The restarted lifecycle works: the assessment goes in again.
    await s.w.assess(id);

    const twice = await s.t.api.inject({ method: 'POST', url: `/api/v1/systems/${id}/re-register` });
    expect(twice.statusCode).toBe(409);
    const unknown = await s.t.api.inject({ method: 'POST', url: '/api/v1/systems/never-registered/re-register' });
    expect(unknown.statusCode).toBe(404);
  });

  it('is for admins only', async () => {
    const id = 'reregister-role';
    await s.w.register(id);
    await handle(id).terminate('terminated from the Temporal UI');
    const lead = await s.t.keys({ email: GOVERNANCE_LEAD, role: 'governance-lead' });
    const res = await s.t.api.inject({
      method: 'POST',
      url: `/api/v1/systems/${id}/re-register`,
      headers: { authorization: `Bearer ${lead}` },
    });
    expect(res.statusCode).toBe(403);
  });
});

describe('decisions by an authenticated approver through the API', () => {
  const decideAs = async (id: string, key: string, body: Record<string, unknown>) =>
    s.t.api.inject({
      method: 'POST',
      url: `/api/v1/systems/${id}/approvals/decision`,
      headers: { authorization: `Bearer ${key}` },
      payload: body,
    });

  it('the pending approver decides with their own credential; anyone else is refused naming the rule', async () => {
    const id = 'api-decision';
    const pending = await toApproval(id);
    const riskOwner = await s.t.keys({ email: RISK_OWNER, role: 'risk-owner' });
    const lead = await s.t.keys({ email: GOVERNANCE_LEAD, role: 'governance-lead' });

    const early = await decideAs(id, lead, { decision: 'approve' });
    expect(early.statusCode, early.body).toBe(403);
    expect(early.json()).toMatchObject({ rule: 'not_the_pending_approver' });
    const noComment = await decideAs(id, riskOwner, { decision: 'reject' });
    expect(noComment.statusCode, noComment.body).toBe(422);
    const named = await decideAs(id, riskOwner, { decision: 'approve', decidedBy: GOVERNANCE_LEAD });
    expect(named.statusCode, named.body).toBe(422);

    const res = await decideAs(id, riskOwner, { decision: 'approve', comment: 'From the API.' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      requestId: pending.requestId,
      decision: 'approve',
      nextApprover: GOVERNANCE_LEAD,
    });
    const v = await s.w.until(id, (x) => x.pendingApproval?.step === 2, 'step 2');
    expect(v.decisions[0]).toMatchObject({ approver: RISK_OWNER, via: 'api', comment: 'From the API.' });
    const events = await barrier(s.t, id);
    const auth = events.find((e) => e.type === 'decision_authenticated');
    expect(auth).toMatchObject({ actor: RISK_OWNER, payload: { via: 'api', requestId: pending.requestId } });
    expect((auth!.payload as { credential: string }).credential).toMatch(/^key:/);

    // Step 2 is the governance lead's; the risk owner who decided step 1 cannot decide it.
    const again = await decideAs(id, riskOwner, { decision: 'approve' });
    expect(again.statusCode).toBe(403);
    expect((await decideAs(id, lead, { decision: 'approve', comment: 'Agreed.' })).statusCode).toBe(200);
    await s.w.until(id, (x) => x.stage === 'fria_notification', 'approved');
  });
});
