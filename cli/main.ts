/**
 * `ai-lifecycle`: the command AI teams run in their CI pipelines against the AI impact assessment API — register a
 * system, send its assessment, evidence and plan, announce a new model version with its evidence files, show the
 * status, and wait for the approval outcome with an exit code a CI job can branch on. Exit codes: see errors.ts and
 * USAGE below. Files are checked against the server's own zod schemas (domain/) before anything is sent.
 */
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { impactAssessmentSchema } from '../domain/assessment.js';
import { biasEvidenceSchema } from '../domain/evidence.js';
import {
  authorityNotificationSchema,
  incidentSchema,
  newVersionSchema,
  retirementSchema,
  reviewSchema,
} from '../domain/operations.js';
import { roleSchema, roles, teamSchema } from '../api/auth/principal.js';
import { emailSchema, registrationSchema, systemIdSchema } from '../domain/system.js';
import { treatmentPlanSchema } from '../domain/treatment.js';
import { AUDIT_USAGE, verifyAuditTrail } from './audit.js';
import { CliError, EXIT, describeError, usageError } from './errors.js';
import { EVIDENCE_PACK_USAGE, downloadEvidencePack } from './evidence-pack.js';
import { FAIRNESS_USAGE, fairnessCommand } from './fairness.js';
import { COLUMN_FLAGS } from './prediction-flags.js';
import { PREDICTION_ONLY_FLAGS, PREDICTIONS_USAGE, acceptFairnessRisk, uploadPredictions } from './predictions.js';
import { readJsonFile, validate, zodIssues } from './files.js';
import { API_KEY_ENV, Api } from './http.js';
import { age, decisionLine, outcomeOf, pendingLine, renderStatus, type SystemView } from './view.js';

const DEFAULT_SERVER = 'http://localhost:3000';

const USAGE = `Usage: ai-lifecycle [--server URL] [--api-key KEY] [--json] <command> [arguments]

Drives an AI system through its ISO/IEC 42001 impact assessment lifecycle from a terminal or a CI job.

Commands:
  register <file.json>          register an AI system and start its lifecycle
  assess <id> <file.json>       submit the impact assessment
  evidence <id> <file.json>     submit bias-testing evidence (metrics)
${PREDICTIONS_USAGE}
  plan <id> <file.json>         submit the risk-treatment plan
  new-version <id> --version V [--by EMAIL] [--unchanged|--changed] --summary TEXT [--evidence FILE ...]
                                announce a new model version (--unchanged, the default: purpose and context
                                of use are unchanged, the assessment carries over; --changed: full
                                reassessment), then submit each evidence file for it, in order (a later one
                                replaces an earlier one); a file without modelVersion gets --version
  status <id>                   stage, risk tier, model version, pending approval, review due date,
                                failed metrics and the last decisions (--json: the API's full view)
  wait <id> [--timeout 30m] [--interval 5s]
                                poll until the approval outcome; the exit code says which (below)
  fria <id> <file.json>         record the FRIA notification to the authority (EU AI Act Art. 27(3))
  review <id> <file.json>       submit a periodic review
  incident <id> <file.json>     report an incident
  retire <id> <file.json>       retire the system
  whoami                        the credential's principal: e-mail, role, team
  keys create --name N --email E --role ROLE [--team T] [--expires DATE-TIME]
                                (admin) create an API key; it is printed this once, the server keeps only
                                its hash. ROLE: ${roles.join(', ')};
                                an ai-team key needs --team, the others take none; --expires is an
                                ISO 8601 date-time
  keys list                     (admin) every key: id, prefix, holder, role, team, created, expiry,
                                revocation and last use (never the secret)
  keys revoke <key id>          (admin) revoke a key for good; its sessions end with it
${AUDIT_USAGE}
${EVIDENCE_PACK_USAGE}
${FAIRNESS_USAGE}

Options:
  --server URL   the API (default: $AI_LIFECYCLE_URL, else ${DEFAULT_SERVER})
  --api-key KEY  the API key every request sends (default: $${API_KEY_ENV}, the documented way: a flag
                 shows in the process list). \`npm start\` writes its admin key to $DATA_DIR/admin-api-key:
                   export ${API_KEY_ENV}=$(cat .data/admin-api-key)
  --json         print exactly one JSON object on stdout, errors included
                 ({"error", "message", "issues"?, "stage"?}); progress and diagnostics go to stderr
  -h, --help     show this help

Files are checked against the server's schemas before anything is sent; every bad field is named.
Actors come from the API key: a file (or --by) may leave out who acted (submittedBy, notifiedBy, …), and
the server records the key's holder; naming anyone else is refused (422 actor_mismatch).
Durations: 90s, 5m, 2h, 1d (a bare number is seconds).

Exit codes:
  0  done; wait: approved, the system is active
  1  server or network error: server unreachable, no answer within 30 s, HTTP 5xx
  2  usage or bad input: unknown command or option, missing or invalid file, no API key, or a request
     the server refused: HTTP 400/422 (each field named), 401 (unknown, revoked or expired key),
     403 (the key's role may not do this), 404 (unknown system, or another team's), 409 (wrong stage
     or already registered; the current stage is printed)
  3  wait: sent back to the AI team (rejected or changes requested); the approver's comment is printed
  4  wait: the system is rejected (prohibited practice) or retired
  5  wait: no outcome within --timeout; evidence --predictions --wait: the analysis still running
  6  evidence --predictions --wait: the analysis failed (the reason and the lines are printed), or its
     verdicts did not become the system's evidence
  7  evidence --predictions --wait: a gating fairness verdict fails or is inconclusive (and its risk is
     not accepted): approval is held
  8  audit verify: the audit trail is broken (its hash chain, or its head against the workflow's anchor);
     evidence-pack: the pack's verification found it broken (the pack is still written)
`;

