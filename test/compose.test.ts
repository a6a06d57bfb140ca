import { spawnSync } from 'node:child_process';
import { constants as fsConstants, accessSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { blobDir, envSchema, parseEnv, requireProduction, type Env } from '../config/env.js';
import { allSearchAttributes, searchAttributeCliArgs } from '../domain/search-attributes.js';
import { ensureSearchAttributes, startDevServer } from '../embedded/dev-server.js';
import { cliExecutable, ensureTemporalBinaries } from '../embedded/temporal-binaries.js';

const root = fileURLToPath(new URL('..', import.meta.url));

// ---------------------------------------------------------------- compose helpers

type Service = {
  image?: string;
  build?: unknown;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target: number; published?: number | string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[] };
  volumes?: (string | { type?: string; source?: string; target: string })[];
};
type Compose = { services: Record<string, Service>; volumes?: Record<string, unknown> };

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as Compose;
const services = compose.services;

/** What a user sets before `docker compose up` (the file's header): each secret its own value. */
const REQUIRED_TEST_VALUES: Record<string, string> = {
  APPROVAL_LINK_SECRET: 'compose-test-secret-0123456789abcdefghijklmnop',
  DECISION_SIGNING_KEY: 'compose-test-decision-key-0123456789abcdefghij',
  SESSION_SECRET: 'compose-test-session-secret-0123456789abcdefgh',
  PERSON_KEY_SECRET: 'compose-test-person-key-secret-0123456789abcde',
  PAYLOAD_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
};

/** The settings a process refuses to start without (its requireProduction call), read from its entry point. */
function requiredBy(entryPoint: string): (keyof Env)[] {
  const source = readFileSync(join(root, entryPoint), 'utf8');
  const list = /requireProduction\(env, \[([^\]]*)\]/.exec(source)?.[1];
  if (list === undefined) throw new Error(`${entryPoint} has no requireProduction(env, [...]) call`);
  return [...list.matchAll(/'([A-Z0-9_]+)'/g)].map((m) => m[1] as keyof Env);
}

/**
 * Docker Compose interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`. Unset variables take their
 * default; required ones take `vars` (errors like Compose when missing).
 */
function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (whole, braced: string | undefined, op: string | undefined, arg: string | undefined, bare: string | undefined) => {
      if (whole === '$$') return '$';
      const name = (braced ?? bare)!;
      const v = vars[name];
      const unset = op?.startsWith(':') ? v === undefined || v === '' : v === undefined;
      if (!unset) return v!;
      if (op === ':-' || op === '-') return arg ?? '';
      if (op === ':?' || op === '?') throw new Error(`required variable ${name} is missing: ${arg}`);
      return '';
    },
  );
}

function rawEnv(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const i = entry.indexOf('=');
        return i < 0 ? [entry, ''] : [entry.slice(0, i), entry.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

function resolvedEnv(service: Service, vars: Record<string, string | undefined> = REQUIRED_TEST_VALUES) {
  return Object.fromEntries(Object.entries(rawEnv(service)).map(([k, v]) => [k, interpolate(v, vars)]));
}

function portMappings(service: Service): { published?: number; target: number }[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'object')
      return { target: Number(p.target), published: p.published === undefined ? undefined : Number(p.published) };
    const parts = String(p)
      .replace(/\/(tcp|udp)$/, '')
      .split(':');
    const target = Number(parts.at(-1));
    return { target, published: parts.length > 1 ? Number(parts.at(-2)) : undefined };
  });
}

function dependsOn(service: Service): string[] {
  const d = service.depends_on;
  if (!d) return [];
  return Array.isArray(d) ? d : Object.keys(d);
}

function commandText(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(' ') : (value ?? '');
}

const appServices = ['worker', 'api'] as const;
const setupName = services['temporal-setup'] ? 'temporal-setup' : 'temporal-admin-tools';

