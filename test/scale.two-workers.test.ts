/**
 * Scale past one machine (issue 12): two worker processes and two API
 * processes against one Temporal server and one PostgreSQL, as a deployment
 * with replicas runs them. SCALE_SYSTEMS (200) high-risk lifecycles are
 * driven from registration to active, SCALE_CONCURRENCY (20) at a time, every
 * request going to the next API replica in turn and every approval clicked
 * through the e-mailed link (each click from a loopback address of its own, as
 * approvers click from their own machines: the links' per-address rate limit
 * would otherwise count 800 clicks as one client's). Halfway, one worker is SIGKILLed and started
 * again (SCALE_KILL=0 leaves them alone), so its in-flight work is taken over
 * by the other.
 *
 * Then, for every system: no audit event recorded twice and a hash chain that
 * verifies through GET …/audit/verify; no e-mail delivered twice at the SMTP
 * server (by Message-ID and by X-Idempotency-Key) and every outbox row
 * delivered; every decision POST that answered "You approved" has its
 * decision_recorded event; every system active. Both APIs answered requests
 * and both workers ran tasks, or the test would prove nothing about replicas.
 */
import { hostname } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIdFor } from '../domain/system.js';
import { driver, eventsOf, expectAuditTrails, expectMailExactlyOnce, type Walk } from './support/topology-walk.js';
import { startTopology, type Topology } from './support/topology.js';

const SYSTEMS = Number(process.env.SCALE_SYSTEMS ?? 200);
const CONCURRENCY = Number(process.env.SCALE_CONCURRENCY ?? 20);
const KILL = process.env.SCALE_KILL !== '0';
/**
 * The walks' deadline: 200 lifecycles took about 3 minutes on 2 loaded vCPUs; a killed worker's activities come
 * back after their 1-minute timeout. Generous, and finite.
 */
const WALK_BUDGET_MS = 480_000;