const options = {
  server: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'string' },
  by: { type: 'string' },
  summary: { type: 'string' },
  unchanged: { type: 'boolean' },
  changed: { type: 'boolean' },
  evidence: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  interval: { type: 'string' },
  'api-key': { type: 'string' },
  name: { type: 'string' },
  email: { type: 'string' },
  role: { type: 'string' },
  team: { type: 'string' },
  expires: { type: 'string' },
  label: { type: 'string' },
  prediction: { type: 'string' },
  sensitive: { type: 'string' },
  positive: { type: 'string' },
  weight: { type: 'string' },
  score: { type: 'string' },
  format: { type: 'string' },
  level: { type: 'string' },
  resamples: { type: 'string' },
  seed: { type: 'string' },
  'min-group-size': { type: 'string' },
  thresholds: { type: 'string' },
  mode: { type: 'string' },
  'max-bytes': { type: 'string' },
  'max-malformed': { type: 'string' },
  predictions: { type: 'string' },
  dataset: { type: 'string' },
  'effective-date': { type: 'string' },
  'model-version': { type: 'string' },
  wait: { type: 'boolean' },
  'evidence-version': { type: 'string' },
  metrics: { type: 'string' },
  reasons: { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const;
type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];
type OptionName = keyof typeof options;
const GLOBAL_OPTIONS: OptionName[] = ['server', 'json', 'help', 'api-key'];

/** What a command printed: `json` with --json, else `text`; `exitCode` 0 unless the command says otherwise. */
interface Output {
  json: object;
  /** Null when the command already printed its lines as it went (see Ctx.progress). */
  text: string | null;
  exitCode?: number;
}

interface Ctx {
  api: Api;
  values: Values;
  /** A diagnostic line on stderr (never on stdout, which --json keeps for the one object). */
  note: (line: string) => void;
  /** A line of a multi-step command's result, as it happens: stdout, or with --json (one object) stderr. */
  progress: (line: string) => void;
}

