/**
 * /healthz in the production topology: two worker and two API processes
 * against an external Temporal, PostgreSQL and SMTP, with the shipped
 * heartbeat settings (config/env.ts). Readiness used to ask Temporal for the
 * task queue's pollers, which lists a SIGKILLed worker for minutes; now a
 * lost worker turns it 503 within seconds, a graceful shutdown at once, and
 * the answer names the failing check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envSchema } from '../config/env.js';
import { pollUntil, startTopology, type Topology } from './support/topology.js';

const LOST_WORKER_BOUND_MS = 15_000;
const GRACEFUL_BOUND_MS = 5_000;

let t: Topology;
beforeAll(async () => {
  t = await startTopology({ name: 'readiness', workers: 2, apis: 2 });
}, 240_000);
afterAll(async () => {
  await t?.stop();
});

interface Health {
  status: number;
  body: {
    status: string;
    failing?: string[];
    checks?: Record<'store' | 'temporal' | 'worker', { ok: boolean; detail: string }>;
  };
}

async function health(url: string): Promise<Health> {
  const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as Health['body'] };
}

/** Polls every API's /healthz until each answers `status`; returns the answers and how long it took. */
async function allAnswer(status: number, timeoutMs: number) {
  const started = Date.now();
  const answers = await pollUntil(
    `every API's /healthz answering ${status}`,
    async () => {
      const all = await Promise.all([0, 1].map((i) => health(t.apiUrl(i))));
      return all.every((h) => h.status === status) ? all : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
  return { answers, ms: Date.now() - started };
}

describe('/healthz in the production topology', () => {
  it('is ready with two workers, and says which checks passed', async () => {
    const { answers } = await allAnswer(200, 30_000);
    for (const h of answers) {
      expect(h.body.status).toBe('ok');
      expect(h.body.checks?.store.ok).toBe(true);
      expect(h.body.checks?.temporal.ok).toBe(true);
      expect(h.body.checks?.worker).toMatchObject({ ok: true, detail: expect.stringMatching(/^2 worker/) });
    }
  });

  it(`turns 503 within ${LOST_WORKER_BOUND_MS / 1000} s of SIGKILLing both workers, naming the worker check`, async () => {
    const defaults = envSchema.parse({});
    // the bound holds for the shipped settings, which this topology runs with
    expect(t.workers[0]!.envVars.WORKER_HEARTBEAT_INTERVAL_MS).toBeUndefined();
    expect(defaults.READINESS_HEARTBEAT_MAX_AGE_MS + 2_000).toBeLessThanOrEqual(LOST_WORKER_BOUND_MS);

    await Promise.all(t.workers.map((w) => w.kill()));
    const { answers, ms } = await allAnswer(503, 60_000);
    expect(ms, `503 after ${ms} ms`).toBeLessThanOrEqual(LOST_WORKER_BOUND_MS);
    for (const h of answers) {
      expect(h.body.status).toBe('unavailable');
      expect(h.body.failing).toEqual(['worker']);
      expect(h.body.checks?.store.ok).toBe(true);
      expect(h.body.checks?.temporal.ok).toBe(true);
      expect(h.body.checks?.worker.detail).toMatch(/no worker on task queue topology-readiness .*heartbeat/);
    }
  });

  it('is ready again once one worker is back', async () => {
    await t.workers[0]!.start();
    const { answers } = await allAnswer(200, 10_000);
    expect(answers[0]!.body.checks?.worker.detail).toMatch(/^1 worker/);
  });

  it(`drops within ${GRACEFUL_BOUND_MS / 1000} s when the last worker shuts down gracefully: its row is deleted, not left to go stale`, async () => {
    const exit = t.workers[0]!.stop();
    const { answers, ms } = await allAnswer(503, 30_000);
    // going stale would take at least the max age minus one interval (7 s with the defaults)
    expect(ms, `503 after ${ms} ms`).toBeLessThanOrEqual(GRACEFUL_BOUND_MS);
    expect(answers[0]!.body.failing).toEqual(['worker']);
    expect((await exit)?.code, t.workers[0]!.tail()).toBe(0);
    const rows = await t.postgres.query('select identity from worker_heartbeats where task_queue = $1', [t.taskQueue]);
    // the two SIGKILLed workers' rows stay (stale), the gracefully stopped one is gone
    expect(rows).toHaveLength(2);
    await t.workers[0]!.start();
    await allAnswer(200, 10_000);
  });

  it('answers 503 naming the store while PostgreSQL is down, and recovers', async () => {
    await t.postgres.stop();
    try {
      const { answers } = await allAnswer(503, 15_000);
      for (const h of answers) {
        expect(h.body.failing).toContain('store');
        expect(h.body.checks?.store.ok).toBe(false);
        expect(h.body.checks?.temporal.ok).toBe(true);
      }
    } finally {
      await t.postgres.start();
    }
    await allAnswer(200, 20_000);
  });

  it('answers 503 naming Temporal while it is down, and recovers on a restart with the same state', async () => {
    await t.temporal.stop();
    try {
      const { answers } = await allAnswer(503, 15_000);
      for (const h of answers) {
        expect(h.body.failing).toContain('temporal');
        expect(h.body.checks?.temporal.ok).toBe(false);
        expect(h.body.checks?.store.ok).toBe(true);
      }
    } finally {
      await t.temporal.start();
    }
    await allAnswer(200, 30_000);
    expect(t.unexpectedExits()).toEqual([]);
  });
});
