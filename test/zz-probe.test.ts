import { afterAll, beforeAll, it } from 'vitest';
import { startLifecycleEnv, type LifecycleEnv } from './support/lifecycle-env.js';
import { walker } from './support/walk.js';
import { example } from './support/examples.js';
import { stateQuery } from '../workflows/messages.js';
let t: LifecycleEnv; let w: ReturnType<typeof walker>;
beforeAll(async () => { t = await startLifecycleEnv(); w = walker(t); });
afterAll(async () => { await t?.close(); });
it('probe', async () => {
  for (let i = 0; i < 6; i++) {
    const id = `probe-${i}`;
    await w.toActive(id);
    await w.call('POST', w.sys(id, '/incidents'), example('incident.json'), 201);
    await w.call('POST', w.sys(id, '/reviews'), example('review.json'), 202);
    await w.approveOpenRequest(id);
    await w.until(id, (v) => v.pendingApproval?.step === 2, 'step 2');
    const h = t.env.client.workflow.getHandle(`ai-system-${id}`);
    const before = (await h.describe()).runId;
    await w.approveOpenRequest(id);
    const s = Date.now();
    let n = 0;
    for (;;) {
      const q0 = Date.now();
      const st = await h.query(stateQuery);
      const d = Date.now() - q0;
      n++;
      if (d > 1000) console.log('SLOW QUERY', i, n, d, st.cycle, st.stage);
      if (st.cycle === 1) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const after = await h.describe();
    console.log('cycle', i, Date.now() - s, n, before !== after.runId, after.historyLength);
  }
}, 600_000);
