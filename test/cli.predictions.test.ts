/**
 * `ai-lifecycle evidence <id> --predictions FILE` and `accept-fairness-risk` as a CI job runs them: the real
 * binary (`node cli/bin.mjs`) from a directory outside the project, against the API of the lifecycle harness
 * (real activities, real blob store, time-skipping Temporal) listening on a port. The file is streamed up, the
 * result link printed, and --wait's exit code tells a clear gate (0) from a held one (7) and a failed analysis (6).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy } from '../config/policy-file.js';
import { example } from './support/examples.js';
import { GOVERNANCE_LEAD, lifecycleSuite } from './support/lifecycle-env.js';
import { genderAndAgeGroups, predictionsCsv } from './support/predictions.js';
import { PROJECT_ROOT } from './support/product-process.js';

const BIN = join(PROJECT_ROOT, 'cli', 'bin.mjs');
const base = await loadPolicy();
/** Small enough for a test file to go over; the shipped limit is 2 GiB. */
const MAX_BYTES = 300_000;
const s = lifecycleSuite({
  policy: {
    ...base,
    biasTesting: { ...base.biasTesting, uploads: { ...base.biasTesting.uploads, maxBytes: MAX_BYTES } },
  },
});

const OWNER: string = example('register.json').owner;
const GATED = 'cli-upload-gated';
const OTHER = 'cli-upload-other';
const COLUMNS = ['--label', 'label', '--prediction', 'prediction', '--sensitive', 'gender,age_band'];
const WAIT = ['--wait', '--interval', '100ms', '--timeout', '60s'];

let server: string;
let workDir: string;
let teamKey: string;
let leadKey: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], key = teamKey): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, AI_LIFECYCLE_API_KEY: key };
  delete env.AI_LIFECYCLE_URL;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, '--server', server, ...args],
      { cwd: workDir, env, timeout: 120_000, maxBuffer: 8 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        if (typeof code !== 'number') reject(new Error(`ai-lifecycle ${args.join(' ')}: ${err?.message}\n${stderr}`));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}
const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

const file = async (name: string, content: string) => {
  await writeFile(join(workDir, name), content);
  return name;
};

/** Every blob the harness's store holds. */
async function storedBlobs(): Promise<string[]> {
  const dir = s.t.blobs.dir;
  const prefixes = (await readdir(dir).catch(() => [] as string[])).filter((p) => p !== '.tmp');
  return (await Promise.all(prefixes.map((p) => readdir(join(dir, p))))).flat().sort();
}

