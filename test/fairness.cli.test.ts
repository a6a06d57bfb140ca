/**
 * `ai-lifecycle fairness` as a data scientist runs it: the real binary (cli/bin.mjs) from a directory outside the
 * project, no server. --json prints exactly one object in the shape the Fairlearn parity test reads; without it a
 * table; a bad file or flag is a message and exit 2.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fairnessReportSchema } from '../domain/fairness/schema.js';
import { PROJECT_ROOT } from './support/product-process.js';

const BIN = join(PROJECT_ROOT, 'cli', 'bin.mjs');

function runCli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: unknown }).code : 0;
      if (typeof code !== 'number') reject(new Error(`ai-lifecycle did not exit normally: ${err?.message}\n${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fairness-cli-'));
  // sex F: 6 rows, 4 selected; M: 6 rows, 1 selected. No F × b row: an empty intersection.
  const rows = [
    ['1', '1', 'F', 'a'],
    ['1', '1', 'F', 'a'],
    ['0', '1', 'F', 'a'],
    ['0', '1', 'F', 'a'],
    ['1', '0', 'F', 'a'],
    ['0', '0', 'F', 'a'],
    ['1', '1', 'M', 'a'],
    ['1', '0', 'M', 'b'],
    ['0', '0', 'M', 'b'],
    ['0', '0', 'M', 'b'],
    ['1', '0', 'M', 'b'],
    ['0', '0', 'M', 'b'],
  ];
  await writeFile(
    join(dir, 'preds.csv'),
    ['label,pred,sex,site,notes', ...rows.map((r) => `${r.join(',')},"x, y"`)].join('\r\n'),
  );
  await writeFile(join(dir, 'thresholds.json'), JSON.stringify({ demographic_parity_difference: { max: 0.1 } }));
  await writeFile(join(dir, 'bad.csv'), 'label,pred,sex\n1,1,F\n1,3,M\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const base = ['fairness', 'preds.csv', '--label', 'label', '--prediction', 'pred', '--sensitive', 'sex,site'];

describe('ai-lifecycle fairness', () => {
  it('--json prints one object: groups with rates and intervals, metrics with verdicts', async () => {
    const r = await runCli(
      [...base, '--json', '--min-group-size', '1', '--thresholds', 'thresholds.json', '--mode', 'point', '--seed', '3'],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    const report = fairnessReportSchema.parse(JSON.parse(r.stdout));
    const f = report.groups.find((g) => g.feature === 'sex' && g.group === 'F')!;
    expect(f.count).toBe(6);
    expect(f.selection_rate.value).toBeCloseTo(4 / 6, 15);
    expect(f.selection_rate.ci![0]).toBeLessThan(4 / 6);
    expect(f.true_positive_rate.value).toBeCloseTo(2 / 3, 15);
    const empty = report.groups.find((g) => g.feature === 'sex × site' && g.group === 'F × b')!;
    expect(empty).toMatchObject({ empty: true, count: 0, selection_rate: { value: null, ci: null } });
    const dp = report.metrics.find((m) => m.name === 'demographic_parity_difference' && m.feature === 'sex')!;
    expect(dp.value).toBeCloseTo(4 / 6 - 1 / 6, 15);
    expect(dp.verdict).toBe('fail');
    expect(dp.ci).not.toBeNull();
    const ff = report.metrics.find((m) => m.name === 'four_fifths_rule' && m.feature === 'sex')!;
    expect(ff.value).toBeCloseTo(1 / 4, 15);
    expect(ff.p_value).toBeGreaterThan(0);
    expect(report.settings).toMatchObject({ seed: 3, minGroupSize: 1, mode: 'point' });
    expect(new Set(report.metrics.map((m) => m.feature))).toEqual(new Set(['sex', 'site', 'sex × site']));
  });

  it('prints a readable table without --json', async () => {
    const r = await runCli([...base, '--resamples', '50'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^preds\.csv: 12 rows, sha256 [0-9a-f]{64}/);
    expect(r.stdout).toMatch(/\n {2}F \(small\)\s+6\s+0\.667 \[/);
    expect(r.stdout).toMatch(/F × b\s+0\s+empty intersection, left out/);
    expect(r.stdout).toMatch(/four_fifths_rule\s+sex\s+0\.250 .*inconclusive: below the minimum group size of 30/);
  });

  it('a bad file or flag is a message and exit 2', async () => {
    const bad = await runCli(
      ['fairness', 'bad.csv', '--label', 'label', '--prediction', 'pred', '--sensitive', 'sex'],
      dir,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.csv: column "pred" is not binary: line 3 has "3"/);
    const missing = await runCli([...base.slice(0, 6), '--sensitive', 'race', '--json'], dir);
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout)).toMatchObject({
      error: 'invalid_predictions',
      message: 'preds.csv: column "race" not in the header; it has: "label", "pred", "sex", "site", "notes"',
    });
    const level = await runCli([...base, '--level', '95'], dir);
    expect(level.code).toBe(2);
    expect(level.stderr).toMatch(/--level 95 is not a level between 0 and 1/);
    const noLabel = await runCli(['fairness', 'preds.csv', '--prediction', 'pred', '--sensitive', 'sex'], dir);
    expect(noLabel.code).toBe(2);
    expect(noLabel.stderr).toMatch(/fairness needs --label COL/);
  });
});
