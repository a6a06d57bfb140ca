import type { Client } from '@temporalio/client';
import type { BlobStore } from '../blobs/index.js';
import type { PayloadCodec } from '@temporalio/common';
import type { Policy } from '../domain/policy.js';
import type { PersonKeys } from '../payloads/person-keys.js';
import type { Store } from '../store/index.js';
import type { AuthContext } from './auth/plugin.js';
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
  /** The codec the Temporal client encrypts payloads with; /codec/* offers it to the Temporal UI. */
  payloadCodec: PayloadCodec;
  /** TEMPORAL_UI_ORIGIN: the one browser origin allowed to call /codec/*. */
  temporalUiOrigin?: string;
  /** PERSON_KEY_SECRET's HMAC: how people are published to and found in Temporal's visibility store. */
  personKeys: PersonKeys;
  /** Sessions, OIDC and the metrics scrape token (api/auth). */
  auth: AuthContext;
  /** Where uploads go (BLOB_DIR), by SHA-256: the worker's computeFairness reads them from the same store. */
  blobs: BlobStore;
}
