import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
const { temporal } = proto;
import type { Store } from '../store/index.js';

/**
 * Ready means a request can complete: the store answers, Temporal answers,
 * and a worker is polling the task queue (else a submitted assessment would
 * wait unanswered). The answer is cached briefly so probes stay cheap.
 */
export function createReadiness(opts: {
  client: Client;
  store: Store;
  namespace: string;
  taskQueue: string;
  cacheMs?: number;
}) {
  let cached: { at: number; ready: boolean } | undefined;
  const cacheMs = opts.cacheMs ?? 2_000;
  async function check(): Promise<boolean> {
    try {
      await opts.store.db.selectNoFrom((eb) => eb.val(1).as('one')).execute();
      const res = await opts.client.workflowService.describeTaskQueue({
        namespace: opts.namespace,
        taskQueue: { name: opts.taskQueue },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      });
      return (res.pollers?.length ?? 0) > 0;
    } catch {
      return false;
    }
  }
  return async function isReady(): Promise<boolean> {
    if (cached && Date.now() - cached.at < cacheMs) return cached.ready;
    const ready = await check();
    cached = { at: Date.now(), ready };
    return ready;
  };
}
