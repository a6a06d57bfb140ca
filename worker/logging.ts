import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Env } from '../config/env.js';

const LEVELS: Record<Env['LOG_LEVEL'], LogLevel | null> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'ERROR',
  silent: null,
};

/**
 * The Temporal SDK logs through its own runtime; this makes it follow LOG_LEVEL like the API does.
 * `core` sets the Rust core's own filter separately (its WARN lines can be expected noise, e.g. in replay tests).
 * Call once per process, before any connection or worker.
 */
export function installTemporalLogging(level: Env['LOG_LEVEL'], opts: { core?: LogLevel } = {}): void {
  const mapped = LEVELS[level];
  const coreLevel = opts.core ?? mapped ?? 'ERROR';
  Runtime.install({
    logger: mapped ? new DefaultLogger(mapped) : new DefaultLogger('ERROR', () => {}),
    telemetryOptions: { logging: { filter: { core: coreLevel, other: coreLevel } } },
  });
}
