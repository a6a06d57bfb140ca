/**
 * computeFairness (activities/fairness.ts) in Temporal's activity test environment, against a real record store
 * (in-memory PGlite) and a real blob directory: what it returns to the workflow, what it stores, how it
 * heartbeats, and how a file it cannot read fails for good while anything else may be retried.
 */
import { rm, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFairnessActivities, FAIRNESS_REPORT_KIND } from '../activities/fairness.js';
import type { FileBlobStore } from '../blobs/index.js';
import { loadPolicy } from '../config/policy-file.js';
import {
  BAD_PREDICTIONS_FILE,
  MAX_SHOWN_GROUPS,
  computedFairnessSchema,
  type ComputeFairnessInput,
  type ComputedFairness,
  type PredictionSpecInput,
} from '../domain/bias-gate.js';
import type { FairnessReport } from '../domain/fairness/schema.js';
import { openStore, type Store } from '../store/index.js';
import { scratchBlobStore } from './support/blobs.js';
import { predictionsCsv, unfairGroups, type GroupSpec } from './support/predictions.js';

let store: Store;
let blobs: FileBlobStore;
let base: Omit<ComputeFairnessInput, 'blob' | 'spec'>;

beforeAll(async () => {
  store = await openStore({});
  blobs = scratchBlobStore('fairness-activity');
  const gate = (await loadPolicy()).biasTesting;
  base = {
    systemId: 'credit-scoring',
    analysisId: 'an-000000000000000000000001',
    options: {
      level: gate.level,
      // Few resamples: the arithmetic is the engine's (tested on its own); here only its wiring is.
      resamples: 50,
      seed: gate.bootstrap.seed,
      minGroupSize: gate.minGroupSize,
      mode: gate.verdicts,
      thresholds: gate.thresholds,
    },
    maxBytes: gate.uploads.maxBytes,
    maxMalformedRows: 2,
  };
});
afterAll(async () => {
  await store?.close();
  if (blobs) await rm(blobs.dir, { recursive: true, force: true });
});

const csvSpec: PredictionSpecInput = { format: 'csv', label: 'label', prediction: 'prediction', sensitive: ['sex'] };
const upload = async (content: string) =>
  (await blobs.put(Readable.from([Buffer.from(content)]), { maxBytes: 1e9 })).sha256;

function run(input: ComputeFairnessInput, onHeartbeat?: (details: unknown, env: MockActivityEnvironment) => void) {
  const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000, heartbeatTimeoutMs: 120_000 });
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => {
    beats.push(d);
    onHeartbeat?.(d, env);
  });
  const { computeFairness } = createFairnessActivities({ store, blobs });
  return { result: env.run(computeFairness, input) as Promise<ComputedFairness>, beats };
}

const reports = async () =>
  (await store.db.selectFrom('documents').select(['digest']).where('kind', '=', FAIRNESS_REPORT_KIND).execute()).map(
    (r) => r.digest,
  );

