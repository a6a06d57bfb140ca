/**
 * The head of an uploaded predictions file: its header (CSV) or first row (JSON Lines) and whether a data row
 * follows, read the way the fairness reader (fairness/reader.ts) reads them, so that an upload naming a column
 * the file lacks, or a file with no data, is refused while the caller waits instead of minutes later as a failed
 * analysis. Only the first few megabytes are read; anything subtler is the reader's to find.
 */
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import type { PredictionSpecInput } from '../domain/bias-gate.js';

/** Far more than a header and a row; a file whose first row runs longer is left to the reader. */
const HEAD_BYTES = 4 * 1024 * 1024;

export interface PredictionsHead {
  /** Column names of the header (CSV, trimmed as the reader trims them) or of the first JSON object; null if none was found. */
  columns: string[] | null;
  /** Whether a data row follows (CSV) or the first object is one (JSONL). */
  hasRow: boolean;
  /** The whole file was read: what is missing is missing from the file, not beyond the bytes read. */
  complete: boolean;
}

export async function readHead(source: Readable, format: 'csv' | 'jsonl'): Promise<PredictionsHead> {
  return format === 'csv' ? csvHead(source) : jsonlHead(source);
}

async function csvHead(source: Readable): Promise<PredictionsHead> {
  // The reader's own options: the header found here is the one it will find.
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true, skip_records_with_error: true });
  const records: string[][] = [];
  parser.on('data', (r: string[]) => records.push(r));
  const ended = new Promise<void>((resolve, reject) => {
    parser.once('end', resolve);
    parser.once('error', reject);
  });
  let read = 0;
  let complete = true;
  // Breaking out of the loop closes the blob: the rest of a file of gigabytes is never read here.
  for await (const chunk of source as AsyncIterable<Buffer>) {
    read += chunk.length;
    parser.write(chunk);
    if (records.length >= 2 || read >= HEAD_BYTES) {
      complete = false;
      break;
    }
  }
  parser.end();
  await ended.catch(() => undefined);
  const header = records[0];
  return { columns: header ? header.map((h) => h.trim()) : null, hasRow: records.length > 1, complete };
}

async function jsonlHead(source: Readable): Promise<PredictionsHead> {
  const decoder = new TextDecoder('utf-8');
  let rest = '';
  let read = 0;
  const firstObject = (line: string): string[] | null => {
    try {
      const row: unknown = JSON.parse(line);
      return typeof row === 'object' && row !== null && !Array.isArray(row) ? Object.keys(row) : null;
    } catch {
      return null;
    }
  };
  for await (const chunk of source as AsyncIterable<Buffer>) {
    read += chunk.length;
    rest += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl).replace(/\r$/, '');
      rest = rest.slice(nl + 1);
      // Lines that are not a JSON object are the reader's malformed rows: the first object decides the columns.
      const columns = line.trim() === '' ? null : firstObject(line);
      if (columns) return { columns, hasRow: true, complete: false };
    }
    if (read >= HEAD_BYTES) return { columns: null, hasRow: false, complete: false };
  }
  rest += decoder.decode();
  const columns = rest.trim() === '' ? null : firstObject(rest.replace(/\r$/, ''));
  return { columns, hasRow: columns !== null, complete: true };
}

/** A problem with the file against the spec, and the parameter (or the file itself: `body`) it is about. */
export interface HeadProblem {
  param: 'label' | 'prediction' | 'sensitive' | 'weight' | 'score' | 'body';
  message: string;
}

/**
 * What would make the reader refuse the file outright, as far as its head tells: no bytes, no data row, a
 * column the spec names that the header (or first row) lacks. Empty when the file may go to the reader.
 */
export function headProblems(head: PredictionsHead, spec: PredictionSpecInput, bytes: number): HeadProblem[] {
  if (bytes === 0) return [{ param: 'body', message: 'the file is empty' }];
  if (!head.columns) {
    if (!head.complete) return [];
    const why = spec.format === 'csv' ? 'no header and no data rows' : 'no data rows: no line is a JSON object';
    return [{ param: 'body', message: `the file has ${why}` }];
  }
  const columns = head.columns;
  const where = spec.format === 'csv' ? 'header' : 'first row';
  const shown =
    columns
      .slice(0, 50)
      .map((c) => `"${c}"`)
      .join(', ') || '(nothing)';
  const missing = namedColumns(spec).filter((c) => !columns.includes(c.column));
  if (missing.length) {
    return missing.map((m) => ({
      param: m.param,
      message: `column "${m.column}" is not in the file's ${where}; it has: ${shown}`,
    }));
  }
  if (!head.hasRow && head.complete) return [{ param: 'body', message: 'the file has a header but no data rows' }];
  return [];
}

/** The columns the spec names, each with the query parameter that named it. */
export function namedColumns(spec: PredictionSpecInput): { param: HeadProblem['param']; column: string }[] {
  return [
    { param: 'label', column: spec.label },
    { param: 'prediction', column: spec.prediction },
    ...spec.sensitive.map((column) => ({ param: 'sensitive' as const, column })),
    ...(spec.weight !== undefined ? [{ param: 'weight' as const, column: spec.weight }] : []),
    ...(spec.score !== undefined ? [{ param: 'score' as const, column: spec.score }] : []),
  ];
}
