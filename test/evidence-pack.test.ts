/**
 * The auditor's evidence pack (issue 11) after a full lifecycle on the time-skipping server: registration to
 * active, a new model version approved again, a serious incident with its corrective action closed, and the
 * periodic review it called for signed off. The pack is downloaded over the API, unzipped with a zip library and
 * checked: every manifest hash matches, every record is there and equals what the per-record API answers, the
 * audit entries recompute to the chain head, and report.html is self-contained and labels each part with the
 * controls the mapping gives for the steps that happened. The CLI's download is the same pack.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readZip } from '../cli/evidence-pack.js';
import { mappingStep, stepReference, stepIds, type StepId } from '../domain/control-mapping.js';
import { controlLabel } from '../domain/control-mapping.js';
import { evidencePackManifestSchema, type EvidencePackManifest, type SystemRecords } from '../domain/records.js';
import { escapeHtml } from '../api/html.js';
import { computeEventHash, GENESIS_HASH } from '../store/index.js';
import { TEST_TEAM } from './support/credentials.js';
import { example, exampleText } from './support/examples.js';
import { analysisEnded, PREDICTIONS_QUERY, uploadPredictions } from './support/predictions.js';
import { barrier, lifecycleSuite } from './support/lifecycle-env.js';
import { PROJECT_ROOT } from './support/product-process.js';
import { approveChain } from './support/walk.js';

const s = lifecycleSuite();
const ID = 'pack-cv-screening';
const BIN = join(PROJECT_ROOT, 'cli', 'bin.mjs');
/** Recorded text an auditor's browser must show as text, never run or render. */
/** The README's predictions: every required metric passes, so monitoring leaves the system active. */
const PREDICTIONS = exampleText('predictions.csv');
const HOSTILE = '<script>alert("pack")</script><img src=x onerror=alert(1)> & <b>bold</b>';

let auditorKey: string;
let pack: Buffer;
let files: Map<string, Buffer>;
let manifest: EvidencePackManifest;
let workDir: string;
let server: string;

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const get = async (path: string, key = auditorKey) => {
  const res = await s.t.api.inject({ method: 'GET', url: `/api/v1/systems/${ID}${path}`, headers: bearer(key) });
  expect(res.statusCode, `GET ${path}: ${res.body.slice(0, 500)}`).toBe(200);
  return res;
};
const json = (path: string) => JSON.parse(files.get(path)!.toString('utf8')) as unknown;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

beforeAll(async () => {
  auditorKey = await s.t.keys({ email: 'auditor@example.org', role: 'auditor' });
  await s.t.api.listen({ port: 0, host: '127.0.0.1' });
  server = `http://127.0.0.1:${(s.t.api.server.address() as AddressInfo).port}`;
  workDir = await mkdtemp(join(tmpdir(), 'evidence-pack-'));
});

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** The lifecycle, then the pack: the walk's helpers poll with expect, so this runs as a test, before the others. */
async function walkAndDownload() {
  const { t, w } = s;
  const { view: active } = await w.toActive(ID);

  // A new model version: bias testing and approval again.
  const newVersion = example('new-version.json');
  await w.call('POST', w.sys(ID, '/versions'), newVersion, 202);
  await w.evidence(ID, { ...example('bias-evidence.json'), modelVersion: newVersion.version });
  await approveChain(t, w, ID);
  await w.until(ID, (v) => v.stage === 'active', 'active again after the new version');

  // A serious incident (its description hostile markup), its corrective action closed, the review it calls for.
  const now = await t.env.currentTimeMs();
  await w.call(
    'POST',
    w.sys(ID, '/incidents'),
    {
      ...example<Record<string, unknown>>('incident.json'),
      description: HOSTILE,
      occurredAt: new Date(now - 3_600_000).toISOString(),
    },
    201,
  );
  await w.call('POST', w.sys(ID, '/incidents/inc-1/close'), example('incident-close.json'), 200);
  const review = example<{ biasEvidence: Record<string, unknown> } & Record<string, unknown>>('review.json');
  await w.call(
    'POST',
    w.sys(ID, '/reviews'),
    { ...review, biasEvidence: { ...review.biasEvidence, effectiveDate: isoDay(now) } },
    202,
  );
  await approveChain(t, w, ID);
  await w.until(ID, (v) => v.cycle === active.cycle + 1 && v.stage === 'active', 'the next cycle');

  // Monitoring: the model's predictions uploaded and analysed by the product, kept as a computed fairness report.
  const upload = await uploadPredictions(t.api, ID, PREDICTIONS, {
    query: `${PREDICTIONS_QUERY}&dataset=monitoring`,
  });
  expect(upload.statusCode, upload.body).toBe(202);
  expect(await analysisEnded(t.api, upload.json().result)).toMatchObject({ status: 'completed' });
  await barrier(t, ID);

  const res = await get('/evidence-pack');
  expect(res.headers['content-type']).toBe('application/zip');
  expect(res.headers['content-disposition']).toMatch(
    /^attachment; filename="evidence-pack-pack-cv-screening-.+\.zip"$/,
  );
  pack = res.rawPayload;
  files = await readZip(pack);
  manifest = evidencePackManifestSchema.parse(JSON.parse(files.get('manifest.json')!.toString('utf8')));
}

