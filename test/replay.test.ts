/**
 * Replay: every history in test/histories must replay against the current
 * workflow code. A lifecycle runs for years, so a worker deployed tomorrow
 * replays histories recorded today; a change to the workflow (or to anything
 * it runs: domain/, the activities it calls and in what order, a dependency
 * upgrade) that would issue different commands for the same history fails
 * here with a DeterminismViolationError instead of failing running lifecycles.
 *
 * The rule (README, Contributing): every change to workflow code is
 * replay-compatible, or behind patched('change-id') (then deprecatePatch,
 * then removed once no run from before it is open), or a new workflow
 * version (workflows/v1 is the frozen first one, left by a patched()
 * continue-as-new).
 *
 * Histories are append-only: test/histories/manifest.json holds the SHA-256
 * of each, the tests below fail when a file no longer matches or an entry
 * was ever changed in git, and the recorder refuses to overwrite a file. A
 * new branch or version gets a new scenario under a new name:
 *
 *   npx tsx test/support/record-histories.ts v2-my-new-branch
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, Worker, type ReplayResult } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { beforeAll, describe, expect, it } from 'vitest';
import { workflowIdFor } from '../domain/system.js';
import { workflowBundle } from '../worker/worker.js';
import { historyFromJson } from './support/history-json.js';

const { EventType } = temporal.api.enums.v1;
const historiesDir = fileURLToPath(new URL('./histories/', import.meta.url));
const incompatibleWorkflowsPath = fileURLToPath(new URL('./fixtures/incompatible/index.ts', import.meta.url));
const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/tightened/${name}`, import.meta.url));
const manifestFile = `${historiesDir}manifest.json`;

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
  const files = (await readdir(historiesDir)).filter((f) => f.endsWith('.json') && f !== 'manifest.json').sort();
  recorded = await Promise.all(
    files.map(async (file) => {
      const history = historyFromJson(JSON.parse(await readFile(`${historiesDir}${file}`, 'utf8')));
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

/** The workflow bundle with modules swapped for fixtures (webpack's NormalModuleReplacementPlugin, as the SDK uses). */
async function bundleWith(replacements: [RegExp, string][]) {
  const require = createRequire(createRequire(import.meta.url).resolve('@temporalio/worker'));
  const webpack = require('webpack') as { NormalModuleReplacementPlugin: new (re: RegExp, to: string) => unknown };
  return bundleWorkflowCode({
    workflowsPath,
    logger: quietBundler,
    webpackConfigHook: (config) => ({
      ...config,
      plugins: [
        ...(config.plugins ?? []),
        ...replacements.map(([re, to]) => new webpack.NormalModuleReplacementPlugin(re, to) as never),
      ],
    }),
  });
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('recorded histories are append-only', () => {
  it('every history matches the SHA-256 the manifest holds for it, and every entry has its file', async () => {
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Record<string, string>;
    const files = (await readdir(historiesDir)).filter((f) => f.endsWith('.json') && f !== 'manifest.json').sort();
    expect(Object.keys(manifest).sort(), 'a new history is added to the manifest by record-histories.ts').toEqual(
      files,
    );
    for (const file of files) {
      expect(sha256(await readFile(`${historiesDir}${file}`, 'utf8')), `${file} was re-recorded or edited`).toBe(
        manifest[file],
      );
    }
  });

  it('no commit ever changed or dropped a manifest entry', () => {
    let revisions: string[];
    try {
      revisions = execFileSync('git', ['log', '--format=%H', '--', 'test/histories/manifest.json'], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        encoding: 'utf8',
      })
        .split('\n')
        .filter(Boolean);
    } catch {
      return; // Not a git checkout (a source archive): the hash check above still holds.
    }
    const current = JSON.parse(readFileSync(manifestFile, 'utf8')) as Record<string, string>;
    for (const rev of revisions) {
      const old = JSON.parse(
        execFileSync('git', ['show', `${rev}:test/histories/manifest.json`], {
          cwd: fileURLToPath(new URL('..', import.meta.url)),
          encoding: 'utf8',
        }),
      ) as Record<string, string>;
      for (const [file, hash] of Object.entries(old)) expect(current[file], `${file} in ${rev}`).toBe(hash);
    }
  });
});

describe('replay of recorded histories', () => {
  it('has the recorded scenarios, each a real lifecycle history', () => {
    expect(recorded.length).toBeGreaterThanOrEqual(4);
    for (const { file, history, workflowId } of recorded) {
      const [first] = history.events ?? [];
      expect(first?.workflowExecutionStartedEventAttributes?.workflowType?.name, file).toBe('aiSystemLifecycle');
      expect(workflowId, file).toMatch(/^ai-system-replay(2l?)?-/);
      expect(history.events!.length, file).toBeGreaterThan(3);
    }
    // The lean copies run from patch lean-effects on: one records activity per step, which sends its e-mails.
    const lean = recorded.filter((r) => r.file.startsWith('v2-lean-'));
    expect(lean.length).toBeGreaterThanOrEqual(20);
    for (const { file, history } of lean) {
      const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
      // A run that only waited (the interval's next run) schedules nothing at all.
      if (scheduled.some(Boolean)) expect(scheduled, file).toContain('recordStep');
      expect(scheduled, file).not.toContain('recordBatch');
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

  it('the production bundle evaluates workflows/preload.ts once for all runs (webpack drops a bare import of a side-effect-free package)', async () => {
    const { code } = await workflowBundle();
    expect(code).toMatch(/preloadModules\(\) \{\s*__webpack_require__\([^)]*\.\/workflows\/preload\.ts/);
  });

  it('replays every version 2 history with every message schema tightened: handlers apply what was accepted', async () => {
    const bundle = await bundleWith([[/[\\/]submissions\.js$/, fixture('submissions.ts')]]);
    const v2 = recorded.filter((r) => r.file.startsWith('v2-'));
    expect(v2.length).toBeGreaterThanOrEqual(10);
    const results: ReplayResult[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, v2)) results.push(result);
    expect(results.map((r) => [r.workflowId, r.error ? `${r.error.name}: ${r.error.message}` : null])).toEqual(
      v2.map((r) => [r.workflowId, null]),
    );
  });

  it('the same tightening breaks version 1, whose handlers parsed again on replay', async () => {
    const bundle = await bundleWith([[/[\\/]model[\\/]assessment\.js$/, fixture('v1-assessment.ts')]]);
    const v1 = recorded.filter((r) => !r.file.startsWith('v2-') && r.file !== 'review-cycle-next-run.json');
    const results: ReplayResult[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, v1)) results.push(result);
    for (const [i, result] of results.entries()) expect(result.error, v1[i]!.file).toBeDefined();
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
