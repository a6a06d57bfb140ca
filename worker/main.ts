import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { createSmtpMailer } from '../activities/mailer.js';
import { FileBlobStore } from '../blobs/index.js';
import { blobDir, parseEnv, publicBaseUrl, requireProduction } from '../config/env.js';
import { runMain } from '../config/run-main.js';
import { loadPolicy } from '../config/policy-file.js';
import { dataConverterFor, payloadCodec } from '../payloads/data-converter.js';
import { personKeys } from '../payloads/person-keys.js';
import { pruneHeartbeats, startHeartbeat } from '../store/heartbeats.js';
import { openStore } from '../store/index.js';
import { ensureDigestSchedule } from './digest-schedule.js';
import { registerSearchAttributes } from './search-attributes.js';
import { installTemporalLogging } from './logging.js';
import { createWorker } from './worker.js';

/** Rows of workers that died without deleting theirs: long past mattering to readiness. */
const STALE_HEARTBEAT_ROW_MS = 24 * 60 * 60_000;

/** The worker as its own process, against an external Temporal, PostgreSQL and SMTP server. */
runMain(async () => {
  const env = parseEnv();
  requireProduction(env, [
    'TEMPORAL_ADDRESS',
    'DATABASE_URL',
    'SMTP_URL',
    'APPROVAL_LINK_SECRET',
    'DECISION_SIGNING_KEY',
    'PAYLOAD_ENCRYPTION_KEYS',
    'PERSON_KEY_SECRET',
  ]);
  installTemporalLogging(env.LOG_LEVEL);
  const policy = await loadPolicy(env.POLICY_PATH);
  const store = await openStore({ databaseUrl: env.DATABASE_URL });
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const clientConnection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const codec = payloadCodec(env.PAYLOAD_ENCRYPTION_KEYS!);
  const client = new Client({
    connection: clientConnection,
    namespace: env.TEMPORAL_NAMESPACE,
    dataConverter: dataConverterFor(codec),
  });
  // Idempotent: any number of workers starting at once leave one set of attributes and one schedule.
  await registerSearchAttributes(clientConnection, env.TEMPORAL_NAMESPACE);
  await ensureDigestSchedule(client, {
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    policy,
    governanceLead: env.GOVERNANCE_LEAD_EMAIL,
  });
  const mailer = createSmtpMailer(env.SMTP_URL!, env.MAIL_FROM);
  const worker = await createWorker({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    payloadCodec: codec,
    maxCachedWorkflows: env.WORKER_MAX_CACHED_WORKFLOWS,
    activities: createActivities({
      store,
      mailer,
      publicBaseUrl: publicBaseUrl(env),
      approvalLinkSecret: env.APPROVAL_LINK_SECRET!,
      decisionSigningKey: env.DECISION_SIGNING_KEY!,
      policy,
      client,
      personKeys: personKeys(env.PERSON_KEY_SECRET!),
      // The API's uploads: the same directory, mounted on every worker and API host.
      blobs: new FileBlobStore(blobDir(env)),
    }),
  });
  await pruneHeartbeats(store.db, STALE_HEARTBEAT_ROW_MS).catch(() => undefined);
  console.log(`worker polling ${env.TEMPORAL_TASK_QUEUE} on ${env.TEMPORAL_ADDRESS} (${env.TEMPORAL_NAMESPACE})`);
  // The SDK's runtime turns SIGINT/SIGTERM into a graceful worker shutdown.
  const running = worker.run();
  const heartbeat = startHeartbeat(store.db, {
    identity: worker.options.identity,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    namespace: env.TEMPORAL_NAMESPACE,
    intervalMs: env.WORKER_HEARTBEAT_INTERVAL_MS,
    isRunning: () => worker.getState() === 'RUNNING',
    onError: (err) => console.warn(`worker heartbeat not recorded (readiness drops): ${(err as Error).message}`),
    onRecovered: () => console.warn('worker heartbeat recorded again'),
  });
  // Readiness drops when shutdown begins, not after the drain: a draining worker takes no new tasks.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void heartbeat.stop());
  try {
    await running;
  } finally {
    await heartbeat.stop();
  }
  mailer.close();
  await connection.close();
  await clientConnection.close();
  await store.close();
});
