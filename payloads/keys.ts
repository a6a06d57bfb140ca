import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * The AES-256 keys Temporal payloads are encrypted with, as configured in
 * PAYLOAD_ENCRYPTION_KEYS: `k2:<base64 of 32 bytes>,k1:<…>`. The first key
 * encrypts; every key listed decrypts, so a rotation adds a new key in front
 * and keeps the old ones until no open workflow's history still needs them.
 * The key id travels in each payload's metadata in clear: it names a key,
 * it is no secret.
 */
export interface PayloadKeys {
  /** The id new payloads are encrypted under. */
  current: string;
  keys: ReadonlyMap<string, Buffer>;
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const KEY_BYTES = 32;
const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$/;

export const payloadKeysSchema = z
  .string()
  .trim()
  .min(1)
  .transform((raw, ctx): PayloadKeys => {
    const keys = new Map<string, Buffer>();
    const entries = raw.split(',').map((e) => e.trim());
    entries.forEach((entry, i) => {
      const where = `entry ${i + 1} of ${entries.length}`;
      const colon = entry.indexOf(':');
      const id = colon < 0 ? '' : entry.slice(0, colon);
      const material = colon < 0 ? '' : entry.slice(colon + 1).trim();
      if (!KEY_ID.test(id)) {
        ctx.addIssue({
          code: 'custom',
          message: `${where} must be <key id>:<base64 key>, the id of letters, digits, '.', '_' or '-' (e.g. k1:$(openssl rand -base64 32))`,
        });
        return;
      }
      if (keys.has(id)) {
        ctx.addIssue({ code: 'custom', message: `${where}: key id “${id}” is listed twice` });
        return;
      }
      const bytes = BASE64.test(material) ? Buffer.from(material, 'base64') : undefined;
      if (!bytes || bytes.length !== KEY_BYTES) {
        ctx.addIssue({
          code: 'custom',
          message: `${where} (“${id}”): the key must be ${KEY_BYTES} bytes in base64 (${bytes ? `got ${bytes.length} bytes` : 'not base64'}); make one with openssl rand -base64 32`,
        });
        return;
      }
      keys.set(id, bytes);
    });
    if (keys.size !== entries.length) return z.NEVER;
    return { current: entries[0]!.slice(0, entries[0]!.indexOf(':')), keys };
  });

export function parsePayloadKeys(raw: string): PayloadKeys {
  return payloadKeysSchema.parse(raw);
}

/** The configuration string for a set of keys, the current one first. */
export function formatPayloadKeys(keys: PayloadKeys): string {
  const ids = [keys.current, ...[...keys.keys.keys()].filter((id) => id !== keys.current)];
  return ids.map((id) => `${id}:${keys.keys.get(id)!.toString('base64')}`).join(',');
}

/** A fresh key set of one key, for embedded mode and tests. */
export function generatePayloadKeys(id = 'k1'): PayloadKeys {
  return { current: id, keys: new Map([[id, randomBytes(KEY_BYTES)]]) };
}

export const PAYLOAD_KEYS_FILE = 'payload-keys';

/**
 * Embedded mode: the keys in $DATA_DIR/payload-keys, made on first start
 * (mode 0600). Losing the file makes every recorded payload unreadable, so a
 * file that exists but does not parse stops start-up instead of being
 * replaced.
 */
export async function embeddedPayloadKeys(dataDir: string): Promise<PayloadKeys> {
  const file = join(dataDir, PAYLOAD_KEYS_FILE);
  let existing: string | undefined;
  try {
    existing = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existing !== undefined) {
    const parsed = payloadKeysSchema.safeParse(existing);
    if (!parsed.success) {
      throw new Error(`${file}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    }
    return parsed.data;
  }
  const keys = generatePayloadKeys();
  try {
    // 'wx': of two starts racing on one data folder, the second reads the first one's key instead of replacing it.
    await writeFile(file, formatPayloadKeys(keys) + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return embeddedPayloadKeys(dataDir);
    throw err;
  }
  return keys;
}
