import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPolicyPath, loadPolicy } from '../config/policy-file.js';
import { parsePolicy, PolicyError } from '../domain/policy.js';

let dir: string;
let shipped: Record<string, any>;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'policy-test-'));
  shipped = JSON.parse(await readFile(defaultPolicyPath, 'utf8'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let files = 0;
/** The shipped policy with one change, written to a temp file; returns the path. */
async function policyFile(change: (p: Record<string, any>) => void): Promise<string> {
  const p = structuredClone(shipped);
  change(p);
  const path = join(dir, `policy-${++files}.json`);
  await writeFile(path, JSON.stringify(p, null, 2));
  return path;
}

async function loadError(path: string): Promise<PolicyError> {
  try {
    await loadPolicy(path);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return err as PolicyError;
  }
  throw new Error(`${path} loaded without an error`);
}

describe('the shipped policy', () => {
  it('validates', async () => {
    const policy = await loadPolicy();
    expect(defaultPolicyPath).toMatch(/policy[/\\]default\.json$/);
    expect(policy.version).toBe(shipped.version);
    expect(policy.approvalChains.high).toEqual(['risk_owner', 'governance_lead']);
    expect(policy.riskScoring.tierMinScore.high).toBeGreaterThan(policy.riskScoring.tierMinScore.medium);
  });

  it('validates from any path, and inline', async () => {
    const path = await policyFile(() => {});
    expect(await loadPolicy(path)).toEqual(await loadPolicy());
    expect(parsePolicy(shipped)).toEqual(await loadPolicy());
  });
});

describe('an invalid policy stops start-up naming the file and the field', () => {
  const cases: [string, (p: Record<string, any>) => void, string, RegExp][] = [
    ['a zero review cadence', (p) => (p.reviewCadence.high = '0mo'), 'reviewCadence.high', /longer than zero/i],
    ['a cadence in words', (p) => (p.reviewCadence.medium = 'a year'), 'reviewCadence.medium', /period like 6mo/i],
    [
      'a duration in words',
      (p) => (p.approvals.reminderAfter = '2 days'),
      'approvals.reminderAfter',
      /must be a duration like 90m, 36h, 2d or 1w/,
    ],
    ['a zero duration', (p) => (p.evidence.maxAge = '0d'), 'evidence.maxAge', /must be longer than zero/],
    [
      'a high threshold not above the medium one',
      (p) => (p.riskScoring.tierMinScore = { medium: 9, high: 9 }),
      'riskScoring.tierMinScore.high',
      /must be greater than the medium threshold/,
    ],
    [
      'an unknown approver role',
      (p) => (p.approvalChains.high = ['risk_owner', 'ceo']),
      'approvalChains.high.1',
      /risk_owner|governance_lead|invalid/i,
    ],
    ['an empty approval chain', (p) => (p.approvalChains.low = []), 'approvalChains.low', /too small|>=\s*1/i],
    [
      'a fairness threshold without bounds',
      (p) => (p.biasTesting.thresholds.demographic_parity_ratio = {}),
      'biasTesting.thresholds.demographic_parity_ratio',
      /needs max, min or both/,
    ],
    [
      'a required fairness metric without a threshold',
      (p) => delete p.biasTesting.thresholds.equal_opportunity_difference,
      'biasTesting.required.high.2',
      /equal_opportunity_difference is required but has no threshold/,
    ],
    [
      'the old fairness section beside biasTesting',
      (p) => (p.fairness = { demographic_parity_ratio: { min: 0.8 } }),
      'fairness',
      /replaced by biasTesting.thresholds/,
    ],
    [
      'an unknown tier as EU AI Act floor',
      (p) => (p.euAiActTierFloor.limited = 'moderate'),
      'euAiActTierFloor.limited',
      /low|medium|high|invalid/i,
    ],
    ['a missing section', (p) => delete p.incidents, 'incidents', /expected object|required/i],
    [
      'a rate limit of zero',
      (p) => (p.security.rateLimits.failedLinkAttempts.max = 0),
      'security.rateLimits.failedLinkAttempts.max',
      />=\s*1|too small/i,
    ],
    [
      'a rate-limit window in words',
      (p) => (p.security.rateLimits.login.window = 'a minute'),
      'security.rateLimits.login.window',
      /must be a duration like 90m/,
    ],
    ['no rate limits', (p) => delete p.security, 'security', /expected object|required/i],
  ];

  it.each(cases)('%s', async (_name, change, field, message) => {
    const path = await policyFile(change);
    const err = await loadError(path);
    expect(err.name).toBe('PolicyError');
    expect(err.message).toContain(`Policy ${path} is invalid`);
    const problem = err.problems.find((p) => p.startsWith(`${field}: `));
    expect(problem, `problems: ${JSON.stringify(err.problems)}`).toBeDefined();
    expect(problem).toMatch(message);
    expect(err.message).toContain(problem);
    // Only the field that was changed is reported.
    expect(err.problems).toHaveLength(1);
  });

  it('reports every problem, not only the first', async () => {
    const err = await loadError(
      await policyFile((p) => {
        p.reviewCadence.low = '61';
        p.approvals.maxReminders = -1;
      }),
    );
    expect(err.problems.map((p) => p.split(':')[0]).sort()).toEqual(['approvals.maxReminders', 'reviewCadence.low']);
  });

  it('names a missing file', async () => {
    const path = join(dir, 'no-such-policy.json');
    const err = await loadError(path);
    expect(err.message).toContain(`Policy ${path} is invalid`);
    expect(err.problems).toEqual([expect.stringMatching(/^cannot be read: .*ENOENT/)]);
  });

  it('names a file that is not JSON', async () => {
    const path = join(dir, 'broken.json');
    await writeFile(path, '{ "version": "2026.11.1", ');
    const err = await loadError(path);
    expect(err.message).toContain(path);
    expect(err.problems).toEqual([expect.stringMatching(/^is not valid JSON: /)]);
  });

  it('names the root when the file is not an object', async () => {
    const path = join(dir, 'array.json');
    await writeFile(path, '[]');
    const err = await loadError(path);
    expect(err.problems).toEqual([expect.stringMatching(/^\(root\): /)]);
  });
});
