import { rm } from 'node:fs/promises';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { createSmtpMailer } from '../../activities/mailer.js';
import { buildApi } from '../../api/server.js';
import { loadPolicy } from '../../config/policy-file.js';
import type { Policy } from '../../domain/policy.js';
import { workflowIdFor } from '../../domain/system.js';
import { startDevMailbox, type DevMailbox } from '../../embedded/dev-mailbox.js';
import { testServerExecutable } from '../../embedded/temporal-binaries.js';
import { openStore, type EventRow, type Store } from '../../store/index.js';
import type { FileBlobStore } from '../../blobs/index.js';
import { registerSearchAttributes } from '../../worker/search-attributes.js';
import { workflowBundle } from '../../worker/worker.js';
import { resendNotificationUpdate } from '../../workflows/messages.js';
import { testDataConverter, testPrivacy } from './privacy.js';
import { scratchBlobStore } from './blobs.js';
import type { AuthContext } from '../../api/auth/plugin.js';
import { authenticateByDefault, keyring, testAuth, type Keyring } from './credentials.js';
import { walker } from './walk.js';

export const TEST_SECRET = 'test-secret-that-is-long-enough-0123456789';
/** What the API signs decisions with and the worker checks them with (DECISION_SIGNING_KEY). */
export const TEST_DECISION_KEY = 'test-decision-signing-key-0123456789abcdef';
export const PUBLIC_BASE_URL = 'http://approvals.test';
export const GOVERNANCE_LEAD = 'governance-lead@example.org';

export interface LifecycleEnv {
  env: TestWorkflowEnvironment;
  /** The uploads' store, shared by API and worker. */
  blobs: FileBlobStore;
  mailbox: DevMailbox;
  store: Store;
  policy: Policy;
  api: FastifyInstance;
  /** Real API keys for tests' principals (test/support/credentials.ts). */
  keys: Keyring;
  /** The admin's key, which requests without a credential or a named actor go with. */
  adminKey: string;
  taskQueue: string;
  close(): Promise<void>;
}

/**
 * A time-skipping Temporal test server, the real activities against an
 * in-memory PGlite store and a real SMTP server, and the HTTP API on top,
 * so workflow tests go through the same doors as users do.
 */
export async function startLifecycleEnv(
  opts: {
    policy?: Policy;
    /** The policy the worker was deployed with, when it differs from the API's. */
    workerPolicy?: Policy;
    /** How the dev mailbox answers each recipient (see embedded/dev-mailbox.ts). */
    rejectRecipients?: (address: string) => 550 | 451 | undefined;
    /**
     * Payloads in clear instead of encrypted: for the recorder, whose histories are fixtures that
     * test/replay.test.ts and a reader of a diff must be able to read (production always encrypts).
     */
    plainPayloads?: boolean;
    /** The API's request log: its level (default warn) and where its lines go (default stdout). */
    apiLog?: { level: string; stream: { write(line: string): void } };
    /** The API's authentication settings (e.g. an OIDC verifier); testAuth when left out. */
    auth?: AuthContext;
  } = {},
): Promise<LifecycleEnv> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: await testServerExecutable() },
    client: opts.plainPayloads ? {} : { dataConverter: testDataConverter },
  });
  await registerSearchAttributes(env.connection, 'default');
  const mailbox = await startDevMailbox({ port: 0, rejectRecipients: opts.rejectRecipients });
  const store = await openStore({});
  const policy = opts.policy ?? (await loadPolicy());
  const taskQueue = `lifecycle-${Math.random().toString(36).slice(2)}`;
  const mailer = createSmtpMailer(mailbox.url, 'AI Governance <governance@example.org>');
  // API and worker share one blob store, as they share BLOB_DIR in production.
  const blobs = scratchBlobStore('lifecycle-blobs');
  const activities = createActivities({
    store,
    mailer,
    publicBaseUrl: PUBLIC_BASE_URL,
    approvalLinkSecret: TEST_SECRET,
    decisionSigningKey: TEST_DECISION_KEY,
    policy: opts.workerPolicy ?? policy,
    personKeys: testPrivacy.personKeys,
    blobs,
  });
  const api = await buildApi(
    {
      client: env.client,
      store,
      policy,
      taskQueue,
      publicBaseUrl: PUBLIC_BASE_URL,
      approvalLinkSecret: TEST_SECRET,
      decisionSigningKey: TEST_DECISION_KEY,
      governanceLead: GOVERNANCE_LEAD,
      ...testPrivacy,
      blobs,
      isReady: async () => true,
      auth: opts.auth ?? testAuth,
    },
    { logLevel: opts.apiLog?.level ?? 'warn', logStream: opts.apiLog?.stream },
  );
  const keys = keyring(store);
  const adminKey = await keys({ email: 'admin@example.org', role: 'admin' });
  authenticateByDefault(api, keys, async () => adminKey);
  // One worker for the whole file: a worker stopped between tests can strand a
  // workflow task on its sticky queue, which freezes the time-skipping clock.
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
    ...(opts.plainPayloads ? {} : { dataConverter: testDataConverter }),
  });
  const running = worker.run();
  return {
    env,
    blobs,
    mailbox,
    store,
    policy,
    api,
    keys,
    adminKey,
    taskQueue,
    async close() {
      worker.shutdown();
      await running;
      await api.close();
      mailer.close();
      await mailbox.stop();
      await store.close();
      await env.teardown();
      await rm(blobs.dir, { recursive: true, force: true });
    },
  };
}

