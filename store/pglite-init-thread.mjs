/**
 * Creates a PGlite database in a fresh folder, in a thread of its own (store/index.ts starts it), then exits.
 * PGlite keeps what its initdb grew for as long as the instance lives: opening a fresh folder in the product's
 * own thread held about 450 MB more for the process's life than opening one that already exists (660 against
 * 208 MB of external memory, measured). The thread's memory goes with it. Plain JavaScript: the thread starts
 * outside any TypeScript loader.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';

const pglite = new PGlite(workerData.dataDir);
pglite.waitReady
  .then(() => pglite.close())
  .then(
    () => parentPort.postMessage({ ok: true }),
    (err) =>
      parentPort.postMessage({ ok: false, message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
