import { chmod, mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * $DATA_DIR holds the link, session and payload secrets, the admin key, the
 * caught mail (live approval links) and the databases: only the user running
 * the product may read any of it. Files get 0600 and directories 0700 when
 * written, since the umask would make them world-readable.
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/**
 * What `npm start` keeps directly in $DATA_DIR that is secret or personal:
 * only these are narrowed, so a DATA_DIR pointed at a folder with other files
 * in it leaves those alone.
 */
export const DATA_DIR_FILES = [
  'approval-link-secret',
  'session-secret',
  'person-key-secret',
  'decision-signing-key',
  'payload-keys',
  'admin-api-key',
  'mailbox.json',
  'temporal.db',
  'temporal-dev-server.pid',
] as const;

/**
 * Creates the folder (0700) or narrows an existing one to 0700, and narrows
 * the product's files in it to 0600: a data folder made by an earlier version
 * has its secrets at the umask's mode.
 */
export async function ensurePrivateDir(dir: string, files: readonly string[] = DATA_DIR_FILES): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await chmod(dir, PRIVATE_DIR_MODE);
  const present = new Set((await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name));
  for (const name of files) if (present.has(name)) await chmod(join(dir, name), PRIVATE_FILE_MODE);
}

/**
 * Writes a file only its owner can read, atomically: written whole under a
 * temporary name at 0600, then renamed, so no reader ever sees it half
 * written or at a wider mode (`mode` alone only applies when a file is created).
 */
export async function writePrivateFile(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, content, { encoding: 'utf8', mode: PRIVATE_FILE_MODE });
  await chmod(tmp, PRIVATE_FILE_MODE);
  await rename(tmp, file);
}
