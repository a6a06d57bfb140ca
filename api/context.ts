import type { Client } from '@temporalio/client';
import type { Policy } from '../domain/policy.js';
import type { Store } from '../store/index.js';

/** What the HTTP layer needs; built once by whichever process hosts the API. */
export interface ApiContext {
  client: Client;
  store: Store;
  policy: Policy;
  taskQueue: string;
  publicBaseUrl: string;
  approvalLinkSecret: string;
  governanceLead: string;
  /** True once the worker (if hosted here) and the API can serve; /healthz reports it. */
  isReady: () => Promise<boolean>;
}