/** The commands that send one JSON file to one endpoint. */
const FILE_COMMANDS: Record<
  string,
  {
    method: 'POST' | 'PUT';
    path: string;
    schema: z.ZodType;
    what: string;
    /** The body's actor field: it may be left out, the server fills in the key's holder. */
    actor: string;
    /** The readable answer; `r` is the API's answer. */
    text: (id: string, r: any) => string;
  }
> = {
  assess: {
    method: 'PUT',
    path: '/impact-assessment',
    schema: impactAssessmentSchema,
    what: 'impact assessment',
    actor: 'submittedBy',
    text: (id, r) =>
      `impact assessment v${r.version} recorded for ${id}: risk tier ${r.riskTier} (score ${r.score}); stage ${r.stage}`,
  },
  evidence: {
    method: 'PUT',
    path: '/bias-evidence',
    schema: biasEvidenceSchema,
    what: 'bias-testing evidence',
    actor: 'submittedBy',
    text: (id, r) => evidenceText(id, r),
  },
  plan: {
    method: 'PUT',
    path: '/treatment-plan',
    schema: treatmentPlanSchema,
    what: 'risk-treatment plan',
    actor: 'submittedBy',
    text: (id, r) =>
      `treatment plan v${r.version} recorded for ${id}: residual score ${r.residualScore}` +
      `${r.requiresRiskAcceptance ? ', needs risk acceptance' : ''}; stage ${r.stage}`,
  },
  fria: {
    method: 'POST',
    path: '/fria-notification',
    schema: authorityNotificationSchema,
    what: 'FRIA notification',
    actor: 'notifiedBy',
    text: (id, r) => `FRIA notification of ${r.notifiedAt} recorded for ${id}; stage ${r.stage}`,
  },
  review: {
    method: 'POST',
    path: '/reviews',
    schema: reviewSchema,
    what: 'periodic review',
    actor: 'performedBy',
    text: (id, r) => `review submitted for ${id}; stage ${r.stage}`,
  },
  incident: {
    method: 'POST',
    path: '/incidents',
    schema: incidentSchema,
    what: 'incident report',
    actor: 'reportedBy',
    text: (id, r) => `incident ${r.incidentId} reported for ${id}; stage ${r.stage}`,
  },
  retire: {
    method: 'POST',
    path: '/retire',
    schema: retirementSchema,
    what: 'retirement',
    actor: 'retiredBy',
    text: (id, r) => `${id} retired${r.retiredAt ? ` at ${r.retiredAt}` : ''}; stage ${r.stage}`,
  },
};

const evidenceText = (id: string, r: { version: number; failed: string[]; stage: string }) =>
  `bias evidence v${r.version} recorded for ${id}: ` +
  `${r.failed.length ? `failed ${r.failed.join(', ')}` : 'all metrics within thresholds'}; stage ${r.stage}`;

/** Which options each command takes besides the global ones. */
const COMMAND_OPTIONS: Record<string, OptionName[]> = {
  register: [],
  status: [],
  'new-version': ['version', 'by', 'summary', 'unchanged', 'changed', 'evidence'],
  wait: ['timeout', 'interval'],
  whoami: [],
  'keys create': ['name', 'email', 'role', 'team', 'expires'],
  'keys list': [],
  'keys revoke': [],
  'audit verify': [],
  'evidence-pack': ['output'],
  fairness: [
    ...COLUMN_FLAGS,
    'level',
    'resamples',
    'seed',
    'min-group-size',
    'thresholds',
    'mode',
    'max-bytes',
    'max-malformed',
  ],
  ...Object.fromEntries(Object.keys(FILE_COMMANDS).map((c) => [c, []])),
  evidence: ['predictions', ...PREDICTION_ONLY_FLAGS],
  'accept-fairness-risk': ['evidence-version', 'metrics', 'reasons'],
};

