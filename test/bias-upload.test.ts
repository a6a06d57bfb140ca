/**
 * POST /api/v1/systems/:id/bias-evidence/predictions and the analysis links, over the API with the real
 * activities and a time-skipping Temporal: the file streamed into the blob store under its SHA-256, each refusal
 * (size, content type, a column the file lacks, no data, the workflow's own rules) answered at once in the one
 * envelope and naming what is wrong, and an accepted upload polled through its link to its verdicts.
 */
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy } from '../config/policy-file.js';
import { example } from './support/examples.js';
import { lifecycleSuite } from './support/lifecycle-env.js';
import {
  analysisEnded,
  genderAndAgeGroups,
  PREDICTIONS_QUERY,
  predictionsCsv,
  predictionsJsonl,
  uploadPredictions,
} from './support/predictions.js';

const base = await loadPolicy();
/** Small enough that a test file goes over it; the default (2 GiB) is the shipped policy's. */
const MAX_BYTES = 200_000;
const s = lifecycleSuite({
  policy: {
    ...base,
    biasTesting: { ...base.biasTesting, uploads: { ...base.biasTesting.uploads, maxBytes: MAX_BYTES } },
  },
});

const SYS = 'upload-refusals';
const FRESH = 'upload-fresh';
const QUERY = PREDICTIONS_QUERY;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const unfair = predictionsCsv(genderAndAgeGroups((g) => (g === 'F' ? 0.1 : 0.4), 200));

const upload = (id: string, body: string, opts: Parameters<typeof uploadPredictions>[3] = {}) =>
  uploadPredictions(s.t.api, id, body, opts);

/** Every blob the store holds. */
async function storedBlobs(): Promise<string[]> {
  const dir = s.t.blobs.dir;
  const prefixes = await readdir(dir).catch(() => [] as string[]);
  const all = await Promise.all(prefixes.filter((p) => p !== '.tmp').map(async (p) => await readdir(join(dir, p))));
  return all.flat().sort();
}

const finished = (result: string) => analysisEnded(s.t.api, result, 30_000);

beforeAll(async () => {
  await s.w.register(SYS);
  await s.w.assess(SYS);
  await s.w.register(FRESH);
  await s.w.until(SYS, (v) => v.stage === 'bias_testing', 'stage bias_testing');
});

