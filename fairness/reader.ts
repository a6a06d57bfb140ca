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
 *
 * CSV is tokenized over the raw bytes (fairness/csv.ts) and each column's distinct values are decoded once: a
 * value's bytes are looked up in a small per-column table (Interner) that remembers its text, its id and, for the
 * label and prediction, what binaryReader made of it. That, not csv-parse's array of strings per record, is what
 * lets a file of millions of rows be read at millions of rows a second (bench/fairness.ts).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { CsvTokenizer, decodeField } from './csv.js';
import { FairnessInputError, analyseCounts, MAX_GROUPS, type CellCounts } from '../domain/fairness/engine.js';
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

/** A distinct value of a CSV column, decoded once (see Interner). */
interface Value {
  text: string;
  /** Its number among the column's distinct texts: a sensitive value's key in the cell trie. */
  id: number;
  /** What binaryReader made of it (null: blank); unset until a label or prediction needs it. */
  binary?: boolean | null;
}

/**
 * A column's distinct values by their bytes: open addressing on an FNV-1a hash, the bytes kept in one pool. A
 * label column holds two values and a sensitive one a few dozen, so a lookup is a short hash and one comparison.
 * Past `limit` distinct byte strings new ones are decoded each time instead of remembered, so a column that is
 * not what it claims to be (a free-text label read until its third value is refused) cannot grow the table.
 */
class Interner {
  private table = new Int32Array(64);
  /** Per remembered byte string: its hash, where its bytes are in the pool, their length. */
  private hashes = new Int32Array(16);
  private offsets = new Int32Array(16);
  private lengths = new Int32Array(16);
  private values: Value[] = [];
  /** One-byte values (0/1 labels, single-letter codes) by their byte, ahead of the hash. */
  private single: (Value | undefined)[] = new Array<Value | undefined>(256).fill(undefined);
  private pool = new Uint8Array(4096);
  private used = 0;
  private byText = new Map<string, Value>();

  constructor(private readonly limit: number) {}

