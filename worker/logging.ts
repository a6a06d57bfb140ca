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

/** The Temporal SDK logs through its own runtime; this makes it follow LOG_LEVEL like the API does. Call once, first. */
export function installTemporalLogging(level: Env['LOG_LEVEL']): void {
  const mapped = LEVELS[level];
  Runtime.install({ logger: mapped ? new DefaultLogger(mapped) : new DefaultLogger('ERROR', () => {}) });
}
