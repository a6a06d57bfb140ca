/**
 * Tiny helpers for server-rendered HTML pages (dev mailbox, simple product pages).
 * No templating engine: build markup with template literals and pass every piece
 * of user-provided content through `escapeHtml`.
 */

import { escapeHtml } from '../views/escape.js';

export { escapeHtml };

/**
 * Shared minimal stylesheet: readable, mobile-friendly, WCAG AA contrast.
 * Served as /assets/base.css (api/assets.ts): the CSP allows no inline style.
 */
export const BASE_CSS = `
:root { color-scheme: light; --fg: #1a1a1a; --muted: #4a4a4a; --bg: #ffffff; --subtle: #f4f5f7;
  --border: #d0d4da; --link: #0b57d0; --accent: #0b57d0; --danger: #b3261e; }
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.page { max-width: 60rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; line-height: 1.25; margin: 0.5rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 0.5rem; }
p { margin: 0.5rem 0; }
a { color: var(--link); overflow-wrap: anywhere; }
a:hover { text-decoration-thickness: 2px; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.muted { color: var(--muted); }
.error { color: var(--danger); }
table { width: 100%; border-collapse: collapse; margin: 0.5rem 0; }
th, td { text-align: left; vertical-align: top; padding: 0.5rem; border-bottom: 1px solid var(--border);
  overflow-wrap: anywhere; }
th { font-weight: 600; }
/* Tables of words (the approval page): columns as wide as their longest word, so none is cut mid-word. */
table.words th, table.words td { overflow-wrap: break-word; }
caption { text-align: left; font-weight: 600; padding: 0.5rem 0; }
pre, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9rem; }
pre { background: var(--subtle); border: 1px solid var(--border); border-radius: 6px; padding: 0.75rem;
  white-space: pre-wrap; overflow-wrap: anywhere; max-width: 100%; overflow-x: auto; }
iframe { width: 100%; min-height: 24rem; border: 1px solid var(--border); border-radius: 6px; background: #fff; }
label { display: block; font-weight: 600; margin: 0.75rem 0 0.25rem; }
input, select, textarea, button { font: inherit; }
input, select, textarea { width: 100%; max-width: 40rem; padding: 0.5rem; border: 1px solid #767676;
  border-radius: 6px; color: var(--fg); background: var(--bg); }
button, .button { display: inline-block; padding: 0.5rem 1rem; border: 1px solid var(--accent); border-radius: 6px;
  background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; }
button.secondary, .button.secondary { background: var(--bg); color: var(--accent); }
ul.plain { list-style: none; padding: 0; margin: 0; }
details > summary { cursor: pointer; }
@media (max-width: 40rem) {
  .page { padding: 0.75rem; }
  table.stack, table.stack tbody, table.stack tr, table.stack th, table.stack td { display: block; width: 100%; }
  table.stack thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.stack tr { border-bottom: 1px solid var(--border); padding: 0.5rem 0; }
  table.stack td, table.stack th { border: 0; padding: 0.125rem 0; }
  table.stack caption { display: block; }
  table.stack td[data-label]::before { content: attr(data-label) ": "; font-weight: 600; }
}
`;

/**
 * A complete HTML document. `title` is plain text (escaped here); `body` is trusted
 * markup that the caller has built with `escapeHtml` applied to all user content.
 */
export function page(opts: { title: string; body: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(opts.title)}</title>
<link rel="stylesheet" href="/assets/base.css">
</head>
<body>
<div class="page">
${opts.body}
</div>
</body>
</html>
`;
}