describe('docker-compose.yml', () => {
  it('defines every service of the stack', () => {
    for (const name of ['postgresql', 'temporal', setupName, 'temporal-ui', 'mailpit', 'worker', 'api']) {
      expect(services[name], `service ${name}`).toBeDefined();
    }
    expect(services.postgresql!.image).toMatch(/^postgres:16/);
    expect(services.postgresql!.healthcheck?.test).toBeDefined();
    expect(services.temporal!.image).toMatch(/^temporalio\/auto-setup:/);
    expect(services[setupName]!.image).toMatch(/^temporalio\/admin-tools:/);
    expect(services['temporal-ui']!.image).toMatch(/^temporalio\/ui:/);
    expect(services.mailpit!.image).toMatch(/^axllent\/mailpit/);
  });

  it('gives worker and api only environment keys that config/env.ts knows', () => {
    const known = new Set(Object.keys(envSchema.shape));
    for (const name of appServices) {
      const keys = Object.keys(rawEnv(services[name]!));
      expect(keys.length, `${name} has an environment`).toBeGreaterThan(0);
      expect(
        keys.filter((k) => !known.has(k)),
        `unknown keys in ${name}`,
      ).toEqual([]);
    }
  });

  it('gives worker and api an environment that parseEnv accepts', () => {
    for (const name of appServices) {
      const env = parseEnv(resolvedEnv(services[name]!));
      expect(env.TEMPORAL_ADDRESS).toBeDefined();
      expect(env.DATABASE_URL).toBeDefined();
      expect(env.SMTP_URL).toBeDefined();
      expect(env.APPROVAL_LINK_SECRET).toBe(REQUIRED_TEST_VALUES.APPROVAL_LINK_SECRET);
      expect(env.HOST).toBe('0.0.0.0');
    }
  });

  it('gives worker and api the same heartbeat settings, so readiness judges the beats workers send', () => {
    const worker = parseEnv(resolvedEnv(services.worker!));
    const api = parseEnv(resolvedEnv(services.api!));
    expect(rawEnv(services.worker!).WORKER_HEARTBEAT_INTERVAL_MS).toBeDefined();
    expect(rawEnv(services.api!).READINESS_HEARTBEAT_MAX_AGE_MS).toBeDefined();
    expect(api.WORKER_HEARTBEAT_INTERVAL_MS).toBe(worker.WORKER_HEARTBEAT_INTERVAL_MS);
    expect(api.READINESS_HEARTBEAT_MAX_AGE_MS).toBeGreaterThanOrEqual(2 * worker.WORKER_HEARTBEAT_INTERVAL_MS);
    // an override that makes the max age shorter than a beat is refused by name
    expect(() =>
      parseEnv(
        resolvedEnv(services.api!, {
          ...REQUIRED_TEST_VALUES,
          WORKER_HEARTBEAT_INTERVAL_MS: '20000',
          READINESS_HEARTBEAT_MAX_AGE_MS: '10000',
        }),
      ),
    ).toThrow(/READINESS_HEARTBEAT_MAX_AGE_MS/);
  });

  it('mounts one blobs volume at BLOB_DIR in worker and api: the api writes uploads the worker reads', () => {
    const mounts = (service: Service) =>
      (service.volumes ?? []).map((v) => {
        if (typeof v !== 'string') return { source: v.source, target: v.target };
        const [source, target] = v.split(':');
        return { source, target };
      });
    const dirs = appServices.map((name) => blobDir(parseEnv(resolvedEnv(services[name]!))));
    expect(dirs[0]).toBe(dirs[1]);
    for (const name of appServices) {
      const mount = mounts(services[name]!).find((m) => m.target === dirs[0]);
      expect(mount, `${name} mounts a volume at ${dirs[0]}`).toBeDefined();
      // A named volume (not a path on one host), declared at the top level: every replica sees the same files.
      expect(mount!.source).toMatch(/^[a-z][a-z0-9_-]*$/);
      expect(Object.keys(compose.volumes ?? {})).toContain(mount!.source);
    }
    expect(mounts(services.worker!).find((m) => m.target === dirs[0])?.source).toBe(
      mounts(services.api!).find((m) => m.target === dirs[0])?.source,
    );
    // The image gives that folder to the user the processes run as, so a new volume is writable by them.
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(new RegExp(`chown node:node[^\\n]*${dirs[0]}`));
  });

  it('requires every secret instead of shipping a default, naming the one missing', () => {
    for (const name of Object.keys(REQUIRED_TEST_VALUES)) {
      const { [name]: _left, ...others } = REQUIRED_TEST_VALUES;
      for (const service of appServices) {
        expect(() => resolvedEnv(services[service]!, others), `${service} without ${name}`).toThrow(
          new RegExp(`required variable ${name} is missing: set ${name} `),
        );
      }
    }
  });

  it('gives api and worker every setting their processes require (requireProduction)', () => {
    const required = { api: requiredBy('api/main.ts'), worker: requiredBy('worker/main.ts') };
    expect(required.api).toEqual(expect.arrayContaining(['SESSION_SECRET', 'DECISION_SIGNING_KEY']));
    expect(required.worker).toEqual(expect.arrayContaining(['SMTP_URL', 'PAYLOAD_ENCRYPTION_KEYS']));
    for (const name of appServices) {
      const env = parseEnv(resolvedEnv(services[name]!));
      expect(() => requireProduction(env, required[name]), name).not.toThrow();
    }
    // Both sides of each shared secret hold the same value: links, decisions and payloads cross between them.
    const api = resolvedEnv(services.api!);
    const worker = resolvedEnv(services.worker!);
    for (const name of [
      'APPROVAL_LINK_SECRET',
      'DECISION_SIGNING_KEY',
      'PAYLOAD_ENCRYPTION_KEYS',
      'PERSON_KEY_SECRET',
    ]) {
      expect(api[name], name).toBe(worker[name]);
    }
    // The optional settings are left unset unless the user sets them: no OIDC, no scrape token.
    const optional = parseEnv(api);
    expect([optional.OIDC_ISSUER, optional.METRICS_SCRAPE_TOKEN]).toEqual([undefined, undefined]);
  });

  it('publishes the api on the port it listens on, with a /healthz healthcheck', () => {
    const env = parseEnv(resolvedEnv(services.api!));
    const mappings = portMappings(services.api!);
    expect(mappings.map((m) => m.target)).toContain(env.PORT);
    expect(mappings.find((m) => m.target === env.PORT)?.published).toBe(3000);
    const health = commandText(services.api!.healthcheck?.test);
    expect(health).toContain('/healthz');
    expect(health).toContain(`:${env.PORT}/`);
    // /healthz answers 503 (not ok) when a check fails: the probe must fail on the status, not only on no answer
    expect(health).toMatch(/r\.ok|status\s*===?\s*200/);
    expect(env.PUBLIC_BASE_URL).toBe('http://localhost:3000');
  });

  it('points TEMPORAL_ADDRESS at the temporal service and its frontend port', () => {
    for (const name of [...appServices, 'temporal-ui', setupName]) {
      const address = resolvedEnv(services[name]!).TEMPORAL_ADDRESS;
      expect(address, `${name} TEMPORAL_ADDRESS`).toBeDefined();
      const [host, port] = address!.split(':');
      expect(host, name).toBe('temporal');
      expect(services[host!], name).toBeDefined();
      expect(
        portMappings(services.temporal!).map((m) => m.target),
        name,
      ).toContain(Number(port));
    }
    const temporalEnv = resolvedEnv(services.temporal!);
    const appNamespace = parseEnv(resolvedEnv(services.worker!)).TEMPORAL_NAMESPACE;
    expect(temporalEnv.DEFAULT_NAMESPACE).toBe(appNamespace);
    expect(resolvedEnv(services[setupName]!).TEMPORAL_NAMESPACE).toBe(appNamespace);
  });

  it('runs Temporal on the postgresql service with PostgreSQL persistence', () => {
    const t = resolvedEnv(services.temporal!);
    const pg = resolvedEnv(services.postgresql!);
    expect(t.DB).toBe('postgres12');
    expect(t.POSTGRES_SEEDS).toBe('postgresql');
    expect(t.DB_PORT).toBe('5432');
    expect(t.POSTGRES_USER).toBe(pg.POSTGRES_USER);
    expect(t.POSTGRES_PWD).toBe(pg.POSTGRES_PASSWORD);
    const deps = services.temporal!.depends_on as Record<string, { condition?: string }>;
    expect(deps.postgresql?.condition).toBe('service_healthy');
  });

  it("points DATABASE_URL at postgresql, in a database separate from Temporal's", () => {
    const pg = resolvedEnv(services.postgresql!);
    const t = resolvedEnv(services.temporal!);
    for (const name of appServices) {
      const url = new URL(parseEnv(resolvedEnv(services[name]!)).DATABASE_URL!);
      expect(url.hostname).toBe('postgresql');
      expect(url.port || '5432').toBe('5432');
      expect(decodeURIComponent(url.username)).toBe(pg.POSTGRES_USER);
      expect(decodeURIComponent(url.password)).toBe(pg.POSTGRES_PASSWORD);
      const db = url.pathname.slice(1);
      expect(db).toBe(pg.POSTGRES_DB);
      expect([t.DBNAME ?? 'temporal', t.VISIBILITY_DBNAME ?? 'temporal_visibility']).not.toContain(db);
    }
  });

  it("points SMTP_URL at mailpit's SMTP port", () => {
    const mailpitPorts = portMappings(services.mailpit!).map((m) => m.target);
    expect(mailpitPorts).toContain(1025); // Mailpit's SMTP port
    expect(mailpitPorts).toContain(8025); // its web UI
    for (const name of appServices) {
      const url = new URL(parseEnv(resolvedEnv(services[name]!)).SMTP_URL!);
      expect(url.hostname).toBe('mailpit');
      expect(Number(url.port)).toBe(1025);
    }
  });

  it('only depends on services that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const dep of dependsOn(service)) expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
    }
    expect(dependsOn(services.worker!)).toContain(setupName);
    expect(dependsOn(services.api!)).toContain(setupName);
  });

  it('registers exactly the search attributes of domain/search-attributes.ts', () => {
    const setup = services[setupName]!;
    const env = resolvedEnv(setup);
    const pairs = (env.SEARCH_ATTRIBUTES ?? '').split(/\s+/).filter(Boolean);
    expect([...pairs].sort()).toEqual([...searchAttributeCliArgs()].sort());
    expect(pairs.map((p) => p.split('=')[0]).sort()).toEqual(allSearchAttributes.map((k) => k.name).sort());
    const script = interpolate(commandText(setup.entrypoint) + '\n' + commandText(setup.command), {});
    expect(script).toContain('temporal operator search-attribute create');
    expect(script).toMatch(/for \w+ in \$SEARCH_ATTRIBUTES/);
    expect(script).toContain('--namespace "$TEMPORAL_NAMESPACE"');
  });

  it('builds worker and api from a Dockerfile whose commands are package.json scripts', () => {
    const dockerfile = join(root, 'Dockerfile');
    expect(existsSync(dockerfile)).toBe(true);
    expect(existsSync(join(root, '.dockerignore'))).toBe(true);
    const text = readFileSync(dockerfile, 'utf8');
    expect(text).toMatch(/^FROM node:\d+-slim/m);
    expect(text).toMatch(/^RUN npm ci\b/m);
    const scripts = (
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts;

    const cmdLine = text.split('\n').find((l) => l.startsWith('CMD '));
    expect(cmdLine).toBeDefined();
    const commands: string[][] = [JSON.parse(cmdLine!.slice(4)) as string[]];
    for (const name of appServices) {
      const service = services[name]!;
      expect(service.build, `${name} is built from the Dockerfile`).toBeDefined();
      expect(Array.isArray(service.command), `${name} command`).toBe(true);
      commands.push(service.command as string[]);
    }
    expect(commands[1]).toEqual(['npm', 'run', 'worker']);
    expect(commands[2]).toEqual(['npm', 'run', 'api']);
    for (const cmd of commands) {
      expect(cmd.slice(0, 2)).toEqual(['npm', 'run']);
      expect(scripts[cmd[2]!], `script ${cmd[2]} in package.json`).toBeDefined();
    }
  });
});

