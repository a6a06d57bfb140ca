/**
 * Every input is storable. PostgreSQL (and PGlite) cannot hold U+0000 in text
 * or jsonb, and a lone UTF-16 surrogate has no UTF-8 form at all; before the
 * schemas refused them, a registration named "CV\u0000screening" answered 201
 * and then every record of its lifecycle failed, and retried, for ever with
 * `invalid byte sequence for encoding "UTF8": 0x00`. Here:
 *
 * - domain/storable.ts finds exactly those strings, in values and in keys;
 * - a real PostgreSQL (and PGlite) holds every string the check accepts and
 *   refuses or silently changes every string it refuses, and so does the
 *   record store on it, hash chain included (PGlite alone reads a leading
 *   U+FEFF away from text columns; the schemas' trim() removes it first);
 * - the API answers 422 naming the field for each such body, records nothing,
 *   and takes the corrected request right after; the approval form answers a
 *   NUL in its comment with a 400 page, decides nothing, and stays usable.
 */
import { PGlite } from '@electric-sql/pglite';
import { WorkflowNotFoundError } from '@temporalio/common';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { storable, unstorableIssues, unstorableReason } from '../domain/storable.js';
import { registrationSchema, workflowIdFor } from '../domain/system.js';
import { openStore, type Store } from '../store/index.js';
import { example, registrationFor } from './support/examples.js';
import { barrier, csrfFrom, lifecycleSuite, pathOf } from './support/lifecycle-env.js';
import { startTestPostgres } from './support/postgres.js';

const NUL_REASON = /^contains a NUL character \(U\+0000\), which cannot be stored$/;
const SURROGATE_REASON = /^contains a lone surrogate \(invalid Unicode\), which cannot be stored$/;

/** Whether a string survives UTF-8 unchanged, i.e. has a UTF-8 form: the test's own oracle, not the product's. */
const hasUtf8Form = (s: string) => Buffer.from(s, 'utf8').toString('utf8') === s;

// ---------------------------------------------------------------------------
// domain/storable.ts
// ---------------------------------------------------------------------------

describe('unstorableReason', () => {
  it.each([
    ['empty', ''],
    ['plain ASCII', 'CV screening assistant'],
    ['an emoji (a valid surrogate pair)', 'ranks CVs 😀'],
    ['a ZWJ emoji sequence and a flag', '👩‍💻 🇪🇺'],
    ['the last code point, U+10FFFF (a pair at the very end)', 'x\udbff\udfff'],
    ['Hebrew and Arabic with direction marks', 'מערכת \u200fتقييم\u202e'],
    ['the noncharacters U+FFFE and U+FFFF and a BOM', '\ufffe\uffff\ufeff'],
    ['control characters other than NUL', '\u0001\u0008\u001f\u007f'],
    ['the replacement character itself', 'a\ufffdb'],
  ])('accepts %s', (_what, text) => {
    expect(unstorableReason(text)).toBeNull();
  });

  it.each([
    ['NUL alone', '\u0000', NUL_REASON],
    ['NUL inside text', 'please\u0000fix', NUL_REASON],
    ['a lone high surrogate', 'a\ud800b', SURROGATE_REASON],
    ['a lone low surrogate', 'a\udc00b', SURROGATE_REASON],
    ['a high surrogate at the very end', 'ranks CVs \ud83d', SURROGATE_REASON],
    ['a low surrogate at the very start', '\ude00 ranks CVs', SURROGATE_REASON],
    ['a pair in the wrong order', '\ude00\ud83d', SURROGATE_REASON],
    ['two high surrogates', '\ud83d\ud83d\ude00', SURROGATE_REASON],
    ['half of an emoji cut off', '😀'.slice(0, 1), SURROGATE_REASON],
  ])('refuses %s, saying why', (_what, text, reason) => {
    expect(unstorableReason(text)).toMatch(reason);
  });

  it('refuses exactly NUL and the strings without a UTF-8 form, over every single code unit and edge pairs', () => {
    const wrong: string[] = [];
    const check = (s: string) => {
      const expected = !s.includes('\u0000') && hasUtf8Form(s);
      if ((unstorableReason(s) === null) !== expected) wrong.push(JSON.stringify(s));
    };
    for (let c = 0; c <= 0xffff; c++) check(String.fromCharCode(c));
    for (const a of EDGE_UNITS) for (const b of EDGE_UNITS) check(String.fromCharCode(a, b));
    expect(wrong).toEqual([]);
  });
});

