/**
 * Exit codes: the contract a CI job branches on (also in `ai-lifecycle --help` and the README).
 *
 *   0  done; for `wait`: approved, the system is active
 *   1  server or network error: server unreachable, no answer in time, HTTP 5xx, an answer that is not the API's
 *   2  usage or bad input: unknown command or option, a missing or invalid file (checked before anything is sent),
 *      or a request the server refused: 400/422 (each field named), 404 (unknown system), 409 (wrong stage or
 *      already registered; the current stage is printed)
 *   3  `wait`: sent back to the AI team after having been in approval (rejected, changes requested, or the approval
 *      was invalidated); the approver's comment is printed
 *   4  `wait`: the system is rejected (prohibited practice) or retired
 *   5  `wait`: no outcome within --timeout; `evidence --predictions --wait`: the analysis still running at --timeout
 *   6  `evidence --predictions --wait`: the analysis failed (the file could not be analysed; the reason is printed)
 *      or its verdicts did not become the system's evidence (superseded)
 *   7  `evidence --predictions --wait`: a gating fairness verdict is fail or inconclusive, and not accepted:
 *      approval is held
 *   8  `audit verify`: the audit trail is broken: its hash chain, or its head against the workflow's anchor (a
 *      consistent rewrite); the record and the reason are printed
 */
export const EXIT = {
  OK: 0,
  SERVER: 1,
  USAGE: 2,
  SENT_BACK: 3,
  ENDED: 4,
  TIMEOUT: 5,
  ANALYSIS_FAILED: 6,
  FAIRNESS_HELD: 7,
  AUDIT_BROKEN: 8,
} as const;

export interface Issue {
  path: string;
  message: string;
}

/** What a failed command prints: with --json exactly this object on stdout, else readable lines on stderr. */
export interface ErrorBody {
  error: string;
  message: string;
  issues?: Issue[];
  stage?: string;
  /** The HTTP status when the server answered. */
  status?: number;
  /** The file a local check refused. */
  file?: string;
}

export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    readonly body: ErrorBody,
  ) {
    super(body.message);
  }
}

export const usageError = (message: string) => new CliError(EXIT.USAGE, { error: 'usage', message });

/** The readable form of an error, for stderr. */
export function describeError(body: ErrorBody): string {
  const issues = body.issues ?? [];
  const listed = issues.map((i) => `${i.path || '(the whole document)'}: ${i.message}`);
  // A server's 422 message is often just its issues joined: then say so once, as a list.
  const head =
    issues.length > 0 && body.message === listed.join('; ') ? 'the server refused the request' : body.message;
  const lines = [`error: ${head}`, ...listed.map((l) => `  ${l}`)];
  if (body.stage) lines.push(`  current stage: ${body.stage}`);
  return lines.join('\n');
}