describe('POST /api/v1/systems/:id/bias-evidence/predictions', () => {
  it('streams the file into the blob store, answers 202 with the link, and the link turns into the verdicts', async () => {
    const res = await upload(SYS, unfair, { query: `${QUERY}&dataset=holdout%202026-Q3` });
    expect(res.statusCode, res.body).toBe(202);
    const body = res.json();
    expect(body).toMatchObject({ status: 'running', sha256: sha(unfair), bytes: Buffer.byteLength(unfair) });
    expect(body.analysisId).toMatch(/^an-[0-9a-f]{24}$/);
    expect(body.result).toBe(`/api/v1/systems/${SYS}/bias-evidence/analyses/${body.analysisId}`);
    expect(res.headers.location).toBe(body.result);
    expect(await storedBlobs()).toContain(sha(unfair));

    const done = await finished(body.result);
    expect(done).toMatchObject({
      analysisId: body.analysisId,
      status: 'completed',
      sha256: sha(unfair),
      dataset: 'holdout 2026-Q3',
      submittedBy: 'admin@example.org',
      modelVersion: example('register.json').model.version,
      effectiveDate: new Date().toISOString().slice(0, 10),
      spec: { format: 'csv', label: 'label', prediction: 'prediction', sensitive: ['gender', 'age_band'] },
    });
    expect(done.report.sha256).toBe(sha(unfair));
    expect(done.report.rows).toBe(800);
    expect(done.evidence.version).toBe(done.evidenceVersion);
    expect(done.evidence.failed).toContain('demographic_parity_ratio:gender');
    const dpr = done.evidence.verdicts.find(
      (v: any) => v.name === 'demographic_parity_ratio' && v.sensitiveFeature === 'gender',
    );
    expect(dpr).toMatchObject({ verdict: 'fail', source: 'computed', gating: true });
    expect(dpr.groups).toEqual([
      { group: 'F', count: 400 },
      { group: 'M', count: 400 },
    ]);

    const list = await s.t.api.inject({ method: 'GET', url: `/api/v1/systems/${SYS}/bias-evidence/analyses` });
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json().analyses[0]).toMatchObject({ analysisId: body.analysisId, status: 'completed' });
    expect(list.json().analyses[0].report).toBeUndefined();
  });

  it('takes JSON Lines by its content type, and octet-stream with format=', async () => {
    const jsonl = predictionsJsonl(genderAndAgeGroups(() => 0.5, 100));
    const res = await upload(SYS, jsonl, { type: 'application/x-ndjson' });
    expect(res.statusCode, res.body).toBe(202);
    expect((await finished(res.json().result)).spec.format).toBe('jsonl');
    const octet = await upload(SYS, jsonl, { type: 'application/octet-stream', query: `${QUERY}&format=jsonl` });
    expect(octet.statusCode, octet.body).toBe(202);
    expect(octet.json().sha256).toBe(sha(jsonl));
    // The same bytes are one blob.
    expect((await storedBlobs()).filter((b) => b === sha(jsonl))).toHaveLength(1);
  });

  it('refuses a file over the policy limit with 413 naming it, keeping nothing', async () => {
    const big = predictionsCsv(genderAndAgeGroups(() => 0.5, 5000));
    expect(Buffer.byteLength(big)).toBeGreaterThan(MAX_BYTES);
    const before = await storedBlobs();
    // Announced too large: refused before a byte is read. Streamed without a length: refused at the limit.
    const announced = await upload(SYS, big);
    expect(announced.statusCode, announced.body).toBe(413);
    expect(announced.json()).toEqual({
      error: 'body_too_large',
      message: `the predictions file is over the limit of ${MAX_BYTES} bytes (policy biasTesting.uploads.maxBytes)`,
    });
    expect(announced.headers.connection).toBe('close');
    const streamed = await s.t.api.inject({
      method: 'POST',
      url: `/api/v1/systems/${SYS}/bias-evidence/predictions?${QUERY}`,
      headers: { 'content-type': 'text/csv', 'transfer-encoding': 'chunked' },
      payload: Readable.from([Buffer.from(big)]),
    });
    expect(streamed.statusCode, streamed.body).toBe(413);
    expect(streamed.json().message).toContain(String(MAX_BYTES));
    expect(await storedBlobs()).toEqual(before);
    expect(await readdir(join(s.t.blobs.dir, '.tmp'))).toEqual([]);
  });

  it('names each column the file lacks, and refuses a file without data rows', async () => {
    const cases: [string, string, string, RegExp][] = [
      [
        unfair,
        'label=outcome&prediction=prediction&sensitive=gender,age_band,region&weight=w',
        'text/csv',
        /querystring\.label: column "outcome" is not in the file's header; it has: "label", "prediction", "gender", "age_band"; querystring\.sensitive: column "region" .*; querystring\.weight: column "w"/,
      ],
      [
        predictionsJsonl(genderAndAgeGroups(() => 0.5, 10)),
        `${QUERY}&score=p`,
        'application/jsonl',
        /^querystring\.score: column "p" is not in the file's first row/,
      ],
      ['', QUERY, 'text/csv', /^body: the file is empty$/],
      ['label,prediction,gender,age_band\n\n', QUERY, 'text/csv', /^body: the file has a header but no data rows$/],
      ['\n \n\n', QUERY, 'application/x-ndjson', /^body: the file has no data rows: no line is a JSON object$/],
    ];
    for (const [file, query, type, message] of cases) {
      const res = await upload(SYS, file, { query, type });
      expect(res.statusCode, `${query} ${type}: ${res.body}`).toBe(422);
      expect(res.json().error).toBe('invalid_predictions');
      expect(res.json().message).toMatch(message);
      expect(res.json().issues.length).toBeGreaterThan(0);
    }
  });

  it('refuses bad parameters and other content types, naming them', async () => {
    const cases: [string, string, number, string, RegExp][] = [
      ['application/json', QUERY, 415, 'unsupported_media_type', /takes the file as text\/csv, application\/x-ndjson/],
      [
        'application/octet-stream',
        QUERY,
        422,
        'validation_failed',
        /querystring\.format: is required with application\/octet-stream/,
      ],
      [
        'text/csv',
        `${QUERY}&format=jsonl`,
        422,
        'validation_failed',
        /querystring\.format: is jsonl, but the body is sent as text\/csv/,
      ],
      [
        'text/csv',
        'label=label&prediction=prediction',
        422,
        'validation_failed',
        /querystring\.sensitive: is required/,
      ],
      ['text/csv', `${QUERY}&effectiveDate=tomorrow`, 422, 'validation_failed', /querystring\.effectiveDate/],
      ['text/csv', `${QUERY}&lable=x`, 422, 'validation_failed', /lable/],
      [
        'text/csv',
        `${QUERY}&submittedBy=someone-else@example.org`,
        422,
        'actor_mismatch',
        /querystring\.submittedBy: must be the authenticated caller \(admin@example\.org\)/,
      ],
    ];
    for (const [type, query, status, error, message] of cases) {
      const res = await upload(SYS, unfair, { type, query });
      expect(res.statusCode, `${type} ${query}: ${res.body}`).toBe(status);
      expect(res.json()).toMatchObject({ error });
      expect(res.json().message).toMatch(message);
    }
  });

  it("applies the workflow's rules before reading the file: stage, model version, the registration's features", async () => {
    const before = await storedBlobs();
    const fresh = await upload(FRESH, unfair);
    expect(fresh.statusCode, fresh.body).toBe(409);
    expect(fresh.json()).toMatchObject({ error: 'wrong_stage', stage: 'impact_assessment' });

    const version = await upload(SYS, unfair, { query: `${QUERY}&modelVersion=9.9.9` });
    expect(version.statusCode, version.body).toBe(422);
    expect(version.json().issues).toEqual([
      { path: 'querystring.modelVersion', message: expect.stringContaining(example('register.json').model.version) },
    ]);

    const features = await upload(SYS, unfair, { query: 'label=label&prediction=prediction&sensitive=gender' });
    expect(features.statusCode, features.body).toBe(422);
    expect(features.json().issues).toEqual([{ path: 'querystring.sensitive', message: 'must include age_band' }]);
    expect(await storedBlobs()).toEqual(before);
  });
});

describe('GET /api/v1/systems/:id/bias-evidence/analyses/:analysisId', () => {
  it('answers 404 for an analysis the system never had, and 422 for what is not an analysis id', async () => {
    const unknown = await s.t.api.inject({
      method: 'GET',
      url: `/api/v1/systems/${SYS}/bias-evidence/analyses/an-${'0'.repeat(24)}`,
    });
    expect(unknown.statusCode, unknown.body).toBe(404);
    expect(unknown.json()).toEqual({ error: 'not_found', message: `no analysis an-${'0'.repeat(24)} of ${SYS}` });
    const bad = await s.t.api.inject({ method: 'GET', url: `/api/v1/systems/${SYS}/bias-evidence/analyses/42` });
    expect(bad.statusCode, bad.body).toBe(422);
    expect(bad.json().issues[0].path).toBe('params.analysisId');
  });
});
