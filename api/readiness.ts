import type { Client } from '@temporalio/client';
import { listHeartbeats } from '../store/heartbeats.js';
import type { Store } from '../store/index.js';

export type ReadinessCheck = 'store' | 'temporal' | 'worker';

export interface CheckResult {
  ok: boolean;
  /** What was seen, in words: the reason when the check fails. */
  detail: string;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<ReadinessCheck, CheckResult>;
}

/**
 * Ready means a request can complete: the store answers, Temporal answers,
 * and a worker of this task queue is alive (else a submitted assessment would
 * wait unanswered). "Alive" is a heartbeat row fresher than
 * `heartbeatMaxAgeMs` (store/heartbeats.ts), not Temporal's poller list,
 * which keeps a SIGKILLed worker for minutes. Each check has its own deadline
 * so a hung dependency answers 503 instead of hanging the probe; the answer
 * is cached briefly so probes stay cheap.
 */
export function createReadiness(opts: {
  client: Client;
  store: Store;
  namespace: string;
  taskQueue: string;
  heartbeatMaxAgeMs: number;
  cacheMs?: number;
  checkTimeoutMs?: number;
}): () => Promise<ReadinessReport> {
  const cacheMs = opts.cacheMs ?? 1_000;
  const timeoutMs = opts.checkTimeoutMs ?? 3_000;
  const queue = { namespace: opts.namespace, taskQueue: opts.taskQueue };
  let cached: { at: number; report: ReadinessReport } | undefined;
  let inFlight: Promise<ReadinessReport> | undefined;

  async function storeCheck(): Promise<CheckResult> {
    await opts.store.db.selectNoFrom((eb) => eb.val(1).as('one')).execute();
    return { ok: true, detail: `${opts.store.kind} answers` };
  }

  async function temporalCheck(): Promise<CheckResult> {
    await opts.client.withDeadline(Date.now() + timeoutMs, () =>
      opts.client.workflowService.describeNamespace({ namespace: opts.namespace }),
    );
    return { ok: true, detail: `namespace ${opts.namespace} answers` };
  }

  async function workerCheck(): Promise<CheckResult> {
    const rows = await listHeartbeats(opts.store.db, queue);
    const fresh = rows.filter((r) => r.ageMs <= opts.heartbeatMaxAgeMs);
    const maxAge = `${(opts.heartbeatMaxAgeMs / 1000).toFixed(1)} s`;
    if (fresh.length > 0) {
      return { ok: true, detail: `${fresh.length} worker(s) on task queue ${opts.taskQueue} seen within ${maxAge}` };
    }
    const last = rows[0];
    return {
      ok: false,
      detail:
        `no worker on task queue ${opts.taskQueue} (namespace ${opts.namespace}) has sent a heartbeat within ${maxAge}` +
        (last ? `; the last one, ${last.identity}, ${(last.ageMs / 1000).toFixed(1)} s ago` : '; none is registered'),
    };
  }

  async function check(): Promise<ReadinessReport> {
    const [store, temporal, worker] = await Promise.all([
      guarded('the record store', storeCheck),
      guarded('Temporal', temporalCheck),
      guarded('the worker heartbeats', workerCheck),
    ]);
    return { ready: store.ok && temporal.ok && worker.ok, checks: { store, temporal, worker } };
  }

  function guarded(what: string, run: () => Promise<CheckResult>): Promise<CheckResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CheckResult>((resolve) => {
      timer = setTimeout(
        () => resolve({ ok: false, detail: `${what} did not answer within ${timeoutMs} ms` }),
        timeoutMs,
      );
    });
    const answer = run().catch((err: unknown): CheckResult => ({
      ok: false,
      detail: `${what} failed: ${err instanceof Error ? err.message : String(err)}`,
    }));
    return Promise.race([answer, timeout]).finally(() => clearTimeout(timer));
  }

  return async function readiness(): Promise<ReadinessReport> {
    if (cached && Date.now() - cached.at < cacheMs) return cached.report;
    inFlight ??= check().then((report) => {
      cached = { at: Date.now(), report };
      inFlight = undefined;
      return report;
    });
    return inFlight;
  };
}

/**
 * The body and status of GET /healthz. A bare boolean (tests' contexts) keeps
 * the short answer; a report names every check and lists the failing ones.
 */
export function healthAnswer(r: boolean | ReadinessReport): { status: 200 | 503; body: Record<string, unknown> } {
  if (typeof r === 'boolean')
    return r ? { status: 200, body: { status: 'ok' } } : { status: 503, body: { status: 'starting' } };
  if (r.ready) return { status: 200, body: { status: 'ok', checks: r.checks } };
  const failing = (Object.keys(r.checks) as ReadinessCheck[]).filter((k) => !r.checks[k].ok);
  return { status: 503, body: { status: 'unavailable', failing, checks: r.checks } };
}