  get(buf: Uint8Array, s: number, e: number, escaped: number): Value {
    const len = e - s;
    if (len === 1) {
      const v = this.single[buf[s]!];
      if (v !== undefined) return v;
    }
    let h = 0x811c9dc5 | 0;
    for (let i = s; i < e; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
    const table = this.table;
    const mask = table.length - 1;
    let at = h & mask;
    let probes = 0;
    for (let x = table[at]!; x !== 0; x = table[at]!) {
      const k = x - 1;
      if (this.hashes[k] === h && this.lengths[k] === len && this.same(this.offsets[k]!, buf, s, len)) {
        return this.values[k]!;
      }
      at = (at + 1) & mask;
      // FNV-1a collides on purpose-made values: past a few probes the value is not remembered, so a crafted
      // file costs a decode per row, never a long scan.
      if (++probes === MAX_PROBES) {
        at = -1;
        break;
      }
    }
    // Distinct bytes can still be the same text (invalid UTF-8 decodes to U+FFFD): the text decides the id.
    const text = decodeField(buf, s, e, escaped);
    let value = this.byText.get(text);
    if (!value) {
      value = { text, id: this.byText.size };
      if (this.byText.size < this.limit) this.byText.set(text, value);
    }
    if (this.values.length < this.limit) {
      if (len === 1) this.single[buf[s]!] = value;
      else if (at >= 0) this.remember(h, buf, s, e, value, at);
    }
    return value;
  }

  /** Byte by byte: values are a few bytes long, shorter than a call into Buffer.compare. */
  private same(offset: number, buf: Uint8Array, s: number, len: number): boolean {
    const pool = this.pool;
    for (let i = 0; i < len; i++) if (pool[offset + i] !== buf[s + i]) return false;
    return true;
  }

  private remember(h: number, buf: Uint8Array, s: number, e: number, value: Value, at: number): void {
    const len = e - s;
    const k = this.values.length;
    if (this.used + len > this.pool.length) this.pool = grown(this.pool, this.used + len);
    if (k === this.hashes.length) {
      this.hashes = grown(this.hashes, k + 1);
      this.offsets = grown(this.offsets, k + 1);
      this.lengths = grown(this.lengths, k + 1);
    }
    this.pool.set(buf.subarray(s, e), this.used);
    this.hashes[k] = h;
    this.offsets[k] = this.used;
    this.lengths[k] = len;
    this.values.push(value);
    this.used += len;
    this.table[at] = k + 1;
    if ((k + 1) * 2 > this.table.length) {
      const table = new Int32Array(this.table.length * 2);
      const mask = table.length - 1;
      for (let j = 0; j <= k; j++) {
        let i = this.hashes[j]! & mask;
        while (table[i] !== 0) i = (i + 1) & mask;
        table[i] = j + 1;
      }
      this.table = table;
    }
  }
}

/** A typed array at least `min` long (doubling), with the contents of `a`. */
function grown<T extends Uint8Array | Int32Array>(a: T, min: number): T {
  const b = new (a.constructor as new (n: number) => T)(Math.max(a.length * 2, min));
  b.set(a);
  return b;
}

/** Open-addressing probes before a lookup gives up (the tables are kept at most half full). */
const MAX_PROBES = 16;

/** Label and prediction columns have two values; this many distinct spellings of them are remembered. */
const LABEL_VALUES_REMEMBERED = 1024;
const POWERS_OF_TEN = Array.from({ length: 16 }, (_, i) => 10 ** i);

/**
 * Digits with an optional point and at most 15 digits in all, as Number() reads them (an integer below 2^53 over
 * an exact power of ten is one correctly rounded division), or NaN for anything else, which goes to Number().
 */
function plainDecimal(buf: Uint8Array, s: number, e: number): number {
  if (e - s > 16 || e === s) return NaN;
  let digits = 0;
  let mantissa = 0;
  let point = -1;
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    if (c >= 0x30 && c <= 0x39) {
      mantissa = mantissa * 10 + (c - 0x30);
      digits++;
    } else if (c === 0x2e && point < 0) {
      point = i;
    } else {
      return NaN;
    }
  }
  if (digits === 0 || digits > 15) return NaN;
  return point < 0 ? mantissa : mantissa / POWERS_OF_TEN[e - point - 1]!;
}

/**
 * Rows already counted, by the bytes of their label, prediction and sensitive values: a predictions file has a
 * few dozen distinct such tuples however long it is, so most rows are one hash and one comparison away from their
 * cell. A tuple is remembered only after its row was counted, so a hit needs no check of those values again.
 * Bounded: past LIMIT tuples (or for values over 255 bytes) rows take the full path, which gives the same counts.
 */
class SeenRows {
  private static readonly LIMIT = 4096;
  private table = new Int32Array(256);
  private hashes = new Int32Array(16);
  private offsets = new Int32Array(16);
  private lengths = new Int32Array(16);
  /** Per tuple: the cell and the cell index (cellIndex) its rows go to. */
  cells: Cell[] = [];
  at = new Int32Array(16);
  /** Each tuple as its values' bytes, each value preceded by its length. */
  private pool = new Uint8Array(4096);
  private used = 0;
  private hash = 0;
  private slot = -1;

  /** `key`: the tokenizer slots of the label, prediction and sensitive values. */
  constructor(private readonly key: Int32Array) {}

