import { mkdtemp, rm, stat, writeFile, chmod, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSmtpMailer } from '../activities/mailer.js';
import { startDevMailbox } from '../embedded/dev-mailbox.js';
import { ensurePrivateDir, writePrivateFile } from '../embedded/private-files.js';

/**
 * $DATA_DIR holds secrets and caught mail (live approval links): only its
 * owner may read them, whatever the umask. The umask here is the common
 * 022, under which a plain write is world-readable.
 */
const mode = async (path: string) => (await stat(path)).mode & 0o777;

let root: string;
let umask: number;
beforeAll(async () => {
  umask = process.umask(0o022);
  root = await mkdtemp(join(tmpdir(), 'private-files-'));
});
afterAll(async () => {
  process.umask(umask);
  await rm(root, { recursive: true, force: true });
});

describe('the data folder', () => {
  it('is made 0700', async () => {
    const dir = join(root, 'fresh', 'data');
    await ensurePrivateDir(dir);
    expect(await mode(dir)).toBe(0o700);
  });

  it('narrows a folder an earlier version made, and the secrets in it, to 0700 and 0600', async () => {
    const dir = join(root, 'old');
    await mkdir(dir, { mode: 0o755 });
    await writeFile(join(dir, 'approval-link-secret'), 'secret\n');
    await chmod(join(dir, 'approval-link-secret'), 0o644);
    await writeFile(join(dir, 'notes.txt'), 'not ours\n');
    await ensurePrivateDir(dir);
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(join(dir, 'approval-link-secret'))).toBe(0o600);
    // A file the product did not write is left as it was.
    expect(await mode(join(dir, 'notes.txt'))).toBe(0o644);
  });

  it('writes secrets 0600, also over a file that was wider', async () => {
    const file = join(root, 'session-secret');
    await writeFile(file, 'old\n');
    await chmod(file, 0o644);
    await writePrivateFile(file, 'new-secret\n');
    expect(await mode(file)).toBe(0o600);
    expect(await readFile(file, 'utf8')).toBe('new-secret\n');
  });

  it('keeps the caught mail 0600: it holds every live approval link', async () => {
    const file = join(root, 'mail', 'mailbox.json');
    const mailbox = await startDevMailbox({ port: 0, persistFile: file });
    const mailer = createSmtpMailer(mailbox.url, 'AI Governance <governance@example.org>');
    try {
      await mailer.send({
        to: 'approver@example.org',
        subject: 'Approval needed',
        text: 'Open http://approvals.test/approvals/eyJhbGciOiJIUzI1NiJ9.e30.sig',
        html: '<p>Open the link</p>',
        messageId: '<private-files-test@example.org>',
        headers: {},
      });
      await mailbox.waitFor((m) => m.subject === 'Approval needed', { timeoutMs: 10_000 });
    } finally {
      mailer.close();
      // Stopping flushes what the mailbox persists.
      await mailbox.stop();
    }
    expect(await readFile(file, 'utf8')).toContain('Approval needed');
    expect(await mode(file)).toBe(0o600);
  });
});
