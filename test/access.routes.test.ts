/**
 * Who may call what, route by route. The route list comes from the running
 * app (its OpenAPI paths and Fastify's own route tree, hidden pages
 * included), and every route must have a row in the table below: a route
 * added without one fails here, naming it. Each row is then exercised with
 * real API keys: no credential, every role the route refuses, another team's
 * key on a system it may not see, and every role it takes.
 *
 * Against the REAL Temporal dev server: the lists, the dashboard and the
 * gauges read its visibility store, which the time-skipping server lacks.
 */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roles, type Role } from '../api/auth/principal.js';
import { TEST_TEAM } from './support/credentials.js';
import { eventually, startDevEnv, type DevEnv } from './support/dev-env.js';
import { example, registrationFor } from './support/examples.js';

const METRICS_TOKEN = 'metrics-scrape-token-for-the-access-test-0123456789';
const TEAM_A = TEST_TEAM;
const TEAM_B = 'team-b';
/** Team A's system the route table is run against; it waits in approval (so it is on the pending list). */
const SYS_A = 'access-a-pending';
/** Team A's, low tier, reviewed every few seconds: on the overdue list. */
const SYS_A_OVERDUE = 'access-a-overdue';
/** Team A's, fresh, for the actor tests. */
const SYS_A_ACTORS = 'access-a-actors';
/** Team B's own. */
const SYS_B = 'access-b';
/** Registered nowhere: what a hidden system must be indistinguishable from. */
const UNKNOWN = 'access-no-such-system';

const REGISTRATION = example('register.json');
const RISK_OWNER_A: string = REGISTRATION.riskOwner;
const RISK_OWNER_B = 'cro-b@example.org';

let env: DevEnv;
let api: FastifyInstance;
/** One key per role, each able to see SYS_A: team A's ai-team key, SYS_A's risk owner, the cross-team roles. */
let key: Record<Role, string>;
let teamBKey: string;
/** A risk owner of no system of team A. */
let strangerRiskOwnerKey: string;

const bearer = (k: string) => ({ authorization: `Bearer ${k}` });
const NONE = { authorization: undefined };

// ---------------------------------------------------------------- the table

const ALL: readonly Role[] = roles;
const WORKERS: readonly Role[] = ['ai-team', 'governance-lead', 'admin'];
const RESPONDERS: readonly Role[] = [...WORKERS, 'risk-owner'];
/** Who reads what spans every system: the Statement of Applicability and the organisation's entries. */
const READERS: readonly Role[] = ['auditor', 'governance-lead', 'admin'];

type Rule =
  /** No credential needed; `anonymous` is what a caller without one gets. */
  { open: string; anonymous: number } | { roles: readonly Role[]; system?: true } | { metrics: readonly Role[] };

interface Row {
  rule: Rule;
  /** The request's concrete path; `:id` is SYS_A unless given. */
  url?: string;
  /** A body (JSON for /api and /codec, a form for pages): an invalid one, so nothing is changed by a permitted call. */
  payload?: Record<string, unknown>;
  form?: Record<string, string>;
}