async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // Known before parsing, so even a usage error answers in JSON when asked to.
  let json = argv.includes('--json');
  const note = (line: string) => process.stderr.write(`${line}\n`);
  try {
    let parsed: { values: Values; positionals: string[] };
    try {
      parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    } catch (err) {
      throw usageError(`${(err as Error).message}; see ai-lifecycle --help`);
    }
    const { values, positionals } = parsed;
    json = values.json === true;
    let [command, ...args] = positionals;
    if (values.help || command === 'help') {
      await write(process.stdout, USAGE);
      return EXIT.OK;
    }
    if (!command) throw usageError('no command given; see ai-lifecycle --help');
    if (command === 'keys') {
      const [sub, ...rest] = args;
      if (!sub || !COMMAND_OPTIONS[`keys ${sub}`]) {
        throw usageError(`keys needs create, list or revoke${sub ? `, not "${sub}"` : ''}; see ai-lifecycle --help`);
      }
      command = `keys ${sub}`;
      args = rest;
    }
    if (command === 'audit') {
      const [sub, ...rest] = args;
      if (sub !== 'verify')
        throw usageError(`audit needs verify${sub ? `, not "${sub}"` : ''}; see ai-lifecycle --help`);
      command = 'audit verify';
      args = rest;
    }
    const allowed = COMMAND_OPTIONS[command];
    if (!allowed) throw usageError(`unknown command "${command}"; see ai-lifecycle --help`);
    for (const name of Object.keys(values) as OptionName[]) {
      if (values[name] !== undefined && !GLOBAL_OPTIONS.includes(name) && !allowed.includes(name)) {
        throw usageError(`${command} takes no --${name}; see ai-lifecycle --help`);
      }
    }
    const api = new Api(
      values.server ?? (env['AI_LIFECYCLE_URL'] || DEFAULT_SERVER),
      values['api-key'] ?? (env[API_KEY_ENV]?.trim() || undefined),
    );
    const progress = (line: string) => (json ? note(line) : process.stdout.write(`${line}\n`));
    const output = await run(command, args, { api, values, note, progress });
    if (json) await write(process.stdout, `${JSON.stringify(output.json, null, 2)}\n`);
    else if (output.text !== null) await write(process.stdout, `${output.text}\n`);
    return output.exitCode ?? EXIT.OK;
  } catch (err) {
    if (!(err instanceof CliError)) note(`${(err as Error)?.stack ?? err}`);
    const e =
      err instanceof CliError
        ? err
        : new CliError(EXIT.SERVER, {
            error: 'internal',
            message: `unexpected error: ${(err as Error)?.message ?? err}`,
          });
    if (json) await write(process.stdout, `${JSON.stringify(e.body, null, 2)}\n`);
    await write(process.stderr, `${describeError(e.body)}\n`);
    return e.exitCode;
  }
}

