import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { createSmtpMailer } from '../activities/mailer.js';
import { authFromEnv } from '../api/auth/config.js';
import { createReadiness } from '../api/readiness.js';
import { createApiKey, createLoginLink } from '../api/routes/auth.js';
import { buildApi } from '../api/server.js';
import { FileBlobStore } from '../blobs/index.js';
import { blobDir, ConfigError, parseEnv, publicBaseUrl } from '../config/env.js';
import { loadPolicy } from '../config/policy-file.js';
import { runMain } from '../config/run-main.js';
import { dataConverterFor, payloadCodec } from '../payloads/data-converter.js';
import { embeddedPayloadKeys } from '../payloads/keys.js';
import { personKeys } from '../payloads/person-keys.js';
import { countAdminKeys, useApiKey } from '../store/access.js';
import { sha256Hex } from '../api/auth/keys.js';
import { startHeartbeat } from '../store/heartbeats.js';
import { openStore } from '../store/index.js';
import { ensureDigestSchedule } from '../worker/digest-schedule.js';
import { registerSearchAttributes } from '../worker/search-attributes.js';
import { installTemporalLogging } from '../worker/logging.js';
import { createWorker } from '../worker/worker.js';
import { startDevMailbox } from './dev-mailbox.js';
import { DevServerInUseError, DevServerPortInUseError, startDevServer } from './dev-server.js';
import { ensureTemporalBinaries } from './temporal-binaries.js';
import { ensurePrivateDir, writePrivateFile } from './private-files.js';

/**
 * A secret made once per data folder (mode 0600) so that what it signs or
 * encrypts survives restarts: approval links, sessions, payloads.
 */
async function embeddedSecret(dataDir: string, name = 'approval-link-secret'): Promise<string> {
  const file = join(dataDir, name);
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (existing.length >= 32) return existing;
  } catch {
    // first start
  }
  const secret = randomBytes(32).toString('base64url');
  await writePrivateFile(file, secret + '\n');
  return secret;
}

const LOGIN_LINK_TTL_MS = 15 * 60_000;

/**
 * The first start makes an admin key and leaves it in $DATA_DIR/admin-api-key
 * (0600), so that a newcomer can sign in and the CLI can use it; later starts
 * keep it. With no admin key left (all revoked), a new one is made.
 */
async function firstAdmin(
  store: Awaited<ReturnType<typeof openStore>>,
  dataDir: string,
): Promise<{ key?: string; keyId: string; file: string }> {
  const file = join(dataDir, 'admin-api-key');
  const existing = await readFile(file, 'utf8').then(
    (s) => s.trim(),
    () => '',
  );
  if (existing && (await countAdminKeys(store.db)) > 0) {
    const row = await useApiKey(store.db, sha256Hex(existing));
    if (row) return { keyId: row.id, file };
  }
  const { key, row } = await createApiKey(
    { store },
    // An address emailSchema accepts (admin@localhost is not): a session carries it and is parsed with that schema.
    { name: 'embedded admin (first start)', email: 'admin@localhost.localdomain', role: 'admin' },
    'embedded start-up',
  );
  await writeFile(file, key + '\n', { mode: 0o600 });
  await chmod(file, 0o600);
  return { key, keyId: row.id, file };
}

/** A port or data folder the dev server cannot have, as the setting to change (exit 2, no stack). */
function devServerConflict(err: unknown, dataDir: string): ConfigError | undefined {
  if (err instanceof DevServerPortInUseError) {
    const name = err.which === 'port' ? 'TEMPORAL_DEV_PORT' : 'TEMPORAL_UI_PORT';
    return new ConfigError([
      `${name}: port ${err.port} is in use by another program (${err.code}), not by a Temporal dev server ` +
        `left behind on this DATA_DIR; stop that program, or set ${name} to a free port ` +
        (err.which === 'port' ? '(0 picks one)' : '(0 turns the UI off)'),
    ]);
  }
  if (err instanceof DevServerInUseError) {
    return new ConfigError([
      `DATA_DIR: ${dataDir} is in use by another npm start that is still running (process ${err.ownerPid}, ` +
        `its Temporal dev server is ${err.pid}); stop that one first (Ctrl-C, or kill ${err.ownerPid}), ` +
        'or give this one its own DATA_DIR',
    ]);
  }
  return undefined;
}

