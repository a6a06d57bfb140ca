import { formatWithOptions } from 'node:util';
import { LogTimestamp, Runtime, type LogEntry, type Logger, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { Env } from '../config/env.js';
import { redactText, redactValue } from '../config/redact.js';

const LEVELS: Record<Env['LOG_LEVEL'], LogLevel | null> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'ERROR',
  silent: null,
};
const SEVERITY: Record<LogLevel, number> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };

/** The SDK's own format (see DefaultLogger), so the lines look as they always did. */
function printEntry({ level, timestampNanos, message, meta }: LogEntry): void {
  const date = new Date(Number(timestampNanos / 1_000_000n));
  const text = meta === undefined ? message : `${message} ${formatWithOptions({ colors: false }, meta)}`;
  process.stderr.write(`${formatWithOptions({ colors: false }, date)} [${level}] ${text}\n`);
}

interface Tap {
  level: LogLevel;
  sink: (entry: LogEntry) => void;
}

/**
 * Every line the worker, its activities and its workflows log passes here:
 * activities build approval links and e-mails, so any of them may quote a
 * token in a message or an error; the line is redacted before anyone sees it.
 */
class RedactingLogger implements Logger {
  readonly taps = new Set<Tap>();
  constructor(private readonly level: LogLevel | null) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const severity = SEVERITY[level];
    const printed = this.level !== null && severity >= SEVERITY[this.level];
    const tapped = [...this.taps].filter((t) => severity >= SEVERITY[t.level]);
    if (!printed && tapped.length === 0) return;
    const { [LogTimestamp]: at, ...rest } = (meta ?? {}) as LogMetadata & { [LogTimestamp]?: bigint };
    const entry: LogEntry = {
      level,
      message: redactText(message),
      meta: Object.keys(rest).length === 0 ? undefined : (redactValue(rest) as LogMetadata),
      timestampNanos: typeof at === 'bigint' ? at : BigInt(Date.now()) * 1_000_000n,
    };
    if (printed) printEntry(entry);
    for (const t of tapped) t.sink(entry);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

let installed: RedactingLogger | undefined;

/**
 * The Temporal SDK logs through its own runtime; this makes it follow LOG_LEVEL like the API does.
 * `core` sets the Rust core's own filter separately (its WARN lines can be expected noise, e.g. in replay tests).
 * Call once per process, before any connection or worker.
 */
export function installTemporalLogging(level: Env['LOG_LEVEL'], opts: { core?: LogLevel } = {}): void {
  const mapped = LEVELS[level];
  const coreLevel = opts.core ?? mapped ?? 'ERROR';
  installed = new RedactingLogger(mapped);
  Runtime.install({
    logger: installed,
    telemetryOptions: { logging: { filter: { core: coreLevel, other: coreLevel } } },
  });
}

/**
 * Hands every worker log line from `level` up, as it would be printed (redacted), to `sink`, whatever LOG_LEVEL
 * prints: how the log scan sees what an operator at debug level would. Returns the function that stops it.
 */
export function tapTemporalLogs(level: LogLevel, sink: (entry: LogEntry) => void): () => void {
  if (!installed) throw new Error('tapTemporalLogs: call installTemporalLogging first');
  const logger = installed;
  const tap = { level, sink };
  logger.taps.add(tap);
  return () => logger.taps.delete(tap);
}