/** Keyed by `METHOD /fastify/url`. HEAD is Fastify's copy of each GET and is not listed. */
const TABLE: Record<string, Row> = {
  'GET /': { rule: { roles: ALL } },
  'GET /assets/:file': { rule: { open: 'stylesheets', anonymous: 200 }, url: '/assets/base.css' },
  'GET /healthz': { rule: { open: 'probes', anonymous: 200 } },
  'GET /openapi.json': { rule: { open: 'API description', anonymous: 200 } },
  'GET /login': { rule: { open: 'sign-in page', anonymous: 200 } },
  // A valid key in the form: the door is open, the key is what signs in.
  'POST /login': { rule: { open: 'sign-in form', anonymous: 303 } },
  'GET /login/once/:token': { rule: { open: 'single-use link', anonymous: 410 }, url: '/login/once/not-a-token' },
  'POST /logout': { rule: { open: 'signing out', anonymous: 303 } },
  'GET /approvals/:token': { rule: { open: 'signed link', anonymous: 400 }, url: '/approvals/not-a-token' },
  'POST /approvals/:token': { rule: { open: 'signed link', anonymous: 400 }, url: '/approvals/not-a-token', form: {} },
  'POST /approvals/:token/delegate': {
    rule: { open: 'signed link', anonymous: 400 },
    url: '/approvals/not-a-token/delegate',
    form: {},
  },
  'POST /approvals/:token/renew': {
    rule: { open: 'signed link', anonymous: 403 },
    url: '/approvals/not-a-token/renew',
    form: {},
  },
  'OPTIONS /codec/decode': { rule: { open: 'CORS preflight', anonymous: 403 } },
  'OPTIONS /codec/encode': { rule: { open: 'CORS preflight', anonymous: 403 } },
  'POST /codec/decode': { rule: { roles: ['auditor', 'admin'] }, payload: { payloads: [] } },
  'POST /codec/encode': { rule: { roles: ['admin'] }, payload: { payloads: [] } },
  'GET /metrics': { rule: { metrics: ['auditor', 'governance-lead', 'admin'] } },
  'GET /api/v1/me': { rule: { roles: ALL } },
  'GET /api/v1/keys': { rule: { roles: ['admin'] } },
  'POST /api/v1/keys': { rule: { roles: ['admin'] }, payload: {} },
  // A malformed key id: a permitted call is refused by validation and revokes nothing.
  'DELETE /api/v1/keys/:keyId': { rule: { roles: ['admin'] }, url: '/api/v1/keys/not-a-key-id' },
  'GET /api/v1/systems': { rule: { roles: ALL } },
  'POST /api/v1/systems': { rule: { roles: WORKERS }, payload: {} },
  'GET /api/v1/reviews/overdue': { rule: { roles: ALL } },
  'GET /api/v1/reviews/upcoming': { rule: { roles: ALL } },
  'GET /api/v1/approvals/pending': { rule: { roles: ALL } },
  'GET /api/v1/incidents/open': { rule: { roles: ALL } },
  'GET /api/v1/systems/:id': { rule: { roles: ALL, system: true } },
  // A running lifecycle is not restarted: the permitted call answers 409.
  'POST /api/v1/systems/:id/re-register': { rule: { roles: ['admin'] } },
  // Auditors change nothing; whether the caller is the pending approver is the route's own rule (403 naming it).
  'POST /api/v1/systems/:id/approvals/decision': {
    rule: { roles: ['risk-owner', 'governance-lead', 'ai-team', 'admin'], system: true },
    payload: {},
  },
  'PUT /api/v1/systems/:id/impact-assessment': { rule: { roles: WORKERS, system: true }, payload: {} },
  'PUT /api/v1/systems/:id/bias-evidence': { rule: { roles: WORKERS, system: true }, payload: {} },
  'PUT /api/v1/systems/:id/treatment-plan': { rule: { roles: WORKERS, system: true }, payload: {} },
  'POST /api/v1/systems/:id/fria-notification': { rule: { roles: WORKERS, system: true }, payload: {} },
  'POST /api/v1/systems/:id/reviews': { rule: { roles: WORKERS, system: true }, payload: {} },
  'POST /api/v1/systems/:id/versions': { rule: { roles: WORKERS, system: true }, payload: {} },
  'POST /api/v1/systems/:id/incidents': { rule: { roles: RESPONDERS, system: true }, payload: {} },
  'POST /api/v1/systems/:id/retire': { rule: { roles: RESPONDERS, system: true }, payload: {} },
  'POST /api/v1/systems/:id/notifications/resend': { rule: { roles: WORKERS, system: true }, payload: {} },
  'POST /api/v1/systems/:id/incidents/:incidentId/close': {
    rule: { roles: RESPONDERS, system: true },
    url: `/api/v1/systems/${SYS_A}/incidents/inc-1/close`,
    payload: {},
  },
  // No query: a permitted call is refused by validation before a byte of a file is read.
  'POST /api/v1/systems/:id/bias-evidence/predictions': { rule: { roles: WORKERS, system: true } },
  'GET /api/v1/systems/:id/bias-evidence/analyses': { rule: { roles: ALL, system: true } },
  // Not an analysis id: a permitted call answers 422, not the 404 of an unknown analysis.
  'GET /api/v1/systems/:id/bias-evidence/analyses/:analysisId': {
    rule: { roles: ALL, system: true },
    url: `/api/v1/systems/${SYS_A}/bias-evidence/analyses/not-an-analysis`,
  },
  // Only the governance lead accepts fairness risk.
  'POST /api/v1/systems/:id/bias-evidence/risk-acceptance': {
    rule: { roles: ['governance-lead'], system: true },
    payload: {},
  },
  // The proof the audit trail is intact is for those who answer for it.
  'GET /api/v1/systems/:id/audit/verify': { rule: { roles: ['auditor', 'governance-lead', 'admin'], system: true } },
  // Every full record on its own, and the evidence pack: for whoever may see the system, as its view is.
  'GET /api/v1/systems/:id/registration': { rule: { roles: ALL, system: true } },
  'GET /api/v1/systems/:id/assessments': { rule: { roles: ALL, system: true } },
  'GET /api/v1/systems/:id/bias-evidence': { rule: { roles: ALL, system: true } },
  'GET /api/v1/systems/:id/treatment-plans': { rule: { roles: ALL, system: true } },
  'GET /api/v1/systems/:id/approvals': { rule: { roles: ALL, system: true } },
  'GET /api/v1/systems/:id/reviews': { rule: { roles: ALL, system: true } },
  'GET /api/v1/systems/:id/incidents': { rule: { roles: ALL, system: true } },
  'GET /api/v1/systems/:id/fria-notifications': { rule: { roles: ALL, system: true } },
  'GET /api/v1/systems/:id/model-versions': { rule: { roles: ALL, system: true } },
  'GET /api/v1/systems/:id/notifications': { rule: { roles: ALL, system: true } },
  'GET /api/v1/systems/:id/audit': { rule: { roles: ALL, system: true } },
  'GET /api/v1/systems/:id/evidence-pack': { rule: { roles: ALL, system: true } },
  'GET /api/v1/systems/:id/assessments/:version': {
    rule: { roles: ALL, system: true },
    url: `/api/v1/systems/${SYS_A}/assessments/1`,
  },
  'GET /api/v1/systems/:id/bias-evidence/:version': {
    rule: { roles: ALL, system: true },
    url: `/api/v1/systems/${SYS_A}/bias-evidence/1`,
  },
  'GET /api/v1/systems/:id/treatment-plans/:version': {
    rule: { roles: ALL, system: true },
    url: `/api/v1/systems/${SYS_A}/treatment-plans/1`,
  },
  'GET /systems/:id': { rule: { roles: ALL, system: true } },
  'GET /statement-of-applicability': { rule: { roles: READERS } },
  'GET /api/v1/statement-of-applicability': { rule: { roles: READERS } },
  'GET /api/v1/organisation/controls': { rule: { roles: READERS } },
  // An empty body: a permitted call is refused by validation and records nothing.
  'POST /api/v1/organisation/controls/:controlId': {
    rule: { roles: ['admin'] },
    url: '/api/v1/organisation/controls/A.2.2',
    payload: {},
  },
  'PUT /api/v1/organisation/controls/:controlId': {
    rule: { roles: ['admin'] },
    url: '/api/v1/organisation/controls/A.2.2',
    payload: {},
  },
  'POST /systems/:id/notifications/resend': { rule: { roles: WORKERS, system: true }, form: {} },
};

