import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

/**
 * The value as it will look after a round trip through JSON / jsonb:
 * Dates and other `toJSON` values become their JSON form, `undefined`
 * object members disappear, a top-level `undefined` becomes `null`.
 */
export function normalizeJson(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? null : (JSON.parse(text) as unknown);
}

/**
 * Canonical JSON: object keys sorted by UTF-16 code unit, no whitespace,
 * numbers and strings as `JSON.stringify` writes them. Stable across a jsonb
 * round trip (jsonb reorders keys; numbers parse back to the same double),
 * so equal content always hashes equal.
 */
export function canonicalJson(value: unknown): string {
  return write(normalizeJson(value));
}

function write(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(write).join(',')}]`;
  const record = value as Record<string, unknown>;
  return `{${Object.keys(record)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${write(record[k])}`)
    .join(',')}}`;
}

/**
 * SHA-256 of the canonical JSON. Pure JavaScript, so workflows can pin what
 * an approval covered without leaving the deterministic sandbox.
 */
export function contentDigest(value: unknown): string {
  return bytesToHex(sha256(utf8ToBytes(canonicalJson(value))));
}