// ---------------------------------------------------------------- Node version

type Version = [number, number, number];

/**
 * Enough of npm's semver ranges for `engines.node` fields: `a || b`, space-separated comparators
 * (`>=`, `>`, `<=`, `<`, `=`, `^`, `~`, with or without a space after the operator) and x-ranges (`8.*`, `10.x`).
 */
function satisfies(version: Version, range: string): boolean {
  const cmp = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
  return range.split('||').some((alternative) => {
    const tokens = alternative
      .trim()
      .replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1')
      .split(/\s+/)
      .filter(Boolean);
    return tokens.every((token) => {
      const m = /^(>=|<=|>|<|=|\^|~)?v?(\d+|[x*])(?:\.(\d+|[x*]))?(?:\.(\d+|[x*]))?$/.exec(token);
      if (!m) throw new Error(`range ${JSON.stringify(range)}: cannot read ${JSON.stringify(token)}`);
      const op = m[1] ?? '';
      const parts = [m[2], m[3], m[4]];
      const wild = parts.findIndex((p) => p === undefined || p === 'x' || p === '*');
      const v = parts.map((p) => (p === undefined || p === 'x' || p === '*' ? 0 : Number(p))) as Version;
      if (op === '' || op === '=') {
        if (wild === -1) return cmp(version, v) === 0;
        return parts.slice(0, wild).every((p, i) => Number(p) === version[i]);
      }
      if (op === '>=') return cmp(version, v) >= 0;
      if (op === '>') return cmp(version, v) > 0;
      if (op === '<=') return cmp(version, v) <= 0;
      if (op === '<') return cmp(version, v) < 0;
      if (op === '~') return cmp(version, v) >= 0 && version[0] === v[0] && (wild === 1 || version[1] === v[1]);
      // ^: the leftmost non-zero part is fixed
      const fixed = v[0] !== 0 ? 0 : v[1] !== 0 ? 1 : 2;
      return cmp(version, v) >= 0 && version.slice(0, fixed + 1).every((p, i) => p === v[i]);
    });
  });
}