let t: Topology;
beforeAll(async () => {
  t = await startTopology({ name: 'scale', workers: 2, apis: 2 });
}, 180_000);
afterAll(async () => {
  await t?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items`, at most `limit` at once; after the first failure no new item starts. */
async function inPool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (!failed && next < items.length) {
        const i = next++;
        try {
          out[i] = await fn(items[i]!);
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    }),
  );
  return out;
}

/**
 * Who ran each workflow and activity task, from the histories Temporal kept (identity is `pid@host`), and the
 * histories' size (events, encoded bytes), which the README's sizing of a Temporal cluster starts from.
 */
async function histories(ids: string[]) {
  const connection = await Connection.connect({ address: t.temporal.address });
  try {
    const client = new Client({ connection, namespace: t.namespace });
    const counts = new Map<string, number>();
    let events = 0;
    let bytes = 0;
    await inPool(ids, 10, async (id) => {
      const history = await client.workflow.getHandle(workflowIdFor(id)).fetchHistory();
      events += history.events?.length ?? 0;
      bytes += temporal.api.history.v1.History.encode(history).finish().length;
      for (const e of history.events ?? []) {
        const identity =
          e.workflowTaskStartedEventAttributes?.identity ?? e.activityTaskStartedEventAttributes?.identity;
        if (identity) counts.set(identity, (counts.get(identity) ?? 0) + 1);
      }
    });
    return { counts, events, bytes };
  } finally {
    await connection.close();
  }
}

describe(`two workers and two APIs on one Temporal server and one PostgreSQL`, () => {
  it(
    `bring ${SYSTEMS} high-risk lifecycles to active with every effect exactly once`,
    async () => {
      const workerIdentities = t.workers.map((w) => `${w.pid}@${hostname()}`);
      const started = Date.now();
      // 200 approvers click about 800 times in a few minutes: each from an address of its own, as people do.
      const d = driver(t, { deadline: started + WALK_BUDGET_MS, clickFromOwnAddress: true });
      const ids = Array.from({ length: SYSTEMS }, (_, i) => `scale-${String(i).padStart(3, '0')}`);

      const kills: Date[] = [];
      let walking = true;
      const chaos = (async () => {
        if (!KILL) return;
        while (walking && d.progress.done() < SYSTEMS / 2) await sleep(500);
        if (!walking) return;
        const worker = t.workers[1]!;
        await worker.kill();
        kills.push(new Date());
        await sleep(2_000);
        await worker.start();
        workerIdentities.push(`${worker.pid}@${hostname()}`);
      })();

      let walks: Walk[];
      try {
        walks = await inPool(ids, CONCURRENCY, (id) => d.toActive(id));
      } finally {
        walking = false;
        await chaos;
      }
      const walkMs = Date.now() - started;
      const retries = walks.reduce((n, w) => n + w.retries, 0);
      const summary =
        `${SYSTEMS} systems, ${CONCURRENCY} at a time, in ${(walkMs / 1000).toFixed(0)} s ` +
        `(${((SYSTEMS * 1000) / walkMs).toFixed(2)} systems/s); ${retries} retried requests; ` +
        `worker SIGKILLs at ${kills.map((k) => k.toISOString()).join(', ') || 'none'}`;
      console.log(`scale: ${summary}`);

      if (KILL) expect(kills, `one worker killed mid-run (${summary})`).toHaveLength(1);
      expect(walks.map((w) => w.view?.stage)).toEqual(ids.map(() => 'active'));
      for (const w of walks) expect(w.approvers, w.id).toEqual(['head-of-hr@example.org', t.governanceLead]);

      // Requests went to both replicas: each was sent at least a third of them.
      const perApi = [0, 1].map((i) => d.progress.served().get(t.apiUrl(i)) ?? 0);
      const total = perApi[0]! + perApi[1]!;
      expect(Math.min(...perApi), `requests per API ${JSON.stringify(perApi)}`).toBeGreaterThan(total / 3);

      // Nothing recorded twice, and each trail has the high-risk path's events once.
      await expectAuditTrails(t, ids, 120_000);

      // No lost decision: every click the API answered "You approved" is in the audit trail, as that decision.
      const trails = await eventsOf(t, ids);
      const lost: string[] = [];
      for (const w of walks) {
        const recorded = trails
          .get(w.id)!
          .filter((e) => e.type === 'decision_recorded')
          .map((e) => e.payload as { requestId: string; decision: string });
        const clicked = w.steps.filter((s) => s.startsWith('approved ')).map((s) => s.slice('approved '.length));
        expect(clicked.length, `${w.id}: approvals answered "You approved"`).toBe(2);
        for (const rid of clicked) {
          if (!recorded.some((r) => r.requestId === rid && r.decision === 'approve')) lost.push(`${w.id} ${rid}`);
        }
      }
      expect(lost, 'decisions answered 2xx with no decision_recorded event').toEqual([]);

      // Each chain verifies, head against the workflow's anchor included, through both APIs.
      const verifications = await inPool(ids, 10, async (id) => {
        const a = await d.request('GET', `/api/v1/systems/${id}/audit/verify`);
        return { id, status: a.status, json: a.json, expected: trails.get(id)!.length, a };
      });
      expect(
        verifications
          .filter(
            (v) =>
              v.status !== 200 ||
              v.json?.ok !== true ||
              v.json?.count !== v.expected ||
              v.json?.anchored?.status !== 'matched',
          )
          .map((v) => `${v.id}: ${v.status} ${v.a.text.slice(0, 300)} (${v.expected} events in the table)`),
        'audit chains that do not verify',
      ).toEqual([]);

      // No e-mail delivered twice; every outbox row delivered once (a copy caught in the kill's window aside).
      await expectMailExactlyOnce(t, ids, 90_000, summary, kills);

      // Both workers ran tasks (workflow and activity tasks, from the histories).
      const h = await histories(ids);
      const identities = h.counts;
      console.log(
        `scale: histories ${(h.events / SYSTEMS).toFixed(1)} events, ${(h.bytes / SYSTEMS / 1024).toFixed(1)} KB per lifecycle to active`,
      );
      const tasks = [...identities.values()].reduce((a, b) => a + b, 0);
      const perWorker = [
        identities.get(workerIdentities[0]!) ?? 0,
        workerIdentities.slice(1).reduce((n, w) => n + (identities.get(w) ?? 0), 0),
      ];
      console.log(`scale: tasks per worker ${JSON.stringify(Object.fromEntries(identities))}`);
      expect(
        [...identities.keys()].filter((k) => !workerIdentities.includes(k)),
        'tasks run by a process that is not one of the two workers',
      ).toEqual([]);
      expect(Math.min(...perWorker), `tasks per worker ${JSON.stringify(perWorker)} of ${tasks}`).toBeGreaterThan(
        tasks / 10,
      );
      expect(t.unexpectedExits()).toEqual([]);
    },
    WALK_BUDGET_MS + 300_000,
  );
});
