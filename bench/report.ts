/** Small helpers the product sections share: percentiles, rounding, and the table of figures with their targets. */
import type { Section, Target } from './section.js';

/** The p-th percentile (0–100) by the nearest-rank method: a value that was measured, never interpolated. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export const median = (values: readonly number[]) => percentile(values, 50);

export const round = (x: number, digits = 2) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export interface Figure {
  /** The JSON key, as `section.key`. */
  key: string;
  value: number | string | null;
  unit?: string;
  what: string;
}

function show(v: number | string | null, unit = ''): string {
  if (v === null) return '–';
  if (typeof v === 'string') return v;
  const s = Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(round(v, Math.abs(v) < 10 ? 2 : 1));
  return unit ? `${s} ${unit}` : s;
}

/** A line per figure (key, value, what it is), then the targets, each met (✓), not met (✗) or not judged (–). */
export function renderSection(title: string, figures: Figure[], targets: Target[], notes: string[] = []): string {
  const rows = figures.map((f) => [f.key, show(f.value, f.unit), f.what]);
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  return [
    title,
    '',
    ...rows.map((r) => `  ${r[0]!.padEnd(w0)}  ${r[1]!.padStart(w1)}  ${r[2]}`),
    ...(notes.length ? ['', ...notes.map((n) => `  ${n}`)] : []),
    '',
    'targets (issue 12):',
    ...targets.map((t) => {
      const mark = t.met === null ? '–' : t.met ? '✓ met' : '✗ not met';
      const value = t.value === null ? 'not measured' : show(t.value);
      return `  ${mark}: ${t.description}: ${value}${t.note ? ` (${t.note})` : ''}`;
    }),
  ].join('\n');
}

/** The section with its own wall time (`seconds`, including the product's start when it was the first to need it). */
export function timed(section: Section): Section {
  return {
    ...section,
    async run(ctx) {
      const t0 = performance.now();
      const result = await section.run(ctx);
      const seconds = round((performance.now() - t0) / 1000, 1);
      return {
        ...result,
        json: { ...(result.json as object), seconds },
        text: `${result.text}\n(${section.name}: ${seconds} s)`,
      };
    },
  };
}
