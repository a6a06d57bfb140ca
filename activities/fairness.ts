/**
 * Computes the fairness metrics of an upload the API put in the blob store (issue 10). The file can run to
 * gigabytes, so it is streamed through the reader (fairness/reader.ts) with the bytes counted on the way for the
 * heartbeat; the full report goes to the record store and only the verdicts, with the few group sizes a reader
 * of the verdict needs, go back into workflow history.
 */
import { addAbortSignal, pipeline, Transform } from 'node:stream';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { BlobStore } from '../blobs/index.js';
import { BlobNotFound } from '../blobs/index.js';
import {
  BAD_PREDICTIONS_FILE,
  MAX_SHOWN_GROUPS,
  computedFairnessSchema,
  type ComputeFairnessInput,
  type ComputedFairness,
} from '../domain/bias-gate.js';
import type { FairnessReport } from '../domain/fairness/schema.js';
import { FairnessFileError, analysePredictions } from '../fairness/reader.js';
import type { Store } from '../store/index.js';

/** Often enough for a heartbeat timeout of a minute or two; rarely enough to cost nothing per chunk. */
export const HEARTBEAT_EVERY_MS = 5_000;

/** The record store's kind for the full report an analysis produced. */
export const FAIRNESS_REPORT_KIND = 'fairness_report';

const badFile = (message: string, issues: { line: number; message: string }[] = []) =>
  ApplicationFailure.create({ type: BAD_PREDICTIONS_FILE, nonRetryable: true, message, details: [{ issues }] });

export function createFairnessActivities(deps: { store: Store; blobs: BlobStore }) {
  return {
    /**
     * Idempotent: the same blob, spec and options give the same report, and the record store keeps a report
     * by its digest, so a retried or re-run analysis stores nothing twice.
     */
    async computeFairness(input: ComputeFairnessInput): Promise<ComputedFairness> {
      const context = Context.current();
      const blob = deps.blobs.open(input.blob);
      let bytes = 0;
      let lastBeat = -Infinity;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          const now = Date.now();
          if (now - lastBeat >= HEARTBEAT_EVERY_MS) {
            lastBeat = now;
            context.heartbeat({ bytes });
          }
          done(null, chunk);
        },
      });
      // The blob's own failure (a missing file) is what to report when the reader's pipeline settles on another.
      let sourceError: unknown;
      blob.once('error', (err) => (sourceError ??= err));
      // A cancelled attempt (the workflow moved on, or the heartbeat timed out) stops reading at once.
      addAbortSignal(context.cancellationSignal, blob);
      const source = pipeline(blob, counter, () => undefined);

      let report: FairnessReport;
      try {
        report = await analysePredictions(source, input.spec, {
          ...input.options,
          maxBytes: input.maxBytes,
          maxMalformedRows: input.maxMalformedRows,
        });
      } catch (caught) {
        // Cancelled: Temporal's own reason (a CancelledFailure), not the stream's AbortError.
        if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason;
        // A refusal of the file comes first: the teardown after it fails the blob's stream too.
        const err = caught instanceof FairnessFileError ? caught : (sourceError ?? caught);
        if (err instanceof FairnessFileError) throw badFile(err.message, err.issues);
        if (err instanceof BlobNotFound) {
          throw badFile(
            `the uploaded predictions (sha256 ${input.blob}) are not in the worker's blob store: ` +
              'API and worker must share BLOB_DIR',
          );
        }
        throw err;
      }
      if (report.sha256 !== input.blob) {
        // Content-addressed: other bytes under this name mean a damaged store, which no retry mends.
        throw badFile(`the stored predictions no longer hash to ${input.blob} (they hash to ${report.sha256})`);
      }
      const [reportDigest] = await deps.store.putDocuments([{ kind: FAIRNESS_REPORT_KIND, content: report }]);
      return computedFrom(report, reportDigest!);
    },
  };
}

/** What history keeps of a report: each metric's verdict and the smallest groups behind it. */
export function computedFrom(report: FairnessReport, reportDigest: string): ComputedFairness {
  const key = (feature: string, group: string) => `${feature}\u0000${group}`;
  const counts = new Map(report.groups.map((g) => [key(g.feature, g.group), g.count]));
  const intersections = new Set(report.groups.filter((g) => g.intersection).map((g) => g.feature));
  return computedFairnessSchema.parse({
    reportDigest,
    sha256: report.sha256,
    rows: report.rows,
    bytes: report.bytes,
    skippedRows: report.skipped.count,
    features: report.features,
    metrics: report.metrics.map((m) => ({
      name: m.name,
      feature: m.feature,
      intersection: intersections.has(m.feature),
      value: m.value,
      ci: m.ci,
      ...(m.verdict !== undefined ? { verdict: m.verdict } : {}),
      ...(m.reason !== undefined ? { reason: m.reason } : {}),
      ...(m.undefinedReason !== undefined ? { undefinedReason: m.undefinedReason } : {}),
      groups: m.groups
        .map((group) => {
          const count = counts.get(key(m.feature, group));
          if (count === undefined)
            throw new Error(`metric ${m.name} of ${m.feature} names a group the report lacks: ${group}`);
          return { group, count };
        })
        .sort((a, b) => a.count - b.count || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0))
        .slice(0, MAX_SHOWN_GROUPS),
      groupCount: m.groups.length,
    })),
  });
}