async function run(command: string, args: string[], ctx: Ctx): Promise<Output> {
  switch (command) {
    case 'register': {
      const [file] = expectArgs(command, args, ['<file.json>']);
      const body = await readChecked(file, registrationSchema, 'registration');
      const r = await ctx.api.request<{ id: string; stage: string; url: string }>('POST', ctx.api.systemPath(), body);
      return { json: r, text: `registered ${r.id}: stage ${r.stage}\n  ${r.url}` };
    }
    case 'status': {
      const [id] = expectArgs(command, args, ['<id>']);
      const view = await getSystem(ctx.api, checkId(id));
      return { json: view, text: renderStatus(view) };
    }
    case 'new-version':
      return newVersion(args, ctx);
    case 'wait':
      return waitForOutcome(args, ctx);
    case 'whoami': {
      expectArgs(command, args, []);
      const me = await ctx.api.request<Me>('GET', '/api/v1/me');
      return {
        json: me,
        text: `${me.email}: role ${me.role}${me.team ? `, team ${me.team}` : ''} (${me.id}, via ${me.via.replace('_', ' ')})`,
      };
    }
    case 'keys create':
      return createKey(args, ctx);
    case 'fairness': {
      const [file] = expectArgs(command, args, ['<file>']);
      return fairnessCommand(file, ctx.values);
    }
    case 'evidence': {
      if (ctx.values.predictions === undefined) {
        const given = PREDICTION_ONLY_FLAGS.filter((f) => ctx.values[f] !== undefined);
        if (given.length) throw usageError(`evidence takes --${given[0]} only with --predictions FILE`);
        return fileCommand(command, args, ctx);
      }
      const [id] = expectArgs('evidence --predictions', args, ['<id>']);
      return uploadPredictions(checkId(id), ctx.values, {
        api: ctx.api,
        note: ctx.note,
        timeoutMs: parseDuration(ctx.values.timeout ?? '30m', '--timeout', 0),
        intervalMs: parseDuration(ctx.values.interval ?? '2s', '--interval', 100),
      });
    }
    case 'accept-fairness-risk': {
      const [id] = expectArgs(command, args, ['<id>']);
      return acceptFairnessRisk(checkId(id), ctx.values, ctx.api);
    }
    case 'audit verify': {
      const [id] = expectArgs(command, args, ['<id>']);
      return verifyAuditTrail(checkId(id), ctx.api);
    }
    case 'evidence-pack': {
      const [id] = expectArgs(command, args, ['<id>']);
      return downloadEvidencePack(checkId(id), ctx.values.output, ctx.api);
    }
    case 'keys list': {
      expectArgs(command, args, []);
      const r = await ctx.api.request<{ keys: KeyView[] }>('GET', '/api/v1/keys');
      return { json: r, text: renderKeys(r.keys) };
    }
    case 'keys revoke': {
      const [id] = expectArgs(command, args, ['<key id>']);
      const k = await ctx.api.request<KeyView>('DELETE', `/api/v1/keys/${encodeURIComponent(id)}`);
      return {
        json: k,
        text: `revoked ${k.id} (${k.prefix}…, ${k.name}, ${k.email}) at ${k.revokedAt}; it and its sessions no longer sign in`,
      };
    }
    default:
      return fileCommand(command, args, ctx);
  }
}

/** The commands that send one JSON file to one endpoint (FILE_COMMANDS). */
async function fileCommand(command: string, args: string[], ctx: Ctx): Promise<Output> {
  const spec = FILE_COMMANDS[command]!;
  const [id, file] = expectArgs(command, args, ['<id>', '<file.json>']);
  checkId(id);
  const body = await readChecked(file, spec.schema, spec.what, spec.actor);
  const r = await ctx.api.request(spec.method, ctx.api.systemPath(id, spec.path), body);
  return { json: r, text: spec.text(id, r) };
}

/**
 * `new-version`: every input is checked first (options, each evidence file and its model version), then the
 * version is announced and each evidence file submitted for it.
 */
