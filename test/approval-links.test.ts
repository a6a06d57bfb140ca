/**
 * The approval link's features beyond the attacks in test/api.test.ts:
 * renewing an expired link, delegating to a deputy, "request changes" needing a
 * comment, what the approval page and e-mail show (escaped) to the approver,
 * what follows a decision, and what the system page says each stage waits on.
 */
import { describe, expect, it } from 'vitest';
import { escapeHtml } from '../api/html.js';
import { signApprovalLink, type ApprovalClaims } from '../links/approval-links.js';
import { durationMs } from '../domain/duration.js';
import { example, registrationFor } from './support/examples.js';
import { barrier, csrfFrom, GOVERNANCE_LEAD, lifecycleSuite, pathOf, TEST_SECRET } from './support/lifecycle-env.js';
import { approveChain, tokenRequest } from './support/walk.js';

const s = lifecycleSuite();

const RISK_OWNER: string = example('register.json').riskOwner;
const DEPUTY = 'deputy-hr@example.org';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

function post(path: string, form: Record<string, string>) {
  return s.t.api.inject({ method: 'POST', url: path, payload: new URLSearchParams(form).toString(), headers: FORM });
}
const get = (path: string) => s.t.api.inject({ method: 'GET', url: path });

/** The signed claims inside a link's token (its payload is base64url JSON; the signature is checked by the product). */
function claimsOf(link: string): ApprovalClaims & { exp: number; jti: string } {
  const token = link.split('/approvals/')[1]!.split(/[/?#]/)[0]!;
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}

/** A refusal or result is a readable HTML page with a heading, never JSON or a 500. */
function expectHtmlPage(res: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number) {
  expect(res.statusCode, res.body).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^text\/html/);
  expect(res.body).toMatch(/<h1>[^<]+<\/h1>/);
}

/** Registration to the risk owner's step of the approval chain; the link e-mailed to the risk owner. */
async function toApproval(id: string, overrides: Record<string, unknown> = {}) {
  await s.w.register(id, overrides);
  await s.w.assess(id);
  await s.w.evidence(id);
  await s.w.plan(id);
  const v = await s.w.until(id, (x) => x.pendingApproval?.step === 1, 'first approval step');
  expect(v.pendingApproval.approver).toBe(RISK_OWNER);
  const requestId: string = v.pendingApproval.requestId;
  const link = await s.w.approvalLink(id, RISK_OWNER, requestId);
  return { requestId, link, path: pathOf(link) };
}

const approvalMailsFor = (id: string, to: string, requestId: string) =>
  s.w.mailsTo(
    to,
    id,
    (m) => m.subject.includes('Approval needed') && m.links.some((l) => tokenRequest(l) === requestId),
  );

/** Nothing was decided on the open request: same request, no decision, its single-use slot still free. */
async function expectUndecided(id: string, requestId: string, approver = RISK_OWNER) {
  // Whatever reached the workflow before this point is applied and recorded.
  const events = await barrier(s.t, id);
  expect(events.filter((e) => e.type === 'decision_recorded')).toEqual([]);
  const v = await s.w.view(id);
  expect(v.stage).toBe('approval');
  expect(v.pendingApproval).toMatchObject({ requestId, approver });
  expect(v.decisions).toEqual([]);
  expect(await s.t.store.listDecisions(id)).toEqual([]);
}

// ---------------------------------------------------------------------------

describe('an expired link', () => {
  it('offers a fresh link; the renewal e-mails the same approver a new link for the same request, which works', async () => {
    const id = 'renew-expired';
    const { requestId, link: original } = await toApproval(id);
    const originalClaims = claimsOf(original);

    const expired = await signApprovalLink(
      TEST_SECRET,
      { sys: id, req: requestId, sub: RISK_OWNER, step: 1 },
      {
        jti: 'expired-link-0001',
        issuedAt: new Date(Date.now() - 15 * 86_400_000),
        expiresAt: new Date(Date.now() - 60_000),
      },
    );
    const page = await get(`/approvals/${expired}`);
    expectHtmlPage(page, 410);
    expect(page.body).toContain('This link has expired');
    expect(page.body).toContain(`A fresh link can be sent to ${RISK_OWNER}`);
    expect(page.body).toContain('E-mail me a fresh link');
    expect(page.body).not.toContain('name="decision"');
    const action = /<form method="post" action="([^"]+)"/.exec(page.body)?.[1];
    expect(action).toBe(`/approvals/${expired}/renew`);
    const csrf = csrfFrom(page.body);

    // While the newest link still works, no fresh one is sent: one renewal per expiry.
    const early = await post(action!, { csrf });
    expectHtmlPage(early, 409);
    expect(early.body).toContain('No fresh link sent');
    expect(approvalMailsFor(id, RISK_OWNER, requestId)).toHaveLength(1);

    // Past the link's lifetime on the workflow's clock (reminders go out meanwhile), renewal sends a fresh one.
    await s.t.env.sleep(durationMs(s.t.policy.approvals.linkTtl) + 3_600_000);
    const before = approvalMailsFor(id, RISK_OWNER, requestId).length;
    const renewed = await post(action!, { csrf });
    expectHtmlPage(renewed, 200);
    expect(renewed.body).toContain('A fresh link is on its way');
    expect(renewed.body).toContain(RISK_OWNER);

    // The renewal is the newest approval mail for this request (the reminders before it carry the old expiry).
    await s.t.mailbox.waitFor(() => approvalMailsFor(id, RISK_OWNER, requestId).length === before + 1, {
      timeoutMs: 20_000,
    });
    const fresh = approvalMailsFor(id, RISK_OWNER, requestId).at(-1)!;
    expect(fresh.headers['x-ai-system']).toBe(id);
    const freshLink = fresh.links.find((l) => tokenRequest(l) === requestId)!;
    const freshClaims = claimsOf(freshLink);
    expect(freshClaims).toMatchObject({ sys: id, req: requestId, sub: RISK_OWNER, step: 1 });
    expect(freshClaims.jti).not.toBe(originalClaims.jti);
    expect(freshClaims.exp, 'the fresh link expires later than the first one').toBeGreaterThanOrEqual(
      originalClaims.exp + 3_000,
    );
    expect(freshClaims.exp * 1000).toBeGreaterThan(Date.now() + 13 * 86_400_000);
    expect(approvalMailsFor(id, RISK_OWNER, requestId)).toHaveLength(before + 1);
    // The request itself is unchanged: still open, still the risk owner's, nothing decided.
    await expectUndecided(id, requestId);

    // The fresh link works: approve, and the chain moves on to the governance lead.
    const freshPage = await get(pathOf(freshLink));
    expectHtmlPage(freshPage, 200);
    const decided = await post(pathOf(freshLink), {
      decision: 'approve',
      comment: 'Renewed and approved.',
      csrf: csrfFrom(freshPage.body),
    });
    expectHtmlPage(decided, 200);
    expect(decided.body).toContain('You approved');
    const next = await s.w.until(id, (v) => v.pendingApproval?.step === 2, 'second approval step');
    expect(next.pendingApproval.approver).toBe(GOVERNANCE_LEAD);
    expect(next.decisions).toHaveLength(1);
    expect(next.decisions[0]).toMatchObject({
      approver: RISK_OWNER,
      decision: 'approve',
      comment: 'Renewed and approved.',
    });
    // The first link for the same request is used up with it.
    expect((await get(pathOf(original))).body).toContain('Already decided');
  });

  it('refuses a renewal with a wrong CSRF value with 403, records it and sends nothing', async () => {
    const id = 'renew-bad-csrf';
    const { requestId } = await toApproval(id);
    const expired = await signApprovalLink(
      TEST_SECRET,
      { sys: id, req: requestId, sub: RISK_OWNER, step: 1 },
      {
        jti: 'expired-link-0002',
        issuedAt: new Date(Date.now() - 15 * 86_400_000),
        expiresAt: new Date(Date.now() - 60_000),
      },
    );
    const real = csrfFrom((await get(`/approvals/${expired}`)).body);
    const before = (await s.t.store.listLinkAttempts(id)).filter((a) => a.reason === 'renewal_refused');
    expect(before).toEqual([]);

    const forged = real.startsWith('A') ? 'B'.repeat(real.length) : 'A'.repeat(real.length);
    for (const form of [{ csrf: forged }, {}] as Record<string, string>[]) {
      const res = await post(`/approvals/${expired}/renew`, form);
      expectHtmlPage(res, 403);
      expect(res.body).toContain('No fresh link sent');
    }
    const refused = (await s.t.store.listLinkAttempts(id)).filter((a) => a.reason === 'renewal_refused');
    expect(refused).toHaveLength(2);
    expect(refused[0]!.detail).toMatchObject({ requestId, approver: RISK_OWNER });

    // Once everything the workflow did so far is recorded and its e-mails delivered:
    const events = await barrier(s.t, id);
    expect(approvalMailsFor(id, RISK_OWNER, requestId)).toHaveLength(1);
    expect(events.filter((e) => e.type === 'approval_link_renewed')).toEqual([]);
    await expectUndecided(id, requestId);
  });
});