// ---------------------------------------------------------------- the app's routes

/**
 * Every route the app answers, as `METHOD /url`: Fastify's route tree (hidden
 * pages included) and the OpenAPI paths, so neither can hide one.
 */
async function appRoutes(app: FastifyInstance): Promise<Set<string>> {
  const found = new Set<string>();
  const spec = (await app.inject({ method: 'GET', url: '/openapi.json', headers: NONE })).json() as {
    paths: Record<string, Record<string, unknown>>;
  };
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const method of Object.keys(ops)) found.add(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
  }
  // One node a line, indented four characters a level, each segment relative to its parent's path.
  const stack: string[] = [''];
  const tree = app.printRoutes({ commonPrefix: false });
  for (const line of tree.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^([\s│├└─]*)(\S.*?)(?: \(([A-Z, ]+)\))?$/u.exec(line);
    if (!m) throw new Error(`unreadable line in printRoutes(): ${JSON.stringify(line)}`);
    const depth = m[1]!.length / 4;
    if (!Number.isInteger(depth) || depth < 1) throw new Error(`unexpected indentation in printRoutes(): ${line}`);
    const path = stack[depth - 1]! + m[2]!;
    stack[depth] = path;
    stack.length = depth + 1;
    const methods = m[3]?.split(',').map((s) => s.trim()) ?? [];
    for (const method of methods) {
      // Fastify adds a HEAD for every GET (exposeHeadRoutes): it runs the GET's hooks.
      if (method === 'HEAD' && methods.includes('GET')) continue;
      found.add(`${method} ${path}`);
    }
  }
  return found;
}

