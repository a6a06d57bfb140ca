import v8 from 'node:v8';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { PayloadCodec } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { dataConverterFor } from '../payloads/data-converter.js';
import { workflowBundle } from './bundle.js';

export { workflowBundle, workflowsPath } from './bundle.js';

/** The SDK's default number of workflow tasks run at once. */
const MAX_WORKFLOW_TASKS = 40;

/**
 * The workflow thread's heap before any run (the bundle evaluated once, the SDK's own), and per cached run (its
 * own instance of the bundle's modules, 2.7 MB measured once). With 50 cached the cap is 278 MB; the worker ran
 * 300 lifecycles to their first steps under a 203 MB cap without running out.
 */
const WORKFLOW_THREAD_BASE_MB = 128;
const WORKFLOW_RUN_MB = 3;

/**
 * Caps the old generation of the thread the SDK runs workflows in, from the cache it must hold. Uncapped, that
 * thread's V8 heap may grow to a quarter of the machine's memory before it collects in earnest, and with runs
 * pushed out of the cache all the time (10,000 open lifecycles, 100 cached) their module instances pile up as
 * garbage: the process grew 2.8 MB per open lifecycle. V8 reads the flag when a thread's isolate is created, so it
 * applies to the SDK's workflow thread created next and leaves this (main) thread's heap as it was.
 */
export function limitWorkflowThreadHeap(maxCachedWorkflows: number): number {
  const mb = WORKFLOW_THREAD_BASE_MB + WORKFLOW_RUN_MB * maxCachedWorkflows;
  v8.setFlagsFromString(`--max-old-space-size=${mb}`);
  return mb;
}

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
  const bundle = await workflowBundle();
  if (opts.maxCachedWorkflows !== undefined) limitWorkflowThreadHeap(opts.maxCachedWorkflows);
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle: bundle,
    activities: opts.activities,
    dataConverter: dataConverterFor(opts.payloadCodec),
    maxCachedWorkflows: opts.maxCachedWorkflows,
    // The SDK's 40 task slots, unless the cache is smaller: a task's run must fit in the cache.
    maxConcurrentWorkflowTaskExecutions: opts.maxCachedWorkflows
      ? Math.min(MAX_WORKFLOW_TASKS, opts.maxCachedWorkflows)
      : undefined,
  });
}