  /** The tuple index of the tokenizer's current record, or -1 (then `remember` may add it). */
  find(t: CsvTokenizer): number {
    const key = this.key;
    const bufs = t.buf;
    const start = t.start;
    const end = t.end;
    let h = 0x811c9dc5 | 0;
    let len = 0;
    for (let j = 0; j < key.length; j++) {
      const k = key[j]!;
      const b = bufs[k]!;
      const e = end[k]!;
      const s = start[k]!;
      if (e - s > 255) {
        this.slot = -1;
        return -1;
      }
      for (let i = s; i < e; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
      h = Math.imul(h ^ (0x100 | (e - s)), 0x01000193);
      len += e - s + 1;
    }
    const table = this.table;
    const mask = table.length - 1;
    let at = h & mask;
    let probes = 0;
    for (let x = table[at]!; x !== 0; x = table[at]!) {
      const n = x - 1;
      if (this.hashes[n] === h && this.lengths[n] === len && this.same(this.offsets[n]!, t)) return n;
      at = (at + 1) & mask;
      // As in Interner: a crafted collision sends rows down the full path, it cannot make lookups long.
      if (++probes === MAX_PROBES) {
        this.slot = -1;
        return -1;
      }
    }
    this.hash = h;
    this.slot = this.cells.length < SeenRows.LIMIT ? at : -1;
    return -1;
  }

  private same(offset: number, t: CsvTokenizer): boolean {
    const pool = this.pool;
    const key = this.key;
    let o = offset;
    for (let j = 0; j < key.length; j++) {
      const k = key[j]!;
      const b = t.buf[k]!;
      const s = t.start[k]!;
      const e = t.end[k]!;
      if (pool[o++] !== e - s) return false;
      for (let i = s; i < e; i++) if (pool[o++] !== b[i]) return false;
    }
    return true;
  }

  /** After a miss of `find` on the same record, whose row was counted into `cell` at `at`. */
  remember(t: CsvTokenizer, cell: Cell, at: number): void {
    if (this.slot < 0) return;
    const n = this.cells.length;
    let len = 0;
    for (const k of this.key) len += t.end[k]! - t.start[k]! + 1;
    if (this.used + len > this.pool.length) this.pool = grown(this.pool, this.used + len);
    if (n === this.hashes.length) {
      this.hashes = grown(this.hashes, n + 1);
      this.offsets = grown(this.offsets, n + 1);
      this.lengths = grown(this.lengths, n + 1);
      this.at = grown(this.at, n + 1);
    }
    this.offsets[n] = this.used;
    for (const k of this.key) {
      this.pool[this.used++] = t.end[k]! - t.start[k]!;
      this.pool.set(t.buf[k]!.subarray(t.start[k], t.end[k]), this.used);
      this.used += t.end[k]! - t.start[k]!;
    }
    this.hashes[n] = this.hash;
    this.lengths[n] = len;
    this.at[n] = at;
    this.cells.push(cell);
    this.table[this.slot] = n + 1;
    this.slot = -1;
    if ((n + 1) * 2 > this.table.length) {
      const table = new Int32Array(this.table.length * 2);
      const mask = table.length - 1;
      for (let j = 0; j <= n; j++) {
        let i = this.hashes[j]! & mask;
        while (table[i] !== 0) i = (i + 1) & mask;
        table[i] = j + 1;
      }
      this.table = table;
    }
  }
}

/** One observed combination of sensitive values: weighted sums and rows per cell, in ROW_CELL order. */
interface Cell {
  values: string[];
  /** [weight in tp, fn, fp, tn, rows in tp, fn, fp, tn, weight, rows] */
  sums: Float64Array;
}

/** label, prediction → the cell's index in Cell.sums. */
const cellIndex = (label: boolean, predicted: boolean) => (label ? 0 : 2) + (predicted ? 0 : 1);

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

