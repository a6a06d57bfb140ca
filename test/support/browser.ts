import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BrowserContext } from 'playwright-core';
import { SESSION_COOKIE } from '../../api/auth/session.js';

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

/**
 * Signs a browser context in as a person does with a key: the sign-in page's form. The session cookie then
 * opens the dashboard and the system pages (approval pages need none). Fails if the form does not sign in.
 */
export async function signInWithKey(context: BrowserContext, baseUrl: string, key: string): Promise<void> {
  const page = await context.newPage();
  try {
    const res = await page.goto(`${baseUrl}/login`);
    if (res?.status() !== 200) throw new Error(`GET /login answered ${res?.status()}`);
    await page.getByLabel('API key').fill(key);
    await Promise.all([page.waitForURL(`${baseUrl}/`), page.getByRole('button', { name: 'Sign in' }).click()]);
    await expectSession(context, baseUrl);
  } finally {
    await page.close();
  }
}

/** Signs a browser context in through a single-use sign-in link (`npm start`'s banner prints one). */
export async function signInWithLink(context: BrowserContext, link: string): Promise<void> {
  const page = await context.newPage();
  try {
    const res = await page.goto(link);
    if (res?.status() !== 200 || new URL(page.url()).pathname !== '/') {
      throw new Error(`the sign-in link led to ${page.url()} (HTTP ${res?.status()}), not the dashboard`);
    }
    await expectSession(context, new URL(link).origin);
  } finally {
    await page.close();
  }
}

async function expectSession(context: BrowserContext, baseUrl: string): Promise<void> {
  const cookies = await context.cookies(baseUrl);
  const session = cookies.find((c) => c.name === SESSION_COOKIE);
  if (!session?.httpOnly || session.sameSite !== 'Strict') {
    throw new Error(`no HttpOnly, SameSite=Strict session cookie after signing in: ${JSON.stringify(cookies)}`);
  }
}
