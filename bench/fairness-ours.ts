/**
 * Our side of the fairness benchmark (bench/fairness.ts), run as its own process so that its peak memory is its
 * own: the fairness report of a predictions file as the computeFairness activity makes it (the same
 * analysePredictions call, with the options the workflow takes from the policy: thresholds, level, minimum group
 * size, verdict mode, bootstrap resamples and seed, upload limits), so the time runs from the file to verdicts
 * with intervals. Prints one JSON object (oursResultSchema in bench/fairness.ts).
 *
 *   node --import tsx bench/fairness-ours.ts FILE --label COL --prediction COL --sensitive COL,COL
 */
import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadPolicy } from '../config/policy-file.js';
import { gateOf } from '../domain/bias-gate.js';
import { INTERSECTION_JOINER, RATE_NAMES } from '../domain/fairness/schema.js';
import { analysePredictions } from '../fairness/reader.js';
import type { FairnessOursResult } from './fairness.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { label: { type: 'string' }, prediction: { type: 'string' }, sensitive: { type: 'string' } },
});
const file = positionals[0];
if (!file || !values.label || !values.prediction || !values.sensitive) {
  console.error('usage: fairness-ours.ts FILE --label COL --prediction COL --sensitive COL[,COL…]');
  process.exit(2);
}
const sensitive = values.sensitive.split(',');
const gate = gateOf(await loadPolicy());
if (!gate) {
  console.error('fairness-ours.ts: the policy has no biasTesting section to take the engine options from');
  process.exit(2);
}

// Started after the policy is loaded and before the file is opened: what is timed is file → verdicts.
const started = performance.now();
const cpuStarted = process.cpuUsage();
const report = await analysePredictions(
  createReadStream(file),
  { format: 'csv', label: values.label, prediction: values.prediction, sensitive },
  {
    level: gate.level,
    resamples: gate.bootstrap.resamples,
    seed: gate.bootstrap.seed,
    minGroupSize: gate.minGroupSize,
    mode: gate.verdicts,
    thresholds: gate.thresholds,
    maxBytes: gate.uploads.maxBytes,
    maxMalformedRows: gate.uploads.maxMalformedRows,
  },
);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStarted);

const intersection = sensitive.join(INTERSECTION_JOINER);
const groups = report.groups.filter((g) => g.intersection && !g.empty);
const metric = (name: string) => report.metrics.find((m) => m.name === name && m.feature === intersection);
const result: FairnessOursResult = {
  rows: report.rows,
  seconds,
  cpu_seconds: (cpu.user + cpu.system) / 1e6,
  // maxRSS is in KiB.
  peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  resamples: report.settings.resamples,
  groups: groups.length,
  rates: Object.fromEntries(groups.map((g) => [g.group, Object.fromEntries(RATE_NAMES.map((r) => [r, g[r].value]))])),
  selection_rate_difference: metric('demographic_parity_difference')?.value ?? null,
  selection_rate_ratio: metric('demographic_parity_ratio')?.value ?? null,
  intervals: report.metrics.filter((m) => m.ci !== null).length,
  verdicts: report.metrics.filter((m) => m.verdict !== undefined).length,
  sha256: report.sha256,
};
console.log(JSON.stringify(result));