async function newVersion(args: string[], ctx: Ctx): Promise<Output> {
  const [id] = expectArgs('new-version', args, ['<id>']);
  checkId(id);
  const { values } = ctx;
  for (const [name, what] of [
    ['version', 'V'],
    ['summary', 'TEXT'],
  ] as const) {
    if (values[name] === undefined) throw usageError(`new-version needs --${name} ${what}`);
  }
  if (values.unchanged && values.changed) throw usageError('new-version takes --unchanged or --changed, not both');
  if (!values.changed && !values.unchanged) {
    ctx.note(
      'new-version: purpose and context of use taken as unchanged (--unchanged); --changed asks for a full reassessment',
    );
  }
  const announcement = {
    version: values.version!,
    ...(values.by !== undefined ? { submittedBy: values.by } : {}),
    purposeAndContextUnchanged: !values.changed,
    changeSummary: values.summary!,
  };
  const checked = newVersionSchema.safeParse(checkable(announcement, 'submittedBy'));
  if (!checked.success) {
    const flag: Record<string, string> = {
      version: '--version',
      submittedBy: '--by',
      changeSummary: '--summary',
      purposeAndContextUnchanged: '--unchanged/--changed',
    };
    const issues = zodIssues(checked.error).map((i) => ({ ...i, path: flag[i.path] ?? i.path }));
    throw new CliError(EXIT.USAGE, { error: 'invalid_options', message: 'invalid new-version options', issues });
  }
  const version = checked.data.version;

  const evidence: { file: string; body: Record<string, unknown> }[] = [];
  for (const file of values.evidence ?? []) {
    const raw = await readJsonFile(file);
    const body =
      typeof raw === 'object' && raw !== null && !Array.isArray(raw)
        ? { modelVersion: version, ...(values.by !== undefined ? { submittedBy: values.by } : {}), ...raw }
        : raw;
    const content = validate(
      biasEvidenceSchema,
      checkable(body, 'submittedBy'),
      'bias-testing evidence file',
      file,
    ) as z.output<typeof biasEvidenceSchema>;
    if (content.modelVersion !== version) {
      throw new CliError(EXIT.USAGE, {
        error: 'invalid_file',
        message: `${file} is evidence for model version ${content.modelVersion}, not --version ${version}`,
        issues: [{ path: 'modelVersion', message: `must be ${version} (--version), or left out` }],
        file,
      });
    }
    evidence.push({ file, body: body as Record<string, unknown> });
  }

  const announced = await ctx.api.request<{ modelVersion: string; stage: string }>(
    'POST',
    ctx.api.systemPath(id, '/versions'),
    announcement,
  );
  ctx.progress(`model version ${announced.modelVersion} announced for ${id}; stage ${announced.stage}`);
  const submitted: Record<string, unknown>[] = [];
  let stage = announced.stage;
  for (const { file, body } of evidence) {
    let r: { version: number; failed: string[]; stage: string };
    try {
      r = await ctx.api.request('PUT', ctx.api.systemPath(id, '/bias-evidence'), body);
    } catch (err) {
      if (err instanceof CliError) {
        const done = submitted.length ? ` and ${submitted.length} evidence file(s)` : '';
        err.body.message = `${file}: ${err.body.message} (model version ${version}${done} already recorded)`;
      }
      throw err;
    }
    submitted.push({ file, ...r });
    stage = r.stage;
    ctx.progress(`${file}: ${evidenceText(id, r)}`);
  }
  return {
    json: { id, modelVersion: announced.modelVersion, stage, evidence: submitted },
    text: null,
  };
}

