import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * Worker heartbeats: each worker process rewrites its row every few seconds
 * and deletes it on a graceful shutdown; readiness asks for the freshest row
 * of its task queue. Temporal's describeTaskQueue keeps listing a worker that
 * died for minutes, so it cannot tell readiness that the last worker is gone.
 *
 * Every instant is the database's now(), never a process's clock: a worker
 * and an API on hosts whose clocks disagree still agree on a row's age.
 */

export interface HeartbeatKey {
  identity: string;
  taskQueue: string;
  namespace: string;
}

export interface HeartbeatRow extends HeartbeatKey {
  startedAt: Date;
  lastSeenAt: Date;
  /** now() - lastSeenAt on the database's clock. */
  ageMs: number;
}

/** Writes the row, or refreshes it; a new process under an identity seen before (a container restart) resets startedAt. */
export async function recordHeartbeat(db: Kysely<Database>, key: HeartbeatKey, startedAt: Date): Promise<void> {
  await db
    .insertInto('workerHeartbeats')
    .values({ ...key, startedAt, lastSeenAt: sql<Date>`now()` })
    .onConflict((oc) =>
      oc.columns(['namespace', 'taskQueue', 'identity']).doUpdateSet((eb) => ({
        startedAt: eb.ref('excluded.startedAt'),
        lastSeenAt: sql<Date>`now()`,
      })),
    )
    .execute();
}

export async function removeHeartbeat(db: Kysely<Database>, key: HeartbeatKey): Promise<void> {
  await db
    .deleteFrom('workerHeartbeats')
    .where('namespace', '=', key.namespace)
    .where('taskQueue', '=', key.taskQueue)
    .where('identity', '=', key.identity)
    .execute();
}

/** The task queue's rows, freshest first. */
export async function listHeartbeats(
  db: Kysely<Database>,
  queue: { namespace: string; taskQueue: string },
): Promise<HeartbeatRow[]> {
  const rows = await db
    .selectFrom('workerHeartbeats')
    .select(['identity', 'taskQueue', 'namespace', 'startedAt', 'lastSeenAt'])
    .select(sql<number>`(extract(epoch from (now() - last_seen_at)) * 1000)::float8`.as('ageMs'))
    .where('namespace', '=', queue.namespace)
    .where('taskQueue', '=', queue.taskQueue)
    .orderBy('lastSeenAt', 'desc')
    .execute();
  return rows.map((r) => ({ ...r, ageMs: Number(r.ageMs) }));
}

/** Rows a SIGKILLed worker left behind; they never count as fresh, this only keeps the table small. */
export async function pruneHeartbeats(db: Kysely<Database>, olderThanMs: number): Promise<number> {
  const result = await db
    .deleteFrom('workerHeartbeats')
    .where('lastSeenAt', '<', sql<Date>`now() - make_interval(secs => ${olderThanMs / 1000})`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

export interface Heartbeat {
  /** Stops beating and deletes the row, so readiness drops at once. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Beats every `intervalMs` while `isRunning()` holds (a draining worker takes
 * no new tasks, so it stops counting). A failed write (database outage) is
 * reported once per streak of failures and the next beat tried on time: the
 * worker itself keeps running.
 */
export function startHeartbeat(
  db: Kysely<Database>,
  opts: HeartbeatKey & {
    intervalMs: number;
    isRunning?: () => boolean;
    onError?: (err: unknown) => void;
    onRecovered?: () => void;
  },
): Heartbeat {
  const key: HeartbeatKey = { identity: opts.identity, taskQueue: opts.taskQueue, namespace: opts.namespace };
  const startedAt = new Date();
  const isRunning = opts.isRunning ?? (() => true);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // Beats and the final delete run one at a time: a beat still in flight must not re-insert a deleted row.
  let chain: Promise<void> = Promise.resolve();
  let failing = false;
  const enqueue = (op: () => Promise<void>) => {
    chain = chain.then(op).then(
      () => {
        if (failing) opts.onRecovered?.();
        failing = false;
      },
      (err: unknown) => {
        if (!failing) opts.onError?.(err);
        failing = true;
      },
    );
    return chain;
  };

  const tick = () => {
    timer = undefined;
    if (stopped) return;
    if (!isRunning()) {
      void stop();
      return;
    }
    void enqueue(async () => {
      if (!stopped) await recordHeartbeat(db, key, startedAt);
    }).then(() => {
      if (!stopped) timer = setTimeout(tick, opts.intervalMs).unref();
    });
  };

  let stopping: Promise<void> | undefined;
  function stop(): Promise<void> {
    stopped = true;
    if (timer) clearTimeout(timer);
    stopping ??= enqueue(() => removeHeartbeat(db, key));
    return stopping;
  }

  tick();
  return { stop };
}
