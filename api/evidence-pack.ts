import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import yazl from 'yazl';
import { controlMapping } from '../domain/control-mapping.js';
import {
  EVIDENCE_PACK_FORMAT,
  evidencePackManifestSchema,
  type EvidencePackManifest,
  type SystemRecords,
} from '../domain/records.js';
import { verifyAuditTrail } from './audit.js';
import type { ApiContext } from './context.js';
import { notFound } from './errors.js';
import { renderEvidenceReport } from './evidence-report.js';
import { readSystemRecords } from './records.js';

/**
 * The files of a pack besides the manifest and the report: every record as
 * the per-record API answers it, at a stable path.
 */
export function recordFiles(records: SystemRecords, verification: unknown): { path: string; value: unknown }[] {
  const versioned = (dir: string, items: { version: number }[]) => {
    const taken = new Set<string>();
    return items.map((item) => {
      // A lifecycle restarted from its registration counts versions from 1 again: both stay, side by side.
      let path = `records/${dir}/v${item.version}.json`;
      for (let n = 2; taken.has(path); n++) path = `records/${dir}/v${item.version}-${n}.json`;
      taken.add(path);
      return { path, value: item };
    });
  };
  return [
    { path: 'records/registration.json', value: records.registration },
    ...versioned('assessments', records.assessments),
    ...versioned('bias-evidence', records.biasEvidence),
    ...versioned('treatment-plans', records.treatmentPlans),
    { path: 'records/approvals.json', value: records.approvals },
    { path: 'records/fria-notifications.json', value: records.friaNotifications },
    { path: 'records/model-versions.json', value: records.modelVersions },
    { path: 'records/incidents.json', value: records.incidents },
    { path: 'records/reviews.json', value: records.reviews },
    { path: 'records/notifications.json', value: records.notifications },
    { path: 'records/audit-entries.json', value: records.audit },
    { path: 'records/audit-verification.json', value: verification },
  ];
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const jsonFile = (v: unknown) => Buffer.from(`${JSON.stringify(v, null, 2)}\n`, 'utf8');

export interface EvidencePack {
  manifest: EvidencePackManifest;
  /** The zip, written as it is read. */
  stream: Readable;
  fileName: string;
}

/**
 * One system's evidence pack. The audit trail is verified first and the
 * records are built from the very entries it judged, so the pack's audit
 * entries, its verification and its chain head agree. An unknown system
 * answers 404.
 */
export async function buildEvidencePack(
  ctx: Pick<ApiContext, 'client' | 'store'>,
  systemId: string,
  generatedBy: string,
  now = new Date(),
): Promise<EvidencePack> {
  const verified = await verifyAuditTrail(ctx, systemId);
  if (!verified) throw notFound(systemId);
  const records = await readSystemRecords(ctx.store, systemId, verified.events);
  const generatedAt = now.toISOString();

  const files = recordFiles(records, verified.verification).map(({ path, value }) => {
    const bytes = jsonFile(value);
    return { path, bytes };
  });
  const listed = (f: { path: string; bytes: Buffer }) => ({
    path: f.path,
    sha256: sha256(f.bytes),
    bytes: f.bytes.length,
  });
  const report = Buffer.from(
    renderEvidenceReport({
      records,
      verification: verified.verification,
      generatedAt,
      generatedBy,
      files: files.map(listed),
    }),
    'utf8',
  );
  const all = [{ path: 'report.html', bytes: report }, ...files];
  const manifest = evidencePackManifestSchema.parse({
    format: EVIDENCE_PACK_FORMAT,
    systemId,
    generatedAt,
    generatedBy,
    chainHead: verified.verification.head,
    verification: { ok: verified.verification.ok, count: verified.verification.count },
    controlMappingVersion: controlMapping.version,
    files: all.map(listed),
  });

  const zip = new yazl.ZipFile();
  // Every entry carries the generation time, so the same records packed at the same instant give the same bytes.
  zip.addBuffer(jsonFile(manifest), 'manifest.json', { mtime: now });
  for (const f of all) zip.addBuffer(f.bytes, f.path, { mtime: now });
  zip.end();
  const stamp = generatedAt.replace(/[:.]/g, '-');
  return { manifest, stream: zip.outputStream as Readable, fileName: `evidence-pack-${systemId}-${stamp}.zip` };
}
