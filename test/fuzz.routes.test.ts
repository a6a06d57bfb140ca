/**
 * Property-based refusals for every route in /openapi.json: bodies that
 * break the route's own JSON schema (wrong types, required fields missing,
 * junk beside them), random JSON, huge strings, bodies nested 10 000 deep,
 * `__proto__`/`constructor` keys, foreign content types and text that is not
 * JSON, sent with credentials that may call the route. Every answer is a 4xx
 * in the one error envelope, naming the problem; afterwards the system and
 * its audit trail are exactly as before.
 *
 * Against the real dev server, so the listing routes answer for real.
 */
import fc from 'fast-check';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiErrorBodySchema } from '../api/errors.js';
import { eventually, startDevEnv, type DevEnv } from './support/dev-env.js';
import { registrationFor } from './support/examples.js';

const SYS = 'fuzz-target';
/** Each property's budget: seven of them, well inside a minute together. */
const TIME_LIMIT_MS = 4_000;
const ENVELOPE_KEYS = Object.keys(apiErrorBodySchema.shape);

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  allOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  enum?: unknown[];
  additionalProperties?: boolean | JsonSchema;
};
interface Operation {
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  parameters?: { in: string; name: string; required?: boolean; schema?: JsonSchema }[];
}
interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  /** The OpenAPI path with its parameters filled in. */
  url: string;
  body?: JsonSchema;
  query: { name: string; schema: JsonSchema }[];
  /** Keys that may call it: the admin's always, the system's ai-team key where its role is taken. */
  keys: string[];
}

let env: DevEnv;
let api: FastifyInstance;
let routes: Route[];
let bodyRoutes: Route[];

/** A schema's own properties and required names, `allOf` parts merged (a registration is one). */
function flatten(schema: JsonSchema): { properties: Record<string, JsonSchema>; required: string[] } {
  const parts = [schema, ...(schema.allOf ?? []).map(flatten)];
  return {
    properties: Object.assign({}, ...parts.map((p) => p.properties ?? {})) as Record<string, JsonSchema>,
    required: [...new Set(parts.flatMap((p) => p.required ?? []))],
  };
}

const typeOf = (s: JsonSchema | undefined) => (Array.isArray(s?.type) ? undefined : s?.type);

/** A value no schema of this type accepts (nor coerces). */
function wrongFor(schema: JsonSchema): fc.Arbitrary<unknown> {
  switch (typeOf(schema)) {
    case 'string':
      return fc.oneof(
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(fc.integer(), { maxLength: 3 }),
        fc.constant({}),
      );
    case 'number':
    case 'integer':
      return fc.oneof(fc.constant('not a number'), fc.boolean(), fc.constant(null), fc.constant([1]), fc.constant({}));
    case 'boolean':
      return fc.oneof(fc.constant('yes'), fc.integer({ min: 2 }), fc.constant(null), fc.constant([]), fc.constant({}));
    case 'array':
      return fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant({ not: 'an array' }));
    case 'object':
      return fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant(['not', 'an', 'object']));
    default:
      return fc.constant(undefined);
  }
}

const junkKey = fc.string({ minLength: 1, maxLength: 20 }).map((k) => `junk_${k}`);

/**
 * An object breaking the schema for sure: at least one required field is
 * missing or of the wrong type; other fields get wrong values or are left
 * out, and junk keys are added beside them.
 */
function violating(schema: JsonSchema): fc.Arbitrary<Record<string, unknown>> {
  const { properties, required } = flatten(schema);
  const typed = required.filter((name) => typeOf(properties[name]) !== undefined);
  const broken = typed.length > 0 ? typed : required;
  if (broken.length === 0) throw new Error('a body schema without required fields cannot be broken for sure');
  return fc
    .record({
      victim: fc.constantFrom(...broken),
      drop: fc.boolean(),
      others: fc.subarray(Object.keys(properties)),
      junk: fc.dictionary(junkKey, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    })
    .chain(({ victim, drop, others, junk }) => {
      const wrong: Record<string, fc.Arbitrary<unknown>> = {};
      for (const name of others) if (name !== victim) wrong[name] = wrongFor(properties[name]!);
      if (!drop || typeOf(properties[victim]) === undefined) {
        if (typeOf(properties[victim]) !== undefined) wrong[victim] = wrongFor(properties[victim]!);
      }
      return fc.record(wrong).map((fields) => {
        const body: Record<string, unknown> = { ...junk, ...fields };
        if (drop) delete body[victim];
        for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k];
        return body;
      });
    });
}

