import { durationMs } from './duration.js';
import type { Policy } from './policy.js';

/** A calendar date has begun somewhere once it has begun at UTC+14, the earliest time zone. */
const EARLIEST_ZONE_MS = 14 * 3_600_000;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** When `value` (a date, or a date-time with its offset) had certainly begun somewhere on Earth. */
function earliestInstant(value: string): number {
  return DATE_ONLY.test(value) ? Date.parse(`${value}T00:00:00Z`) - EARLIEST_ZONE_MS : Date.parse(value);
}

/**
 * Dates that name something that already happened (an incident's
 * occurredAt, the day tests ran, the day the authority was notified) cannot
 * lie ahead of `now`, past the policy's allowance for a sender's clock
 * running ahead. A date counts from the moment it begins in the earliest
 * time zone, so a sender a day ahead of UTC is not refused for its today.
 * Policies from before the check set no allowance: runs under them do not
 * check, as they did not.
 */
export function futureDateIssues(
  dates: { path: string; value: string | undefined }[],
  now: Date,
  policy: Pick<Policy, 'pastDates'>,
): { path: string; message: string }[] {
  if (!policy.pastDates) return [];
  const latest = now.getTime() + durationMs(policy.pastDates.clockSkewTolerance);
  return dates.flatMap(({ path, value }) =>
    value !== undefined && earliestInstant(value) > latest
      ? [
          {
            path,
            message: `is ${value}, which has not come yet (now ${now.toISOString()}): it names something that already happened`,
          },
        ]
      : [],
  );
}
