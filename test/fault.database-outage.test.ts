/**
 * A record-store outage mid-flight: PostgreSQL is stopped for 30 s while
 * lifecycles are driven through the API. Activities fail and Temporal
 * retries them (2 s doubling, so the first attempt after a 30 s outage comes
 * within about 35 s of its end), approval pages and decisions answer errors
 * and are tried again, /healthz says the store is what fails. When the
 * server is back everything catches up: every lifecycle reaches active and
 * every effect happened once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driver, expectAuditTrails, expectMailExactlyOnce, walkAll } from './support/topology-walk.js';
import { pollUntil, startTopology, type Topology } from './support/topology.js';

const SYSTEMS = Number(process.env.FAULT_SYSTEMS ?? 20);
/** registered, assessed, evidence, planned, two approvals, fria, active */
const STEPS_PER_LIFECYCLE = 8;
const OUTAGE_MS = 30_000;
const WALK_BUDGET_MS = 170_000;

let t: Topology;
beforeAll(async () => {
  t = await startTopology({ name: 'database-outage', workers: 1, apis: 1 });
}, 180_000);
afterAll(async () => {
  await t?.stop();
});

describe(`PostgreSQL down for ${OUTAGE_MS / 1000} s mid-flight`, () => {
  it(
    `loses nothing: ${SYSTEMS} lifecycles catch up and reach active with every effect once`,
    async () => {
      const started = Date.now();
      const d = driver(t, { deadline: started + WALK_BUDGET_MS });
      const ids = Array.from({ length: SYSTEMS }, (_, i) => `outage-${String(i).padStart(2, '0')}`);
      const walking = walkAll(d, ids);
      walking.catch(() => undefined); // awaited below

      // Mid-flight: past the plans of many, so the outage meets records, e-mails and approval decisions.
      await pollUntil(
        '40 % of the steps done',
        async () => (d.progress.steps() >= SYSTEMS * STEPS_PER_LIFECYCLE * 0.4 ? true : undefined),
        { timeoutMs: 90_000 },
      );
      const at = { steps: d.progress.steps(), done: d.progress.done() };
      await t.postgres.stop();
      const down = Date.now();
      const stoppedAt = new Date(down).toISOString();
      let health: { status: number; body: any };
      try {
        health = await pollUntil(
          '/healthz to report the store',
          async () => {
            const res = await fetch(`${t.apiUrl(0)}/healthz`, { signal: AbortSignal.timeout(5_000) });
            return res.status === 503 ? { status: res.status, body: await res.json() } : undefined;
          },
          { timeoutMs: 15_000 },
        );
        // The outage lasts its full time whatever the test sees meanwhile.
        await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - down))));
      } finally {
        await t.postgres.start();
      }
      const outageMs = Date.now() - down;
      const outage = `PostgreSQL stopped at ${stoppedAt}, accepting again at ${new Date().toISOString()}`;

      const walks = await walking;
      console.log(
        `database-outage: stopped at ${JSON.stringify(at)} of ${SYSTEMS * STEPS_PER_LIFECYCLE} steps for ${outageMs} ms; ` +
          `${walks.reduce((n, w) => n + w.retries, 0)} retried requests; ${Date.now() - started} ms`,
      );
      expect(health.body.failing).toContain('store');
      expect(outageMs).toBeGreaterThanOrEqual(OUTAGE_MS);
      expect(SYSTEMS - at.done, 'lifecycles still under way at the outage').toBeGreaterThanOrEqual(SYSTEMS / 2);
      // the worker met the outage (its heartbeat could not be written) and said so, without exiting
      expect(t.workers[0]!.output()).toContain('worker heartbeat not recorded');
      expect(walks.map((w) => w.view?.stage)).toEqual(ids.map(() => 'active'));
      await expectAuditTrails(t, ids);
      await expectMailExactlyOnce(t, ids, 60_000, outage);
      expect(t.unexpectedExits(), 'workers and APIs ride out the outage').toEqual([]);
    },
    WALK_BUDGET_MS + 90_000,
  );
});
