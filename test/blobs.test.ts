import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobNotFound, BlobTooLarge, FileBlobStore } from '../blobs/index.js';

/** Real files in a temporary folder, under the common umask 022 (under which a plain write is world-readable). */
const mode = async (path: string) => (await stat(path)).mode & 0o777;
const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/** The content in chunks that arrive over several turns of the event loop, so concurrent puts interleave. */
function trickle(content: Buffer, chunk = 1000): Readable {
  return Readable.from(
    (async function* () {
      for (let at = 0; at < content.length; at += chunk) {
        await new Promise((r) => setImmediate(r));
        yield content.subarray(at, at + chunk);
      }
    })(),
  );
}

let root: string;
let umask: number;
beforeAll(async () => {
  umask = process.umask(0o022);
  root = await mkdtemp(join(tmpdir(), 'blobs-'));
});
afterAll(async () => {
  process.umask(umask);
  await rm(root, { recursive: true, force: true });
});

let n = 0;
const freshStore = () => new FileBlobStore(join(root, `store-${++n}`, 'blobs'));

describe('FileBlobStore', () => {
  it('keeps a stream under its SHA-256, 0600 in 0700 folders, and gives the same bytes back', async () => {
    const blobs = freshStore();
    const content = Buffer.from('label,prediction,sex\n1,1,F\n0,1,M\n'.repeat(500));
    const put = await blobs.put(trickle(content), { maxBytes: 1024 * 1024 });
    expect(put).toEqual({ sha256: sha(content), bytes: content.length });

    const file = join(blobs.dir, put.sha256.slice(0, 2), put.sha256);
    expect(blobs.pathOf(put.sha256)).toBe(file);
    expect(await readFile(file)).toEqual(content);
    expect(await mode(file)).toBe(0o600);
    expect(await mode(blobs.dir)).toBe(0o700);
    expect(await mode(join(blobs.dir, put.sha256.slice(0, 2)))).toBe(0o700);
    expect(await mode(join(blobs.dir, '.tmp'))).toBe(0o700);
    expect(await readdir(join(blobs.dir, '.tmp'))).toEqual([]);

    expect(await blobs.has(put.sha256)).toBe(true);
    expect(await blobs.has(sha('something else'))).toBe(false);
    expect(await text(blobs.open(put.sha256))).toBe(content.toString());
  });

  it('keeps an empty upload too', async () => {
    const blobs = freshStore();
    expect(await blobs.put(Readable.from([]), { maxBytes: 10 })).toEqual({ sha256: sha(''), bytes: 0 });
    expect(await blobs.has(sha(''))).toBe(true);
  });

  it('stores the same content twice as one blob, and keeps the one already there', async () => {
    const blobs = freshStore();
    const content = Buffer.from('a,b\n1,0\n');
    const first = await blobs.put(Readable.from([content]), { maxBytes: 100 });
    const before = await stat(blobs.pathOf(first.sha256));
    const second = await blobs.put(Readable.from([content.subarray(0, 3), content.subarray(3)]), { maxBytes: 100 });
    expect(second).toEqual(first);
    const after = await stat(blobs.pathOf(first.sha256));
    expect(after.ino).toBe(before.ino);
    expect(await readdir(join(blobs.dir, first.sha256.slice(0, 2)))).toEqual([first.sha256]);
    expect(await readdir(join(blobs.dir, '.tmp'))).toEqual([]);
  });

  it('concurrent puts of the same content leave one whole blob and no temporary file', async () => {
    const blobs = freshStore();
    const content = Buffer.from(
      Array.from({ length: 20_000 }, (_, i) => `${i % 2},${i % 3 ? 1 : 0},g${i % 7}\n`).join(''),
    );
    const results = await Promise.all(
      Array.from({ length: 8 }, () => blobs.put(trickle(content, 4096), { maxBytes: 10e6 })),
    );
    for (const r of results) expect(r).toEqual({ sha256: sha(content), bytes: content.length });
    expect(await readdir(join(blobs.dir, sha(content).slice(0, 2)))).toEqual([sha(content)]);
    expect(await readFile(blobs.pathOf(sha(content)))).toEqual(content);
    expect(await readdir(join(blobs.dir, '.tmp'))).toEqual([]);
  });

  it('refuses a stream past maxBytes with BlobTooLarge, keeps nothing, and leaves the stream to its owner', async () => {
    const blobs = freshStore();
    const content = Buffer.alloc(10_001, 'x');
    const input = trickle(content, 1000);
    const refusal = await blobs.put(input, { maxBytes: 10_000 }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(BlobTooLarge);
    expect((refusal as BlobTooLarge).maxBytes).toBe(10_000);
    expect((refusal as Error).message).toBe('the upload is over the limit of 10000 bytes');
    expect(input.destroyed).toBe(false);
    expect(await readdir(join(blobs.dir, '.tmp'))).toEqual([]);
    expect(await blobs.has(sha(content))).toBe(false);
    expect((await readdir(blobs.dir)).sort()).toEqual(['.tmp']);

    // Exactly the limit is within it.
    const exact = content.subarray(0, 10_000);
    expect(await blobs.put(trickle(exact), { maxBytes: 10_000 })).toEqual({ sha256: sha(exact), bytes: 10_000 });
  });

  it('removes the temporary file when the input fails midway', async () => {
    const blobs = freshStore();
    const input = Readable.from(
      (async function* () {
        yield Buffer.from('half a file');
        await new Promise((r) => setImmediate(r));
        throw new Error('the client went away');
      })(),
    );
    await expect(blobs.put(input, { maxBytes: 1000 })).rejects.toThrow('the client went away');
    expect(await readdir(join(blobs.dir, '.tmp'))).toEqual([]);
    expect(await blobs.has(sha('half a file'))).toBe(false);
  });

  it('names a missing blob, and refuses anything that is not a SHA-256 before touching the file system', async () => {
    const blobs = freshStore();
    const missing = sha('never stored');
    const err = await text(blobs.open(missing)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobNotFound);
    expect((err as BlobNotFound).sha256).toBe(missing);
    for (const bad of ['../../etc/passwd', missing.toUpperCase(), missing.slice(1), '']) {
      expect(() => blobs.open(bad)).toThrow(/not a SHA-256/);
      await expect(blobs.has(bad)).rejects.toThrow(/not a SHA-256/);
    }
  });
});
