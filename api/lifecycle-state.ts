import { WorkflowNotFoundError } from '@temporalio/common';
import type { LifecycleState } from '../domain/lifecycle.js';
import { workflowIdFor } from '../domain/system.js';
import { stateQuery } from '../workflows/messages.js';
import type { ApiContext } from './context.js';
import { ApiError, notFound } from './errors.js';

/** How long a page or API call waits for a workflow to answer a query before saying so. */
const QUERY_DEADLINE_MS = 10_000;

/**
 * One system's state from its workflow. A query needs a worker; when none
 * answers in time the caller gets 503 instead of a hanging request.
 */
export async function queryState(ctx: Pick<ApiContext, 'client'>, systemId: string): Promise<LifecycleState> {
  const handle = ctx.client.workflow.getHandle(workflowIdFor(systemId));
  try {
    return await ctx.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(stateQuery));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw notFound(systemId);
    throw new ApiError(503, {
      error: 'lifecycle_unavailable',
      message: `the lifecycle of ${systemId} did not answer: ${(err as Error).message}`,
    });
  }
}
