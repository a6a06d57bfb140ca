import { Client, Connection } from '@temporalio/client';
import { FileBlobStore } from '../blobs/index.js';
import { blobDir, parseEnv, publicBaseUrl, requireProduction } from '../config/env.js';
import { loadPolicy } from '../config/policy-file.js';
import { runMain } from '../config/run-main.js';
import { dataConverterFor, payloadCodec } from '../payloads/data-converter.js';
import { personKeys } from '../payloads/person-keys.js';
import { openStore } from '../store/index.js';
import { authFromEnv } from './auth/config.js';
import { createReadiness } from './readiness.js';
import { buildApi } from './server.js';

/** The HTTP API as its own process; workers run elsewhere on the same task queue. */
runMain(async () => {
  const env = parseEnv();
  requireProduction(env, [
    'TEMPORAL_ADDRESS',
    'DATABASE_URL',
    'APPROVAL_LINK_SECRET',
    'DECISION_SIGNING_KEY',
    'SESSION_SECRET',
    'PAYLOAD_ENCRYPTION_KEYS',
    'PERSON_KEY_SECRET',
  ]);
  const policy = await loadPolicy(env.POLICY_PATH);
  const store = await openStore({ databaseUrl: env.DATABASE_URL });
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const codec = payloadCodec(env.PAYLOAD_ENCRYPTION_KEYS!);
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE, dataConverter: dataConverterFor(codec) });
  const app = await buildApi(
    {
      client,
      store,
      policy,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      publicBaseUrl: publicBaseUrl(env),
      approvalLinkSecret: env.APPROVAL_LINK_SECRET!,
      decisionSigningKey: env.DECISION_SIGNING_KEY!,
      governanceLead: env.GOVERNANCE_LEAD_EMAIL,
      payloadCodec: codec,
      temporalUiOrigin: env.TEMPORAL_UI_ORIGIN,
      personKeys: personKeys(env.PERSON_KEY_SECRET!),
      // Uploads land here and the workers read them from here: the same directory on every host.
      blobs: new FileBlobStore(blobDir(env)),
      auth: authFromEnv(env, env.SESSION_SECRET!, publicBaseUrl(env)),
      isReady: createReadiness({
        client,
        store,
        namespace: env.TEMPORAL_NAMESPACE,
        taskQueue: env.TEMPORAL_TASK_QUEUE,
        heartbeatMaxAgeMs: env.READINESS_HEARTBEAT_MAX_AGE_MS,
      }),
    },
    { logLevel: env.LOG_LEVEL, trustProxy: env.TRUST_PROXY },
  );
  await app.listen({ port: env.PORT, host: env.HOST });
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  await app.close();
  await connection.close();
  await store.close();
});
