/**
 * `npm run bench -- approval` (issue 12): approval click → new stage visible. K systems are driven to their
 * approval stage; each approver's page is opened from the link in their e-mail, then all K press Approve at the
 * same moment, and each system's view (GET /api/v1/systems/:id, as the dashboard and CLI read it) is read every
 * 10 ms until it no longer shows the decided request as open: the time from the POST to that answer. Then the
 * chain's next step, the same way, until the systems leave approval. Quick: one round of 10 systems; full: three.
 */
import { decide, drive, nextApprovalLink, openLink, type Drive } from './drive.js';
import { sharedProduct } from './product.js';
import { percentile, renderSection, round, timed } from './report.js';
import type { Section, Target } from './section.js';

const SIZES = { quick: { systems: 10, rounds: 1 }, full: { systems: 10, rounds: 3 } };
const TARGET_P99_MS = 100;

export const approvalSection: Section = timed({
  name: 'approval',
  summary: 'approval link POST → the new stage visible through the API, p50/p99 (10 clicks at once)',
  async run(ctx) {
    const size = ctx.quick ? SIZES.quick : SIZES.full;
    const k = ctx.rows?.[0] ?? size.systems;
    const rounds = ctx.rows ? 1 : size.rounds;
    const p = await sharedProduct(ctx.log);
    const visible: number[] = [];
    let viewErrors = 0;
    for (let r = 1; r <= rounds; r++) {
      ctx.log(`approval: round ${r} of ${rounds}, ${k} systems to their approval stage`);
      let open: Drive[] = await Promise.all(
        Array.from({ length: k }, (_, i) => drive(p, `ap-${r}-${i + 1}`, { stopAtApproval: true })),
      );
      while (open.length > 0) {
        // Every approver has their page open before anyone presses the button, so the POSTs go at once.
        const pages = await Promise.all(
          open.map(async (d) => openLink(p, d.id, await nextApprovalLink(p, d.id, d.used))),
        );
        ctx.log(`approval: ${open.length} approvals pressed at once`);
        const stages = await Promise.all(open.map((d, i) => decide(p, d, pages[i]!, true)));
        for (const d of open) {
          visible.push(...d.visibleMs.splice(0));
          viewErrors += d.viewErrors;
          d.viewErrors = 0;
        }
        open = open.filter((_, i) => stages[i] === 'approval');
      }
    }
    const json = {
      concurrent: k,
      rounds,
      samples: visible.length,
      visible_p50_ms: round(percentile(visible, 50), 1),
      visible_p99_ms: round(percentile(visible, 99), 1),
      visible_max_ms: round(Math.max(...visible), 1),
      poll_interval_ms: 10,
      /** Reads answered 503 while waiting (the lifecycle did not answer its query in time). */
      view_errors: viewErrors,
    };
    const targets: Target[] = [
      {
        name: 'visible_p99_ms',
        description: `approval click → visible p99 under ${TARGET_P99_MS} ms (${k} clicks at once)`,
        rows: k,
        value: json.visible_p99_ms,
        limit: TARGET_P99_MS,
        met: json.visible_p99_ms < TARGET_P99_MS,
      },
    ];
    const text = renderSection(
      `approval: link POST → the decision visible in GET /api/v1/systems/:id (${k} at once, ${json.samples} clicks)`,
      [
        { key: 'approval.visible_p50_ms', value: json.visible_p50_ms, unit: 'ms', what: 'median' },
        {
          key: 'approval.visible_p99_ms',
          value: json.visible_p99_ms,
          unit: 'ms',
          what: '99th percentile (nearest rank)',
        },
        { key: 'approval.visible_max_ms', value: json.visible_max_ms, unit: 'ms', what: 'slowest click' },
      ],
      targets,
    );
    return { json, targets, text };
  },
});
