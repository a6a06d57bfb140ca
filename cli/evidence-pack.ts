/**
 * `ai-lifecycle evidence-pack <id> -o FILE`: downloads a system's evidence pack (GET
 * /api/v1/systems/:id/evidence-pack) to FILE, then opens it and checks every file against its manifest, so what
 * lands on the auditor's disk is known whole before it is handed on.
 */
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import yauzl from 'yauzl';
import { evidencePackManifestSchema, type EvidencePackManifest } from '../domain/records.js';
import { CliError, EXIT, usageError } from './errors.js';
import type { Api } from './http.js';

export const EVIDENCE_PACK_USAGE = `  evidence-pack <id> -o FILE    download the system's evidence pack (a zip: every record as JSON, the
                                audit trail's verification, report.html, manifest.json with the SHA-256 of
                                each file) and check every file against the manifest; exit 8 when the
                                pack's verification found the audit trail broken`;

/** Every entry of a zip (a file, or its bytes), read whole: a pack's files are JSON records and one page. */
export async function readZip(source: string | Buffer): Promise<Map<string, Buffer>> {
  const options = { lazyEntries: true, strictFileNames: true, validateEntrySizes: true };
  const zip =
    typeof source === 'string'
      ? await yauzl.openPromise(source, options)
      : await yauzl.fromBufferPromise(source, options);
  const entries = new Map<string, Buffer>();
  try {
    for await (const entry of zip.eachEntry()) {
      const chunks: Buffer[] = [];
      for await (const chunk of await zip.openReadStreamPromise(entry)) chunks.push(chunk as Buffer);
      if (entries.has(entry.fileName)) throw new Error(`${entry.fileName} is in the zip twice`);
      entries.set(entry.fileName, Buffer.concat(chunks));
    }
  } finally {
    zip.close();
  }
  return entries;
}

/** What is wrong with a pack's files against its manifest; empty when each matches and none is extra. */
export function manifestProblems(entries: Map<string, Buffer>, manifest: EvidencePackManifest): string[] {
  const problems: string[] = [];
  for (const f of manifest.files) {
    const bytes = entries.get(f.path);
    if (!bytes) problems.push(`${f.path} is listed in the manifest but not in the pack`);
    else if (createHash('sha256').update(bytes).digest('hex') !== f.sha256)
      problems.push(`${f.path} does not have the SHA-256 the manifest gives`);
  }
  const listed = new Set(manifest.files.map((f) => f.path));
  for (const name of entries.keys())
    if (name !== 'manifest.json' && !listed.has(name)) problems.push(`${name} is in the pack but not in the manifest`);
  return problems;
}

export async function downloadEvidencePack(id: string, output: string | undefined, api: Api) {
  if (!output) throw usageError('evidence-pack needs -o FILE (or --output FILE): where to write the zip');
  const path = api.systemPath(id, '/evidence-pack');
  const { bytes } = await api.download(path, output);
  const bad = async (message: string) => {
    // A file that is not the pack it claims to be is not left where an auditor would pick it up.
    await rm(output, { force: true });
    return new CliError(EXIT.SERVER, { error: 'bad_pack', message });
  };
  let entries: Map<string, Buffer>;
  try {
    entries = await readZip(output);
  } catch (err) {
    throw await bad(`GET ${path} answered something that is not a zip (${(err as Error).message})`);
  }
  const raw = entries.get('manifest.json');
  let manifest: EvidencePackManifest;
  try {
    manifest = evidencePackManifestSchema.parse(JSON.parse(raw?.toString('utf8') ?? ''));
  } catch {
    throw await bad(`the zip from GET ${path} has no readable manifest.json: is this the AI lifecycle API?`);
  }
  const problems = manifestProblems(entries, manifest);
  if (problems.length) throw await bad(`the evidence pack does not match its manifest: ${problems.join('; ')}`);
  const head = manifest.chainHead ? `head #${manifest.chainHead.seq} ${manifest.chainHead.hash}` : 'no records';
  const trail = manifest.verification.ok ? 'verified' : 'BROKEN (see records/audit-verification.json)';
  return {
    json: { file: output, bytes, ...manifest },
    text:
      `evidence pack of ${id} written to ${output} (${bytes} bytes, ${manifest.files.length + 1} files, each matching its manifest)\n` +
      `  generated ${manifest.generatedAt}; audit trail ${trail}: ${manifest.verification.count} records, ${head}\n` +
      '  open report.html in a browser to read or print it',
    exitCode: manifest.verification.ok ? EXIT.OK : EXIT.AUDIT_BROKEN,
  };
}