// ---------------------------------------------------------------- helpers

function request(route: string, row: Row, headers: Record<string, string | undefined>, id = SYS_A): InjectOptions {
  const [method, pattern] = route.split(' ') as [InjectOptions['method'], string];
  const url = (row.url ?? pattern).replace(':id', id).replace(SYS_A, id);
  if (row.form) {
    return {
      method,
      url,
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(row.form).toString(),
    };
  }
  return { method, url, headers, ...(row.payload ? { payload: row.payload } : {}) };
}

const isPage = (route: string) => {
  const path = route.split(' ')[1]!;
  return !path.startsWith('/api/') && path !== '/metrics' && !path.startsWith('/codec/');
};

const label = (route: string, who: string, res: LightMyRequestResponse) =>
  `${route} as ${who}: ${res.statusCode} ${res.body.slice(0, 300)}`;

/** An answer with the system's id written as a placeholder, to compare a hidden system's with an unknown one's. */
function shape(res: LightMyRequestResponse, id: string) {
  return {
    status: res.statusCode,
    type: res.headers['content-type'],
    body: res.body.replaceAll(id, '<id>'),
  };
}

const lowTierAssessment = (() => {
  const { fria: _fria, ...withoutFria } = example('impact-assessment.json');
  return {
    ...withoutFria,
    euAiAct: { category: 'minimal', rationale: 'Internal search helper; no Annex III use.' },
    decisionsAboutPeople: false,
    impacts: (withoutFria.impacts as Record<string, unknown>[]).map((i) => ({
      ...i,
      severity: 'minor',
      likelihood: 'rare',
    })),
  };
})();

async function approveAll(id: string) {
  const w = env.walk;
  for (;;) {
    const v = await w.until(id, (x) => x.pendingApproval !== null || x.stage !== 'approval', 'next approval step');
    if (v.stage !== 'approval') break;
    const step = await w.approveOpenRequest(id);
    await w.until(id, (x) => x.pendingApproval?.requestId !== step.requestId, 'the step to advance');
  }
  if ((await w.view(id)).stage === 'fria_notification') await w.notifyAuthority(id);
}

// ---------------------------------------------------------------- set-up

