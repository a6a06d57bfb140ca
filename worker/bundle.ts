/**
 * The workflow bundle: built once per version of the workflow code, in a thread of its own, and kept on disk.
 * Built in the worker's own thread, webpack left about 200 MB of the process's memory in use for as long as the
 * worker ran, and every start (and every test file that runs a worker) spent seconds of CPU bundling the same
 * code again. The cache is keyed by everything the bundle is made from: the workflow code's folders, the lock
 * file (the SDK, zod, the curve), the builder and its options; any change is a new key, so a stale bundle is
 * never run. A folder that cannot be written (a read-only install) only means building at every start.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../payloads/data-converter.js';

const root = fileURLToPath(new URL('..', import.meta.url));
export const workflowsPath = join(root, 'workflows', 'index.ts');
/** Modules every run shares instead of evaluating its own copy: workflows/preload.ts says which and why. */
const preloadPath = join(root, 'workflows', 'preload.ts');
const builder = new URL('./bundle-thread.mjs', import.meta.url);
/** What the bundle is made from besides the lock file: workflow code imports from these folders only (lint). */
const SOURCES = ['workflows', 'domain', 'payloads'];
const CACHE_DIR = join(root, 'node_modules', '.cache', 'ai-lifecycle');

const options = () => ({
  workflowsPath,
  failureConverterPath: FAILURE_CONVERTER_PATH,
  preloadModules: [preloadPath],
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** The SHA-256 of every input, each named by its path, so a renamed or moved file changes it too. */
export async function bundleKey(from = root): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(options()));
  hash.update(await readFile(builder));
  const files = [join(from, 'package-lock.json')];
  for (const dir of SOURCES) files.push(...(await filesUnder(join(from, dir))));
  for (const file of files) {
    hash.update(`\0${relative(from, file)}\0`);
    hash.update(await readFile(file));
  }
  return hash.digest('hex').slice(0, 32);
}

function buildInThread(): Promise<WorkflowBundleWithSourceMap> {
  return new Promise((resolve, reject) => {
    const thread = new Worker(builder, { workerData: options(), execArgv: [] });
    thread.once('message', (m: { ok: true; code: string; sourceMap: string } | { ok: false; message: string }) => {
      if (m.ok) resolve({ code: m.code, sourceMap: m.sourceMap });
      else reject(new Error(`bundling the workflow code failed: ${m.message}`));
      void thread.terminate();
    });
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`the bundling thread exited (code ${code}) without a bundle`)));
  });
}

async function cached(file: string): Promise<WorkflowBundleWithSourceMap | undefined> {
  try {
    const b = JSON.parse(await readFile(file, 'utf8')) as Partial<WorkflowBundleWithSourceMap>;
    return typeof b.code === 'string' && typeof b.sourceMap === 'string'
      ? { code: b.code, sourceMap: b.sourceMap }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Bundles of earlier code, untouched for a week, go: each is 5 MB, and a checkout makes one per change. */
export async function forgetOldBundles(current: string, dir = CACHE_DIR): Promise<void> {
  const weekAgo = Date.now() - 7 * 24 * 3600_000;
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    if (!name.startsWith('workflow-bundle-') || path === current) continue;
    if ((await stat(path)).mtimeMs < weekAgo) await rm(path, { force: true });
  }
}

async function loadOrBuild(): Promise<WorkflowBundleWithSourceMap> {
  const file = join(CACHE_DIR, `workflow-bundle-${await bundleKey()}.json`);
  const found = await cached(file);
  if (found) return found;
  const built = await buildInThread();
  try {
    // Written aside and renamed: processes starting at once (test files) never read half a bundle.
    await mkdir(CACHE_DIR, { recursive: true });
    const aside = `${file}.${randomUUID()}`;
    await writeFile(aside, JSON.stringify(built));
    await rename(aside, file);
    await forgetOldBundles(file);
  } catch {
    // Not writable here: this process keeps its bundle in memory; the next start builds again.
  }
  return built;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Once per process: test suites and the embedded launcher share it. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= loadOrBuild();
  return bundle;
}