/** `wait`: polls the system until an outcome (exit 0, 3 or 4) or the timeout (exit 5). */
async function waitForOutcome(args: string[], ctx: Ctx): Promise<Output> {
  const [id] = expectArgs('wait', args, ['<id>']);
  checkId(id);
  const timeoutMs = parseDuration(ctx.values.timeout ?? '30m', '--timeout', 0);
  const intervalMs = parseDuration(ctx.values.interval ?? '5s', '--interval', 100);
  const started = Date.now();
  const deadline = started + timeoutMs;
  let view: SystemView | undefined;
  let failure: CliError | undefined;
  let progress = '';
  for (;;) {
    try {
      view = await getSystem(ctx.api, id);
      failure = undefined;
      const o = outcomeOf(view);
      const base = {
        id,
        outcome: o.outcome,
        stage: view.stage,
        waitedSeconds: Math.round((Date.now() - started) / 1000),
      };
      if (o.outcome === 'approved') {
        const due = view.reviewDueAt ? `; next review due ${view.reviewDueAt.slice(0, 10)}` : '';
        return {
          exitCode: o.exitCode,
          json: { ...base, exitCode: o.exitCode, approvedAt: view.approvedAt, reviewDueAt: view.reviewDueAt },
          text: `${id} is approved: stage active${view.approvedAt ? `, approved ${view.approvedAt}` : ''}${due}`,
        };
      }
      if (o.outcome === 'sent_back') {
        const d = o.decision;
        const text = d
          ? `${id} was sent back to ${view.stage}: ${d.decision.replace('_', ' ')} by ${d.approver}\n` +
            `comment: ${d.comment || '(none)'}`
          : `${id} was sent back to ${view.stage}: ${o.reason}`;
        return {
          exitCode: o.exitCode,
          json: { ...base, exitCode: o.exitCode, reason: o.reason, decision: d, comment: d?.comment ?? null },
          text,
        };
      }
      if (o.outcome === 'rejected' || o.outcome === 'retired') {
        return {
          exitCode: o.exitCode,
          json: { ...base, exitCode: o.exitCode, reason: o.reason },
          text: `${id} is ${o.outcome}${o.reason ? `: ${o.reason}` : ''}`,
        };
      }
      const now = `${id}: ${view.stage}${view.pendingApproval ? `, waiting for ${pendingLine(view)!.replace(/, requested .*$/, '')}` : ''}`;
      if (now !== progress) ctx.note(now);
      progress = now;
    } catch (err) {
      // Before the first answer, or for a refusal (unknown system): stop. A blip while waiting: retry.
      if (!(err instanceof CliError) || !view || err.exitCode !== EXIT.SERVER) throw err;
      if (!failure) ctx.note(`${err.message}; retrying every ${ctx.values.interval ?? '5s'}`);
      failure = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      if (failure) throw failure;
      const pending = view.pendingApproval ? pendingLine(view) : null;
      return {
        exitCode: EXIT.TIMEOUT,
        json: {
          id,
          outcome: 'timeout',
          exitCode: EXIT.TIMEOUT,
          stage: view.stage,
          waitedSeconds: Math.round((Date.now() - started) / 1000),
          pendingApproval: view.pendingApproval,
        },
        text:
          `timed out after ${ctx.values.timeout ?? '30m'}: ${id} is in stage ${view.stage}` +
          (pending ? `, waiting for ${pending}` : '') +
          (!pending && view.transitions.at(-1) ? ` (since ${age(view.transitions.at(-1)!.at)} ago)` : ''),
      };
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, left)));
  }
}

/** GET /api/v1/me and the key views of /api/v1/keys, as api/routes/auth.ts answers them. */
interface Me {
  id: string;
  email: string;
  role: string;
  team: string | null;
  via: string;
}
interface KeyView {
  id: string;
  prefix: string;
  name: string;
  email: string;
  role: string;
  team: string | null;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** The key create body's fields, as flags (the server's 422 names body fields). */
const KEY_FLAGS: Record<string, string> = {
  name: '--name',
  email: '--email',
  role: '--role',
  team: '--team',
  expiresAt: '--expires',
};

/**
 * `keys create`: the flags are checked here for what they are on their own (role, e-mail, team slug, a date-time);
 * the server checks how they go together (a team for ai-team only, an expiry in the future) and its 422 is told
 * in flags too.
 */
async function createKey(args: string[], ctx: Ctx): Promise<Output> {
  expectArgs('keys create', args, []);
  const { values } = ctx;
  for (const [name, what] of [
    ['name', 'N'],
    ['email', 'E'],
    ['role', 'ROLE'],
  ] as const) {
    if (values[name] === undefined) throw usageError(`keys create needs --${name} ${what}`);
  }
  const issues: { path: string; message: string }[] = [];
  const check = (flag: string, schema: z.ZodType, value: string | undefined) => {
    if (value === undefined) return;
    const r = schema.safeParse(value);
    if (!r.success) issues.push(...zodIssues(r.error).map((i) => ({ path: flag, message: i.message })));
  };
  check('--email', emailSchema, values.email);
  check('--role', roleSchema, values.role);
  check('--team', teamSchema, values.team);
  if (values.expires !== undefined && Number.isNaN(Date.parse(values.expires))) {
    issues.push({ path: '--expires', message: 'must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z' });
  }
  if (issues.length) {
    throw new CliError(EXIT.USAGE, { error: 'invalid_options', message: 'invalid keys create options', issues });
  }
  const body = {
    name: values.name,
    email: values.email,
    role: values.role,
    ...(values.team !== undefined ? { team: values.team } : {}),
    ...(values.expires !== undefined ? { expiresAt: values.expires } : {}),
  };
  let k: KeyView & { key: string };
  try {
    k = await ctx.api.request('POST', '/api/v1/keys', body);
  } catch (err) {
    if (err instanceof CliError && err.body.issues) {
      err.body.issues = err.body.issues.map((i) => ({
        ...i,
        path: KEY_FLAGS[i.path.replace(/^body\./, '')] ?? i.path,
      }));
      err.body.message = err.body.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    }
    throw err;
  }
  const holder = `${k.email}, role ${k.role}${k.team ? `, team ${k.team}` : ''}`;
  return {
    json: k,
    text: [
      `API key ${k.id} created for ${holder}:`,
      '',
      `  ${k.key}`,
      '',
      'This is the only time the key is shown: the server keeps only its hash. Hand it to its holder now.',
      `  id       ${k.id}`,
      `  prefix   ${k.prefix}`,
      `  name     ${k.name}`,
      `  expires  ${k.expiresAt ?? 'never'}`,
    ].join('\n'),
  };
}