beforeAll(async () => {
  env = await startDevEnv({
    name: 'access-test',
    auth: { metricsToken: METRICS_TOKEN },
    policy: (base) => ({
      ...base,
      reviewCadence: { low: '3s', medium: '3s', high: '3s' },
      reviews: { remindBefore: '1s', overdueEscalationEvery: '1h' },
    }),
  });
  api = env.api;
  const k = env.keys;
  key = {
    'ai-team': await k({ email: 'alice@example.org', role: 'ai-team', team: TEAM_A }),
    'risk-owner': await k({ email: RISK_OWNER_A, role: 'risk-owner' }),
    'governance-lead': await k({ email: 'lead@example.org', role: 'governance-lead' }),
    auditor: await k({ email: 'auditor@example.org', role: 'auditor' }),
    admin: env.adminKey,
  };
  teamBKey = await k({ email: 'bob@team-b.example.org', role: 'ai-team', team: TEAM_B });
  strangerRiskOwnerKey = await k({ email: RISK_OWNER_B, role: 'risk-owner' });

  const w = env.walk;
  const register = async (id: string, k: string, overrides: Record<string, unknown> = {}) => {
    const res = await api.inject({
      method: 'POST',
      url: '/api/v1/systems',
      headers: bearer(k),
      payload: { ...registrationFor(id), ...overrides },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  };
  expect((await register(SYS_A, key['ai-team'])).team).toBe(TEAM_A);
  expect((await register(SYS_B, teamBKey, { riskOwner: RISK_OWNER_B, name: 'Team B model' })).team).toBe(TEAM_B);
  await register(SYS_A_ACTORS, key['ai-team']);
  await Promise.all([
    (async () => {
      await w.assess(SYS_A);
      await w.evidence(SYS_A);
      await w.plan(SYS_A);
      await w.until(SYS_A, (x) => x.pendingApproval !== null, 'an open approval request');
    })(),
    (async () => {
      await register(SYS_A_OVERDUE, key['ai-team']);
      await w.assess(SYS_A_OVERDUE, lowTierAssessment as never);
      await w.plan(SYS_A_OVERDUE);
      await approveAll(SYS_A_OVERDUE);
    })(),
  ]);
}, 180_000);

afterAll(async () => {
  await env?.close();
});

// ---------------------------------------------------------------- tests

describe('every route has an access rule, and the rule holds', () => {
  it('route by route: no credential, each refused role, another team, each permitted role', async () => {
    const routes = [...(await appRoutes(api))].sort();
    expect(routes.length).toBeGreaterThan(20);
    const missing = routes.filter((r) => !(r in TABLE));
    expect(
      missing,
      `routes without a row in the access table of ${import.meta.filename}: ${missing.join(', ')}`,
    ).toEqual([]);
    const gone = Object.keys(TABLE).filter((r) => !routes.includes(r));
    expect(gone, `rows for routes the app no longer has: ${gone.join(', ')}`).toEqual([]);

    const failures: string[] = [];
    const check = (ok: boolean, message: string) => {
      if (!ok) failures.push(message);
    };

    for (const route of routes) {
      const row = TABLE[route]!;
      const rule = row.rule;
      const page = isPage(route);

      // No credential.
      let anonymous = request(route, row, NONE);
      if (route === 'POST /login') {
        anonymous = request(route, { ...row, form: { key: key.auditor, next: '/' } }, NONE);
      }
      const anon = await api.inject(anonymous);
      if ('open' in rule) {
        check(anon.statusCode === rule.anonymous, `${label(route, 'nobody', anon)} (expected ${rule.anonymous})`);
      } else if (page && route.startsWith('GET ')) {
        check(
          anon.statusCode === 303 && String(anon.headers.location).startsWith('/login?next='),
          `${label(route, 'nobody', anon)} (expected 303 to /login)`,
        );
      } else {
        check(anon.statusCode === 401, `${label(route, 'nobody', anon)} (expected 401)`);
        if (!page) {
          check(
            anon.json().error === 'unauthenticated' && typeof anon.json().message === 'string',
            `${label(route, 'nobody', anon)} (expected the error envelope)`,
          );
        }
      }
      if ('open' in rule) continue;

      // Every role the route refuses, with a key that can see SYS_A.
      const permitted = 'roles' in rule ? rule.roles : rule.metrics;
      for (const role of roles.filter((r) => !permitted.includes(r))) {
        const res = await api.inject(request(route, row, bearer(key[role])));
        check(res.statusCode === 403, `${label(route, role, res)} (expected 403)`);
        check(res.body.includes(`the role ${role}`), `${label(route, role, res)} (expected a message naming ${role})`);
        if (!page) check(res.json().error === 'forbidden', `${label(route, role, res)} (expected error "forbidden")`);
      }

      // Another team's key, and a risk owner of other systems: SYS_A answers as if it did not exist.
      if ('roles' in rule && rule.system) {
        for (const [who, k] of [
          ['team B (ai-team)', teamBKey],
          ['another risk owner', strangerRiskOwnerKey],
        ] as const) {
          const hidden = await api.inject(request(route, row, bearer(k), SYS_A));
          check(hidden.statusCode === 404, `${label(route, who, hidden)} (expected 404)`);
          if (!page) {
            check(
              hidden.json().error === 'not_found' && hidden.json().message === `no AI system with id ${SYS_A}`,
              `${label(route, who, hidden)} (expected not_found naming the id)`,
            );
          }
        }
      }

      // Every role it takes: past the access check (a 2xx, or the handler's own 4xx such as validation).
      for (const role of permitted) {
        const res = await api.inject(request(route, row, bearer(key[role])));
        check(
          res.statusCode < 500 && ![401, 403, 404].includes(res.statusCode),
          `${label(route, role, res)} (expected to pass the access check)`,
        );
      }
    }
    expect(failures, failures.join('\n')).toEqual([]);
  });

  /**
   * The same request from the same outsider, to SYS_A and to an id nobody
   * registered, must answer alike (status, type, body but for the id): any
   * difference tells the outsider that SYS_A exists.
   */
  it('a hidden system answers exactly like one that does not exist', async () => {
    const leaks: string[] = [];
    const systemRoutes = Object.entries(TABLE).filter(([, row]) => 'roles' in row.rule && row.rule.system);
    for (const [route, row] of systemRoutes) {
      for (const [who, k] of [
        ['team B (ai-team)', teamBKey],
        ['another risk owner', strangerRiskOwnerKey],
      ] as const) {
        const hidden = shape(await api.inject(request(route, row, bearer(k), SYS_A)), SYS_A);
        const unknown = shape(await api.inject(request(route, row, bearer(k), UNKNOWN)), UNKNOWN);
        if (JSON.stringify(hidden) !== JSON.stringify(unknown)) {
          leaks.push(
            `${route} as ${who}:\n  hidden:  ${JSON.stringify(hidden).slice(0, 300)}\n  unknown: ${JSON.stringify(unknown).slice(0, 300)}`,
          );
        }
      }
    }
    expect(leaks, `answers that tell a hidden system from an unknown one:\n${leaks.join('\n')}`).toEqual([]);
  });

  it('a stale or malformed credential does not lock anyone out of the open doors, and is refused elsewhere', async () => {
    for (const authorization of ['Bearer ail_notakey_000000000000000000000000', 'Basic dXNlcjpwYXNz']) {
      const login = await api.inject({ method: 'GET', url: '/login', headers: { authorization } });
      expect(login.statusCode, login.body).toBe(200);
      const me = await api.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization } });
      expect(me.statusCode, me.body).toBe(401);
      expect(me.json()).toMatchObject({ error: 'unauthenticated', message: expect.any(String) });
    }
  });
});

