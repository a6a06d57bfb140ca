import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import type { Policy } from '../domain/policy.js';
import { governanceDigest } from '../workflows/digest.js';

export const DIGEST_SCHEDULE_ID = 'governance-weekly-digest';

/**
 * Creates the weekly digest schedule, or brings an existing one in line with
 * the policy, so every start-up (of any number of workers) leaves exactly one.
 */
export async function ensureDigestSchedule(
  client: Client,
  opts: { taskQueue: string; policy: Policy; governanceLead: string },
): Promise<void> {
  const spec: ScheduleOptions['spec'] = {
    calendars: [{ dayOfWeek: opts.policy.digest.dayOfWeek, hour: opts.policy.digest.hourUtc, minute: 0 }],
  };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: governanceDigest,
    taskQueue: opts.taskQueue,
    args: [{ to: opts.governanceLead }] as [{ to: string }],
  };
  try {
    await client.schedule.create({
      scheduleId: DIGEST_SCHEDULE_ID,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 day' },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(DIGEST_SCHEDULE_ID).update((previous) => ({ ...previous, spec, action }));
  }
}
