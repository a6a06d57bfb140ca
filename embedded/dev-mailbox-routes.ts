/**
 * HTTP views of the dev mailbox (embedded mode only):
 *   GET    /dev/mailbox/messages        JSON array, newest first (?to= recipient filter, case-insensitive)
 *   GET    /dev/mailbox/messages/:id    JSON, 404 if unknown
 *   DELETE /dev/mailbox/messages        clear the mailbox
 *   GET    /dev/mailbox                 HTML list
 *   GET    /dev/mailbox/:id             HTML message view
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { cspDirectives } from '../api/hardening.js';
import { escapeHtml, page } from '../api/html.js';
import type { DevMailbox, MailboxMessage } from './dev-mailbox.js';

const IFRAME_SANDBOX = 'allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation';

/**
 * The caught mail holds every live approval link: the embedded admin (signed
 * in through the dashboard, as the README walkthrough does) and the
 * governance lead see it, no anonymous caller does.
 */
const MAILBOX = { config: { access: { roles: ['admin', 'governance-lead'] } } } as const;
/**
 * The message view shows the e-mail's HTML in a srcdoc frame, which inherits
 * this page's CSP: the mail templates style with attributes, so inline style
 * (never script: the frame's sandbox has no allow-scripts) is allowed here.
 */
const MESSAGE_VIEW = {
  ...MAILBOX,
  helmet: {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { ...cspDirectives, 'style-src': ["'self'", "'unsafe-inline'"] },
    },
  },
};

export function registerDevMailboxRoutes(app: FastifyInstance, mailbox: DevMailbox): void {
  app.get<{ Querystring: { to?: string | string[] } }>('/dev/mailbox/messages', MAILBOX, async (request, reply) => {
    const to = firstString(request.query.to);
    const list = newestFirst(mailbox.messages()).filter((m) => (to ? isRecipient(m, to) : true));
    return reply.header('cache-control', 'no-store').send(list);
  });

  app.get<{ Params: { id: string } }>('/dev/mailbox/messages/:id', MAILBOX, async (request, reply) => {
    const message = mailbox.get(request.params.id);
    if (!message) return reply.code(404).send({ error: 'not_found', message: 'No such message in the dev mailbox' });
    return reply.header('cache-control', 'no-store').send(message);
  });

  app.delete('/dev/mailbox/messages', MAILBOX, async (_request, reply) => {
    mailbox.clear();
    return reply.code(204).send();
  });

  app.get('/dev/mailbox', MAILBOX, async (_request, reply) => {
    return sendHtml(reply, 200, renderList(mailbox, newestFirst(mailbox.messages())));
  });

  app.get<{ Params: { id: string } }>('/dev/mailbox/:id', MESSAGE_VIEW, async (request, reply) => {
    const message = mailbox.get(request.params.id);
    if (!message) {
      return sendHtml(
        reply,
        404,
        page({
          title: 'Message not found · Dev mailbox',
          body: `<main><p><a href="/dev/mailbox">← All messages</a></p><h1>Message not found</h1>
<p>There is no message with id <code>${escapeHtml(request.params.id)}</code> in the dev mailbox. It may have been cleared.</p></main>`,
        }),
      );
    }
    return sendHtml(reply, 200, renderMessage(message));
  });
}

function sendHtml(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .send(html);
}

function firstString(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  const t = s?.trim();
  return t ? t : undefined;
}

/** Exact (case-insensitive) match against the To and Cc addresses. */
function isRecipient(m: MailboxMessage, address: string): boolean {
  const wanted = address.toLowerCase();
  return [...m.to, ...m.cc].some((a) => a.toLowerCase() === wanted);
}

function newestFirst(list: MailboxMessage[]): MailboxMessage[] {
  return [...list].reverse();
}

function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function timeEl(iso: string): string {
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(formatTime(iso))}</time>`;
}

function messageHref(m: MailboxMessage): string {
  return `/dev/mailbox/${encodeURIComponent(m.id)}`;
}

function renderList(mailbox: DevMailbox, list: MailboxMessage[]): string {
  const rows = list
    .map(
      (m) => `<tr>