describe('the evidence pack after a full lifecycle', () => {
  it('is downloaded after a new version, an incident and a review', walkAndDownload, 240_000);

  it('lists every file with its SHA-256, and every hash matches', () => {
    expect(manifest).toMatchObject({ systemId: ID, verification: { ok: true } });
    const names = [...files.keys()].filter((n) => n !== 'manifest.json').sort();
    expect(manifest.files.map((f) => f.path).sort()).toEqual(names);
    for (const f of manifest.files) {
      const bytes = files.get(f.path)!;
      expect(createHash('sha256').update(bytes).digest('hex'), f.path).toBe(f.sha256);
      expect(bytes.length, f.path).toBe(f.bytes);
    }
    expect(names).toContain('report.html');
  });

  it('holds every record, each as the per-record API answers it', async () => {
    const assessments = (await get('/assessments')).json() as { version: number }[];
    const evidence = (await get('/bias-evidence')).json() as { version: number }[];
    const plans = (await get('/treatment-plans')).json() as { version: number }[];
    const expected: Record<string, string> = {
      'records/registration.json': '/registration',
      'records/approvals.json': '/approvals',
      'records/reviews.json': '/reviews',
      'records/incidents.json': '/incidents',
      'records/fria-notifications.json': '/fria-notifications',
      'records/model-versions.json': '/model-versions',
      'records/notifications.json': '/notifications',
      'records/audit-entries.json': '/audit',
      'records/audit-verification.json': '/audit/verify',
    };
    for (const a of assessments) expected[`records/assessments/v${a.version}.json`] = `/assessments/${a.version}`;
    for (const b of evidence) expected[`records/bias-evidence/v${b.version}.json`] = `/bias-evidence/${b.version}`;
    for (const p of plans) expected[`records/treatment-plans/v${p.version}.json`] = `/treatment-plans/${p.version}`;
    for (const [file, path] of Object.entries(expected)) {
      expect(files.has(file), `${file} is in the pack`).toBe(true);
      expect(json(file), `${file} = GET ${path}`).toEqual((await get(path)).json());
    }
    // Nothing in the pack that the API does not answer, besides the manifest and the report.
    expect([...files.keys()].filter((n) => !(n in expected)).sort()).toEqual(['manifest.json', 'report.html']);
  });

  it('is complete against the record store itself', async () => {
    const { store } = s.t;
    const [events, assessmentRows, decisionRows, notificationRows] = await Promise.all([
      store.listEvents(ID),
      store.listAssessments(ID),
      store.listDecisions(ID),
      store.listNotifications(ID),
    ]);
    const audit = json('records/audit-entries.json') as SystemRecords['audit'];
    expect(audit.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    // The entries are enough to recompute the chain, and it ends at the manifest's head.
    let prev = GENESIS_HASH;
    for (const e of audit) {
      expect(e.prevHash).toBe(prev);
      expect(computeEventHash(prev, { ...e, at: new Date(e.at) }), `entry #${e.seq}`).toBe(e.hash);
      prev = e.hash;
    }
    expect(manifest.chainHead).toEqual({ seq: audit.at(-1)!.seq, hash: prev });

    for (const row of assessmentRows) {
      const a = json(`records/assessments/v${row.version}.json`) as SystemRecords['assessments'][number];
      expect(a.content).toEqual(row.content);
      expect(a.content).toMatchObject({ dataSources: example('impact-assessment.json').dataSources });
    }

    // Bias evidence: the first, the new version's, and the review's, each with its document's hash and verdicts.
    const submitted = events.filter((e) => e.type === 'bias_evidence_submitted');
    expect(submitted.length).toBe(4);
    for (const e of submitted.slice(0, 3)) {
      const version = (e.payload as { version: number }).version;
      const b = json(`records/bias-evidence/v${version}.json`) as SystemRecords['biasEvidence'][number];
      expect(b.files.document.digest).toBe((e.payload as { digest: string }).digest);
      expect(b.verdicts.length).toBeGreaterThan(0);
      expect(b.submitted).toMatchObject({ metrics: expect.any(Array) });
    }
    const versions = submitted.map(
      (e) =>
        (json(`records/bias-evidence/v${(e.payload as { version: number }).version}.json`) as { modelVersion: string })
          .modelVersion,
    );
    expect(versions).toContain(example('new-version.json').version);

    // The monitoring upload: the predictions file by its SHA-256 and size, and the full report computed from it.
    const computed = json('records/bias-evidence/v4.json') as SystemRecords['biasEvidence'][number];
    expect(computed).toMatchObject({
      source: 'computed',
      files: {
        document: { kind: 'fairness_report' },
        predictions: {
          sha256: createHash('sha256').update(PREDICTIONS).digest('hex'),
          bytes: Buffer.byteLength(PREDICTIONS),
        },
      },
      submitted: null,
    });
    expect(computed.fairnessReport).toMatchObject({ groups: expect.any(Array), metrics: expect.any(Array) });
    expect((await s.t.store.getDocument(computed.files.document.digest))?.content).toEqual(computed.fairnessReport);

    const plan = json('records/treatment-plans/v1.json') as SystemRecords['treatmentPlans'][number];
    expect(plan.content).toMatchObject({ items: example('treatment-plan.json').items });

    // Approvals: every decision of the store, each on the digest its request asked to approve.
    const approvals = json('records/approvals.json') as SystemRecords['approvals'];
    expect(approvals.decisions.map((d) => [d.requestId, d.decision, d.digest])).toEqual(
      decisionRows.map((d) => [d.requestId, d.decision, d.digest]),
    );
    for (const q of approvals.requests.filter((r) => r.outcome === 'decided')) {
      expect(q.decision!.digest, q.requestId).toBe(q.digest);
    }
    expect(approvals.requests.filter((r) => r.outcome === 'open')).toEqual([]);
    const view = (await get('')).json();
    expect(approvals.decisions.map((d) => d.digest)).toContain(view.approvedDigest);
    expect(approvals.invalidations.map((i) => i.reason)).toEqual(
      expect.arrayContaining([
        expect.stringContaining('new model version'),
        expect.stringContaining('serious incident inc-1'),
      ]),
    );

    // The incident with its closed corrective action; the review with its sign-off and its evidence.
    const [incident] = json('records/incidents.json') as SystemRecords['incidents'];
    expect(incident).toMatchObject({
      id: 'inc-1',
      description: HOSTILE,
      correctiveAction: example('incident.json').correctiveAction,
      closure: { resolution: example('incident-close.json').resolution },
    });
    const [review] = json('records/reviews.json') as SystemRecords['reviews'];
    expect(review).toMatchObject({ trigger: 'incident', biasEvidenceVersion: 3 });
    expect(review!.signOff.map((d) => d.decision)).toEqual(s.t.policy.approvalChains.high.map(() => 'approve'));

    expect(json('records/model-versions.json')).toMatchObject([{ to: example('new-version.json').version }]);
    expect(json('records/fria-notifications.json')).toMatchObject([
      { authority: example('fria-notification.json').authority },
    ]);
    expect((json('records/notifications.json') as unknown[]).length).toBe(notificationRows.length);
    expect(json('records/registration.json')).toMatchObject({
      systemId: ID,
      team: TEST_TEAM,
      current: { stage: 'active' },
    });
    expect(json('records/audit-verification.json')).toMatchObject({ ok: true, count: events.length });
  });

  it('has a self-contained, printable report labelling each part by the controls of the steps that happened', () => {
    const html = files.get('report.html')!.toString('utf8');
    const audit = json('records/audit-entries.json') as SystemRecords['audit'];
    const happened = new Set(audit.flatMap((e) => e.steps as StepId[]));
    // The lifecycle went through every one of these, so the test cannot pass on a mapping that matched none.
    for (const step of [
      'registration',
      'impact_assessment',
      'bias_evidence',
      'treatment_plan',
      'plan_approval',
      'fria_notice',
      'model_version',
      'incident',
      'corrective_action',
      'review',
    ] as const)
      expect(happened.has(step), step).toBe(true);
    for (const step of stepIds.filter((id) => happened.has(id))) {
      expect(html, step).toContain(escapeHtml(stepReference(step)));
      for (const c of mappingStep(step).implements) expect(html, `${step} ${c}`).toContain(escapeHtml(controlLabel(c)));
    }
    // Offline: inline CSS, no script, nothing fetched from anywhere; and a print stylesheet.
    expect(html).toMatch(/<style>[\s\S]*@media print[\s\S]*<\/style>/);
    expect(html).not.toMatch(/<(script|link|img|iframe|object|embed)\b|<[a-z]+[^>]*\ssrc=|@import|url\(/i);
    expect(html).not.toMatch(/href="(?!#)/);
    // Recorded text is escaped.
    expect(html).toContain(escapeHtml(HOSTILE));
    expect(html).not.toContain(HOSTILE);
    // Each record file is named in the report with its hash.
    for (const f of manifest.files.filter((x) => x.path.startsWith('records/'))) expect(html).toContain(f.sha256);
  });

  it('answers 404 to a key of another team, as for a system that does not exist', async () => {
    const other = await s.t.keys({ email: 'bob@team-b.example.org', role: 'ai-team', team: 'team-b' });
    for (const path of ['/evidence-pack', '/assessments/1', '/audit']) {
      const res = await s.t.api.inject({ method: 'GET', url: `/api/v1/systems/${ID}${path}`, headers: bearer(other) });
      expect(res.statusCode, path).toBe(404);
      expect(res.json()).toEqual({ error: 'not_found', message: `no AI system with id ${ID}` });
    }
    const missing = await s.t.api.inject({
      method: 'GET',
      url: `/api/v1/systems/${ID}/assessments/9`,
      headers: bearer(auditorKey),
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().message).toBe(`${ID} has no impact assessment version 9`);
    const bad = await s.t.api.inject({
      method: 'GET',
      url: `/api/v1/systems/${ID}/assessments/zero`,
      headers: bearer(auditorKey),
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().issues[0].path).toBe('params.version');
  });

  it('ai-lifecycle evidence-pack ID -o FILE writes the same pack, checked against its manifest', async () => {
    const out = join(workDir, 'pack.zip');
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      const env: NodeJS.ProcessEnv = { ...process.env, AI_LIFECYCLE_API_KEY: auditorKey };
      delete env.AI_LIFECYCLE_URL;
      execFile(
        process.execPath,
        [BIN, '--server', server, 'evidence-pack', ID, '-o', out],
        { cwd: workDir, env, timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = err ? (err as { code?: unknown }).code : 0;
          if (typeof code !== 'number') reject(new Error(`${err?.message}\n${stderr}`));
          else resolve({ code, stdout, stderr });
        },
      );
    });
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain(`written to ${out}`);
    expect(run.stdout).toContain('audit trail verified');
    const written = await readFile(out);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const cliFiles = await readZip(written);
    const cliManifest = evidencePackManifestSchema.parse(JSON.parse(cliFiles.get('manifest.json')!.toString('utf8')));
    // Generated later, by the same records: only the generation time (and the report that prints it) differ.
    const records = (m: EvidencePackManifest) => m.files.filter((f) => f.path !== 'report.html');
    expect(records(cliManifest)).toEqual(records(manifest));
    expect(cliManifest.chainHead).toEqual(manifest.chainHead);
    expect(Date.parse(cliManifest.generatedAt)).toBeGreaterThan(Date.parse(manifest.generatedAt));

    const noOutput = await new Promise<number>((resolve) =>
      execFile(
        process.execPath,
        [BIN, '--server', server, 'evidence-pack', ID],
        { cwd: workDir, env: { ...process.env, AI_LIFECYCLE_API_KEY: auditorKey } },
        (err) => resolve(err ? Number((err as { code?: unknown }).code) : 0),
      ),
    );
    expect(noOutput).toBe(2);
  });
});
