/**
 * What a benchmark section is to `npm run bench` (bench/main.ts): a name, a line of help, and a run that returns
 * its figures twice, as JSON (under the section's name in `--json`) and as text for the terminal, with the
targets they are judged against. A section writes
 * progress through `log` only (stderr), never to stdout, which carries the one JSON object.
 */

export interface SectionContext {
  /** Small sizes, so that every section together finishes in a few minutes. */
  quick: boolean;
  /** Sizes asked for with --rows, in place of the section's own (full or quick) ones. */
  rows: number[] | undefined;
  /** Where a section keeps generated inputs between runs (`.bench/` by default, gitignored). */
  dataDir: string;
  log: (message: string) => void;
}

/** A figure the project has promised, and whether this run met it (null: the run did not measure it). */
export interface Target {
  name: string;
  description: string;
  /** The size it is judged at, where it names one. */
  rows: number | null;
  value: number | null;
  limit: number;
  met: boolean | null;
  note?: string;
}

export interface SectionResult {
  /** Printed under the section's name in --json. */
  json: unknown;
  /** Printed under targets.<section> in --json. */
  targets: Target[];
  text: string;
}

export interface Section {
  name: string;
  summary: string;
  run(ctx: SectionContext): Promise<SectionResult>;
}

/** A failure that means the figures would be wrong (not merely slow): the run stops with exit code 1. */
export class BenchError extends Error {
  override name = 'BenchError';
}