describe('the Node version', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines?: { node?: string } };
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { engines?: Record<string, string> | string[]; optional?: boolean; dev?: boolean }>;
  };
  /** Every locked package that npm ci installs on Linux, with the Node versions it declares it runs on. */
  const declared = Object.entries(lock.packages)
    .filter(([path, p]) => path !== '' && !p.optional && !Array.isArray(p.engines) && p.engines?.node)
    .map(([path, p]) => ({
      name: path.replace(/^.*node_modules\//, ''),
      range: (p.engines as Record<string, string>).node!,
    }));

  it('reads the ranges the lockfile uses', () => {
    expect(satisfies([22, 12, 0], '>=22.12')).toBe(true);
    expect(satisfies([22, 11, 9], '>=22.12')).toBe(false);
    expect(satisfies([20, 19, 0], '^20.19.0 || >=22.12.0')).toBe(true);
    expect(satisfies([21, 0, 0], '^20.19.0 || >=22.12.0')).toBe(false);
    expect(satisfies([23, 1, 0], '^20.0.0 || ^22.0.0 || >=24.0.0')).toBe(false);
    expect(satisfies([20, 0, 0], '>= 20.3.0')).toBe(false);
    expect(satisfies([10, 5, 0], '6.* || 8.* || >= 10.*')).toBe(true);
    expect(satisfies([7, 0, 0], '6.* || 8.* || >= 10.*')).toBe(false);
    expect(declared.length).toBeGreaterThan(50);
  });

  it('engines in package.json is the lowest Node every installed dependency supports', () => {
    const engines = pkg.engines?.node ?? '';
    const floor = /^>=\s*(\d+)\.(\d+)(?:\.(\d+))?$/.exec(engines);
    expect(floor, `engines.node ${JSON.stringify(engines)} is a plain lower bound`).not.toBeNull();
    const lowest: Version = [Number(floor![1]), Number(floor![2]), Number(floor![3] ?? 0)];
    const unsupported = declared.filter((d) => !satisfies(lowest, d.range));
    expect(unsupported, `packages that do not run on Node ${lowest.join('.')}`).toEqual([]);
    // and not lower than it must be: one patch release earlier, something refuses
    const earlier: Version =
      lowest[2] > 0
        ? [lowest[0], lowest[1], lowest[2] - 1]
        : lowest[1] > 0
          ? [lowest[0], lowest[1] - 1, 99]
          : [lowest[0] - 1, 99, 99];
    expect(declared.filter((d) => !satisfies(earlier, d.range)).length).toBeGreaterThan(0);
    expect(lock.packages['']?.engines).toEqual(pkg.engines);
  });

  it('runs the image on a Node line that engines and every installed dependency accept', () => {
    const from = /^FROM node:(\d+)(?:\.(\d+))?(?:\.(\d+))?-slim/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'));
    expect(from, 'FROM node:<major>-slim').not.toBeNull();
    // node:<major>-slim follows that line's newest release; a pinned minor or patch is taken as written
    const image: Version = [Number(from![1]), from![2] ? Number(from![2]) : 9999, from![3] ? Number(from![3]) : 9999];
    expect(satisfies(image, pkg.engines?.node ?? ''), `node:${from![1]} against engines ${pkg.engines?.node}`).toBe(
      true,
    );
    expect(declared.filter((d) => !satisfies(image, d.range))).toEqual([]);
  });
});

