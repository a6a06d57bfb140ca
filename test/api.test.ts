import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signApprovalLink, type ApprovalClaims } from '../links/approval-links.js';
import { workflowIdFor } from '../domain/system.js';
import { stateQuery } from '../workflows/messages.js';
import { barrier, csrfFrom, GOVERNANCE_LEAD, lifecycleSuite, pathOf, TEST_SECRET } from './support/lifecycle-env.js';
import { example, registrationFor } from './support/examples.js';

const s = lifecycleSuite();

const RISK_OWNER = 'head-of-hr@example.org';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

async function register(id: string, overrides: Record<string, unknown> = {}) {
  const res = await s.t.api.inject({
    method: 'POST',
    url: '/api/v1/systems',
    payload: { ...registrationFor(id), ...overrides },
  });
  expect(res.statusCode, res.body).toBe(201);
  return s.t.env.client.workflow.getHandle(workflowIdFor(id));
}

async function submitAssessment(id: string, body: unknown = example('impact-assessment.json')) {
  return s.t.api.inject({ method: 'PUT', url: `/api/v1/systems/${id}/impact-assessment`, payload: body as object });
}

/**
 * Registration to the first step of the approval chain through the README's
 * walkthrough (assessment, bias evidence, treatment plan); returns the path of
 * the link e-mailed to the risk owner and its request id.
 */
async function toApproval(id: string, opts: { registered?: boolean } = {}) {
  const handle = opts.registered ? s.t.env.client.workflow.getHandle(workflowIdFor(id)) : await register(id);
  await s.w.assess(id);
  await s.w.evidence(id);
  await s.w.plan(id);
  const v = await s.w.until(id, (x) => x.pendingApproval?.step === 1, 'first approval step');
  expect(v.stage).toBe('approval');
  expect(v.pendingApproval.approver).toBe(RISK_OWNER);
  const requestId = v.pendingApproval.requestId as string;
  const path = pathOf(await s.w.approvalLink(id, RISK_OWNER, requestId));
  return { handle, path, requestId };
}

function post(path: string, form: Record<string, string>) {
  return s.t.api.inject({ method: 'POST', url: path, payload: new URLSearchParams(form).toString(), headers: FORM });
}

/** GETs the approval page and POSTs a decision with the page's CSRF value. */
async function decide(path: string, decision: 'approve' | 'reject' | 'request_changes', comment: string) {
  const page = await s.t.api.inject({ method: 'GET', url: path });
  expect(page.statusCode, page.body).toBe(200);
  const res = await post(path, { decision, comment, csrf: csrfFrom(page.body) });
  expect(res.statusCode, res.body).toBe(200);
  return res;
}