/** Random JSON no object schema with required fields takes: a non-object, or an object without any required key. */
function randomJson(schema: JsonSchema): fc.Arbitrary<unknown> {
  const { required } = flatten(schema);
  return fc.oneof(
    fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
    fc.dictionary(
      fc.string().filter((k) => !required.includes(k) && k !== '__proto__' && k !== 'constructor'),
      fc.jsonValue({ maxDepth: 3 }),
    ),
  );
}

const deep = (depth: number, open: string, close: string, leaf = '') => open.repeat(depth) + leaf + close.repeat(depth);

// ---------------------------------------------------------------- sending and judging

/** What a route's refusal must look like: a 4xx, the envelope, a message naming the problem. */
function judge(
  route: Route,
  what: string,
  res: { statusCode: number; body: string; headers: Record<string, unknown> },
) {
  const where = `${route.method} ${route.url.slice(0, 200)} (${what}): ${res.statusCode} ${res.body.slice(0, 300)}`;
  expect(res.statusCode, where).toBeGreaterThanOrEqual(400);
  expect(res.statusCode, where).toBeLessThan(500);
  expect(String(res.headers['content-type']), where).toContain('application/json');
  const answer = JSON.parse(res.body) as { error?: unknown; message?: unknown };
  expect(answer, where).toMatchObject({ error: expect.any(String), message: expect.any(String) });
  const { error, message } = answer as { error: string; message: string };
  expect(message.length, where).toBeGreaterThan(0);
  // The envelope and nothing else: no Fastify `code` or `statusCode`, an error name in snake_case.
  expect(
    Object.keys(answer).filter((k) => !ENVELOPE_KEYS.includes(k)),
    where,
  ).toEqual([]);
  expect(error, where).toMatch(/^[a-z][a-z_]*$/);
  expect(error, where).not.toBe('internal');
  const names: Record<string, RegExp> = {
    validation_failed: /\b(body|querystring|params)\b/,
    actor_mismatch: /\bbody\./,
    invalid_json: /position \d+|body is empty/,
    forbidden_key: /__proto__|constructor/,
    unsupported_media_type: /application\/json|content type|media type/i,
    body_too_large: /body|large|limit|bytes/i,
  };
  if (names[error]) expect(message, where).toMatch(names[error]!);
}

async function send(
  route: Route,
  key: string,
  payload: string | undefined,
  contentType = 'application/json',
  query = '',
) {
  const opts: InjectOptions = {
    method: route.method,
    url: route.url + query,
    headers: { authorization: `Bearer ${key}`, ...(payload !== undefined ? { 'content-type': contentType } : {}) },
    ...(payload !== undefined ? { payload } : {}),
  };
  return api.inject(opts);
}

/** One property over every body route: the arbitrary makes a body (as text) for the route it is handed. */
async function everyBodyRoute(
  what: string,
  body: (route: Route) => fc.Arbitrary<{ text: string; type?: string }>,
  numRuns = 200,
) {
  const arb = fc
    .constantFrom(...bodyRoutes)
    .chain((route) => fc.record({ route: fc.constant(route), key: fc.constantFrom(...route.keys), sent: body(route) }));
  await fc.assert(
    fc.asyncProperty(arb, async ({ route, key, sent }) => {
      judge(route, what, await send(route, key, sent.text, sent.type));
    }),
    { numRuns, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false },
  );
}

// ---------------------------------------------------------------- set-up

async function snapshot() {
  const view = await api.inject({
    method: 'GET',
    url: `/api/v1/systems/${SYS}`,
    headers: { authorization: `Bearer ${env.adminKey}` },
  });
  expect(view.statusCode, view.body).toBe(200);
  return { view: view.json(), events: await env.store.listEvents(SYS), chain: await env.store.verifyChain(SYS) };
}
let before: Awaited<ReturnType<typeof snapshot>>;

