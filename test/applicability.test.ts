/**
 * The Statement of Applicability over the API, on Temporal's time-skipping
 * server with the real worker: all 38 Annex A controls, statuses that follow
 * a real system through its lifecycle (registration, assessment, bias
 * evidence, plan, approval, FRIA notice, incident), the organisation's own
 * entries for its controls, the policy's exclusions, the CSV read back with
 * a CSV parser, the cross-walk filters, and the page.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Statement, StatementControl } from '../domain/applicability.js';
import { controlIds } from '../domain/controls.js';
import { parsePolicy } from '../domain/policy.js';
import { defaultPolicyPath } from '../config/policy-file.js';
import { CSV_COLUMNS } from '../api/routes/applicability.js';
import { example } from './support/examples.js';
import { lifecycleSuite } from './support/lifecycle-env.js';
import { approveChain } from './support/walk.js';

const EXCLUSION = 'We provide no AI system to customers: every system is for internal use only.';
const policy = parsePolicy({
  ...JSON.parse(readFileSync(defaultPolicyPath, 'utf8')),
  statementOfApplicability: { exclusions: [{ control: 'A.10.4', justification: EXCLUSION }] },
});
const s = lifecycleSuite({ policy });
const ID = 'soa-cv-screening';
const URL = '/api/v1/statement-of-applicability';

let auditor: string;
const asAuditor = () => ({ authorization: `Bearer ${auditor}` });

beforeAll(async () => {
  auditor = await s.t.keys({ email: 'auditor@example.org', role: 'auditor' });
});

async function statement(query = ''): Promise<Statement> {
  const res = await s.t.api.inject({ method: 'GET', url: `${URL}${query}`, headers: asAuditor() });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers['content-type']).toContain('application/json');
  return res.json();
}

const control = (st: Statement, id: string): StatementControl => st.controls.find((c) => c.id === id)!;
const forSystem = (st: Statement, id: string) => control(st, id).systems.find((x) => x.systemId === ID);
const statusOf = (st: Statement, id: string) => forSystem(st, id)?.status;

/** The records reach the store after the workflow answers: read the statement until it shows what was sent. */
async function statementUntil(ok: (st: Statement) => boolean, what: string): Promise<Statement> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const st = await statement();
    if (ok(st)) return st;
    if (Date.now() > deadline) throw new Error(`the statement never showed ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the Statement of Applicability', () => {
  it('lists all 38 controls before any system exists: none with evidence, A.10.4 excluded as the policy says', async () => {
    const st = await statement();
    expect(st.controls.map((c) => c.id)).toEqual(controlIds);
    expect(st.controls).toHaveLength(38);
    expect(st.cites).toBe('ISO/IEC 42001 clause 6.1.3(d)');
    expect(st.mappingVersion).toMatch(/^\d+$/);
    expect(st.policyVersion).toBe(policy.version);
    const excluded = control(st, 'A.10.4');
    expect(excluded).toMatchObject({ applicable: false, justification: EXCLUSION, status: 'excluded' });
    for (const c of st.controls.filter((c) => c.id !== 'A.10.4')) {
      expect(c.applicable, c.id).toBe(true);
      expect(c.status, c.id).toBe('no_evidence');
      expect(c.systems, c.id).toEqual([]);
    }
    expect(control(st, 'A.5.2').implementedBy.map((r) => r.step)).toEqual(['impact_assessment']);
    expect(control(st, 'A.2.2')).toMatchObject({ evidencedBy: 'organisation', implementedBy: [] });
    expect(st.summary).toMatchObject({ no_evidence: 37, excluded: 1, implemented: 0 });
  });

  it('follows a system through its lifecycle: each status changes as its evidence arrives', async () => {
    const w = s.w;
    await w.register(ID);
    let st = await statementUntil((x) => statusOf(x, 'A.9.4') === 'implemented', 'the registration');
    expect(forSystem(st, 'A.9.4')!.evidence[0]).toMatchObject({
      step: 'registration',
      href: expect.stringMatching(new RegExp(`^/systems/${ID}#event-\\d+$`)),
    });
    for (const id of ['A.5.2', 'A.7.3', 'A.6.2.4', 'A.6.2.5', 'A.8.3'])
      expect(statusOf(st, id), id).toBe('no_evidence');
    expect(control(st, 'A.9.4').status).toBe('implemented');

    await w.assess(ID);
    st = await statementUntil((x) => statusOf(x, 'A.5.2') === 'implemented', 'the assessment');
    for (const id of ['A.5.3', 'A.5.4', 'A.5.5', 'A.7.3', 'A.7.4', 'A.7.5', 'A.10.2', 'A.10.3'])
      expect(statusOf(st, id), id).toBe('implemented');
    expect(
      forSystem(st, 'A.7.5')!
        .evidence.map((e) => e.what)
        .join(),
    ).toContain('1 data source');
    expect(statusOf(st, 'A.6.2.4')).toBe('no_evidence');

    await w.evidence(ID);
    st = await statementUntil((x) => statusOf(x, 'A.6.2.4') === 'implemented', 'the bias evidence');
    expect(forSystem(st, 'A.6.2.4')!.reason).toContain('passes');

    await w.plan(ID);
    st = await statementUntil(
      (x) => forSystem(x, 'A.6.2.5')?.evidence.length === 0 && control(x, 'A.8.2').systems.length > 0,
      'the plan',
    );
    // An organisation-level control the plan names gets the plan item as supporting evidence, no system status of its own.
    expect(control(st, 'A.8.2').systems[0]!.evidence[0]).toMatchObject({ step: 'treatment_plan_item' });
    expect(control(st, 'A.8.2').status).toBe('no_evidence');
    expect(statusOf(st, 'A.6.2.5')).toBe('no_evidence');

    // The risk owner approves; the chain is not complete until the governance lead does too.
    const first = await w.approveOpenRequest(ID);
    expect(first.step).toBe(1);
    st = await statementUntil((x) => statusOf(x, 'A.6.2.5') === 'partial', 'the first approval');
    expect(forSystem(st, 'A.6.2.5')!.reason).toContain('not complete');

    await approveChain(s.t, w, ID);
    st = await statementUntil((x) => statusOf(x, 'A.6.2.5') === 'implemented', 'the completed chain');
    // The example's deployer is a body governed by public law: Art. 27 asks for the authority notification.
    expect((await w.view(ID)).stage).toBe('fria_notification');
    expect(statusOf(st, 'A.8.3')).toBe('no_evidence');
    expect(forSystem(st, 'A.8.3')!.reason).toContain('pending');
    await w.notifyAuthority(ID);
    st = await statementUntil((x) => statusOf(x, 'A.8.3') === 'implemented', 'the FRIA notice');
    await w.until(ID, (v) => v.stage === 'active', 'stage active');
    st = await statementUntil((x) => statusOf(x, 'A.6.2.6') === 'partial', 'monitoring');
    expect(forSystem(st, 'A.6.2.6')!.reason).toMatch(/first review is due on \d{4}-\d{2}-\d{2}/);
    expect(statusOf(st, 'A.8.4')).toBe('not_required');

    await w.call('POST', w.sys(ID, '/incidents'), example('incident.json'), 201);
    st = await statementUntil((x) => statusOf(x, 'A.8.4') === 'implemented', 'the incident');
    expect(control(st, 'A.8.4').status).toBe('implemented');
    // One system, fully evidenced for these: the control as a whole is implemented.
    for (const id of ['A.5.2', 'A.6.2.4', 'A.7.5', 'A.9.4']) expect(control(st, id).status, id).toBe('implemented');
  });

  it("shows the organisation's entries for its controls: recorded by an admin, replaced with history kept", async () => {
    const put = (id: string, body: unknown, headers?: Record<string, string>) =>
      s.t.api.inject({ method: 'PUT', url: `/api/v1/organisation/controls/${id}`, payload: body as never, headers });
    const entry = { documentReference: 'POL-AI-001 AI policy v1', reviewDate: '2099-01-31', note: 'Board approved' };

    const refused = await put('A.2.2', entry, asAuditor());
    expect(refused.statusCode, refused.body).toBe(403);
    const bad = await put('A.2.2', { ...entry, reviewDate: '31/01/2099' });
    expect(bad.statusCode, bad.body).toBe(422);
    expect(bad.json().issues.map((i: { path: string }) => i.path)).toEqual(['body.reviewDate']);
    const unknown = await put('A.2.9', entry);
    expect(unknown.statusCode, unknown.body).toBe(422);
    expect(unknown.json().issues.map((i: { path: string }) => i.path)).toEqual(['params.controlId']);
    expect(control(await statement(), 'A.2.2').status).toBe('no_evidence');

    const first = await put('A.2.2', entry);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ superseded: 0, entry: { control: 'A.2.2', recordedBy: 'admin@example.org' } });
    let c = control(await statement(), 'A.2.2');
    expect(c.status).toBe('implemented');
    expect(c.organisation.entries).toMatchObject([{ documentReference: entry.documentReference, due: false }]);

    // Its review date passed: documented, but only partly.
    const stale = await put('A.2.2', {
      ...entry,
      documentReference: 'POL-AI-001 AI policy v0',
      reviewDate: '2020-01-01',
    });
    expect(stale.json()).toMatchObject({ superseded: 1, entries: [{ documentReference: 'POL-AI-001 AI policy v0' }] });
    c = control(await statement(), 'A.2.2');
    expect(c.status).toBe('partial');
    expect(c.reason).toContain('review date has passed');

    // A second document added beside it.
    const added = await s.t.api.inject({
      method: 'POST',
      url: '/api/v1/organisation/controls/A.2.2',
      payload: { documentReference: 'POL-AI-002 AI policy v2', reviewDate: '2099-06-30' },
    });
    expect(added.statusCode, added.body).toBe(201);
    expect(added.json().entries).toHaveLength(2);
    expect(control(await statement(), 'A.2.2').status).toBe('implemented');

    const listed = await s.t.api.inject({ method: 'GET', url: '/api/v1/organisation/controls', headers: asAuditor() });
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json().controls).toHaveLength(38);
    const a22 = listed.json().controls.find((x: { control: string }) => x.control === 'A.2.2');
    expect(a22.entries.map((e: { documentReference: string }) => e.documentReference)).toEqual([
      'POL-AI-001 AI policy v0',
      'POL-AI-002 AI policy v2',
    ]);
    const history = await s.t.api.inject({
      method: 'GET',
      url: '/api/v1/organisation/controls?history=true',
      headers: asAuditor(),
    });
    const all = history.json().controls.find((x: { control: string }) => x.control === 'A.2.2').entries;
    expect(all).toHaveLength(3);
    expect(all[0]).toMatchObject({ documentReference: entry.documentReference, supersededAt: expect.any(String) });
  });

  it('answers CSV for Accept: text/csv and format=csv, and the CSV parses back to what the JSON says', async () => {
    const json = await statement();
    for (const request of [
      { url: URL, headers: { ...asAuditor(), accept: 'text/csv' } },
      { url: `${URL}?format=csv`, headers: asAuditor() },
    ]) {
      const res = await s.t.api.inject({ method: 'GET', ...request });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['content-type']).toContain('text/csv');
      expect(res.headers['content-disposition']).toMatch(/^attachment; filename="statement-of-applicability-/);
      const rows: Record<string, string>[] = parse(res.body, { columns: true });
      expect(Object.keys(rows[0]!)).toEqual([...CSV_COLUMNS]);
      const overall = rows.filter((r) => r.system_id === '');
      expect(overall.map((r) => r.control)).toEqual(controlIds);
      for (const c of json.controls) {
        const row = overall.find((r) => r.control === c.id)!;
        expect(row.status!.replaceAll(' ', '_').replace('no_evidence_yet', 'no_evidence'), c.id).toBe(c.status);
        expect(row.applicable).toBe(c.applicable ? 'yes' : 'no');
        const systemRows = rows.filter((r) => r.control === c.id && r.system_id !== '');
        expect(
          systemRows.map((r) => r.system_id),
          c.id,
        ).toEqual(c.systems.map((x) => x.systemId));
      }
      expect(overall.find((r) => r.control === 'A.10.4')!.exclusion_justification).toBe(EXCLUSION);
      const a75 = rows.find((r) => r.control === 'A.7.5' && r.system_id === ID)!;
      expect(a75.system_status).toBe('implemented');
      expect(a75.evidence).toContain(`http://approvals.test/systems/${ID}#event-`);
    }
  });

  it('filters the cross-walk to what an ISMS already covers and to what is still open', async () => {
    const all = (await statement()).crosswalk;
    expect(all.filter).toBe('all');
    expect(all.entries).toHaveLength(38);
    const covered = (await statement('?crosswalk=covered')).crosswalk;
    expect(covered.entries.length).toBeGreaterThan(0);
    expect(covered.entries.length).toBeLessThan(38);
    for (const e of covered.entries) expect(e.pairs.length, e.control).toBeGreaterThan(0);
    expect(covered.entries.map((e) => e.control)).not.toContain('A.5.5');
    expect(covered.entries.find((e) => e.control === 'A.6.2.8')!.pairs.map((p) => p.id)).toContain('8.15');
    const open = (await statement('?crosswalk=open')).crosswalk;
    const st = await statement();
    for (const e of open.entries) expect(['partial', 'no_evidence'], e.control).toContain(e.status);
    const implemented = st.controls.filter((c) => c.status === 'implemented').map((c) => c.id);
    expect(implemented).toContain('A.5.2');
    for (const id of implemented) expect(open.entries.map((e) => e.control)).not.toContain(id);
    expect(open.entries.map((e) => e.control)).not.toContain('A.10.4');
    expect(open.entries.map((e) => e.control)).toContain('A.9.3');

    const bad = await s.t.api.inject({ method: 'GET', url: `${URL}?crosswalk=mine`, headers: asAuditor() });
    expect(bad.statusCode, bad.body).toBe(422);
    expect(bad.json().issues.map((i: { path: string }) => i.path)).toEqual(['querystring.crosswalk']);
  });

  it('is a page with all 38 controls, the system’s evidence linked, and the cross-walk filtered', async () => {
    const res = await s.t.api.inject({ method: 'GET', url: '/statement-of-applicability', headers: asAuditor() });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    for (const id of controlIds) expect(res.body, id).toContain(`<tr id="${id}"`);
    expect(res.body).toContain(`href="/systems/${ID}#event-`);
    expect(res.body).toContain(EXCLUSION);
    expect(res.body).toContain('POL-AI-002 AI policy v2');
    const open = await s.t.api.inject({
      method: 'GET',
      url: '/statement-of-applicability?crosswalk=open',
      headers: asAuditor(),
    });
    expect(open.body).toContain('<strong aria-current="true">What is still open</strong>');
    expect(open.body).not.toContain('<tr data-control="A.5.2"');
    const bad = await s.t.api.inject({
      method: 'GET',
      url: '/statement-of-applicability?crosswalk=%3Cb%3E',
      headers: asAuditor(),
    });
    expect(bad.statusCode).toBe(200);
    expect(bad.body).toContain('“&lt;b&gt;” is not a cross-walk filter');
  });

  it('is for auditors, governance leads and admins only', async () => {
    const team = await s.t.keys({ email: 'someone@example.org', role: 'ai-team', team: 'default' });
    const res = await s.t.api.inject({ method: 'GET', url: URL, headers: { authorization: `Bearer ${team}` } });
    expect(res.statusCode).toBe(403);
    const lead = await s.t.keys({ email: 'lead@example.org', role: 'governance-lead' });
    const ok = await s.t.api.inject({ method: 'GET', url: URL, headers: { authorization: `Bearer ${lead}` } });
    expect(ok.statusCode).toBe(200);
  });
});
