/**
 * Failed e-mails are visible and can be sent again, end to end through real
 * SMTP: the dev mailbox refuses a recipient at RCPT TO as a real server
 * would (550 for good, 451 for now), and the lifecycle, the dashboard,
 * /metrics and the system page's "Send again" form are the product's own.
 *
 * On the REAL Temporal dev server, not the time-skipping one: the dashboard
 * and /metrics read Temporal's visibility store, and the time-skipping test
 * server answers every list and count with "Failed to list workflows". No
 * timer is needed here, so real time costs nothing. Visibility and delivery
 * are asynchronous, so every expectation on them is polled with a deadline.
 */
import { authenticateByDefault, keyring, testAuth } from './support/credentials.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities/index.js';
import { createSmtpMailer, type Mailer } from '../activities/mailer.js';
import { buildApi } from '../api/server.js';
import { loadPolicy } from '../config/policy-file.js';
import { startDevMailbox, type DevMailbox } from '../embedded/dev-mailbox.js';
import { startDevServer, type DevServer } from '../embedded/dev-server.js';
import { ensureTemporalBinaries } from '../embedded/temporal-binaries.js';
import { openStore, type NotificationRow, type Store } from '../store/index.js';
import { createWorker } from '../worker/worker.js';
import { eventually } from './support/dev-env.js';
import type { LifecycleEnv } from './support/lifecycle-env.js';
import { walker } from './support/walk.js';
import { testDataConverter, testPayloadCodec, testPersonKeys, testPrivacy } from './support/privacy.js';
import { scratchBlobStore } from './support/blobs.js';

const SECRET = 'failed-mail-test-secret-that-is-long-enough-0123';
const DECISION_KEY = 'failed-mail-test-decision-key-long-enough-0123';
const GOVERNANCE_LEAD = 'governance-lead@example.org';

const BOUNCING = 'mail-bounce';
const BOUNCING_NAME = 'Bounce-prone screening assistant';
const OWNER = 'no-such-owner@bounce.example.org';
const GREYLISTED = 'mail-greylist';
const GREYLISTED_OWNER = 'later@greylist.example.org';

/** What the mailbox refuses right now; the tests change it while everything runs. */
const refused = new Map<string, 550 | 451>([
  [OWNER, 550],
  [GREYLISTED_OWNER, 451],
]);
/** Every RCPT TO the mailbox refused, in order. */
const refusals: { address: string; code: 550 | 451 }[] = [];
function refuse(address: string): 550 | 451 | undefined {
  const code = refused.get(address.toLowerCase());
  if (code) refusals.push({ address: address.toLowerCase(), code });
  return code;
}

let dataDir: string;
let server: DevServer;
let connection: Connection;
let nativeConnection: NativeConnection;
let mailbox: DevMailbox;
let mailer: Mailer;
let store: Store;
let worker: Worker;
let running: Promise<void>;
let api: FastifyInstance;
let w: ReturnType<typeof walker>;