beforeAll(async () => {
  env = await startDevEnv({ name: 'fuzz-test' });
  api = env.api;
  const team = await env.keys({ email: 'fuzz-team@example.org', role: 'ai-team' });
  const registered = await api.inject({
    method: 'POST',
    url: '/api/v1/systems',
    headers: { authorization: `Bearer ${team}` },
    payload: registrationFor(SYS),
  });
  expect(registered.statusCode, registered.body).toBe(201);
  // The registration's own records are in before the snapshot is taken.
  await eventually(
    () => env.store.listEvents(SYS),
    (e) => expect(e.length).toBeGreaterThan(0),
  );

  const spec = (
    await api.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: undefined } })
  ).json() as {
    paths: Record<string, Record<string, Operation>>;
  };
  const fill = (path: string) =>
    path.replace('{id}', SYS).replace('{incidentId}', 'inc-1').replace('{keyId}', 'ak_nosuchkey');
  routes = [];
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const route: Route = {
        method: method.toUpperCase() as Route['method'],
        url: fill(path),
        body: op.requestBody?.content?.['application/json']?.schema,
        query: (op.parameters ?? [])
          .filter((p) => p.in === 'query')
          .map((p) => ({ name: p.name, schema: p.schema ?? {} })),
        keys: [env.adminKey],
      };
      // The team's key goes too where its role is taken (a 403 says it is not).
      const probe = await send(route, team, route.body ? '{}' : undefined);
      if (probe.statusCode !== 403) route.keys.push(team);
      routes.push(route);
    }
  }
  bodyRoutes = routes.filter((r) => r.body);
  expect(bodyRoutes.length).toBeGreaterThan(10);
  before = await snapshot();
}, 120_000);

afterAll(async () => {
  await env?.close();
});

// ---------------------------------------------------------------- properties

