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

/** The columns the spec names, each with the query parameter that named it. */
export function namedColumns(spec: PredictionSpecInput): { param: string; column: string }[] {
  return [
    { param: 'label', column: spec.label },
    { param: 'prediction', column: spec.prediction },
    ...spec.sensitive.map((column) => ({ param: 'sensitive', column })),
    ...(spec.weight !== undefined ? [{ param: 'weight', column: spec.weight }] : []),
    ...(spec.score !== undefined ? [{ param: 'score', column: spec.score }] : []),
  ];
}