async function view(id: string) {
  const res = await s.t.api.inject({ method: 'GET', url: `/api/v1/systems/${id}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

async function stageOf(id: string): Promise<string> {
  return (await view(id)).stage;
}

async function sign(claims: ApprovalClaims, opts: { secret?: string; jti?: string; expiresAt?: Date } = {}) {
  const now = Date.now();
  return signApprovalLink(opts.secret ?? TEST_SECRET, claims, {
    jti: opts.jti ?? `test-${Math.random().toString(36).slice(2)}`,
    expiresAt: opts.expiresAt ?? new Date(now + 86_400_000),
    issuedAt: new Date(Math.min(now, (opts.expiresAt?.getTime() ?? now) - 3_600_000)),
  });
}

/** A refusal is a readable HTML page with a heading, never a JSON error or a 500. */
function expectHtmlPage(res: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number) {
  expect(res.statusCode, res.body).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^text\/html/);
  expect(res.body).toMatch(/<h1>[^<]+<\/h1>/);
}

async function attempts(reason: string, systemId?: string) {
  return (await s.t.store.listLinkAttempts(systemId)).filter((a) => a.reason === reason);
}

const TIERS = ['low', 'medium', 'high'] as const;

/** Expected tier and score computed from the policy itself, not from the product's code. */
function expectedRisk(assessment: Record<string, any>) {
  const { severity, likelihood, tierMinScore } = s.t.policy.riskScoring;
  const score = Math.max(
    ...(assessment.impacts as { severity: string; likelihood: string }[]).map(
      (i) => severity[i.severity as keyof typeof severity] * likelihood[i.likelihood as keyof typeof likelihood],
    ),
  );
  const byScore = score >= tierMinScore.high ? 'high' : score >= tierMinScore.medium ? 'medium' : 'low';
  const category = assessment.euAiAct.category as keyof typeof s.t.policy.euAiActTierFloor | 'prohibited';
  const floor = category === 'prohibited' ? 'high' : s.t.policy.euAiActTierFloor[category];
  const riskTier = TIERS[Math.max(TIERS.indexOf(byScore), TIERS.indexOf(floor))];
  return { score, riskTier };
}

function issuePaths(res: { json(): any }): string[] {
  return (res.json().issues as { path: string }[]).map((i) => i.path);
}

// ---------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------

describe('POST /api/v1/systems', () => {
  it('registers a system: 201 with id, workflow id and first stage', async () => {
    const res = await s.t.api.inject({ method: 'POST', url: '/api/v1/systems', payload: registrationFor('reg-ok') });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({
      id: 'reg-ok',
      workflowId: workflowIdFor('reg-ok'),
      stage: 'impact_assessment',
    });
    const state = await s.t.env.client.workflow.getHandle(workflowIdFor('reg-ok')).query(stateQuery);
    expect(state.systemId).toBe('reg-ok');
    expect(state.stage).toBe('impact_assessment');
  });

  it('refuses a duplicate id with 409 already_registered and keeps the one original workflow', async () => {
    const handle = await register('reg-dup', { name: 'Original name' });
    const before = await handle.describe();

    const res = await s.t.api.inject({
      method: 'POST',
      url: '/api/v1/systems',
      payload: { ...registrationFor('reg-dup'), name: 'Impostor name' },
    });
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json().error).toBe('already_registered');

    const after = await handle.describe();
    expect(after.runId).toBe(before.runId);
    expect(after.status.name).toBe('RUNNING');
    expect((await handle.query(stateQuery)).registration.name).toBe('Original name');
    expect((await view('reg-dup')).name).toBe('Original name');
    // Only the original lifecycle ran: one "assessment requested" e-mail, one registration transition.
    const isRequest = (m: { subject: string; text: string; headers: Record<string, string> }) =>
      m.headers['x-ai-system'] === 'reg-dup' && !m.subject.includes('Approval needed');
    // Once everything the workflow did so far is recorded and its e-mails delivered:
    const events = await barrier(s.t, 'reg-dup');
    expect(s.t.mailbox.messages().filter(isRequest)).toHaveLength(1);
    expect(events.filter((e) => e.type === 'stage_changed')).toHaveLength(1);
  });

  it.each([
    ['a bad slug id', { id: 'Not_A_Slug' }, 'body.id'],
    ['an owner that is not an e-mail', { owner: 'not-an-email' }, 'body.owner'],
    ['empty stakeholders', { stakeholders: [] }, 'body.stakeholders'],
    ['a model without a version', { model: { name: 'cv-ranker', provider: 'in-house' } }, 'body.model.version'],
  ])('answers 422 naming the field for %s', async (_what, override, path) => {
    const id = `reg-invalid-${path.replaceAll('.', '-').toLowerCase()}`;
    const res = await s.t.api.inject({
      method: 'POST',
      url: '/api/v1/systems',
      payload: { ...registrationFor(id), ...override },
    });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json().error).toBe('validation_failed');
    expect(issuePaths(res)).toContain(path);
    // Nothing was started.
    const lookup = await s.t.api.inject({ method: 'GET', url: `/api/v1/systems/${id}` });
    if (path !== 'body.id') expect(lookup.statusCode).toBe(404);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const res = await s.t.api.inject({
      method: 'POST',
      url: '/api/v1/systems',
      payload: '{"id": "reg-not-json", ',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error).toEqual(expect.any(String));
    expect((await s.t.api.inject({ method: 'GET', url: '/api/v1/systems/reg-not-json' })).statusCode).toBe(404);
  });
});

// ---------------------------------------------------------------------------
// Impact assessment
// ---------------------------------------------------------------------------

describe('PUT /api/v1/systems/:id/impact-assessment', () => {
  it('answers 404 for an unknown system', async () => {
    const res = await submitAssessment('ia-unknown');
    expect(res.statusCode, res.body).toBe(404);
    expect(res.json().error).toBe('not_found');
  });

  it('answers 422 naming body.impacts.0.severity for an invalid severity', async () => {
    await register('ia-bad-severity');
    const body = example('impact-assessment.json');
    body.impacts[0].severity = 'catastrophic';
    const res = await submitAssessment('ia-bad-severity', body);
    expect(res.statusCode, res.body).toBe(422);
    expect(issuePaths(res)).toContain('body.impacts.0.severity');
    expect(await stageOf('ia-bad-severity')).toBe('impact_assessment');
  });

  it('answers 422 naming body.impacts for an empty list of impacts', async () => {
    await register('ia-no-impacts');
    const res = await submitAssessment('ia-no-impacts', {
      ...example<Record<string, unknown>>('impact-assessment.json'),
      impacts: [],
    });
    expect(res.statusCode, res.body).toBe(422);
    expect(issuePaths(res)).toContain('body.impacts');
    expect(await stageOf('ia-no-impacts')).toBe('impact_assessment');
  });

  it('returns the tier and score the policy gives, then refuses a second submission with 409 wrong_stage', async () => {
    await register('ia-twice');
    const assessment = example('impact-assessment.json');
    const expected = expectedRisk(assessment);
    const res = await submitAssessment('ia-twice', assessment);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ id: 'ia-twice', version: 1, ...expected });
    // The README's example decides about people: bias testing comes next.
    expect(body.stage).toBe('bias_testing');
    expect(await stageOf('ia-twice')).toBe(body.stage);

    const second = await submitAssessment('ia-twice', assessment);
    expect(second.statusCode, second.body).toBe(409);
    expect(second.json()).toMatchObject({ error: 'wrong_stage', stage: 'bias_testing' });
    expect((await view('ia-twice')).assessment.version).toBe(1);
  });

  it('raises the tier to the floor of the EU AI Act category, as the policy says', async () => {
    await register('ia-floor');
    const assessment = {
      ...example('impact-assessment.json'),
      euAiAct: { category: 'limited', rationale: 'Art. 50 transparency duties towards applicants.' },
      impacts: [
        {
          area: 'transparency',
          description: 'Applicants may not know an AI system ranked them.',
          affected: ['job applicants'],
          severity: 'negligible',
          likelihood: 'rare',
        },
      ],
    };
    delete (assessment as Record<string, unknown>).fria;
    const expected = expectedRisk(assessment);
    const res = await submitAssessment('ia-floor', assessment);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject(expected);
  });

  it('refuses an assessment while the system awaits approval with 409 wrong_stage, stage approval', async () => {
    await toApproval('ia-in-approval');
    const res = await submitAssessment('ia-in-approval');
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json()).toMatchObject({ error: 'wrong_stage', stage: 'approval' });
    expect((await view('ia-in-approval')).assessment.version).toBe(1);
  });
});

// ---------------------------------------------------------------------------
// System view, OpenAPI, health
// ---------------------------------------------------------------------------

describe('GET /api/v1/systems/:id', () => {
  it('answers 404 for an unknown system', async () => {
    const res = await s.t.api.inject({ method: 'GET', url: '/api/v1/systems/view-unknown' });
    expect(res.statusCode, res.body).toBe(404);
    expect(res.json().error).toBe('not_found');
  });

  it('shows stage, risk tier, pending approver and decisions', async () => {
    await register('view-fields');
    const fresh = await view('view-fields');
    expect(fresh).toMatchObject({ id: 'view-fields', stage: 'impact_assessment', riskTier: null, decisions: [] });
    expect(fresh.pendingApproval ?? null).toBeNull();

    const { path } = await toApproval('view-fields', { registered: true });
    const inApproval = await view('view-fields');
    expect(inApproval.stage).toBe('approval');
    expect(inApproval.riskTier).toBe(expectedRisk(example('impact-assessment.json')).riskTier);
    expect(inApproval.pendingApproval).toMatchObject({ approver: RISK_OWNER, step: 1 });
    expect(inApproval.decisions).toEqual([]);

    await decide(path, 'approve', 'Fine.');
    const next = await s.w.until('view-fields', (v) => v.pendingApproval?.step === 2, 'second approval step');
    expect(next.stage).toBe('approval');
    expect(next.pendingApproval.approver).toBe(GOVERNANCE_LEAD);
    expect(next.decisions).toHaveLength(1);
    expect(next.decisions[0]).toMatchObject({ decision: 'approve', approver: RISK_OWNER, comment: 'Fine.' });
  });
});

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3 document with the system paths and the registration schema', async () => {
    const res = await s.t.api.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode, res.body).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info?.title).toEqual(expect.any(String));
    expect(doc.paths['/api/v1/systems']?.post).toBeDefined();
    expect(doc.paths['/api/v1/systems/{id}/impact-assessment']?.put).toBeDefined();
    expect(doc.paths['/api/v1/systems/{id}']?.get).toBeDefined();
    let schema = doc.paths['/api/v1/systems'].post.requestBody.content['application/json'].schema;
    if (schema.$ref) schema = doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')];
    expect(schema.required).toEqual(expect.arrayContaining(['id', 'owner', 'riskOwner', 'model']));
    expect(schema.properties.id).toBeDefined();
  });
});

describe('GET /healthz', () => {
  it('answers 200', async () => {
    const res = await s.t.api.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });
});

// ---------------------------------------------------------------------------
// Approval links
// ---------------------------------------------------------------------------

/** Nothing was decided on the open request: same step, no decision, the single-use slot still free. */
async function expectUndecided(id: string, requestId: string) {
  // Whatever reached the workflow before this point is applied and recorded.
  const events = await barrier(s.t, id);
  expect(events.filter((e) => e.type === 'decision_recorded')).toEqual([]);
  const v = await view(id);
  expect(v.stage).toBe('approval');
  expect(v.pendingApproval?.requestId).toBe(requestId);
  expect(v.decisions).toEqual([]);
  expect(await s.t.store.listDecisions(id)).toEqual([]);
}

describe('approval links', () => {
  it('GET of a valid link shows the form and never changes anything', async () => {
    const { path, requestId } = await toApproval('link-get');
    for (let i = 0; i < 3; i++) {
      const page = await s.t.api.inject({ method: 'GET', url: path });
      expectHtmlPage(page, 200);
      expect(page.body).toContain('name="decision"');
      expect(csrfFrom(page.body)).toEqual(expect.any(String));
    }
    await expectUndecided('link-get', requestId);
  });

  it('refuses a tampered token with 403 and records the attempt', async () => {
    const { path, requestId } = await toApproval('link-tampered');
    const token = path.split('/approvals/')[1]!;
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const at = Math.floor(payload.length / 2);
    const swapped = payload[at] === 'A' ? 'B' : 'A';
    const tampered = `${header}.${payload.slice(0, at)}${swapped}${payload.slice(at + 1)}.${signature}`;
    expect(tampered).not.toBe(token);

    const before = (await attempts('bad_signature')).length;
    const get = await s.t.api.inject({ method: 'GET', url: `/approvals/${tampered}` });
    expectHtmlPage(get, 403);
    expect(get.body).not.toContain('name="decision"');
    const postRes = await post(`/approvals/${tampered}`, { decision: 'approve', comment: '', csrf: 'x' });
    expectHtmlPage(postRes, 403);
    expect((await attempts('bad_signature')).length).toBe(before + 2);
    await expectUndecided('link-tampered', requestId);
  });

  it('refuses a token signed with another secret with 403 and records the attempt', async () => {
    const { requestId } = await toApproval('link-other-secret');
    const token = await sign(
      { sys: 'link-other-secret', req: requestId, sub: RISK_OWNER, step: 1 },
      { secret: 'another-secret-that-is-long-enough-9876543210' },
    );
    const get = await s.t.api.inject({ method: 'GET', url: `/approvals/${token}` });
    expectHtmlPage(get, 403);
    expect(get.body).not.toContain('name="decision"');
    const postRes = await post(`/approvals/${token}`, { decision: 'approve', comment: '', csrf: 'x' });
    expectHtmlPage(postRes, 403);
    expect(await attempts('bad_signature', 'link-other-secret')).toHaveLength(2);
    await expectUndecided('link-other-secret', requestId);
  });

  it('refuses garbage with 400 and records the attempt', async () => {
    const before = (await attempts('malformed')).length;
    const res = await s.t.api.inject({ method: 'GET', url: '/approvals/this-is-not-a-token' });
    expectHtmlPage(res, 400);
    const postRes = await post('/approvals/not.a.jwt', { decision: 'approve', comment: '', csrf: 'x' });
    expectHtmlPage(postRes, 400);
    expect((await attempts('malformed')).length).toBe(before + 2);
  });

  it('refuses an expired token with a 410 page that says so, and records the attempt', async () => {
    const { requestId } = await toApproval('link-expired');
    const token = await sign(
      { sys: 'link-expired', req: requestId, sub: RISK_OWNER, step: 1 },
      { expiresAt: new Date(Date.now() - 60_000) },
    );
    const get = await s.t.api.inject({ method: 'GET', url: `/approvals/${token}` });
    expectHtmlPage(get, 410);
    expect(get.body).toMatch(/expired/i);
    // At most an offer to renew the link; never the decision form.
    expect(get.body).not.toContain('name="decision"');
    const renewCsrf = /name="csrf" value="([^"]+)"/.exec(get.body)?.[1] ?? 'x';
    const postRes = await post(`/approvals/${token}`, { decision: 'approve', comment: '', csrf: renewCsrf });
    expectHtmlPage(postRes, 410);
    expect(postRes.body).toMatch(/expired/i);
    const recorded = await attempts('expired', 'link-expired');
    expect(recorded).toHaveLength(2);
    expect(recorded[0]!.detail).toMatchObject({ requestId });
    await expectUndecided('link-expired', requestId);
  });

  it('refuses a POST without the CSRF value with 403; nothing is decided', async () => {
    const { path, requestId } = await toApproval('link-no-csrf');
    const res = await post(path, { decision: 'approve', comment: 'Forged.' });
    expectHtmlPage(res, 403);
    expect(res.body).toContain('Decision not recorded');
    expect(await s.t.store.listLinkAttempts('link-no-csrf')).toHaveLength(1);
    await expectUndecided('link-no-csrf', requestId);
  });

  it('refuses a POST with a wrong CSRF value with 403; nothing is decided', async () => {
    const { path, requestId } = await toApproval('link-bad-csrf');
    const real = csrfFrom((await s.t.api.inject({ method: 'GET', url: path })).body);
    // Same length as the real value, so the constant-time comparison is what refuses it.
    const forged = real.startsWith('A') ? 'B'.repeat(real.length) : 'A'.repeat(real.length);
    const res = await post(path, { decision: 'approve', comment: 'Forged.', csrf: forged });
    expectHtmlPage(res, 403);
    expect(res.body).toContain('Decision not recorded');
    const short = await post(path, { decision: 'approve', comment: 'Forged.', csrf: 'short' });
    expectHtmlPage(short, 403);
    expect(await attempts('csrf', 'link-bad-csrf')).toHaveLength(2);
    await expectUndecided('link-bad-csrf', requestId);
  });

  it('refuses decision=maybe with 400; nothing is decided', async () => {
    const { path, requestId } = await toApproval('link-maybe');
    const csrf = csrfFrom((await s.t.api.inject({ method: 'GET', url: path })).body);
    const res = await post(path, { decision: 'maybe', comment: '', csrf });
    expectHtmlPage(res, 400);
    expect(res.body).toContain('Decision not recorded');
    expect(await s.t.store.listLinkAttempts('link-maybe')).toHaveLength(1);
    await expectUndecided('link-maybe', requestId);
  });

  it('answers a rejection without a comment with 422 and decides nothing; the link still works', async () => {
    const { path, requestId } = await toApproval('link-reject-bare');
    const csrf = csrfFrom((await s.t.api.inject({ method: 'GET', url: path })).body);
    const res = await post(path, { decision: 'reject', comment: '   ', csrf });
    expectHtmlPage(res, 422);
    expect(res.body).toMatch(/needs a comment/);
    // The form comes back so the approver can add the comment.
    expect(csrfFrom(res.body)).toBe(csrf);
    await expectUndecided('link-reject-bare', requestId);

    await decide(path, 'reject', 'Say where the training data came from.');
    await s.w.until('link-reject-bare', (v) => v.stage === 'impact_assessment', 'back to impact assessment');
  });

  it('answers "Already decided" for the first link after a rejection and a resubmission', async () => {
    const { path: first, requestId: firstRequest } = await toApproval('link-stale');
    const firstCsrf = csrfFrom((await s.t.api.inject({ method: 'GET', url: first })).body);
    await decide(first, 'reject', 'Describe the fairness tests.');
    await s.w.until('link-stale', (v) => v.stage === 'impact_assessment', 'back to impact assessment');
    await s.w.assess('link-stale');
    await s.w.evidence('link-stale');
    await s.w.plan('link-stale');
    const v = await s.w.until(
      'link-stale',
      (x) => x.pendingApproval?.step === 1 && x.pendingApproval.requestId !== firstRequest,
      'a new approval request',
    );
    const second = pathOf(await s.w.approvalLink('link-stale', RISK_OWNER, v.pendingApproval.requestId));
    expect(second).not.toBe(first);

    const get = await s.t.api.inject({ method: 'GET', url: first });
    expect(get.statusCode).toBeLessThan(500);
    expect(get.body).toContain('Already decided');
    expect(get.body).not.toContain('name="decision"');
    const postRes = await post(first, { decision: 'approve', comment: 'Old link.', csrf: firstCsrf });
    expect(postRes.statusCode).toBeLessThan(500);
    expect(postRes.body).toContain('Already decided');
    const events = await barrier(s.t, 'link-stale');
    expect(events.filter((e) => e.type === 'decision_recorded')).toHaveLength(1);
    const after = await view('link-stale');
    expect(after.stage).toBe('approval');
    expect(after.pendingApproval.requestId).toBe(v.pendingApproval.requestId);
    expect(await s.t.store.listDecisions('link-stale')).toHaveLength(1);

    // The new request's link is unaffected.
    const page = await s.t.api.inject({ method: 'GET', url: second });
    expectHtmlPage(page, 200);
    expect(page.body).toContain('name="decision"');
  });

  it('answers a replayed POST with "Already decided" and records exactly one decision', async () => {
    const { handle, path } = await toApproval('link-replay');
    const csrf = csrfFrom((await s.t.api.inject({ method: 'GET', url: path })).body);
    const form = { decision: 'approve', comment: 'Approved once.', csrf };
    const first = await post(path, form);
    expectHtmlPage(first, 200);
    expect(first.body).toContain('You approved');

    const replay = await post(path, form);
    expect(replay.statusCode).toBeLessThan(500);
    expect(replay.body).toContain('Already decided');
    expect(replay.body).not.toContain('You approved');
    const replayReject = await post(path, { decision: 'reject', comment: 'Changed my mind.', csrf });
    expect(replayReject.body).toContain('Already decided');

    // The chain moved on to its second step, once.
    await s.w.until('link-replay', (v) => v.pendingApproval?.step === 2, 'second approval step');
    const events = await barrier(s.t, 'link-replay');
    expect(events.filter((e) => e.type === 'decision_recorded')).toHaveLength(1);
    const decisions = await s.t.store.listDecisions('link-replay');
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ decision: 'approve', approver: RISK_OWNER });
    const state = await handle.query(stateQuery);
    expect(state.decisions).toHaveLength(1);
    expect(state.stage).toBe('approval');
    expect(state.approval?.step).toBe(2);
  });

  it("ignores a validly signed token for another approver and leaves the real approver's link usable", async () => {
    const { handle, path: realPath, requestId } = await toApproval('link-intruder');
    const jti = 'intruder-jti-0001';
    const token = await sign({ sys: 'link-intruder', req: requestId, sub: 'intruder@example.org', step: 1 }, { jti });
    const path = `/approvals/${token}`;

    const get = await s.t.api.inject({ method: 'GET', url: path });
    expect(get.statusCode, get.body).toBeGreaterThanOrEqual(400);
    expect(get.statusCode, get.body).toBeLessThan(500);
    expect(get.body).not.toContain('name="decision"');

    // The CSRF value the product would hand out for this link, so the POSTs get past that check.
    const csrf = createHmac('sha256', TEST_SECRET).update(`csrf:${jti}`).digest('base64url');
    const res = await post(path, { decision: 'approve', comment: 'Not mine to approve.', csrf });
    expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
    expect(res.statusCode, res.body).toBeLessThan(500);
    expect(res.body).not.toContain('You approved');
    // Nor may the intruder hand the decision to someone else.
    const delegated = await post(`${path}/delegate`, { deputy: 'accomplice@example.org', reason: '', csrf });
    expect(delegated.statusCode, delegated.body).toBeGreaterThanOrEqual(400);
    expect(delegated.statusCode, delegated.body).toBeLessThan(500);
    expect(delegated.body).not.toContain('Delegated to');

    await expectUndecided('link-intruder', requestId);
    expect((await handle.query(stateQuery)).approval?.approver).toBe(RISK_OWNER);

    // The real risk owner can still decide.
    const page = await s.t.api.inject({ method: 'GET', url: realPath });
    expectHtmlPage(page, 200);
    const decided = await post(realPath, { decision: 'approve', comment: 'Mine.', csrf: csrfFrom(page.body) });
    expectHtmlPage(decided, 200);
    expect(decided.body).toContain('You approved');
    const next = await s.w.until('link-intruder', (v) => v.pendingApproval?.step === 2, 'second approval step');
    expect(next.decisions).toHaveLength(1);
    expect(next.decisions[0]).toMatchObject({ approver: RISK_OWNER, comment: 'Mine.' });
  });
});
