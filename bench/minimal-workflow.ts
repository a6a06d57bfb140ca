/**
 * The yardstick of `lifecycle.throughput_ratio`: a workflow that takes the same human inputs as a product lifecycle
 * (the same number of updates and signals, in the same order) and sends the same number of e-mails after each of
 * them, through an activity that sends real SMTP, and does nothing else: no records, no timers, no visibility.
 * Each input's e-mails go out before the next input is awaited, so an approver's link arrives before their click,
 * as it does in the product. Bundled by bench/minimal.ts for a worker of its own (workflow sandbox: no Node APIs).
 */
import { condition, defineSignal, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';

export interface MinimalPlan {
  systemId: string;
  /** To whom every e-mail goes (the bench reads them back from the dev mailbox). */
  to: string;
  /** E-mails sent at the start (index 0) and after each input (index i after input i). */
  mails: number[];
}

export interface MinimalActivities {
  sendMinimalMail(mail: { systemId: string; to: string; step: number; n: number }): Promise<void>;
}

/** One human input, as the product takes most of them. */
export const minimalInputUpdate = defineUpdate<{ step: number }, [{ step: number }]>('minimalInput');
/** One human input, as the product takes a signal. */
export const minimalInputSignal = defineSignal<[{ step: number }]>('minimalSignal');

export async function minimalLifecycle(plan: MinimalPlan): Promise<number> {
  const { sendMinimalMail } = proxyActivities<MinimalActivities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second' },
  });
  let inputs = 0;
  setHandler(minimalInputUpdate, ({ step }) => {
    inputs++;
    return { step };
  });
  setHandler(minimalInputSignal, () => void inputs++);
  for (let step = 0; step < plan.mails.length; step++) {
    if (step > 0) await condition(() => inputs >= step);
    const n = plan.mails[step] ?? 0;
    await Promise.all(
      Array.from({ length: n }, (_, i) => sendMinimalMail({ systemId: plan.systemId, to: plan.to, step, n: i })),
    );
  }
  return inputs;
}
