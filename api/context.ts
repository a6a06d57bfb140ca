import type { Client } from '@temporalio/client';
import type { Policy } from '../domain/policy.js';
import type { Store } from '../store/index.js';
import type { ReadinessReport } from './readiness.js';

/** What the HTTP layer needs; built once by whichever process hosts the API. */
export interface ApiContext {
  client: Client;
  store: Store;
  policy: Policy;
  taskQueue: string;
  publicBaseUrl: string;
  approvalLinkSecret: string;
  /** Signs every decision sent to Temporal (links/decision-proofs.ts); the worker checks with the same key. */
  decisionSigningKey: string;
  governanceLead: string;
  /** Whether a request can complete now (api/readiness.ts: a report of each check); /healthz answers it. */
  isReady: () => Promise<boolean | ReadinessReport>;
}
