/**
 * A content-addressed store for uploaded files (predictions for bias testing): a file is kept under the SHA-256
 * of its bytes, so whoever holds the hash (the workflow's history, the evidence record) names exactly those
 * bytes, the same upload twice is one blob, and nothing is ever rewritten. The API writes, the worker reads: in
 * production both mount the same BLOB_DIR.
 */
import { createHash, randomBytes } from 'node:crypto';
import { close as closeFd, createReadStream, open as openFd, read as readFd, type ReadStream } from 'node:fs';
import { chmod, link, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

export interface BlobStore {
  /**
   * Stores the stream's bytes and answers their SHA-256 and length. Past `maxBytes` it stops reading and rejects
   * with BlobTooLarge, keeping nothing. It never destroys `input`: on a refusal the caller decides what becomes of
   * the rest (an HTTP server answers and closes the connection instead of losing the answer with the socket).
   */
  put(input: Readable, opts: { maxBytes: number }): Promise<{ sha256: string; bytes: number }>;
  /** The blob's bytes; a blob that is not there makes the stream fail with BlobNotFound. */
  open(sha256: string): Readable;
  has(sha256: string): Promise<boolean>;
}

export class BlobTooLarge extends Error {
  override name = 'BlobTooLarge';
  constructor(readonly maxBytes: number) {
    super(`the upload is over the limit of ${maxBytes} bytes`);
  }
}

export class BlobNotFound extends Error {
  override name = 'BlobNotFound';
  constructor(readonly sha256: string) {
    super(`no blob ${sha256} in the blob store`);
  }
}

const SHA256 = /^[0-9a-f]{64}$/;

/** Only the user running the product reads uploads (they are personal data): as $DATA_DIR, see embedded/private-files.ts. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** Large reads: the fairness reader is the hot path, and fewer, bigger chunks cost it less per byte. */
const READ_CHUNK = 256 * 1024;

/**
 * Blobs as files `<dir>/<first two hex digits>/<sha256>`. A put writes a temporary file in `<dir>/.tmp` (same
 * file system, so the final step is atomic) while hashing and counting, then links it into place: a reader never
 * sees a partial blob, and a blob already there is kept as it is.
 */
export class FileBlobStore implements BlobStore {
  constructor(readonly dir: string) {}

  pathOf(sha256: string): string {
    if (!SHA256.test(sha256)) throw new Error(`not a SHA-256 in hex: ${JSON.stringify(sha256)}`);
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  async put(input: Readable, opts: { maxBytes: number }): Promise<{ sha256: string; bytes: number }> {
    const tmpDir = join(this.dir, '.tmp');
    await privateDir(this.dir);
    await privateDir(tmpDir);
    const tmp = join(tmpDir, `${process.pid}-${randomBytes(12).toString('hex')}.part`);
    const file = await open(tmp, 'wx', FILE_MODE);
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      await chmod(tmp, FILE_MODE);
      for await (const chunk of input.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer | string>) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        bytes += buf.length;
        if (bytes > opts.maxBytes) throw new BlobTooLarge(opts.maxBytes);
        hash.update(buf);
        await file.write(buf);
      }
      // On disk before it is named: a crash after the link must not leave a named blob with missing bytes.
      await file.sync();
      await file.close();
    } catch (err) {
      await file.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw err;
    }
    const sha256 = hash.digest('hex');
    const target = this.pathOf(sha256);
    try {
      await privateDir(join(this.dir, sha256.slice(0, 2)));
      await placeOnce(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
    return { sha256, bytes };
  }

  open(sha256: string): Readable {
    const path = this.pathOf(sha256);
    // fs.ReadStream opens the file lazily and reports a failure as an error event: name a missing blob as such.
    return createReadStream(path, {
      highWaterMark: READ_CHUNK,
      fs: {
        open: (p: string, flags: string, mode: number, cb: (err: Error | null, fd?: number) => void) =>
          openFd(p, flags, mode, (err, fd) => cb(err?.code === 'ENOENT' ? new BlobNotFound(sha256) : err, fd)),
        read: readFd,
        close: closeFd,
      },
    } as Parameters<typeof createReadStream>[1]) as ReadStream;
  }

  async has(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(sha256))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }
}

async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  await chmod(dir, DIR_MODE);
}

/**
 * A hard link never replaces: two uploads of the same content racing each other leave the first one's file, and
 * the second finds EEXIST. Where the file system has no hard links, a rename does (replacing identical bytes,
 * which a reader holding the old file does not notice).
 */
async function placeOnce(tmp: string, target: string): Promise<void> {
  try {
    await link(tmp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
      await rename(tmp, target);
      return;
    }
    throw err;
  }
}
