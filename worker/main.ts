import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { createSmtpMailer } from '../activities/mailer.js';
import { parseEnv, publicBaseUrl, requireProduction } from '../config/env.js';
import { runMain } from '../config/run-main.js';
import { openStore } from '../store/index.js';
import { createWorker } from './worker.js';

/** The worker as its own process, against an external Temporal, PostgreSQL and SMTP server. */
runMain(async () => {
  const env = parseEnv();
  requireProduction(env, ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'SMTP_URL', 'APPROVAL_LINK_SECRET']);
  const store = await openStore({ databaseUrl: env.DATABASE_URL });
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const mailer = createSmtpMailer(env.SMTP_URL!, env.MAIL_FROM);
  const worker = await createWorker({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    activities: createActivities({
      store,
      mailer,
      publicBaseUrl: publicBaseUrl(env),
      approvalLinkSecret: env.APPROVAL_LINK_SECRET!,
    }),
  });
  console.log(`worker polling ${env.TEMPORAL_TASK_QUEUE} on ${env.TEMPORAL_ADDRESS} (${env.TEMPORAL_NAMESPACE})`);
  // The SDK's runtime turns SIGINT/SIGTERM into a graceful worker shutdown.
  await worker.run();
  mailer.close();
  await connection.close();
  await store.close();
});
