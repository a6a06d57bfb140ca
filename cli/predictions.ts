/**
 * `ai-lifecycle evidence <id> --predictions FILE …`: a CI job uploads its model's predictions and the server
 * computes the fairness metrics (api/routes/predictions.ts); with --wait it waits for the verdicts and exits with
 * a code the job can stop on. `accept-fairness-risk`: the governance lead's recorded acceptance of metrics that
 * hold approval.
 */
import { createReadStream } from 'node:fs';
import { headProblems, readHead } from '../fairness/head.js';
import type { MetricVerdict } from '../domain/evidence.js';
import { COLUMN_FLAGS, readableFileSize, specFromFlags, type ColumnFlags } from './prediction-flags.js';
import { CliError, EXIT, type Issue } from './errors.js';
import type { Api } from './http.js';

export const PREDICTIONS_USAGE = `  evidence <id> --predictions FILE --label COL --prediction COL --sensitive COL[,COL…]
           [--positive VALUE] [--weight COL] [--score COL] [--format csv|jsonl] [--dataset TEXT]
           [--effective-date YYYY-MM-DD] [--model-version V] [--wait [--timeout 30m] [--interval 2s]]
                                upload the model's predictions (CSV or JSON Lines, streamed): the server
                                computes the fairness metrics and judges them by the policy. Prints the
                                result link; --wait waits for the verdicts and prints each one (exit 6: the
                                analysis failed; exit 7: a gating verdict fails or is inconclusive).
                                --effective-date defaults to today, --model-version to the system's own
  accept-fairness-risk <id> --evidence-version N --metrics METRIC:FEATURE[,…] --reasons TEXT
                                (governance lead) accept the risk of fairness metrics that fail or are
                                inconclusive on that evidence version, with the reasons on record`;

/** The flags of both commands (parseArgs' values). */
export interface PredictionFlags extends ColumnFlags {
  predictions?: string | undefined;
  dataset?: string | undefined;
  'effective-date'?: string | undefined;
  'model-version'?: string | undefined;
  wait?: boolean | undefined;
  'evidence-version'?: string | undefined;
  metrics?: string | undefined;
  reasons?: string | undefined;
}

/** Only with --predictions: without it `evidence` sends a JSON file of metrics. */
export const PREDICTION_ONLY_FLAGS = [
  ...COLUMN_FLAGS,
  'dataset',
  'effective-date',
  'model-version',
  'wait',
  'timeout',
  'interval',
] as const;

interface Output {
  json: object;
  text: string | null;
  exitCode?: number;
}

interface Io {
  api: Api;
  note: (line: string) => void;
  timeoutMs: number;
  intervalMs: number;
}

/** What the server's refusals name (query parameters, body fields), as the flags that set them. */
const FLAGS: Record<string, string> = {
  label: '--label',
  prediction: '--prediction',
  sensitive: '--sensitive',
  positive: '--positive',
  weight: '--weight',
  score: '--score',
  format: '--format',
  dataset: '--dataset',
  effectiveDate: '--effective-date',
  modelVersion: '--model-version',
  evidenceVersion: '--evidence-version',
  metrics: '--metrics',
  reasons: '--reasons',
};

/** A refusal's issues told in flags, and its message with them. */
function inFlags(err: unknown, file?: string): unknown {
  if (!(err instanceof CliError) || !err.body.issues?.length) return err;
  err.body.issues = err.body.issues.map((i) => {
    const field = i.path.replace(/^(querystring|body)\./, '');
    if (i.path === 'body' && file) return { ...i, path: file };
    return { ...i, path: FLAGS[field] ?? i.path };
  });
  err.body.message = err.body.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return err;
}

const invalidOptions = (command: string, issues: Issue[]) =>
  new CliError(EXIT.USAGE, { error: 'invalid_options', message: `invalid ${command} options`, issues });

interface Analysis {
  analysisId: string;
  status: 'running' | 'completed' | 'failed' | 'superseded';
  result: string;
  sha256: string;
  bytes: number;
  evidenceVersion: number | null;
  error?: string | null;
  issues?: { line: number; message: string }[];
  report?: { rows: number };
  evidence?: {
    version: number;
    failed: string[];
    inconclusive: string[];
    accepted: { metrics: string[] }[];
    verdicts: MetricVerdict[];
  } | null;
}

