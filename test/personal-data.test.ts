/**
 * Personal data in Temporal, end to end on the REAL Temporal dev server: a
 * high-risk system walks its whole lifecycle through the API (register,
 * assess, evidence, plan, a two-step approval chain by e-mailed links, the
 * FRIA notification, retirement). Then its raw history is read the way a
 * Temporal operator reads it, with the Temporal CLI, and must hold no e-mail
 * address and none of the assessment's text; the product's codec endpoint
 * turns the same payloads back into the clear for an auditor's key, and for
 * nobody without one.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIdFor } from '../domain/system.js';
import { ensureTemporalBinaries } from '../embedded/temporal-binaries.js';
import { ENCRYPTED_ENCODING } from '../payloads/codec.js';
import { workflowBundle } from '../worker/worker.js';
import { keyring } from './support/credentials.js';
import { startDevEnv, type DevEnv } from './support/dev-env.js';
import { historyFromJson } from './support/history-json.js';
import { example } from './support/examples.js';
import { testDataConverter, testPersonKeys } from './support/privacy.js';

const run = promisify(execFile);
const ID = 'personal-data-cv';
const historiesDir = fileURLToPath(new URL('./histories/', import.meta.url));

/**
 * An e-mail address: linear to match (each match starts where a local part can start), since the CLI's output holds
 * long strings. Worker and client identities (`<pid>@<host>`) and the SDK's `worker@1.24.0` have the same shape
 * and are no personal data: a local part of digits only, or a domain without a top-level name, is not counted.
 */
const EMAIL = /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b/g;

/** Every string in a JSON value, and what each base64-looking one decodes to (payload data is base64 in proto JSON). */
function readable(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') {
    out.push(value);
    if (value.length >= 8 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(value))
      out.push(Buffer.from(value, 'base64').toString('utf8'));
  } else if (Array.isArray(value)) {
    for (const v of value) readable(v, out);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) readable(v, out);
  }
  return out;
}

const emailsIn = (texts: string[]) => [
  ...new Set(texts.flatMap((t) => t.match(EMAIL) ?? []).filter((e) => !/^\d+@/.test(e))),
];

/** Sentences of the example assessment and registration: free text a Temporal operator must not read. */
function contentTexts(): string[] {
  const texts: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string' && v.length >= 24 && !v.includes('@')) texts.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(example('impact-assessment.json'));
  walk({ purpose: example('register.json').purpose, context: example('register.json').deployment.context });
  return texts;
}

/** Payloads in proto3 JSON anywhere in a value: objects with a `metadata` map and `data`. */
function payloadsIn(value: unknown, out: { metadata: Record<string, string>; data: string }[] = []) {
  if (Array.isArray(value)) value.forEach((v) => payloadsIn(v, out));
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (o.metadata && typeof o.metadata === 'object' && typeof o.data === 'string') {
      out.push({ metadata: o.metadata as Record<string, string>, data: o.data });
    } else Object.values(o).forEach((v) => payloadsIn(v, out));
  }
  return out;
}

let env: DevEnv;
let cli: string;
let history: unknown;

