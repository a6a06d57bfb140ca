import { authenticateByDefault, keyring, testAuth, type Keyring } from './credentials.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { createActivities } from '../../activities/index.js';
import { createSmtpMailer } from '../../activities/mailer.js';
import type { AuthContext } from '../../api/auth/plugin.js';
import { buildApi } from '../../api/server.js';
import { loadPolicy } from '../../config/policy-file.js';
import type { Policy } from '../../domain/policy.js';
import { startDevMailbox, type DevMailbox } from '../../embedded/dev-mailbox.js';
import { getFreePort, startDevServer, type DevServer } from '../../embedded/dev-server.js';
import { ensureTemporalBinaries } from '../../embedded/temporal-binaries.js';
import { openStore, type Store } from '../../store/index.js';
import { createWorker } from '../../worker/worker.js';
import type { LifecycleEnv } from './lifecycle-env.js';
import { testDataConverter, testPrivacy } from './privacy.js';
import { walker } from './walk.js';
import { FileBlobStore } from '../../blobs/index.js';

export const DEV_ENV_SECRET = 'dev-env-test-secret-that-is-long-enough-0123';
export const DEV_ENV_DECISION_KEY = 'dev-env-test-decision-key-long-enough-0123';
export const DEV_ENV_GOVERNANCE_LEAD = 'governance-lead@example.org';

export interface DevEnv {
  server: DevServer;
  client: Client;
  mailbox: DevMailbox;
  store: Store;
  /** The uploads' store, shared by API and worker. */
  blobs: FileBlobStore;
  policy: Policy;
  api: FastifyInstance;
  /** Real API keys (test/support/credentials.ts); requests without a credential go as the body's actor or the admin. */
  keys: Keyring;
  adminKey: string;
  taskQueue: string;
  /** Where links in e-mails point: the API's real address when `listen` was asked for. */
  baseUrl: string;
  walk: ReturnType<typeof walker>;
  close(): Promise<void>;
}

/**
 * The real Temporal dev server (SQLite visibility, Schedules: what the
 * time-skipping server lacks) with one worker running the real activities
 * against an in-memory record store and a real SMTP mailbox, and the HTTP
 * API on top. Time is real, so tests shorten the policy's periods instead.
 */
export async function startDevEnv(
  opts: {
    policy?: (base: Policy) => Policy;
    listen?: boolean;
    name?: string;
    /** Settings on top of the test sessions' (e.g. a metrics scrape token). */
    auth?: Partial<AuthContext>;
  } = {},
): Promise<DevEnv> {
  const name = opts.name ?? 'dev-env';
  const { cli } = await ensureTemporalBinaries({ quiet: true });
  const dataDir = await mkdtemp(join(tmpdir(), `${name}-`));
  const server = await startDevServer({ cliPath: cli, dbFile: join(dataDir, 'temporal.db'), headless: true });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: server.namespace, dataConverter: testDataConverter });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const mailbox = await startDevMailbox({ port: 0, maxMessages: 2000 });
  const mailer = createSmtpMailer(mailbox.url, 'AI Governance <governance@example.org>');
  const store = await openStore({});
  const base = await loadPolicy();
  const policy = opts.policy ? opts.policy(base) : base;
  const port = opts.listen ? await getFreePort() : undefined;
  const baseUrl = port ? `http://127.0.0.1:${port}` : `http://${name}.test`;
  const taskQueue = `${name}-${Math.random().toString(36).slice(2)}`;
  // API and worker share one blob store, as they share BLOB_DIR in production; it goes with the data folder.
  const blobs = new FileBlobStore(join(dataDir, 'blobs'));
  const worker = await createWorker({
    connection: nativeConnection,
    namespace: server.namespace,
    taskQueue,
    payloadCodec: testPrivacy.payloadCodec,
    activities: createActivities({
      store,
      mailer,
      publicBaseUrl: baseUrl,
      approvalLinkSecret: DEV_ENV_SECRET,
      decisionSigningKey: DEV_ENV_DECISION_KEY,
      policy,
      client,
      personKeys: testPrivacy.personKeys,
      blobs,
    }),
  });
  const running = worker.run();
  const api = await buildApi(
    {
      client,
      store,
      policy,
      taskQueue,
      publicBaseUrl: baseUrl,
      approvalLinkSecret: DEV_ENV_SECRET,
      decisionSigningKey: DEV_ENV_DECISION_KEY,
      governanceLead: DEV_ENV_GOVERNANCE_LEAD,
      ...testPrivacy,
      blobs,
      isReady: async () => true,
      auth: { ...testAuth, ...opts.auth },
    },
    { logLevel: 'warn' },
  );
  const keys = keyring(store);
  const adminKey = await keys({ email: 'admin@example.org', role: 'admin' });
  authenticateByDefault(api, keys, async () => adminKey);
  if (port) await api.listen({ port, host: '127.0.0.1' });
  return {
    server,
    client,
    mailbox,
    store,
    blobs,
    policy,
    api,
    keys,
    adminKey,
    taskQueue,
    baseUrl,
    // walk.ts drives systems through the API and the mailbox only, which this env has too.
    walk: walker({ api, mailbox } as Pick<LifecycleEnv, 'api' | 'mailbox'> as LifecycleEnv),
    async close() {
      worker.shutdown();
      await running;
      await api.close();
      mailer.close();
      await mailbox.stop();
      await store.close();
      await nativeConnection.close();
      await connection.close();
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `read` until `check` passes (visibility lags behind the workflows), then returns the last value. */
export async function eventually<T>(read: () => Promise<T>, check: (v: T) => void, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    try {
      check(v);
      return v;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
