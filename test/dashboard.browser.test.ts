/**
 * The governance dashboard in a real browser (headless Chromium through
 * playwright-core) over the real stack: Temporal dev server, worker, record
 * store, SMTP mailbox and the API listening on a port. Checked at a laptop
 * and a phone viewport: the right systems in the overdue and pending
 * sections, the chart's accessible name, a system link to its timeline, and
 * keyboard-only navigation. Signed in first through the sign-in page with an
 * admin's key; without a session the dashboard sends the browser to sign in.
 * Screenshots go to test-artifacts/.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, chromiumFor, signInWithKey } from './support/browser.js';
import { eventually, startDevEnv, type DevEnv } from './support/dev-env.js';
import { example } from './support/examples.js';

const haveChromium = chromiumFor('test/dashboard.browser.test.ts');

const OVERDUE = 'ui-overdue-hr';
const PENDING = 'ui-pending-search';
const UPCOMING = 'ui-upcoming-chatbot';
const NEW = 'ui-new-forecast';
const OWNER = 'dana@example.org';

let env: DevEnv;
let api: FastifyInstance;
let baseUrl: string;
let browser: Browser;

const assessment = example('impact-assessment.json');
const { fria: _fria, ...withoutFria } = assessment;
const quiet = assessment.impacts.map((i: Record<string, unknown>) => ({ ...i, severity: 'minor', likelihood: 'rare' }));
const lowTier = {
  ...withoutFria,
  euAiAct: { category: 'minimal', rationale: 'Internal search helper; no Annex III use.' },
  decisionsAboutPeople: false,
  impacts: quiet,
};
const mediumTier = {
  ...withoutFria,
  euAiAct: { category: 'limited', rationale: 'A chatbot that must disclose it is an AI system (Art. 50).' },
  decisionsAboutPeople: false,
  impacts: quiet,
};

/** The few DOM members the in-page checks use (the project compiles without the DOM lib). */
interface PageElement {
  textContent: string | null;
  getAttribute(name: string): string | null;
  getBoundingClientRect(): { left: number; top: number; width: number };
}
interface PageWindow {
  document: { documentElement: { scrollWidth: number }; activeElement: PageElement | null };
  innerWidth: number;
  innerHeight: number;
  getComputedStyle(el: PageElement): { outlineStyle: string };
}

