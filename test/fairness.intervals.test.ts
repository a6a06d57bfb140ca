/**
 * Our Wilson interval (domain/fairness/stats.ts) against statsmodels' `proportion_confint(method="wilson")`, run in
 * the Fairlearn environment (fairness-reference/ensure.ts), to 1e-9 over a grid of successes, trials and levels:
 * small and large n, both ends (0 and n successes, where rounding can step outside [0, 1]), the usual levels and
 * extreme ones, and the weighted sums the engine feeds it (fractional successes and trials).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { wilson } from '../domain/fairness/stats.js';
import { fairlearn, referenceWilson } from './support/fairlearn-reference.js';

const INSTALL_TIMEOUT_MS = 15 * 60_000;
const TOLERANCE = 1e-9;

beforeAll(async () => {
  await fairlearn();
}, INSTALL_TIMEOUT_MS);

function grid(): { successes: number; n: number; level: number }[] {
  const levels = [0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 0.999999];
  const cases: { successes: number; n: number; level: number }[] = [];
  for (const n of [1, 2, 3, 5, 10, 30, 31, 100]) {
    for (let k = 0; k <= n; k++) for (const level of levels) cases.push({ successes: k, n, level });
  }
  for (const n of [1000, 123_457, 10_000_000]) {
    for (const k of [0, 1, 2, Math.floor(n / 3), n - 1, n])
      for (const level of levels) cases.push({ successes: k, n, level });
  }
  // Weighted sums: the engine passes weighted numerators and denominators.
  for (const [successes, n] of [
    [0.5, 1.25],
    [2.5, 7.25],
    [3.75, 3.75],
    [1e-3, 2e-3],
    [1234.567, 9876.5],
  ] as const) {
    for (const level of levels) cases.push({ successes, n, level });
  }
  return cases;
}

describe('Wilson intervals', () => {
  it("agree with statsmodels' proportion_confint(method='wilson') to 1e-9", async () => {
    const cases = grid();
    const reference = await referenceWilson(cases);
    expect(reference).toHaveLength(cases.length);
    const off: string[] = [];
    cases.forEach((c, i) => {
      const ref = reference[i]!;
      const ours = wilson(c.successes, c.n, c.level);
      if (ours === null || ref.low === null || ref.high === null) {
        off.push(
          `${c.successes}/${c.n} at ${c.level}: ours ${JSON.stringify(ours)}, statsmodels ${ref.low}, ${ref.high}`,
        );
        return;
      }
      const [low, high] = ours;
      if (!(Math.abs(low - ref.low) <= TOLERANCE && Math.abs(high - ref.high) <= TOLERANCE)) {
        off.push(`${c.successes}/${c.n} at ${c.level}: ours [${low}, ${high}], statsmodels [${ref.low}, ${ref.high}]`);
      }
    });
    expect(off, `${off.length} of ${cases.length} intervals differ`).toEqual([]);
  });

  it('has no interval without trials, as statsmodels has none', async () => {
    const [ref] = await referenceWilson([{ successes: 0, n: 0, level: 0.95 }]);
    expect(ref).toMatchObject({ low: null, high: null });
    expect(wilson(0, 0, 0.95)).toBeNull();
  });
});
