import type { Env } from '../../config/env.js';
import { oidcConfig, oidcVerifier } from './oidc.js';
import type { AuthContext } from './plugin.js';

/** The API's authentication settings from the environment; the session secret is the caller's (embedded mode makes one). */
export function authFromEnv(env: Env, sessionSecret: string, baseUrl: string): AuthContext {
  const oidc = oidcConfig(env);
  return {
    sessionSecret,
    secureCookies: baseUrl.startsWith('https:'),
    sessionTtlMs: env.SESSION_TTL_MINUTES * 60_000,
    oidc,
    verifyOidc: oidc && oidcVerifier(oidc),
    metricsToken: env.METRICS_SCRAPE_TOKEN,
  };
}
