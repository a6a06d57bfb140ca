/**
 * Verifying the audit trail (issue 11): GET /api/v1/systems/:id/audit/verify, the system page and
 * `ai-lifecycle audit verify`, against the lifecycle harness (real activities and record store, time-skipping
 * Temporal, the API listening for the real binary). A row edited in the database is caught by the hash chain at
 * its seq; a rewrite of the whole chain with every hash recomputed fools the chain, and is caught by the head the
 * workflow anchored outside the database. The anchor does not follow a rewritten chain, and it carries over into
 * the next run.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Transaction } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditVerificationSchema, type AuditVerification } from '../domain/audit.js';
import { durationMs } from '../domain/duration.js';
import { workflowIdFor } from '../domain/system.js';
import { computeEventHash, GENESIS_HASH, type Database } from '../store/index.js';
import { example } from './support/examples.js';
import { barrier, lifecycleSuite } from './support/lifecycle-env.js';
import { PROJECT_ROOT } from './support/product-process.js';
import { nextRun } from './support/walk.js';

const BIN = join(PROJECT_ROOT, 'cli', 'bin.mjs');
const s = lifecycleSuite();

let auditor: string;
let server: string;
let workDir: string;

beforeAll(async () => {
  auditor = await s.t.keys({ email: 'auditor@example.org', role: 'auditor' });
  await s.t.api.listen({ port: 0, host: '127.0.0.1' });
  server = `http://127.0.0.1:${(s.t.api.server.address() as AddressInfo).port}`;
  workDir = await mkdtemp(join(tmpdir(), 'audit-verify-'));
});
afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function verify(id: string, key = auditor): Promise<AuditVerification> {
  const res = await s.t.api.inject({
    method: 'GET',
    url: `/api/v1/systems/${id}/audit/verify`,
    headers: { authorization: `Bearer ${key}` },
  });
  expect(res.statusCode, res.body).toBe(200);
  return auditVerificationSchema.parse(res.json());
}

/** The system page's integrity section, as the auditor sees it. */
async function chainStatus(id: string): Promise<{ text: string; anchor: string | undefined }> {
  const res = await s.t.api.inject({
    method: 'GET',
    url: `/systems/${id}`,
    headers: { authorization: `Bearer ${auditor}` },
  });
  expect(res.statusCode).toBe(200);
  const p = /<p[^>]*id="chain-status"[^>]*>([\s\S]*?)<\/p>/.exec(res.body);
  const anchor = /id="chain-anchor" data-status="(\w+)"/.exec(res.body)?.[1];
  return { text: (p?.[1] ?? '').replace(/<[^>]+>/g, ''), anchor };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real binary, as an auditor's job runs it. */
function cli(args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, AI_LIFECYCLE_API_KEY: auditor };
  delete env.AI_LIFECYCLE_URL;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, '--server', server, ...args],
      { cwd: workDir, env, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        if (typeof code !== 'number') reject(new Error(`ai-lifecycle ${args.join(' ')}: ${err?.message}\n${stderr}`));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}
const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** Writes to the events table as someone with database access would: past its append-only trigger. */
async function asIntruder(write: (trx: Transaction<Database>) => Promise<void>) {
  await s.t.store.db.transaction().execute(async (trx) => {
    await sql`alter table events disable trigger events_append_only`.execute(trx);
    await write(trx);
    await sql`alter table events enable trigger events_append_only`.execute(trx);
  });
}

/** A system with an assessment on record, settled: every step recorded, its head anchored by the workflow. */
async function assessedSystem(id: string) {
  await s.w.register(id);
  await s.w.assess(id);
  await s.w.until(id, (v) => v.stage === 'bias_testing', 'bias testing');
  return barrier(s.t, id);
}

