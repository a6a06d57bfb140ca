/**
 * Streams a predictions file (CSV per RFC 4180, or JSON Lines) into per-group confusion counts, hashing its bytes
 * on the way, and hands the counts to the domain engine (domain/fairness/engine.ts). Only the counts of each
 * observed combination of sensitive values are kept, never rows, so memory stays flat however long the file.
 *
 * Reading labels and predictions (both columns alike, compared as strings after trimming):
 * - with `positive` given, exactly that value is positive; the columns may hold one other value, the negative
 *   class, and a third distinct value is an error that lists the values seen;
 * - without it, 1, true and yes (any case; 1.0 too) are positive and 0, false and no negative, so files written
 *   by pandas, R or a spreadsheet read as they are; any other value is an error naming it.
 * Sensitive values are taken as written (not trimmed), as pandas reads them; an empty one makes the row malformed.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse } from 'csv-parse';
import {
  FairnessInputError,
  analyseCounts,
  emptyCounts,
  MAX_GROUPS,
  type CellCounts,
} from '../domain/fairness/engine.js';
import type { ConfusionCounts, FairnessOptions, FairnessReport } from '../domain/fairness/schema.js';

export interface PredictionSpec {
  format: 'csv' | 'jsonl';
  label: string;
  prediction: string;
  sensitive: string[];
  score?: string | undefined;
  weight?: string | undefined;
  positive?: string | undefined;
}

export interface ReadOptions extends FairnessOptions {
  /** The file may be at most this many bytes. */
  maxBytes?: number;
  /** More malformed rows than this refuse the file; up to this many are skipped and reported. */
  maxMalformedRows?: number;
}

export const DEFAULT_MAX_BYTES = 2 * 1024 ** 3;
/** How many malformed rows an error or a report lists. */
const LISTED = 10;

/** A file that cannot be analysed: the message names the problem; `issues` the rows, with line numbers. */
export class FairnessFileError extends Error {
  constructor(
    message: string,
    readonly issues: { line: number; message: string }[] = [],
  ) {
    super(message);
  }
}

/** A row that cannot be counted: skipped (and reported) while within maxMalformedRows. */
class MalformedRow extends Error {}

type Binary = (value: string, column: string, line: number) => boolean;

function binaryReader(positive: string | undefined): { read: Binary; describe: string } {
  const seen = new Set<string>();
  const quoted = () => [...seen].map((v) => JSON.stringify(v)).join(', ');
  if (positive !== undefined) {
    const p = positive.trim();
    return {
      describe: `"${p}" is positive, any one other value negative`,
      read: (value, column, line) => {
        if (!seen.has(value)) {
          seen.add(value);
          if (new Set([...seen, p]).size > 2) {
            throw new FairnessFileError(
              `label and prediction are not binary: with --positive "${p}" they may hold one other value, but ` +
                `line ${line} (column "${column}") brings ${JSON.stringify(value)}; values seen: ${quoted()}`,
            );
          }
        }
        return value === p;
      },
    };
  }
  return {
    describe: '1, true or yes is positive; 0, false or no negative',
    read: (value, column, line) => {
      if (/^(?:1(?:\.0*)?|true|yes)$/i.test(value)) return true;
      if (/^(?:0(?:\.0*)?|false|no)$/i.test(value)) return false;
      if (seen.size < 20) seen.add(value);
      throw new FairnessFileError(
        `column "${column}" is not binary: line ${line} has ${JSON.stringify(value)}, which is none of ` +
          `1/0, true/false, yes/no; name the positive value with --positive VALUE if the classes are others ` +
          `(values not understood: ${quoted()})`,
      );
    },
  };
}

/**
 * Reads `input` (the whole file as bytes) per `spec` and computes the fairness report. Rejects with a
 * FairnessFileError for a file it cannot analyse; nothing partial is returned.
 */
