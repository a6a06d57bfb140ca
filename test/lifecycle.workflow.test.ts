import { describe, expect, it } from 'vitest';
import { addCadence } from '../domain/duration.js';
import { barrier, GOVERNANCE_LEAD, lifecycleSuite } from './support/lifecycle-env.js';

const s = lifecycleSuite();

const RISK_OWNER = 'head-of-hr@example.org';
const OWNER = 'ml-team-lead@example.org';
const DAY = 86_400_000;

describe('lifecycle on the time-skipping server', () => {
  it('carries a high-risk system from registration through evidence, plan and a two-step chain to active', async () => {
    await s.w.register('approve-path');
    const assessed = (await s.w.assess('approve-path')).json();
    expect(assessed).toMatchObject({ riskTier: 'high', stage: 'bias_testing' });
    const evidence = (await s.w.evidence('approve-path')).json();
    expect(evidence).toMatchObject({ failed: [], inconclusive: [], stage: 'risk_treatment' });
    const plan = (await s.w.plan('approve-path')).json();
    expect(plan).toMatchObject({ stage: 'approval', requiresRiskAcceptance: false });

    const first = await s.w.until('approve-path', (v) => v.pendingApproval?.step === 1, 'step 1');
    expect(first.pendingApproval).toMatchObject({ approver: RISK_OWNER, role: 'risk_owner', of: 2 });
    const link = await s.w.approvalLink('approve-path', RISK_OWNER);
    // Opening the link (as a mail scanner would) decides nothing.
    await s.t.api.inject({ method: 'GET', url: new URL(link).pathname });
    expect((await s.w.view('approve-path')).pendingApproval.step).toBe(1);

    expect((await s.w.decide(link, 'approve', 'Looks sound.')).statusCode).toBe(200);
    const second = await s.w.until('approve-path', (v) => v.pendingApproval?.step === 2, 'step 2');
    expect(second.pendingApproval).toMatchObject({ approver: GOVERNANCE_LEAD, role: 'governance_lead' });
    await s.w.decide(await s.w.approvalLink('approve-path', GOVERNANCE_LEAD), 'approve', 'Agreed.');

    // A deployer of a high-risk system notifies the authority (EU AI Act Art. 27) before going live.
    const waiting = await s.w.until('approve-path', (v) => v.stage === 'fria_notification', 'FRIA notification step');
    expect(waiting.fria).toMatchObject({ required: true, notifiedAt: null });
    await s.w.notifyAuthority('approve-path');
    const active = await s.w.until('approve-path', (v) => v.stage === 'active', 'active');
    expect(active.decisions.map((d: any) => [d.role, d.decision])).toEqual([
      ['risk_owner', 'approve'],
      ['governance_lead', 'approve'],
    ]);
    // The approval is pinned to what it covered.
    expect(active.approvedDigest).toBe(second.pendingApproval.digest);
    expect(active.reviewDueAt).toBe(
      addCadence(new Date(active.approvedAt), s.t.policy.reviewCadence.high).toISOString(),
    );

    await s.t.mailbox.waitFor(
      (m) => m.to.includes(OWNER) && m.subject.startsWith('Approved: ') && m.text.includes('approve-path'),
    );
    const decisions = await s.t.store.listDecisions('approve-path');
    expect(decisions.map((d) => d.approver)).toEqual([RISK_OWNER, GOVERNANCE_LEAD]);
    await expect
      .poll(() => s.t.store.getSystem('approve-path'), { timeout: 10_000 })
      .toMatchObject({ stage: 'active', riskTier: 'high' });
    expect(await s.t.store.listAssessments('approve-path')).toHaveLength(1);
    expect((await s.t.store.verifyChain('approve-path')).ok).toBe(true);
  });

  it('sends a rejection back to impact assessment with the comment, then approves the revision', async () => {
    await s.w.register('reject-path');
    await s.w.assess('reject-path');
    await s.w.evidence('reject-path');
    await s.w.plan('reject-path');
    const res = await s.w.decide(
      await s.w.approvalLink('reject-path', RISK_OWNER),
      'reject',
      'Add the data provenance of the training CVs.',
    );
    expect(res.statusCode).toBe(200);
    await s.w.until('reject-path', (v) => v.stage === 'impact_assessment', 'back to assessment');
    const rejection = await s.t.mailbox.waitFor(
      (m) => m.to.includes(OWNER) && m.subject.startsWith('Rejected: ') && m.text.includes('reject-path'),
    );
    expect(rejection.text).toContain('Add the data provenance of the training CVs.');

    expect((await s.w.assess('reject-path')).json().version).toBe(2);
    // The plan treated the old assessment, so it must be submitted again.
    await s.w.evidence('reject-path');
    expect((await s.w.view('reject-path')).stage).toBe('risk_treatment');
    await s.w.plan('reject-path');
    await s.w.approveOpenRequest('reject-path');
    await s.w.approveOpenRequest('reject-path');
    const v = await s.w.until('reject-path', (x) => x.stage === 'fria_notification', 'approved');
    expect(v.decisions.map((d: any) => [d.decision, d.assessmentVersion])).toEqual([
      ['reject', 1],
      ['approve', 2],
      ['approve', 2],
    ]);
    expect(v.transitions.map((tr: any) => tr.to)).toEqual([
      'impact_assessment',
      'bias_testing',
      'risk_treatment',
      'approval',
      'impact_assessment',
      'bias_testing',
      'risk_treatment',
      'approval',
      'fria_notification',
    ]);
  });

  it('reminds the approver after the policy delay and escalates to the governance lead', async () => {
    await s.w.register('reminder-path');
    await s.w.assess('reminder-path');
    await s.w.evidence('reminder-path');
    await s.w.plan('reminder-path');
    await s.w.approvalLink('reminder-path', RISK_OWNER);
    const isReminder = (m: { subject: string; headers: Record<string, string> }) =>
      m.subject.startsWith('Reminder 1: Approval needed') && m.headers['x-ai-system'] === 'reminder-path';

    // Just short of the delay: still no reminder.
    await s.t.env.sleep(2 * DAY - 60_000);
    await barrier(s.t, 'reminder-path');
    expect(s.t.mailbox.messages().some(isReminder)).toBe(false);

    // Past it: once the barrier is through, the reminder is recorded and delivered (no waiting for the mailbox).
    await s.t.env.sleep(120_000);
    await barrier(s.t, 'reminder-path');
    const reminder = s.t.mailbox.messages().find(isReminder)!;
    expect(reminder, 'the reminder, delivered before the barrier returned').toBeDefined();
    expect(reminder.to).toEqual([RISK_OWNER]);
    expect((await s.w.view('reminder-path')).pendingApproval.remindersSent).toBe(1);

    await s.t.env.sleep(7 * DAY);
    const escalation = await s.t.mailbox.waitFor(
      (m) => m.to.includes(GOVERNANCE_LEAD) && m.subject.startsWith('Escalation:') && m.text.includes('reminder-path'),
    );
    expect(escalation.text).toContain(RISK_OWNER);
    expect((await s.w.view('reminder-path')).pendingApproval.escalatedAt).not.toBeNull();
  });
});