describe.skipIf(!haveChromium)('governance dashboard in a browser', () => {
  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    env = await startDevEnv({
      name: 'dashboard-test',
      listen: true,
      policy: (base) => ({
        ...base,
        reviewCadence: { low: '3s', medium: '40d', high: '3s' },
        reviews: { remindBefore: '1s', overdueEscalationEvery: '2s' },
      }),
    });
    ({ api, baseUrl } = env);
    const w = env.walk;

    const [launched] = await Promise.all([
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
      w.toActive(OVERDUE),
      (async () => {
        await w.register(PENDING, { owner: OWNER, name: 'Intranet search' });
        await w.assess(PENDING, lowTier as never);
        await w.plan(PENDING);
      })(),
      (async () => {
        await w.register(UPCOMING, { owner: OWNER, name: 'Support chatbot' });
        await w.assess(UPCOMING, mediumTier as never);
        await w.evidence(UPCOMING);
        await w.plan(UPCOMING);
        await w.approveOpenRequest(UPCOMING);
        await w.until(UPCOMING, (x) => x.stage === 'active', 'active');
      })(),
      w.register(NEW, { name: 'Demand forecasting' }),
    ]);
    browser = launched;
    // What the page shows comes from visibility: wait until it has caught up with the workflows.
    await eventually(
      async () => (await api.inject({ method: 'GET', url: '/api/v1/reviews/overdue' })).json(),
      (b) =>
        expect(b.reviews.map((r: { id: string; escalationsSent: number }) => [r.id, r.escalationsSent >= 1])).toEqual([
          [OVERDUE, true],
        ]),
    );
    await eventually(
      async () => (await api.inject({ method: 'GET', url: '/api/v1/approvals/pending' })).json(),
      (b) => expect(b.approvals.map((a: { id: string }) => a.id)).toEqual([PENDING]),
    );
    await eventually(
      async () => (await api.inject({ method: 'GET', url: '/api/v1/systems?pageSize=10' })).json(),
      (b) => expect(b.systems.length).toBe(4),
    );
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await env?.close();
  });

  const viewports = [
    { name: 'desktop', viewport: { width: 1280, height: 800 }, isMobile: false },
    { name: 'phone', viewport: { width: 390, height: 844 }, isMobile: true },
  ] as const;

  it('sends a browser without a session to the sign-in page, and back to the dashboard once signed in', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${baseUrl}/systems/${OVERDUE}`);
      expect(page.url()).toBe(`${baseUrl}/login?next=${encodeURIComponent(`/systems/${OVERDUE}`)}`);
      expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe('Sign in');
      await page.getByLabel('API key').fill('ail_00000000_not-a-key-anyone-has-0000000000000000000');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => page.locator('[role="alert"]').textContent()).toContain('unknown, revoked or expired');
      await page.getByLabel('API key').fill(env.adminKey);
      await Promise.all([
        page.waitForURL(`${baseUrl}/systems/${OVERDUE}`),
        page.getByRole('button', { name: 'Sign in' }).click(),
      ]);
      expect(await page.getByRole('heading', { level: 1 }).innerText()).toContain('CV screening assistant');
    } finally {
      await context.close();
    }
  });

  async function noHorizontalScroll(page: Page) {
    const { scrollWidth, innerWidth } = await page.evaluate(() => {
      const win = globalThis as unknown as PageWindow;
      return { scrollWidth: win.document.documentElement.scrollWidth, innerWidth: win.innerWidth };
    });
    expect(scrollWidth, 'the page must not scroll sideways').toBeLessThanOrEqual(innerWidth);
  }

  for (const vp of viewports) {
    it(`shows what is late and who holds it, and leads to a timeline (${vp.name})`, async () => {
      const context = await browser.newContext({
        viewport: vp.viewport,
        isMobile: vp.isMobile,
        hasTouch: vp.isMobile,
        deviceScaleFactor: vp.isMobile ? 2 : 1,
      });
      await signInWithKey(context, baseUrl, env.adminKey);
      const page = await context.newPage();
      try {
        const res = await page.goto(`${baseUrl}/`);
        expect(res?.status()).toBe(200);
        expect(await page.locator('html').getAttribute('lang')).toBe('en');
        expect(await page.title()).toBe('AI governance dashboard');
        expect(await page.getByRole('heading', { level: 1, name: 'AI governance dashboard' }).isVisible()).toBe(true);

        const overdue = page.locator('section#overdue');
        expect(await overdue.getByRole('heading', { name: 'Overdue reviews' }).isVisible()).toBe(true);
        expect(await overdue.getByRole('link').allInnerTexts()).toEqual(['CV screening assistant']);
        const overdueRow = overdue.locator(`tr[data-system="${OVERDUE}"]`);
        expect(await overdueRow.locator('td[data-label="Days overdue"]').innerText()).toBe('0');
        expect(
          Number(await overdueRow.locator('td[data-label="Escalations sent"]').innerText()),
        ).toBeGreaterThanOrEqual(1);
        expect(await overdueRow.innerText()).toContain('ml-team-lead@example.org');
        expect(await overdue.locator('caption').innerText()).toBe('1 overdue review, most overdue first');

        const pending = page.locator('section#pending');
        expect(await pending.getByRole('link').allInnerTexts()).toEqual(['Intranet search']);
        const pendingRow = await pending.locator(`tr[data-system="${PENDING}"]`).innerText();
        expect(pendingRow).toContain('head-of-hr@example.org');
        expect(pendingRow).toContain('treatment plan, step 1 of 1');
        expect(pendingRow).toMatch(/\d+ (second|minute)s?/);

        // The chart's accessible name as Chromium computes it, and its data as a table.
        const chart = page.getByRole('img', {
          name: /Periodic reviews due per month over the next 12 months: 1 in total/,
        });
        expect(await chart.count()).toBe(1);
        expect(await chart.isVisible()).toBe(true);
        const upcomingRows = await page.locator('#upcoming-table tbody tr').allInnerTexts();
        expect(upcomingRows).toHaveLength(1);
        expect(upcomingRows[0]).toContain('Support chatbot');
        expect(await page.locator('#n-overdue').innerText()).toBe('1');
        expect(await page.locator('#n-pending').innerText()).toBe('1');
        expect(await page.locator('#n-total').innerText()).toBe('4');

        // Every table has a caption and its headers a scope.
        const tables = await page.locator('table').evaluateAll((ts) =>
          ts.map((t) => ({
            caption: t.querySelector('caption')?.textContent?.trim() ?? '',
            unscoped: [...t.querySelectorAll('th')].filter((th) => !th.getAttribute('scope')).length,
          })),
        );
        expect(tables.length).toBeGreaterThanOrEqual(5);
        for (const t of tables) {
          expect(t.caption).not.toBe('');
          expect(t.unscoped).toBe(0);
        }
        // Form fields have labels.
        for (const name of ['Stage', 'Risk tier', 'Owner e-mail']) {
          expect(await page.getByLabel(name, { exact: true }).isVisible(), name).toBe(true);
        }
        await noHorizontalScroll(page);
        await page.screenshot({ path: join(ARTIFACTS, `dashboard-${vp.name}.png`), fullPage: true });
        await page.screenshot({ path: join(ARTIFACTS, `dashboard-${vp.name}-first-screen.png`) });
        for (const section of ['pending', 'upcoming', 'systems']) {
          await page
            .locator(`section#${section}`)
            .screenshot({ path: join(ARTIFACTS, `dashboard-${vp.name}-${section}.png`) });
        }

        // Filter by owner through the form.
        await page.getByLabel('Owner e-mail').fill(OWNER);
        await Promise.all([page.waitForURL(/owner=/), page.getByRole('button', { name: 'Show systems' }).click()]);
        expect(await page.locator('#systems-table tbody tr').count()).toBe(2);
        const filtered = await page.locator('#systems-table').innerText();
        expect(filtered).toContain('Intranet search');
        expect(filtered).toContain('Support chatbot');

        // Follow a system link to its timeline.
        await page.goto(`${baseUrl}/`);
        await Promise.all([
          page.waitForURL(`${baseUrl}/systems/${OVERDUE}`),
          overdue.getByRole('link', { name: 'CV screening assistant' }).click(),
        ]);
        expect(await page.getByRole('heading', { level: 1 }).innerText()).toContain('CV screening assistant');
        expect(await page.locator('#current-stage').innerText()).toBe('review due');
        expect(await page.locator('#chain-status').innerText()).toContain('Verified:');
        const timeline = page.locator('#timeline');
        expect(await timeline.locator('caption').innerText()).toContain('oldest first');
        const timelineText = await timeline.innerText();
        for (const line of [
          'Registered; stage impact assessment',
          'Impact assessment v1 submitted: risk tier high',
          'Bias-testing evidence v1',
          'Risk-treatment plan v1 submitted',
          'Approved by head-of-hr@example.org',
          'Approved by governance-lead@example.org',
          'Market surveillance authority notified',
          'Overdue review escalated to the governance lead',
        ]) {
          expect(timelineText, line).toContain(line);
        }
        await noHorizontalScroll(page);
        await page.screenshot({ path: join(ARTIFACTS, `timeline-${vp.name}.png`), fullPage: true });
        await page.screenshot({ path: join(ARTIFACTS, `timeline-${vp.name}-first-screen.png`) });

        // Keyboard only: the skip link comes first, then Tab reaches a system link and Enter opens it.
        await page.goto(`${baseUrl}/`);
        await page.keyboard.press('Tab');
        const skip = await page.evaluate(() => {
          const win = globalThis as unknown as PageWindow;
          const a = win.document.activeElement!;
          const r = a.getBoundingClientRect();
          return { text: a.textContent, visible: r.width > 0 && r.left >= 0 && r.top >= 0 && r.top < win.innerHeight };
        });
        expect(skip).toEqual({ text: 'Skip to main content', visible: true });
        let href: string | null = null;
        for (let i = 0; i < 40 && !href; i++) {
          await page.keyboard.press('Tab');
          href = await page.evaluate(() => {
            const href = (globalThis as unknown as PageWindow).document.activeElement?.getAttribute('href');
            return href?.startsWith('/systems/') ? href : null;
          });
        }
        expect(href, 'Tab reaches a system link').toBe(`/systems/${OVERDUE}`);
        const outline = await page.evaluate(() => {
          const win = globalThis as unknown as PageWindow;
          return win.getComputedStyle(win.document.activeElement!).outlineStyle;
        });
        expect(outline).not.toBe('none');
        await page.screenshot({ path: join(ARTIFACTS, `dashboard-keyboard-focus-${vp.name}.png`) });
        await Promise.all([page.waitForURL(`${baseUrl}/systems/${OVERDUE}`), page.keyboard.press('Enter')]);
        expect(await page.locator('#chain-status').innerText()).toContain('Verified:');
      } finally {
        await context.close();
      }
    });
  }

  it('says on each system page what it waits on, whose input and since when; a retired system shows no review date', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await signInWithKey(context, baseUrl, env.adminKey);
    const page = await context.newPage();
    const waitingOn = async (id: string) => {
      expect((await page.goto(`${baseUrl}/systems/${id}`))?.status()).toBe(200);
      const line = page.locator('#waiting-on');
      return {
        stage: await line.getAttribute('data-stage'),
        overdue: (await line.getAttribute('data-overdue')) === 'true',
        text: await line.innerText(),
      };
    };
    try {
      const fresh = await waitingOn(NEW);
      expect(fresh).toMatchObject({ stage: 'impact_assessment', overdue: false });
      expect(fresh.text).toMatch(
        /^ml-team-lead@example\.org: the impact assessment, since \d{4}-\d\d-\d\d \d\d:\d\d UTC$/,
      );

      const pending = await waitingOn(PENDING);
      expect(pending.text).toMatch(
        /^head-of-hr@example\.org: the decision on the impact assessment and risk-treatment plan, step 1 of 1, since \d{4}-/,
      );

      const overdue = await waitingOn(OVERDUE);
      expect(overdue).toMatchObject({ stage: 'review_due', overdue: true });
      expect(overdue.text).toMatch(
        /^ml-team-lead@example\.org: the periodic review, overdue \(\d+ escalations? sent to governance-lead@example\.org\), since \d{4}-\d\d-\d\d \d\d:\d\d UTC$/,
      );
      await page.screenshot({ path: join(ARTIFACTS, 'system-waiting-overdue.png'), fullPage: true });

      const active = await waitingOn(UPCOMING);
      expect(active.stage).toBe('active');
      expect(active.text).toMatch(/^nothing until the periodic review due on \d{4}-\d\d-\d\d$/);
      expect(await page.locator('dt', { hasText: 'Next review due' }).count()).toBe(1);

      // Retired (the last test of the file: the dashboard's counts above still hold four running systems).
      const retired = await api.inject({
        method: 'POST',
        url: `/api/v1/systems/${UPCOMING}/retire`,
        payload: example('retire.json'),
      });
      expect(retired.statusCode, retired.body).toBe(200);
      await eventually(
        () => waitingOn(UPCOMING),
        (w) => expect(w.stage).toBe('retired'),
      );
      expect((await waitingOn(UPCOMING)).text).toMatch(/^nothing: retired on \d{4}-\d\d-\d\d$/);
      expect(await page.locator('dt', { hasText: 'Next review due' }).count()).toBe(0);
      expect(await page.locator('dt', { hasText: 'Retired' }).count()).toBe(1);
      await page.screenshot({ path: join(ARTIFACTS, 'system-retired.png'), fullPage: true });
      const view = await api.inject({ method: 'GET', url: `/api/v1/systems/${UPCOMING}` });
      expect(view.json().reviewDueAt).toBeNull();
    } finally {
      await context.close();
    }
  });
});