describe('lists show only what the caller may see (dev server visibility)', () => {
  const idsOf = (items: { id: string }[]) => items.map((i) => i.id);
  const listed = async (url: string, k: string, field: string): Promise<string[]> => {
    const res = await api.inject({ method: 'GET', url, headers: bearer(k) });
    expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
    return idsOf(res.json()[field]);
  };

  it('GET /api/v1/systems: team A its own, team B its own, the risk owner theirs, the auditor both', async () => {
    const url = '/api/v1/systems?pageSize=100';
    const ours = [SYS_A, SYS_A_OVERDUE, SYS_A_ACTORS];
    await eventually(
      () => listed(url, key.auditor, 'systems'),
      (all) => expect(all).toEqual(expect.arrayContaining([...ours, SYS_B])),
    );
    const a = await listed(url, key['ai-team'], 'systems');
    expect(a.sort()).toEqual([...ours].sort());
    expect(await listed(url, teamBKey, 'systems')).toEqual([SYS_B]);
    expect((await listed(url, key['risk-owner'], 'systems')).sort()).toEqual([...ours].sort());
    expect(await listed(url, strangerRiskOwnerKey, 'systems')).toEqual([SYS_B]);
  });

  it('GET /api/v1/approvals/pending: team A sees its waiting request, team B does not, the auditor does', async () => {
    const url = '/api/v1/approvals/pending';
    await eventually(
      () => listed(url, key.auditor, 'approvals'),
      (all) => expect(all).toContain(SYS_A),
    );
    expect(await listed(url, key['ai-team'], 'approvals')).toEqual([SYS_A]);
    expect(await listed(url, teamBKey, 'approvals')).toEqual([]);
    expect(await listed(url, strangerRiskOwnerKey, 'approvals')).toEqual([]);
  });

  it('GET /api/v1/reviews/overdue: team A sees its overdue review, team B does not, the auditor does', async () => {
    const url = '/api/v1/reviews/overdue';
    await eventually(
      () => listed(url, key.auditor, 'reviews'),
      (all) => expect(all).toContain(SYS_A_OVERDUE),
      60_000,
    );
    expect(await listed(url, key['ai-team'], 'reviews')).toEqual([SYS_A_OVERDUE]);
    expect(await listed(url, teamBKey, 'reviews')).toEqual([]);
  });

  it('the dashboard lists team A’s systems for team A, not for team B; the auditor sees both', async () => {
    const dashboard = async (k: string) => {
      const res = await api.inject({ method: 'GET', url: '/', headers: bearer(k) });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
      return res.body;
    };
    await eventually(
      () => dashboard(key.auditor),
      (html) => {
        expect(html).toContain(SYS_A);
        expect(html).toContain(SYS_B);
      },
    );
    const a = await dashboard(key['ai-team']);
    expect(a).toContain(SYS_A);
    expect(a).not.toContain(SYS_B);
    const b = await dashboard(teamBKey);
    expect(b).toContain(SYS_B);
    for (const id of [SYS_A, SYS_A_OVERDUE, SYS_A_ACTORS]) expect(b).not.toContain(id);
  });

  it('/metrics takes the scrape token or the auditor, never an ai-team key or a wrong token', async () => {
    const scrape = await api.inject({ method: 'GET', url: '/metrics', headers: bearer(METRICS_TOKEN) });
    expect(scrape.statusCode, scrape.body).toBe(200);
    expect(scrape.headers['content-type']).toContain('text/plain');
    expect(scrape.body).toContain('ai_systems{');
    const auditor = await api.inject({ method: 'GET', url: '/metrics', headers: bearer(key.auditor) });
    expect(auditor.statusCode, auditor.body).toBe(200);
    const team = await api.inject({ method: 'GET', url: '/metrics', headers: bearer(key['ai-team']) });
    expect(team.statusCode, team.body).toBe(403);
    expect(team.json()).toMatchObject({ error: 'forbidden', message: expect.stringContaining('the role ai-team') });
    const wrong = await api.inject({ method: 'GET', url: '/metrics', headers: bearer(`${METRICS_TOKEN}x`) });
    expect(wrong.statusCode, wrong.body).toBe(401);
    const none = await api.inject({ method: 'GET', url: '/metrics', headers: NONE });
    expect(none.statusCode, none.body).toBe(401);
  });
});

