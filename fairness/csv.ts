/**
 * A streaming CSV tokenizer (RFC 4180) over Buffers, for the predictions reader's hot path: it decodes nothing
 * but the header, and for data records it hands over the byte ranges of the columns asked for, so the reader can
 * map repeated values to what it already knows without building a string per field. csv-parse built an array of
 * strings per record and ran at about 100,000 rows/s, far from the 2M rows/s the fairness benchmark asks for
 * (bench/fairness.ts); this runs at several million.
 *
 * The dialect is the one csv-parse was configured for before (bom, relax_column_count, skip_empty_lines,
 * skip_records_with_error):
 * - comma-separated; a field may be quoted, a quote inside doubled; quoted fields may hold commas, CR and LF;
 * - lines with nothing on them are skipped; records may have more or fewer fields than the header (missing ones
 *   are absent, extra ones ignored);
 * - a UTF-8 byte-order mark is dropped; a UTF-16LE one switches to decoding UTF-16LE;
 * - a record with a quote inside an unquoted field, text after a closing quote, or a quote still open at the end
 *   of the file is malformed: it is reported to the sink and skipped.
 * Where it differs from csv-parse, on purpose:
 * - a record ends at LF, CRLF or a lone CR outside quotes, whichever comes (pandas does the same; csv-parse took
 *   the first line end it met as the only one, so in a CRLF file a stray LF became part of a field);
 * - lines are counted as an editor does (a CRLF inside quotes is one line, not two), and a record's line is the one
 *   it starts on, also when a quoted field spans several (csv-parse gave the line it ended on);
 * - a malformed record is reported once, with its first problem; a malformed header is the sink's to refuse
 *   (csv-parse dropped it and took the next record as the header);
 * - after a closing quote followed by other text, the field is read on as unquoted text to the next comma or line
 *   end (csv-parse stayed inside the quotes, which could swallow the records after it).
 */
import { TextDecoder } from 'node:util';

const COMMA = 0x2c;
const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/** Bytes that end a run of plain field bytes, outside and inside quotes. */
const STOP_PLAIN = new Uint8Array(256);
STOP_PLAIN[COMMA] = STOP_PLAIN[QUOTE] = STOP_PLAIN[LF] = STOP_PLAIN[CR] = 1;
const STOP_QUOTED = new Uint8Array(256);
STOP_QUOTED[QUOTE] = STOP_QUOTED[LF] = STOP_QUOTED[CR] = 1;

// Where the tokenizer is: before a field; in an unquoted field; in a quoted one; on a quote inside a quoted field
// (closing it, or the first of a doubled quote: the next byte tells); after a closing quote.
const START = 0;
const PLAIN = 1;
const QUOTED = 2;
const QUOTE_SEEN = 3;
const CLOSED = 4;

const EMPTY = new Uint8Array(0);
const QUOTE_BYTE = Uint8Array.of(QUOTE);
const UTF8_BOM = [0xef, 0xbb, 0xbf];

export interface CsvSink {
  /**
   * The first record, its fields decoded as UTF-8 (not trimmed). Returns the indices of the columns whose values
   * data records must carry; the tokenizer keeps the others' bytes nowhere.
   */
  header(fields: string[], line: number): readonly number[];
  /**
   * A data record with `fieldCount` fields. For each wanted column (by its position in what header() returned)
   * that the record has, the value is `buf[slot].subarray(start[slot], end[slot])`, with doubled quotes still
   * doubled where `escaped[slot]` is 1 (see decodeField). Valid only during the call.
   */
  record(line: number, fieldCount: number): void;
  /** A record that is not valid CSV (the header too, before header() was called); it is skipped. */
  malformed(line: number, message: string): void;
}

