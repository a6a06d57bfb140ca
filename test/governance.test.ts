/**
 * Governance views against the REAL Temporal dev server (SQLite visibility;
 * the time-skipping test server cannot list workflows): a worker with the
 * real activities, an in-memory record store and a real SMTP mailbox, the
 * HTTP API on top. A test policy with review cadences of seconds lets the
 * workflows' own timers make reviews due and overdue in real time; nothing
 * is edited behind their back. Visibility is eventually consistent, so every
 * expectation on a listing is polled.
 */
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { durationMs } from '../domain/duration.js';
import type { Policy } from '../domain/policy.js';
import { workflowIdFor } from '../domain/system.js';
import type { DevMailbox } from '../embedded/dev-mailbox.js';
import type { Store } from '../store/index.js';
import { stateQuery } from '../workflows/messages.js';
import { DEV_ENV_GOVERNANCE_LEAD as GOVERNANCE_LEAD, eventually, startDevEnv, type DevEnv } from './support/dev-env.js';
import { example, registrationFor } from './support/examples.js';

const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';
const DEFAULT_OWNER: string = example('register.json').owner;
const DEFAULT_RISK_OWNER: string = example('register.json').riskOwner;
const CTO = 'cto@example.org';

/** Reviews of high and low systems fall due seconds after approval; medium ones in 40 days. */
const ESCALATE_EVERY = '2s';
const MEDIUM_CADENCE_DAYS = 40;

let env: DevEnv;
let api: FastifyInstance;
let client: Client;
let store: Store;
let mailbox: DevMailbox;
let policy: Policy;
let w: DevEnv['walk'];

beforeAll(async () => {
  env = await startDevEnv({
    name: 'governance-test',
    policy: (base) => ({
      ...base,
      reviewCadence: { low: '3s', medium: `${MEDIUM_CADENCE_DAYS}d`, high: '3s' },
      reviews: { remindBefore: '1s', overdueEscalationEvery: ESCALATE_EVERY },
    }),
  });
  ({ api, client, store, mailbox, policy, walk: w } = env);
});

afterAll(async () => {
  await env?.close();
});

// ---------------------------------------------------------------- helpers

async function get(url: string, expected = 200) {
  const res = await api.inject({ method: 'GET', url });
  expect(res.statusCode, `GET ${url}: ${res.body}`).toBe(expected);
  return res;
}
const json = async (url: string): Promise<any> => (await get(url)).json();
const ids = (items: { id: string }[]) => items.map((i) => i.id).sort();

const assessment = example('impact-assessment.json');
const { fria: _fria, ...withoutFria } = assessment;
/** Minor/rare impacts, nothing decided about people. */
const quietImpacts = assessment.impacts.map((i: Record<string, unknown>) => ({
  ...i,
  severity: 'minor',
  likelihood: 'rare',
}));
const lowTierAssessment = {
  ...withoutFria,
  euAiAct: { category: 'minimal', rationale: 'Internal search helper; no Annex III use.' },
  decisionsAboutPeople: false,
  impacts: quietImpacts,
};
/** Limited-risk transparency duties set the medium floor (EU AI Act Art. 50). */
const mediumTierAssessment = {
  ...withoutFria,
  euAiAct: { category: 'limited', rationale: 'A chatbot that must disclose it is an AI system (Art. 50).' },
  decisionsAboutPeople: false,
  impacts: quietImpacts,
};

/** Approves every open step until the system leaves the approval stage, then records the FRIA if asked. */
async function approveAll(id: string) {
  for (;;) {
    const v = await w.until(id, (x) => x.pendingApproval !== null || x.stage !== 'approval', 'next approval step');
    if (v.stage !== 'approval') break;
    const step = await w.approveOpenRequest(id);
    await w.until(id, (x) => x.pendingApproval?.requestId !== step.requestId, 'the step to advance');
  }
  if ((await w.view(id)).stage === 'fria_notification') await w.notifyAuthority(id);
  return w.until(id, (x) => x.stage === 'active' || x.stage === 'review_due', 'active');
}