  const binary = binaryReader(spec.positive);
  const features = spec.sensitive.length;
  // The cells, reached through a trie on the features' value ids (arrays indexed by id), in order of appearance.
  const cells: Cell[] = [];
  const trie: unknown[] = [];
  const ids = new Int32Array(features);
  let rows = 0;
  const skipped: { line: number; message: string }[] = [];
  let skippedCount = 0;
  const malformed = (line: number, message: string) => {
    skippedCount++;
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

  /** The cell of the values whose ids are in `ids` (their texts are asked for only when the cell is new). */
  const cellOf = (texts: () => string[]): Cell => {
    let node = trie;
    for (let f = 0; f < features - 1; f++) node = (node[ids[f]!] ??= []) as unknown[];
    let cell = node[ids[features - 1]!] as Cell | undefined;
    if (!cell) {
      if (cells.length >= MAX_GROUPS) {
        throw new FairnessFileError(
          `more than ${MAX_GROUPS} distinct combinations of ${spec.sensitive.join(', ')}; at most ${MAX_GROUPS} are analysed`,
        );
      }
      cell = { values: texts(), sums: new Float64Array(10) };
      node[ids[features - 1]!] = cell;
      cells.push(cell);
    }
    return cell;
  };
  const tally = (cell: Cell, at: number, weight: number) => {
    const sums = cell.sums;
    sums[at]! += weight;
    sums[at + 4]!++;
    sums[8]! += weight;
    sums[9]!++;
    rows++;
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

  const consumer = spec.format === 'csv' ? csvRows() : jsonlRows();

  /**
   * CSV: the checks of a row in the order jsonlRows' `count` makes them (label, prediction, weight, score,
   * sensitive values), so that both formats report the same first problem of a row.
   */
  function csvRows(): { push(chunk: Buffer): void; finish(): void } {
    // Per wanted column (slot): its index in the record, and its values' table where it has one.
    let column = new Int32Array(0);
    let interners: (Interner | undefined)[] = [];
    let label = 0;
    let prediction = 0;
    let weight = -1;
    let score = -1;
    let sensitive = new Int32Array(0);
    let header = false;
    let seen = new SeenRows(new Int32Array(0));
    /** The last column the row cache's key needs: a record with fewer fields is never looked up. */
    let keyColumns = Infinity;

    const binaryOf = (k: number, name: string, line: number, fields: number): boolean => {
      if (column[k]! >= fields) throw new MalformedRow(`no value for column "${name}"`);
      const v = valueOf(k);
      let b = v.binary;
      if (b === undefined) {
        const text = v.text.trim();
        b = v.binary = text === '' ? null : binary.read(text, name, line);
      }
      if (b === null) throw new MalformedRow(`no value for column "${name}"`);
      return b;
    };
    const valueOf = (k: number) =>
      interners[k]!.get(tokenizer.buf[k]!, tokenizer.start[k]!, tokenizer.end[k]!, tokenizer.escaped[k]!);
    const numberOf = (k: number, name: string, fields: number): { value: number; raw: () => string } => {
      if (column[k]! >= fields) throw new MalformedRow(`no value for column "${name}"`);
      const buf = tokenizer.buf[k]!;
      const s = tokenizer.start[k]!;
      const e = tokenizer.end[k]!;
      const raw = () => decodeField(buf, s, e, tokenizer.escaped[k]!);
      const value = plainDecimal(buf, s, e);
      if (value === value) return { value, raw };
      const text = raw();
      if (text.trim() === '') throw new MalformedRow(`no value for column "${name}"`);
      return { value: Number(text), raw };
    };
    const texts = () => Array.from(sensitive, (k) => valueOf(k).text);

    const tokenizer = new CsvTokenizer({
      header(fields) {
        const names = fields.map((h) => h.trim());
        missingColumns(names, 'header');
        header = true;
        const wanted = [...new Set(required.map((c) => names.indexOf(c)))];
        const slot = (name: string) => wanted.indexOf(names.indexOf(name));
        column = Int32Array.from(wanted);
        label = slot(spec.label);
        prediction = slot(spec.prediction);
        weight = spec.weight ? slot(spec.weight) : -1;
        score = spec.score ? slot(spec.score) : -1;
        sensitive = Int32Array.from(spec.sensitive, slot);
        const key = Int32Array.from([label, prediction, ...sensitive]);
        seen = new SeenRows(key);
        keyColumns = Math.max(...Array.from(key, (k) => column[k]!));
        interners = wanted.map((_, k) =>
          k === label || k === prediction || sensitive.includes(k)
            ? new Interner(sensitive.includes(k) ? Infinity : LABEL_VALUES_REMEMBERED)
            : undefined,
        );
        return wanted;
      },
      record(line, fields) {
        try {
          // A row whose label, prediction and sensitive values are bytes seen before in a counted row goes to
          // that row's cell: those values were read and found good then. Its weight and score are read anyway.
          const hit = keyColumns < fields ? seen.find(tokenizer) : -1;
          let y = false;
          let p = false;
          if (hit < 0) {
            y = binaryOf(label, spec.label, line, fields);
            p = binaryOf(prediction, spec.prediction, line, fields);
          }
          let w = 1;
          if (weight >= 0) {
            const n = numberOf(weight, spec.weight!, fields);
            if (!Number.isFinite(n.value) || n.value < 0) {
              throw new MalformedRow(`weight ${JSON.stringify(n.raw())} is not a finite number ≥ 0`);
            }
            w = n.value;
          }
          if (score >= 0) {
            const n = numberOf(score, spec.score!, fields);
            if (!Number.isFinite(n.value)) throw new MalformedRow(`score ${JSON.stringify(n.raw())} is not a number`);
          }
          if (hit >= 0) {
            tally(seen.cells[hit]!, seen.at[hit]!, w);
            return;
          }
          for (let f = 0; f < features; f++) {
            const k = sensitive[f]!;
            if (column[k]! >= fields) throw new MalformedRow(`no value for sensitive column "${spec.sensitive[f]}"`);
            const v = valueOf(k);
            if (v.text === '') throw new MalformedRow(`no value for sensitive column "${spec.sensitive[f]}"`);
            ids[f] = v.id;
          }
          const cell = cellOf(texts);
          const at = cellIndex(y, p);
          if (keyColumns < fields) seen.remember(tokenizer, cell, at);
          tally(cell, at, w);
        } catch (err) {
          if (!(err instanceof MalformedRow)) throw err;
          malformed(line, err.message);
        }
      },
      malformed(line, message) {
        if (!header)
          throw new FairnessFileError(`the header (line ${line}) is not valid CSV: ${message}`, [{ line, message }]);
        malformed(line, message);
      },
    });
    return { push: (chunk) => tokenizer.push(chunk), finish: () => tokenizer.finish() };
  }

  function jsonlRows(): { push(chunk: Buffer): void; finish(): void } {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const textIds = spec.sensitive.map(() => new Map<string, number>());
    let rest = '';
    let line = 0;
    let first = true;

    /** One row; `get` returns a column's raw value, or undefined when the row has none. */
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
        values.forEach((v, f) => {
          const known = textIds[f]!;
          let id = known.get(v);
          if (id === undefined) known.set(v, (id = known.size));
          ids[f] = id;
        });
        tally(
          cellOf(() => values),
          cellIndex(label, predicted),
          weight,
        );
      } catch (err) {
        if (!(err instanceof MalformedRow)) throw err;
        malformed(line, err.message);
      }
    };

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
    return {
      push(chunk) {
        rest += decoder.decode(chunk, { stream: true });
        let from = 0;
        for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n', from)) {
          handle(rest.slice(from, nl));
          from = nl + 1;
        }
        rest = rest.slice(from);
      },
      finish() {
        rest += decoder.decode();
        if (rest !== '') handle(rest);
      },
    };
  }

  try {
    for await (const chunk of input as AsyncIterable<Buffer | string | Uint8Array>) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      bytes += b.length;
      if (bytes > maxBytes) throw new FairnessFileError(`the file is over the limit of ${maxBytes} bytes`);
      hash.update(b);
      consumer.push(b);
    }
    consumer.finish();
  } catch (err) {
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
  const counted: CellCounts[] = cells.map(({ values, sums: s }) => {
    const counts: ConfusionCounts = {
      tp: s[0]!,
      fp: s[2]!,
      fn: s[1]!,
      tn: s[3]!,
      rows: s[9]!,
      weight: s[8]!,
      cellRows: { tp: s[4]!, fp: s[6]!, fn: s[5]!, tn: s[7]! },
    };
    return { values, counts };
  });
  let analysed: ReturnType<typeof analyseCounts>;
  try {
    analysed = analyseCounts(spec.sensitive, counted, engineOptions);
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