async function refusal(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('computeFairness', () => {
  it('returns the verdicts with their smallest groups, stores the whole report, and heartbeats the bytes read', async () => {
    const groups: GroupSpec[] = [
      { values: { sex: 'F', region: 'north' }, rows: 150, selectionRate: 0.1 },
      { values: { sex: 'F', region: 'south' }, rows: 50, selectionRate: 0.1 },
      { values: { sex: 'M', region: 'north' }, rows: 300, selectionRate: 0.4 },
      { values: { sex: 'M', region: 'south' }, rows: 100, selectionRate: 0.4 },
    ];
    const content = predictionsCsv(groups);
    const blob = await upload(content);
    const { result, beats } = run({ ...base, blob, spec: { ...csvSpec, sensitive: ['sex', 'region'] } });
    const computed = await result;

    expect(computedFairnessSchema.safeParse(computed).success).toBe(true);
    expect(computed).toMatchObject({
      sha256: blob,
      rows: 600,
      bytes: Buffer.byteLength(content),
      skippedRows: 0,
      features: ['sex', 'region'],
    });
    const stored = await store.getDocument(computed.reportDigest);
    expect(stored?.kind).toBe(FAIRNESS_REPORT_KIND);
    const report = stored!.content as FairnessReport;
    expect(report.sha256).toBe(blob);
    expect(report.groups.length).toBe(2 + 2 + 4);
    expect(report.metrics.length).toBe(computed.metrics.length);

    const dpr = (feature: string) =>
      computed.metrics.find((m) => m.name === 'demographic_parity_ratio' && m.feature === feature)!;
    // 15/150 + 5/50 = 20 of 200 women selected, 120 + 40 = 160 of 400 men: 0.1 against 0.4.
    expect(dpr('sex')).toMatchObject({
      intersection: false,
      verdict: 'fail',
      groupCount: 2,
      groups: [
        { group: 'F', count: 200 },
        { group: 'M', count: 400 },
      ],
    });
    expect(dpr('sex').value).toBeCloseTo(0.25, 12);
    expect(dpr('region').groups).toEqual([
      { group: 'south', count: 150 },
      { group: 'north', count: 450 },
    ]);
    const intersection = dpr('sex × region');
    expect(intersection.intersection).toBe(true);
    expect(intersection.groups.map((g) => g.count)).toEqual([50, 100, 150, 300]);
    expect(intersection.groupCount).toBe(4);
    // Each verdict matches the report's own.
    for (const m of computed.metrics) {
      const r = report.metrics.find((x) => x.name === m.name && x.feature === m.feature)!;
      expect([m.verdict, m.value, m.ci]).toEqual([r.verdict, r.value, r.ci]);
    }

    expect(beats.length).toBeGreaterThan(0);
    const first = beats[0] as { bytes: number };
    expect(first.bytes).toBeGreaterThan(0);
    expect(first.bytes).toBeLessThanOrEqual(Buffer.byteLength(content));
  });

  it(`keeps the ${MAX_SHOWN_GROUPS} smallest groups beside a verdict and counts them all`, async () => {
    const groups: GroupSpec[] = Array.from({ length: MAX_SHOWN_GROUPS + 5 }, (_, i) => ({
      values: { sex: `g${String(i).padStart(2, '0')}` },
      // Sizes out of order, so the order shown is the sort's.
      rows: 40 + ((i * 7) % 25) * 3,
      selectionRate: 0.3,
    }));
    const { result } = run({ ...base, blob: await upload(predictionsCsv(groups)), spec: csvSpec });
    const dpr = (await result).metrics.find((m) => m.name === 'demographic_parity_ratio')!;
    expect(dpr.groupCount).toBe(MAX_SHOWN_GROUPS + 5);
    const expected = groups
      .map((g) => ({ group: g.values.sex!, count: g.rows }))
      .sort((a, b) => a.count - b.count || a.group.localeCompare(b.group))
      .slice(0, MAX_SHOWN_GROUPS);
    expect(dpr.groups).toEqual(expected);
  });

  it('fails for good on a label that is not binary, naming it, and stores nothing', async () => {
    const before = await reports();
    const content = predictionsCsv(unfairGroups()).replace('\n1,0,F\n', '\nmaybe,0,F\n');
    expect(content).toContain('maybe');
    const failure = await refusal(run({ ...base, blob: await upload(content), spec: csvSpec }).result);
    expect(failure.type).toBe(BAD_PREDICTIONS_FILE);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/column "label" is not binary: line \d+ has "maybe"/);
    expect(failure.details).toEqual([{ issues: [] }]);
    expect(await reports()).toEqual(before);
  });

  it('lists the malformed rows, with their lines, when there are more than the policy allows', async () => {
    const lines = predictionsCsv(unfairGroups()).split('\n');
    for (const at of [3, 5, 9]) lines[at - 1] = '1,,F';
    const failure = await refusal(run({ ...base, blob: await upload(lines.join('\n')), spec: csvSpec }).result);
    expect(failure.type).toBe(BAD_PREDICTIONS_FILE);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/2 malformed row\(s\) allowed, and 3 found/);
    expect(failure.details).toEqual([
      {
        issues: [3, 5, 9].map((line) => ({ line, message: 'no value for column "prediction"' })),
      },
    ]);
  });

  it('fails for good on a blob the worker does not have, pointing at BLOB_DIR', async () => {
    const failure = await refusal(run({ ...base, blob: 'e'.repeat(64), spec: csvSpec }).result);
    expect(failure.type).toBe(BAD_PREDICTIONS_FILE);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(`sha256 ${'e'.repeat(64)}`);
    expect(failure.message).toContain('BLOB_DIR');
  });

  it('fails for good on a blob whose bytes no longer match its name', async () => {
    const blob = await upload(predictionsCsv(unfairGroups()).replace('F', 'X'));
    await writeFile(blobs.pathOf(blob), predictionsCsv(unfairGroups()));
    const failure = await refusal(run({ ...base, blob, spec: csvSpec }).result);
    expect(failure.type).toBe(BAD_PREDICTIONS_FILE);
    expect(failure.message).toContain(`no longer hash to ${blob}`);
  });

  it('throws anything else as it is, for Temporal to retry', async () => {
    // The record store down: a store whose writes fail, otherwise the real one.
    const down = Object.create(store, {
      putDocuments: { value: () => Promise.reject(new Error('connection to the database lost')) },
    }) as Store;
    const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 });
    const { computeFairness } = createFairnessActivities({ store: down, blobs });
    const blob = await upload(predictionsCsv(unfairGroups()));
    const err = await env.run(computeFairness, { ...base, blob, spec: csvSpec }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).toBe('connection to the database lost');
    expect(err).not.toBeInstanceOf(ApplicationFailure);
  });

  it('stops reading when the attempt is cancelled', async () => {
    const before = await reports();
    const big = predictionsCsv([
      { values: { sex: 'F' }, rows: 200_000, selectionRate: 0.2 },
      { values: { sex: 'M' }, rows: 200_000, selectionRate: 0.3 },
    ]);
    const { result } = run({ ...base, blob: await upload(big), spec: csvSpec }, (_d, env) => env.cancel());
    const err = await result.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CancelledFailure);
    expect(await reports()).toEqual(before);
  });
});
