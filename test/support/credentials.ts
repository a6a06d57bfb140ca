import type { FastifyInstance, InjectOptions } from 'fastify';
import type { AuthContext } from '../../api/auth/plugin.js';
import type { Role } from '../../api/auth/principal.js';
import { createApiKey } from '../../api/routes/auth.js';
import type { Store } from '../../store/index.js';

export const TEST_SESSION_SECRET = 'test-session-secret-that-is-long-enough-0123';
/** The team of the harness's default credentials: `default`, the team systems from before access control join. */
export const TEST_TEAM = 'default';

export const testAuth: AuthContext = {
  sessionSecret: TEST_SESSION_SECRET,
  secureCookies: false,
  sessionTtlMs: 3_600_000,
};

export interface KeySpec {
  email: string;
  role: Role;
  team?: string;
}

/** Real API keys, made through the same code an admin's request runs, one per holder. */
export function keyring(store: Store) {
  const made = new Map<string, Promise<string>>();
  return (spec: KeySpec): Promise<string> => {
    const team = spec.role === 'ai-team' ? (spec.team ?? TEST_TEAM) : undefined;
    const id = `${spec.role}/${team ?? ''}/${spec.email}`;
    let key = made.get(id);
    if (!key) {
      key = createApiKey(
        { store },
        { name: `test ${id}`, email: spec.email, role: spec.role, team },
        'test harness',
      ).then((k) => k.key);
      made.set(id, key);
    }
    return key;
  };
}
export type Keyring = ReturnType<typeof keyring>;

/** The fields that name who acted, in the order a body is searched for one. */
const ACTOR_FIELDS = ['submittedBy', 'performedBy', 'reportedBy', 'closedBy', 'retiredBy', 'notifiedBy', 'requestedBy'];

/** Who the harness sends a request as when the test chose no credential: the actor the body names, else an admin. */
export function defaultHolder(payload: unknown, url: string, method: string): KeySpec | undefined {
  const actor = actorOf(payload, url, method);
  return actor ? { email: actor.toLowerCase(), role: 'ai-team' } : undefined;
}

function actorOf(sent: unknown, url: string, method: string): string | undefined {
  let payload = sent;
  if (typeof sent === 'string' || Buffer.isBuffer(sent)) {
    // A body a test wrote by hand (to send bytes JSON.stringify would not) still names its actor.
    try {
      payload = JSON.parse(sent.toString());
    } catch {
      return undefined;
    }
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
  const body = payload as Record<string, unknown>;
  for (const f of ACTOR_FIELDS) if (typeof body[f] === 'string') return body[f];
  if (method === 'POST' && url.split('?')[0] === '/api/v1/systems' && typeof body.owner === 'string') return body.owner;
  return undefined;
}

/**
 * Most tests are about the lifecycle, not access: a request they send with no
 * credential of its own goes as the person its body names (an ai-team key of
 * TEST_TEAM), or else as an admin. The keys are real and checked by the real
 * plugin; tests about access send their own `authorization` or `cookie`
 * header, or `authorization: undefined` to send none at all.
 */
export function authenticateByDefault(api: FastifyInstance, keys: Keyring, admin: () => Promise<string>): void {
  const inject = api.inject.bind(api) as (opts: InjectOptions | string) => ReturnType<FastifyInstance['inject']>;
  const withCredential = async (raw: InjectOptions | string): Promise<InjectOptions> => {
    const opts: InjectOptions = typeof raw === 'string' ? { url: raw } : { ...raw };
    const headers = { ...(opts.headers ?? {}) } as Record<string, unknown>;
    const chosen = 'authorization' in headers || 'cookie' in headers;
    for (const [k, v] of Object.entries(headers)) if (v === undefined) delete headers[k];
    const url = typeof opts.url === 'string' ? opts.url : String(opts.path ?? '');
    // The open doors (approval links, login) are used as their users use them: with no credential.
    const open = /^\/(approvals\/|login|logout|healthz|openapi\.json)/.test(url);
    if (!chosen && !open) {
      const holder = defaultHolder(opts.payload, url, String(opts.method ?? 'GET').toUpperCase());
      const key = holder ? await keys(holder) : await admin();
      headers.authorization = `Bearer ${key}`;
    }
    return { ...opts, headers: headers as InjectOptions['headers'] };
  };
  (api as { inject: unknown }).inject = (raw?: InjectOptions | string) => {
    if (raw === undefined) throw new Error('the test harness wraps inject(options) only, not its chained form');
    return withCredential(raw).then(inject);
  };
}
