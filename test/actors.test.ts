/**
 * Every actor on the audit trail is an authenticated principal: the e-mail
 * of the credential that sent the message, with that credential's id beside
 * it; a body that names someone else is refused and records nothing.
 */
import { describe, expect, it } from 'vitest';
import { example } from './support/examples.js';
import { barrier, lifecycleSuite } from './support/lifecycle-env.js';

const s = lifecycleSuite();

describe('actors come from the credential', () => {
  it('records every actor of a walk to active with the id of the key that acted', async () => {
    const id = 'actors-walk';
    await s.w.toActive(id);
    const events = await barrier(s.t, id);
    const keys = new Map(
      (await s.t.store.db.selectFrom('apiKeys').select(['id', 'email']).execute()).map((k) => [`key:${k.id}`, k.email]),
    );
    const acted = events.filter((e) => e.actor !== null);
    expect(acted.length).toBeGreaterThan(5);
    // Decisions came through claimed links: each one is on record with the link that proved it.
    const decisions = events.filter((e) => e.type === 'decision_recorded');
    const proofs = events.filter((e) => e.type === 'decision_authenticated');
    expect(decisions.length).toBeGreaterThan(0);
    expect(proofs.map((p) => (p.payload as { requestId: string }).requestId).sort()).toEqual(
      decisions.map((d) => (d.payload as { requestId: string }).requestId).sort(),
    );
    const approvers = new Set(decisions.map((d) => d.actor));
    for (const e of acted.filter((x) => !approvers.has(x.actor))) {
      const principal = (e.payload as { principal?: string }).principal;
      expect(
        principal ?? `none on ${e.type} ${JSON.stringify(e.payload)}`,
        `${e.type} by ${e.actor} names its credential`,
      ).toMatch(/^key:ak_/);
      expect(keys.get(principal!), `${e.type}: the key of ${principal} belongs to ${e.actor}`).toBe(e.actor);
    }
    // The submissions at least were all made with a key.
    const submitted = acted.filter((e) => e.type === 'assessment_submitted');
    expect(submitted).toHaveLength(1);
    expect((submitted[0]!.payload as { principal?: string }).principal).toMatch(/^key:ak_/);
  });

  it('fills a left-out actor from the credential', async () => {
    const id = 'actors-left-out';
    await s.w.register(id);
    const key = await s.t.keys({ email: 'someone-else@example.org', role: 'ai-team' });
    const { submittedBy: _, ...assessment } = example('impact-assessment.json') as Record<string, unknown>;
    const res = await s.t.api.inject({
      method: 'PUT',
      url: `/api/v1/systems/${id}/impact-assessment`,
      headers: { authorization: `Bearer ${key}` },
      payload: assessment,
    });
    expect(res.statusCode, res.body).toBe(200);
    const events = await barrier(s.t, id);
    const submitted = events.find((e) => e.type === 'assessment_submitted');
    expect(submitted?.actor).toBe('someone-else@example.org');
  });

  it('refuses with 422 actor_mismatch a body naming another actor, and records nothing', async () => {
    const id = 'actors-mismatch';
    await s.w.register(id);
    const before = await barrier(s.t, id);
    const key = await s.t.keys({ email: 'someone-else@example.org', role: 'ai-team' });
    const res = await s.t.api.inject({
      method: 'PUT',
      url: `/api/v1/systems/${id}/impact-assessment`,
      headers: { authorization: `Bearer ${key}` },
      payload: { ...(example('impact-assessment.json') as object), submittedBy: 'ml-team-lead@example.org' },
    });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json()).toMatchObject({
      error: 'actor_mismatch',
      issues: [{ path: 'body.submittedBy', message: expect.stringContaining('someone-else@example.org') }],
    });
    expect(await barrier(s.t, id)).toEqual(before);
  });
});