const SYSTEMS = {
  overdueHighAlice: 'gov-overdue-high-alice',
  overdueHigh: 'gov-overdue-high',
  overdueLowBob: 'gov-overdue-low-bob',
  upcomingMediumAlice: 'gov-upcoming-medium-alice',
  pendingHighBob: 'gov-pending-high-bob',
  pendingLowAlice: 'gov-pending-low-alice',
  newAlice: 'gov-new-alice',
  newDefault: 'gov-new-default',
  /** Low tier, one review signed off (a continue-as-new), then overdue again in its second cycle. */
  reviewedLow: 'gov-reviewed-low',
} as const;
const ALL_IDS = Object.values(SYSTEMS).sort();

async function driveAll() {
  const s = SYSTEMS;
  await Promise.all([
    (async () => {
      await w.register(s.overdueHighAlice, { owner: ALICE, name: 'Claims triage' });
      await w.assess(s.overdueHighAlice);
      await w.evidence(s.overdueHighAlice);
      await w.plan(s.overdueHighAlice);
      await approveAll(s.overdueHighAlice);
    })(),
    w.toActive(s.overdueHigh),
    (async () => {
      await w.register(s.overdueLowBob, { owner: BOB, name: 'Intranet search' });
      await w.assess(s.overdueLowBob, lowTierAssessment as never);
      await w.plan(s.overdueLowBob);
      await approveAll(s.overdueLowBob);
    })(),
    (async () => {
      await w.register(s.upcomingMediumAlice, { owner: ALICE, name: 'Support chatbot' });
      await w.assess(s.upcomingMediumAlice, mediumTierAssessment as never);
      await w.evidence(s.upcomingMediumAlice);
      await w.plan(s.upcomingMediumAlice);
      await approveAll(s.upcomingMediumAlice);
    })(),
    (async () => {
      await w.register(s.pendingHighBob, { owner: BOB, name: 'Credit scoring' });
      await w.assess(s.pendingHighBob);
      await w.evidence(s.pendingHighBob);
      await w.plan(s.pendingHighBob);
    })(),
    (async () => {
      await w.register(s.pendingLowAlice, { owner: ALICE, riskOwner: CTO, name: 'Meeting summariser' });
      await w.assess(s.pendingLowAlice, lowTierAssessment as never);
      await w.plan(s.pendingLowAlice);
    })(),
    (async () => {
      const id = s.reviewedLow;
      await w.register(id, { name: 'Document classifier' });
      await w.assess(id, lowTierAssessment as never);
      await w.plan(id);
      await approveAll(id);
      const { biasEvidence: _evidence, ...review } = example('review.json');
      await w.call('POST', w.sys(id, '/reviews'), review, 202);
      await w.until(id, (x) => x.pendingApproval?.kind === 'review', 'the review sign-off request');
      await w.approveOpenRequest(id);
      await w.until(id, (x) => x.cycle === 1 && x.lastReviewCompletedAt !== null, 'the second review cycle');
    })(),
    w.register(s.newAlice, { owner: ALICE, name: 'Code assistant' }),
    w.register(s.newDefault, { name: 'Forecasting model' }),
  ]);
}

interface Overdue {
  id: string;
  name: string;
  owner: string;
  riskTier: string;
  reviewDueAt: string;
  daysOverdue: number;
  escalationsSent: number;
}

// ---------------------------------------------------------------- tests

