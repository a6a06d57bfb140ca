/**
 * `ai-lifecycle audit verify <id>`: the audit trail's verification (GET /api/v1/systems/:id/audit/verify) for an
 * auditor's terminal or a scheduled job; a break exits with its own code, so a job can alert on it.
 */
import { auditVerificationSchema, type AuditVerification } from '../domain/audit.js';
import { CliError, EXIT } from './errors.js';
import type { Api } from './http.js';

export const AUDIT_USAGE = `  audit verify <id>             (auditor, governance lead, admin) verify the audit trail: recompute its
                                hash chain, and compare its head with the anchor the lifecycle workflow
                                keeps outside the database (a consistent rewrite of the whole chain breaks
                                that); exit 8 on a break, with the record and the reason`;

export async function verifyAuditTrail(
  id: string,
  api: Api,
): Promise<{ json: AuditVerification; text: string; exitCode: number }> {
  const path = api.systemPath(id, '/audit/verify');
  const parsed = auditVerificationSchema.safeParse(await api.request('GET', path));
  if (!parsed.success) {
    throw new CliError(EXIT.SERVER, {
      error: 'bad_response',
      message: `GET ${path} answered something that is not an audit verification: is this the AI lifecycle API?`,
    });
  }
  const v = parsed.data;
  return { json: v, text: describe(id, v), exitCode: v.ok ? EXIT.OK : EXIT.AUDIT_BROKEN };
}

function describe(id: string, v: AuditVerification): string {
  const head = v.head ? `head #${v.head.seq} ${v.head.hash}` : 'no records';
  const verdict = v.ok
    ? `audit trail of ${id}: verified (${v.count} record${v.count === 1 ? '' : 's'}, ${head})`
    : `audit trail of ${id}: BROKEN at record #${v.brokenAtSeq} (${v.brokenBy === 'anchor' ? 'the anchor' : 'the hash chain'}): ${v.reason}\n  ${v.count} record${v.count === 1 ? '' : 's'}, ${head}`;
  return `${verdict}\n  anchor: ${v.anchored.status}: ${v.anchored.detail}`;
}
