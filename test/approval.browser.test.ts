/**
 * The README's step 5 in a real browser: the embedded product (`npm start`,
 * with its own dev mailbox because SMTP_URL is unset) on free ports, the
 * system taken to approval over HTTP with the examples, then headless Chromium
 * opens /dev/mailbox, clicks the approver's message, clicks the link inside the
 * message's HTML body and approves on the page: the risk owner at a desktop
 * size, the governance lead at a phone size (390×844). The dev mailbox is an
 * admin's: the desktop signs in with the banner's sign-in link, the phone
 * through the sign-in page with the admin key. The approval pages themselves
 * need no sign-in. Screenshots of every step go to test-artifacts/ (git-ignored).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getFreePort } from '../embedded/dev-server.js';
import type { MailboxMessage } from '../embedded/dev-mailbox.js';
import { example } from './support/examples.js';
import {
  forceStop,
  productEnv,
  spawnProduct,
  waitForBanner,
  waitUntilHealthy,
  type Banner,
  type ProductProcess,
} from './support/product-process.js';
import { ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, chromiumFor, signInWithKey, signInWithLink } from './support/browser.js';
import { tokenRequest } from './support/walk.js';

const START_TIMEOUT_MS = 90_000;

const registration = example('register.json');
const assessment = example('impact-assessment.json');
const SYSTEM_ID: string = registration.id;
const SYSTEM_NAME: string = registration.name;
const RISK_OWNER: string = registration.riskOwner;
const OWNER: string = registration.owner;
const GOVERNANCE_LEAD = 'governance-lead@browser.example.org';
const RISK_OWNER_COMMENT = 'Approved: recruiters keep reading every application.';
const LEAD_COMMENT = 'Approved on my phone; parity gate before the next release.';

const chromiumAvailable = chromiumFor('test/approval.browser.test.ts');

interface SystemView {
  stage: string;
  pendingApproval: { requestId: string; approver: string; step: number } | null;
  decisions: { approver: string; decision: string; comment: string; requestId: string; step?: number }[];
}

describe.skipIf(!chromiumAvailable)('approving in a browser from the dev mailbox (embedded product)', () => {
  let dataDir: string;
  let port: number;
  let baseUrl: string;
  let product: ProductProcess | undefined;
  let banner: Banner;
  let adminKey: string;
  /** The AI team's key (the owner's), made with the admin key: it does the team's part. */
  let teamKey: string | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  let shot = 0;

  const fail = (what: string): never => {
    throw new Error(`${what}\n${product?.tail()}`);
  };
  /** A request with the AI team's key once there is one, else (and for the dev mailbox) the admin's. */
  const api = async (method: string, path: string, body?: unknown, key = teamKey ?? adminKey) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
  };
  const getSystem = async (): Promise<SystemView> => {
    const res = await api('GET', `/api/v1/systems/${SYSTEM_ID}`);
    if (res.status !== 200) fail(`GET system: ${res.status} ${res.text}`);
    return res.json as SystemView;
  };
  const until = async (ok: (v: SystemView) => boolean, what: string): Promise<SystemView> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const v = await getSystem();
      if (ok(v)) return v;
      if (Date.now() > deadline) fail(`timed out waiting for ${what}; last view ${JSON.stringify(v)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  /** Waits (over the dev mailbox's JSON view) for the approval e-mail of `requestId` to `approver`. */
  const approvalMail = async (approver: string, requestId: string): Promise<MailboxMessage> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await api('GET', `/dev/mailbox/messages?to=${encodeURIComponent(approver)}`, undefined, adminKey);
      expect(res.status, res.text).toBe(200);
      const mail = (res.json as MailboxMessage[]).find(
        (m) => m.subject.includes('Approval needed') && m.links.some((l) => tokenRequest(l) === requestId),
      );
      if (mail) return mail;
      if (Date.now() > deadline) fail(`no approval e-mail to ${approver} for ${requestId}: ${res.text.slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const screenshot = async (page: Page, name: string) => {
    const file = join(ARTIFACTS, `approval-browser-${String(++shot).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    dataDir = await mkdtemp(join(tmpdir(), 'ai-impact-browser-'));
    port = await getFreePort();
    baseUrl = `http://localhost:${port}`;
    product = spawnProduct(
      productEnv({
        DATA_DIR: dataDir,
        PORT: String(port),
        TEMPORAL_DEV_PORT: String(await getFreePort()),
        TEMPORAL_UI_PORT: '0',
        LOG_LEVEL: 'warn',
        GOVERNANCE_LEAD_EMAIL: GOVERNANCE_LEAD,
        // No SMTP_URL: the product starts and serves its own dev mailbox.
      }),
    );
    await waitUntilHealthy(product, baseUrl, START_TIMEOUT_MS);
    banner = await waitForBanner(product);
    if (!banner.adminKey) fail(`the first start printed no admin key:\n${banner.text}`);
    adminKey = banner.adminKey!;
    const made = await api('POST', '/api/v1/keys', {
      name: 'ML team',
      email: OWNER,
      role: 'ai-team',
      team: 'recruiting',
    });
    if (made.status !== 201) fail(`POST /api/v1/keys: ${made.status} ${made.text}`);
    teamKey = made.json.key;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, START_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await forceStop(product, dataDir ?? 'ai-impact-browser-never-matches');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  /**
   * The approver's way through the browser: the mailbox list, their message,
   * the link in the message, the approval page, a comment, Approve.
   */
  async function approveInBrowser(
    page: Page,
    who: string,
    requestId: string,
    comment: string,
    label: string,
    next: { says: string; stage: string; waitingOn: string },
  ) {
    const mail = await approvalMail(who, requestId);
    const link = mail.links.find((l) => tokenRequest(l) === requestId)!;
    expect(link.startsWith(`${baseUrl}/approvals/`), link).toBe(true);

    await page.goto(`${baseUrl}/dev/mailbox`);
    await expect.poll(() => page.title()).toBe('Dev mailbox');
    await screenshot(page, `${label}-mailbox`);
    const row = page
      .locator('tbody tr')
      .filter({ hasText: who })
      .filter({ hasText: `Approval needed: ${SYSTEM_NAME}` });
    await row.first().getByRole('link').click();
    await page.waitForURL(`${baseUrl}/dev/mailbox/${mail.id}`);
    expect(await page.locator('h1').textContent()).toContain(`Approval needed: ${SYSTEM_NAME}`);
    // The link inside the message's HTML body (a sandboxed iframe with <base target="_top">): a real click
    // navigates the top page, as it would in a webmail client.
    const body = page.frameLocator('iframe[title="HTML body of the message"]');
    const button = body.getByRole('link', { name: 'Review and decide' });
    await button.waitFor();
    // (Scrolled into view first: a full-page screenshot on a phone leaves an unpainted iframe blank.)
    await page.locator('iframe[title="HTML body of the message"]').scrollIntoViewIfNeeded();
    await screenshot(page, `${label}-message`);
    await button.click();
    await page.waitForURL(/\/approvals\//, { timeout: 15_000 });
    expect(page.url()).toBe(link);

    await expect.poll(() => page.locator('h1').textContent()).toBe(`Approve ${SYSTEM_NAME}?`);
    const text = await page.locator('body').innerText();
    expect(text).toContain(`for ${who}`);
    expect(text).toContain('Bias-testing evidence');
    expect(text).toContain('Risk-treatment plan');
    // The whole of what is approved: the model version, the classification and its rationale, the sources,
    // the suppliers, the FRIA, and the scores in words against the policy's scales.
    expect(text).toContain(`model ${registration.model.name} ${registration.model.version}`);
    expect(text).toContain(`Rationale: ${assessment.euAiAct.rationale}`);
    for (const d of assessment.dataSources) expect(text).toContain(d.name);
    for (const t of assessment.thirdParties) expect(text).toContain(t.responsibilities);
    expect(text).toContain(assessment.fria.specificRisks);
    expect(text).toContain('the highest impact has score 9 of 16; the high tier starts at 9.');
    await screenshot(page, `${label}-approval-page`);
    const layout = await horizontalOverflow(page);
    expect(layout.wide, `elements wider than the ${layout.width}px viewport on the approval page`).toEqual([]);
    expect(layout.scrollWidth).toBeLessThanOrEqual(layout.width);
    expect(await cutWords(page), 'words cut mid-word in the tables').toEqual([]);
    if (page.viewportSize()!.width < 640)
      expect(await stackedTables(page)).toEqual({ unlabelled: [], narrowCaptions: [] });

    await page.getByLabel('Comment (required to reject or request changes)').fill(comment);
    await screenshot(page, `${label}-comment`);
    const posted = page.waitForResponse((r) => r.url() === link && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Approve', exact: true }).click();
    expect((await posted).status()).toBe(200);
    await expect.poll(() => page.locator('h1').textContent()).toBe(`You approved ${SYSTEM_NAME}`);
    const decided = await page.locator('body').innerText();
    expect(decided).toContain(`Comment: ${comment}`);
    // What happens next, and the way to the system page (this browser is signed in), which says the same.
    expect(decided).toContain(next.says);
    await screenshot(page, `${label}-approved`);
    await Promise.all([
      page.waitForURL(`${baseUrl}/systems/${SYSTEM_ID}`),
      page.getByRole('link', { name: 'See the system page' }).click(),
    ]);
    const waiting = page.locator('#waiting-on');
    await expect.poll(() => waiting.getAttribute('data-stage')).toBe(next.stage);
    expect(await waiting.innerText()).toContain(next.waitingOn);
    await screenshot(page, `${label}-system-page`);
  }

  it('the risk owner (desktop) and the governance lead (phone) approve from the dev mailbox', async () => {
    // The AI team's part, over HTTP with the README's examples.
    const created = await api('POST', '/api/v1/systems', registration);
    expect(created.status, created.text).toBe(201);
    for (const [method, path, file] of [
      ['PUT', 'impact-assessment', 'impact-assessment.json'],
      ['PUT', 'bias-evidence', 'bias-evidence.json'],
      ['PUT', 'treatment-plan', 'treatment-plan.json'],
    ] as const) {
      const res = await api(method, `/api/v1/systems/${SYSTEM_ID}/${path}`, example(file));
      expect(res.status, `${method} ${path}: ${res.text}\n${product!.tail()}`).toBe(200);
    }
    const first = await until((v) => v.pendingApproval?.step === 1, 'the risk owner to be asked');
    expect(first.pendingApproval!.approver).toBe(RISK_OWNER);

    // The approval page needs no sign-in: a browser with no session opens the link (and decides nothing).
    const anonymous = await browser!.newContext();
    contexts.push(anonymous);
    const firstMail = await approvalMail(RISK_OWNER, first.pendingApproval!.requestId);
    const anonymousPage = await anonymous.newPage();
    const opened = await anonymousPage.goto(
      firstMail.links.find((l) => tokenRequest(l) === first.pendingApproval!.requestId)!,
    );
    expect(opened?.status()).toBe(200);
    expect(await anonymousPage.locator('h1').textContent()).toBe(`Approve ${SYSTEM_NAME}?`);
    expect(await anonymous.cookies(baseUrl)).toEqual([]);
    // The dev mailbox does: without a session it sends the browser to sign in.
    await anonymousPage.goto(`${baseUrl}/dev/mailbox`);
    expect(new URL(anonymousPage.url()).pathname).toBe('/login');

    // The risk owner, on a desktop, signed in to the mailbox with the banner's one-click link.
    const desktop = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(desktop);
    expect(banner.signInLink.startsWith(`${baseUrl}/login/once/`), banner.signInLink).toBe(true);
    await signInWithLink(desktop, banner.signInLink);
    await approveInBrowser(
      await desktop.newPage(),
      RISK_OWNER,
      first.pendingApproval!.requestId,
      RISK_OWNER_COMMENT,
      'risk-owner',
      {
        says: `Next, ${GOVERNANCE_LEAD} decides on the impact assessment and risk-treatment plan (step 2 of 2)`,
        stage: 'approval',
        waitingOn: `${GOVERNANCE_LEAD}: the decision on the impact assessment and risk-treatment plan, step 2 of 2`,
      },
    );

    const second = await until((v) => v.pendingApproval?.step === 2, 'the governance lead to be asked');
    expect(second.pendingApproval!.approver).toBe(GOVERNANCE_LEAD);
    expect(second.decisions).toHaveLength(1);

    // The governance lead, on a phone.
    const phone = await browser!.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    contexts.push(phone);
    // The link was single-use: the phone signs in with the key, on the sign-in page.
    await signInWithKey(phone, baseUrl, adminKey);
    await approveInBrowser(
      await phone.newPage(),
      GOVERNANCE_LEAD,
      second.pendingApproval!.requestId,
      LEAD_COMMENT,
      'governance-lead-phone',
      {
        // The walkthrough's deployer is a body governed by public law: the FRIA notification comes first.
        says: `${OWNER} must record that the market surveillance authority was notified of the fundamental rights impact assessment`,
        stage: 'fria_notification',
        waitingOn: `${OWNER}: the FRIA notification`,
      },
    );

    // The chain advanced past approval, with both decisions as taken in the browser.
    const done = await until((v) => v.stage !== 'approval', 'the approval chain to complete');
    expect(done.stage).toBe('fria_notification');
    expect(done.pendingApproval).toBeNull();
    expect(done.decisions.map((d) => [d.approver, d.decision, d.comment])).toEqual([
      [RISK_OWNER, 'approve', RISK_OWNER_COMMENT],
      [GOVERNANCE_LEAD, 'approve', LEAD_COMMENT],
    ]);
    expect(done.decisions.map((d) => d.requestId)).toEqual([
      first.pendingApproval!.requestId,
      second.pendingApproval!.requestId,
    ]);
  });
});

// In-page checks. They run in Chromium; the project compiles without the DOM library, so the page's globals are
// taken from globalThis, untyped.

/** Nothing sticks out sideways (a phone would scroll horizontally). */
const horizontalOverflow = (page: Page) =>
  page.evaluate(() => {
    const { document } = globalThis as any;
    const width: number = document.documentElement.clientWidth;
    const wide: string[] = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > width + 1)
      .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className ? `.${el.className}` : ''}`);
    return { scrollWidth: document.documentElement.scrollWidth as number, width, wide: wide.slice(0, 10) };
  });

/**
 * Words cut in the middle in the approval page's tables: a cell narrower than
 * one of its words (hyphens and spaces are fair places to wrap).
 */
const cutWords = (page: Page) =>
  page.evaluate(() => {
    const { document, getComputedStyle, innerWidth } = globalThis as any;
    const ctx = document.createElement('canvas').getContext('2d');
    const cut: string[] = [];
    for (const cell of document.querySelectorAll('table.words th, table.words td')) {
      // A phone's stacked table hides its header row (visually, for screen readers only).
      if ((cell.closest('thead')?.getBoundingClientRect().width ?? 2) <= 1) continue;
      const style = getComputedStyle(cell);
      ctx.font = style.font;
      const width = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      for (const word of String(cell.textContent ?? '').split(/[\s-]+/)) {
        if (word && ctx.measureText(word).width > width + 1) {
          cut.push(`${word} (${Math.round(width)}px cell at ${innerWidth}px)`);
        }
      }
    }
    return cut;
  });

/** On a phone the tables stack: every cell says which column it is, captions span the width. */
const stackedTables = (page: Page) =>
  page.evaluate(() => {
    const { document, getComputedStyle } = globalThis as any;
    const unlabelled: string[] = [...document.querySelectorAll('table.stack tbody td')]
      .filter((td) => ['none', 'normal', ''].includes(getComputedStyle(td, '::before').content))
      .map((td) => td.textContent);
    const narrowCaptions: string[] = [...document.querySelectorAll('table.stack caption')]
      .filter((c) => c.getBoundingClientRect().width < 0.9 * c.closest('table').getBoundingClientRect().width)
      .map((c) => c.textContent);
    return { unlabelled, narrowCaptions };
  });
