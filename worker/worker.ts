import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { PayloadCodec } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { dataConverterFor, FAILURE_CONVERTER_PATH } from '../payloads/data-converter.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** The SDK's default number of workflow tasks run at once. */
const MAX_WORKFLOW_TASKS = 40;

/** Modules every run shares instead of evaluating its own copy: workflows/preload.ts says which and why. */
const preloadPath = fileURLToPath(new URL('../workflows/preload.ts', import.meta.url));

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundled once per process: test suites and the embedded launcher share it. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: quietBundlerLogger,
    preloadModules: [preloadPath],
  });
  return bundle;
}

const quietBundlerLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(message: string, meta?: unknown) {
    console.warn(message, meta ?? '');
  },
  error(message: string, meta?: unknown) {
    console.error(message, meta ?? '');
  },
};

export async function createWorker(opts: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: Activities;
  /** The product's payload codec (payloads/): the worker decrypts what clients sent and encrypts what it records. */
  payloadCodec: PayloadCodec;
  /**
   * WORKER_MAX_CACHED_WORKFLOWS: the runs kept in memory between tasks (config/env.ts says what one costs); unset,
   * the SDK's default, sized from the heap (tests).
   */
  maxCachedWorkflows?: number;
}): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: opts.activities,
    dataConverter: dataConverterFor(opts.payloadCodec),
    maxCachedWorkflows: opts.maxCachedWorkflows,
    // The SDK's 40 task slots, unless the cache is smaller: a task's run must fit in the cache.
    maxConcurrentWorkflowTaskExecutions: opts.maxCachedWorkflows
      ? Math.min(MAX_WORKFLOW_TASKS, opts.maxCachedWorkflows)
      : undefined,
  });
}
