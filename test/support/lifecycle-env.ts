import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { createSmtpMailer } from '../../activities/mailer.js';
import { buildApi } from '../../api/server.js';
import { loadPolicy } from '../../config/policy-file.js';
import type { Policy } from '../../domain/policy.js';
import { startDevMailbox, type DevMailbox } from '../../embedded/dev-mailbox.js';
import { testServerExecutable } from '../../embedded/temporal-binaries.js';
import { openStore, type Store } from '../../store/index.js';
import { registerSearchAttributes } from '../../worker/search-attributes.js';
import { workflowBundle } from '../../worker/worker.js';
import { walker } from './walk.js';

export const TEST_SECRET = 'test-secret-that-is-long-enough-0123456789';
export const PUBLIC_BASE_URL = 'http://approvals.test';
export const GOVERNANCE_LEAD = 'governance-lead@example.org';

export interface LifecycleEnv {
  env: TestWorkflowEnvironment;
  mailbox: DevMailbox;
  store: Store;
  policy: Policy;
  api: FastifyInstance;
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
  } = {},
): Promise<LifecycleEnv> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: await testServerExecutable() },
  });
  await registerSearchAttributes(env.connection, 'default');
  const mailbox = await startDevMailbox({ port: 0 });
  const store = await openStore({});
  const policy = opts.policy ?? (await loadPolicy());
  const taskQueue = `lifecycle-${Math.random().toString(36).slice(2)}`;
  const mailer = createSmtpMailer(mailbox.url, 'AI Governance <governance@example.org>');
  const activities = createActivities({
    store,
    mailer,
    publicBaseUrl: PUBLIC_BASE_URL,
    approvalLinkSecret: TEST_SECRET,
    policy: opts.workerPolicy ?? policy,
  });
  const api = await buildApi(
    {
      client: env.client,
      store,
      policy,
      taskQueue,
      publicBaseUrl: PUBLIC_BASE_URL,
      approvalLinkSecret: TEST_SECRET,
      governanceLead: GOVERNANCE_LEAD,
      isReady: async () => true,
    },
    { logLevel: 'warn' },
  );
  // One worker for the whole file: a worker stopped between tests can strand a
  // workflow task on its sticky queue, which freezes the time-skipping clock.
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
  });
  const running = worker.run();
  return {
    env,
    mailbox,
    store,
    policy,
    api,
    taskQueue,
    async close() {
      worker.shutdown();
      await running;
      await api.close();
      mailer.close();
      await mailbox.stop();
      await store.close();
      await env.teardown();
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

export interface LifecycleSuiteOptions {
  policy?: Policy;
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
    env = await startLifecycleEnv({ policy: opts.policy });
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
