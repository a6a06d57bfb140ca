/**
 * What the certification auditor reads, in a real browser (headless Chromium through playwright-core), signed in
 * with an auditor's key: the Statement of Applicability page reached from the dashboard, with all 38 controls,
 * their statuses and the mapping's labels as the API's JSON has them, the evidence linked to the system page, and
 * the ISO/IEC 27001 cross-walk beside it under each of its filters; then the evidence pack's report.html, unzipped
 * and opened from disk with the network switched off, on screen and as printed (its print CSS, a PDF).
 * Screenshots (and the PDF) go to test-artifacts/.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readZip } from '../cli/evidence-pack.js';
import { statusText, type Statement } from '../domain/applicability.js';
import { controlLabel, mappingStep, stepReference, stepsForControl, type StepId } from '../domain/control-mapping.js';
import { controlIds } from '../domain/controls.js';
import { evidencePackManifestSchema, type EvidencePackManifest } from '../domain/records.js';
import {
  AUDITED,
  auditedPolicy,
  auditedSystems,
  EXCLUSION,
  IN_PROGRESS,
  ORGANISATION_DOCUMENT,
} from './support/audited.js';
import { ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, chromiumFor, signInWithKey } from './support/browser.js';
import { startDevEnv, type DevEnv } from './support/dev-env.js';

const haveChromium = chromiumFor('test/auditor.browser.test.ts');

/** The few DOM members the in-page checks use (the project compiles without the DOM lib). */
interface PageElement {
  id: string;
  textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(sel: string): PageElement | null;
  querySelectorAll(sel: string): ArrayLike<PageElement>;
}
interface PageWindow {
  document: {
    documentElement: { scrollWidth: number };
    querySelector(sel: string): PageElement | null;
    querySelectorAll(sel: string): ArrayLike<PageElement>;
    styleSheets: ArrayLike<{ href: string | null; cssRules: ArrayLike<{ cssText: string }> }>;
  };
  innerWidth: number;
  performance: { getEntriesByType(type: string): unknown[] };
  getComputedStyle(el: PageElement): Record<string, string>;
}
const win = () => globalThis as unknown as PageWindow;

/**
 * The parts of report.html and the lifecycle steps each is labelled with (api/evidence-report.ts), in order; the
 * assessment's data sources and suppliers carry labels of their own inside it.
 */
const REPORT_PARTS: [string, StepId[]][] = [
  ['registration', ['registration']],
  ['assessment', ['impact_assessment', 'data_sources', 'suppliers']],
  ['bias-evidence', ['bias_evidence']],
  ['treatment-plan', ['treatment_plan']],
  ['approvals', ['plan_approval', 'segregation_of_duties']],
  ['fria', ['fria_notice']],
  ['model-versions', ['model_version']],
  ['incidents', ['incident', 'corrective_action']],
  ['reviews', ['review']],
  ['retirement', ['retirement']],
  ['notifications', ['audit_trail']],
  ['audit-trail', ['audit_trail']],
  ['files', ['audit_trail']],
];

