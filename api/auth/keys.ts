import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `ail_<prefix>_<secret>`: the prefix (8 characters) is
 * shown in lists and is how a holder recognises a key; the secret is 256
 * random bits. Only the SHA-256 of the whole key is stored: a key of that
 * entropy cannot be guessed from its hash, so a slow password hash would
 * only cost every request time.
 */
const KEY_PATTERN = /^ail_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/;

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

export function newApiKey(): { key: string; prefix: string; hash: string; id: string } {
  const prefix = randomBytes(8)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '0')
    .slice(0, 8);
  const key = `ail_${prefix}_${randomBytes(32).toString('base64url')}`;
  return {
    key,
    prefix,
    hash: sha256Hex(key),
    id: `ak_${randomBytes(9)
      .toString('base64url')
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '0')}`,
  };
}

export function looksLikeApiKey(value: string): boolean {
  return KEY_PATTERN.test(value);
}

/** A random token for single-use links (login), and its stored hash. */
export function newToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: sha256Hex(token) };
}

export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
