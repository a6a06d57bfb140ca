import { cp, mkdtemp, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { bundleKey, forgetOldBundles, workflowBundle } from '../worker/bundle.js';
import { limitWorkflowThreadHeap } from '../worker/worker.js';

const root = new URL('..', import.meta.url).pathname;

describe('the workflow bundle on disk', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('is keyed by every file of the workflow code and the lock file: a change, a rename or an addition is a new bundle', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'bundle-key-'));
    dirs.push(copy);
    for (const dir of ['workflows', 'domain', 'payloads'])
      await cp(join(root, dir), join(copy, dir), { recursive: true });
    await cp(join(root, 'package-lock.json'), join(copy, 'package-lock.json'));
    const original = await bundleKey(copy);
    expect(await bundleKey(copy)).toBe(original);
    // The copy of today's code has today's key: the folders and the lock file are all it is made from.
    expect(original).toBe(await bundleKey());

    const policy = join(copy, 'domain', 'policy.ts');
    const text = await readFile(policy, 'utf8');
    await writeFile(policy, `${text}\n// one more line\n`);
    const edited = await bundleKey(copy);
    expect(edited).not.toBe(original);
    await writeFile(policy, text);
    expect(await bundleKey(copy)).toBe(original);

    await rename(policy, join(copy, 'domain', 'policy-renamed.ts'));
    expect(await bundleKey(copy)).not.toBe(original);
    await rename(join(copy, 'domain', 'policy-renamed.ts'), policy);

    await writeFile(join(copy, 'payloads', 'extra.ts'), 'export const x = 1;\n');
    expect(await bundleKey(copy)).not.toBe(original);
    await rm(join(copy, 'payloads', 'extra.ts'));

    const lock = join(copy, 'package-lock.json');
    await writeFile(lock, (await readFile(lock, 'utf8')).replace('"lockfileVersion"', '"lockfileVersion" '));
    expect(await bundleKey(copy)).not.toBe(original);
  });

  it('forgets bundles of earlier code untouched for a week, and nothing else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bundle-cache-'));
    dirs.push(dir);
    const eightDaysAgo = new Date(Date.now() - 8 * 24 * 3600_000);
    for (const name of ['workflow-bundle-old.json', 'workflow-bundle-current.json', 'other-old.json']) {
      await writeFile(join(dir, name), '{}');
      await utimes(join(dir, name), eightDaysAgo, eightDaysAgo);
    }
    await writeFile(join(dir, 'workflow-bundle-recent.json'), '{}');
    await forgetOldBundles(join(dir, 'workflow-bundle-current.json'), dir);
    expect((await readdir(dir)).sort()).toEqual([
      'other-old.json',
      'workflow-bundle-current.json',
      'workflow-bundle-recent.json',
    ]);
  });

  it('is the code webpack builds, with the preloaded curve, and is kept under its key for the next process', async () => {
    const bundle = await workflowBundle();
    expect(bundle.code).toMatch(/preloadModules\(\) \{\s*__webpack_require__\([^)]*\.\/workflows\/preload\.ts/);
    expect(bundle.code).toContain('aiSystemLifecycle');
    const kept = JSON.parse(
      await readFile(
        join(root, 'node_modules', '.cache', 'ai-lifecycle', `workflow-bundle-${await bundleKey()}.json`),
        'utf8',
      ),
    ) as { code: string };
    expect(kept.code).toBe(bundle.code);
  });
});

describe("the workflow thread's heap", () => {
  const heapLimitOfNewThread = () =>
    new Promise<number>((resolve, reject) => {
      const t = new Worker(
        "require('node:worker_threads').parentPort.postMessage(require('node:v8').getHeapStatistics().heap_size_limit)",
        { eval: true },
      );
      t.once('message', (n: number) => void t.terminate().then(() => resolve(n / 2 ** 20)));
      t.once('error', reject);
    });

  it('is capped from the cache it holds, for threads made after the worker is configured, not for this one', async () => {
    const mainBefore = (await import('node:v8')).getHeapStatistics().heap_size_limit;
    const uncapped = await heapLimitOfNewThread();
    const mb = limitWorkflowThreadHeap(100);
    expect(mb).toBeLessThan(uncapped);
    const capped = await heapLimitOfNewThread();
    // V8 adds its young generation to the old generation's cap.
    expect(capped).toBeGreaterThanOrEqual(mb);
    expect(capped).toBeLessThan(mb + 100);
    expect(limitWorkflowThreadHeap(200)).toBeGreaterThan(mb);
    expect(await heapLimitOfNewThread()).toBeGreaterThan(capped);
    expect((await import('node:v8')).getHeapStatistics().heap_size_limit).toBe(mainBefore);
  });
});
