import { QueryNotRegisteredError, type WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError, type UpdateDefinition } from '@temporalio/common';
import type { LifecycleState } from '../domain/lifecycle.js';
import { workflowIdFor } from '../domain/system.js';
import { stateQuery, upgradeSignal } from '../workflows/messages.js';
import type { ApiContext } from './context.js';
import { ApiError, fromWorkflowError, notFound } from './errors.js';

/** How long a page or API call waits for a workflow to answer before saying so. */
const QUERY_DEADLINE_MS = 10_000;
/** How long a call waits for a version 1 run to continue into version 2. */
const UPGRADE_DEADLINE_MS = 10_000;

/**
 * A run started before version 2 knows none of version 2's message names.
 * Its answer to one is "no handler": the caller then asks it to upgrade
 * (it continues as new into version 2 at once) and tries again.
 */
const isOlderRun = (err: unknown) =>
  err instanceof QueryNotRegisteredError ||
  /no registered handler for update|did not register a handler for/i.test(describe(err));

function describe(err: unknown): string {
  let text = '';
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) text += ` ${e.message}`;
  return text;
}

/**
 * After the upgrade, the new run registers its handlers once it has moved
 * the old run's documents; a message arriving before that is tried again.
 */
async function afterUpgrade<T>(attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + UPGRADE_DEADLINE_MS;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (!isOlderRun(err) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function upgrade(handle: WorkflowHandle): Promise<void> {
  const before = (await handle.describe()).runId;
  await handle.signal(upgradeSignal);
  const deadline = Date.now() + UPGRADE_DEADLINE_MS;
  while (Date.now() < deadline) {
    const d = await handle.describe();
    if (d.runId !== before && d.status.name === 'RUNNING') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new ApiError(503, {
    error: 'lifecycle_upgrading',
    message: 'the lifecycle is moving to the current version; try again in a minute',
  });
}

/**
 * One system's state from its workflow. A query needs a worker; when none
 * answers in time the caller gets 503 instead of a hanging request.
 */
export async function queryState(ctx: Pick<ApiContext, 'client'>, systemId: string): Promise<LifecycleState> {
  const handle = ctx.client.workflow.getHandle(workflowIdFor(systemId));
  const query = () => ctx.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(stateQuery));
  try {
    try {
      return await query();
    } catch (err) {
      if (!isOlderRun(err)) throw err;
      await upgrade(handle);
      return await afterUpgrade(query);
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if (err instanceof WorkflowNotFoundError) throw notFound(systemId);
    throw new ApiError(503, {
      error: 'lifecycle_unavailable',
      message: `the lifecycle of ${systemId} did not answer: ${(err as Error).message}`,
    });
  }
}

/**
 * Sends an update and maps Temporal's answer to HTTP: unknown system 404,
 * ended lifecycle or wrong stage 409, bad content 422.
 */
export async function sendToLifecycle<R, Args extends [unknown, ...unknown[]]>(
  ctx: Pick<ApiContext, 'client' | 'store'>,
  systemId: string,
  def: UpdateDefinition<R, Args>,
  args: Args,
  opts: { updateId?: string } = {},
): Promise<R> {
  const handle = ctx.client.workflow.getHandle(workflowIdFor(systemId));
  const execute = () => handle.executeUpdate(def, { args, updateId: opts.updateId });
  try {
    try {
      return await execute();
    } catch (err) {
      if (!isOlderRun(err)) throw err;
      await upgrade(handle);
      return await afterUpgrade(execute);
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if (err instanceof WorkflowNotFoundError) throw await endedOrMissing(ctx, handle, systemId);
    throw fromWorkflowError(err, systemId) ?? err;
  }
}

async function endedOrMissing(ctx: Pick<ApiContext, 'store'>, handle: WorkflowHandle, id: string): Promise<ApiError> {
  try {
    const description = await handle.describe();
    const record = await ctx.store.getSystem(id);
    return new ApiError(409, {
      error: 'lifecycle_ended',
      message: `the lifecycle of ${id} has ended (${description.status.name.toLowerCase()})`,
      stage: record?.stage,
    });
  } catch {
    return notFound(id);
  }
}
