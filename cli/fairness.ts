/**
 * `ai-lifecycle fairness FILE …`: the fairness report computed on this machine, no server, for a data scientist's
 * own loop (fairness/reader.ts streams the file, domain/fairness/ does the arithmetic). With --json the report
 * (domain/fairness/schema.ts) is the one object printed; without, a table per feature and the metrics.
 */
import { createReadStream } from 'node:fs';
import { thresholdsSchema, type FairnessReport, type Rate } from '../domain/fairness/schema.js';
import { FairnessFileError, analysePredictions } from '../fairness/reader.js';
import { readableFileSize, specFromFlags, type ColumnFlags } from './prediction-flags.js';
import { CliError, EXIT, usageError } from './errors.js';
import { readJsonFile, validate } from './files.js';

export const FAIRNESS_USAGE = `  fairness <file> --label COL --prediction COL --sensitive COL[,COL…] [--positive VALUE]
           [--weight COL] [--score COL] [--format csv|jsonl] [--level 0.95] [--resamples 1000] [--seed 42]
           [--min-group-size 30] [--thresholds FILE.json] [--mode interval|point] [--max-bytes N]
           [--max-malformed N]
                                compute the fairness report locally, no server: per group (each sensitive
                                column, and their intersection "a × b") count, selection rate, TPR, FPR, FNR,
                                precision with Wilson intervals; across groups Fairlearn's metrics with
                                bootstrap intervals, and verdicts against --thresholds ({"metric": {"max": x,
                                "min": y}}; four_fifths_rule has min 0.8 unless given). Without --positive,
                                1/true/yes is positive and 0/false/no negative`;

/** The flags `fairness` takes (parseArgs' values, as strings). */
export interface FairnessFlags extends ColumnFlags {
  level?: string | undefined;
  resamples?: string | undefined;
  seed?: string | undefined;
  'min-group-size'?: string | undefined;
  thresholds?: string | undefined;
  mode?: string | undefined;
  'max-bytes'?: string | undefined;
  'max-malformed'?: string | undefined;
}

function number(flag: string, text: string | undefined, ok: (n: number) => boolean, what: string) {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !ok(n)) throw usageError(`--${flag} ${text} is not ${what}`);
  return n;
}

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (n: number) =>
    Number.isInteger(n) && n >= min && n <= max;

export async function fairnessCommand(
  file: string,
  flags: FairnessFlags,
): Promise<{ json: FairnessReport; text: string }> {
  const spec = specFromFlags('fairness', file, flags);
  if (flags.mode !== undefined && flags.mode !== 'point' && flags.mode !== 'interval') {
    throw usageError(`--mode ${flags.mode}: interval or point`);
  }
  const thresholds =
    flags.thresholds === undefined
      ? undefined
      : validate(thresholdsSchema, await readJsonFile(flags.thresholds), 'thresholds file', flags.thresholds);
  const options = {
    level: number('level', flags.level, (n) => n > 0 && n < 1, 'a level between 0 and 1, e.g. 0.95'),
    resamples: number('resamples', flags.resamples, integer(0, 100_000), 'a whole number from 0 to 100000'),
    seed: number('seed', flags.seed, integer(0, 0xffffffff), 'a whole number from 0 to 4294967295'),
    minGroupSize: number('min-group-size', flags['min-group-size'], integer(0), 'a whole number ≥ 0'),
    maxBytes: number('max-bytes', flags['max-bytes'], integer(1), 'a whole number of bytes ≥ 1'),
    maxMalformedRows: number('max-malformed', flags['max-malformed'], integer(0), 'a whole number ≥ 0'),
    mode: flags.mode as 'point' | 'interval' | undefined,
    thresholds,
  };
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));

  await readableFileSize(file);
  let report: FairnessReport;
  try {
    report = await analysePredictions(createReadStream(file), spec, defined);
  } catch (err) {
    if (!(err instanceof FairnessFileError)) throw err;
    throw new CliError(EXIT.USAGE, {
      error: 'invalid_predictions',
      message: `${file}: ${err.message}`,
      file,
      ...(err.issues.length ? { issues: err.issues.map((i) => ({ path: `line ${i.line}`, message: i.message })) } : {}),
    });
  }
  return { json: report, text: renderReport(file, report) };
}

const num = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x.toFixed(3));
const ci = (c: [number, number] | null | undefined) => (c ? `[${num(c[0])}, ${num(c[1])}]` : '');
const cell = (r: Rate) => (r.value === null ? 'undefined' : `${num(r.value)} ${ci(r.ci)}`);

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function renderReport(file: string, r: FairnessReport): string {
  const s = r.settings;
  const out = [
    `${file}: ${r.rows} rows, sha256 ${r.sha256}`,
    `positive: ${r.positive}; intervals at ${s.level} (Wilson per group; bootstrap, ${s.resamples} resamples, ` +
      `seed ${s.seed}, across groups); minimum group size ${s.minGroupSize}; verdicts by ${s.mode}`,
  ];
  if (r.skipped.count)
    out.push(`skipped ${r.skipped.count} malformed row(s): ${r.skipped.first.map((x) => `line ${x.line}`).join(', ')}`);
  const notes = new Set<string>();
  for (const feature of [...new Set(r.groups.map((g) => g.feature))]) {
    const groups = r.groups.filter((g) => g.feature === feature);
    out.push('', feature);
    out.push(
      ...table(
        ['group', 'count', 'selection rate', 'TPR', 'FPR', 'FNR', 'precision'],
        groups.map((g) => {
          for (const k of [
            'selection_rate',
            'true_positive_rate',
            'false_positive_rate',
            'false_negative_rate',
            'precision',
          ] as const) {
            if (g[k].undefinedReason && !g.empty) notes.add(`${g.group}: ${k} undefined: ${g[k].undefinedReason}`);
          }
          return g.empty
            ? [g.group, '0', 'empty intersection, left out', '', '', '', '']
            : [
                `${g.group}${g.small ? ' (small)' : ''}`,
                String(g.count),
                cell(g.selection_rate),
                cell(g.true_positive_rate),
                cell(g.false_positive_rate),
                cell(g.false_negative_rate),
                cell(g.precision),
              ];
        }),
      ).map((l) => `  ${l}`),
    );
  }
  if (notes.size) out.push('', ...[...notes].map((n) => `note: ${n}`));
  out.push('', 'metrics');
  out.push(
    ...table(
      ['metric', 'feature', 'value', 'interval', 'verdict'],
      r.metrics.map((m) => [
        m.name,
        m.feature,
        m.value === null ? 'undefined' : num(m.value),
        ci(m.ci),
        [
          m.verdict ? `${m.verdict}: ${m.reason}` : m.undefinedReason ? `(${m.undefinedReason})` : '',
          m.p_value !== undefined ? `p = ${m.p_value === null ? '—' : m.p_value.toPrecision(3)}` : '',
        ]
          .filter(Boolean)
          .join('; '),
      ]),
    ).map((l) => `  ${l}`),
  );
  return out.join('\n');
}