export async function analysePredictions(
  input: Readable,
  spec: PredictionSpec,
  options: ReadOptions = {},
): Promise<FairnessReport> {
  const { maxBytes = DEFAULT_MAX_BYTES, maxMalformedRows = 0, ...engineOptions } = options;
  if (!spec.sensitive.length) throw new FairnessFileError('at least one sensitive column is needed');
  const hash = createHash('sha256');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        failure ??= new FairnessFileError(`the file is over the limit of ${maxBytes} bytes`);
        done(failure as Error);
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });

  const binary = binaryReader(spec.positive);
  const cells = new Map<string, CellCounts>();
  let rows = 0;
  const skipped: { line: number; message: string }[] = [];
  let skippedCount = 0;
  const malformed = (line: number, message: string) => {
    skippedCount++;
    // csv-parse reports a record it skips before the records buffered ahead of it reach us: keep line order.
    skipped.push({ line, message });
    skipped.sort((a, b) => a.line - b.line);
    if (skipped.length > LISTED) skipped.pop();
    if (skippedCount > maxMalformedRows) {
      throw new FairnessFileError(
        `${skippedCount > LISTED ? 'more than ' : ''}${maxMalformedRows} malformed row(s) allowed, and ` +
          `${skippedCount} found; the first: ${skipped.map((s) => `line ${s.line}: ${s.message}`).join('; ')}`,
        skipped,
      );
    }
  };

  /** One data row; `get` returns a column's raw value, or undefined when the row has none. */
  const count = (line: number, get: (column: string) => string | undefined) => {
    const need = (column: string): string => {
      const v = get(column);
      if (v === undefined || v.trim() === '') throw new MalformedRow(`no value for column "${column}"`);
      return v;
    };
    try {
      const label = binary.read(need(spec.label).trim(), spec.label, line);
      const predicted = binary.read(need(spec.prediction).trim(), spec.prediction, line);
      let weight = 1;
      if (spec.weight !== undefined) {
        const raw = need(spec.weight);
        weight = Number(raw);
        if (!Number.isFinite(weight) || weight < 0) {
          throw new MalformedRow(`weight ${JSON.stringify(raw)} is not a finite number ≥ 0`);
        }
      }
      if (spec.score !== undefined) {
        const raw = need(spec.score);
        if (!Number.isFinite(Number(raw))) throw new MalformedRow(`score ${JSON.stringify(raw)} is not a number`);
      }
      const values = spec.sensitive.map((column) => {
        const v = get(column);
        if (v === undefined || v === '') throw new MalformedRow(`no value for sensitive column "${column}"`);
        return v;
      });
      const key = values.join('\u0000');
      let cell = cells.get(key);
      if (!cell) {
        if (cells.size >= MAX_GROUPS) {
          throw new FairnessFileError(
            `more than ${MAX_GROUPS} distinct combinations of ${spec.sensitive.join(', ')}; at most ${MAX_GROUPS} are analysed`,
          );
        }
        cell = { values, counts: emptyCounts() };
        cells.set(key, cell);
      }
      const c: ConfusionCounts = cell.counts;
      const at = label ? (predicted ? 'tp' : 'fn') : predicted ? 'fp' : 'tn';
      c[at] += weight;
      c.cellRows[at]++;
      c.rows++;
      c.weight += weight;
      rows++;
    } catch (err) {
      if (!(err instanceof MalformedRow)) throw err;
      malformed(line, err.message);
    }
  };

  const required = [
    spec.label,
    spec.prediction,
    ...(spec.score ? [spec.score] : []),
    ...(spec.weight ? [spec.weight] : []),
    ...spec.sensitive,
  ];
  const missingColumns = (header: string[], what: string) => {
    const missing = required.filter((c) => !header.includes(c));
    if (missing.length) {
      throw new FairnessFileError(
        `${missing.length === 1 ? 'column' : 'columns'} ${missing.map((m) => `"${m}"`).join(', ')} not in the ` +
          `${what}; it has: ${header.map((h) => `"${h}"`).join(', ') || '(nothing)'}`,
      );
    }
  };

  const sink =
    spec.format === 'csv'
      ? async (source: AsyncIterable<{ record: string[]; info: { lines: number } }>) => {
          let columns: Map<string, number> | undefined;
          for await (const { record, info } of source) {
            if (!columns) {
              const header = record.map((h) => h.trim());
              missingColumns(header, 'header');
              columns = new Map(required.map((c) => [c, header.indexOf(c)]));
              continue;
            }
            const at = columns;
            count(info.lines, (column) => record[at.get(column)!]);
          }
        }
      : async (source: AsyncIterable<Buffer>) => {
          const decoder = new TextDecoder('utf-8', { fatal: true });
          let rest = '';
          let line = 0;
          let first = true;
          const handle = (text: string) => {
            line++;
            const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
            if (trimmed.trim() === '') return;
            let row: unknown;
            try {
              row = JSON.parse(trimmed);
            } catch (err) {
              malformed(line, `not JSON: ${(err as Error).message}`);
              return;
            }
            if (typeof row !== 'object' || row === null || Array.isArray(row)) {
              malformed(line, 'not a JSON object');
              return;
            }
            const obj = row as Record<string, unknown>;
            if (first) {
              missingColumns(Object.keys(obj), 'first row');
              first = false;
            }
            count(line, (column) => {
              const v = obj[column];
              if (v === null || v === undefined) return undefined;
              if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
              throw new MalformedRow(`column "${column}" holds ${Array.isArray(v) ? 'an array' : 'an object'}`);
            });
          };
          for await (const chunk of source) {
            rest += decoder.decode(chunk, { stream: true });
            let nl: number;
            while ((nl = rest.indexOf('\n')) >= 0) {
              handle(rest.slice(0, nl));
              rest = rest.slice(nl + 1);
            }
          }
          rest += decoder.decode();
          if (rest !== '') handle(rest);
        };

  // The first refusal: a stream pipeline rejects with whichever stream's error lands first, often an AbortError.
  let failure: unknown;
  const noting =
    <T>(sink: (source: AsyncIterable<T>) => Promise<void>) =>
    async (source: AsyncIterable<T>) => {
      try {
        await sink(source);
      } catch (err) {
        failure ??= err;
        throw err;
      }
    };
  try {
    if (spec.format === 'csv') {
      const parser = parse({
        bom: true,
        info: true,
        relax_column_count: true,
        skip_empty_lines: true,
        skip_records_with_error: true,
      });
      parser.on('skip', (err: Error & { lines?: number }) => {
        try {
          malformed(err.lines ?? parser.info.lines, err.message);
        } catch (refusal) {
          failure ??= refusal;
          parser.destroy(refusal as Error);
        }
      });
      await pipeline(input, meter, parser, noting(sink as (s: AsyncIterable<unknown>) => Promise<void>));
    } else {
      await pipeline(input, meter, noting(sink as (s: AsyncIterable<unknown>) => Promise<void>));
    }
  } catch (caught) {
    const err = failure ?? caught;
    if (err instanceof FairnessFileError) throw err;
    if (err instanceof TypeError && /encoded data was not valid/i.test(err.message)) {
      throw new FairnessFileError('the file is not UTF-8 text');
    }
    throw err;
  }

  if (bytes === 0) throw new FairnessFileError('the file is empty');
  if (rows === 0) {
    throw new FairnessFileError(
      skippedCount ? `no row could be counted: ${skippedCount} malformed` : 'the file has no data rows',
      skipped,
    );
  }
  let analysed: ReturnType<typeof analyseCounts>;
  try {
    analysed = analyseCounts(spec.sensitive, [...cells.values()], engineOptions);
  } catch (err) {
    if (err instanceof FairnessInputError) throw new FairnessFileError(err.message);
    throw err;
  }
  const { settings, groups, metrics } = analysed;
  return {
    rows,
    bytes,
    sha256: hash.digest('hex'),
    features: spec.sensitive,
    positive: binary.describe,
    settings: {
      level: settings.level,
      resamples: settings.resamples,
      seed: settings.seed,
      minGroupSize: settings.minGroupSize,
      mode: settings.mode,
    },
    skipped: { count: skippedCount, first: skipped },
    groups,
    metrics,
  };
}