/** The path part of a link, for app.inject. */
export function pathOf(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

export function csrfFrom(html: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error('no CSRF field on the approval page');
  return match[1]!;
}

export type Walker = ReturnType<typeof walker>;

/** The file's lifecycle environment and its walker, valid inside hooks and tests (see lifecycleSuite). */
export interface LifecycleSuite {
  readonly t: LifecycleEnv;
  readonly w: Walker;
}

/** startLifecycleEnv's options, and what to do before closing. */
export interface LifecycleSuiteOptions extends NonNullable<Parameters<typeof startLifecycleEnv>[0]> {
  /** Runs before the environment closes, e.g. to restart what a failed test left stopped. */
  beforeClose?: (t: LifecycleEnv) => Promise<void>;
}

/**
 * One environment for a whole test file: registers the beforeAll that starts
 * it and the afterAll that closes it, and returns an object whose `t` and `w`
 * are the environment and its walker once started. Read them inside hooks and
 * tests (`s.t.api.inject(...)`), never at the top of the file.
 */
export function lifecycleSuite(opts: LifecycleSuiteOptions = {}): LifecycleSuite {
  let env: LifecycleEnv | undefined;
  let walk: Walker | undefined;
  beforeAll(async () => {
    const { beforeClose: _, ...envOptions } = opts;
    env = await startLifecycleEnv(envOptions);
    walk = walker(env);
  });
  afterAll(async () => {
    if (!env) return;
    try {
      await opts.beforeClose?.(env);
    } finally {
      await env.close();
    }
  });
  const started = <T>(value: T | undefined, name: string): T => {
    if (value === undefined) throw new Error(`lifecycleSuite().${name} is only there inside hooks and tests`);
    return value;
  };
  return {
    get t() {
      return started(env, 't');
    },
    get w() {
      return started(walk, 'w');
    },
  };
}

/** The payload key of a barrier's own events (see barrier). */
const BARRIER_KEY = '/test-barrier-';
let barriers = 0;

/** Whether an event is one of barrier()'s own. */
export const isBarrierEvent = (e: Pick<EventRow, 'type' | 'payload'>) =>
  e.type === 'notification_resend_requested' &&
  String((e.payload as { key?: unknown }).key ?? '').includes(BARRIER_KEY);

/**
 * A barrier before asserting that nothing (else) happened to a system, in
 * place of a sleep. It sends the workflow a harmless accepted update (a resend
 * of an e-mail the system never had: the workflow records the request, the
 * store finds nothing to copy, nobody is mailed), twice: the first answers
 * once the workflow has applied every message and timer that came before it,
 * including a timer or activity result handled in the same workflow task
 * after it; the second's step then queues behind every step those produced.
 * The workflow records its steps one at a time, in order, so once the second
 * barrier's event is in the store, so is everything before it, each e-mail in
 * the outbox. Last, it waits until the workflow has no activity in flight:
 * every one of those e-mails was delivered (or given up on) and no retry is
 * left to send a copy.
 *
 * A workflow that has completed has nothing in flight (it drains its records
 * and e-mails before it completes): then only the events are read.
 *
 * Returns the system's events, without the barriers' own.
 */
export async function barrier(t: LifecycleEnv, systemId: string, timeoutMs = 20_000): Promise<EventRow[]> {
  const workflowId = workflowIdFor(systemId);
  const handle = t.env.client.workflow.getHandle(workflowId);
  const deadline = Date.now() + timeoutMs;
  const waitFor = async <T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<void> => {
    while (!ok(await read())) {
      if (Date.now() > deadline) throw new Error(`barrier on ${systemId}: timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const running = async () => (await handle.describe()).status.name === 'RUNNING';
  /** False when the workflow has completed (say, a retirement draining its last records): nothing is in flight then. */
  const update = async (key: string) => {
    try {
      await handle.executeUpdate(resendNotificationUpdate, {
        args: [{ key, requestedBy: 'test-barrier@example.org' }],
      });
      return true;
    } catch (err) {
      if (await running()) throw err;
      return false;
    }
  };
  const n = ++barriers;
  const last = `${workflowId}${BARRIER_KEY}${n}b`;
  if ((await running()) && (await update(`${workflowId}${BARRIER_KEY}${n}a`)) && (await update(last))) {
    await waitFor(
      () => t.store.listEvents(systemId),
      (events) => events.some((e) => isBarrierEvent(e) && (e.payload as { key: string }).key === last),
      'its own event to be recorded',
    );
    await waitFor(
      () => handle.describe(),
      (d) =>
        d.status.name !== 'RUNNING' || ((d.raw.pendingActivities?.length ?? 0) === 0 && !d.raw.pendingWorkflowTask),
      'the activities in flight (e-mail deliveries) to finish',
    );
  }
  return (await t.store.listEvents(systemId)).filter((e) => !isBarrierEvent(e));
}