describe('every route refuses bad input with a 4xx in the one envelope', () => {
  it('bodies breaking the route’s schema: wrong types, required fields missing, junk beside them', async () => {
    await everyBodyRoute(
      'schema violation',
      (route) => violating(route.body!).map((b) => ({ text: JSON.stringify(b) })),
      300,
    );
  });

  it('random JSON', async () => {
    await everyBodyRoute(
      'random JSON',
      (route) => randomJson(route.body!).map((v) => ({ text: JSON.stringify(v) })),
      300,
    );
  });

  it('huge strings, in a field and as the whole body', async () => {
    await everyBodyRoute(
      'huge string',
      (route) =>
        fc
          .record({
            field: fc.constantFrom(...[...flatten(route.body!).required, 'junk']),
            size: fc.integer({ min: 100_000, max: 17 * 1024 * 1024 }),
            char: fc.constantFrom('x', 'é', '\u{1F600}', '"', '\\'),
            whole: fc.boolean(),
          })
          .map(({ field, size, char, whole }) => {
            const s = char.repeat(Math.ceil(size / char.length));
            return { text: whole ? JSON.stringify(s) : JSON.stringify({ [field]: s }) };
          }),
      12,
    );
  });

  it('bodies nested 10 000 deep: arrays, objects, and inside a field', async () => {
    await everyBodyRoute(
      'deep nesting',
      (route) =>
        fc
          .record({
            depth: fc.oneof(fc.constant(10_000), fc.integer({ min: 500, max: 10_000 })),
            kind: fc.constantFrom('array', 'object', 'field'),
            field: fc.constantFrom(...flatten(route.body!).required),
          })
          .map(({ depth, kind, field }) => {
            if (kind === 'array') return { text: deep(depth, '[', ']') };
            if (kind === 'object') return { text: deep(depth, '{"a":', '}', '1') };
            return { text: `{${JSON.stringify(field)}:${deep(depth, '[', ']')}}` };
          }),
      20,
    );
  });

  it('__proto__ and constructor keys, at the top and nested', async () => {
    await everyBodyRoute(
      'prototype keys',
      (route) =>
        fc
          .record({
            key: fc.constantFrom('__proto__', 'constructor', '\\u005f_proto__'),
            nested: fc.boolean(),
            field: fc.constantFrom(...flatten(route.body!).required),
            value: fc.constantFrom('{"isAdmin":true}', '{"prototype":{"polluted":true}}', '{}', '"x"'),
          })
          .map(({ key, nested, field, value }) => {
            const poisoned = `{"${key}":${value}}`;
            return { text: nested ? `{${JSON.stringify(field)}:${poisoned}}` : poisoned };
          }),
      60,
    );
    // Nothing reached Object.prototype.
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('content types other than JSON, and JSON content that is not JSON', async () => {
    await everyBodyRoute(
      'wrong content type',
      () =>
        fc.record({
          type: fc.constantFrom(
            'text/plain',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/xml',
            'application/octet-stream',
            'text/html; charset=utf-8',
            'application/jsonx',
            'image/png',
          ),
          text: fc.oneof(fc.constant('{"a":1}'), fc.constant('a=1&b=2'), fc.string({ maxLength: 200 })),
        }),
      80,
    );
    await everyBodyRoute(
      'not JSON',
      () =>
        fc.record({
          text: fc.oneof(
            fc.string({ maxLength: 200 }).filter((s) => {
              try {
                JSON.parse(s);
                return false;
              } catch {
                return true;
              }
            }),
            fc.constantFrom(
              '{',
              '{"a":',
              '[1,2',
              "{'a':1}",
              '{"a":1,}',
              'NaN',
              'undefined',
              '\u0000',
              '{"a":1}garbage',
            ),
          ),
        }),
      150,
    );
  });

  it('querystrings breaking each GET route’s parameters, and random ones', async () => {
    const withQuery = routes.filter((r) => r.method === 'GET' && r.query.length > 0);
    expect(withQuery.length).toBeGreaterThan(0);
    const badValue = (schema: JsonSchema): fc.Arbitrary<string> => {
      if (schema.enum) return fc.string({ maxLength: 30 }).filter((s) => !schema.enum!.includes(s));
      if (typeOf(schema) === 'integer' || typeOf(schema) === 'number') {
        return fc.oneof(
          fc.constantFrom('abc', '1.5', '-1', '0', '1e9', '999999', 'NaN', 'Infinity', ''),
          fc.string({ maxLength: 10 }).filter((s) => Number.isNaN(Number(s))),
        );
      }
      return fc.constantFrom('not-an-email', 'x'.repeat(5000), 'forged-page-token');
    };
    const arb = fc.constantFrom(...withQuery).chain((route) =>
      fc
        .record({
          route: fc.constant(route),
          key: fc.constantFrom(...route.keys),
          param: fc.constantFrom(...route.query),
          extra: fc.dictionary(junkKey, fc.string({ maxLength: 20 }), { maxKeys: 3 }),
        })
        .chain((r) => badValue(r.param.schema).map((value) => ({ ...r, value }))),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ route, key, param, extra, value }) => {
        const q = new URLSearchParams({ ...extra, [param.name]: value }).toString();
        const res = await send(route, key, undefined, undefined, `?${q}`);
        judge(route, `querystring ${param.name}=${value.slice(0, 40)}`, res);
      }),
      { numRuns: 150, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false },
    );
  });

  it('path parameters that are not ids', async () => {
    const withId = routes.filter((r) => r.url.includes(SYS));
    const arb = fc.record({
      route: fc.constantFrom(...withId),
      id: fc.oneof(
        fc.string({ minLength: 1, maxLength: 300 }),
        fc.constantFrom('..', '%00', 'A'.repeat(5000), ' ', '\u{1F600}'),
      ),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ route, id }) => {
        const url = route.url.replace(SYS, encodeURIComponent(id));
        const res = await api.inject({
          method: route.method,
          url,
          headers: {
            authorization: `Bearer ${env.adminKey}`,
            ...(route.body ? { 'content-type': 'application/json' } : {}),
          },
          ...(route.body ? { payload: '{}' } : {}),
        });
        judge({ ...route, url }, `id ${JSON.stringify(id.slice(0, 40))}`, res);
      }),
      { numRuns: 150, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false },
    );
  });

  it('afterwards the system and its audit trail are exactly as before', async () => {
    const after = await snapshot();
    expect(after.view).toEqual(before.view);
    expect(after.events).toEqual(before.events);
    expect(after.chain).toEqual(before.chain);
    expect(after.chain).toMatchObject({ ok: true });
  });
});
