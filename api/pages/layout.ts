/**
 * Shared frame of the governance pages (dashboard, system timeline): the
 * base document from api/html.ts plus a few styles for cards, the chart and
 * labelled table cells on phones.
 */
import { escapeHtml as e, page } from '../html.js';

/** Served as /assets/governance.css (api/assets.ts): the CSP allows no inline style. */
export const GOVERNANCE_CSS = `
.page { max-width: 72rem; }
.skip { position: absolute; left: -999px; top: 0; background: var(--bg); padding: 0.5rem 1rem; z-index: 10; }
.skip:focus { left: 0.5rem; top: 0.5rem; }
main:focus { outline: none; }
header.top { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: 0.5rem 1rem;
  border-bottom: 1px solid var(--border); margin-bottom: 1rem; }
header.top nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; margin: 0; padding: 0; }
header.top nav a { display: inline-block; padding: 0.25rem 0; }
.brand { font-weight: 600; }
.cards { list-style: none; padding: 0; margin: 0 0 1rem; display: grid; gap: 0.75rem;
  grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); }
.cards li { border: 1px solid var(--border); border-radius: 8px; padding: 0.75rem 1rem; background: var(--subtle); }
.cards .n { display: block; font-size: 2rem; font-weight: 700; line-height: 1.1; }
.cards .late { border-color: var(--danger); }
.cards .late .n { color: var(--danger); }
.grid { display: grid; gap: 0 1.5rem; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); align-items: start; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
th.num { text-align: right; }
td.num, .nowrap { white-space: nowrap; overflow-wrap: normal; }
/* An e-mail address stays on one line unless it cannot fit at all. */
td.who { overflow-wrap: break-word; }
.badge { display: inline-block; padding: 0 0.4rem; border-radius: 4px; border: 1px solid var(--border);
  background: var(--subtle); font-size: 0.875rem; white-space: nowrap; }
.badge.high { border-color: var(--danger); color: var(--danger); }
.ok { color: #1e6b2f; }
figure { margin: 0.5rem 0 1rem; }
figure svg { width: 100%; max-width: 34rem; height: auto; display: block; }
figcaption { font-weight: 600; padding: 0.5rem 0; }
.filters { display: flex; flex-wrap: wrap; gap: 0 1rem; align-items: flex-end; }
.filters > div { flex: 1 1 10rem; }
.filters button { margin: 0.75rem 0 0; }
td a, th a { font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0.5rem 0 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.verify { border: 1px solid var(--border); border-left-width: 6px; border-radius: 6px; padding: 0.5rem 1rem; }
.verify.good { border-left-color: #1e6b2f; }
.verify.bad { border-left-color: var(--danger); }
@media (max-width: 40rem) {
  .cards { grid-template-columns: repeat(2, 1fr); }
  table.stack caption { display: block; }
  table.stack td[data-label]::before { content: attr(data-label) ": "; font-weight: 600; }
  table.stack td.num { text-align: left; }
  #timeline td.seq, #timeline td.when { display: inline-block; width: auto; margin-right: 0.75rem; }
  #timeline td.seq::before { content: "#"; }
  #timeline td.when::before { content: none; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: 0.5rem; }
}
`;

export const when = (iso: string | null | undefined) => (iso ? `${iso.replace('T', ' ').slice(0, 16)} UTC` : '—');

export const timeEl = (iso: string | null | undefined) =>
  iso ? `<time datetime="${e(iso)}">${e(when(iso))}</time>` : '—';

export const label = (s: string | null | undefined) => (s ? s.replaceAll('_', ' ') : '—');

/** "3 days", "5 hours", "12 minutes", "40 seconds". */
export function duration(ms: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s >= 86_400) return plural(Math.floor(s / 86_400), 'day');
  if (s >= 3_600) return plural(Math.floor(s / 3_600), 'hour');
  if (s >= 60) return plural(Math.floor(s / 60), 'minute');
  return plural(s, 'second');
}

export const systemLink = (id: string, name: string) => `<a href="/systems/${encodeURIComponent(id)}">${e(name)}</a>`;

export const tierBadge = (tier: string | null | undefined) =>
  `<span class="badge${tier === 'high' ? ' high' : ''}">${e(label(tier ?? 'unassessed'))}</span>`;

/** A governance page: skip link, header with navigation, and the main content. `main` is trusted markup. */
export function governancePage(opts: { title: string; main: string; nav?: { href: string; text: string }[] }): string {
  const nav = [{ href: '/', text: 'Dashboard' }, ...(opts.nav ?? [])];
  const body = `<a class="skip" href="#main">Skip to main content</a>
<header class="top">
<p class="brand">AI governance</p>
<nav aria-label="Main"><ul>${nav.map((n) => `<li><a href="${e(n.href)}">${e(n.text)}</a></li>`).join('')}</ul></nav>
<form class="signout" method="post" action="/logout"><button type="submit" class="secondary">Sign out</button></form>
</header>
<main id="main" tabindex="-1">
${opts.main}
</main>`;
  return page({ title: opts.title, body }).replace(
    '</head>',
    '<link rel="stylesheet" href="/assets/governance.css">\n</head>',
  );
}