describe('delegation', () => {
  it('refuses naming yourself (422) and a form without CSRF (403); then hands the decision to a deputy', async () => {
    const id = 'delegate-deputy';
    const { requestId, path } = await toApproval(id);
    const csrf = csrfFrom((await get(path)).body);

    for (const self of [RISK_OWNER, RISK_OWNER.toUpperCase()]) {
      const res = await post(`${path}/delegate`, { deputy: self, reason: 'Me again', csrf });
      expectHtmlPage(res, 422);
      expect(res.body).toContain('Name a deputy other than yourself');
    }
    const noCsrf = await post(`${path}/delegate`, { deputy: DEPUTY, reason: 'Forged' });
    expectHtmlPage(noCsrf, 403);
    expect(noCsrf.body).toContain('Delegation not recorded');
    expect((await s.t.store.listLinkAttempts(id)).map((a) => a.reason)).toEqual(['csrf']);
    await expectUndecided(id, requestId);
    expect(s.w.mailsTo(DEPUTY, id)).toEqual([]);

    const delegated = await post(`${path}/delegate`, {
      deputy: DEPUTY.toUpperCase(),
      reason: 'On leave until March',
      csrf,
    });
    expectHtmlPage(delegated, 200);
    expect(delegated.body).toContain(`Delegated to ${DEPUTY}`);

    const v = await s.w.until(id, (x) => x.pendingApproval?.approver === DEPUTY, 'the deputy to be asked');
    expect(v.pendingApproval).toMatchObject({ step: 1, requestId: `${requestId}.d` });
    const deputyLink = await s.w.approvalLink(id, DEPUTY, v.pendingApproval.requestId);
    const mail = s.w.mailsTo(DEPUTY, id)[0]!;
    expect(mail.text).toContain(`${RISK_OWNER} delegated this decision to you`);

    // The delegator's link is used up: GET and POST say so and decide nothing.
    const delegatorPage = await get(path);
    expect(delegatorPage.statusCode).toBeLessThan(500);
    expect(delegatorPage.body).toMatch(/Already decided|closed/);
    expect(delegatorPage.body).toContain(`delegate by ${RISK_OWNER}`);
    expect(delegatorPage.body).not.toContain('name="decision"');
    const late = await post(path, { decision: 'approve', comment: 'Back early.', csrf });
    expect(late.body).toMatch(/Already decided|closed/);
    expect(late.body).not.toContain('You approved');

    // The deputy's link works, and the chain advances on the deputy's decision.
    const deputyPage = await get(pathOf(deputyLink));
    expectHtmlPage(deputyPage, 200);
    expect(deputyPage.body).toContain(`for ${DEPUTY}`);
    const decided = await post(pathOf(deputyLink), {
      decision: 'approve',
      comment: 'Approved as deputy.',
      csrf: csrfFrom(deputyPage.body),
    });
    expectHtmlPage(decided, 200);
    expect(decided.body).toContain('You approved');
    const next = await s.w.until(id, (x) => x.pendingApproval?.step === 2, 'second approval step');
    expect(next.pendingApproval.approver).toBe(GOVERNANCE_LEAD);
    expect(next.decisions).toHaveLength(1);
    expect(next.decisions[0]).toMatchObject({ approver: DEPUTY, decision: 'approve', comment: 'Approved as deputy.' });
    // Still closed for the delegator after the deputy decided.
    expect((await get(path)).body).toMatch(/Already decided|closed/);
  });
});

