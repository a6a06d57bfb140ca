/**
 * The README's auditor's path, step by step and in its order, with the credential an auditor gets: an admin makes
 * the auditor's key with `ai-lifecycle keys create`, the auditor signs in with it (`whoami`, the sign-in page),
 * verifies the audit trail over the API and with `ai-lifecycle audit verify` (exit 0; exit 8 once a row is
 * edited in the database), downloads the evidence pack over the API and with `ai-lifecycle evidence-pack` and
 * checks its manifest's hashes, reads the records one by one, then the Statement of Applicability as JSON, CSV
 * and the page, and the cross-walk under both filters. On the time-skipping server with the real worker and
 * record store, the API listening for the real binary. The browser's view of the same pages is
 * test/auditor.browser.test.ts.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readZip } from '../cli/evidence-pack.js';
import { SESSION_COOKIE } from '../api/auth/session.js';
import type { Statement } from '../domain/applicability.js';
import { auditVerificationSchema } from '../domain/audit.js';
import { controlIds } from '../domain/controls.js';
import { evidencePackManifestSchema, type EvidencePackManifest } from '../domain/records.js';
import { AUDITED, auditedPolicy, auditedSystems, EXCLUSION, IN_PROGRESS } from './support/audited.js';
import { example } from './support/examples.js';
import { lifecycleSuite } from './support/lifecycle-env.js';
import { PROJECT_ROOT } from './support/product-process.js';

const BIN = join(PROJECT_ROOT, 'cli', 'bin.mjs');
const s = lifecycleSuite({ policy: auditedPolicy });

let server: string;
let workDir: string;
/** The auditor's key, as `keys create` printed it. */
let auditor: string;
let pack: { files: Map<string, Buffer>; manifest: EvidencePackManifest };

beforeAll(async () => {
  await auditedSystems(s);
  await s.t.api.listen({ port: 0, host: '127.0.0.1' });
  server = `http://127.0.0.1:${(s.t.api.server.address() as AddressInfo).port}`;
  workDir = await mkdtemp(join(tmpdir(), 'auditor-path-'));
}, 120_000);
afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real binary, run as the README runs it: the key in AI_LIFECYCLE_API_KEY. */
function cli(key: string, args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, AI_LIFECYCLE_API_KEY: key };
  delete env.AI_LIFECYCLE_URL;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, '--server', server, ...args],
      { cwd: workDir, env, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        if (typeof code !== 'number') reject(new Error(`ai-lifecycle ${args.join(' ')}: ${err?.message}\n${stderr}`));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}
const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

const get = (url: string, headers: Record<string, string> = { authorization: `Bearer ${auditor}` }) =>
  s.t.api.inject({ method: 'GET', url, headers });
const ok = async (url: string, headers?: Record<string, string>) => {
  const res = await get(url, headers);
  expect(res.statusCode, `GET ${url}: ${res.body.slice(0, 300)}`).toBe(200);
  return res;
};
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Every file listed with the SHA-256 and size of its bytes, and nothing in the zip that the manifest leaves out. */
function expectManifestHolds(files: Map<string, Buffer>, manifest: EvidencePackManifest) {
  expect(manifest.files.map((f) => f.path).sort()).toEqual(
    [...files.keys()].filter((n) => n !== 'manifest.json').sort(),
  );
  for (const f of manifest.files) {
    expect(sha256(files.get(f.path)!), f.path).toBe(f.sha256);
    expect(files.get(f.path)!.length, f.path).toBe(f.bytes);
  }
}

