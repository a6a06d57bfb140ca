/**
 * A lifecycle started by the release before version 2 meets today's worker
 * and API: the API's first message finds a run that does not know version
 * 2's names, asks it to upgrade, and the run continues as new into version 2
 * with its documents moved to the record store, its approval request still
 * open, and the link e-mailed by the old release still deciding.
 */
import { authenticateByDefault, keyring, testAuth } from './support/credentials.js';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createActivities } from '../activities/index.js';
import { createSmtpMailer, type Mailer } from '../activities/mailer.js';
import { buildApi } from '../api/server.js';
import { loadPolicy } from '../config/policy-file.js';
import type { Policy } from '../domain/policy.js';
import { workflowIdFor } from '../domain/system.js';
import { startDevMailbox, type DevMailbox } from '../embedded/dev-mailbox.js';
import { startDevServer, type DevServer } from '../embedded/dev-server.js';
import { ensureTemporalBinaries } from '../embedded/temporal-binaries.js';
import { openStore, type Store } from '../store/index.js';
import { workflowBundle } from '../worker/worker.js';
import { example, registrationFor } from './support/examples.js';
import {
  GOVERNANCE_LEAD,
  PUBLIC_BASE_URL,
  TEST_DECISION_KEY,
  TEST_SECRET,
  type LifecycleEnv,
} from './support/lifecycle-env.js';
import { walker } from './support/walk.js';
import { testDataConverter, testPersonKeys, testPrivacy } from './support/privacy.js';
import { scratchBlobStore } from './support/blobs.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/v1-release/${name}`, import.meta.url));

// The real dev server: the time-skipping test server never answers a query the workflow has no handler for.
let server: DevServer;
let dataDir: string;
let connection: Connection;
let nativeConnection: NativeConnection;
let client: Client;
let mailbox: DevMailbox;
let store: Store;
let mailer: Mailer;
let api: FastifyInstance;
let policy: Policy;
const taskQueue = `upgrade-${Math.random().toString(36).slice(2)}`;

beforeAll(async () => {
  const { cli } = await ensureTemporalBinaries({ quiet: true });
  dataDir = await mkdtemp(join(tmpdir(), 'upgrade-'));
  server = await startDevServer({ cliPath: cli, dbFile: join(dataDir, 'temporal.db'), headless: true });
  connection = await Connection.connect({ address: server.address });
  client = new Client({ connection, namespace: server.namespace, dataConverter: testDataConverter });
  nativeConnection = await NativeConnection.connect({ address: server.address });
  mailbox = await startDevMailbox({ port: 0 });
  store = await openStore({});
  policy = await loadPolicy();
  mailer = createSmtpMailer(mailbox.url, 'AI Governance <governance@example.org>');
  api = await buildApi(
    {
      client,
      store,
      policy,
      taskQueue,
      publicBaseUrl: PUBLIC_BASE_URL,
      approvalLinkSecret: TEST_SECRET,
      decisionSigningKey: TEST_DECISION_KEY,
      governanceLead: GOVERNANCE_LEAD,
      isReady: async () => true,
      ...testPrivacy,
      blobs: scratchBlobStore(),
      auth: testAuth,
    },
    { logLevel: 'warn' },
  );
  const keys = keyring(store);
  const adminKey = await keys({ email: 'admin@example.org', role: 'admin' });
  authenticateByDefault(api, keys, async () => adminKey);
});
afterAll(async () => {
  await api?.close();
  mailer?.close();
  await mailbox?.stop();
  await store?.close();
  await nativeConnection?.close();
  await connection?.close();
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function oldReleaseBundle() {
  const require = createRequire(createRequire(import.meta.url).resolve('@temporalio/worker'));
  const webpack = require('webpack') as {
    NormalModuleReplacementPlugin: new (re: RegExp, to: (r: { context: string; request: string }) => void) => unknown;
  };
  return bundleWorkflowCode({
    workflowsPath: fixture('index.ts'),
    webpackConfigHook: (config) => ({
      ...config,
      plugins: [
        ...(config.plugins ?? []),
        new webpack.NormalModuleReplacementPlugin(/^@temporalio\/workflow$/, (r) => {
          if (/[\\/]workflows[\\/]v1$/.test(r.context)) r.request = fixture('no-patches.ts');
        }) as never,
      ],
    }),
  });
}

async function runWorker(bundle: Awaited<ReturnType<typeof workflowBundle>>, opts: { sticky: boolean }) {
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: server.namespace,
    taskQueue,
    workflowBundle: bundle,
    dataConverter: testDataConverter,
    activities: createActivities({
      store,
      mailer,
      publicBaseUrl: PUBLIC_BASE_URL,
      approvalLinkSecret: TEST_SECRET,
      decisionSigningKey: TEST_DECISION_KEY,
      policy,
      personKeys: testPersonKeys,
      blobs: scratchBlobStore(),
    }),
    // The old release keeps no sticky cache: the run's next task goes to whichever worker polls next.
    ...(opts.sticky ? {} : { maxCachedWorkflows: 0 }),
  });
  const running = worker.run();
  return async () => {
    worker.shutdown();
    await running;
  };
}