beforeAll(async () => {
  await s.t.api.listen({ port: 0, host: '127.0.0.1' });
  server = `http://127.0.0.1:${(s.t.api.server.address() as AddressInfo).port}`;
  workDir = await mkdtemp(join(tmpdir(), 'cli-predictions-'));
  teamKey = await s.t.keys({ email: OWNER, role: 'ai-team' });
  leadKey = await s.t.keys({ email: GOVERNANCE_LEAD, role: 'governance-lead' });
  for (const id of [GATED, OTHER]) {
    await s.w.register(id);
    await s.w.assess(id);
    await s.w.until(id, (v) => v.stage === 'bias_testing', 'stage bias_testing');
  }
  await file('failing.csv', predictionsCsv(genderAndAgeGroups((g) => (g === 'F' ? 0.1 : 0.4), 1000)));
  await file('passing.csv', predictionsCsv(genderAndAgeGroups(() => 0.5, 1000)));
  await file('predictions.data', predictionsCsv(genderAndAgeGroups(() => 0.5, 10)));
  await file(
    'not-binary.csv',
    predictionsCsv(genderAndAgeGroups(() => 0.5, 1000)).replace(/\n1,0,F,18-39\n/, '\nmaybe,0,F,18-39\n'),
  );
  await file('huge.csv', predictionsCsv(genderAndAgeGroups(() => 0.5, 10_000)));
});
afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('ai-lifecycle evidence --predictions', () => {
  it('refuses bad flags and a file lacking a named column before anything is sent (exit 2)', async () => {
    const before = await storedBlobs();
    const cases: [string[], RegExp][] = [
      [['evidence', GATED, '--predictions', 'failing.csv', '--label', 'label'], /needs --prediction COL/],
      [
        ['evidence', GATED, '--predictions', 'predictions.data', ...COLUMNS],
        /cannot tell the format of predictions\.data/,
      ],
      [['evidence', GATED, '--predictions', 'missing.csv', ...COLUMNS], /cannot read missing\.csv: no such file/],
      [['evidence', GATED, 'evidence.json', '--label', 'label'], /evidence takes --label only with --predictions FILE/],
      [
        ['evidence', GATED, '--predictions', 'failing.csv', ...COLUMNS, '--effective-date', '20 Nov'],
        /--effective-date: must be a date/,
      ],
      [
        [
          'evidence',
          GATED,
          '--predictions',
          'failing.csv',
          '--label',
          'outcome',
          '--prediction',
          'prediction',
          '--sensitive',
          'gender,region',
        ],
        /--label: column "outcome" is not in the file's header.*\n.*--sensitive: column "region"/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.code, show(r)).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect(await storedBlobs()).toEqual(before);
  });

  it('names the server’s refusals in flags: the policy’s size limit, the registration’s features', async () => {
    const big = await cli(['evidence', GATED, '--predictions', 'huge.csv', ...COLUMNS]);
    expect(big.code, show(big)).toBe(2);
    expect(big.stderr).toContain(`the predictions file is over the limit of ${MAX_BYTES} bytes`);
    const features = await cli([
      'evidence',
      GATED,
      '--predictions',
      'passing.csv',
      '--label',
      'label',
      '--prediction',
      'prediction',
      '--sensitive',
      'gender',
    ]);
    expect(features.code, show(features)).toBe(2);
    expect(features.stderr).toContain('--sensitive: must include age_band');
  });

  it('without --wait prints the result link; with it, each verdict and exit 7 while one holds approval', async () => {
    const sent = await cli(['evidence', OTHER, '--predictions', 'failing.csv', ...COLUMNS, '--dataset', 'holdout Q3']);
    expect(sent.code, show(sent)).toBe(0);
    expect(sent.stdout).toMatch(
      new RegExp(`analysis an-[0-9a-f]{24} running\\n  ${server}/api/v1/systems/${OTHER}/bias-evidence/analyses/an-`),
    );

    const held = await cli(['evidence', GATED, '--predictions', 'failing.csv', ...COLUMNS, ...WAIT]);
    expect(held.code, show(held)).toBe(7);
    expect(held.stdout).toMatch(/completed: bias evidence v1 from 4000 rows/);
    expect(held.stdout).toMatch(
      /demographic_parity_ratio\s+gender\s+0\.250\s+\[[\d.]+, [\d.]+\]\s+fail\s+F 2000, M 2000/,
    );
    expect(held.stdout).toMatch(/demographic_parity_ratio\s+age_band\s+1\.000\s+\[[\d.]+, [\d.]+\]\s+pass/);
    expect(held.stdout).toMatch(/approval is held by .*demographic_parity_ratio:gender/);
  });

  it('--json prints one object; the governance lead accepts the risk, and the gate is clear (exit 0)', async () => {
    const held = await cli(['--json', 'evidence', GATED, '--predictions', 'failing.csv', ...COLUMNS, ...WAIT]);
    expect(held.code, show(held)).toBe(7);
    const out = JSON.parse(held.stdout);
    expect(out).toMatchObject({ status: 'completed', outcome: 'held', exitCode: 7, evidenceVersion: 2 });
    expect(out.held).toContain('demographic_parity_ratio:gender');
    expect(out.report).toBeUndefined();

    const args = ['accept-fairness-risk', GATED, '--evidence-version', '2', '--metrics', out.held.join(',')];
    const reasons = ['--reasons', 'Pilot with recruiters who read every application in full, until retraining.'];
    const noReasons = await cli(args, leadKey);
    expect(noReasons.code, show(noReasons)).toBe(2);
    expect(noReasons.stderr).toContain('--reasons: is required');
    const team = await cli([...args, ...reasons]);
    expect(team.code, show(team)).toBe(2);
    expect(team.stderr).toContain('needs the role governance-lead');
    const accepted = await cli([...args, ...reasons], leadKey);
    expect(accepted.code, show(accepted)).toBe(0);
    expect(accepted.stdout).toMatch(
      /fairness risk accepted for cli-upload-gated on evidence v2: .*no metric holds approval any more/,
    );
    const view = await s.w.view(GATED);
    expect(view.evidence.version).toBe(2);
  });

  it('exits 6 with the reason when the file cannot be analysed, and 0 when every gating verdict passes', async () => {
    const bad = await cli(['evidence', OTHER, '--predictions', 'not-binary.csv', ...COLUMNS, ...WAIT]);
    expect(bad.code, show(bad)).toBe(6);
    expect(bad.stdout).toMatch(/failed: column "label" is not binary: line \d+ has "maybe"/);
    const good = await cli(['evidence', OTHER, '--predictions', 'passing.csv', ...COLUMNS, ...WAIT]);
    expect(good.code, show(good)).toBe(0);
    expect(good.stdout).toContain('no gating fairness metric holds approval');
  });

  it('still submits declared metrics from a JSON file: evidence <id> <file.json>', async () => {
    await file('evidence.json', JSON.stringify(example('bias-evidence.json')));
    const r = await cli(['evidence', OTHER, 'evidence.json']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/bias evidence v\d+ recorded for cli-upload-other/);
  });
});