// ---------------------------------------------------------------- binaries

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

describe('embedded/temporal-binaries', () => {
  it('provides executable CLI and test-server binaries', async () => {
    const { cli, testServer } = await ensureTemporalBinaries({ quiet: true });
    for (const path of [cli, testServer]) {
      expect(isAbsolute(path)).toBe(true);
      expect(isExecutable(path), path).toBe(true);
    }
    const version = spawnSync(cli, ['--version'], { encoding: 'utf8' });
    expect(version.status).toBe(0);
    expect(version.stdout).toMatch(/temporal version/);
    expect(await cliExecutable()).toEqual({ type: 'existing-path', path: cli });
  });

  it('is fast once installed', async () => {
    await ensureTemporalBinaries({ quiet: true });
    const started = performance.now();
    await ensureTemporalBinaries({ quiet: true });
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('names a TEMPORAL_CLI_PATH that does not exist', async () => {
    const before = process.env.TEMPORAL_CLI_PATH;
    process.env.TEMPORAL_CLI_PATH = '/nonexistent/bin/temporal';
    try {
      await expect(ensureTemporalBinaries({ quiet: true })).rejects.toThrow(
        /TEMPORAL_CLI_PATH.*\/nonexistent\/bin\/temporal.*does not exist/,
      );
    } finally {
      if (before === undefined) delete process.env.TEMPORAL_CLI_PATH;
      else process.env.TEMPORAL_CLI_PATH = before;
    }
  });
});

// ---------------------------------------------------------------- dev server

async function customSearchAttributes(address: string, namespace: string): Promise<string[]> {
  const connection = await Connection.connect({ address });
  try {
    const res = await connection.operatorService.listSearchAttributes({ namespace });
    return Object.keys(res.customAttributes ?? {}).sort();
  } finally {
    await connection.close();
  }
}

describe('embedded/dev-server', () => {
  it('persists workflows and search attributes across a restart on the same db file', async () => {
    const { cli } = await ensureTemporalBinaries({ quiet: true });
    const dir = mkdtempSync(join(tmpdir(), 'dev-server-test-'));
    const dbFile = join(dir, 'nested', 'temporal.db');
    const namespace = 'ai-impact-test';
    const expected = allSearchAttributes.map((k) => k.name).sort();
    const workflowId = `persist-${Date.now()}`;
    const lines: string[] = [];
    try {
      const first = await startDevServer({
        cliPath: cli,
        dbFile,
        headless: true,
        namespace,
        log: (l) => lines.push(l),
      });
      try {
        expect(first.address).toMatch(/^127\.0\.0\.1:\d+$/);
        expect(first.uiUrl).toBeUndefined();
        expect(await customSearchAttributes(first.address, namespace)).toEqual(expected);

        const connection = await Connection.connect({ address: first.address });
        try {
          await new Client({ connection, namespace }).workflow.start('NoWorkerNeeded', {
            taskQueue: 'compose-test',
            workflowId,
            args: [],
          });
        } finally {
          await connection.close();
        }
        // simulate a db file made before an attribute was added to the project
        const removed = spawnSync(
          cli,
          [
            'operator',
            'search-attribute',
            'remove',
            '--address',
            first.address,
            '--namespace',
            namespace,
            '--name',
            'AiOwner',
            '--yes',
          ],
          { encoding: 'utf8' },
        );
        expect(removed.status, removed.stderr).toBe(0);
        expect(await customSearchAttributes(first.address, namespace)).not.toContain('AiOwner');
      } finally {
        await first.stop();
      }
      expect(existsSync(dbFile)).toBe(true);

      const second = await startDevServer({ cliPath: cli, dbFile, headless: true, namespace });
      try {
        expect(await customSearchAttributes(second.address, namespace)).toEqual(expected);
        // types match too: nothing left to create and no conflict
        expect(await ensureSearchAttributes(cli, second.address, namespace)).toEqual([]);

        const connection = await Connection.connect({ address: second.address });
        try {
          const client = new Client({ connection, namespace });
          const description = await client.workflow.getHandle(workflowId).describe();
          expect(description.status.name).toBe('RUNNING');
          const listed: string[] = [];
          for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
            listed.push(wf.workflowId);
          expect(listed).toEqual([workflowId]);
        } finally {
          await connection.close();
        }
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with a clear message when the port is taken', async () => {
    const { cli } = await ensureTemporalBinaries({ quiet: true });
    const server = await startDevServer({ cliPath: cli, headless: true });
    try {
      const port = Number(server.address.split(':')[1]);
      await expect(startDevServer({ cliPath: cli, headless: true, port })).rejects.toThrow(/port \d+ .*not free/);
    } finally {
      await server.stop();
    }
  });
});
