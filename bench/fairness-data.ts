/**
 * The benchmark's predictions files: a label, a prediction and two sensitive features (3 regions × 4 age bands, 12
 * intersections), with the skew real hiring or lending data has: groups of unequal size, base rates that differ by
 * group, and a model whose error rates differ by group, so that every rate and metric is defined and not trivial.
 * Seeded, so a size always gives the same bytes, and cached: a file once written is reused by later runs.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { Prng } from '../domain/fairness/stats.js';

/** Bumped whenever the generator changes, so a cached file from an older generator is not reused. */
const GENERATOR_VERSION = 1;

export const COLUMNS = { label: 'label', prediction: 'prediction', sensitive: ['region', 'age_band'] } as const;

const REGIONS: [string, number][] = [
  ['north', 0.55],
  ['south', 0.33],
  ['islands', 0.12],
];
const AGE_BANDS: [string, number, number][] = [
  // value, share, base rate of the positive label
  ['18-29', 0.22, 0.31],
  ['30-44', 0.38, 0.42],
  ['45-64', 0.3, 0.39],
  ['65+', 0.1, 0.24],
];
/** Per region: the model's true-positive and false-positive rates. */
const MODEL: Record<string, [number, number]> = { north: [0.82, 0.11], south: [0.74, 0.09], islands: [0.66, 0.14] };

function pick<T extends [string, number, ...unknown[]]>(table: T[], u: number): T {
  let acc = 0;
  for (const row of table) {
    acc += row[1];
    if (u < acc) return row;
  }
  return table[table.length - 1]!;
}

export function dataFile(dir: string, rows: number): string {
  return join(dir, `predictions-v${GENERATOR_VERSION}-${rows}.csv`);
}

/** The file of `rows` rows in `dir`, written first if it is not there (to a temporary name, then renamed). */
export async function ensureDataFile(dir: string, rows: number, log: (m: string) => void): Promise<string> {
  const file = dataFile(dir, rows);
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  log(`generating ${rows} rows into ${file} ...`);
  const tmp = `${file}.${process.pid}.tmp`;
  const out = createWriteStream(tmp);
  try {
    const prng = new Prng(rows);
    out.write(`${COLUMNS.label},${COLUMNS.prediction},${COLUMNS.sensitive.join(',')}\n`);
    const batch: string[] = [];
    for (let i = 0; i < rows; i++) {
      const [region] = pick(REGIONS, prng.next());
      const [band, , base] = pick(AGE_BANDS, prng.next());
      const y = prng.next() < base;
      const [tpr, fpr] = MODEL[region]!;
      const p = prng.next() < (y ? tpr : fpr);
      batch.push(`${y ? 1 : 0},${p ? 1 : 0},${region},${band}\n`);
      if (batch.length === 65536 || i === rows - 1) {
        if (!out.write(batch.join(''))) await once(out, 'drain');
        batch.length = 0;
      }
    }
    out.end();
    await once(out, 'finish');
    await rename(tmp, file);
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
  return file;
}
