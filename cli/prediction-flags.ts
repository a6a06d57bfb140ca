/**
 * The flags that name a predictions file's columns, shared by `fairness` (local) and `evidence --predictions`
 * (upload): both read the same files, so both refuse the same mistakes with the same words.
 */
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import type { PredictionSpecInput } from '../domain/bias-gate.js';
import { CliError, EXIT, usageError } from './errors.js';

/** The flags that name the file's columns and format, in the order --help lists them. */
export const COLUMN_FLAGS = ['label', 'prediction', 'sensitive', 'positive', 'weight', 'score', 'format'] as const;

export type ColumnFlags = { [K in (typeof COLUMN_FLAGS)[number]]?: string | undefined };

/** The spec the flags describe, the format taken from --format or the file's extension; `command` names the refusals. */
export function specFromFlags(
  command: string,
  file: string,
  flags: ColumnFlags,
): PredictionSpecInput & { format: 'csv' | 'jsonl' } {
  for (const [flag, what] of [
    ['label', 'COL'],
    ['prediction', 'COL'],
    ['sensitive', 'COL[,COL…]'],
  ] as const) {
    if (!flags[flag]?.trim()) throw usageError(`${command} needs --${flag} ${what}`);
  }
  const sensitive = flags.sensitive!.split(',').map((c) => c.trim());
  if (sensitive.some((c) => c === '')) throw usageError(`--sensitive ${flags.sensitive} has an empty column name`);
  const ext = extname(file).toLowerCase();
  const format = flags.format ?? (ext === '.csv' ? 'csv' : ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : undefined);
  if (format !== 'csv' && format !== 'jsonl') {
    throw usageError(
      flags.format !== undefined
        ? `--format ${flags.format}: csv or jsonl`
        : `cannot tell the format of ${file} from its extension: give --format csv or --format jsonl`,
    );
  }
  return {
    format,
    label: flags.label!.trim(),
    prediction: flags.prediction!.trim(),
    sensitive,
    ...(flags.weight !== undefined ? { weight: flags.weight.trim() } : {}),
    ...(flags.score !== undefined ? { score: flags.score.trim() } : {}),
    ...(flags.positive !== undefined ? { positive: flags.positive } : {}),
  };
}

/** The size of a file the command is to read, or exit 2 saying why it cannot be read. */
export async function readableFileSize(file: string): Promise<number> {
  try {
    const info = await stat(file);
    if (info.isDirectory()) throw Object.assign(new Error('it is a directory'), { code: 'EISDIR' });
    return info.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new CliError(EXIT.USAGE, { error: 'file_unreadable', message: `cannot read ${file}: ${why}`, file });
  }
}