describe('actors come from the credential', () => {
  const alice = 'alice@example.org';

  it('a body naming someone else answers 422 actor_mismatch naming the field, and records nothing', async () => {
    const before = await env.store.listEvents(SYS_A_ACTORS);
    for (const [method, path, body, field] of [
      [
        'PUT',
        '/impact-assessment',
        { ...example('impact-assessment.json'), submittedBy: 'mallory@example.org' },
        'submittedBy',
      ],
      ['POST', '/incidents', { ...example('incident.json'), reportedBy: 'mallory@example.org' }, 'reportedBy'],
      ['POST', '/retire', { ...example('retire.json'), retiredBy: 'Mallory <mallory@example.org>' }, 'retiredBy'],
    ] as const) {
      const res = await api.inject({
        method,
        url: `/api/v1/systems/${SYS_A_ACTORS}${path}`,
        headers: bearer(key['ai-team']),
        payload: body,
      });
      expect(res.statusCode, res.body).toBe(422);
      const answer = res.json();
      expect(answer.error).toBe('actor_mismatch');
      expect(answer.message).toContain(`body.${field}`);
      expect(answer.message).toContain(alice);
      expect(answer.issues).toEqual([{ path: `body.${field}`, message: expect.any(String) }]);
    }
    expect(await env.store.listEvents(SYS_A_ACTORS)).toEqual(before);
  });

  it('naming the caller in another case is the caller', async () => {
    const { reportedBy: _r, ...incident } = example('incident.json');
    const res = await api.inject({
      method: 'POST',
      url: `/api/v1/systems/${SYS_A_ACTORS}/incidents`,
      headers: bearer(key['ai-team']),
      payload: { ...incident, reportedBy: alice.toUpperCase() },
    });
    expect(res.statusCode, res.body).toBe(201);
  });

  it('a body leaving the actor out is recorded as the key holder', async () => {
    const { submittedBy: _s, ...assessment } = example('impact-assessment.json');
    const res = await api.inject({
      method: 'PUT',
      url: `/api/v1/systems/${SYS_A_ACTORS}/impact-assessment`,
      headers: bearer(key['ai-team']),
      payload: assessment,
    });
    expect(res.statusCode, res.body).toBe(200);
    const view = await env.walk.until(SYS_A_ACTORS, (v) => v.assessment !== null, 'the assessment');
    expect(view.assessment.submittedBy).toBe(alice);

    const { reportedBy: _r, ...incident } = example('incident.json');
    const reported = await api.inject({
      method: 'POST',
      url: `/api/v1/systems/${SYS_A_ACTORS}/incidents`,
      headers: bearer(key['risk-owner']),
      payload: incident,
    });
    expect(reported.statusCode, reported.body).toBe(201);

    const events = await eventually(
      () => env.store.listEvents(SYS_A_ACTORS),
      (e) => {
        expect(e.filter((x) => x.type === 'assessment_submitted').map((x) => x.actor)).toEqual([alice]);
        expect(e.filter((x) => x.type === 'incident_reported').map((x) => x.actor)).toContain(RISK_OWNER_A);
      },
    );
    expect(events.every((e) => e.actor !== 'mallory@example.org')).toBe(true);
  });
});
