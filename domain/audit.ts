import { z } from 'zod';

/**
 * Verifying a system's audit trail: the hash chain in the record store, and
 * its head as the lifecycle workflow anchored it outside the database. The
 * chain alone catches an edited, removed or inserted row; only the anchor
 * catches a rewrite of the whole chain with every hash recomputed, which
 * anyone with write access to the database can do.
 */

const hash = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 in hex');

export const chainHeadSchema = z.object({ seq: z.number().int().positive(), hash });
export type ChainHead = z.infer<typeof chainHeadSchema>;

export const anchorStatusSchema = z.enum([
  /** The record at the anchored seq has the anchored hash. */
  'matched',
  /** It has another hash: the chain up to it was rewritten. */
  'mismatch',
  /** The database has no record at the anchored seq: records were removed. */
  'missing',
  /** The workflow has anchored nothing yet (no record written since it started keeping one). */
  'none',
  /** The workflow could not be asked (no worker answering, or its history is no longer kept). */
  'unavailable',
]);
export type AnchorStatus = z.infer<typeof anchorStatusSchema>;

export const auditVerificationSchema = z.object({
  /** False on any break the chain or the anchor shows. An anchor that could not be read leaves the chain's verdict. */
  ok: z.boolean(),
  /** Records in the chain. */
  count: z.number().int().nonnegative(),
  /** The chain's last record as the database has it; null for an empty chain. */
  head: chainHeadSchema.nullable(),
  /** The first record that cannot be trusted; absent when ok. */
  brokenAtSeq: z.number().int().positive().optional(),
  /** Which check failed: the chain's own links, or its head against the anchor (a consistent rewrite). */
  brokenBy: z.enum(['chain', 'anchor']).optional(),
  reason: z.string().optional(),
  anchored: z.object({
    status: anchorStatusSchema,
    /** The head the workflow keeps; null when it keeps none or could not be asked. */
    seq: z.number().int().positive().nullable(),
    hash: hash.nullable(),
    /** The database's hash at the anchored seq; null when it has no record there (or there is no anchor). */
    storedHash: hash.nullable(),
    /**
     * Records after the anchored one (all of them without an anchor): the
     * workflow has not anchored them yet, so only the chain vouches for them.
     */
    afterAnchor: z.number().int().nonnegative(),
    /** The verdict in words. */
    detail: z.string(),
  }),
});
export type AuditVerification = z.infer<typeof auditVerificationSchema>;

/** What the chain check found (the record store's VerifyChainResult). */
export type ChainCheck =
  { ok: true; count: number } | { ok: false; count: number; brokenAtSeq: number; reason: string };

/** The workflow's answer: its anchor (null: none yet), or why it could not be read. */
export type AnchorReading = { head: ChainHead | null } | { unavailable: string };

const short = (h: string) => `${h.slice(0, 12)}…`;
const records = (n: number) => `${n} record${n === 1 ? '' : 's'}`;

/**
 * The verdict from the chain check, the chain's records (seq and hash, in
 * order) and the anchor. Read the anchor before the records: the workflow
 * anchors a head only after the database committed it, so read in that order
 * the anchored seq is always in the records read, unless removed.
 */
export function auditVerdict(
  chain: ChainCheck,
  rows: readonly { seq: number; hash: string }[],
  anchor: AnchorReading,
): AuditVerification {
  const last = rows.at(-1);
  const head = last ? { seq: last.seq, hash: last.hash } : null;
  const anchored = anchorVerdict(rows, anchor);
  const base = { count: chain.count, head, anchored };
  if (!chain.ok) {
    return { ok: false, ...base, brokenAtSeq: chain.brokenAtSeq, brokenBy: 'chain', reason: chain.reason };
  }
  if (anchored.status === 'mismatch') {
    return {
      ok: false,
      ...base,
      brokenAtSeq: anchored.seq!,
      brokenBy: 'anchor',
      reason:
        `the chain was rewritten: record #${anchored.seq} has hash ${short(anchored.storedHash!)} in the database, ` +
        `but the lifecycle workflow anchored ${short(anchored.hash!)} when it was written. Every link was recomputed ` +
        `consistently, so only the anchor kept outside the database shows it; the records up to #${anchored.seq} ` +
        `cannot be trusted`,
    };
  }
  if (anchored.status === 'missing') {
    return {
      ok: false,
      ...base,
      brokenAtSeq: chain.count + 1,
      brokenBy: 'anchor',
      reason:
        `records were removed: the chain ends at #${chain.count}, but the lifecycle workflow anchored record ` +
        `#${anchored.seq} (hash ${short(anchored.hash!)})`,
    };
  }
  return { ok: true, ...base };
}

function anchorVerdict(
  rows: readonly { seq: number; hash: string }[],
  anchor: AnchorReading,
): AuditVerification['anchored'] {
  const none = { seq: null, hash: null, storedHash: null, afterAnchor: rows.length };
  if ('unavailable' in anchor) {
    return {
      status: 'unavailable',
      ...none,
      detail: `the lifecycle workflow could not be asked for its anchor (${anchor.unavailable}): the chain was checked on its own, which cannot show a consistent rewrite`,
    };
  }
  if (!anchor.head) {
    return {
      status: 'none',
      ...none,
      detail:
        'the lifecycle workflow has anchored no head yet: the chain was checked on its own, which cannot show a consistent rewrite',
    };
  }
  const { seq, hash } = anchor.head;
  const stored = rows.find((r) => r.seq === seq)?.hash ?? null;
  const afterAnchor = rows.filter((r) => r.seq > seq).length;
  const at = { seq, hash, storedHash: stored, afterAnchor };
  if (stored === null) {
    return {
      status: 'missing',
      ...at,
      detail: `record #${seq}, whose hash the lifecycle workflow keeps, is not in the database`,
    };
  }
  if (stored !== hash) {
    return {
      status: 'mismatch',
      ...at,
      detail: `record #${seq} does not have the hash the lifecycle workflow anchored (${short(hash)}), but ${short(stored)}`,
    };
  }
  const later = afterAnchor
    ? `; the ${records(afterAnchor)} after it, not anchored yet, are vouched for by the chain alone`
    : '';
  return {
    status: 'matched',
    ...at,
    detail: `record #${seq} has the hash the lifecycle workflow anchored outside the database${later}`,
  };
}
