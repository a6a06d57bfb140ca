import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBlobStore } from '../../blobs/index.js';

/**
 * A blob store of its own for one harness, in a folder that only comes into being with the first upload (most
 * tests upload nothing); whoever made it removes `blobs.dir` when done.
 */
export function scratchBlobStore(name = 'blobs'): FileBlobStore {
  return new FileBlobStore(join(tmpdir(), `ai-impact-${name}-${process.pid}-${randomBytes(6).toString('hex')}`));
}