describe('GET /api/v1/systems/:id/audit/verify', () => {
  it('an intact trail verifies, its head matching the anchor the workflow keeps', async () => {
    const id = 'audit-intact';
    await assessedSystem(id);
    const events = await s.t.store.listEvents(id);
    const last = events.at(-1)!;
    const v = await verify(id);
    expect(v).toMatchObject({ ok: true, count: events.length, head: { seq: last.seq, hash: last.hash } });
    expect(v.brokenAtSeq).toBeUndefined();
    // The workflow anchored the head the database committed last: nothing is vouched for by the chain alone.
    expect(v.anchored).toMatchObject({ status: 'matched', seq: last.seq, hash: last.hash, storedHash: last.hash });
    expect(v.anchored.afterAnchor).toBe(0);
    expect((await s.w.view(id)).auditHead).toEqual({ seq: last.seq, hash: last.hash });
    // Governance leads and admins read it too; the AI team and the risk owner do not.
    const lead = await s.t.keys({ email: 'lead@example.org', role: 'governance-lead' });
    expect((await verify(id, lead)).ok).toBe(true);
    expect((await verify(id, s.t.adminKey)).ok).toBe(true);
    const { owner, riskOwner } = example('register.json');
    for (const [role, email] of [
      ['ai-team', owner],
      ['risk-owner', riskOwner],
    ] as const) {
      // Each sees the system (its team's, its risk ownership), so the refusal is the route's rule, not a 404.
      const key = await s.t.keys({ email, role });
      const res = await s.t.api.inject({
        method: 'GET',
        url: `/api/v1/systems/${id}/audit/verify`,
        headers: { authorization: `Bearer ${key}` },
      });
      expect(res.statusCode, `${role}: ${res.body}`).toBe(403);
    }
    const unknown = await s.t.api.inject({
      method: 'GET',
      url: '/api/v1/systems/audit-no-such-system/audit/verify',
      headers: { authorization: `Bearer ${auditor}` },
    });
    expect(unknown.statusCode).toBe(404);

    expect(await chainStatus(id)).toMatchObject({ text: expect.stringContaining('Verified:'), anchor: 'matched' });
    const r = await cli(['audit', 'verify', id]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain(`audit trail of ${id}: verified (${events.length} records, head #${last.seq}`);
    const help = await cli(['--help']);
    expect(help.stdout).toMatch(/^ {2}audit verify <id> /m);
    expect(help.stdout).toMatch(/^ {2}8 {2}audit verify: /m);
  });

  it('a row edited in the database is caught by the chain at its seq', async () => {
    const id = 'audit-tampered';
    await assessedSystem(id);
    const before = await s.t.store.listEvents(id);
    const assessed = before.find((e) => e.type === 'assessment_submitted')!;
    await asIntruder(async (trx) => {
      await trx
        .updateTable('events')
        .set({ payload: JSON.stringify({ ...(assessed.payload as object), riskTier: 'minimal' }) })
        .where('systemId', '=', id)
        .where('seq', '=', assessed.seq)
        .execute();
    });

    const v = await verify(id);
    expect(v).toMatchObject({ ok: false, count: before.length, brokenAtSeq: assessed.seq, brokenBy: 'chain' });
    expect(v.reason).toMatch(/hash does not match the event content/);
    // The stored hashes were left alone, so the anchored one is still there: only the chain shows this edit.
    expect(v.anchored.status).toBe('matched');

    const page = await chainStatus(id);
    expect(page.text).toContain(`Broken: the hash chain fails at record #${assessed.seq} of ${before.length}`);

    const r = await cli(['audit', 'verify', id]);
    expect(r.code, show(r)).toBe(8);
    expect(r.stdout).toContain(`BROKEN at record #${assessed.seq} (the hash chain)`);
    const json = await cli(['--json', 'audit', 'verify', id]);
    expect(json.code, show(json)).toBe(8);
    expect(JSON.parse(json.stdout)).toEqual(v);
  });

  it('a consistent rewrite of the whole chain fools the chain and is caught by the anchor, which does not follow it', async () => {
    const id = 'audit-rewritten';
    await assessedSystem(id);
    const original = await s.t.store.listEvents(id);
    const anchoredHead = original.at(-1)!;
    const assessed = original.find((e) => e.type === 'assessment_submitted')!;
    // The assessment made out to be low risk, and every hash from the first record on recomputed to match.
    await asIntruder(async (trx) => {
      let prevHash = GENESIS_HASH;
      for (const ev of original) {
        const payload =
          ev.seq === assessed.seq ? { ...(ev.payload as object), riskTier: 'minimal', score: 1 } : ev.payload;
        const hash = computeEventHash(prevHash, { ...ev, payload });
        await trx
          .updateTable('events')
          .set({ payload: JSON.stringify(payload), prevHash, hash })
          .where('systemId', '=', id)
          .where('seq', '=', ev.seq)
          .execute();
        prevHash = hash;
      }
    });
    const rewritten = await s.t.store.listEvents(id);
    expect(rewritten.find((e) => e.seq === assessed.seq)?.payload).toMatchObject({ riskTier: 'minimal' });
    expect(rewritten.at(-1)!.hash).not.toBe(anchoredHead.hash);
    // The chain alone cannot tell.
    expect(await s.t.store.verifyChain(id)).toEqual({ ok: true, count: original.length });

    const v = await verify(id);
    expect(v).toMatchObject({
      ok: false,
      count: original.length,
      head: { seq: anchoredHead.seq, hash: rewritten.at(-1)!.hash },
      brokenAtSeq: anchoredHead.seq,
      brokenBy: 'anchor',
      anchored: {
        status: 'mismatch',
        seq: anchoredHead.seq,
        hash: anchoredHead.hash,
        storedHash: rewritten.at(-1)!.hash,
        afterAnchor: 0,
      },
    });
    expect(v.reason).toMatch(/^the chain was rewritten: record #\d+ has hash .* but the lifecycle workflow anchored/);
    expect(v.reason).toMatch(/only the anchor kept outside the database shows it/);
    expect((await chainStatus(id)).text).toContain('Broken: the chain was rewritten');
    const r = await cli(['audit', 'verify', id]);
    expect(r.code, show(r)).toBe(8);
    expect(r.stdout).toContain(`BROKEN at record #${anchoredHead.seq} (the anchor): the chain was rewritten`);

    // The lifecycle goes on, and its next steps are recorded on top of the rewritten chain; the workflow sees the
    // database no longer holds its anchor and keeps it, instead of adopting the forged chain's new head.
    await s.w.evidence(id);
    await s.w.until(id, (x) => x.stage === 'risk_treatment', 'risk treatment');
    const after = await barrier(s.t, id);
    const all = await s.t.store.listEvents(id);
    expect(all.length).toBeGreaterThan(original.length);
    expect(after.some((e) => e.type === 'bias_evidence_submitted')).toBe(true);
    expect((await s.w.view(id)).auditHead).toEqual({ seq: anchoredHead.seq, hash: anchoredHead.hash });
    expect(await s.t.store.verifyChain(id)).toEqual({ ok: true, count: all.length });
    const later = await verify(id);
    expect(later).toMatchObject({
      ok: false,
      count: all.length,
      head: { seq: all.at(-1)!.seq },
      brokenAtSeq: anchoredHead.seq,
      brokenBy: 'anchor',
      anchored: { status: 'mismatch', seq: anchoredHead.seq, hash: anchoredHead.hash },
    });
    // The records written after the anchored one are vouched for by the chain alone, and the answer counts them.
    expect(later.anchored.afterAnchor).toBe(all.length - anchoredHead.seq);
  });

  it('records removed from the end of the chain are caught by the anchor', async () => {
    const id = 'audit-truncated';
    await assessedSystem(id);
    const events = await s.t.store.listEvents(id);
    const cut = events.slice(-2).map((e) => e.seq);
    await asIntruder(async (trx) => {
      await trx.deleteFrom('events').where('systemId', '=', id).where('seq', 'in', cut).execute();
    });
    // What is left chains correctly.
    expect(await s.t.store.verifyChain(id)).toEqual({ ok: true, count: events.length - 2 });
    const v = await verify(id);
    expect(v).toMatchObject({
      ok: false,
      count: events.length - 2,
      brokenAtSeq: cut[0],
      brokenBy: 'anchor',
      anchored: { status: 'missing', seq: events.at(-1)!.seq, storedHash: null },
    });
    expect(v.reason).toMatch(/records were removed/);
  });

  it('the anchor carries over into the next run with the state continue-as-new passes on', async () => {
    const id = 'audit-next-run';
    await s.w.toActive(id);
    await barrier(s.t, id);
    const handle = s.t.env.client.workflow.getHandle(workflowIdFor(id));
    const first = (await handle.describe()).runId;
    const head = (await s.t.store.listEvents(id)).at(-1)!;
    // Active, the review months away: the run ends at the policy's interval with nothing else to do.
    await s.t.env.sleep(durationMs(s.t.policy.runs.continueAsNewAfter) + 3_600_000);
    const next = await nextRun(s.t, id, first);
    const v = await verify(id);
    expect(v).toMatchObject({ ok: true, anchored: { status: 'matched', seq: head.seq, hash: head.hash } });
    // The new run has recorded nothing: the anchor it answers with is the one its input carried over.
    const history = await s.t.env.client.workflow.getHandle(workflowIdFor(id), next.runId).fetchHistory();
    const scheduled = (history.events ?? []).flatMap((e) =>
      e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : [],
    );
    expect(scheduled).not.toContain('recordBatch');
    expect((await s.t.store.listEvents(id)).at(-1)!.seq).toBe(head.seq);
  });
});