describe("the auditor's path", () => {
  it('1. an admin makes the auditor a key; the auditor signs in with it and may read, not change', async () => {
    const made = await cli(s.t.adminKey, [
      '--json',
      'keys',
      'create',
      '--name',
      'Certification auditor, stage 2',
      '--email',
      'lead-auditor@certifier.example',
      '--role',
      'auditor',
      '--expires',
      new Date(Date.now() + 30 * 86_400_000).toISOString(),
    ]);
    expect(made.code, show(made)).toBe(0);
    const key = JSON.parse(made.stdout) as { key: string; role: string; email: string };
    expect(key).toMatchObject({ role: 'auditor', email: 'lead-auditor@certifier.example' });
    auditor = key.key;

    const who = await cli(auditor, ['whoami']);
    expect(who.code, show(who)).toBe(0);
    expect(who.stdout).toMatch(/^lead-auditor@certifier\.example: role auditor \(key:/);

    // The pages: the sign-in form with the key sets the session the Statement of Applicability opens with.
    const login = await s.t.api.inject({
      method: 'POST',
      url: '/login',
      payload: new URLSearchParams({ key: auditor, next: '/statement-of-applicability' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(login.statusCode, login.body).toBe(303);
    expect(login.headers.location).toBe('/statement-of-applicability');
    const session = login.cookies.find((c) => c.name === SESSION_COOKIE)!;
    expect(session.httpOnly).toBe(true);
    const page = await ok('/statement-of-applicability', { cookie: `${SESSION_COOKIE}=${session.value}` });
    expect(page.headers['content-type']).toContain('text/html');

    // An auditor changes nothing: no incident, no organisation entry, no key.
    const bearer = { authorization: `Bearer ${auditor}` };
    for (const [method, url, payload] of [
      ['POST', `/api/v1/systems/${AUDITED}/incidents`, example('incident.json')],
      ['PUT', '/api/v1/organisation/controls/A.2.3', { documentReference: 'POL-1', reviewDate: '2099-01-01' }],
      ['POST', '/api/v1/keys', { name: 'x', email: 'x@example.org', role: 'admin' }],
    ] as const) {
      const res = await s.t.api.inject({ method, url, payload: payload as never, headers: bearer });
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(403);
    }
  });

  it('2. verifies the audit trail over the API and with the CLI: exit 0, then exit 8 once a row is edited', async () => {
    const events = await s.t.store.listEvents(AUDITED);
    const v = auditVerificationSchema.parse((await ok(`/api/v1/systems/${AUDITED}/audit/verify`)).json());
    expect(v).toMatchObject({ ok: true, count: events.length, head: { seq: events.at(-1)!.seq } });
    expect(v.anchored.status).toBe('matched');
    const intact = await cli(auditor, ['audit', 'verify', AUDITED]);
    expect(intact.code, show(intact)).toBe(0);
    expect(intact.stdout).toContain(`audit trail of ${AUDITED}: verified (${events.length} records`);

    // Someone with database access makes the other system's assessment out to be minimal risk.
    const assessed = (await s.t.store.listEvents(IN_PROGRESS)).find((e) => e.type === 'assessment_submitted')!;
    await s.t.store.db.transaction().execute(async (trx) => {
      await sql`alter table events disable trigger events_append_only`.execute(trx);
      await trx
        .updateTable('events')
        .set({ payload: JSON.stringify({ ...(assessed.payload as object), riskTier: 'minimal' }) })
        .where('systemId', '=', IN_PROGRESS)
        .where('seq', '=', assessed.seq)
        .execute();
      await sql`alter table events enable trigger events_append_only`.execute(trx);
    });
    const broken = auditVerificationSchema.parse((await ok(`/api/v1/systems/${IN_PROGRESS}/audit/verify`)).json());
    expect(broken).toMatchObject({ ok: false, brokenAtSeq: assessed.seq, brokenBy: 'chain' });
    const caught = await cli(auditor, ['audit', 'verify', IN_PROGRESS]);
    expect(caught.code, show(caught)).toBe(8);
    expect(caught.stdout).toContain(`BROKEN at record #${assessed.seq}`);
    // The intact system is still intact.
    expect((await cli(auditor, ['audit', 'verify', AUDITED])).code).toBe(0);
  });

  it('3. downloads the evidence pack over the API and with the CLI; every manifest hash matches', async () => {
    const res = await ok(`/api/v1/systems/${AUDITED}/evidence-pack`);
    expect(res.headers['content-type']).toBe('application/zip');
    const files = await readZip(res.rawPayload);
    const manifest = evidencePackManifestSchema.parse(JSON.parse(files.get('manifest.json')!.toString('utf8')));
    expect(manifest).toMatchObject({
      systemId: AUDITED,
      verification: { ok: true },
      // Who downloaded it, by name and key.
      generatedBy: expect.stringMatching(/^lead-auditor@certifier\.example \(key:ak_\w+\)$/),
    });
    expectManifestHolds(files, manifest);
    expect([...files.keys()]).toEqual(expect.arrayContaining(['report.html', 'records/incidents.json']));
    pack = { files, manifest };

    const out = join(workDir, 'audited.zip');
    const run = await cli(auditor, ['evidence-pack', AUDITED, '-o', out]);
    expect(run.code, show(run)).toBe(0);
    expect(run.stdout).toContain(`written to ${out}`);
    const cliFiles = await readZip(await readFile(out));
    const cliManifest = evidencePackManifestSchema.parse(JSON.parse(cliFiles.get('manifest.json')!.toString('utf8')));
    expectManifestHolds(cliFiles, cliManifest);
    // The same records: only the generation time, and the report that prints it, differ.
    const records = (m: EvidencePackManifest) => m.files.filter((f) => f.path !== 'report.html');
    expect(records(cliManifest)).toEqual(records(manifest));

    // The tampered system's pack is still written, and the CLI says the trail is broken.
    const brokenOut = join(workDir, 'tampered.zip');
    const broken = await cli(auditor, ['evidence-pack', IN_PROGRESS, '-o', brokenOut]);
    expect(broken.code, show(broken)).toBe(8);
    const brokenFiles = await readZip(await readFile(brokenOut));
    expect(JSON.parse(brokenFiles.get('records/audit-verification.json')!.toString('utf8'))).toMatchObject({
      ok: false,
      brokenBy: 'chain',
    });
  });

  it('4. reads each record on its own, as the pack holds it', async () => {
    const sys = (path: string) => `/api/v1/systems/${AUDITED}${path}`;
    const [assessments, evidence, plans] = await Promise.all(
      ['/assessments', '/bias-evidence', '/treatment-plans'].map(
        async (p) => (await ok(sys(p))).json() as { version: number }[],
      ),
    );
    expect(assessments!.map((a) => a.version)).toEqual([1]);
    const expected: Record<string, string> = {
      'records/registration.json': '/registration',
      'records/assessments/v1.json': '/assessments/1',
      [`records/bias-evidence/v${evidence!.at(-1)!.version}.json`]: `/bias-evidence/${evidence!.at(-1)!.version}`,
      [`records/treatment-plans/v${plans!.at(-1)!.version}.json`]: `/treatment-plans/${plans!.at(-1)!.version}`,
      'records/approvals.json': '/approvals',
      'records/fria-notifications.json': '/fria-notifications',
      'records/incidents.json': '/incidents',
      'records/reviews.json': '/reviews',
      'records/model-versions.json': '/model-versions',
      'records/notifications.json': '/notifications',
      'records/audit-entries.json': '/audit',
    };
    for (const [file, path] of Object.entries(expected))
      expect((await ok(sys(path))).json(), `GET ${path} = ${file}`).toEqual(
        JSON.parse(pack.files.get(file)!.toString('utf8')),
      );
    const [incident] = (await ok(sys('/incidents'))).json() as Record<string, unknown>[];
    expect(incident).toMatchObject({
      severity: 'serious',
      correctiveAction: example('incident.json').correctiveAction,
      correctiveActionOwner: example('incident.json').correctiveActionOwner,
    });
  });

  it('5. reads the Statement of Applicability as JSON, CSV and the page', async () => {
    const st = (await ok('/api/v1/statement-of-applicability')).json() as Statement;
    expect(st.controls.map((c) => c.id)).toEqual(controlIds);
    const control = (id: string) => st.controls.find((c) => c.id === id)!;
    expect(control('A.10.4')).toMatchObject({ applicable: false, status: 'excluded', justification: EXCLUSION });
    expect(control('A.2.2').status).toBe('implemented');
    const audited = (id: string) => control(id).systems.find((x) => x.systemId === AUDITED)!;
    for (const id of ['A.5.2', 'A.6.2.4', 'A.7.5', 'A.8.3', 'A.8.4', 'A.9.4', 'A.10.3'])
      expect(audited(id).status, id).toBe('implemented');
    expect(control('A.6.2.4').systems.find((x) => x.systemId === IN_PROGRESS)!.status).toBe('no_evidence');
    expect(control('A.6.2.4').status).toBe('partial');

    const csv = await ok('/api/v1/statement-of-applicability?format=csv');
    expect(csv.headers['content-type']).toContain('text/csv');
    const rows: Record<string, string>[] = parse(csv.body, { columns: true });
    const overall = rows.filter((r) => r.system_id === '');
    expect(overall.map((r) => r.control)).toEqual(controlIds);
    expect(overall.find((r) => r.control === 'A.10.4')!.exclusion_justification).toBe(EXCLUSION);
    expect(rows.find((r) => r.control === 'A.8.4' && r.system_id === AUDITED)!.system_status).toBe('implemented');

    const html = await ok('/statement-of-applicability');
    for (const id of controlIds) expect(html.body, id).toContain(`<tr id="${id}"`);
    expect(html.body).toContain(`href="/systems/${AUDITED}#event-`);
  });

  it('6. reads the cross-walk: what the ISMS already covers, and what is still open', async () => {
    const crosswalk = async (filter: string) =>
      ((await ok(`/api/v1/statement-of-applicability?crosswalk=${filter}`)).json() as Statement).crosswalk;
    const [covered, open] = await Promise.all([crosswalk('covered'), crosswalk('open')]);
    expect(covered.filter).toBe('covered');
    expect(covered.entries.length).toBeGreaterThan(0);
    for (const e of covered.entries) expect(e.pairs.length, e.control).toBeGreaterThan(0);
    expect(covered.entries.find((e) => e.control === 'A.8.4')!.pairs.map((p) => p.id)).toContain('5.24');
    expect(open.filter).toBe('open');
    for (const e of open.entries) expect(['partial', 'no_evidence'], e.control).toContain(e.status);
    expect(open.entries.map((e) => e.control)).toContain('A.6.2.4');
    expect(open.entries.map((e) => e.control)).not.toContain('A.9.4');
    const page = await ok('/statement-of-applicability?crosswalk=covered');
    expect(page.body).toContain('<strong aria-current="true">What my ISMS already covers</strong>');
    expect(page.body.match(/<tr data-control="/g)).toHaveLength(covered.entries.length);
  });
});
