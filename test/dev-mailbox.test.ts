import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import nodemailer from 'nodemailer';
import { startDevMailbox, type DevMailbox, type MailboxMessage } from '../embedded/dev-mailbox.js';
import { registerDevMailboxRoutes } from '../embedded/dev-mailbox-routes.js';
import { escapeHtml, page } from '../api/html.js';

function transportFor(mailbox: DevMailbox) {
  return nodemailer.createTransport({
    host: mailbox.host,
    port: mailbox.port,
    secure: false,
    ignoreTLS: true,
    connectionTimeout: 3_000,
    greetingTimeout: 3_000,
    socketTimeout: 5_000,
  });
}

const LINK = 'https://app.example.test/verify?token=abc123&next=%2Fhome';

describe('dev mailbox (real SMTP)', () => {
  let mailbox: DevMailbox;

  beforeAll(async () => {
    mailbox = await startDevMailbox({ port: 0 });
  });
  afterAll(async () => {
    await mailbox?.stop();
  });

  it('listens on a real port and exposes an smtp:// url', () => {
    expect(mailbox.host).toBe('127.0.0.1');
    expect(mailbox.port).toBeGreaterThan(0);
    expect(mailbox.url).toBe(`smtp://127.0.0.1:${mailbox.port}`);
  });

  it('receives an HTML+text message sent with nodemailer, exactly once, with links and Message-ID', async () => {
    const messageId = `<dev-mailbox-test-${Date.now()}@example.test>`;
    const waiting = mailbox.waitFor((m) => m.messageId === messageId, { timeoutMs: 5_000 });
    const info = await transportFor(mailbox).sendMail({
      from: '"Assessment Bot" <bot@example.test>',
      to: 'Alice@example.test',
      cc: 'carol@example.test',
      subject: 'Please verify your e-mail',
      messageId,
      text: `Hello Alice,\nopen https://text-only.example.test/path?x=1. Thanks!\nAlso ${LINK}\n`,
      html: `<p>Hello <b>Alice</b>,</p><p><a href="${LINK.replace('&', '&amp;')}">Verify</a>
             <a href='https://second.example.test/a'>second</a> <a href="mailto:x@example.test">mail</a></p>`,
    });
    expect(info.accepted).toEqual(['Alice@example.test', 'carol@example.test']);
    // Stored before the 250 that resolved sendMail, and exactly once, though it had two recipients: the one DATA
    // transaction is over, so no copy of it can still be on its way.
    expect(mailbox.messages().filter((x) => x.messageId === messageId)).toHaveLength(1);

    const m = await waiting;
    expect(m.messageId).toBe(messageId);
    expect(m.from).toBe('bot@example.test');
    expect(m.to).toEqual(['Alice@example.test']);
    expect(m.cc).toEqual(['carol@example.test']);
    expect(m.subject).toBe('Please verify your e-mail');
    expect(m.text).toContain('Hello Alice,');
    expect(m.html).toContain('<b>Alice</b>');
    // hrefs first (entity-decoded, mailto dropped), then new URLs from the text; duplicates removed
    expect(m.links).toEqual([LINK, 'https://second.example.test/a', 'https://text-only.example.test/path?x=1']);
    expect(m.headers['message-id']).toBe(messageId);
    expect(m.headers['subject']).toBe('Please verify your e-mail');
    expect(m.headers['from']).toContain('bot@example.test');
    expect(Number.isNaN(Date.parse(m.receivedAt))).toBe(false);
    expect(mailbox.get(m.id)).toEqual(m);
    expect(mailbox.messages().filter((x) => x.messageId === messageId)).toHaveLength(1);
  });

  it('waitFor resolves for an already-received message and rejects with the received subjects on timeout', async () => {
    const already = await mailbox.waitFor((m) => m.subject === 'Please verify your e-mail', { timeoutMs: 100 });
    expect(already.subject).toBe('Please verify your e-mail');

    const started = Date.now();
    await expect(mailbox.waitFor((m) => m.subject === 'never sent', { timeoutMs: 200 })).rejects.toThrow(
      /no matching message within 200 ms.*"Please verify your e-mail"/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('records Bcc (envelope-only) recipients in `to` and keeps messages oldest first', async () => {
    await transportFor(mailbox).sendMail({
      from: 'bot@example.test',
      to: 'dave@example.test',
      bcc: 'hidden@example.test',
      subject: 'Second',
      text: 'no links here',
    });
    const m = await mailbox.waitFor((x) => x.subject === 'Second', { timeoutMs: 5_000 });
    expect(m.to).toEqual(['dave@example.test', 'hidden@example.test']);
    expect(m.html).toBeNull();
    expect(m.links).toEqual([]);
    expect(mailbox.messages().map((x) => x.subject)).toEqual(['Please verify your e-mail', 'Second']);
  });

  it('stop() refuses connections and start() listens again on the same port', async () => {
    const port = mailbox.port;
    await mailbox.stop();
    await expect(
      transportFor(mailbox).sendMail({
        from: 'bot@example.test',
        to: 'a@example.test',
        subject: 'during outage',
        text: 'x',
      }),
    ).rejects.toThrow(/ECONNREFUSED/);

    await mailbox.start();
    expect(mailbox.port).toBe(port);
    await transportFor(mailbox).sendMail({
      from: 'bot@example.test',
      to: 'a@example.test',
      subject: 'after outage',
      text: 'x',
    });
    const m = await mailbox.waitFor((x) => x.subject === 'after outage', { timeoutMs: 5_000 });
    expect(m.to).toEqual(['a@example.test']);
    expect(mailbox.messages().some((x) => x.subject === 'during outage')).toBe(false);
  });

  it('clear() empties the mailbox', async () => {
    expect(mailbox.messages().length).toBeGreaterThan(0);
    mailbox.clear();
    expect(mailbox.messages()).toEqual([]);
  });
});

describe('dev mailbox HTTP routes', () => {
  let mailbox: DevMailbox;
  const app = Fastify();
  let first: MailboxMessage;
  let evil: MailboxMessage;
  const evilSubject = '<script>alert("x")</script> & friends';

  beforeAll(async () => {
    mailbox = await startDevMailbox({ port: 0 });
    registerDevMailboxRoutes(app, mailbox);
    await app.ready();
    const t = transportFor(mailbox);
    await t.sendMail({
      from: 'bot@example.test',
      to: 'alice@example.test',
      subject: 'Your assessment is ready',
      text: `See ${LINK}`,
      html: `<p>See <a href="${LINK.replace('&', '&amp;')}">the assessment</a></p><script>alert(1)</script>`,
    });
    first = await mailbox.waitFor((m) => m.subject === 'Your assessment is ready', { timeoutMs: 5_000 });
    await t.sendMail({
      from: 'bot@example.test',
      to: 'bob@example.test',
      subject: evilSubject,
      text: 'plain <b>text</b>',
    });
    evil = await mailbox.waitFor((m) => m.subject === evilSubject, { timeoutMs: 5_000 });
  });
  afterAll(async () => {
    await app.close();
    await mailbox?.stop();
  });

  it('GET /dev/mailbox/messages lists messages newest first as JSON', async () => {
    const res = await app.inject({ method: 'GET', url: '/dev/mailbox/messages' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    const list = res.json() as MailboxMessage[];
    expect(list.map((m) => m.id)).toEqual([evil.id, first.id]);
    expect(list[1]).toEqual(first);
  });

  it('?to= filters by recipient, case-insensitively and exactly', async () => {
    const res = await app.inject({ method: 'GET', url: '/dev/mailbox/messages?to=ALICE%40example.TEST' });
    expect((res.json() as MailboxMessage[]).map((m) => m.id)).toEqual([first.id]);
    const none = await app.inject({ method: 'GET', url: '/dev/mailbox/messages?to=lice%40example.test' });
    expect(none.json()).toEqual([]);
  });

  it('GET /dev/mailbox/messages/:id returns the message, 404 for an unknown id', async () => {
    const ok = await app.inject({ method: 'GET', url: `/dev/mailbox/messages/${first.id}` });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual(first);
    const missing = await app.inject({ method: 'GET', url: '/dev/mailbox/messages/does-not-exist' });
    expect(missing.statusCode).toBe(404);
    const missingPage = await app.inject({ method: 'GET', url: '/dev/mailbox/does-not-exist' });
    expect(missingPage.statusCode).toBe(404);
  });

  it('GET /dev/mailbox renders an HTML list with escaped subjects linking to each message', async () => {
    const res = await app.inject({ method: 'GET', url: '/dev/mailbox' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    const html = res.body;
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('name="viewport"');
    expect(html).toContain(`href="/dev/mailbox/${first.id}"`);
    expect(html).toContain(`href="/dev/mailbox/${evil.id}"`);
    expect(html).toContain('Your assessment is ready');
    expect(html).toContain(escapeHtml(evilSubject));
    expect(html).not.toContain('<script>');
    // newest first
    expect(html.indexOf(evil.id)).toBeLessThan(html.indexOf(first.id));
  });

  it('GET /dev/mailbox/:id renders headers, a sandboxed srcdoc iframe, the text and real links', async () => {
    const res = await app.inject({ method: 'GET', url: `/dev/mailbox/${first.id}` });
    expect(res.statusCode).toBe(200);
    const html = res.body;
    expect(html).toContain('<title>Your assessment is ready · Dev mailbox</title>');
    expect(html).toContain('alice@example.test');
    expect(html).toContain(
      '<iframe title="HTML body of the message" sandbox="allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"',
    );
    // the email HTML is attribute-escaped inside srcdoc (its <script> cannot leak into the page)
    const srcdoc = /srcdoc="([^"]*)"/.exec(html)?.[1];
    expect(srcdoc).toBeDefined();
    expect(srcdoc).toContain(
      '&lt;a href=&quot;https://app.example.test/verify?token=abc123&amp;amp;next=%2Fhome&quot;&gt;',
    );
    expect(srcdoc).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script>');
    // the extracted link is a real anchor (attribute-escaped)
    expect(html).toContain(`<a href="${escapeHtml(LINK)}">${escapeHtml(LINK)}</a>`);
    expect(html).toContain(`<pre>See ${escapeHtml(LINK)}`);
  });

  it('escapes a <script> subject and the plain text on the message page', async () => {
    const res = await app.inject({ method: 'GET', url: `/dev/mailbox/${evil.id}` });
    const html = res.body;
    expect(html).toContain(`<h1>${escapeHtml(evilSubject)}</h1>`);
    expect(html).toContain(`<title>${escapeHtml(evilSubject)} · Dev mailbox</title>`);
    expect(html).toContain('plain &lt;b&gt;text&lt;/b&gt;');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>text</b>');
    expect(html).toContain('This message has no HTML part.');
  });

  it('DELETE /dev/mailbox/messages clears the mailbox', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/dev/mailbox/messages' });
    expect(res.statusCode).toBe(204);
    expect(mailbox.messages()).toEqual([]);
    const list = await app.inject({ method: 'GET', url: '/dev/mailbox/messages' });
    expect(list.json()).toEqual([]);
  });
});

describe('dev mailbox persistence and limits', () => {
  it('persistFile keeps messages across a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dev-mailbox-'));
    const persistFile = join(dir, 'nested', 'mailbox.json');
    try {
      const a = await startDevMailbox({ port: 0, persistFile });
      await transportFor(a).sendMail({
        from: 'bot@example.test',
        to: 'p@example.test',
        subject: 'persist me',
        text: `go ${LINK}`,
      });
      const sent = await a.waitFor((m) => m.subject === 'persist me', { timeoutMs: 5_000 });
      await a.stop();
      expect(JSON.parse(await readFile(persistFile, 'utf8')).messages).toHaveLength(1);

      const b = await startDevMailbox({ port: 0, persistFile });
      try {
        expect(b.messages()).toEqual([sent]);
        expect(b.get(sent.id)?.links).toEqual([LINK]);
        // an already-persisted message satisfies waitFor immediately
        await expect(b.waitFor((m) => m.id === sent.id, { timeoutMs: 100 })).resolves.toEqual(sent);
        b.clear();
      } finally {
        await b.stop();
      }
      const c = await startDevMailbox({ port: 0, persistFile });
      expect(c.messages()).toEqual([]);
      await c.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps only the newest maxMessages', async () => {
    const mb = await startDevMailbox({ port: 0, maxMessages: 2 });
    try {
      const t = transportFor(mb);
      for (const n of [1, 2, 3])
        await t.sendMail({ from: 'bot@example.test', to: 'x@example.test', subject: `n${n}`, text: 'x' });
      expect(mb.messages().map((m) => m.subject)).toEqual(['n2', 'n3']);
    } finally {
      await mb.stop();
    }
  });

  it('rejects a second mailbox on a port that is already in use', async () => {
    const mb = await startDevMailbox({ port: 0 });
    try {
      await expect(startDevMailbox({ port: mb.port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await mb.stop();
    }
  });
});

describe('api/html helpers', () => {
  it('escapeHtml escapes all five significant characters', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });
  it('page() builds a complete document with an escaped title', () => {
    const doc = page({ title: 'A < B', body: '<main><h1>Hi</h1></main>' });
    expect(doc.startsWith('<!doctype html>')).toBe(true);
    expect(doc).toContain('<html lang="en">');
    expect(doc).toContain('<title>A &lt; B</title>');
    expect(doc).toContain('<main><h1>Hi</h1></main>');
  });
});
