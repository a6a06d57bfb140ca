import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type * as activities from '../activities/index.js';

const { sendGovernanceDigest } = proxyActivities<ReturnType<typeof activities.createActivities>>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '30 minutes' },
});

/**
 * Started by the weekly Temporal Schedule: one digest e-mail to the governance
 * lead listing overdue reviews and pending approvals, read from visibility.
 * The schedule gives each run its own workflow id, which keys the e-mail.
 */
export async function governanceDigest(input: { to: string }): Promise<{ overdue: number; pending: number }> {
  return sendGovernanceDigest({ idempotencyKey: workflowInfo().workflowId, to: input.to });
}
