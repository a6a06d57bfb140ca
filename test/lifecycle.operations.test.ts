import { describe, expect, it } from 'vitest';
import { systemView } from '../api/routes/systems.js';
import { addCadence, durationMs } from '../domain/duration.js';
import { likelihoods, severities } from '../domain/policy.js';
import { workflowIdFor } from '../domain/system.js';
import { stateQuery } from '../workflows/messages.js';
import { example, registrationFor } from './support/examples.js';
import { barrier, csrfFrom, GOVERNANCE_LEAD, lifecycleSuite, pathOf } from './support/lifecycle-env.js';
import { approveChain } from './support/walk.js';

const s = lifecycleSuite();

const OWNER: string = example('register.json').owner;
const RISK_OWNER: string = example('register.json').riskOwner;
const DEPUTY = 'deputy-hr@example.org';
const MINUTE = 60_000;
const DAY = 86_400_000;

/** The time-skipping server's clock: the workflows' "now". */
const serverNow = async () => await s.t.env.currentTimeMs();
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Advances the server clock to `at` (never backwards). */
async function sleepUntil(at: number): Promise<void> {
  const delta = at - (await serverNow());
  if (delta > 0) await s.t.env.sleep(delta);
}

const handleFor = (id: string) => s.t.env.client.workflow.getHandle(workflowIdFor(id));

async function waitForStatus(id: string, status: string) {
  await expect
    .poll(async () => (await handleFor(id).describe()).status.name, { timeout: 20_000, interval: 100 })
    .toBe(status);
}

/** Like s.w.toActive, with the evidence body chosen by the test. */
async function activate(id: string, evidence: Record<string, unknown>) {
  await s.w.register(id);
  await s.w.assess(id);
  await s.w.evidence(id, evidence);
  await s.w.plan(id);
  await approveChain(s.t, s.w, id);
  await s.w.until(id, (x) => x.stage === 'fria_notification', 'FRIA notification step');
  await s.w.notifyAuthority(id);
  return s.w.until(id, (x) => x.stage === 'active', 'active');
}

const reviewBody = (overrides: Record<string, unknown> = {}) => ({ ...example('review.json'), ...overrides });