/** A field's value as text: UTF-8 (invalid bytes become U+FFFD, as csv-parse decoded them), doubled quotes undone. */
export function decodeField(buf: Uint8Array, start: number, end: number, escaped: number | boolean): string {
  const text = Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('utf8');
  return escaped ? text.replaceAll('""', '"') : text;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function utf8(text: string): Uint8Array {
  const b = Buffer.from(text, 'utf8');
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

export class CsvTokenizer {
  /** Per wanted column: where its value in the current record is (see CsvSink.record). */
  buf: Uint8Array[] = [];
  start = new Int32Array(0);
  end = new Int32Array(0);
  escaped = new Uint8Array(0);

  private mode = START;
  private inRecord = false;
  /** The line the current byte is on, and the one the current record started on. */
  private line = 1;
  private recordLine = 0;
  private quoteLine = 0;
  /** The previous chunk ended in CR: an LF starting this one belongs to it. */
  private afterCR = false;
  /** The current field's index in its record; whether it has had a doubled quote. */
  private field = 0;
  private fieldEscaped = false;
  /** The first problem of the current record: it is reported and the record skipped. */
  private error: string | null = null;
  /** The current field's bytes from earlier chunks (kept only for a field that is wanted). */
  private pieces: Uint8Array[] = [];
  /** The header's fields while it is read, then the header. */
  private headerFields: string[] = [];
  private columns: string[] | null = null;
  /** Column index → wanted slot, or -1. */
  private slotOf = new Int32Array(0);
  private wantedColumns: readonly number[] = [];
  /** Until the first bytes show whether there is a byte-order mark. */
  private head: Uint8Array | null = EMPTY;
  private utf16: TextDecoder | null = null;

  constructor(private readonly sink: CsvSink) {}

  push(chunk: Uint8Array): void {
    if (this.head !== null) {
      const head = concat([this.head, chunk]);
      if (head.length < 3) {
        this.head = head;
        return;
      }
      this.head = null;
      this.tokenize(this.unmark(head));
      return;
    }
    this.tokenize(this.utf16 ? utf8(this.utf16.decode(chunk, { stream: true })) : chunk);
  }

  /** The end of the file: the last record, if it has no line end, and a quote never closed. */
  finish(): void {
    if (this.head !== null) {
      const head = this.head;
      this.head = null;
      this.tokenize(this.unmark(head));
    }
    if (this.utf16) this.tokenize(utf8(this.utf16.decode()));
    if (!this.inRecord) return;
    if (this.mode === QUOTED) {
      this.error ??= `Quote Not Closed: the quote opened on line ${this.quoteLine} is still open at the end of the file`;
    }
    // In QUOTE_SEEN the quote the file ends on closes the field; its content is all in `pieces`.
    this.endField(EMPTY, 0, 0);
    this.endRecord();
    this.inRecord = false;
    this.mode = START;
  }

  private unmark(head: Uint8Array): Uint8Array {
    if (head[0] === UTF8_BOM[0] && head[1] === UTF8_BOM[1] && head[2] === UTF8_BOM[2]) return head.subarray(3);
    if (head[0] === 0xff && head[1] === 0xfe) {
      // TextDecoder drops the mark itself.
      this.utf16 = new TextDecoder('utf-16le');
      return utf8(this.utf16.decode(head, { stream: true }));
    }
    return head;
  }

  private wanted(field: number): boolean {
    return this.columns === null || (field < this.slotOf.length && this.slotOf[field]! >= 0);
  }

  private describe(field: number): string {
    const name = this.columns?.[field];
    return name === undefined ? `field ${field + 1}` : `field ${field + 1} (column ${JSON.stringify(name.trim())})`;
  }

  private endField(b: Uint8Array, s: number, e: number): void {
    const f = this.field++;
    const escaped = this.fieldEscaped;
    this.fieldEscaped = false;
    if (this.pieces.length) {
      b = concat([...this.pieces, b.subarray(s, e)]);
      s = 0;
      e = b.length;
      this.pieces = [];
    }
    if (this.columns === null) {
      this.headerFields.push(decodeField(b, s, e, escaped));
      return;
    }
    if (f >= this.slotOf.length) return;
    const k = this.slotOf[f]!;
    if (k < 0) return;
    this.buf[k] = b;
    this.start[k] = s;
    this.end[k] = e;
    this.escaped[k] = escaped ? 1 : 0;
  }

  private endRecord(): void {
    const fields = this.field;
    this.field = 0;
    const error = this.error;
    if (error !== null) {
      this.error = null;
      this.headerFields = [];
      this.sink.malformed(this.recordLine, error);
    } else if (this.columns === null) {
      const columns = this.headerFields;
      this.headerFields = [];
      this.setWanted(columns, this.sink.header(columns, this.recordLine));
    } else {
      this.sink.record(this.recordLine, fields);
    }
  }

  private setWanted(columns: string[], wanted: readonly number[]): void {
    this.columns = columns;
    this.wantedColumns = wanted;
    this.slotOf = new Int32Array(Math.max(0, ...wanted.map((c) => c + 1))).fill(-1);
    wanted.forEach((c, k) => (this.slotOf[c] = k));
    this.buf = wanted.map(() => EMPTY);
    this.start = new Int32Array(wanted.length);
    this.end = new Int32Array(wanted.length);
    this.escaped = new Uint8Array(wanted.length);
  }

  /**
   * The common case, apart for speed: whole data records from `i` on with no quote, inside this chunk. Returns
   * where the first record that is not one starts (a quote, an empty line, the end of the chunk), for tokenize.
   */
  private plainRecords(b: Uint8Array, i: number): number {
    const n = b.length;
    const slotOf = this.slotOf;
    const slots = slotOf.length;
    const bufs = this.buf;
    const start = this.start;
    const end = this.end;
    const escaped = this.escaped;
    records: while (i < n) {
      const first = b[i]!;
      if (first === LF || first === CR) {
        // The LF of a CRLF that ended the previous record: skipped, as tokenize would.
        if (first === LF && i > 0 && b[i - 1] === CR) {
          i++;
          continue;
        }
        return i;
      }
      let j = i;
      let field = 0;
      let fs = i;
      for (;;) {
        while (j < n && STOP_PLAIN[b[j]!] === 0) j++;
        if (j === n) return i;
        const c = b[j]!;
        if (c === QUOTE) return i;
        if (field < slots) {
          const k = slotOf[field]!;
          if (k >= 0) {
            bufs[k] = b;
            start[k] = fs;
            end[k] = j;
            escaped[k] = 0;
          }
        }
        field++;
        fs = ++j;
        if (c === COMMA) continue;
        const line = this.line++;
        this.recordLine = line;
        this.sink.record(line, field);
        i = j;
        continue records;
      }
    }
    return i;
  }

  private tokenize(chunk: Uint8Array): void {
    // A plain Uint8Array view: element loads on it and on the tables above stay monomorphic (a Buffer is a
    // subclass, and mixing the two in these loops halves their speed).
    const b = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const n = b.length;
    if (n === 0) return;
    let mode = this.mode;
    // Positions in this chunk: the current field's content starts at fs (0 when it began in an earlier chunk),
    // a quoted one ends at fe; qpos is the quote of QUOTE_SEEN (0: it ended the previous chunk).
    let fs = 0;
    let fe = 0;
    let qpos = 0;
    let i = 0;
    // A doubled quote split between chunks: the first quote was left out of `pieces`.
    if (mode === QUOTE_SEEN && b[0] === QUOTE && this.wanted(this.field)) this.pieces.push(QUOTE_BYTE);
    const lfEndsLine = (at: number) => (at > 0 ? b[at - 1] !== CR : !this.afterCR);

    while (i < n) {
      if (mode === START) {
        if (!this.inRecord && this.columns !== null) {
          i = this.plainRecords(b, i);
          if (i === n) break;
        }
        const c = b[i]!;
        if (!this.inRecord) {
          if (c === LF || c === CR) {
            // A line with nothing on it (or the LF of a CRLF that ended a record).
            if (c === CR || lfEndsLine(i)) this.line++;
            i++;
            continue;
          }
          this.inRecord = true;
          this.recordLine = this.line;
        }
        if (c === QUOTE) {
          mode = QUOTED;
          this.quoteLine = this.line;
          fs = ++i;
          continue;
        }
        mode = PLAIN;
        fs = i;
      }
      if (mode === PLAIN) {
        while (i < n && STOP_PLAIN[b[i]!] === 0) i++;
        if (i === n) break;
        const c = b[i]!;
        if (c === QUOTE) {
          this.error ??= `Invalid Opening Quote: a quote inside ${this.describe(this.field)}, which is not quoted`;
          i++;
          continue;
        }
        this.endField(b, fs, i);
        i++;
        mode = START;
        if (c === COMMA) continue;
        this.endRecord();
        this.inRecord = false;
        this.line++;
        continue;
      }
      if (mode === QUOTED) {
        for (;;) {
          while (i < n && STOP_QUOTED[b[i]!] === 0) i++;
          if (i === n || b[i] === QUOTE) break;
          if (b[i] === CR || lfEndsLine(i)) this.line++;
          i++;
        }
        if (i === n) break;
        qpos = i++;
        mode = QUOTE_SEEN;
        continue;
      }
      if (mode === QUOTE_SEEN) {
        if (b[i] === QUOTE) {
          this.fieldEscaped = true;
          mode = QUOTED;
          i++;
          continue;
        }
        fe = qpos;
        mode = CLOSED;
      }
      // CLOSED: the field's content is [fs, fe); a comma or a line end must follow.
      const c = b[i]!;
      if (c === COMMA || c === LF || c === CR) {
        this.endField(b, fs, fe);
        i++;
        mode = START;
        if (c === COMMA) continue;
        this.endRecord();
        this.inRecord = false;
        this.line++;
        continue;
      }
      this.error ??=
        `Invalid Closing Quote: ${c < 0x80 ? JSON.stringify(String.fromCharCode(c)) : `byte 0x${c.toString(16)}`} ` +
        `after the closing quote of ${this.describe(this.field)}, where a comma or the end of the line must be`;
      // Read on as unquoted text up to the next comma or line end: the record is skipped anyway.
      mode = PLAIN;
    }

    // The chunk ends inside a record: keep what its wanted fields need from this chunk's bytes, copied, since
    // the stream may reuse them.
    if (this.inRecord) {
      if (mode !== START && this.wanted(this.field)) {
        const upTo = mode === QUOTE_SEEN ? qpos : mode === CLOSED ? fe : n;
        if (upTo > fs) this.pieces.push(b.slice(fs, upTo));
      }
      if (this.columns !== null) {
        for (let k = 0; k < this.wantedColumns.length; k++) {
          if (this.wantedColumns[k]! < this.field && this.buf[k] === b) {
            this.buf[k] = b.slice(this.start[k], this.end[k]);
            this.start[k] = 0;
            this.end[k] = this.buf[k]!.length;
          }
        }
      }
    }
    this.afterCR = b[n - 1] === CR;
    this.mode = mode;
  }
}