export async function uploadPredictions(id: string, flags: PredictionFlags, io: Io): Promise<Output> {
  const file = flags.predictions!;
  const spec = specFromFlags('evidence --predictions', file, flags);
  const { format, sensitive } = spec;
  const date = flags['effective-date'];
  if (date !== undefined && (!/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`)))) {
    throw invalidOptions('evidence', [{ path: '--effective-date', message: 'must be a date like 2026-11-20' }]);
  }
  const bytes = await readableFileSize(file);
  // The server refuses these too, but only once the whole file is up: say it before sending gigabytes.
  const problems = headProblems(await readHead(createReadStream(file), format), spec, bytes);
  if (problems.length) {
    throw new CliError(EXIT.USAGE, {
      error: 'invalid_predictions',
      message: problems.map((p) => `${p.param === 'body' ? file : `--${p.param}`}: ${p.message}`).join('; '),
      issues: problems.map((p) => ({ path: p.param === 'body' ? file : `--${p.param}`, message: p.message })),
      file,
    });
  }

  const query = new URLSearchParams({ label: spec.label, prediction: spec.prediction, sensitive: sensitive.join(',') });
  const optional: [string, string | undefined][] = [
    ['positive', spec.positive],
    ['weight', spec.weight],
    ['score', spec.score],
    ['format', format],
    ['dataset', flags.dataset],
    ['effectiveDate', date],
    ['modelVersion', flags['model-version']],
  ];
  for (const [name, value] of optional) if (value !== undefined) query.set(name, value);
  let sent: Analysis & { stage: string };
  try {
    sent = await io.api.upload(
      io.api.systemPath(id, `/bias-evidence/predictions?${query}`),
      file,
      bytes,
      format === 'csv' ? 'text/csv' : 'application/x-ndjson',
    );
  } catch (err) {
    throw inFlags(err, file);
  }
  const link = `${io.api.server}${sent.result}`;
  if (!flags.wait) {
    return {
      json: { ...sent, result: link },
      text:
        `predictions uploaded for ${id} (${sent.bytes} bytes, sha256 ${sent.sha256}): analysis ${sent.analysisId} running\n` +
        `  ${link}`,
    };
  }

  io.note(`predictions uploaded for ${id}: analysis ${sent.analysisId} running (${link})`);
  const deadline = Date.now() + io.timeoutMs;
  for (;;) {
    const a = await io.api.request<Analysis>('GET', sent.result);
    if (a.status !== 'running') return outcome(id, { ...a, result: link });
    const left = deadline - Date.now();
    if (left <= 0) {
      return {
        exitCode: EXIT.TIMEOUT,
        json: { ...a, result: link, outcome: 'timeout', exitCode: EXIT.TIMEOUT },
        text: `analysis ${a.analysisId} of ${id} still running after the --timeout; follow it at ${link}`,
      };
    }
    await new Promise((r) => setTimeout(r, Math.min(io.intervalMs, left)));
  }
}

const num = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x.toFixed(3));

/** The analysis at its end: failed or superseded (6), holding approval (7), or clear (0). */
function outcome(id: string, a: Analysis): Output {
  const { report: _report, ...view } = a;
  if (a.status === 'failed' || a.status === 'superseded' || !a.evidence) {
    const why =
      a.status === 'failed'
        ? `failed: ${a.error}`
        : a.status === 'superseded'
          ? `completed, but its verdicts did not become the evidence: ${a.error}`
          : `completed as evidence v${a.evidenceVersion}, which later evidence has replaced`;
    const lines = [
      `analysis ${a.analysisId} of ${id} ${why}`,
      ...(a.issues ?? []).map((i) => `  line ${i.line}: ${i.message}`),
    ];
    return {
      exitCode: EXIT.ANALYSIS_FAILED,
      json: { ...view, outcome: a.status === 'completed' ? 'replaced' : a.status, exitCode: EXIT.ANALYSIS_FAILED },
      text: lines.join('\n'),
    };
  }
  const e = a.evidence;
  const accepted = new Set(e.accepted.flatMap((x) => x.metrics));
  const held = [...e.failed, ...e.inconclusive].filter((k) => !accepted.has(k));
  const rows = e.verdicts.map((v) => {
    const key = `${v.name}:${v.sensitiveFeature}`;
    return [
      v.name,
      v.sensitiveFeature,
      v.value === null ? 'undefined' : num(v.value),
      v.ci ? `[${num(v.ci[0])}, ${num(v.ci[1])}]` : '',
      `${v.verdict ?? (v.passed ? 'pass' : 'fail')}${v.gating ? '' : ' (not gating)'}${accepted.has(key) ? ' (risk accepted)' : ''}`,
      (v.groups ?? []).map((g) => `${g.group} ${g.count}`).join(', ') +
        (v.groupCount !== undefined && v.groupCount > (v.groups?.length ?? 0) ? `, … (${v.groupCount} in all)` : ''),
    ];
  });
  const header = ['metric', 'feature', 'value', 'interval', 'verdict', 'groups (rows)'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const exitCode = held.length ? EXIT.FAIRNESS_HELD : EXIT.OK;
  return {
    exitCode,
    json: { ...view, outcome: held.length ? 'held' : 'clear', held, exitCode },
    text: [
      `analysis ${a.analysisId} of ${id} completed: bias evidence v${e.version}` +
        `${a.report ? ` from ${a.report.rows} rows` : ''} (sha256 ${a.sha256})`,
      ...[header, ...rows].map((r) => `  ${line(r)}`),
      held.length
        ? `approval is held by ${held.join(', ')}: new passing predictions, or the governance lead's acceptance of the risk, release it`
        : 'no gating fairness metric holds approval',
    ].join('\n'),
  };
}

export async function acceptFairnessRisk(id: string, flags: PredictionFlags, api: Api): Promise<Output> {
  const issues: Issue[] = [];
  const version = Number(flags['evidence-version']);
  if (flags['evidence-version'] === undefined) issues.push({ path: '--evidence-version', message: 'is required' });
  else if (!Number.isInteger(version) || version < 1) {
    issues.push({ path: '--evidence-version', message: 'must be a whole number ≥ 1, e.g. 2' });
  }
  const metrics = (flags.metrics ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  if (!metrics.length) issues.push({ path: '--metrics', message: 'name at least one METRIC:FEATURE' });
  if (!flags.reasons?.trim()) issues.push({ path: '--reasons', message: 'is required: why the risk is accepted' });
  if (issues.length) throw invalidOptions('accept-fairness-risk', issues);
  let r: { evidenceVersion: number; accepted: string[]; open: string[]; stage: string };
  try {
    r = await api.request('POST', api.systemPath(id, '/bias-evidence/risk-acceptance'), {
      evidenceVersion: version,
      metrics,
      reasons: flags.reasons,
    });
  } catch (err) {
    throw inFlags(err);
  }
  return {
    json: { id, ...r },
    text:
      `fairness risk accepted for ${id} on evidence v${r.evidenceVersion}: ${r.accepted.join(', ')}; ` +
      `${r.open.length ? `still holding approval: ${r.open.join(', ')}` : 'no metric holds approval any more'}; stage ${r.stage}`,
  };
}