describe('governance views over Temporal visibility (dev server)', () => {
  const overdueIds = [SYSTEMS.overdueHigh, SYSTEMS.overdueHighAlice, SYSTEMS.overdueLowBob, SYSTEMS.reviewedLow].sort();
  const pendingIds = [SYSTEMS.pendingHighBob, SYSTEMS.pendingLowAlice].sort();

  beforeAll(async () => {
    await driveAll();
  }, 120_000);

  it('lists overdue reviews reached by the workflows own timers, with days overdue and escalations', async () => {
    const body = await eventually(
      () => json('/api/v1/reviews/overdue'),
      (b) => {
        expect(ids(b.reviews)).toEqual(overdueIds);
        for (const r of b.reviews) expect(r.escalationsSent, r.id).toBeGreaterThanOrEqual(1);
      },
    );
    const asOf = Date.parse(body.asOf);
    const every = durationMs(ESCALATE_EVERY);
    const byId = new Map<string, Overdue>(body.reviews.map((r: Overdue) => [r.id, r]));
    for (const id of overdueIds) {
      const listed = byId.get(id)!;
      const state = await client.workflow.getHandle(workflowIdFor(id)).query(stateQuery);
      expect(state.stage).toBe('review_due');
      expect(listed).toMatchObject({
        name: state.registration.name,
        owner: state.registration.owner,
        riskTier: state.riskTier,
        reviewDueAt: state.reviewDueAt,
        daysOverdue: Math.floor((asOf - Date.parse(state.reviewDueAt!)) / 86_400_000),
      });
      expect(listed.daysOverdue).toBe(0);
      // The memo can lag the workflow, never lead it, and escalations follow the policy's rhythm.
      expect(listed.escalationsSent).toBeLessThanOrEqual(state.reviewEscalations);
      expect(listed.escalationsSent).toBeLessThanOrEqual(Math.floor((asOf - Date.parse(listed.reviewDueAt)) / every));
      const escalated = (await store.listEvents(id)).filter((e) => e.type === 'review_overdue_escalated');
      expect(escalated.length).toBeGreaterThanOrEqual(listed.escalationsSent);
    }
    expect(byId.get(SYSTEMS.overdueHighAlice)).toMatchObject({ owner: ALICE, riskTier: 'high' });
    expect(byId.get(SYSTEMS.overdueLowBob)).toMatchObject({ owner: BOB, riskTier: 'low' });
    expect(byId.get(SYSTEMS.overdueHigh)).toMatchObject({ owner: DEFAULT_OWNER, riskTier: 'high' });
    // Overdue again in its second cycle, due a cadence after the signed-off review.
    const reviewed = await w.view(SYSTEMS.reviewedLow);
    expect(reviewed.cycle).toBe(1);
    expect(Date.parse(byId.get(SYSTEMS.reviewedLow)!.reviewDueAt)).toBe(
      Date.parse(reviewed.lastReviewCompletedAt) + durationMs(policy.reviewCadence.low),
    );
    // Most overdue first.
    const dues = body.reviews.map((r: Overdue) => Date.parse(r.reviewDueAt));
    expect(dues).toEqual([...dues].sort((a, b) => a - b));
    // The governance lead was told by e-mail too.
    expect(
      mailbox
        .messages()
        .some((m) => m.to.includes(GOVERNANCE_LEAD) && m.headers['x-ai-system'] === SYSTEMS.overdueLowBob),
    ).toBe(true);
  });

  it('lists pending approvals with who holds them and for how long', async () => {
    const body = await eventually(
      () => json('/api/v1/approvals/pending'),
      (b) => {
        expect(ids(b.approvals)).toEqual(pendingIds);
        expect(b.approvals.every((a: { approver: string | null }) => a.approver !== null)).toBe(true);
      },
    );
    const asOf = Date.parse(body.asOf);
    for (const item of body.approvals) {
      const state = await client.workflow.getHandle(workflowIdFor(item.id)).query(stateQuery);
      const a = state.approval!;
      expect(item).toMatchObject({
        approver: a.approver,
        step: `treatment plan, step 1 of ${a.chain.length}`,
        pendingSince: a.requestedAt,
        ageDays: 0,
        riskTier: state.riskTier,
      });
      expect(item.ageSeconds).toBeCloseTo((asOf - Date.parse(a.requestedAt)) / 1000, 1);
    }
    const byId = new Map(body.approvals.map((a: { id: string }) => [a.id, a]));
    expect(byId.get(SYSTEMS.pendingHighBob)).toMatchObject({
      approver: DEFAULT_RISK_OWNER,
      step: 'treatment plan, step 1 of 2',
    });
    expect(byId.get(SYSTEMS.pendingLowAlice)).toMatchObject({ approver: CTO, step: 'treatment plan, step 1 of 1' });
    const since = body.approvals.map((a: { pendingSince: string }) => Date.parse(a.pendingSince));
    expect(since).toEqual([...since].sort((a, b) => a - b));
  });

  it('lists upcoming reviews within the asked window only', async () => {
    const medium = await w.view(SYSTEMS.upcomingMediumAlice);
    expect(medium.stage).toBe('active');
    const dueIn = (Date.parse(medium.reviewDueAt) - Date.now()) / 86_400_000;
    expect(dueIn).toBeGreaterThan(MEDIUM_CADENCE_DAYS - 1);

    const wide = await eventually(
      () => json(`/api/v1/reviews/upcoming?days=${MEDIUM_CADENCE_DAYS + 1}`),
      (b) => expect(ids(b.reviews)).toEqual([SYSTEMS.upcomingMediumAlice]),
    );
    expect(wide.days).toBe(MEDIUM_CADENCE_DAYS + 1);
    expect(wide.reviews[0]).toMatchObject({
      name: 'Support chatbot',
      owner: ALICE,
      riskTier: 'medium',
      reviewDueAt: medium.reviewDueAt,
      daysUntilDue: MEDIUM_CADENCE_DAYS - 1,
    });
    // Default window is 30 days; overdue ones are not "upcoming".
    const def = await json('/api/v1/reviews/upcoming');
    expect(def).toMatchObject({ days: 30, reviews: [] });
    expect((await json('/api/v1/reviews/upcoming?days=366')).reviews.map((r: { id: string }) => r.id)).toEqual([
      SYSTEMS.upcomingMediumAlice,
    ]);
  });

  it('relies only on what SQLite visibility supports (IS NOT NULL yes; ORDER BY and GROUP BY on our attributes no)', async () => {
    const running = await client.workflow.count(
      `AiSystemId IS NOT NULL AND AiPendingApprover IS NOT NULL AND ExecutionStatus = 'Running'`,
    );
    expect(running.count).toBe(pendingIds.length);
    await expect(client.workflow.count('AiSystemId IS NOT NULL GROUP BY AiStage')).rejects.toThrow();
    const ordered = async () => {
      for await (const _ of client.workflow.list({ query: 'AiSystemId IS NOT NULL ORDER BY AiReviewDueAt' })) break;
    };
    await expect(ordered()).rejects.toThrow();
  });

  it('refuses bad query strings with the field named', async () => {
    const refused = async (url: string, path: string) => {
      const res = await get(url, 422);
      expect(
        res.json().issues.map((i: { path: string }) => i.path),
        url,
      ).toContain(path);
    };
    await refused('/api/v1/reviews/upcoming?days=0', 'querystring.days');
    await refused('/api/v1/reviews/upcoming?days=367', 'querystring.days');
    await refused('/api/v1/reviews/upcoming?days=soon', 'querystring.days');
    await refused('/api/v1/reviews/upcoming?days=1.5', 'querystring.days');
    await refused('/api/v1/systems?stage=late', 'querystring.stage');
    await refused('/api/v1/systems?tier=extreme', 'querystring.tier');
    await refused('/api/v1/systems?owner=alice', 'querystring.owner');
    await refused('/api/v1/systems?pageSize=0', 'querystring.pageSize');
    await refused('/api/v1/systems?pageSize=101', 'querystring.pageSize');
    await refused('/api/v1/systems?pageToken=bm90LWEtdG9rZW4', 'querystring.pageToken');
    // A real token belongs to its own listing: with another filter it is refused, not misread.
    const first = await json('/api/v1/systems?pageSize=2');
    expect(first.nextPageToken).toEqual(expect.any(String));
    await refused(`/api/v1/systems?pageSize=2&stage=active&pageToken=${first.nextPageToken}`, 'querystring.pageToken');
    const [raw] = first.nextPageToken.split('.');
    const forged = `${raw}.${Buffer.alloc(16).toString('base64url')}`;
    await refused(`/api/v1/systems?pageSize=2&pageToken=${forged}`, 'querystring.pageToken');
  });

  it('filters systems by owner, stage and tier, and pages through all of them once', async () => {
    const aliceIds = [SYSTEMS.overdueHighAlice, SYSTEMS.upcomingMediumAlice, SYSTEMS.pendingLowAlice, SYSTEMS.newAlice];
    const alice = await eventually(
      () => json(`/api/v1/systems?owner=${encodeURIComponent(ALICE.toUpperCase())}`),
      (b) => expect(ids(b.systems)).toEqual([...aliceIds].sort()),
    );
    expect(alice.nextPageToken).toBeNull();
    expect(alice.systems.every((s: { owner: string }) => s.owner === ALICE)).toBe(true);
    const bob = await json(`/api/v1/systems?owner=${encodeURIComponent(BOB)}`);
    expect(ids(bob.systems)).toEqual([SYSTEMS.overdueLowBob, SYSTEMS.pendingHighBob].sort());
    expect((await json('/api/v1/systems?owner=nobody%40example.org')).systems).toEqual([]);

    const byStage = await json('/api/v1/systems?stage=impact_assessment');
    expect(ids(byStage.systems)).toEqual([SYSTEMS.newAlice, SYSTEMS.newDefault].sort());
    expect(byStage.systems.every((s: { riskTier: string }) => s.riskTier === 'unassessed')).toBe(true);
    const lowApproval = await json('/api/v1/systems?stage=approval&tier=low');
    expect(lowApproval.systems).toEqual([
      expect.objectContaining({ id: SYSTEMS.pendingLowAlice, pendingApprover: CTO, status: 'RUNNING' }),
    ]);
    const aliceHigh = await json(`/api/v1/systems?owner=${encodeURIComponent(ALICE)}&tier=high`);
    expect(ids(aliceHigh.systems)).toEqual([SYSTEMS.overdueHighAlice]);

    // The signed-off review left a ContinuedAsNew run in the visibility store; only the current run is listed.
    const runs: string[] = [];
    for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowIdFor(SYSTEMS.reviewedLow)}'` })) {
      runs.push(run.status.name);
    }
    expect(runs.sort()).toEqual(['CONTINUED_AS_NEW', 'RUNNING']);
    expect(
      (await json('/api/v1/systems?tier=low&stage=review_due')).systems.map((x: { id: string }) => x.id).sort(),
    ).toEqual([SYSTEMS.overdueLowBob, SYSTEMS.reviewedLow].sort());

    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const url: string = `/api/v1/systems?pageSize=2${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`;
      const page: { systems: { id: string }[]; nextPageToken: string | null } = await json(url);
      expect(page.systems.length).toBeLessThanOrEqual(2);
      seen.push(...page.systems.map((s) => s.id));
      token = page.nextPageToken;
      pages += 1;
    } while (token && pages < 20);
    expect(seen.length).toBe(ALL_IDS.length);
    expect([...seen].sort()).toEqual(ALL_IDS);
    expect(pages).toBeGreaterThanOrEqual(4);
  });

  it('exposes the same numbers as Prometheus gauges', async () => {
    const expected: Record<string, number> = {
      'review_due/high': 2,
      'review_due/low': 2,
      'active/medium': 1,
      'approval/high': 1,
      'approval/low': 1,
      'impact_assessment/unassessed': 2,
    };
    const res = await eventually(
      () => get('/metrics'),
      (r) => {
        const m = parseMetrics(r.body);
        expect(m.get('ai_reviews_overdue')).toBe(overdueIds.length);
        expect(m.get('ai_approvals_pending')).toBe(2);
      },
    );
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.body;
    for (const name of [
      'ai_systems',
      'ai_reviews_overdue',
      'ai_approvals_pending',
      'ai_approval_oldest_pending_seconds',
    ]) {
      expect(text).toContain(`# HELP ${name} `);
      expect(text).toContain(`# TYPE ${name} gauge`);
    }
    const m = parseMetrics(text);
    let sum = 0;
    for (const [key, value] of m) {
      const match = /^ai_systems\{stage="([a-z_]+)",tier="([a-z]+)"\}$/.exec(key);
      if (!match) continue;
      expect(value, key).toBe(expected[`${match[1]}/${match[2]}`] ?? 0);
      sum += value;
    }
    expect(sum).toBe(ALL_IDS.length);
    expect([...m.keys()].filter((k) => k.startsWith('ai_systems{')).length).toBe(9 * 4);

    const pending = await json('/api/v1/approvals/pending');
    const oldest = Math.min(...pending.approvals.map((a: { pendingSince: string }) => Date.parse(a.pendingSince)));
    const age = m.get('ai_approval_oldest_pending_seconds')!;
    expect(age).toBeGreaterThan(0);
    expect(Math.abs(age - (Date.parse(pending.asOf) - oldest) / 1000)).toBeLessThan(5);
  });

  it('shows the same on the dashboard and a timeline with a verified chain per system', async () => {
    const html = (await get('/')).body;
    expect(html).toContain('<html lang="en">');
    const section = (id: string) =>
      html.slice(html.indexOf(`id="${id}"`), html.indexOf('</section>', html.indexOf(`id="${id}"`)));
    for (const id of overdueIds) expect(section('overdue')).toContain(`href="/systems/${id}"`);
    for (const id of pendingIds) expect(section('pending')).toContain(`href="/systems/${id}"`);
    expect(section('overdue')).not.toContain(SYSTEMS.pendingHighBob);
    expect(section('upcoming')).toContain(`href="/systems/${SYSTEMS.upcomingMediumAlice}"`);
    expect(section('upcoming')).toMatch(/<svg[^>]+role="img"[^>]+aria-labelledby="chart-title chart-desc"/);

    const page = (await get(`/systems/${SYSTEMS.overdueLowBob}`)).body;
    expect(page).toContain('id="current-stage">review due');
    expect(page).toMatch(/Verified:<\/strong> all \d+ records/);
    expect(page).toContain('Registered; stage impact assessment');
    expect(page).toContain('Impact assessment v1 submitted: risk tier low');
    expect(page).toContain(`Approved by ${DEFAULT_RISK_OWNER}`);
    expect(page).toContain('Overdue review escalated to the governance lead');
    expect((await get('/systems/no-such-system', 404)).body).toContain('No such AI system');

    // Bad filters on the page are named and ignored, never a 500.
    const filtered = (await get('/?stage=late&owner=alice&pageToken=garbage')).body;
    expect(filtered).toMatch(
      /role="alert">Not applied: “late” is not a stage; “alice” is not an e-mail address; the page link is not valid/,
    );
    const owned = (await get(`/?owner=${encodeURIComponent(BOB)}`)).body;
    const systemsTable = owned.slice(owned.indexOf('id="systems-table"'));
    expect([...systemsTable.matchAll(/<tr data-system="([^"]+)"/g)].map((m) => m[1]).sort()).toEqual(
      [SYSTEMS.overdueLowBob, SYSTEMS.pendingHighBob].sort(),
    );
  });

  it('documents the governance endpoints in OpenAPI and keeps the HTML pages out of it', async () => {
    const doc = await json('/openapi.json');
    for (const path of [
      '/api/v1/reviews/overdue',
      '/api/v1/reviews/upcoming',
      '/api/v1/approvals/pending',
      '/metrics',
    ]) {
      expect(doc.paths[path]?.get, path).toBeDefined();
    }
    expect(doc.paths['/api/v1/systems'].get.parameters.map((p: { name: string }) => p.name).sort()).toEqual([
      'owner',
      'pageSize',
      'pageToken',
      'stage',
      'tier',
    ]);
    expect(doc.paths['/api/v1/systems'].post).toBeDefined();
    expect(doc.paths['/api/v1/reviews/upcoming'].get.parameters[0]).toMatchObject({
      name: 'days',
      schema: { minimum: 1, maximum: 366, default: 30 },
    });
    expect(doc.paths['/']).toBeUndefined();
    expect(doc.paths['/systems/{id}']).toBeUndefined();
  });
});

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