/** `keys list`: one row per key, the columns of KeyView without the creator. */
function renderKeys(keys: KeyView[]): string {
  if (!keys.length) return 'no API keys';
  const when = (iso: string | null) => (iso ? iso.replace(/:\d\d\.\d+Z$/, 'Z').replace('T', ' ') : '—');
  const header = ['id', 'prefix', 'name', 'e-mail', 'role', 'team', 'created', 'expires', 'revoked', 'last used'];
  const rows = keys.map((k) => [
    k.id,
    k.prefix,
    k.name,
    k.email,
    k.role,
    k.team ?? '—',
    when(k.createdAt),
    when(k.expiresAt),
    when(k.revokedAt),
    when(k.lastUsedAt),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function getSystem(api: Api, id: string): Promise<SystemView> {
  return api.request<SystemView>('GET', api.systemPath(id));
}

/** Stands in for the caller while a body without its actor is checked; it is never sent. */
const THE_CALLER = 'the-api-key-holder@example.invalid';

/** `body` as the server will check it: an actor field left out is the caller's, filled in by the server. */
function checkable(body: unknown, actor?: string): unknown {
  if (!actor || typeof body !== 'object' || body === null || Array.isArray(body) || Object.hasOwn(body, actor)) {
    return body;
  }
  return { ...body, [actor]: THE_CALLER };
}

async function readChecked(file: string, schema: z.ZodType, what: string, actor?: string): Promise<unknown> {
  const body = await readJsonFile(file);
  validate(schema, checkable(body, actor), what, file);
  // The file as written goes to the server, which parses it with the same schema.
  return body;
}

function expectArgs<const N extends string[]>(command: string, args: string[], names: N): { [K in keyof N]: string } {
  if (args.length < names.length) {
    throw usageError(
      `${command} needs ${names.slice(args.length).join(' ')}: ai-lifecycle ${command} ${names.join(' ')}`,
    );
  }
  if (args.length > names.length) {
    throw usageError(`${command} takes ${names.join(' ')}; unexpected "${args.slice(names.length).join(' ')}"`);
  }
  return args as { [K in keyof N]: string };
}

function checkId(id: string | undefined): string {
  const parsed = systemIdSchema.safeParse(id);
  if (!parsed.success) {
    throw new CliError(EXIT.USAGE, {
      error: 'usage',
      message: `"${id}" is not a system id: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
    });
  }
  return parsed.data;
}

const UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "90s", "5m", "2h", "1d", "500ms", or a bare number of seconds. */
function parseDuration(text: string, option: string, minMs: number): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNITS[(match[2] ?? 's') as keyof typeof UNITS] : NaN;
  if (!Number.isFinite(ms) || ms < minMs) {
    throw usageError(
      `${option} ${text} is not a duration like 90s, 5m, 2h or 1d${minMs ? ` (at least ${minMs} ms)` : ''}`,
    );
  }
  return ms;
}

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

process.exit(await main(process.argv.slice(2)));