/**
 * The whole product in one process tree: a Temporal dev server persisting to
 * $DATA_DIR, the worker, the API and pages, PGlite and a dev mailbox unless
 * DATABASE_URL / SMTP_URL point elsewhere. Starting again resumes the same
 * workflows from the same files.
 */
runMain(async () => {
  const env = parseEnv();
  installTemporalLogging(env.LOG_LEVEL);
  const dataDir = resolve(env.DATA_DIR);
  // Secrets, the admin key, caught mail and the databases: this user's only (0700, files 0600).
  await ensurePrivateDir(dataDir);
  const policy = await loadPolicy(env.POLICY_PATH);
  const secret = env.APPROVAL_LINK_SECRET ?? (await embeddedSecret(dataDir));
  // Made once per data folder: losing them loses every recorded payload, and every person key changes.
  const codec = payloadCodec(env.PAYLOAD_ENCRYPTION_KEYS ?? (await embeddedPayloadKeys(dataDir)));
  const people = personKeys(env.PERSON_KEY_SECRET ?? (await embeddedSecret(dataDir, 'person-key-secret')));
  // Its own file, never the link secret: the worker trusts a decision only with this key's proof.
  const decisionSigningKey = env.DECISION_SIGNING_KEY ?? (await embeddedSecret(dataDir, 'decision-signing-key'));
  // One process holds API and worker: they share the store object as they would share BLOB_DIR apart.
  const blobs = new FileBlobStore(resolve(blobDir({ ...env, DATA_DIR: dataDir })));
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err) => console.error(err));
  };

  try {
    let address = env.TEMPORAL_ADDRESS;
    if (!address) {
      const { cli } = await ensureTemporalBinaries({ quiet: true });
      const server = await startDevServer({
        cliPath: cli,
        dbFile: join(dataDir, 'temporal.db'),
        // How the next start finds a dev server this one leaves behind if it is killed (kill -9, OOM).
        pidFile: join(dataDir, 'temporal-dev-server.pid'),
        notice: (line) => console.log(line),
        port: env.TEMPORAL_DEV_PORT,
        uiPort: env.TEMPORAL_UI_PORT || undefined,
        headless: env.TEMPORAL_UI_PORT === 0,
        namespace: env.TEMPORAL_NAMESPACE,
      }).catch((err: unknown) => {
        throw devServerConflict(err, dataDir) ?? err;
      });
      stops.push(() => server.stop());
      address = server.address;
      console.log(`Temporal dev server at ${address}${server.uiUrl ? `, UI ${server.uiUrl}` : ''}`);
    }

    let smtpUrl = env.SMTP_URL;
    const mailbox = smtpUrl
      ? undefined
      : await startDevMailbox({ port: 0, persistFile: join(dataDir, 'mailbox.json') });
    if (mailbox) {
      stops.push(() => mailbox.stop());
      smtpUrl = mailbox.url;
    }

    const store = await openStore({ databaseUrl: env.DATABASE_URL, pgliteDir: join(dataDir, 'pg') });
    stops.push(() => store.close());
    const mailer = createSmtpMailer(smtpUrl!, env.MAIL_FROM);
    stops.push(async () => mailer.close());

    const baseUrl = publicBaseUrl(env);
    const connection = await Connection.connect({ address });
    stops.push(() => connection.close());
    const client = new Client({
      connection,
      namespace: env.TEMPORAL_NAMESPACE,
      dataConverter: dataConverterFor(codec),
    });
    // An external server (TEMPORAL_ADDRESS) may not have the attributes yet; startDevServer registered them already.
    if (env.TEMPORAL_ADDRESS) await registerSearchAttributes(connection, env.TEMPORAL_NAMESPACE);
    await ensureDigestSchedule(client, {
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      policy,
      governanceLead: env.GOVERNANCE_LEAD_EMAIL,
    });

    const nativeConnection = await NativeConnection.connect({ address });
    stops.push(() => nativeConnection.close());
    const worker = await createWorker({
      connection: nativeConnection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      payloadCodec: codec,
      maxCachedWorkflows: env.WORKER_MAX_CACHED_WORKFLOWS,
      activities: createActivities({
        store,
        mailer,
        publicBaseUrl: baseUrl,
        approvalLinkSecret: secret,
        decisionSigningKey,
        policy,
        client,
        personKeys: people,
        blobs,
      }),
    });
    const workerDone = worker.run();
    const heartbeat = startHeartbeat(store.db, {
      identity: worker.options.identity,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      namespace: env.TEMPORAL_NAMESPACE,
      intervalMs: env.WORKER_HEARTBEAT_INTERVAL_MS,
      isRunning: () => worker.getState() === 'RUNNING',
    });
    stops.push(async () => {
      await heartbeat.stop();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerDone;
    });

    const app = await buildApi(
      {
        client,
        store,
        policy,
        taskQueue: env.TEMPORAL_TASK_QUEUE,
        publicBaseUrl: baseUrl,
        approvalLinkSecret: secret,
        decisionSigningKey,
        governanceLead: env.GOVERNANCE_LEAD_EMAIL,
        payloadCodec: codec,
        temporalUiOrigin: env.TEMPORAL_UI_ORIGIN,
        personKeys: people,
        blobs,
        auth: authFromEnv(env, env.SESSION_SECRET ?? (await embeddedSecret(dataDir, 'session-secret')), baseUrl),
        isReady: createReadiness({
          client,
          store,
          namespace: env.TEMPORAL_NAMESPACE,
          taskQueue: env.TEMPORAL_TASK_QUEUE,
          heartbeatMaxAgeMs: env.READINESS_HEARTBEAT_MAX_AGE_MS,
        }),
      },
      { logLevel: env.LOG_LEVEL, mailbox, trustProxy: env.TRUST_PROXY },
    );
    stops.push(() => app.close());
    await app.listen({ port: env.PORT, host: env.HOST });
    const admin = await firstAdmin(store, dataDir);
    const loginLink = await createLoginLink({ store, publicBaseUrl: baseUrl }, admin.keyId, LOGIN_LINK_TTL_MS);

    console.log(
      [
        '',
        `AI impact assessment workflows are running (policy ${policy.version}).`,
        `  Dashboard      ${baseUrl}/`,
        `  API            ${baseUrl}/api/v1/systems   (OpenAPI: ${baseUrl}/openapi.json)`,
        mailbox ? `  Dev mailbox    ${baseUrl}/dev/mailbox` : `  SMTP           ${env.SMTP_URL}`,
        `  Record store   ${store.kind === 'pglite' ? join(dataDir, 'pg') : 'PostgreSQL (DATABASE_URL)'}`,
        `  Data           ${dataDir}`,
        admin.key
          ? `  Admin API key  ${admin.key}   (shown once; also in ${admin.file}, mode 0600)`
          : `  Admin API key  in ${admin.file}`,
        `  Sign in        ${loginLink}   (one click, single use, valid ${LOGIN_LINK_TTL_MS / 60_000} minutes)`,
        `  CLI            export AI_LIFECYCLE_API_KEY=$(cat ${admin.file})`,
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );

    // The worker stops on SIGINT/SIGTERM by itself (the SDK's runtime); the rest follows it down.
    await workerDone;
  } finally {
    await stopAll();
  }
});