async function showHistory(workflowId: string, ...extra: string[]): Promise<unknown> {
  const { stdout } = await run(
    cli,
    [
      'workflow',
      'show',
      '--workflow-id',
      workflowId,
      '--address',
      env.server.address,
      '--namespace',
      env.server.namespace,
      '--output',
      'json',
      ...extra,
    ],
    { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
  );
  return JSON.parse(stdout);
}

beforeAll(async () => {
  ({ cli } = await ensureTemporalBinaries({ quiet: true }));
  // Listening on a real port: the Temporal CLI calls the codec endpoint over HTTP, as the Temporal UI does.
  env = await startDevEnv({ name: 'personal-data', listen: true });
  const w = env.walk;
  await w.toActive(ID);
  await w.call('POST', w.sys(ID, '/retire'), example('retire.json'), 200);
  await w.until(ID, (v) => v.stage === 'retired', 'retired');
  await env.client.workflow.getHandle(workflowIdFor(ID)).result();
  history = await showHistory(workflowIdFor(ID));
}, 240_000);

afterAll(async () => {
  await env?.close();
});

describe('personal data in Temporal (dev server, Temporal CLI)', () => {
  it('the scan finds e-mail addresses and assessment text where they are in clear (recorded unencrypted histories)', async () => {
    // Proof that the scan below can fail: the histories recorded before encryption are read the same way.
    const files = (await readdir(historiesDir)).filter((f) => f.startsWith('v2-') && f.endsWith('.json'));
    const texts = readable(JSON.parse(await readFile(`${historiesDir}${files[0]}`, 'utf8')));
    expect(emailsIn(texts)).toContain(example('register.json').owner);
    expect(contentTexts().some((t) => texts.some((x) => x.includes(t)))).toBe(true);
  });

  it('the raw history of a full lifecycle holds no e-mail address and no assessment text', () => {
    const events = (history as { events: { eventType: string }[] }).events;
    const types = new Set(events.map((e) => e.eventType));
    // The whole lifecycle is there: messages, activities, local activities (the person keys), completion.
    for (const t of [
      'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
      'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED',
      'EVENT_TYPE_ACTIVITY_TASK_COMPLETED',
      'EVENT_TYPE_MARKER_RECORDED',
      'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES',
      'EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED',
      'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED',
    ]) {
      expect([...types], t).toContain(t);
    }
    const texts = readable(history);
    expect(emailsIn(texts)).toEqual([]);
    const leaked = contentTexts().filter((t) => texts.some((x) => x.includes(t)));
    expect(leaked).toEqual([]);
    // Every payload is encrypted but what Temporal itself must read: search attribute values (to filter by), and
    // the markers the SDK's core writes past the codec: a patch's name, a local activity's bookkeeping (its result
    // is encrypted).
    const payloads = payloadsIn(history);
    const text = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString('utf8');
    const clear = payloads.filter((p) => text(p.metadata.encoding) !== ENCRYPTED_ENCODING);
    expect(payloads.length - clear.length).toBeGreaterThan(20);
    const attributeTypes = ['Keyword', 'Datetime', 'KeywordList', 'Text', 'Int', 'Double', 'Bool'];
    const attributes = clear.filter((p) => attributeTypes.includes(text(p.metadata.type)));
    const markers = clear.filter((p) => !attributes.includes(p)).map((p) => JSON.parse(text(p.data)));
    const patchKeys = ['deprecated', 'id'];
    const localActivityKeys = [
      'activity_id',
      'activity_type',
      'attempt',
      'backoff',
      'complete_time',
      'original_schedule_time',
      'seq',
    ];
    for (const m of markers) {
      const keys = Object.keys(m).sort();
      expect([patchKeys, localActivityKeys], JSON.stringify(m)).toContainEqual(keys);
    }
    expect(markers).toContainEqual({ id: 'person-key-hmac', deprecated: false });
    // The keys come with a step's records (recordStep, encrypted like any activity result), not a local activity.
    expect(markers).toContainEqual({ id: 'lean-effects', deprecated: false });
    const ownerKey = testPersonKeys.key(example('register.json').owner);
    expect(attributes.map((p) => JSON.parse(text(p.data)))).toEqual(expect.arrayContaining([ID, ownerKey, 'retired']));
  });

  it('search attributes hold ids and HMAC person keys, and the memo no e-mail', async () => {
    const { stdout } = await run(cli, [
      'workflow',
      'describe',
      '--workflow-id',
      workflowIdFor(ID),
      '--address',
      env.server.address,
      '--namespace',
      env.server.namespace,
      '--output',
      'json',
    ]);
    const described = JSON.parse(stdout);
    expect(emailsIn(readable(described))).toEqual([]);
    const d = await env.client.workflow.getHandle(workflowIdFor(ID)).describe();
    expect(d.typedSearchAttributes.get({ name: 'AiOwner', type: 'KEYWORD' } as never)).toBe(
      testPersonKeys.key(example('register.json').owner),
    );
    const memo = (d.memo ?? {}) as Record<string, unknown>;
    expect(memo.name).toBe(example('register.json').name);
    expect(emailsIn(readable(memo))).toEqual([]);
  });

  it('the codec endpoint decodes the history back for an auditor, and refuses everyone else', async () => {
    const keys = keyring(env.store);
    const auditor = await keys({ email: 'auditor@example.org', role: 'auditor' });
    const aiTeam = await keys({ email: example('register.json').owner, role: 'ai-team' });
    const payloads = payloadsIn(history);
    const decode = (authorization: string | undefined) =>
      env.api.inject({
        method: 'POST',
        url: '/codec/decode',
        headers: { 'content-type': 'application/json', authorization },
        payload: { payloads },
      });

    const res = await decode(`Bearer ${auditor}`);
    expect(res.statusCode, res.body).toBe(200);
    const decoded = res.json().payloads as { metadata: Record<string, string>; data: string }[];
    expect(decoded).toHaveLength(payloads.length);
    const clear = decoded.map((p) => Buffer.from(p.data, 'base64').toString('utf8'));
    expect(emailsIn(clear)).toEqual(
      expect.arrayContaining([example('register.json').owner, example('register.json').riskOwner]),
    );
    expect(clear.join('\n')).toContain(example('register.json').purpose);
    expect(clear.join('\n')).toContain(example('register.json').deployment.context);
    expect(Buffer.from(decoded[0]!.metadata.encoding!, 'base64').toString('utf8')).toBe('json/plain');

    // Encode answers what decode reads back; it is an admin's (the auditor changes nothing, not even by Temporal).
    const refused = await env.api.inject({
      method: 'POST',
      url: '/codec/encode',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${auditor}` },
      payload: { payloads: decoded.slice(0, 1) },
    });
    expect(refused.statusCode, refused.body).toBe(403);
    const enc = await env.api.inject({
      method: 'POST',
      url: '/codec/encode',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${env.adminKey}` },
      payload: { payloads: decoded.slice(0, 1) },
    });
    expect(enc.statusCode, enc.body).toBe(200);
    expect(Buffer.from(enc.json().payloads[0].metadata.encoding, 'base64').toString('utf8')).toBe(ENCRYPTED_ENCODING);

    // The Temporal CLI, pointed at the endpoint with the auditor's key, shows the history in clear.
    const shown = readable(
      await showHistory(
        workflowIdFor(ID),
        '--codec-endpoint',
        `${env.baseUrl}/codec`,
        '--codec-auth',
        `Bearer ${auditor}`,
      ),
    );
    expect(emailsIn(shown)).toContain(example('register.json').riskOwner);
    expect(shown.some((t) => t.includes(example('register.json').purpose))).toBe(true);

    expect((await decode(undefined)).statusCode).toBe(401);
    expect((await decode(`Bearer ${aiTeam}`)).statusCode).toBe(403);
    // A tampered payload is refused by name, not decoded into garbage.
    const tampered = { ...payloads[0]!, data: Buffer.from(payloads[0]!.data, 'base64').reverse().toString('base64') };
    const bad = await env.api.inject({
      method: 'POST',
      url: '/codec/decode',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${auditor}` },
      payload: { payloads: [payloads[1], tampered] },
    });
    expect(bad.statusCode, bad.body).toBe(422);
    expect(bad.json()).toMatchObject({
      error: 'undecodable_payload',
      issues: [{ path: 'body.payloads.1', message: expect.stringMatching(/failed authentication/) }],
    });
  });

  it('replays the encrypted history, and every recorded unencrypted one, with the codec', async () => {
    const histories = [{ workflowId: workflowIdFor(ID), history: historyFromJson(history) }];
    for (const f of (await readdir(historiesDir)).filter((x) => x.endsWith('.json') && x !== 'manifest.json')) {
      histories.push({
        workflowId: f,
        history: historyFromJson(JSON.parse(await readFile(`${historiesDir}${f}`, 'utf8'))),
      });
    }
    const failures: string[] = [];
    for await (const r of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle(), dataConverter: testDataConverter },
      histories,
    )) {
      if (r.error) failures.push(`${r.workflowId}: ${String(r.error)}`);
    }
    expect(failures).toEqual([]);
  });
});
