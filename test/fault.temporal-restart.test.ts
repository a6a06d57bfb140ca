/**
 * A Temporal restart mid-flight: lifecycles are driven through the API while
 * the dev server is stopped and started again on the same SQLite file and
 * port. The workers and APIs reconnect by themselves, nothing recorded before
 * the restart is lost, every lifecycle reaches active and every effect
 * happened once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driver, expectAuditTrails, expectMailExactlyOnce, walkAll } from './support/topology-walk.js';
import { pollUntil, startTopology, type Topology } from './support/topology.js';

const SYSTEMS = Number(process.env.FAULT_SYSTEMS ?? 20);
/** registered, assessed, evidence, planned, two approvals, fria, active */
const STEPS_PER_LIFECYCLE = 8;
const DOWN_MS = 5_000;
const WALK_BUDGET_MS = 150_000;

let t: Topology;
beforeAll(async () => {
  t = await startTopology({ name: 'temporal-restart', workers: 2, apis: 1 });
}, 180_000);
afterAll(async () => {
  await t?.stop();
});

describe('Temporal restarted mid-flight', () => {
  it(
    `loses nothing: ${SYSTEMS} lifecycles reach active with every effect once`,
    async () => {
      const started = Date.now();
      const d = driver(t, { deadline: started + WALK_BUDGET_MS });
      const ids = Array.from({ length: SYSTEMS }, (_, i) => `restart-${String(i).padStart(2, '0')}`);
      const walking = walkAll(d, ids);
      walking.catch(() => undefined); // awaited below; a failure must not go unhandled while Temporal is down

      // Mid-flight: a good part of the work recorded, none of the lifecycles finished.
      await pollUntil(
        'a third of the steps done',
        async () => (d.progress.steps() >= (SYSTEMS * STEPS_PER_LIFECYCLE) / 3 ? true : undefined),
        { timeoutMs: 90_000 },
      );
      const at = { steps: d.progress.steps(), done: d.progress.done() };
      const pid = t.temporal.pid;
      await t.temporal.stop();
      const down = Date.now();
      const stoppedAt = new Date(down).toISOString();
      // The outage itself lasts a while: polls fail, updates and signals wait, the clients back off.
      await new Promise((r) => setTimeout(r, DOWN_MS));
      await t.temporal.start();
      const upAgainAfterMs = Date.now() - down;
      const restart = `Temporal stopped at ${stoppedAt}, answering again at ${new Date().toISOString()}`;
      expect(t.temporal.pid).not.toBe(pid);

      const walks = await walking;
      console.log(
        `temporal-restart: restarted at ${JSON.stringify(at)} of ${SYSTEMS * STEPS_PER_LIFECYCLE} steps, ` +
          `down ${upAgainAfterMs} ms; ${walks.reduce((n, w) => n + w.retries, 0)} retried requests; ${Date.now() - started} ms`,
      );
      expect(SYSTEMS - at.done, 'lifecycles still under way at the restart').toBeGreaterThanOrEqual(SYSTEMS / 2);
      expect(walks.map((w) => w.view?.stage)).toEqual(ids.map(() => 'active'));
      await expectAuditTrails(t, ids);
      await expectMailExactlyOnce(t, ids, 60_000, restart);
      expect(t.unexpectedExits(), 'workers and APIs ride out the restart').toEqual([]);
    },
    WALK_BUDGET_MS + 90_000,
  );
});
