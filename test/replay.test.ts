/**
 * Replay: every history in test/histories must replay against the current
 * workflow code. A lifecycle runs for years, so a worker deployed tomorrow
 * replays histories recorded today; a change to the workflow (or to anything
 * it runs: domain/machine.ts, the activities it calls and in what order, a
 * dependency upgrade) that would issue different commands for the same
 * history fails here with a DeterminismViolationError instead of failing the
 * running lifecycles in production.
 *
 * When this test fails, do NOT re-record the histories to make it pass. Either
 * make the change compatible, or guard it with `patched('change-id')` from
 * @temporalio/workflow (old branch for histories without the marker, new
 * branch otherwise; later `deprecatePatch`, then remove once no run from
 * before the change is open) or ship it as a new worker version.
 *
 * Re-record only when a change is meant to be incompatible and comes with
 * that patched()/versioning plan, or when adding a scenario; keep the old
 * files while runs recorded by the old code can still be open:
 *
 *   npx tsx test/support/record-histories.ts            # all scenarios
 *   npx tsx test/support/record-histories.ts review-cycle
 *
 * The script drives the lifecycles through the HTTP API on the time-skipping
 * test server and writes test/histories/<scenario>.json (proto3 JSON, the
 * format of `temporal workflow show --output json`); review the diff.
 */
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, Worker, type ReplayResult } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { beforeAll, describe, expect, it } from 'vitest';
import { workflowIdFor } from '../domain/system.js';
import { workflowBundle } from '../worker/worker.js';

const { EventType } = temporal.api.enums.v1;
const historiesDir = fileURLToPath(new URL('./histories/', import.meta.url));
const incompatibleWorkflowsPath = fileURLToPath(new URL('./fixtures/incompatible/index.ts', import.meta.url));

/**
 * The SDK's historyFromJSON, or the same proto3 JSON conversion done with the
 * protobufjs copy @temporalio/proto was built with: in this install
 * @temporalio/common and @temporalio/proto each get a private copy of
 * protobufjs 8, and protojson's `instanceof Type` check fails across copies
 * ("type must be a Type"). See test/support/record-histories.ts.
 */
function historyFrom(json: unknown): History {
  try {
    return historyFromJSON(json);
  } catch (err) {
    if (!(err instanceof TypeError && /type must be a Type/.test(err.message))) throw err;
    const require = createRequire(import.meta.url);
    const fromProto = createRequire(require.resolve('@temporalio/proto'));
    const protojson = fromProto('protobufjs/ext/protojson') as {
      fromJson(type: unknown, json: unknown): History | null;
    };
    const { patchProtobufRoot } = require('@temporalio/proto/lib/patch-protobuf-root') as {
      patchProtobufRoot(root: unknown): any;
    };
    const type = patchProtobufRoot(require('@temporalio/proto')).lookupType('temporal.api.history.v1.History');
    const history = protojson.fromJson(type, json);
    if (!history) throw new TypeError('Invalid history');
    return history;
  }
}

/** The workflow id the history ran under, from the registration in its start input. */
function workflowIdOf(history: History, fallback: string): string {
  const data = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
  if (!data) return fallback;
  const input = JSON.parse(Buffer.from(data).toString('utf8')) as { registration?: { id?: string } };
  return input.registration?.id ? workflowIdFor(input.registration.id) : fallback;
}

interface Recorded extends HistoryAndWorkflowId {
  file: string;
  history: History;
}

let recorded: Recorded[];

beforeAll(async () => {
  // Logging stays quiet through test/support/setup.ts: Core's warnings for the nondeterminism
  // the incompatible bundle is meant to hit are expected here.
  const files = (await readdir(historiesDir)).filter((f) => f.endsWith('.json')).sort();
  recorded = await Promise.all(
    files.map(async (file) => {
      const history = historyFrom(JSON.parse(await readFile(`${historiesDir}${file}`, 'utf8')));
      return { file, history, workflowId: workflowIdOf(history, file) };
    }),
  );
});

async function replayAll(options: Parameters<typeof Worker.runReplayHistories>[0]): Promise<ReplayResult[]> {
  const results: ReplayResult[] = [];
  for await (const result of Worker.runReplayHistories(options, recorded)) results.push(result);
  return results;
}

const quietBundler = new DefaultLogger('WARN');

describe('replay of recorded histories', () => {
  it('has the recorded scenarios, each a real lifecycle history', () => {
    expect(recorded.length).toBeGreaterThanOrEqual(4);
    for (const { file, history, workflowId } of recorded) {
      const [first] = history.events ?? [];
      expect(first?.workflowExecutionStartedEventAttributes?.workflowType?.name, file).toBe('aiSystemLifecycle');
      expect(workflowId, file).toMatch(/^ai-system-replay-/);
      expect(history.events!.length, file).toBeGreaterThan(3);
    }
    const last = (file: string) => recorded.find((r) => r.file === file)?.history.events?.at(-1)?.eventType;
    // The review cycle ends its first run with continue-as-new; retirement completes the workflow.
    expect(last('review-cycle.json')).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW);
    expect(last('incident-then-retired.json')).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
  });

  it('replays every history against the current workflow code', async () => {
    const results = await replayAll({ workflowBundle: await workflowBundle() });
    expect(results.map((r) => [r.workflowId, r.error ? `${r.error.name}: ${r.error.message}` : null])).toEqual(
      recorded.map((r) => [r.workflowId, null]),
    );
  });

  it('fails every history against an incompatible change (an extra activity first)', async () => {
    const bundle = await bundleWorkflowCode({ workflowsPath: incompatibleWorkflowsPath, logger: quietBundler });
    const results = await replayAll({ workflowBundle: bundle });
    expect(results).toHaveLength(recorded.length);
    for (const [i, result] of results.entries()) {
      expect(result.workflowId).toBe(recorded[i]!.workflowId);
      expect(result.error, recorded[i]!.file).toBeInstanceOf(DeterminismViolationError);
      expect(result.error?.message).toMatch(/Nondeterminism/);
    }
  });
});