describe.skipIf(!haveChromium)('the auditor in a browser', () => {
  let env: DevEnv;
  let browser: Browser;
  let baseUrl: string;
  let auditorKey: string;
  let workDir: string;

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    workDir = await mkdtemp(join(tmpdir(), 'auditor-browser-'));
    // The real dev server: the dashboard the auditor starts from reads Temporal's visibility store.
    env = await startDevEnv({ name: 'auditor-browser', listen: true, policy: () => auditedPolicy });
    baseUrl = env.baseUrl;
    const [launched, fixture] = await Promise.all([
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
      auditedSystems({ t: { ...env, env: { client: env.client } }, w: env.walk }),
    ]);
    browser = launched;
    auditorKey = fixture.auditorKey;
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await env?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  const asAuditor = () => ({ authorization: `Bearer ${auditorKey}` });
  async function statementJson(filter = 'all'): Promise<Statement> {
    const res = await env.api.inject({
      method: 'GET',
      url: `/api/v1/statement-of-applicability?crosswalk=${filter}`,
      headers: asAuditor(),
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  }

  async function auditorContext(viewport = { width: 1280, height: 900 }, isMobile = false): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport, isMobile, hasTouch: isMobile });
    await signInWithKey(context, baseUrl, auditorKey);
    return context;
  }

  async function noHorizontalScroll(page: Page) {
    const { scrollWidth, innerWidth } = await page.evaluate(() => {
      const w = globalThis as unknown as PageWindow;
      return { scrollWidth: w.document.documentElement.scrollWidth, innerWidth: w.innerWidth };
    });
    expect(scrollWidth, 'the page must not scroll sideways').toBeLessThanOrEqual(innerWidth);
  }

  /** The cross-walk table's rows as shown: control, status badge, 27001 ids. */
  const crosswalkRows = (page: Page) =>
    page.locator('#crosswalk-table tbody tr').evaluateAll((rows) =>
      rows.map((r) => {
        const row = r as unknown as PageElement;
        return {
          control: row.getAttribute('data-control') ?? '',
          status: row.querySelector('td[data-label="Status"] .badge')?.textContent ?? '',
          iso27001: Array.from(row.querySelectorAll('td[data-label="ISO/IEC 27001:2022"] li strong')).map(
            (x) => x.textContent ?? '',
          ),
        };
      }),
    );

  it('reads the Statement of Applicability from the dashboard: 38 controls, statuses and labels as the JSON', async () => {
    const st = await statementJson();
    // The fixture gives the auditor every kind of status to read.
    expect(new Set(st.controls.map((c) => c.status))).toEqual(
      new Set(['implemented', 'partial', 'no_evidence', 'excluded']),
    );
    // The dashboard links to the statement only for those who may read it.
    const team = await env.keys({ email: 'ml-team-lead@example.org', role: 'ai-team' });
    const teamDashboard = await env.api.inject({
      method: 'GET',
      url: '/',
      headers: { authorization: `Bearer ${team}` },
    });
    expect(teamDashboard.statusCode).toBe(200);
    expect(teamDashboard.body).not.toContain('href="/statement-of-applicability"');
    const context = await auditorContext();
    const page = await context.newPage();
    try {
      expect((await page.goto(`${baseUrl}/`))?.status()).toBe(200);
      await Promise.all([
        page.waitForURL(`${baseUrl}/statement-of-applicability`),
        page
          .getByRole('navigation', { name: 'Main' })
          .getByRole('link', { name: 'Statement of Applicability' })
          .click(),
      ]);
      expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe('Statement of Applicability');
      expect(await page.title()).toContain('Statement of Applicability');
      expect(await page.locator('main').innerText()).toContain(`control mapping v${st.mappingVersion}`);

      const rows = await page.locator('table.soa tbody tr').evaluateAll((trs) =>
        trs.map((tr) => {
          const row = tr as unknown as PageElement;
          const cell = (label: string) => row.querySelector(`[data-label="${label}"]`);
          return {
            id: row.id,
            status: row.getAttribute('data-status'),
            heading: (cell('Control')?.textContent ?? '').replace(/\s+/g, ' ').trim(),
            applicability: cell('Applicability')?.textContent ?? '',
            badge: cell('Status')?.querySelector('.badge')?.textContent ?? '',
            implementedBy: (cell('Implemented by')?.textContent ?? '').replace(/\s+/g, ' '),
            systems: Array.from(cell('Evidence')?.querySelectorAll('li[data-system]') ?? []).map((li) => ({
              id: li.getAttribute('data-system'),
              badge: li.querySelector('.badge')?.textContent ?? '',
              links: Array.from(li.querySelectorAll('a[href*="#event-"]')).map((a) => a.getAttribute('href')),
            })),
            evidence: cell('Evidence')?.textContent ?? '',
          };
        }),
      );
      expect(rows.map((r) => r.id)).toEqual(controlIds);
      for (const c of st.controls) {
        const row = rows.find((r) => r.id === c.id)!;
        expect(row.heading, c.id).toBe(controlLabel(c.id));
        expect(row.status, c.id).toBe(c.status);
        expect(row.badge, c.id).toBe(statusText[c.status]);
        // How the lifecycle implements it, labelled as the control mapping cites each step.
        for (const step of stepsForControl(c.id).implementedBy)
          expect(row.implementedBy, `${c.id} ${step}`).toContain(`${mappingStep(step).title} (${stepReference(step)})`);
        expect(
          row.systems.map((x) => [x.id, x.badge]),
          c.id,
        ).toEqual(c.systems.map((x) => [x.systemId, statusText[x.status]]));
      }
      const row = (id: string) => rows.find((r) => r.id === id)!;
      expect(row('A.10.4').applicability).toContain('excluded');
      expect(row('A.10.4').applicability).toContain(EXCLUSION);
      expect(row('A.2.2').evidence).toContain(ORGANISATION_DOCUMENT.documentReference);
      expect(row('A.8.4').systems.find((x) => x.id === AUDITED)?.badge).toBe(statusText.implemented);
      expect(row('A.6.2.4').systems.find((x) => x.id === IN_PROGRESS)?.badge).toBe(statusText.no_evidence);
      const cards = await page.locator('ul.cards[aria-label="Controls by status"] li').allInnerTexts();
      for (const [status, n] of Object.entries(st.summary))
        expect(
          cards.map((t) => t.replace(/\s+/g, '')),
          status,
        ).toContain(`${n}${statusText[status as keyof typeof statusText].replace(/\s+/g, '')}`);

      await page.screenshot({ path: join(ARTIFACTS, 'soa-desktop.png'), fullPage: true });
      await page.screenshot({ path: join(ARTIFACTS, 'soa-desktop-first-screen.png') });

      // The registration's evidence link leads to its record on the system page.
      const [link] = row('A.9.4').systems.find((x) => x.id === AUDITED)!.links;
      expect(link).toMatch(new RegExp(`^/systems/${AUDITED}#event-\\d+$`));
      await Promise.all([page.waitForURL(`${baseUrl}${link}`), page.locator(`a[href="${link}"]`).first().click()]);
      const event = page.locator(`#${link!.split('#')[1]}`);
      expect(await event.getAttribute('data-type')).toBe('stage_changed');
      expect(await event.isVisible()).toBe(true);
    } finally {
      await context.close();
    }
  });

  it('shows the cross-walk beside it, filtered to what the ISMS covers and to what is still open', async () => {
    const [all, covered, open] = await Promise.all([statementJson(), statementJson('covered'), statementJson('open')]);
    const context = await auditorContext();
    const page = await context.newPage();
    const current = () => page.locator('#crosswalk nav [aria-current="true"]').innerText();
    try {
      await page.goto(`${baseUrl}/statement-of-applicability#crosswalk`);
      const section = page.locator('section#crosswalk');
      expect(await section.getByRole('heading', { level: 2 }).innerText()).toBe('ISO/IEC 27001:2022 cross-walk');
      expect(await current()).toBe('Every control');
      const shownAll = await crosswalkRows(page);
      expect(shownAll.map((r) => r.control)).toEqual(controlIds);
      for (const e of all.crosswalk.entries) {
        const r = shownAll.find((x) => x.control === e.control)!;
        expect(r.iso27001, e.control).toEqual(e.pairs.map((p) => p.id));
        expect(r.status, e.control).toBe(statusText[e.status]);
      }
      await section.screenshot({ path: join(ARTIFACTS, 'soa-crosswalk-all.png') });

      await Promise.all([
        page.waitForURL(/crosswalk=covered/),
        section.getByRole('link', { name: 'What my ISMS already covers' }).click(),
      ]);
      expect(await current()).toBe('What my ISMS already covers');
      const shownCovered = await crosswalkRows(page);
      expect(shownCovered.map((r) => r.control)).toEqual(covered.crosswalk.entries.map((e) => e.control));
      expect(shownCovered.length).toBeGreaterThan(0);
      expect(shownCovered.length).toBeLessThan(38);
      for (const r of shownCovered) expect(r.iso27001.length, r.control).toBeGreaterThan(0);
      // The statement itself stays whole under the filter.
      expect(await page.locator('table.soa tbody tr').count()).toBe(38);
      await page.locator('section#crosswalk').screenshot({ path: join(ARTIFACTS, 'soa-crosswalk-covered.png') });

      await Promise.all([
        page.waitForURL(/crosswalk=open/),
        page.locator('section#crosswalk').getByRole('link', { name: 'What is still open' }).click(),
      ]);
      expect(await current()).toBe('What is still open');
      const shownOpen = await crosswalkRows(page);
      expect(shownOpen.map((r) => r.control)).toEqual(open.crosswalk.entries.map((e) => e.control));
      expect(shownOpen.length).toBeGreaterThan(0);
      for (const r of shownOpen) expect([statusText.partial, statusText.no_evidence], r.control).toContain(r.status);
      expect(shownOpen.map((r) => r.control)).not.toContain('A.10.4');
      await page.locator('section#crosswalk').screenshot({ path: join(ARTIFACTS, 'soa-crosswalk-open.png') });

      // The page's own JSON and CSV links keep the filter, and open with the auditor's session.
      const nav = page.getByRole('navigation', { name: 'Main' });
      const jsonHref = await nav.getByRole('link', { name: 'JSON' }).getAttribute('href');
      const csvHref = await nav.getByRole('link', { name: 'CSV' }).getAttribute('href');
      const json = await context.request.get(`${baseUrl}${jsonHref}`);
      expect(json.status()).toBe(200);
      expect(((await json.json()) as Statement).crosswalk.filter).toBe('open');
      const csv = await context.request.get(`${baseUrl}${csvHref}`);
      expect(csv.status()).toBe(200);
      expect(csv.headers()['content-type']).toContain('text/csv');
      expect((await csv.text()).split('\n')[0]).toContain('control');
    } finally {
      await context.close();
    }
  });

  it('fits a phone: the statement and the cross-walk stack without scrolling sideways', async () => {
    const context = await auditorContext({ width: 390, height: 844 }, true);
    const page = await context.newPage();
    try {
      await page.goto(`${baseUrl}/statement-of-applicability?crosswalk=open`);
      expect(await page.locator('table.soa tbody tr').count()).toBe(38);
      await noHorizontalScroll(page);
      await page.screenshot({ path: join(ARTIFACTS, 'soa-phone-first-screen.png') });
      await page.locator('tr#A\\.5\\.2').screenshot({ path: join(ARTIFACTS, 'soa-phone-control.png') });
    } finally {
      await context.close();
    }
  });

  describe("the evidence pack's report.html, opened from disk", () => {
    let manifest: EvidencePackManifest;
    let reportUrl: string;

    beforeAll(async () => {
      const res = await env.api.inject({
        method: 'GET',
        url: `/api/v1/systems/${AUDITED}/evidence-pack`,
        headers: asAuditor(),
      });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
      const files = await readZip(res.rawPayload);
      manifest = evidencePackManifestSchema.parse(JSON.parse(files.get('manifest.json')!.toString('utf8')));
      const dir = join(workDir, 'pack');
      for (const [name, bytes] of files) {
        await mkdir(dirname(join(dir, name)), { recursive: true });
        await writeFile(join(dir, name), bytes);
      }
      reportUrl = pathToFileURL(join(dir, 'report.html')).href;
    });

    /** A context with the network off: whatever the report would fetch is refused and counted. */
    async function offline() {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, offline: true });
      const fetched: string[] = [];
      context.on('request', (r) => {
        if (r.url() !== reportUrl.split('#')[0]) fetched.push(r.url());
      });
      return { context, fetched };
    }

    it('reads offline: every part labelled with the controls and clauses the mapping gives, nothing fetched', async () => {
      const { context, fetched } = await offline();
      const page = await context.newPage();
      try {
        expect((await page.goto(reportUrl))?.ok()).toBe(true);
        expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe('Evidence pack: CV screening assistant');
        const header = await page.locator('header').innerText();
        expect(header).toContain('verified intact');
        expect(header).toContain(`#${manifest.chainHead!.seq}`);

        const sections = await page.locator('main > section').evaluateAll((els) =>
          els.map((el) => {
            const s = el as unknown as PageElement;
            return {
              id: s.id,
              h2: s.querySelector('h2')?.textContent ?? '',
              refs: Array.from(s.querySelectorAll('.controls li .ref')).map((x) => x.textContent ?? ''),
              labels: Array.from(s.querySelectorAll('.controls'))
                .map((x) => x.textContent ?? '')
                .join(' ')
                .replace(/\s+/g, ' '),
            };
          }),
        );
        expect(sections.map((x) => x.id)).toEqual(REPORT_PARTS.map(([id]) => id));
        for (const [i, [id, steps]] of REPORT_PARTS.entries()) {
          const part = sections[i]!;
          expect(part.h2, id).toMatch(new RegExp(`^${i + 1}\\. `));
          expect(part.refs, id).toEqual(steps.map((step) => `${mappingStep(step).title}: ${stepReference(step)}`));
          for (const step of steps)
            for (const c of mappingStep(step).implements)
              expect(part.labels, `${id} ${c}`).toContain(`implements ${controlLabel(c)}`);
        }
        const incidents = await page.locator('section#incidents').innerText();
        expect(incidents).toContain('A recruiter used the rank as an automatic cut-off');
        expect(incidents).toContain('head-of-hr@example.org');
        const fileTable = await page.locator('section#files').innerText();
        for (const f of manifest.files.filter((x) => x.path.startsWith('records/'))) {
          expect(fileTable, f.path).toContain(f.path);
          expect(fileTable, f.path).toContain(f.sha256);
        }

        // Its CSS is inline and applied; it loads no resource, and the offline browser was asked for none.
        const resources = await page.evaluate(() => {
          const w = globalThis as unknown as PageWindow;
          const controls = w.document.querySelector('.controls')!;
          return {
            loaded: w.performance.getEntriesByType('resource').length,
            external: w.document.querySelectorAll('script, link, img, iframe, object, embed, [src]').length,
            sheets: Array.from(w.document.styleSheets).map((x) => x.href),
            border: w.getComputedStyle(controls)['borderLeftWidth'],
          };
        });
        expect(resources).toEqual({ loaded: 0, external: 0, sheets: [null], border: '4px' });
        expect(fetched).toEqual([]);

        // The contents lead to each part.
        await page
          .getByRole('navigation', { name: 'Contents' })
          .getByRole('link', { name: 'Incidents and corrective actions' })
          .click();
        expect(new URL(page.url()).hash).toBe('#incidents');
        await page.goto(reportUrl);
        await noHorizontalScroll(page);
        await page.screenshot({ path: join(ARTIFACTS, 'evidence-report.png'), fullPage: true });
        await page.screenshot({ path: join(ARTIFACTS, 'evidence-report-first-screen.png') });
        await page.locator('section#incidents').screenshot({ path: join(ARTIFACTS, 'evidence-report-incidents.png') });
      } finally {
        await context.close();
      }
    });

    it('prints: A4 pages, each part on a new page, no contents list, and a PDF', async () => {
      const { context, fetched } = await offline();
      const page = await context.newPage();
      try {
        await page.goto(reportUrl);
        const rules = await page.evaluate(() =>
          Array.from((globalThis as unknown as PageWindow).document.styleSheets).flatMap((x) =>
            Array.from(x.cssRules).map((r) => r.cssText),
          ),
        );
        expect(rules.some((r) => /^@media print\b/.test(r))).toBe(true);
        expect(
          rules.some((r) => /^@page\b[\s\S]*size:\s*A4/i.test(r)),
          rules.filter((r) => r.startsWith('@')).join('\n'),
        ).toBe(true);
        const onScreen = await page.evaluate(() => {
          const w = globalThis as unknown as PageWindow;
          return w.getComputedStyle(w.document.querySelector('nav')!)['display'];
        });
        expect(onScreen).not.toBe('none');

        await page.emulateMedia({ media: 'print' });
        const printed = await page.evaluate(() => {
          const w = globalThis as unknown as PageWindow;
          const style = (sel: string) => w.getComputedStyle(w.document.querySelector(sel)!);
          return {
            nav: style('nav')['display'],
            first: style('h2.first')['breakBefore'],
            second: style('section#assessment h2')['breakBefore'],
          };
        });
        expect(printed).toEqual({ nav: 'none', first: 'auto', second: 'page' });
        await page.screenshot({ path: join(ARTIFACTS, 'evidence-report-print.png'), fullPage: true });

        const pdf = await page.pdf({ path: join(ARTIFACTS, 'evidence-report.pdf'), preferCSSPageSize: true });
        expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
        // A page per part at least: every part but the first breaks before it.
        const pages = pdf.toString('latin1').match(/\/Type\s*\/Page\b/g) ?? [];
        expect(pages.length).toBeGreaterThanOrEqual(REPORT_PARTS.length);
        expect(fetched).toEqual([]);
      } finally {
        await context.close();
      }
    });
  });
});