it('a run of the old release upgrades when the API first talks to it, and its e-mailed link still decides', async () => {
  const id = 'from-version-1';
  const handle = client.workflow.getHandle(workflowIdFor(id));
  const registration = { ...registrationFor(id), owner: 'ml-team-lead@example.org' };

  // The old release: registration as it started lifecycles, and its own message names.
  const stopOld = await runWorker(await oldReleaseBundle(), { sticky: false });
  await client.workflow.start('aiSystemLifecycle', {
    taskQueue,
    workflowId: workflowIdFor(id),
    args: [{ registration, policy, governanceLead: GOVERNANCE_LEAD }],
  });
  await handle.executeUpdate('submitImpactAssessment', { args: [example('impact-assessment.json')] });
  await handle.executeUpdate('submitBiasEvidence', { args: [example('bias-evidence.json')] });
  await handle.executeUpdate('submitTreatmentPlan', { args: [example('treatment-plan.json')] });
  const old = await handle.query<{ stage: string; approval: { requestId: string; approver: string } }>('state');
  expect(old.stage).toBe('approval');
  const oldRun = (await handle.describe()).runId;
  const w = walker({ api, mailbox, store, policy, env: { client } } as unknown as LifecycleEnv);
  const link = await w.approvalLink(id, old.approval.approver, old.approval.requestId);
  // The old release finishes what it had in hand (its last records), so nothing is left for today's worker but
  // the API's first message.
  await expect
    .poll(
      async () => {
        const d = (await handle.describe()).raw;
        return (d.pendingActivities?.length ?? 0) + (d.pendingWorkflowTask ? 1 : 0);
      },
      { timeout: 20_000, interval: 100 },
    )
    .toBe(0);
  await stopOld();

  // Today's release.
  const stopNew = await runWorker(await workflowBundle(), { sticky: true });
  try {
    expect((await handle.describe()).runId).toBe(oldRun);
    const view = await w.view(id);
    expect((await handle.describe()).runId).not.toBe(oldRun);
    expect(view).toMatchObject({
      stage: 'approval',
      riskTier: 'high',
      pendingApproval: { requestId: old.approval.requestId },
    });
    // Its documents moved to the record store, where the approval page reads them.
    expect((await store.getDocument(view.assessment.digest))?.content).toMatchObject({
      intendedPurpose: example('impact-assessment.json').intendedPurpose,
    });
    const page = await w.decide(link, 'approve', 'Approved across the upgrade.');
    expect(page.statusCode, page.body).toBe(200);
    expect(page.body).toContain('You approved');
    const next = await w.until(id, (v) => v.pendingApproval?.step === 2, 'the second step, requested by version 2');
    expect(next.decisions).toMatchObject([{ decision: 'approve', comment: 'Approved across the upgrade.' }]);
    await w.approveOpenRequest(id);
    await w.notifyAuthority(id);
    await w.until(id, (v) => v.stage === 'active', 'active');
    expect(await store.verifyChain(id)).toMatchObject({ ok: true });
    const types = (await store.listEvents(id)).map((e) => e.type);
    expect(types.filter((t) => t === 'assessment_submitted')).toHaveLength(1);
  } finally {
    await stopNew();
  }
});