describe('request changes', () => {
  it('without a comment answers 422 with the form again and decides nothing', async () => {
    const id = 'changes-no-comment';
    const { requestId, path } = await toApproval(id);
    const csrf = csrfFrom((await get(path)).body);

    const res = await post(path, { decision: 'request_changes', comment: '', returnTo: 'bias_testing', csrf });
    expectHtmlPage(res, 422);
    expect(res.body).toMatch(/needs a comment/);
    expect(res.body).toContain('role="alert"');
    expect(res.body).toContain('name="decision"');
    expect(csrfFrom(res.body)).toBe(csrf);
    await expectUndecided(id, requestId);

    // With the comment it is taken, and the system goes back where the approver asked.
    const ok = await post(path, {
      decision: 'request_changes',
      comment: 'Test the 50+ band again.',
      returnTo: 'bias_testing',
      csrf,
    });
    expectHtmlPage(ok, 200);
    expect(ok.body).toContain('You requested changes to');
    const back = await s.w.until(id, (v) => v.stage === 'bias_testing', 'back to bias testing');
    expect(back.decisions).toHaveLength(1);
    expect(back.decisions[0]).toMatchObject({ decision: 'request_changes', comment: 'Test the 50+ band again.' });
  });
});

describe('the approval page', () => {
  it('shows the system, tier, assessment, bias results, plan, residual risk and earlier decisions, escaped', async () => {
    const id = 'page-contents';
    const name = 'CV screening <script>alert("x")</script> & co';
    const escapedName = 'CV screening &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co';
    const { path } = await toApproval(id, { name });
    const comment = 'OK <img src=x onerror=alert(1)>';
    const first = await get(path);
    expectHtmlPage(first, 200);
    const decided = await post(path, { decision: 'approve', comment, csrf: csrfFrom(first.body) });
    expectHtmlPage(decided, 200);
    expect(decided.body).toContain(`You approved ${escapedName}`);
    expect(decided.body).not.toContain('<script>alert');
    expect(decided.body).not.toContain('<img src=x');

    const v = await s.w.until(id, (x) => x.pendingApproval?.step === 2, 'second approval step');
    const res = await get(pathOf(await s.w.approvalLink(id, GOVERNANCE_LEAD, v.pendingApproval.requestId)));
    expectHtmlPage(res, 200);
    const html = res.body;

    // A complete, mobile-ready document.
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toMatch(/<html lang="en">/);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toContain('<meta charset="utf-8">');

    // User content is escaped everywhere, including the title.
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain(`<title>Approve ${escapedName}?</title>`);
    expect(html).toContain(`<h1>Approve ${escapedName}?</h1>`);
    expect(html).toContain(`<strong>${escapedName}</strong> (${id})`);

    // The system and the request.
    const reg = example('register.json');
    expect(html).toContain(`model ${reg.model.name} ${reg.model.version}`);
    expect(html).toContain(reg.purpose);
    expect(html).toContain(`for ${GOVERNANCE_LEAD}`);
    expect(html).toMatch(/step 2 of 2/);

    // Tier and assessment summary.
    const assessment = example('impact-assessment.json');
    expect(html).toContain('Impact assessment v1');
    expect(html).toMatch(/Risk tier <strong>high<\/strong>/);
    expect(html).toContain(assessment.intendedPurpose);
    expect(html).toContain(assessment.contextOfUse);
    for (const impact of assessment.impacts) expect(html).toContain(impact.description);

    // Bias results: each metric with its verdict; declared values carry no interval and no group sizes.
    expect(html).toContain('Bias-testing evidence v1');
    expect(html).toContain('Declared by the AI team');
    const evidence = example('bias-evidence.json');
    /** The cells of a table row as text, whatever attributes the cells carry. */
    const cells = (row: string) => [...row.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) => m[1]!);
    const names = new Set(evidence.metrics.map((m: { name: string }) => m.name));
    const rows = [...html.matchAll(/<tr>(?:(?!<\/tr>).)*?<\/tr>/g)]
      .map((m) => cells(m[0]))
      .filter((c) => names.has(c[0]!));
    expect(rows.map((c) => `${c[0]}:${c[1]}`)).toEqual(
      evidence.metrics.map((m: { name: string; sensitiveFeature: string }) => `${m.name}:${m.sensitiveFeature}`),
    );
    const ageRow = rows.find((c) => c[0] === 'demographic_parity_ratio' && c[1] === 'age_band')!;
    expect(ageRow.slice(2, 7)).toEqual(['0.84', '—', '—', 'yes', '≥ 0.8']);
    for (const c of rows) expect(c[7]).toMatch(/^pass<br><span class="muted">declared value [0-9.]+ within /);

    // The treatment plan with its residual risk.
    const plan = example('treatment-plan.json');
    expect(html).toContain('Risk-treatment plan v1');
    expect(html).toMatch(/Highest residual risk score <strong>4<\/strong> \(within the risk appetite\)/);
    for (const item of plan.items) {
      expect(html).toContain(item.measures);
      expect(html).toContain(`${item.residualSeverity} × ${item.residualLikelihood}`);
      expect(html).toContain(`${item.owner}, by ${item.dueDate}`);
    }

    // Earlier decisions, the comment escaped.
    expect(html).toContain('Earlier decisions');
    expect(html).toContain(`${RISK_OWNER} — <strong>approve</strong>: OK &lt;img src=x onerror=alert(1)&gt;</li>`);
  });
});