<td data-label="Received">${timeEl(m.receivedAt)}</td>
<td data-label="From">${escapeHtml(m.from)}</td>
<td data-label="To">${escapeHtml(m.to.join(', '))}</td>
<td data-label="Subject"><a href="${escapeHtml(messageHref(m))}">${m.subject ? escapeHtml(m.subject) : '<span class="muted">(no subject)</span>'}</a></td>
</tr>`,
    )
    .join('\n');
  const table = list.length
    ? `<table class="stack">
<caption>${list.length} message${list.length === 1 ? '' : 's'}, newest first</caption>
<thead><tr><th scope="col">Received</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Subject</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
    : '<p class="muted">No messages yet. Mail sent by the app in embedded mode will appear here.</p>';
  return page({
    title: 'Dev mailbox',
    body: `<main>
<h1>Dev mailbox</h1>
<p class="muted">Messages caught by the local SMTP server at <code>${escapeHtml(mailbox.url)}</code>. Nothing is delivered to real recipients.
JSON: <a href="/dev/mailbox/messages">/dev/mailbox/messages</a>.</p>
${table}
</main>`,
  });
}

function renderMessage(m: MailboxMessage): string {
  const summary: Array<[string, string]> = [
    ['From', escapeHtml(m.from)],
    ['To', escapeHtml(m.to.join(', '))],
    ...(m.cc.length ? [['Cc', escapeHtml(m.cc.join(', '))] as [string, string]] : []),
    ['Subject', escapeHtml(m.subject)],
    ['Received', timeEl(m.receivedAt)],
    ['Message-ID', m.messageId ? `<code>${escapeHtml(m.messageId)}</code>` : '<span class="muted">(none)</span>'],
  ];
  const summaryRows = summary.map(([k, v]) => `<tr><th scope="row">${k}</th><td>${v}</td></tr>`).join('\n');

  const links = m.links.length
    ? `<ul>\n${m.links.map((l) => `<li><a href="${escapeHtml(l)}">${escapeHtml(l)}</a></li>`).join('\n')}\n</ul>`
    : '<p class="muted">No links.</p>';

  // `<base target="_top">` makes clicked links navigate this tab (permitted by the
  // sandbox on user activation) instead of loading inside the frame. No allow-scripts:
  // scripts in the message never run.
  const htmlBody =
    m.html !== null
      ? `<iframe title="HTML body of the message" sandbox="${IFRAME_SANDBOX}" referrerpolicy="no-referrer" srcdoc="${escapeHtml(
          `<base target="_top">${m.html}`,
        )}"></iframe>`
      : '<p class="muted">This message has no HTML part.</p>';

  const headerRows = Object.entries(m.headers)
    .map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
    .join('\n');

  return page({
    title: `${m.subject || '(no subject)'} · Dev mailbox`,
    body: `<main>
<p><a href="/dev/mailbox">← All messages</a></p>
<h1>${m.subject ? escapeHtml(m.subject) : '<span class="muted">(no subject)</span>'}</h1>
<table class="stack" aria-label="Message summary">
${summaryRows}
</table>
<section aria-labelledby="links-h"><h2 id="links-h">Links</h2>
${links}
</section>
<section aria-labelledby="html-h"><h2 id="html-h">HTML body</h2>
${htmlBody}
</section>
<section aria-labelledby="text-h"><h2 id="text-h">Plain text</h2>
<pre>${m.text ? escapeHtml(m.text) : '<span class="muted">(empty)</span>'}</pre>
</section>
<section aria-labelledby="headers-h"><h2 id="headers-h">Headers</h2>
<details><summary>All headers (${Object.keys(m.headers).length})</summary>
<table class="stack" aria-label="All headers">
${headerRows}
</table>
</details>
<p class="muted">JSON: <a href="/dev/mailbox/messages/${escapeHtml(encodeURIComponent(m.id))}">/dev/mailbox/messages/${escapeHtml(m.id)}</a></p>
</section>
</main>`,
  });
}
