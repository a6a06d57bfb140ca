/**
 * Worker crashes: 30 high-risk lifecycles driven concurrently through two API
 * processes, from registration to active (assessment, bias evidence,
 * treatment plan, two approvals through the e-mailed links, the FRIA
 * notification), while the only worker process is SIGKILLed at random
 * points and restarted. Everything reaches active, and the record store and
 * the SMTP server show each effect once: no audit event recorded twice, no
 * e-mail sent twice (by Message-ID and by X-Idempotency-Key), no outbox row
 * left unsent.
 *
 * The schedule is seeded (FAULT_SEED, printed on failure); FAULT_SYSTEMS
 * changes the number of lifecycles.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driver, expectAuditTrails, expectMailExactlyOnce, seededRandom, walkAll } from './support/topology-walk.js';
import { startTopology, type Topology } from './support/topology.js';

const SYSTEMS = Number(process.env.FAULT_SYSTEMS ?? 30);
const SEED = Number(process.env.FAULT_SEED ?? 4_201);
const KILLS = 4;
/**
 * A SIGKILLed activity is retried only after its 1-minute start-to-close timeout (an e-mail's lease, 70 s):
 * the tail this budget carries after the last kill, on a loaded 2-core machine.
 */
const WALK_BUDGET_MS = 200_000;

let t: Topology;
beforeAll(async () => {
  t = await startTopology({ name: 'worker-crash', workers: 1, apis: 2 });
}, 180_000);
afterAll(async () => {
  await t?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the worker SIGKILLed at random points', () => {
  it(
    `brings ${SYSTEMS} lifecycles to active with every effect exactly once (seed ${SEED})`,
    async () => {
      const random = seededRandom(SEED);
      const started = Date.now();
      const d = driver(t, { deadline: started + WALK_BUDGET_MS });
      const ids = Array.from({ length: SYSTEMS }, (_, i) => `crash-${String(i).padStart(2, '0')}`);
      const kills: { at: string; atMs: number; steps: number; done: number; downMs: number }[] = [];
      let walking = true;

      const chaos = (async () => {
        const worker = t.workers[0]!;
        while (walking && kills.length < KILLS) {
          await sleep(1_000 + random() * 5_000);
          if (!walking) break;
          await worker.kill();
          const now = new Date();
          const kill = {
            at: now.toISOString(),
            atMs: now.getTime() - started,
            steps: d.progress.steps(),
            done: d.progress.done(),
            downMs: 0,
          };
          kills.push(kill);
          // Down for a random while too: work piles up on the task queue, timers and retries come due.
          await sleep(random() * 3_000);
          const down = Date.now();
          await worker.start();
          kill.downMs = Date.now() - down;
        }
      })();

      let walks;
      try {
        walks = await walkAll(d, ids);
      } finally {
        walking = false;
        await chaos;
      }
      const summary = `seed ${SEED}; kills ${JSON.stringify(kills)}; ${walks.reduce((n, w) => n + w.retries, 0)} retried requests; ${Date.now() - started} ms`;
      console.log(`worker-crash: ${summary}`);

      // The faults really happened mid-flight: every kill while lifecycles were still under way.
      expect(kills.length, summary).toBe(KILLS);
      expect(
        kills.filter((k) => k.done < SYSTEMS),
        summary,
      ).toHaveLength(KILLS);
      expect(t.workers[0]!.starts, summary).toBe(KILLS + 1);

      expect(walks.map((w) => w.view?.stage)).toEqual(ids.map(() => 'active'));
      for (const w of walks) {
        expect(w.approvers, w.id).toEqual(['head-of-hr@example.org', t.governanceLead]);
        expect(
          w.view.decisions.map((x: { decision: string }) => x.decision),
          w.id,
        ).toEqual(['approve', 'approve']);
      }
      await expectAuditTrails(t, ids);
      await expectMailExactlyOnce(
        t,
        ids,
        60_000,
        `SIGKILLs at ${kills.map((k) => k.at).join(', ')}`,
        kills.map((k) => new Date(k.at)),
      );
      expect(t.unexpectedExits()).toEqual([]);
    },
    WALK_BUDGET_MS + 90_000,
  );
});