beforeAll(async () => {
  const { cli } = await ensureTemporalBinaries({ quiet: true });
  dataDir = await mkdtemp(join(tmpdir(), 'failed-mail-'));
  server = await startDevServer({ cliPath: cli, dbFile: join(dataDir, 'temporal.db'), headless: true });
  connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: server.namespace, dataConverter: testDataConverter });
  nativeConnection = await NativeConnection.connect({ address: server.address });
  mailbox = await startDevMailbox({ port: 0, rejectRecipients: refuse });
  mailer = createSmtpMailer(mailbox.url, 'AI Governance <governance@example.org>');
  store = await openStore({});
  const base = await loadPolicy();
  // The workflow's first retry comes after 5 s; capping there keeps the greylisted mail's retries 5 s apart.
  const policy = { ...base, notifications: { ...base.notifications, retryMaxInterval: '5s' } };
  const taskQueue = `failed-mail-${Math.random().toString(36).slice(2)}`;
  const baseUrl = 'http://failed-mail.test';
  worker = await createWorker({
    connection: nativeConnection,
    namespace: server.namespace,
    taskQueue,
    payloadCodec: testPayloadCodec,
    activities: createActivities({
      store,
      mailer,
      publicBaseUrl: baseUrl,
      approvalLinkSecret: SECRET,
      decisionSigningKey: DECISION_KEY,
      policy,
      client,
      personKeys: testPersonKeys,
      blobs: scratchBlobStore(),
    }),
  });
  running = worker.run();
  api = await buildApi(
    {
      client,
      store,
      policy,
      taskQueue,
      publicBaseUrl: baseUrl,
      approvalLinkSecret: SECRET,
      decisionSigningKey: DECISION_KEY,
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
  // walk.ts drives systems through the API and the mailbox only.
  w = walker({ api, mailbox } as Pick<LifecycleEnv, 'api' | 'mailbox'> as LifecycleEnv);
}, 120_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await api?.close();
  mailer?.close();
  await mailbox?.stop();
  await store?.close();
  await nativeConnection?.close();
  await connection?.close();
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------- helpers

async function get(url: string, expected = 200) {
  const res = await api.inject({ method: 'GET', url });
  expect(res.statusCode, `GET ${url}: ${res.body.slice(0, 2000)}`).toBe(expected);
  return res;
}

/** The markup of the page's section with this id. */
function section(html: string, id: string): string {
  const start = html.indexOf(`id="${id}"`);
  expect(start, `section #${id}`).toBeGreaterThan(-1);
  return html.slice(start, html.indexOf('</section>', start));
}

const rowsOf = (html: string, attr: 'data-system' | 'data-key') =>
  [...html.matchAll(new RegExp(`<tr ${attr}="([^"]+)"`, 'g'))].map((m) => m[1]!);

/** `name{labels} value` lines of the Prometheus text format, comments skipped. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

const metrics = async () => parseMetrics((await get('/metrics')).body);

const outbox = (id: string) => store.listNotifications(id);

function resendForm(id: string, form: Record<string, string>) {
  return api.inject({
    method: 'POST',
    url: `/systems/${id}/notifications/resend`,
    payload: new URLSearchParams(form).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

const delivered = (to: string) => mailbox.messages().filter((m) => m.to.includes(to));

// ---------------------------------------------------------------- tests

describe('failed e-mails: visible, and sent again from the system page', () => {
  /** The owner's outbox rows once every one of them was given up on. */
  let failed: NotificationRow[];

  it('a recipient refused with 550: its e-mails fail for good, are recorded, the governance lead hears, the lifecycle goes on', async () => {
    await w.register(BOUNCING, { owner: OWNER, name: BOUNCING_NAME });
    await w.assess(BOUNCING);
    await w.evidence(BOUNCING);
    await w.plan(BOUNCING);
    for (;;) {
      const v = await w.until(BOUNCING, (x) => x.pendingApproval !== null || x.stage !== 'approval', 'next step');
      if (v.stage !== 'approval') break;
      const step = await w.approveOpenRequest(BOUNCING);
      await w.until(BOUNCING, (x) => x.pendingApproval?.requestId !== step.requestId, 'the step to advance');
    }
    if ((await w.view(BOUNCING)).stage === 'fria_notification') await w.notifyAuthority(BOUNCING);
    const view = await w.until(BOUNCING, (x) => x.stage === 'active', 'stage active');
    expect(view.stage).toBe('active');

    // Settled: the step to active is recorded (its e-mails are in the outbox with it), each of the owner's
    // e-mails failed, everyone else's was sent.
    const rows = await eventually(
      async () => ({ system: await store.getSystem(BOUNCING), all: await outbox(BOUNCING) }),
      ({ system, all }) => {
        expect(system?.stage).toBe('active');
        const toOwner = all.filter((r) => r.toAddress === OWNER);
        expect(toOwner.length).toBeGreaterThan(0);
        expect(all.map((r) => `${r.kind} to ${r.toAddress}: ${r.status}`)).toEqual(
          all.map((r) => `${r.kind} to ${r.toAddress}: ${r.toAddress === OWNER ? 'failed' : 'sent'}`),
        );
      },
    );
    failed = rows.all.filter((r) => r.toAddress === OWNER);
    for (const r of failed) expect(r.lastError, r.kind).toMatch(/550/);
    // Permanent: each e-mail offered once, never retried.
    expect(refusals.filter((r) => r.address === OWNER)).toEqual(failed.map(() => ({ address: OWNER, code: 550 })));
    expect(delivered(OWNER)).toEqual([]);

    const events = await eventually(
      () => store.listEvents(BOUNCING),
      (evs) => expect(evs.filter((e) => e.type === 'notification_failed').length).toBe(failed.length),
    );
    expect(
      events
        .filter((e) => e.type === 'notification_failed')
        .map((e) => (e.payload as { key: string }).key)
        .sort(),
    ).toEqual(failed.map((r) => r.idempotencyKey).sort());
    // The batch recording those events touches the rows once more (their updatedAt): read them as they now stand.
    failed = (await outbox(BOUNCING)).filter((r) => r.toAddress === OWNER);

    // One "Undeliverable e-mail" to the governance lead per failed e-mail.
    await eventually(
      async () =>
        delivered(GOVERNANCE_LEAD).filter(
          (m) => m.headers['x-ai-system'] === BOUNCING && m.subject === `Undeliverable e-mail for ${BOUNCING_NAME}`,
        ),
      (ms) => {
        expect(ms.length).toBe(failed.length);
        for (const m of ms) expect(m.text).toContain(OWNER);
      },
    );
  }, 120_000);

  // Fails today: the delivery activity counts the refusal (markNotificationFailed: attempts 1), then the
  // workflow's next batch marks the same row failed again through `failedMails` (store/index.ts markFailed,
  // attempts + 1 once more), so one refused delivery reads as 2 attempts.
  it('counts a delivery refused once as one attempt', () => {
    expect(failed.map((r) => `${r.kind}: ${r.attempts}`)).toEqual(failed.map((r) => `${r.kind}: 1`));
  });

  it('shows them on the dashboard and in /metrics', async () => {
    const html = await eventually(
      async () => (await get('/')).body,
      (body) => expect(rowsOf(section(body, 'failed-mail'), 'data-system')).toHaveLength(failed.length),
    );
    const mail = section(html, 'failed-mail');
    expect(mail).toContain('E-mails that could not be delivered</h2>');
    expect(rowsOf(mail, 'data-system')).toEqual(failed.map(() => BOUNCING));
    expect(mail).toContain(`<a href="/systems/${BOUNCING}">${BOUNCING_NAME}</a>`);
    expect(mail).toContain(
      `${failed.length} e-mail${failed.length === 1 ? '' : 's'} could not be delivered, newest first`,
    );
    for (const r of failed) {
      expect(mail).toContain(r.kind.replaceAll('_', ' '));
      expect(mail).toContain(`<time datetime="${r.updatedAt.toISOString()}">`);
    }
    expect(mail).toContain(OWNER);
    expect(mail).toMatch(/550/);
    // Newest first.
    const times = [...mail.matchAll(/<time datetime="([^"]+)"/g)].map((m) => Date.parse(m[1]!));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(html).toContain(`id="n-failed-mail">${failed.length}</span>`);
    expect(section(html, 'retrying-mail')).toContain('No e-mail is waiting for another attempt.');

    const text = (await get('/metrics')).body;
    for (const name of ['ai_notifications', 'ai_notifications_retrying']) {
      expect(text).toContain(`# HELP ${name} `);
      expect(text).toContain(`# TYPE ${name} gauge`);
    }
    const m = parseMetrics(text);
    const counts = await store.notificationCounts();
    expect(m.get('ai_notifications{status="failed"}')).toBe(failed.length);
    expect(counts.failed).toBe(failed.length);
    for (const s of ['pending', 'sending', 'sent'] as const) {
      expect(m.get(`ai_notifications{status="${s}"}`), s).toEqual(expect.any(Number));
    }
    expect(m.get('ai_notifications{status="sent"}')).toBeGreaterThan(0);
    expect(m.get('ai_notifications_retrying')).toBe(0);
  });

  it('the system page lists them with "Send again" and refuses a bad form with the field named', async () => {
    const page = (await get(`/systems/${BOUNCING}`)).body;
    const mail = section(page, 'failed-mail');
    expect(rowsOf(mail, 'data-key').sort()).toEqual(failed.map((r) => r.idempotencyKey).sort());
    expect(mail).toContain(`<form method="post" action="/systems/${BOUNCING}/notifications/resend">`);
    expect(mail).toContain('name="requestedBy" type="email" required');
    for (const r of failed) expect(mail).toContain(`name="key" value="${r.idempotencyKey}"`);
    expect(page).toContain('could not be delivered: ');

    const before = (await outbox(BOUNCING)).length;
    const key = failed[0]!.idempotencyKey;

    const badEmail = await resendForm(BOUNCING, { key, requestedBy: 'not-an-address' });
    expect(badEmail.statusCode).toBe(422);
    expect(badEmail.headers['content-type']).toMatch(/^text\/html/);
    expect(badEmail.body).toMatch(
      /role="alert" id="resend-error">Not sent again\. Your e-mail address \(requestedBy\): must be an e-mail address\./,
    );
    // What was typed comes back, escaped, for correction.
    const hostile = await resendForm(BOUNCING, { key, requestedBy: '<script>x</script>' });
    expect(hostile.statusCode).toBe(422);
    expect(hostile.body).not.toContain('<script>x</script>');
    expect(hostile.body).toContain('value="&lt;script&gt;x&lt;/script&gt;"');

    const missing = await resendForm(BOUNCING, { key });
    expect(missing.statusCode).toBe(422);
    expect(missing.body).toContain('Your e-mail address (requestedBy): must be an e-mail address');

    const sentKey = (await outbox(BOUNCING)).find((r) => r.status === 'sent')!.idempotencyKey;
    const notFailed = await resendForm(BOUNCING, { key: sentKey, requestedBy: 'lead@example.org' });
    expect(notFailed.statusCode).toBe(422);
    expect(notFailed.body).toContain('The e-mail to send again (key): is not a failed e-mail of this system');

    const unknown = await resendForm('no-such-system', { key, requestedBy: 'lead@example.org' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toContain('No such AI system');

    // Nothing refused reached the lifecycle.
    expect((await outbox(BOUNCING)).length).toBe(before);
    expect((await store.listEvents(BOUNCING)).filter((e) => e.type === 'notification_resend_requested')).toEqual([]);
  });

  it('once the address accepts mail, "Send again" delivers it once as a new outbox entry; the failed one stays on record', async () => {
    refused.delete(OWNER);
    const original = failed.find((r) => r.kind === 'work_requested') ?? failed[0]!;
    const before = new Set((await outbox(BOUNCING)).map((r) => r.idempotencyKey));

    const res = await resendForm(BOUNCING, {
      key: original.idempotencyKey,
      requestedBy: 'Governance-Lead@Example.org',
    });
    expect(res.statusCode, res.body.slice(0, 2000)).toBe(303);
    const location = res.headers.location as string;
    expect(location).toBe(`/systems/${BOUNCING}?resent=${encodeURIComponent(original.idempotencyKey)}#failed-mail`);
    const back = (await get(location.split('#')[0]!)).body;
    expect(back).toContain(
      `id="resend-notice">Sent again: the ${original.kind.replaceAll('_', ' ')} e-mail to ${OWNER} is queued as a new e-mail.`,
    );

    const rows = await eventually(
      () => outbox(BOUNCING),
      (all) => {
        const fresh = all.filter((r) => !before.has(r.idempotencyKey));
        expect(fresh.map((r) => `${r.kind} to ${r.toAddress}: ${r.status}`)).toEqual([
          `${original.kind} to ${OWNER}: sent`,
        ]);
      },
    );
    const fresh = rows.find((r) => !before.has(r.idempotencyKey))!;
    expect(fresh.messageId).not.toBe(original.messageId);
    expect(rows.find((r) => r.idempotencyKey === original.idempotencyKey)).toMatchObject({
      status: 'failed',
      lastError: original.lastError,
    });
    // Stored by the mailbox before its 250, so it is there once the row says sent.
    const arrived = delivered(OWNER);
    expect(arrived.map((m) => m.messageId)).toEqual([fresh.messageId]);
    expect(arrived[0]!.headers['x-ai-system']).toBe(BOUNCING);

    const asked = (await store.listEvents(BOUNCING)).filter((e) => e.type === 'notification_resend_requested');
    expect(asked.map((e) => [e.actor, (e.payload as { key: string }).key])).toEqual([
      ['governance-lead@example.org', original.idempotencyKey],
    ]);
    // The failed one is still listed, now with who asked for it again.
    const page = section((await get(`/systems/${BOUNCING}`)).body, 'failed-mail');
    expect(rowsOf(page, 'data-key')).toContain(original.idempotencyKey);
    expect(page).toContain('at the request of governance-lead@example.org');
    expect((await store.notificationCounts()).failed).toBe(failed.length);
  }, 60_000);

  it('a recipient answering 451: the e-mail is pending and retried, shown as such, and delivered once it is accepted', async () => {
    await w.register(GREYLISTED, { owner: GREYLISTED_OWNER, name: 'Greylisted forecaster' });
    const waiting = await eventually(
      () => outbox(GREYLISTED),
      (rows) => {
        const toOwner = rows.filter((r) => r.toAddress === GREYLISTED_OWNER);
        expect(toOwner.length).toBeGreaterThan(0);
        expect(toOwner.some((r) => r.status === 'pending' && r.attempts > 0)).toBe(true);
      },
    );
    const row = waiting.find((r) => r.toAddress === GREYLISTED_OWNER && r.attempts > 0)!;
    expect(row.lastError).toMatch(/451/);

    const html = await eventually(
      async () => (await get('/')).body,
      (body) => expect(rowsOf(section(body, 'retrying-mail'), 'data-system')).toContain(GREYLISTED),
    );
    const retrying = section(html, 'retrying-mail');
    expect(retrying).toContain('E-mails being retried</h2>');
    expect(retrying).toContain(`<a href="/systems/${GREYLISTED}">Greylisted forecaster</a>`);
    expect(retrying).toContain(GREYLISTED_OWNER);
    expect(retrying).toMatch(/451/);
    // Not given up on: it is not among the failed ones.
    expect(rowsOf(section(html, 'failed-mail'), 'data-system')).not.toContain(GREYLISTED);
    await eventually(metrics, (m) => expect(m.get('ai_notifications_retrying')).toBeGreaterThanOrEqual(1));

    refused.delete(GREYLISTED_OWNER);
    await eventually(
      () => outbox(GREYLISTED),
      (rows) => expect(rows.map((r) => r.status)).toEqual(rows.map(() => 'sent')),
      30_000,
    );
    expect(delivered(GREYLISTED_OWNER).map((m) => m.messageId)).toEqual(
      (await outbox(GREYLISTED)).filter((r) => r.toAddress === GREYLISTED_OWNER).map((r) => r.messageId),
    );
    await eventually(metrics, (m) => expect(m.get('ai_notifications_retrying')).toBe(0));
    const after = (await get('/')).body;
    expect(section(after, 'retrying-mail')).toContain('No e-mail is waiting for another attempt.');

    // Seconds later, the re-sent e-mail of the previous test has still arrived only once.
    expect(delivered(OWNER)).toHaveLength(1);
  }, 90_000);
});