describe('unstorableIssues', () => {
  it('names the path of every unstorable value and key, anywhere in the value', () => {
    const issues = unstorableIssues({
      name: 'ok 😀',
      summary: 'a\u0000b',
      impacts: [{ description: 'fine' }, { description: 'x\ud800', affected: ['ok', '\udfff'] }],
      groups: { 'fe\u0000male': 0.31, '\udc00': 0.2, 'ok 😀': 1 },
      nested: { deeper: { 'k\ud83d': 'value also \u0000' } },
      numbers: [1, true, null, undefined, 2.5],
    });
    expect(issues).toEqual([
      { path: ['summary'], message: expect.stringMatching(NUL_REASON) },
      { path: ['impacts', 1, 'description'], message: expect.stringMatching(SURROGATE_REASON) },
      { path: ['impacts', 1, 'affected', 1], message: expect.stringMatching(SURROGATE_REASON) },
      { path: ['groups', 'fe\u0000male'], message: expect.stringMatching(/^key contains a NUL character/) },
      { path: ['groups', '\udc00'], message: expect.stringMatching(/^key contains a lone surrogate/) },
      { path: ['nested', 'deeper', 'k\ud83d'], message: expect.stringMatching(/^key contains a lone surrogate/) },
      { path: ['nested', 'deeper', 'k\ud83d'], message: expect.stringMatching(NUL_REASON) },
    ]);
  });

  it('finds nothing in storable values, keys included', () => {
    expect(unstorableIssues({ '😀': ['שלום', { '\uffff': 'x\udbff\udfff' }], n: 1, b: false, z: null, s: '' })).toEqual(
      [],
    );
    expect(unstorableIssues('a top-level string 😀')).toEqual([]);
    expect(unstorableIssues('\u0000')).toEqual([{ path: [], message: expect.stringMatching(NUL_REASON) }]);
  });

  it('storable() refuses through zod with the field path, also in a record, whose keys zod keeps', () => {
    const schema = storable(z.object({ name: z.string(), groups: z.record(z.string(), z.number()) }));
    expect(schema.safeParse({ name: 'ok 😀', groups: { 'ok 😀': 1 } }).success).toBe(true);
    const refused = schema.safeParse({ name: 'a\u0000', groups: { 'b\ud800': 1 } });
    expect(refused.success).toBe(false);
    expect(refused.error!.issues.map((i) => ({ path: i.path, message: i.message }))).toEqual([
      { path: ['name'], message: expect.stringMatching(NUL_REASON) },
      { path: ['groups', 'b\ud800'], message: expect.stringMatching(/^key contains a lone surrogate/) },
    ]);
  });
});

/**
 * Code units at the edges: NUL and other controls, ASCII and Latin-1 limits,
 * Hebrew and Arabic letters, direction marks and joiners, both surrogate
 * ranges at their ends and in the middle, the private use area, the BOM, the
 * replacement character and the noncharacters U+FFFE and U+FFFF.
 */
const EDGE_UNITS = [
  0x0000, 0x0001, 0x0009, 0x000a, 0x001f, 0x0020, 0x007f, 0x0080, 0x00a0, 0x00ff, 0x05d0, 0x0627, 0x200d, 0x200f,
  0x202e, 0xd7ff, 0xd800, 0xd83d, 0xdbff, 0xdc00, 0xde00, 0xdfff, 0xe000, 0xfeff, 0xfffd, 0xfffe, 0xffff,
];

// ---------------------------------------------------------------------------
// What the record store's databases can hold
// ---------------------------------------------------------------------------

