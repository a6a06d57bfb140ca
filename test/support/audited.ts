import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { defaultPolicyPath } from '../../config/policy-file.js';
import { parsePolicy, type Policy } from '../../domain/policy.js';
import { example } from './examples.js';
import type { Keyring } from './credentials.js';
import { barrier, type LifecycleEnv, type Walker } from './lifecycle-env.js';

/**
 * What an auditor comes to read, for the tests that walk the README's auditor's path: one system taken to active
 * and then through a serious incident, one still in its assessment, an organisation-level document and an
 * exclusion, so the Statement of Applicability has every status an auditor meets (implemented, partial, no
 * evidence yet, excluded) and the evidence pack has approvals, a FRIA notice and an incident to show.
 */
export const AUDITED = 'audited-cv-screening';
export const IN_PROGRESS = 'audited-intranet-search';
export const EXCLUSION = 'We provide no AI system to customers: every system is for internal use only.';
export const ORGANISATION_DOCUMENT = {
  documentReference: 'POL-AI-001 AI policy v3',
  reviewDate: '2099-01-31',
  note: 'Approved by the board',
};

/** The default policy with the organisation's exclusion of A.10.4 (read at the top of a test file). */
export const auditedPolicy: Policy = parsePolicy({
  ...JSON.parse(readFileSync(defaultPolicyPath, 'utf8')),
  statementOfApplicability: { exclusions: [{ control: 'A.10.4', justification: EXCLUSION }] },
});

/** What the fixture needs of either harness (lifecycle-env.ts on the time-skipping server, dev-env.ts on the dev server). */
export interface AuditedHarness {
  t: Pick<LifecycleEnv, 'api' | 'keys' | 'store'> & { env: { client: LifecycleEnv['env']['client'] } };
  w: Walker;
}

/** Builds the systems and the organisation's entry through the API; returns an auditor's key. */
export async function auditedSystems({ t, w }: AuditedHarness): Promise<{ auditorKey: string }> {
  const auditorKey = await t.keys({ email: 'auditor@example.org', role: 'auditor' });
  await Promise.all([
    (async () => {
      await w.toActive(AUDITED);
      await w.call('POST', w.sys(AUDITED, '/incidents'), example('incident.json'), 201);
    })(),
    (async () => {
      await w.register(IN_PROGRESS, { name: 'Intranet search' });
      await w.assess(IN_PROGRESS);
      await w.until(IN_PROGRESS, (v) => v.stage === 'bias_testing', 'bias testing');
    })(),
    (async () => {
      const res = await t.api.inject({
        method: 'PUT',
        url: '/api/v1/organisation/controls/A.2.2',
        payload: ORGANISATION_DOCUMENT,
      });
      expect(res.statusCode, res.body).toBe(200);
    })(),
  ]);
  // Every step recorded and every e-mail sent: what the auditor reads no longer changes under the test.
  // barrier() reads only the client and the store, which both harnesses have.
  const settle = (id: string) => barrier(t as LifecycleEnv, id);
  await Promise.all([settle(AUDITED), settle(IN_PROGRESS)]);
  return { auditorKey };
}