describe('operations on the time-skipping server', () => {
  it('reminds before a periodic review, falls due, escalates while overdue, and rolls the next due date from the sign-off', async () => {
    const id = 'ops-periodic';
    const { view: active } = await s.w.toActive(id);
    const due = Date.parse(active.reviewDueAt);
    const remindAt = due - durationMs(s.t.policy.reviews.remindBefore);
    const every = durationMs(s.t.policy.reviews.overdueEscalationEvery);
    const upcoming = () => s.w.mailsTo(OWNER, id, (m) => m.subject.startsWith('Periodic review coming up'));
    const dueMails = () => s.w.mailsTo(OWNER, id, (m) => m.subject.startsWith('Periodic review due'));
    const escalations = () => s.w.mailsTo(GOVERNANCE_LEAD, id, (m) => m.subject.startsWith('Overdue review'));

    // Just before the reminder: nothing yet.
    await sleepUntil(remindAt - MINUTE);
    await barrier(s.t, id);
    expect(upcoming()).toHaveLength(0);
    await s.t.env.sleep(2 * MINUTE);
    const reminder = await s.t.mailbox.waitFor(
      (m) =>
        m.to.includes(OWNER) && m.headers['x-ai-system'] === id && m.subject.startsWith('Periodic review coming up'),
    );
    expect(reminder.text).toContain(isoDay(due));
    expect((await s.w.view(id)).stage).toBe('active');
    expect(dueMails()).toHaveLength(0);

    // Just before the due date: still active.
    await sleepUntil(due - MINUTE);
    await barrier(s.t, id);
    expect((await s.w.view(id)).stage).toBe('active');
    expect(dueMails()).toHaveLength(0);
    await sleepUntil(due);
    const dueView = await s.w.until(id, (v) => v.stage === 'review_due', 'review due');
    expect(dueView.reviewDueAt).toBe(active.reviewDueAt);
    await s.t.mailbox.waitFor(
      (m) => m.to.includes(OWNER) && m.headers['x-ai-system'] === id && m.subject.startsWith('Periodic review due'),
    );
    expect(upcoming()).toHaveLength(1);
    // Overdue: not right at the due date, but once it has passed. The HTTP view judges this by the API's wall
    // clock, which the time-skipping server's clock has left months behind, so the view is computed with the
    // server's time here.
    const state = await handleFor(id).query(stateQuery);
    expect(systemView(state, new Date(due)).overdue).toBe(false);

    // Escalations to the governance lead every `overdueEscalationEvery`, counting up.
    await sleepUntil(due + every - MINUTE);
    await barrier(s.t, id);
    expect(escalations()).toHaveLength(0);
    await s.t.env.sleep(2 * MINUTE);
    const first = await s.t.mailbox.waitFor(
      (m) =>
        m.to.includes(GOVERNANCE_LEAD) &&
        m.headers['x-ai-system'] === id &&
        m.subject.startsWith('Overdue review (escalation 1)'),
    );
    expect(first.text).toContain(OWNER);
    expect(systemView(await handleFor(id).query(stateQuery), new Date(await serverNow())).overdue).toBe(true);
    await sleepUntil(due + 2 * every - MINUTE);
    await barrier(s.t, id);
    expect(escalations().map((m) => m.subject)).toEqual([expect.stringMatching(/^Overdue review \(escalation 1\)/)]);
    await s.t.env.sleep(2 * MINUTE);
    await s.t.mailbox.waitFor(
      (m) =>
        m.to.includes(GOVERNANCE_LEAD) &&
        m.headers['x-ai-system'] === id &&
        m.subject.startsWith('Overdue review (escalation 2)'),
    );
    expect((await s.w.view(id)).stage).toBe('review_due');

    // The review goes to sign-off; the whole chain approves; a new run starts the next cycle.
    const before = await handleFor(id).describe();
    const submitted = await s.w.call('POST', s.w.sys(id, '/reviews'), reviewBody(), 202);
    expect(submitted.json().stage).toBe('approval');
    const pending = await s.w.until(id, (v) => v.pendingApproval !== null, 'review approval request');
    expect(pending.pendingApproval).toMatchObject({
      kind: 'review',
      step: 1,
      of: s.t.policy.approvalChains.high.length,
    });
    const { approvers } = await approveChain(s.t, s.w, id);
    expect(approvers.map((a) => a.kind)).toEqual(s.t.policy.approvalChains.high.map(() => 'review'));
    const next = await s.w.until(id, (v) => v.cycle === active.cycle + 1, 'the next review cycle');
    expect(next.stage).toBe('active');
    expect(next.approvedDigest).toBe(pending.pendingApproval.digest);
    const after = await handleFor(id).describe();
    expect(after.runId).not.toBe(before.runId);
    expect(after.status.name).toBe('RUNNING');
    expect((await s.t.env.client.workflow.getHandle(workflowIdFor(id), before.runId).describe()).status.name).toBe(
      'CONTINUED_AS_NEW',
    );

    // The next due date rolls from the sign-off, not from the missed due date.
    expect(next.lastReviewCompletedAt).not.toBeNull();
    const completed = new Date(next.lastReviewCompletedAt);
    expect(completed.getTime()).toBeGreaterThanOrEqual(due + 2 * every);
    expect(next.reviewDueAt).toBe(addCadence(completed, s.t.policy.reviewCadence.high).toISOString());
    expect(next.reviewDueAt).not.toBe(addCadence(new Date(due), s.t.policy.reviewCadence.high).toISOString());
    expect((await s.t.store.verifyChain(id)).ok).toBe(true);
  });

  it('sends a review with a material change back to impact assessment', async () => {
    const id = 'ops-review-material';
    const fresh = { ...example('bias-evidence.json'), effectiveDate: isoDay(await serverNow()) };
    const active = await activate(id, fresh);
    expect(active.approvedDigest).not.toBeNull();
    const res = await s.w.call(
      'POST',
      s.w.sys(id, '/reviews'),
      reviewBody({
        materialChange: true,
        changeDescription: 'Now also ranks internal transfer requests.',
        biasEvidence: undefined,
      }),
      202,
    );
    expect(res.json().stage).toBe('impact_assessment');
    const v = await s.w.view(id);
    expect(v).toMatchObject({ stage: 'impact_assessment', approvedDigest: null, pendingApproval: null });
  });

  it('refuses a review without fresh bias evidence when the evidence on record is too old, and treats failed review metrics', async () => {
    const id = 'ops-review-stale';
    const old = isoDay((await serverNow()) - durationMs(s.t.policy.evidence.maxAge) - 2 * DAY);
    const active = await activate(id, { ...example('bias-evidence.json'), effectiveDate: old });

    const refused = await s.w.call('POST', s.w.sys(id, '/reviews'), reviewBody({ biasEvidence: undefined }), 422);
    expect(refused.json().issues.map((i: { path: string }) => i.path)).toContain('body.biasEvidence');
    expect(refused.json().message).toContain(old);
    const unchanged = await s.w.view(id);
    expect(unchanged).toMatchObject({ stage: 'active', approvedDigest: active.approvedDigest });

    // Review evidence must show every metric the policy requires of the tier, for every registered feature.
    const review = example('review.json');
    const today = isoDay(await serverNow());
    const partial = {
      ...review.biasEvidence,
      effectiveDate: today,
      metrics: review.biasEvidence.metrics.filter((m: { sensitiveFeature: string }) => m.sensitiveFeature === 'gender'),
    };
    const incomplete = await s.w.call('POST', s.w.sys(id, '/reviews'), reviewBody({ biasEvidence: partial }), 422);
    expect(incomplete.json().message).toContain('demographic_parity_ratio:age_band');
    expect((await s.w.view(id)).stage).toBe('active');

    // Fresh review evidence with a failing metric is a material change: back to risk treatment.
    const failing = {
      ...review.biasEvidence,
      effectiveDate: today,
      metrics: review.biasEvidence.metrics.map((m: { name: string; sensitiveFeature: string }) =>
        m.name === 'demographic_parity_ratio' && m.sensitiveFeature === 'gender'
          ? { ...m, value: s.t.policy.biasTesting.thresholds.demographic_parity_ratio!.min! - 0.1 }
          : m,
      ),
    };
    const res = await s.w.call('POST', s.w.sys(id, '/reviews'), reviewBody({ biasEvidence: failing }), 202);
    expect(res.json().stage).toBe('risk_treatment');
    const v = await s.w.view(id);
    expect(v).toMatchObject({ stage: 'risk_treatment', approvedDigest: null });
    expect(v.evidence.failed).toEqual(['demographic_parity_ratio:gender']);
    expect(v.treatmentPlan.current).toBe(false);
  });

  it('runs bias testing and approval again for a new model version', async () => {
    const id = 'ops-version';
    const { view: active } = await s.w.toActive(id);
    const newVersion = example('new-version.json');
    expect(newVersion.version).not.toBe(active.model.version);

    const res = await s.w.call('POST', s.w.sys(id, '/versions'), newVersion, 202);
    expect(res.json()).toMatchObject({ modelVersion: newVersion.version, stage: 'bias_testing' });
    const testing = await s.w.view(id);
    expect(testing).toMatchObject({
      stage: 'bias_testing',
      approvedDigest: null,
      model: { version: newVersion.version },
    });

    // Evidence for the old version no longer counts.
    const stale = await s.w.evidence(id, example('bias-evidence.json'), 422);
    expect(stale.json().issues.map((i: { path: string }) => i.path)).toContain('body.modelVersion');
    expect((await s.w.view(id)).stage).toBe('bias_testing');

    // New evidence; the treatment plan on record still answers its failed metric, so it goes straight to approval.
    const evidence = (
      await s.w.evidence(id, { ...example('bias-evidence.json'), modelVersion: newVersion.version })
    ).json();
    expect(evidence.stage).toBe('approval');
    const { approvers, view: approved } = await approveChain(s.t, s.w, id);
    expect(approvers.map((a) => a.kind)).toEqual(s.t.policy.approvalChains.high.map(() => 'treatment_plan'));
    expect(approved.stage).toBe('active');
    expect(approved.approvedDigest).not.toBeNull();
    expect(approved.approvedDigest).not.toBe(active.approvedDigest);
    expect(approved.evidence.modelVersion).toBe(newVersion.version);
    expect(approved.treatmentPlan.version).toBe(active.treatmentPlan.version);

    // The same version again is refused.
    const same = await s.w.call('POST', s.w.sys(id, '/versions'), newVersion, 422);
    expect(same.json().issues.map((i: { path: string }) => i.path)).toContain('body.version');
    expect((await s.w.view(id)).stage).toBe('active');

    // A version that changes purpose or context needs a full reassessment.
    const changed = await s.w.call(
      'POST',
      s.w.sys(id, '/versions'),
      { ...newVersion, version: `${newVersion.version}-next`, purposeAndContextUnchanged: false },
      202,
    );
    expect(changed.json().stage).toBe('impact_assessment');
    expect(await s.w.view(id)).toMatchObject({ stage: 'impact_assessment', approvedDigest: null });
  });

  it('reviews at once after a serious incident, records its closure, and leaves the stage alone for a minor one', async () => {
    const id = 'ops-incident';
    const { view: active } = await s.w.toActive(id);
    const incident = example('incident.json');
    expect(incident.severity).toBe('serious');

    const from = await serverNow();
    const res = await s.w.call('POST', s.w.sys(id, '/incidents'), incident, 201);
    const to = await serverNow();
    expect(res.json()).toMatchObject({ incidentId: 'inc-1', stage: 'review_due' });
    const v = await s.w.view(id);
    expect(v).toMatchObject({ stage: 'review_due', approvedDigest: null });
    expect(v.reviewDueAt).not.toBe(active.reviewDueAt);
    expect(v.reviewDueAt).toBe(v.incidents[0].reportedAt);
    expect(Date.parse(v.reviewDueAt)).toBeGreaterThanOrEqual(from);
    expect(Date.parse(v.reviewDueAt)).toBeLessThanOrEqual(to);
    const lead = await s.t.mailbox.waitFor(
      (m) =>
        m.to.includes(GOVERNANCE_LEAD) &&
        m.headers['x-ai-system'] === id &&
        m.subject.startsWith('Serious incident inc-1'),
    );
    expect(lead.text).toContain(incident.description);
    await s.t.mailbox.waitFor(
      (m) => m.to.includes(OWNER) && m.headers['x-ai-system'] === id && m.subject.startsWith('Periodic review due'),
    );

    const closure = example('incident-close.json');
    const closed = await s.w.call('POST', s.w.sys(id, '/incidents/inc-1/close'), closure, 200);
    expect(closed.json().closedAt).toEqual(expect.any(String));
    const afterClose = await s.w.view(id);
    expect(afterClose.incidents[0]).toMatchObject({
      id: 'inc-1',
      closedAt: closed.json().closedAt,
      closedBy: closure.closedBy,
      resolution: closure.resolution,
    });
    const twice = await s.w.call('POST', s.w.sys(id, '/incidents/inc-1/close'), closure, 409);
    expect(twice.json().error).toBe('wrong_stage');
    const unknown = await s.w.call('POST', s.w.sys(id, '/incidents/inc-99/close'), closure, 422);
    expect(unknown.json().issues.map((i: { path: string }) => i.path)).toContain('body.incidentId');

    // The immediate review is signed off like a scheduled one.
    await s.w.call(
      'POST',
      s.w.sys(id, '/reviews'),
      reviewBody({
        biasEvidence: { ...example('review.json').biasEvidence, effectiveDate: isoDay(await serverNow()) },
      }),
      202,
    );
    await approveChain(s.t, s.w, id);
    const reviewed = await s.w.until(id, (x) => x.cycle === active.cycle + 1, 'the next cycle');
    expect(reviewed.stage).toBe('active');
    const reviewedDigest = reviewed.approvedDigest;
    expect(reviewedDigest).not.toBeNull();

    // A minor incident is recorded and mailed to the owner, but changes nothing else.
    const minor = await s.w.call('POST', s.w.sys(id, '/incidents'), { ...incident, severity: 'minor' }, 201);
    expect(minor.json().stage).toBe('active');
    const minorId: string = minor.json().incidentId;
    await s.t.mailbox.waitFor(
      (m) => m.to.includes(OWNER) && m.headers['x-ai-system'] === id && m.subject.startsWith(`Incident ${minorId}`),
    );
    const afterMinor = await s.w.view(id);
    expect(afterMinor).toMatchObject({
      stage: 'active',
      approvedDigest: reviewedDigest,
      reviewDueAt: reviewed.reviewDueAt,
    });
    expect(afterMinor.incidents.map((i: { id: string }) => i.id)).toEqual([minorId]);
    await barrier(s.t, id);
    expect(s.w.mailsTo(GOVERNANCE_LEAD, id, (m) => m.subject.includes(minorId))).toHaveLength(0);
  });

  it('retires a system: the lifecycle ends and refuses anything afterwards', async () => {
    const id = 'ops-retire';
    await s.w.toActive(id);
    const retirement = example('retire.json');
    const res = await s.w.call('POST', s.w.sys(id, '/retire'), retirement, 200);
    expect(res.json()).toMatchObject({ stage: 'retired', retiredAt: expect.any(String) });

    await waitForStatus(id, 'COMPLETED');
    const final = await handleFor(id).result();
    expect(final).toMatchObject({ stage: 'retired', retiredAt: res.json().retiredAt });
    for (const to of [OWNER, GOVERNANCE_LEAD]) {
      const mail = await s.t.mailbox.waitFor(
        (m) => m.to.includes(to) && m.headers['x-ai-system'] === id && m.subject.startsWith('Retired:'),
      );
      expect(mail.text).toContain(retirement.reason);
    }
    await expect.poll(() => s.t.store.getSystem(id), { timeout: 10_000 }).toMatchObject({ stage: 'retired' });

    const late = await s.w.call('POST', s.w.sys(id, '/incidents'), example('incident.json'), 409);
    expect(late.json()).toMatchObject({ error: 'lifecycle_ended', stage: 'retired' });
    const again = await s.w.call('POST', '/api/v1/systems', registrationFor(id), 409);
    expect(again.json().error).toBe('already_registered');
  });

  it('stops the lifecycle of a prohibited practice', async () => {
    const id = 'ops-prohibited';
    await s.w.register(id);
    const assessment = example('impact-assessment.json');
    const prohibited = {
      ...assessment,
      euAiAct: {
        category: 'prohibited',
        rationale: 'Art. 5(1)(f): infers emotions of applicants during video interviews.',
      },
    };
    const res = await s.w.assess(id, prohibited as never);
    expect(res.json().stage).toBe('rejected');
    const stopped = await s.t.mailbox.waitFor(
      (m) => m.to.includes(GOVERNANCE_LEAD) && m.headers['x-ai-system'] === id && m.subject.startsWith('Stopped:'),
    );
    expect(stopped.text).toContain('prohibited practice');
    await waitForStatus(id, 'COMPLETED');
    expect((await handleFor(id).result()).stage).toBe('rejected');
    const late = await s.w.evidence(id, example('bias-evidence.json'), 409);
    expect(late.json().error).toBe('lifecycle_ended');
  });

  it('asks the governance lead to accept residual risk above appetite as a separate final step', async () => {
    const id = 'ops-risk-acceptance';
    const { severity, likelihood } = s.t.policy.riskScoring;
    const max = s.t.policy.riskAppetite.maxResidualScore;
    const pairs = severities.flatMap((s) => likelihoods.map((l) => ({ s, l, score: severity[s] * likelihood[l] })));
    const above = pairs.find((p) => p.score > max);
    expect(above).toBeDefined();
    const plan = example('treatment-plan.json');
    plan.items[0] = { ...plan.items[0], residualSeverity: above!.s, residualLikelihood: above!.l };

    await s.w.register(id);
    await s.w.assess(id);
    await s.w.evidence(id);
    const submitted = (await s.w.plan(id, plan)).json();
    expect(submitted).toMatchObject({ stage: 'approval', requiresRiskAcceptance: true });
    expect(submitted.residualScore).toBeGreaterThan(max);

    const roles = s.t.policy.approvalChains.high;
    const first = await s.w.until(id, (v) => v.pendingApproval?.step === 1, 'step 1');
    expect(first.pendingApproval.of).toBe(roles.length + 1);
    expect(first.treatmentPlan.requiresRiskAcceptance).toBe(true);
    for (let step = 1; step <= roles.length; step++) {
      const v = await s.w.until(id, (x) => x.pendingApproval?.step === step, `step ${step}`);
      expect(v.pendingApproval).toMatchObject({ kind: 'treatment_plan', role: roles[step - 1] });
      await s.w.approveOpenRequest(id);
    }
    // Every plan step approved, and still not active: the risk acceptance is outstanding.
    const last = await s.w.until(id, (v) => v.pendingApproval?.step === roles.length + 1, 'risk acceptance step');
    expect(last.stage).toBe('approval');
    expect(last.pendingApproval).toMatchObject({
      kind: 'risk_acceptance',
      role: 'governance_lead',
      approver: GOVERNANCE_LEAD,
    });
    const mail = await s.t.mailbox.waitFor(
      (m) =>
        m.to.includes(GOVERNANCE_LEAD) &&
        m.headers['x-ai-system'] === id &&
        m.subject.includes(`step ${roles.length + 1} of ${roles.length + 1}`),
    );
    expect(mail.text).toContain('acceptance of residual risk');
    await s.w.approveOpenRequest(id);
    const done = await s.w.until(id, (v) => v.stage !== 'approval', 'approved');
    expect(done.stage).toBe('fria_notification');
    expect(done.decisions.map((d: { kind: string }) => d.kind)).toEqual([
      ...roles.map(() => 'treatment_plan'),
      'risk_acceptance',
    ]);
  });

  it('sends the system back to the stage an approver names when requesting changes, only with a comment', async () => {
    const id = 'ops-request-changes';
    await s.w.register(id);
    await s.w.assess(id);
    await s.w.evidence(id);
    await s.w.plan(id);
    const link = await s.w.approvalLink(id, RISK_OWNER);
    const open = await s.w.view(id);

    const bare = await s.w.decide(link, 'request_changes', '', { returnTo: 'bias_testing' });
    expect(bare.statusCode).toBe(422);
    expect(bare.body).toContain('needs a comment');
    const events = await barrier(s.t, id);
    expect(events.filter((e) => e.type === 'decision_recorded')).toEqual([]);
    const still = await s.w.view(id);
    expect(still).toMatchObject({ stage: 'approval', decisions: [] });
    expect(still.pendingApproval.requestId).toBe(open.pendingApproval.requestId);

    const comment = 'Re-run the bias tests on the 2026 applications.';
    const res = await s.w.decide(link, 'request_changes', comment, { returnTo: 'bias_testing' });
    expect(res.statusCode, res.body).toBe(200);
    const back = await s.w.until(id, (v) => v.stage === 'bias_testing', 'back to bias testing');
    expect(back.pendingApproval).toBeNull();
    expect(back.decisions).toMatchObject([
      { decision: 'request_changes', returnTo: 'bias_testing', comment, approver: RISK_OWNER },
    ]);
    const outcome = await s.t.mailbox.waitFor(
      (m) => m.to.includes(OWNER) && m.headers['x-ai-system'] === id && m.subject.startsWith('Changes requested:'),
    );
    expect(outcome.text).toContain(comment);
  });

  it('lets an approver delegate to a deputy, whose decision advances the chain', async () => {
    const id = 'ops-delegation';
    await s.w.register(id);
    await s.w.assess(id);
    await s.w.evidence(id);
    await s.w.plan(id);
    const link = await s.w.approvalLink(id, RISK_OWNER);
    const page = await s.t.api.inject({ method: 'GET', url: pathOf(link) });
    expect(page.statusCode).toBe(200);
    const res = await s.t.api.inject({
      method: 'POST',
      url: `${pathOf(link)}/delegate`,
      payload: new URLSearchParams({
        deputy: DEPUTY,
        reason: 'On leave this week.',
        csrf: csrfFrom(page.body),
      }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.statusCode, res.body).toBe(200);

    const delegated = await s.w.until(id, (v) => v.pendingApproval?.approver === DEPUTY, 'the deputy request');
    expect(delegated.pendingApproval).toMatchObject({ step: 1, delegatedFrom: RISK_OWNER, role: 'risk_owner' });
    const mail = await s.t.mailbox.waitFor(
      (m) => m.to.includes(DEPUTY) && m.headers['x-ai-system'] === id && m.subject.startsWith('Approval needed'),
    );
    expect(mail.text).toContain(`${RISK_OWNER} delegated this decision to you`);

    const original = await s.t.api.inject({ method: 'GET', url: pathOf(link) });
    expect(original.body).toContain('Already decided');

    const deputyLink = await s.w.approvalLink(id, DEPUTY);
    expect(deputyLink).not.toBe(link);
    expect((await s.w.decide(deputyLink, 'approve', 'Approved on behalf of the head of HR.')).statusCode).toBe(200);
    const next = await s.w.until(id, (v) => v.pendingApproval?.step === 2, 'step 2');
    expect(next.pendingApproval.approver).toBe(GOVERNANCE_LEAD);
    expect(next.decisions).toMatchObject([{ approver: DEPUTY, decision: 'approve', step: 1, role: 'risk_owner' }]);
    const recorded = await s.t.store.listDecisions(id);
    expect(recorded.map((d) => [d.approver, d.decision])).toEqual([[DEPUTY, 'approve']]);
  });

  it('skips bias testing for a low-tier system that decides nothing about people', async () => {
    const id = 'ops-low-tier';
    const { severity, likelihood } = s.t.policy.riskScoring;
    const low = severities
      .flatMap((s) => likelihoods.map((l) => ({ s, l, score: severity[s] * likelihood[l] })))
      .filter((p) => p.score < s.t.policy.riskScoring.tierMinScore.medium)
      .sort((a, b) => b.score - a.score)[0]!;
    const assessment = example('impact-assessment.json');
    const { fria: _fria, ...rest } = assessment;
    const lowTier = {
      ...rest,
      euAiAct: { category: 'minimal', rationale: 'Internal search helper; no Annex III use.' },
      decisionsAboutPeople: false,
      impacts: assessment.impacts.map((i: Record<string, unknown>) => ({ ...i, severity: low.s, likelihood: low.l })),
    };
    await s.w.register(id);
    const assessed = (await s.w.assess(id, lowTier as never)).json();
    expect(assessed).toMatchObject({ riskTier: 'low', stage: 'risk_treatment', score: low.score });
    const v = await s.w.view(id);
    expect(v.transitions.map((tr: { to: string }) => tr.to)).toEqual(['impact_assessment', 'risk_treatment']);
    expect(v.fria.required).toBe(false);

    await s.w.plan(id);
    const pending = await s.w.until(id, (x) => x.pendingApproval !== null, 'approval request');
    expect(pending.pendingApproval).toMatchObject({ of: s.t.policy.approvalChains.low.length, kind: 'treatment_plan' });
    expect(s.t.policy.approvalChains.low.length).toBe(1);
    const { view: done } = await approveChain(s.t, s.w, id);
    // No FRIA step: the category is not high-risk.
    expect(done.stage).toBe('active');
    expect(done.transitions.map((tr: { to: string }) => tr.to)).not.toContain('fria_notification');
    expect(done.reviewDueAt).toBe(addCadence(new Date(done.approvedAt), s.t.policy.reviewCadence.low).toISOString());
  });

  it('refuses messages in the wrong stage and plans that leave a failed metric unanswered', async () => {
    const id = 'ops-wrong-stage';
    await s.w.register(id);
    const early = await s.w.evidence(id, example('bias-evidence.json'), 409);
    expect(early.json()).toMatchObject({ error: 'wrong_stage', stage: 'impact_assessment' });
    expect((await s.w.view(id)).evidence).toBeNull();

    await s.w.assess(id);
    const passing = example('bias-evidence.json');
    const failingEvidence = {
      ...passing,
      metrics: passing.metrics.map((m: { name: string; sensitiveFeature: string }) =>
        m.name === 'demographic_parity_ratio' && m.sensitiveFeature === 'gender' ? { ...m, value: 0.5 } : m,
      ),
    };
    const evidence = (await s.w.evidence(id, failingEvidence)).json();
    expect(evidence.failed).toEqual(['demographic_parity_ratio:gender']);
    // Under the fairness gate a plan item naming the failed metric does not answer it: the plan is refused either way.
    const plan = example('treatment-plan.json');
    const blind = { ...plan, items: plan.items.map((i: Record<string, unknown>) => ({ ...i, addressesMetrics: [] })) };
    const naming = {
      ...plan,
      items: [{ ...plan.items[0], addressesMetrics: evidence.failed }, ...plan.items.slice(1)],
    };
    for (const body of [blind, naming]) {
      const refused = await s.w.plan(id, body, 422);
      expect(refused.json().issues.map((i: { path: string }) => i.path)).toContain('body.items');
      expect(refused.json().message).toContain(evidence.failed[0]);
    }
    expect(await s.w.view(id)).toMatchObject({ stage: 'risk_treatment', treatmentPlan: null });
    // New passing evidence lifts the hold.
    expect((await s.w.evidence(id, passing)).json().failed).toEqual([]);
    expect((await s.w.plan(id)).json().stage).toBe('approval');
  });
});
