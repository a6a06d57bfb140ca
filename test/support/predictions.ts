import type { FastifyInstance } from 'fastify';
/**
 * Predictions files made to order for tests: each group has a number of rows and a selection rate. Half of a
 * group's rows are labelled positive (alternately), and the first `selectionRate × rows` rows are predicted
 * positive, so selection rate, TPR and FPR of a group are all close to its selection rate and demographic parity
 * is set by the rates chosen.
 */
export interface GroupSpec {
  /** The group's value in each sensitive column, e.g. { sex: 'F', region: 'north' }. */
  values: Record<string, string>;
  rows: number;
  selectionRate: number;
}

export interface PredictionRow {
  label: string;
  prediction: string;
  [column: string]: string;
}

export function predictionRows(groups: GroupSpec[]): PredictionRow[] {
  return groups.flatMap((g) => {
    const selected = Math.round(g.rows * g.selectionRate);
    return Array.from({ length: g.rows }, (_, i) => ({
      label: i % 2 === 0 ? '1' : '0',
      prediction: i < selected ? '1' : '0',
      ...g.values,
    }));
  });
}

export function predictionsCsv(groups: GroupSpec[]): string {
  const rows = predictionRows(groups);
  const columns = Object.keys(rows[0] ?? { label: '', prediction: '' });
  return [columns.join(','), ...rows.map((r) => columns.map((c) => r[c] ?? '').join(','))].join('\n') + '\n';
}

export function predictionsJsonl(groups: GroupSpec[]): string {
  return predictionRows(groups)
    .map((r) => JSON.stringify(r))
    .join('\n')
    .concat('\n');
}

/** Two large groups of `column` whose selection rates are far apart: demographic parity ratio 0.25, a sure fail. */
export const unfairGroups = (column = 'sex'): GroupSpec[] => [
  { values: { [column]: 'F' }, rows: 400, selectionRate: 0.1 },
  { values: { [column]: 'M' }, rows: 400, selectionRate: 0.4 },
];

/** Two large groups with the same rates: every metric at its ideal, a sure pass under any interval. */
export const fairGroups = (column = 'sex'): GroupSpec[] => [
  { values: { [column]: 'F' }, rows: 2000, selectionRate: 0.5 },
  { values: { [column]: 'M' }, rows: 2000, selectionRate: 0.5 },
];

/**
 * Every combination of the registration example's sensitive features (gender × age band), `rows` each, with the
 * selection rate `rate` gives the combination: rates by gender alone leave age band at parity.
 */
export function genderAndAgeGroups(rate: (gender: string) => number, rows = 500): GroupSpec[] {
  return ['F', 'M'].flatMap((gender) =>
    ['18-39', '40+'].map((age_band) => ({ values: { gender, age_band }, rows, selectionRate: rate(gender) })),
  );
}

/** The columns of the files above, as the upload's query names them. */
export const PREDICTIONS_QUERY = 'label=label&prediction=prediction&sensitive=gender,age_band';

type Injector = Pick<FastifyInstance, 'inject'>;

/** POSTs a predictions file to a system's upload route, as the AI team's client would. */
export function uploadPredictions(
  api: Injector,
  id: string,
  body: string,
  opts: { query?: string; type?: string; headers?: Record<string, string> } = {},
) {
  return api.inject({
    method: 'POST',
    url: `/api/v1/systems/${id}/bias-evidence/predictions?${opts.query ?? PREDICTIONS_QUERY}`,
    headers: { 'content-type': opts.type ?? 'text/csv', ...opts.headers },
    payload: body,
  });
}

/** Reads the result link until the analysis is no longer running (a barrier on that condition), and returns it. */
export async function analysisEnded(api: Injector, result: string, timeoutMs = 60_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.inject({ method: 'GET', url: result });
    if (res.statusCode !== 200) throw new Error(`GET ${result}: ${res.statusCode} ${res.body}`);
    const analysis = res.json() as Record<string, any>;
    if (analysis.status !== 'running') return analysis;
    if (Date.now() > deadline) throw new Error(`the analysis at ${result} is still running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
