import { z } from 'zod';

/**
 * Durations in the policy file are short strings ("90m", "2d", "1w") so a
 * governance lead can read and edit them; workflows get milliseconds.
 */
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DURATION = /^(\d+)\s*(s|m|h|d|w)$/;

export function durationMs(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a duration like 90m, 36h, 2d or 1w`);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

export const durationSchema = z
  .string()
  .regex(DURATION, 'must be a duration like 90m, 36h, 2d or 1w')
  // Zod 4 runs refinements after a failed regex too: only measure what parses, or durationMs throws out of safeParse.
  .refine((v) => !DURATION.test(v) || durationMs(v) > 0, 'must be longer than zero');

/** Calendar months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb). */
export function addMonths(from: Date, months: number): Date {
  const d = new Date(from.getTime());
  const day = d.getUTCDate();
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  d.setUTCDate(Math.min(day, lastDay));
  return d;
}

const CADENCE = /^(\d+)\s*(mo|y)$/;

/**
 * Review cadences are calendar periods ("6mo", "1y") so a review falls on the
 * same day of the month; shorter ones ("90d", "30s", for trials and tests)
 * use the fixed units of durationMs.
 */
export function addCadence(from: Date, cadence: string): Date {
  const calendar = CADENCE.exec(cadence.trim());
  if (calendar) return addMonths(from, Number(calendar[1]) * (calendar[2] === 'y' ? 12 : 1));
  return new Date(from.getTime() + durationMs(cadence));
}

export const cadenceSchema = z
  .string()
  .refine((v) => CADENCE.test(v.trim()) || DURATION.test(v.trim()), 'must be a period like 6mo, 1y or 90d')
  .refine((v) => !DURATION.test(v.trim()) || durationMs(v) > 0, 'must be longer than zero')
  .refine((v) => !CADENCE.test(v.trim()) || Number(CADENCE.exec(v.trim())![1]) > 0, 'must be longer than zero');