type Query = (text: string, params: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;

/** How a string fares in a text column and, as key and value, in a jsonb column written as the store writes it. */
async function storeAndReadBack(query: Query, s: string): Promise<{ text: string; jsonb: string }> {
  const outcome = async (write: () => Promise<unknown>, same: (read: unknown) => boolean) => {
    try {
      return same(await write()) ? 'same' : 'changed';
    } catch (err) {
      return `error: ${(err as Error).message}`;
    }
  };
  const doc = { [s]: s, list: [s] };
  return {
    text: await outcome(
      async () => (await query('insert into probe (body) values ($1) returning body', [s])).rows[0]!.body,
      (read) => read === s,
    ),
    // The store's toJsonb: JSON text, which writes NUL as \u0000 and a lone surrogate as \udXXX.
    jsonb: await outcome(
      async () =>
        (await query('insert into probe (doc) values ($1::jsonb) returning doc', [JSON.stringify(doc)])).rows[0]!.doc,
      // jsonb orders keys its own way: compare by key.
      (read) => {
        const r = read as Record<string, unknown>;
        return Object.keys(r).length === 2 && r[s] === s && JSON.stringify(r.list) === JSON.stringify([s]);
      },
    ),
  };
}

const testPg = await startTestPostgres();
if (!testPg && process.env.CI) throw new Error('PostgreSQL is required in CI (see test/support/postgres.ts)');
afterAll(async () => {
  await testPg?.stop();
}, 60_000);

const engines: {
  name: string;
  available: boolean;
  /** PGlite decodes text results with TextDecoder, which drops a leading U+FEFF (the value is stored intact). */
  readsLeadingBomAway: boolean;
  open: () => Promise<{ query: Query; close(): Promise<void> }>;
  /** The product's record store on the same kind of database. */
  openRecordStore: () => Promise<Store>;
}[] = [
  {
    name: 'PostgreSQL',
    available: testPg !== undefined,
    readsLeadingBomAway: false,
    async open() {
      const client = new pg.Client({ connectionString: testPg!.url });
      await client.connect();
      return { query: (text, params) => client.query(text, params), close: () => client.end() };
    },
    openRecordStore: () => openStore({ databaseUrl: testPg!.url }),
  },
  {
    name: 'PGlite',
    available: true,
    readsLeadingBomAway: true,
    async open() {
      const lite = new PGlite();
      return {
        query: (text, params) => lite.query<Record<string, unknown>>(text, params),
        close: () => lite.close(),
      };
    },
    openRecordStore: () => openStore({}),
  },
];

describe.each(engines)(
  '$name holds exactly the strings the schemas accept',
  ({ available, readsLeadingBomAway, open, openRecordStore }) => {
    let db: Awaited<ReturnType<typeof open>>;
    beforeAll(async () => {
      if (!available) return;
      db = await open();
      await db.query('create table probe (id serial primary key, body text, doc jsonb)', []);
    }, 60_000);
    afterAll(async () => {
      await db?.close();
    }, 60_000);

    it.skipIf(!available)('stores emoji, RTL text, U+FFFF and other accepted text unchanged', async () => {
      for (const s of [
        'ranks CVs 😀 👩‍💻',
        'מערכת סינון קורות חיים \u200fنظام\u202e',
        'x\uffff\ufffe',
        '\u0001\u001f\u007f',
      ]) {
        expect(unstorableReason(s)).toBeNull();
        expect(await storeAndReadBack(db.query, s), JSON.stringify(s)).toEqual({ text: 'same', jsonb: 'same' });
      }
    });

    it.skipIf(!available)(
      'cannot store NUL (the error lifecycles used to retry for ever) nor lone surrogates',
      async () => {
        expect(await storeAndReadBack(db.query, 'please\u0000fix')).toEqual({
          text: 'error: invalid byte sequence for encoding "UTF8": 0x00',
          jsonb: expect.stringMatching(/^error: unsupported Unicode escape sequence/),
        });
        // A lone surrogate: refused as JSON text, silently replaced by U+FFFD as a text parameter.
        expect(await storeAndReadBack(db.query, 'a\ud800b')).toEqual({
          text: 'changed',
          jsonb: expect.stringMatching(/^error: invalid input syntax for type json/),
        });
      },
    );

    it.skipIf(!available)('refused ⇔ not stored unchanged, over every edge code unit and pair of them', async () => {
      const wrong: string[] = [];
      const samples = [
        ...EDGE_UNITS.map((a) => String.fromCharCode(a)),
        ...EDGE_UNITS.flatMap((a) => EDGE_UNITS.map((b) => String.fromCharCode(a, b))),
      ];
      for (const s of samples) {
        const stored = await storeAndReadBack(db.query, s);
        const accepted = unstorableReason(s) === null;
        const textKept = accepted && !(readsLeadingBomAway && s.startsWith('\ufeff'));
        if (textKept !== (stored.text === 'same') || accepted !== (stored.jsonb === 'same'))
          wrong.push(`${JSON.stringify(s)}: ${accepted ? 'accepted' : 'refused'}, ${JSON.stringify(stored)}`);
      }
      expect(samples.length).toBe(EDGE_UNITS.length * (EDGE_UNITS.length + 1));
      expect(wrong).toEqual([]);
    });

    it.skipIf(!available)('the record store keeps accepted text in documents and events; NUL fails there', async () => {
      const store = await openRecordStore();
      try {
        const texts = [
          'ranks CVs 😀 👩‍💻 🇪🇺',
          'מערכת סינון \u200fنظام تقييم\u202e',
          'x\uffff\ufffe\udbff\udfff',
          '\u0001\u001f\u007f\ufeff',
        ];
        for (const text of texts) expect(unstorableReason(text)).toBeNull();
        const content = { texts, keyed: Object.fromEntries(texts.map((text) => [text, text])) };
        const [digest] = await store.putDocuments([{ kind: 'assessment', content }]);
        expect((await store.getDocument(digest!))?.content).toEqual(content);
        const systemId = `storable-${Math.random().toString(36).slice(2)}`;
        for (const [i, text] of texts.entries()) {
          await store.recordEvent({
            idempotencyKey: `${systemId}:${i}`,
            systemId,
            type: 'probe',
            actor: null,
            at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
            payload: { text, [text]: text },
          });
        }
        expect((await store.listEvents(systemId)).map((e) => e.payload)).toEqual(
          texts.map((text) => ({ text, [text]: text })),
        );
        // The chain is recomputed from what was read back: it holds only if every string came back unchanged.
        expect(await store.verifyChain(systemId)).toEqual({ ok: true, count: texts.length });
        // What the refusal prevents: the store itself cannot take a NUL.
        await expect(store.putDocuments([{ kind: 'assessment', content: { summary: 'a\u0000b' } }])).rejects.toThrow(
          /unsupported Unicode escape sequence/,
        );
      } finally {
        await store.close();
      }
    });

    it.skipIf(!available || !readsLeadingBomAway)(
      'PGlite keeps a leading U+FEFF in text but reads it away; the schemas trim it off every text field first',
      async () => {
        const [row] = (
          await db.query(
            'insert into probe (body) values ($1) returning body, octet_length(body) as bytes, body = $1 as equal',
            ['\ufeffCV screening'],
          )
        ).rows;
        expect(row).toEqual({ body: 'CV screening', bytes: 3 + 'CV screening'.length, equal: true });
        // String.prototype.trim counts U+FEFF as white space, so a trimmed field never starts with one.
        const parsed = registrationSchema.parse({ ...registrationFor('bom-name'), name: '\ufeffCV screening' });
        expect(parsed.name).toBe('CV screening');
      },
    );
  },
);

// ---------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------

describe('the API refuses unstorable text with 422 naming the field, and records nothing', () => {
  const s = lifecycleSuite();

  /**
   * A JSON body as the exact text sent. JSON.stringify writes NUL as \u0000
   * and a lone surrogate as \ud800, escapes in plain ASCII, so the bytes on
   * the wire parse back to exactly these strings (a raw lone surrogate in a
   * JS string would be turned into U+FFFD on its way to UTF-8).
   */
  function jsonText(body: unknown): string {
    const text = JSON.stringify(body);
    expect(hasUtf8Form(text), 'the payload survives UTF-8 unchanged').toBe(true);
    expect(JSON.parse(Buffer.from(text, 'utf8').toString('utf8'))).toEqual(body);
    return text;
  }
  const send = (method: 'POST' | 'PUT', url: string, text: string) =>
    s.t.api.inject({ method, url, payload: text, headers: { 'content-type': 'application/json' } });

  function expectRefused(res: { statusCode: number; body: string; json(): any }, path: string, reason: RegExp) {
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json()).toMatchObject({ error: 'validation_failed', message: expect.stringContaining(path) });
    expect(res.json().issues).toEqual([{ path, message: expect.stringMatching(reason) }]);
  }

  /** A refused registration started nothing: no workflow, no row, no event. */
  async function expectNothingStarted(id: string) {
    await expect(s.t.env.client.workflow.getHandle(workflowIdFor(id)).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
    expect((await s.t.api.inject({ method: 'GET', url: `/api/v1/systems/${id}` })).statusCode).toBe(404);
    expect(await s.t.store.getSystem(id)).toBeUndefined();
    expect(await s.t.store.listEvents(id)).toEqual([]);
  }

  /** The corrected registration is taken, and its lifecycle records under the name given. */
  async function expectRegistered(id: string, name: string) {
    const res = await send('POST', '/api/v1/systems', jsonText({ ...registrationFor(id), name }));
    expect(res.statusCode, res.body).toBe(201);
    const events = await barrier(s.t, id);
    expect(events.filter((e) => e.type === 'stage_changed')).toHaveLength(1);
    expect(await s.t.store.getSystem(id)).toMatchObject({ name, stage: 'impact_assessment' });
    expect((await s.w.view(id)).name).toBe(name);
  }

  it('registration: NUL in the name answers 422 naming body.name; nothing starts; the corrected one is taken', async () => {
    const id = 'storable-reg-nul';
    const text = jsonText({ ...registrationFor(id), name: 'CV\u0000screening assistant' });
    expect(text).toContain('CV\\u0000screening');
    expectRefused(await send('POST', '/api/v1/systems', text), 'body.name', NUL_REASON);
    await expectNothingStarted(id);
    await expectRegistered(id, 'CV screening assistant');
  });

  it('registration: a lone surrogate in the name, really sent as one, answers 422; U+FFFD in its place is taken', async () => {
    const id = 'storable-reg-surrogate';
    const text = jsonText({ ...registrationFor(id), name: 'CV screening \ud800 assistant' });
    // On the wire: the escape itself, which the server's JSON parser turns back into the lone surrogate.
    expect(text).toContain('"name":"CV screening \\ud800 assistant"');
    expect(JSON.parse(text).name.charCodeAt('CV screening '.length)).toBe(0xd800);
    // Whereas the raw string would reach the server as U+FFFD, and test nothing.
    expect(Buffer.from('\ud800', 'utf8').toString('utf8')).toBe('\ufffd');
    expectRefused(await send('POST', '/api/v1/systems', text), 'body.name', SURROGATE_REASON);
    await expectNothingStarted(id);
    // The server told the two apart: the replacement character itself is ordinary, storable text.
    await expectRegistered(id, 'CV screening \ufffd assistant');
  });

  const INCIDENT = example<Record<string, unknown>>('incident.json');
  const ASSESSMENT = example<Record<string, any>>('impact-assessment.json');

  const cases: {
    what: string;
    method: 'POST' | 'PUT';
    path: string;
    refused: Record<string, unknown>;
    field: string;
    reason: RegExp;
    valid: Record<string, unknown>;
    status: number;
    recorded: string;
  }[] = [
    {
      what: 'NUL in an assessment summary',
      method: 'PUT',
      path: '/impact-assessment',
      refused: { ...ASSESSMENT, summary: 'Reviewed by the\u0000board.' },
      field: 'body.summary',
      reason: NUL_REASON,
      valid: { ...ASSESSMENT, summary: 'Reviewed by the board.' },
      status: 200,
      recorded: 'assessment_submitted',
    },
    {
      what: "NUL in an impact's description",
      method: 'PUT',
      path: '/impact-assessment',
      refused: {
        ...ASSESSMENT,
        impacts: ASSESSMENT.impacts.map((impact: Record<string, unknown>, i: number) =>
          i === 0 ? { ...impact, description: `${String(impact.description)}\u0000` } : impact,
        ),
      },
      field: 'body.impacts.0.description',
      reason: NUL_REASON,
      valid: ASSESSMENT,
      status: 200,
      recorded: 'assessment_submitted',
    },
    {
      what: 'NUL in an incident description',
      method: 'POST',
      path: '/incidents',
      refused: { ...INCIDENT, description: 'Applications were rejected\u0000unread by a cut-off.' },
      field: 'body.description',
      reason: NUL_REASON,
      valid: INCIDENT,
      status: 201,
      recorded: 'incident_reported',
    },
    {
      what: 'a lone low surrogate in an incident description',
      method: 'POST',
      path: '/incidents',
      refused: { ...INCIDENT, description: 'Applications were rejected \udc00 unread by a cut-off.' },
      field: 'body.description',
      reason: SURROGATE_REASON,
      valid: INCIDENT,
      status: 201,
      recorded: 'incident_reported',
    },
    {
      what: 'NUL in a retirement reason',
      method: 'POST',
      path: '/retire',
      refused: { ...example<Record<string, unknown>>('retire.json'), reason: 'Replaced\u0000by the ATS.' },
      field: 'body.reason',
      reason: NUL_REASON,
      valid: example('retire.json'),
      status: 200,
      recorded: 'system_retired',
    },
  ];

  it.each(cases)(
    '$what: 422 naming $field; no event, same stage; the corrected request is taken and recorded',
    async (c) => {
      const id = `storable-${c.path.slice(1)}-${cases.indexOf(c)}`;
      await s.w.register(id);
      const before = await barrier(s.t, id);
      const stage = (await s.w.view(id)).stage;

      expectRefused(await send(c.method, s.w.sys(id, c.path), jsonText(c.refused)), c.field, c.reason);
      expect(await barrier(s.t, id), 'no event recorded').toEqual(before);
      expect((await s.w.view(id)).stage).toBe(stage);
      expect(await s.t.store.listAssessments(id)).toEqual([]);

      const ok = await send(c.method, s.w.sys(id, c.path), jsonText(c.valid));
      expect(ok.statusCode, ok.body).toBe(c.status);
      const after = await barrier(s.t, id);
      expect(after.slice(0, before.length)).toEqual(before);
      expect(after.slice(before.length).map((e) => e.type)).toContain(c.recorded);
      expect(await s.t.store.verifyChain(id)).toMatchObject({ ok: true });
    },
  );

  it('a NUL in a key the schema keeps (bias-evidence groups) answers 422 naming the key', async () => {
    const id = 'storable-evidence-key';
    await s.w.register(id);
    await s.w.assess(id);
    const before = await barrier(s.t, id);
    const evidence = example<Record<string, any>>('bias-evidence.json');
    const refused = {
      ...evidence,
      metrics: [{ ...evidence.metrics[0], groups: { 'fe\u0000male': 0.31, male: 0.36 } }, ...evidence.metrics.slice(1)],
    };
    expectRefused(
      await send('PUT', s.w.sys(id, '/bias-evidence'), jsonText(refused)),
      'body.metrics.0.groups.fe\u0000male',
      /^key contains a NUL character \(U\+0000\), which cannot be stored$/,
    );
    expect(await barrier(s.t, id)).toEqual(before);
    expect((await s.w.view(id)).stage).toBe('bias_testing');

    const ok = await send('PUT', s.w.sys(id, '/bias-evidence'), jsonText(evidence));
    expect(ok.statusCode, ok.body).toBe(200);
    expect((await s.w.view(id)).evidence).toMatchObject({ version: 1 });
  });

  it('approval form: comment=please%00fix answers a 400 page, decides nothing, and the request stays open', async () => {
    const id = 'storable-approval';
    await s.w.register(id);
    await s.w.assess(id);
    await s.w.evidence(id);
    await s.w.plan(id);
    const open = await s.w.until(id, (v) => v.pendingApproval?.step === 1, 'the first approval step');
    const requestId: string = open.pendingApproval.requestId;
    const path = pathOf(await s.w.approvalLink(id, open.pendingApproval.approver, requestId));
    const csrf = csrfFrom((await s.t.api.inject({ method: 'GET', url: path })).body);
    const before = await barrier(s.t, id);
    const attempts = async () => (await s.t.store.listLinkAttempts(id)).filter((a) => a.reason === 'invalid_form');

    const res = await s.t.api.inject({
      method: 'POST',
      url: path,
      payload: `decision=request_changes&comment=please%00fix&csrf=${encodeURIComponent(csrf)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(String(res.headers['content-type'])).toMatch(/^text\/html/);
    expect(res.body).toMatch(/<h1>Decision not recorded<\/h1>/);
    expect(res.body).toContain('comment: contains a NUL character (U+0000), which cannot be stored');
    expect(await attempts()).toHaveLength(1);

    expect(await barrier(s.t, id), 'no event recorded').toEqual(before);
    const still = await s.w.view(id);
    expect(still).toMatchObject({ stage: 'approval', decisions: [] });
    expect(still.pendingApproval.requestId).toBe(requestId);
    expect(await s.t.store.listDecisions(id)).toEqual([]);
    const page = await s.t.api.inject({ method: 'GET', url: path });
    expect(page.statusCode, page.body).toBe(200);
    expect(page.body).toContain('name="decision"');

    // The same link, without the NUL, decides.
    const ok = await s.t.api.inject({
      method: 'POST',
      url: path,
      payload: `decision=request_changes&comment=please+fix&csrf=${encodeURIComponent(csrf)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(ok.statusCode, ok.body).toBe(200);
    const events = await barrier(s.t, id);
    expect(events.filter((e) => e.type === 'decision_recorded')).toHaveLength(1);
    expect(await s.t.store.listDecisions(id)).toMatchObject([
      { requestId, decision: 'request_changes', comment: 'please fix' },
    ]);
  });
});
