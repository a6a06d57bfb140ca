/**
 * `npm run bench [-- SECTION...] [--json] [--quick] [--rows N[,N...]]`: the project's benchmarks. No section named
 * runs them all. Without --json it prints the machine, then each section's table and targets; with --json exactly
 * one JSON object on stdout ({machine, <section>: ..., targets: {<section>: [...]}}), progress going to stderr.
 * (`npm run` prints its own banner on stdout: use `npm run --silent bench -- --json` when piping the JSON.)
 *
 * Generated inputs are kept in .bench/ (or BENCH_DATA_DIR) for the next run. A section is an entry in SECTIONS
 * (bench/section.ts says what it provides).
 */
import { cpus, freemem, loadavg, release, totalmem, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { projectRoot } from '../embedded/temporal-binaries.js';
import { approvalSection } from './approval.js';
import { fairnessSection } from './fairness.js';
import { lifecycleSection } from './lifecycle.js';
import { stopSharedProduct } from './product.js';
import { BenchError, type Section } from './section.js';
import { viewsSection } from './views.js';
import { workerSection } from './worker-memory.js';

export const SECTIONS: readonly Section[] = [
  fairnessSection,
  lifecycleSection,
  approvalSection,
  viewsSection,
  workerSection,
];

const USAGE =
  'usage: npm run bench [-- SECTION...] [--json] [--quick] [--rows N[,N...]]\n' +
  '  --json    print one JSON object on stdout (progress on stderr)\n' +
  '  --quick   small sizes, so that all sections finish in a few minutes\n' +
  "  --rows    the sizes to run, in place of the sections' own\n" +
  'sections:\n' +
  SECTIONS.map((s) => `  ${s.name.padEnd(10)}${s.summary}`).join('\n');

const rowsSchema = z
  .string()
  .transform((s) => s.split(',').map((p) => p.trim().replaceAll('_', '')))
  .pipe(z.array(z.coerce.number<string>().int('a whole number of rows').min(1, 'at least 1 row').max(1e9)).min(1));

function machine() {
  const cpu = cpus()[0];
  return {
    cpus: availableParallelism(),
    model: cpu?.model.trim() ?? 'unknown',
    mhz: cpu?.speed ?? null,
    memory_mb: Math.round(totalmem() / 1024 ** 2),
    free_memory_mb: Math.round(freemem() / 1024 ** 2),
    /** The 1, 5 and 15 minute load averages at the start: other work on the machine slows every figure. */
    load_average: loadavg().map((l) => Math.round(l * 100) / 100),
    node: process.version,
    os: `${process.platform} ${release()} ${process.arch}`,
    date: new Date().toISOString(),
  };
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean', default: false },
        quick: { type: 'boolean', default: false },
        rows: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const unknown = positionals.filter((p) => !SECTIONS.some((s) => s.name === p));
  if (unknown.length) throw new UsageError(`no section ${unknown.map((u) => `"${u}"`).join(', ')}`);
  let rows: number[] | undefined;
  if (values.rows !== undefined) {
    const r = rowsSchema.safeParse(values.rows);
    if (!r.success) throw new UsageError(`--rows ${values.rows}: ${r.error.issues.map((i) => i.message).join('; ')}`);
    rows = r.data;
  }
  const chosen = positionals.length ? SECTIONS.filter((s) => positionals.includes(s.name)) : SECTIONS;
  const log = (m: string) => console.error(m);
  const dataDir = process.env.BENCH_DATA_DIR || join(projectRoot(), '.bench');
  const out: Record<string, unknown> = { machine: machine() };
  const targets: Record<string, unknown> = {};
  const texts: string[] = [];
  try {
    for (const section of chosen) {
      const result = await section.run({ quick: values.quick, rows, dataDir, log });
      out[section.name] = result.json;
      targets[section.name] = result.targets;
      texts.push(result.text);
    }
  } finally {
    // The embedded product the lifecycle, approval, views and worker sections share (bench/product.ts).
    await stopSharedProduct();
  }
  out.targets = targets;
  if (values.json) {
    console.log(JSON.stringify(out));
  } else {
    const m = out.machine as ReturnType<typeof machine>;
    console.log(
      `machine: ${m.cpus} CPUs (${m.model}), ${m.memory_mb} MB, Node ${m.node}, ${m.os}, load ${m.load_average.join(' ')}\n`,
    );
    console.log(texts.join('\n\n'));
  }
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`bench: ${err.message}\n${USAGE}`);
    process.exitCode = 2;
  } else if (err instanceof BenchError) {
    console.error(`bench: ${err.message}`);
    process.exitCode = 1;
  } else {
    throw err;
  }
}
