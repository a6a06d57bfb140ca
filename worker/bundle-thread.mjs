/**
 * Builds the workflow bundle in a thread of its own (worker/bundle.ts starts it), so that webpack and the module
 * graph it leaves behind, about 200 MB measured, go with the thread instead of staying in the worker's process
 * for as long as it runs. Plain JavaScript: the thread starts outside any TypeScript loader (tests, tsx alike);
 * webpack compiles the workflow code's TypeScript itself.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { bundleWorkflowCode } from '@temporalio/worker';

const quiet = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(message, meta) {
    console.warn(message, meta ?? '');
  },
  error(message, meta) {
    console.error(message, meta ?? '');
  },
};

bundleWorkflowCode({ ...workerData, logger: quiet }).then(
  ({ code, sourceMap }) => parentPort.postMessage({ ok: true, code, sourceMap }),
  (err) =>
    parentPort.postMessage({ ok: false, message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
);
