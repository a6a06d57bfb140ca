import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** Debian's Chromium as root on a closed network: no sandbox, no background calls home. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Screenshots land here (git-ignored) so a run can be looked at afterwards. */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

/**
 * Whether Chromium is installed. Without it a browser test file is skipped
 * with a loud warning on a developer's machine and fails in CI.
 */
export function chromiumFor(testFile: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  const message = `Chromium not found at ${CHROMIUM}: ${testFile} cannot run.`;
  if (process.env['CI']) throw new Error(`${message} (CI is set, so this is a failure)`);
  console.warn(
    `\n${'!'.repeat(90)}\n!!! SKIPPED: ${message}\n!!! Install it (apt-get install chromium) or set CHROMIUM_PATH.\n${'!'.repeat(90)}\n`,
  );
  return false;
}
