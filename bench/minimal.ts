/**
 * The minimal workflow's worker and driver (bench/minimal-workflow.ts): a worker made as the product's is
 * (worker/worker.ts: a bundle built once, the product's payload codec and failure converter, the SDK's default
 * tuning) on a task queue of its own of the product's Temporal server, in this process, and e-mails sent with the
 * product's SMTP mailer to the same dev mailbox.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { createSmtpMailer } from '../activities/mailer.js';
import { dataConverterFor, FAILURE_CONVERTER_PATH, payloadCodec } from '../payloads/data-converter.js';
import { generatePayloadKeys } from '../payloads/keys.js';
import { mailsArrived } from './drive.js';
import {
  minimalInputSignal,
  minimalInputUpdate,
  minimalLifecycle,
  type MinimalActivities,
  type MinimalPlan,
} from './minimal-workflow.js';
import type { Product } from './product.js';
import { BenchError } from './section.js';

const TASK_QUEUE = 'bench-minimal';
const workflowsPath = fileURLToPath(new URL('./minimal-workflow.ts', import.meta.url));

/** The inputs of a product lifecycle, in order, as the minimal workflow repeats them. */
export interface MinimalInputs {
  kinds: ('update' | 'signal')[];
  /** Which inputs wait for the e-mail before them (an approver's link). */
  waits: boolean[];
  /** E-mails at the start and after each input (see MinimalPlan.mails). */
  mails: number[];
}

export interface MinimalRun {
  id: string;
  startedAt: number;
  /** When the last input was answered and every e-mail had arrived. */
  doneAt: number;
}

export interface Minimal {
  run(id: string, inputs: MinimalInputs): Promise<MinimalRun>;
  stop(): Promise<void>;
}

export async function startMinimal(p: Product): Promise<Minimal> {
  const codec = payloadCodec(generatePayloadKeys());
  const dataConverter = dataConverterFor(codec);
  const connection = await NativeConnection.connect({ address: p.temporalAddress });
  const mailer = createSmtpMailer(p.mailbox.url, 'AI Governance <governance@localhost>');
  const activities: MinimalActivities = {
    async sendMinimalMail({ systemId, to, step, n }) {
      await mailer.send({
        to,
        subject: `Minimal workflow ${systemId}: e-mail ${n + 1} of step ${step}`,
        text: `Step ${step} of ${systemId}.`,
        html: `<p>Step ${step} of ${systemId}.</p>`,
        messageId: `<${randomUUID()}@bench.localhost>`,
        headers: { 'X-AI-System': systemId },
      });
    },
  };
  const worker = await Worker.create({
    connection,
    namespace: 'default',
    taskQueue: TASK_QUEUE,
    workflowBundle: await bundleWorkflowCode({
      workflowsPath,
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => console.error(m) },
    }),
    activities,
    dataConverter,
  });
  const running = worker.run();
  const client = new Client({ connection: p.connection, dataConverter });

  return {
    async run(id, inputs) {
      const { kinds, waits, mails } = inputs;
      if (mails.length !== kinds.length + 1)
        throw new BenchError('minimal plan: one e-mail count per input and one before');
      const startedAt = performance.now();
      const plan: MinimalPlan = { systemId: id, to: 'approver@bench.example.org', mails };
      const total = mails.reduce((a, b) => a + b, 0);
      const allMail = mailsArrived(p, id, total);
      const handle = await client.workflow.start(minimalLifecycle, {
        taskQueue: TASK_QUEUE,
        workflowId: `minimal-${id}`,
        args: [plan],
      });
      let before = 0;
      for (let i = 0; i < kinds.length; i++) {
        // The e-mails so far must have arrived before an approver can click (as in the product).
        before += mails[i]!;
        if (waits[i]) await mailsArrived(p, id, before);
        if (kinds[i] === 'signal') await handle.signal(minimalInputSignal, { step: i + 1 });
        else await handle.executeUpdate(minimalInputUpdate, { args: [{ step: i + 1 }] });
      }
      await allMail;
      const doneAt = performance.now();
      // Outside the timed span, as the product's lifecycle, which goes on after active, has no end to wait for.
      const inputsTaken = await handle.result();
      if (inputsTaken !== kinds.length)
        throw new BenchError(`minimal ${id} took ${inputsTaken} of ${kinds.length} inputs`);
      return { id, startedAt, doneAt };
    },
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
      mailer.close();
    },
  };
}