// ---------------------------------------------------------------------------

const OWNER: string = example('register.json').owner;
const MINUTE = 60_000;

/** The text of one element of a page, by its id, tags stripped and entities left as they are. */
function byId(html: string, id: string): string {
  const m = new RegExp(`<(\\w+)[^>]*\\bid="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html);
  if (!m) throw new Error(`no element #${id} on the page:\n${html.slice(0, 3000)}`);
  return m[2]!.replace(/<[^>]+>/g, '');
}

/** The system page, as a signed-in user sees it. */
async function systemPage(id: string): Promise<string> {
  const res = await get(`/systems/${id}`);
  expect(res.statusCode, res.body).toBe(200);
  expect(String(res.headers['content-type'])).toMatch(/^text\/html/);
  return res.body;
}

/** The system page's "Waiting on" line: its stage, whether overdue, and its text. */
async function waiting(id: string) {
  const html = await systemPage(id);
  const tag = /<span id="waiting-on" data-stage="([a-z_]+)"( data-overdue="true")?>/.exec(html);
  if (!tag) throw new Error(`no waiting-on line on the system page of ${id}`);
  return { stage: tag[1], overdue: Boolean(tag[2]), text: byId(html, 'waiting-on'), html };
}

describe('what a risk owner sees before deciding', () => {
  it('after a new model version, the e-mail and the page show the version approved, the whole assessment, the scores in words and each failed metric with what answers it', async () => {
    const id = 'brief-new-version';
    const reg = example('register.json');
    const assessment = example('impact-assessment.json');
    const newVersion = example('new-version.json');
    await s.w.toActive(id);
    expect((await s.w.call('POST', s.w.sys(id, '/versions'), newVersion, 202)).json().stage).toBe('bias_testing');

    // Evidence for the new version in which the age band's parity fails: it holds approval until it is answered.
    const base = example('bias-evidence.json');
    const failing = {
      ...base,
      modelVersion: newVersion.version,
      metrics: base.metrics.map((m: { name: string; sensitiveFeature: string }) =>
        m.name === 'demographic_parity_ratio' && m.sensitiveFeature === 'age_band' ? { ...m, value: 0.7 } : m,
      ),
    };
    const judged = (await s.w.evidence(id, failing)).json();
    expect(judged.failed).toEqual(['demographic_parity_ratio:age_band']);
    const key = 'demographic_parity_ratio:age_band';
    const reasons = 'Interim release: recruiters read every application <img src=x onerror=alert(1)> by hand.';
    const lead = await s.t.keys({ email: GOVERNANCE_LEAD, role: 'governance-lead' });
    const accepted = await s.t.api.inject({
      method: 'POST',
      url: `/api/v1/systems/${id}/bias-evidence/risk-acceptance`,
      headers: { authorization: `Bearer ${lead}` },
      payload: { evidenceVersion: judged.version, metrics: [key], reasons },
    });
    expect(accepted.statusCode, accepted.body).toBe(200);
    const plan = example('treatment-plan.json');
    const answering = { ...plan, items: [{ ...plan.items[0], addressesMetrics: [key] }, ...plan.items.slice(1)] };
    await s.w.until(id, (v) => v.stage === 'risk_treatment', 'risk treatment');
    await s.w.plan(id, answering);
    const v = await s.w.until(id, (x) => x.pendingApproval?.step === 1, 'the first approval step');
    const link = await s.w.approvalLink(id, RISK_OWNER, v.pendingApproval.requestId);
    const mail = approvalMailsFor(id, RISK_OWNER, v.pendingApproval.requestId).at(-1)!;

    // The e-mail: the version approved, not the registered one.
    expect(mail.subject).toBe(`Approval needed: ${reg.name} (high risk), step 1 of 2`);
    const text = mail.text;
    expect(text).toContain(
      `Model: ${reg.model.name} ${newVersion.version} (registered as ${reg.model.version}; this approval is for ${newVersion.version}).`,
    );
    // The EU AI Act category and its rationale, the data sources, the suppliers, the FRIA.
    expect(text).toContain('EU AI Act: High-risk: Annex III point 4(a)');
    expect(text).toContain(`Rationale: ${assessment.euAiAct.rationale}`);
    for (const d of assessment.dataSources) expect(text).toContain(`• ${d.name}: ${d.provenance}`);
    for (const t of assessment.thirdParties)
      expect(text).toContain(`• ${t.name} (model provider): ${t.responsibilities}`);
    expect(text).toContain(
      'Fundamental rights impact assessment (EU AI Act Art. 27): required (the deployer is a body governed by public law)',
    );
    expect(text).toContain(`• Specific risks: ${assessment.fria.specificRisks}`);
    expect(text).toContain('the market surveillance authority was notified on 2026-11-24');
    // Scales and thresholds in words, from the policy (default: 4 × 4, the high tier from 9, appetite 4).
    expect(text).toContain('the highest impact has score 9 of 16; the high tier starts at 9.');
    expect(text).toContain(
      '(severity: negligible 1, minor 2, major 3, severe 4; likelihood: rare 1, unlikely 2, possible 3, likely 4)',
    );
    expect(text).toContain('residual score 4 of 16; the risk appetite allows up to 4');
    // The failed metric next to the plan item that answers it and the governance lead's acceptance.
    const answer = text.split('\n').find((l) => l.startsWith('• demographic_parity_ratio (age_band): fail 0.7'));
    expect(answer, text).toBeDefined();
    expect(answer).toContain(`→ plan item "${plan.items[0].risk}": ${plan.items[0].measures}`);
    expect(answer).toContain(`risk accepted by ${GOVERNANCE_LEAD} on `);
    expect(answer).toContain(reasons);
    // The HTML part says the same, escaped.
    expect(mail.html).toContain('<li>demographic_parity_ratio (age_band): fail 0.7');
    expect(mail.html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(mail.html).not.toContain('<img src=x');

    // The page: the current version, the same facts, the metric's row with its answers.
    const page = await get(pathOf(link));
    expectHtmlPage(page, 200);
    const html = page.body;
    expect(html).toContain(
      `model ${reg.model.name} ${newVersion.version} <span class="muted">(registered as ${reg.model.version}`,
    );
    expect(html).not.toContain(`model ${reg.model.name} ${reg.model.version}</p>`);
    expect(byId(html, 'eu-ai-act-category')).toContain('High-risk: Annex III point 4(a)');
    expect(byId(html, 'eu-ai-act-rationale')).toBe(`Rationale: ${escapeHtml(assessment.euAiAct.rationale)}`);
    for (const d of assessment.dataSources)
      expect(html).toContain(`<td data-label="Source">${escapeHtml(d.name)}</td>`);
    for (const t of assessment.thirdParties)
      expect(html).toContain(`<td data-label="Supplier">${escapeHtml(t.name)}</td>`);
    expect(byId(html, 'fria-status')).toContain('the market surveillance authority was notified on 2026-11-24');
    expect(html).toContain(`<dd>${escapeHtml(assessment.fria.humanOversight)}</dd>`);
    expect(byId(html, 'score-in-words')).toContain('the highest impact has score 9 of 16; the high tier starts at 9.');
    expect(html).toContain('<td data-label="Score">3 × 3 = 9 of 16</td>');
    expect(byId(html, 'residual-in-words')).toBe('In words: residual score 4 of 16; the risk appetite allows up to 4.');
    const row = new RegExp(`<tr data-metric="${key}">([\\s\\S]*?)</tr>`).exec(html)?.[1] ?? '';
    expect(row).toContain('demographic_parity_ratio (age_band): fail 0.7');
    expect(row).toContain(escapeHtml(`plan item "${plan.items[0].risk}": ${plan.items[0].measures}`));
    expect(row).toContain(`risk accepted by ${GOVERNANCE_LEAD}`);
    expect(row).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).not.toContain('<img src=x');
  });

  it('says what each stage waits on, what follows each decision (with a link to the system page), signs off a review as a review, and shows a retired system without a review date', async () => {
    const id = 'waiting-stages';
    const reg = registrationFor(id);
    await s.w.register(id);
    expect(await waiting(id)).toMatchObject({ stage: 'impact_assessment', overdue: false });
    expect((await waiting(id)).text).toMatch(new RegExp(`^${OWNER}: the impact assessment, since \\d{4}-`));
    await s.w.assess(id);
    expect((await waiting(id)).text).toContain(
      `${OWNER}: bias-testing evidence for model version ${reg.model.version}, since`,
    );
    await s.w.evidence(id);
    expect((await waiting(id)).text).toContain(`${OWNER}: the risk-treatment plan, since`);
    await s.w.plan(id);
    const first = await s.w.until(id, (x) => x.pendingApproval?.step === 1, 'the first approval step');
    expect((await waiting(id)).text).toContain(
      `${RISK_OWNER}: the decision on the impact assessment and risk-treatment plan, step 1 of 2, since`,
    );

    // After deciding: who decides next, and a link to the system page.
    const decided = await s.w.decide(
      await s.w.approvalLink(id, RISK_OWNER, first.pendingApproval.requestId),
      'approve',
    );
    expectHtmlPage(decided, 200);
    expect(decided.body).toContain(
      `Next, ${GOVERNANCE_LEAD} decides on the impact assessment and risk-treatment plan (step 2 of 2), with a link of their own sent by e-mail.`,
    );
    expect(decided.body).toContain(`<a href="/systems/${id}">See the system page</a>`);
    const second = await s.w.until(id, (x) => x.pendingApproval?.step === 2, 'the second approval step');
    expect((await waiting(id)).text).toContain(
      `${GOVERNANCE_LEAD}: the decision on the impact assessment and risk-treatment plan, step 2 of 2`,
    );

    // The last approval: the FRIA notification is pending, and the page and the system page say so.
    const last = await s.w.decide(
      await s.w.approvalLink(id, GOVERNANCE_LEAD, second.pendingApproval.requestId),
      'approve',
    );
    expectHtmlPage(last, 200);
    expect(last.body).toContain('The system is now in stage fria notification.');
    expect(last.body).toContain(`${OWNER} must record that the market surveillance authority was notified`);
    expect(last.body).toContain(`<a href="/systems/${id}">See the system page</a>`);
    await s.w.until(id, (x) => x.stage === 'fria_notification', 'the FRIA notification stage');
    const fria = await waiting(id);
    expect(fria.stage).toBe('fria_notification');
    expect(fria.text).toContain(`${OWNER}: the FRIA notification`);
    expect(fria.text).toContain('pending before the system goes live');
    expect(fria.html).toContain('<strong>authority not notified yet</strong>');

    await s.w.notifyAuthority(id);
    const active = await s.w.until(id, (x) => x.stage === 'active', 'active');
    const due: string = active.reviewDueAt;
    const activePage = await waiting(id);
    expect(activePage.text).toBe(`nothing until the periodic review due on ${due.slice(0, 10)}`);
    expect(activePage.html).toContain('<dt>Next review due</dt>');

    // Overdue: once the review's date has passed and the lifecycle escalated it to the governance lead.
    const every = durationMs(s.t.policy.reviews.overdueEscalationEvery);
    await s.t.env.sleep(Date.parse(due) + every + MINUTE - (await s.t.env.currentTimeMs()));
    await s.t.mailbox.waitFor(
      (m) =>
        m.to.includes(GOVERNANCE_LEAD) &&
        m.headers['x-ai-system'] === id &&
        m.subject.startsWith('Overdue review (escalation 1)'),
      { timeoutMs: 20_000 },
    );
    await s.w.until(id, (x) => x.stage === 'review_due', 'review due');
    const overdue = await waiting(id);
    expect(overdue).toMatchObject({ stage: 'review_due', overdue: true });
    expect(overdue.text).toContain(
      `${OWNER}: the periodic review, overdue (1 escalation sent to ${GOVERNANCE_LEAD}), since ${due.slice(0, 10)} ${due.slice(11, 16)} UTC`,
    );

    // The review's sign-off: a subject that says review, and the review itself in the e-mail and on the page.
    const review = example('review.json');
    await s.w.call('POST', s.w.sys(id, '/reviews'), review, 202);
    const signOff = await s.w.until(id, (x) => x.pendingApproval?.kind === 'review', 'the review sign-off');
    const reviewLink = await s.w.approvalLink(id, RISK_OWNER, signOff.pendingApproval.requestId);
    const reviewMail = approvalMailsFor(id, RISK_OWNER, signOff.pendingApproval.requestId).at(-1)!;
    expect(reviewMail.subject).toBe(`Approval needed: periodic review of ${reg.name} (high risk), step 1 of 2`);
    expect(reviewMail.text).toMatch(
      new RegExp(
        `Periodic review of cycle \\d+ \\(schedule\\), by ${review.performedBy} on \\d{4}-\\d\\d-\\d\\d, found no material change\\.`,
      ),
    );
    expect(reviewMail.text).toContain(`Monitoring: ${review.monitoringSummary}`);
    const firstSubjects = s.w
      .mailsTo(RISK_OWNER, id, (m) => m.subject.includes('Approval needed'))
      .map((m) => m.subject);
    expect(firstSubjects[0]).toBe(`Approval needed: ${reg.name} (high risk), step 1 of 2`);
    const reviewPage = await get(pathOf(reviewLink));
    expectHtmlPage(reviewPage, 200);
    expect(reviewPage.body).toContain(`<h1>Sign off the review of ${reg.name}?</h1>`);
    expect(byId(reviewPage.body, 'review-summary')).toContain(`Monitoring: ${review.monitoringSummary}`);
    expect((await waiting(id)).text).toContain(
      `${RISK_OWNER}: the decision on the periodic review sign-off, step 1 of 2`,
    );
    const { view: next } = await approveChain(s.t, s.w, id);
    expect(next.stage).toBe('active');

    // Retired: no review date, on the system page nor in the JSON view.
    await s.w.call('POST', s.w.sys(id, '/retire'), example('retire.json'), 200);
    await expect.poll(async () => (await waiting(id)).stage, { timeout: 20_000 }).toBe('retired');
    const retired = await waiting(id);
    expect(retired.text).toMatch(/^nothing: retired on \d{4}-\d\d-\d\d$/);
    expect(retired.html).not.toContain('Next review due');
    expect(retired.html).toContain('<dt>Retired</dt>');
    expect((await s.w.view(id)).reviewDueAt).toBeNull();
  });
});
