/**
 * The streaming predictions reader (fairness/reader.ts): counts from any CSV that RFC 4180 allows (quoted
 * fields, escaped quotes, embedded newlines, CRLF, extra columns) and from JSONL equal counts made naively from
 * the same rows (fast-check), the SHA-256 is the file's, and each bad file gets its own clear refusal.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FairnessFileError, analysePredictions, type PredictionSpec } from '../fairness/reader.js';

/** The file as a stream of small chunks, so records and multi-byte characters straddle chunk boundaries. */
const streamOf = (text: string, chunk = 7) => {
  const bytes = Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  return Readable.from(parts);
};

/** A field as RFC 4180 writes it: quoted when it holds a comma, a quote, CR or LF, quotes doubled. */
const csvField = (v: string, forceQuote: boolean) =>
  forceQuote || /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;

const spec: PredictionSpec = { format: 'csv', label: 'y', prediction: 'p', sensitive: ['s', 't'] };
const fast = { resamples: 0, minGroupSize: 0 };

describe('counts', () => {
  const value = fc.oneof(
    fc.constantFrom('a', 'b', 'x, y', 'say "hi"', 'two\nlines', 'crlf\r\ninside', ' padded ', 'é✓'),
    fc.string({ minLength: 1, maxLength: 4 }),
  );
  const row = fc.record({ y: fc.boolean(), p: fc.boolean(), s: value, t: value, extra: fc.string() });

  it('from CSV, however quoted, equal the counts made naively from the rows', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(row, { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        fc.boolean(),
        async (rows, crlf, quoteAll) => {
          const eol = crlf ? '\r\n' : '\n';
          const lines = [['extra', 'y', 's', 'p', 't'].map((h) => csvField(h, quoteAll)).join(',')];
          for (const r of rows) {
            lines.push(
              [r.extra, r.y ? '1' : '0', r.s, r.p ? 'true' : 'false', r.t].map((v) => csvField(v, quoteAll)).join(','),
            );
          }
          const text = lines.join(eol) + eol;
          const report = await analysePredictions(streamOf(text), spec, fast);
          expect(report.rows).toBe(rows.length);
          expect(report.sha256).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
          const naive = new Map<string, { tp: number; fp: number; fn: number; tn: number }>();
          for (const r of rows) {
            const key = `${r.s} × ${r.t}`;
            const c = naive.get(key) ?? { tp: 0, fp: 0, fn: 0, tn: 0 };
            c[r.y ? (r.p ? 'tp' : 'fn') : r.p ? 'fp' : 'tn']++;
            naive.set(key, c);
          }
          const got = report.groups.filter((g) => g.intersection && !g.empty);
          expect(got.length).toBe(naive.size);
          for (const g of got) {
            const { tp, fp, fn, tn } = g.confusion;
            expect({ tp, fp, fn, tn }, g.group).toEqual(naive.get(g.values.join(' × ')));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  /** The file cut at the given sizes (cycled), so boundaries fall inside CRLF, quotes and multi-byte characters. */
  const streamInSizes = (bytes: Buffer, sizes: number[]) => {
    const parts: Buffer[] = [];
    for (let i = 0, n = 0; i < bytes.length; n++) {
      const size = sizes[n % sizes.length]!;
      parts.push(bytes.subarray(i, i + size));
      i += size;
    }
    return Readable.from(parts);
  };
  const naiveCounts = (rows: { y: boolean; p: boolean; s: string; t: string }[]) => {
    const naive = new Map<string, { tp: number; fp: number; fn: number; tn: number }>();
    for (const r of rows) {
      const key = `${r.s} × ${r.t}`;
      const c = naive.get(key) ?? { tp: 0, fp: 0, fn: 0, tn: 0 };
      c[r.y ? (r.p ? 'tp' : 'fn') : r.p ? 'fp' : 'tn']++;
      naive.set(key, c);
    }
    return naive;
  };
  const countsOf = (report: Awaited<ReturnType<typeof analysePredictions>>) =>
    new Map(
      report.groups
        .filter((g) => g.intersection && !g.empty)
        .map((g) => {
          const { tp, fp, fn, tn } = g.confusion;
          return [g.values.join(' × '), { tp, fp, fn, tn }];
        }),
    );
  const lineBreaks = (text: string) => text.match(/\r\n|\r|\n/g)?.length ?? 0;
  const newlineValue = fc.oneof(value, fc.constantFrom('a\rb', '\r\n', '"\r\n"', 'x\n\ny', '""', ',', '\n'));

  it('from CSV cut into chunks of any size, with LF, CRLF or CR line ends, quoted line breaks, a BOM and blank lines, equal the naive counts', async () => {
    const wideRow = fc.record({
      y: fc.boolean(),
      p: fc.boolean(),
      s: newlineValue,
      t: newlineValue,
      extra: newlineValue,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ row: wideRow, blankBefore: fc.boolean(), quote: fc.boolean() }), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 23 }), { minLength: 1, maxLength: 8 }),
        async (rows, eol, bom, finalEol, sizes) => {
          let text = (bom ? '\ufeff' : '') + 'extra,y,s,p,t' + eol;
          rows.forEach(({ row: r, blankBefore, quote }, i) => {
            if (blankBefore) text += eol;
            text += [r.extra, r.y ? '1' : '0', r.s, r.p ? 'yes' : 'no', r.t].map((v) => csvField(v, quote)).join(',');
            if (finalEol || i < rows.length - 1) text += eol;
          });
          const bytes = Buffer.from(text, 'utf8');
          const report = await analysePredictions(streamInSizes(bytes, sizes), spec, fast);
          expect(report.rows).toBe(rows.length);
          expect(report.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
          expect(countsOf(report)).toEqual(naiveCounts(rows.map((r) => r.row)));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('skip malformed CSV records, each reported on the line it starts on, in any chunking', async () => {
    const fault = fc.constantFrom('none', 'none', 'none', 'no label', 'short', 'opening quote', 'closing quote');
    const faultyRow = fc.record({ y: fc.boolean(), p: fc.boolean(), s: newlineValue, t: newlineValue, fault });
    await fc.assert(
      fc.asyncProperty(
        fc.array(faultyRow, { minLength: 1, maxLength: 40 }),
        fc.constantFrom('\n', '\r\n'),
        fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 6 }),
        async (rows, eol, sizes) => {
          let text = 'extra,y,s,p,t' + eol;
          let line = 2;
          const expected: { line: number; message: RegExp }[] = [];
          for (const r of rows) {
            const fields = [
              r.fault === 'opening quote' ? 'ab"c' : r.fault === 'closing quote' ? '"ab"c' : 'e',
              r.fault === 'no label' ? '' : r.y ? '1' : '0',
              csvField(r.s, false),
              r.p ? '1' : '0',
              csvField(r.t, false),
            ];
            const record = r.fault === 'short' ? fields.slice(0, 3).join(',') : fields.join(',');
            const messages = {
              'no label': /^no value for column "y"$/,
              short: /^no value for column "p"$/,
              'opening quote': /^Invalid Opening Quote: .*field 1 \(column "extra"\)/,
              'closing quote': /^Invalid Closing Quote: "c" after the closing quote of field 1/,
            };
            if (r.fault !== 'none') expected.push({ line, message: messages[r.fault] });
            text += record + eol;
            line += 1 + lineBreaks(record);
          }
          const good = rows.filter((r) => r.fault === 'none');
          const stream = streamInSizes(Buffer.from(text, 'utf8'), sizes);
          if (!good.length) {
            await expect(analysePredictions(stream, spec, { ...fast, maxMalformedRows: rows.length })).rejects.toThrow(
              /no row could be counted/,
            );
            return;
          }
          const report = await analysePredictions(stream, spec, { ...fast, maxMalformedRows: rows.length });
          expect(report.rows).toBe(good.length);
          expect(countsOf(report)).toEqual(naiveCounts(good));
          expect(report.skipped.count).toBe(expected.length);
          expect(report.skipped.first.map((s) => s.line)).toEqual(expected.slice(0, 10).map((e) => e.line));
          report.skipped.first.forEach((s, i) => expect(s.message).toMatch(expected[i]!.message));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('read a field longer than many chunks, wanted or not, and weights written in any way Number() reads', async () => {
    const long = 'x'.repeat(200_000);
    const text =
      `y,p,s,w,note\n1,1,"${long}",2.50,"${long.replaceAll('x', '""')}"\n0,1,a,1e0,${long}\n` +
      `1,0,a, 3 ,"q"\n0,0,a,0.1,\n`;
    const r = await analysePredictions(
      streamOf(text, 4096),
      { format: 'csv', label: 'y', prediction: 'p', sensitive: ['s'], weight: 'w' },
      fast,
    );
    expect(r.rows).toBe(4);
    expect(
      r.groups.map((g) => [g.group.length, g.confusion.tp, g.confusion.fp, g.confusion.fn, g.confusion.tn]),
    ).toEqual([
      [1, 0, 1, 3, 0.1],
      [200_000, 2.5, 0, 0, 0],
    ]);
  });

  it('read UTF-16LE with its byte-order mark, as csv-parse did', async () => {
    const text = 'y,p,s\r\n1,1,é\r\n0,1,é\r\n';
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    const r = await analysePredictions(streamInSizes(bytes, [3]), { ...spec, sensitive: ['s'] }, fast);
    expect(r.groups.map((g) => [g.group, g.count])).toEqual([['é', 2]]);
  });

  it('from JSONL equal those from the same rows as CSV', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 30 }), async (rows) => {
        const jsonl = rows.map((r) => JSON.stringify({ y: r.y ? 1 : 0, p: r.p, s: r.s, t: r.t })).join('\n');
        const csv =
          'y,p,s,t\n' +
          rows
            .map((r) => [r.y ? '1' : '0', r.p ? '1' : '0', r.s, r.t].map((v) => csvField(v, false)).join(','))
            .join('\n');
        const a = await analysePredictions(streamOf(jsonl), { ...spec, format: 'jsonl' }, fast);
        const b = await analysePredictions(streamOf(csv), spec, fast);
        expect(a.groups).toEqual(b.groups);
      }),
      { numRuns: 40 },
    );
  });

  it('take weights, a configured positive value, and trim labels but not sensitive values', async () => {
    const text = 'y,p,s,w\n approved ,approved,A ,2\nrejected,approved,A ,0.5\napproved,rejected,B,1\n';
    const r = await analysePredictions(
      streamOf(text),
      { format: 'csv', label: 'y', prediction: 'p', sensitive: ['s'], weight: 'w', positive: 'approved' },
      fast,
    );
    expect(r.groups.map((g) => [g.group, g.confusion.tp, g.confusion.fp, g.confusion.fn, g.confusion.weight])).toEqual([
      ['A ', 2, 0.5, 0, 2.5],
      ['B', 0, 0, 1, 1],
    ]);
    expect(r.positive).toMatch(/"approved" is positive/);
  });
});

describe('bad files', () => {
  const refusal = async (text: string, s: Partial<PredictionSpec> = {}, options = {}) => {
    try {
      await analysePredictions(streamOf(text), { ...spec, sensitive: ['s'], ...s }, { ...fast, ...options });
    } catch (err) {
      expect(err).toBeInstanceOf(FairnessFileError);
      return err as FairnessFileError;
    }
    throw new Error('the file was accepted');
  };

  it('a missing column is named, with the header', async () => {
    const err = await refusal('y,pred,s\n1,1,a\n');
    expect(err.message).toBe('column "p" not in the header; it has: "y", "pred", "s"');
    expect((await refusal('{"y":1,"s":"a"}\n', { format: 'jsonl' })).message).toMatch(
      /column "p" not in the first row/,
    );
  });

  it('a label that is not binary names the values seen', async () => {
    expect((await refusal('y,p,s\n1,1,a\n2,0,a\n')).message).toMatch(/column "y" is not binary: line 3 has "2"/);
    const err = await refusal('y,p,s\nyes,no,a\nno,maybe,a\n', { positive: 'yes' });
    expect(err.message).toMatch(/not binary.*values seen: "yes", "no", "maybe"/);
  });

  it('an empty file, or one with a header only', async () => {
    expect((await refusal('')).message).toBe('the file is empty');
    expect((await refusal('y,p,s\n')).message).toBe('the file has no data rows');
  });

  it('a file over the byte limit', async () => {
    const err = await refusal('y,p,s\n' + '1,1,a\n'.repeat(100), {}, { maxBytes: 100 });
    expect(err.message).toBe('the file is over the limit of 100 bytes');
  });

  it('more malformed rows than allowed are refused, the first ones listed with line numbers', async () => {
    const text = 'y,p,s,w\n1,1,a,1\n1,,a,1\n0,0,a,-1\n1,0\n0,0,a,1\n';
    const err = await refusal(text, { weight: 'w' }, { maxMalformedRows: 2 });
    expect(err.message).toBe(
      '2 malformed row(s) allowed, and 3 found; the first: line 3: no value for column "p"; ' +
        'line 4: weight "-1" is not a finite number ≥ 0; line 5: no value for column "w"',
    );
    expect(err.issues.map((i) => i.line)).toEqual([3, 4, 5]);
    // A quote never closed is a malformed record too, with its line.
    const quote = await refusal('y,p,s\n1,1,a\n"1,0,a\n');
    expect(quote.issues).toEqual([{ line: 3, message: expect.stringMatching(/Quote Not Closed/) }]);
    // Within the allowance they are skipped and reported.
    const ok = await analysePredictions(
      streamOf('y,p,s\n1,1,a\n1,,a\n0,0,b\n'),
      { ...spec, sensitive: ['s'] },
      {
        ...fast,
        maxMalformedRows: 1,
      },
    );
    expect(ok.rows).toBe(2);
    expect(ok.skipped).toEqual({ count: 1, first: [{ line: 3, message: 'no value for column "p"' }] });
  });

  it('a header that is not valid CSV is refused, not taken from the next line', async () => {
    const err = await refusal('y,"p"x,s\n1,1,a\n');
    expect(err.message).toMatch(/^the header \(line 1\) is not valid CSV: Invalid Closing Quote/);
  });

  it('JSONL lines that are not JSON objects are malformed rows', async () => {
    const err = await refusal('{"y":1,"p":1,"s":"a"}\nnot json\n[1]\n', { format: 'jsonl' }, { maxMalformedRows: 1 });
    expect(err.issues.map((i) => i.line)).toEqual([2, 3]);
  });
});
