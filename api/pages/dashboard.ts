import { stages } from '../../domain/lifecycle.js';
import type { OpenIncident } from '../../domain/open-incidents.js';
import { escapeHtml as e } from '../html.js';
import {
  visibilityTiers,
  type OverdueReview,
  type PendingApprovalItem,
  type StageTierCounts,
  type SystemPage,
  type UpcomingReview,
} from '../../views/visibility.js';
import { duration, governancePage, label, systemLink, tierBadge, timeEl, when } from './layout.js';

export interface MonthBucket {
  /** YYYY-MM */
  key: string;
  /** "December 2026" */
  name: string;
  /** "Dec" */
  short: string;
  reviews: UpcomingReview[];
}

export interface DashboardFilter {
  stage?: string;
  tier?: string;
  owner?: string;
  pageToken?: string;
}

/** An outbox e-mail that failed, for good or for now. */
export interface MailProblem {
  systemId: string;
  /** From the record store's projection; null for a system it does not know (yet). */
  systemName: string | null;
  kind: string;
  to: string;
  error: string | null;
  /** When it failed (ISO): the row's last change. */
  at: string;
  attempts: number;
}

export interface DashboardData {
  now: Date;
  counts: StageTierCounts;
  overdue: OverdueReview[];
  pending: PendingApprovalItem[];
  months: MonthBucket[];
  systems: SystemPage;
  filter: DashboardFilter;
  /** A filter the listing refused (shown next to the form). */
  filterError?: string;
  /** From the record store, not visibility: newest first, each list possibly cut short of its total. */
  mail: { failed: MailProblem[]; failedTotal: number; retrying: MailProblem[]; retryingTotal: number };
  /** Open incidents and their corrective actions, from the record store's audit trail; overdue first. */
  incidents: OpenIncident[];
  /** Whether the viewer may read the Statement of Applicability (the nav links to it only then). */
  statementOfApplicability?: boolean;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH_NAMES = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** The first instant of the UTC month `offset` months after the month of `now`. */
export function monthStart(now: Date, offset: number): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
}

/** Twelve calendar months from the current one, with the reviews falling due in each (from `now` on). */
export function bucketByMonth(now: Date, reviews: UpcomingReview[], months = 12): MonthBucket[] {
  return Array.from({ length: months }, (_, i) => {
    const start = monthStart(now, i);
    const end = monthStart(now, i + 1);
    const m = start.getUTCMonth();
    return {
      key: `${start.getUTCFullYear()}-${String(m + 1).padStart(2, '0')}`,
      name: `${MONTH_NAMES[m]} ${start.getUTCFullYear()}`,
      short: MONTHS[m]!,
      reviews: reviews.filter((r) => {
        const t = Date.parse(r.reviewDueAt);
        return t >= start.getTime() && t < end.getTime();
      }),
    };
  });
}

/**
 * Horizontal bars of reviews due per month (one row per month reads on a
 * phone as well as on a laptop). The svg's name and description carry the
 * numbers for assistive technology; the table below lists the systems.
 */
export function reviewChart(months: MonthBucket[]): string {
  const rowH = 26;
  const barH = 16;
  const labelW = 84;
  const barMax = 250;
  const W = 400;
  const H = months.length * rowH + 8;
  const max = Math.max(1, ...months.map((m) => m.reviews.length));
  const total = months.reduce((n, m) => n + m.reviews.length, 0);
  const desc = months.map((m) => `${m.name}: ${m.reviews.length}`).join('; ');
  const rows = months
    .map((m, i) => {
      const n = m.reviews.length;
      const y = 4 + i * rowH;
      const w = n === 0 ? 0 : Math.max(3, Math.round((n / max) * barMax));
      const text = y + rowH / 2 + 5;
      return `<text x="${labelW - 8}" y="${text}" text-anchor="end" font-size="14" fill="#1a1a1a">${e(m.short)} ${e(m.key.slice(0, 4))}</text>
<rect x="${labelW}" y="${y + (rowH - barH) / 2}" width="${w}" height="${barH}" rx="3" fill="#0b57d0"></rect>
<text x="${labelW + w + 6}" y="${text}" font-size="14" fill="#1a1a1a">${n}</text>`;
    })
    .join('\n');
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="chart-title chart-desc" focusable="false" xmlns="http://www.w3.org/2000/svg">
<title id="chart-title">Periodic reviews due per month over the next 12 months: ${total} in total</title>
<desc id="chart-desc">${e(desc)}</desc>
<line x1="${labelW}" y1="0" x2="${labelW}" y2="${H}" stroke="#767676" stroke-width="1"></line>
${rows}
</svg>`;
}

function countsSection(c: StageTierCounts): string {
  const stageRows = stages
    .map(
      (s) =>
        `<tr><th scope="row"><a href="/?stage=${s}#systems">${e(label(s))}</a></th><td class="num">${c.byStage[s]}</td></tr>`,
    )
    .join('');
  const tierRows = visibilityTiers
    .map(
      (t) =>
        `<tr><th scope="row"><a href="/?tier=${t}#systems">${e(label(t))}</a></th><td class="num">${c.byTier[t]}</td></tr>`,
    )
    .join('');
  return `<section aria-labelledby="counts-h">
<h2 id="counts-h">Systems by stage and risk tier</h2>
<div class="grid">
<table id="by-stage"><caption>Systems per lifecycle stage</caption>
<thead><tr><th scope="col">Stage</th><th scope="col" class="num">Systems</th></tr></thead>
<tbody>${stageRows}</tbody></table>
<table id="by-tier"><caption>Systems per risk tier</caption>
<thead><tr><th scope="col">Risk tier</th><th scope="col" class="num">Systems</th></tr></thead>
<tbody>${tierRows}</tbody></table>
</div>
</section>`;
}

function overdueSection(items: OverdueReview[], now: Date): string {
  const body =
    items.length === 0
      ? '<p class="ok">No periodic review is overdue.</p>'
      : `<table class="stack" id="overdue-table"><caption>${items.length} overdue review${items.length === 1 ? '' : 's'}, most overdue first</caption>
<thead><tr><th scope="col">System</th><th scope="col">Owner</th><th scope="col">Risk tier</th><th scope="col">Due</th><th scope="col" class="num">Days overdue</th><th scope="col" class="num">Escalations sent</th></tr></thead>
<tbody>${items
          .map(
            (o) => `<tr data-system="${e(o.id)}">
<td data-label="System">${systemLink(o.id, o.name)}</td>
<td data-label="Owner" class="who">${e(o.owner)}</td>
<td data-label="Risk tier">${tierBadge(o.riskTier)}</td>
<td data-label="Due">${timeEl(o.reviewDueAt)} <span class="muted">(${e(duration(now.getTime() - Date.parse(o.reviewDueAt)))} ago)</span></td>
<td data-label="Days overdue" class="num">${o.daysOverdue}</td>
<td data-label="Escalations sent" class="num">${o.escalationsSent}</td>
</tr>`,
          )
          .join('')}</tbody></table>`;
  return `<section aria-labelledby="overdue-h" id="overdue">
<h2 id="overdue-h">Overdue reviews</h2>
${body}
</section>`;
}

function incidentsSection(items: OpenIncident[], now: Date): string {
  const overdue = items.filter((i) => i.overdue).length;
  const due = (i: OpenIncident) => {
    const ms = Date.parse(i.correctiveActionDueAt) - now.getTime();
    if (i.overdue)
      return `<strong class="error">overdue</strong> <span class="muted">(${plural(i.daysOverdue, 'day', 'days')})</span>`;
    return `<span class="muted">in ${e(duration(Math.max(0, ms)))}</span>`;
  };
  const body =
    items.length === 0
      ? '<p class="ok">No incident is open.</p>'
      : `<table class="stack" id="incidents-table"><caption>${plural(items.length, 'open incident', 'open incidents')}, ${overdue} with the corrective action overdue; overdue first, then by due date</caption>
<thead><tr><th scope="col">System</th><th scope="col">Incident</th><th scope="col">Corrective action</th><th scope="col">Owner</th><th scope="col">Due</th><th scope="col">Status</th><th scope="col" class="num">Escalations sent</th></tr></thead>
<tbody>${items
          .map(
            (
              i,
            ) => `<tr data-system="${e(i.systemId)}" data-incident="${e(i.incidentId)}"${i.overdue ? ' data-overdue="true" class="late"' : ''}>
<td data-label="System">${systemLink(i.systemId, i.systemName)}</td>
<td data-label="Incident">${e(i.incidentId)} <span class="badge">${e(i.severity)}</span> <span class="muted">reported ${timeEl(i.reportedAt)}</span></td>
<td data-label="Corrective action">${e(i.correctiveAction)}</td>
<td data-label="Owner" class="who">${e(i.correctiveActionOwner)}</td>
<td data-label="Due">${timeEl(i.correctiveActionDueAt)}</td>
<td data-label="Status">${due(i)}${i.reminderSentAt ? ` <span class="muted">reminded ${timeEl(i.reminderSentAt)}</span>` : ''}</td>
<td data-label="Escalations sent" class="num">${i.escalationsSent}</td>
</tr>`,
          )
          .join('')}</tbody></table>`;
  return `<section aria-labelledby="incidents-h" id="incidents">
<h2 id="incidents-h">Open incidents and corrective actions</h2>
${body}
</section>`;
}

function pendingSection(items: PendingApprovalItem[]): string {
  const body =
    items.length === 0
      ? '<p class="ok">No approval is waiting.</p>'
      : `<table class="stack" id="pending-table"><caption>${items.length} approval${items.length === 1 ? '' : 's'} waiting, oldest first</caption>
<thead><tr><th scope="col">System</th><th scope="col">Waiting on</th><th scope="col">Step</th><th scope="col">Requested</th><th scope="col" class="num">Waiting for</th></tr></thead>
<tbody>${items
          .map(
            (p) => `<tr data-system="${e(p.id)}">
<td data-label="System">${systemLink(p.id, p.name)}</td>
<td data-label="Waiting on" class="who">${e(p.approver ?? 'unknown')}</td>
<td data-label="Step">${e(p.step ?? '—')}</td>
<td data-label="Requested">${timeEl(p.pendingSince)}</td>
<td data-label="Waiting for" class="num">${e(duration(p.ageSeconds * 1000))}</td>
</tr>`,
          )
          .join('')}</tbody></table>`;
  return `<section aria-labelledby="pending-h" id="pending">
<h2 id="pending-h">Pending approvals</h2>
${body}
</section>`;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function mailRows(items: MailProblem[], withAttempts: boolean): string {
  return items
    .map(
      (m) => `<tr data-system="${e(m.systemId)}">
<td data-label="System">${systemLink(m.systemId, m.systemName ?? m.systemId)}</td>
<td data-label="E-mail">${e(label(m.kind))}</td>
<td data-label="To" class="who">${e(m.to)}</td>
<td data-label="${withAttempts ? 'Last error' : 'Error'}">${e(m.error ?? '—')}</td>
${withAttempts ? `<td data-label="Attempts" class="num">${m.attempts}</td>\n` : ''}<td data-label="${withAttempts ? 'Last attempt' : 'Failed'}" class="nowrap">${timeEl(m.at)}</td>
</tr>`,
    )
    .join('');
}

/** Failed for good and failed for now; the record store's outbox, so it shows even when visibility lags. */
function mailSection(mail: DashboardData['mail']): string {
  const shown = (n: number, total: number) => (n < total ? ` (the newest ${n} shown)` : '');
  const failed =
    mail.failedTotal === 0
      ? '<p class="ok" id="failed-mail-none">No e-mail has failed.</p>'
      : `<table class="stack" id="failed-mail-table"><caption>${plural(mail.failedTotal, 'e-mail', 'e-mails')} could not be delivered, newest first${shown(mail.failed.length, mail.failedTotal)}. Each can be sent again from its system's page.</caption>
<thead><tr><th scope="col">System</th><th scope="col">E-mail</th><th scope="col">To</th><th scope="col">Error</th><th scope="col">Failed</th></tr></thead>
<tbody>${mailRows(mail.failed, false)}</tbody></table>`;
  const retrying =
    mail.retryingTotal === 0
      ? '<p class="ok" id="retrying-mail-none">No e-mail is waiting for another attempt.</p>'
      : `<table class="stack" id="retrying-mail-table"><caption>${plural(mail.retryingTotal, 'e-mail is', 'e-mails are')} being retried after a temporary failure, newest first${shown(mail.retrying.length, mail.retryingTotal)}</caption>
<thead><tr><th scope="col">System</th><th scope="col">E-mail</th><th scope="col">To</th><th scope="col">Last error</th><th scope="col" class="num">Attempts</th><th scope="col">Last attempt</th></tr></thead>
<tbody>${mailRows(mail.retrying, true)}</tbody></table>`;
  return `<section aria-labelledby="failed-mail-h" id="failed-mail">
<h2 id="failed-mail-h">E-mails that could not be delivered</h2>
${failed}
</section>
<section aria-labelledby="retrying-mail-h" id="retrying-mail">
<h2 id="retrying-mail-h">E-mails being retried</h2>
${retrying}
</section>`;
}

function upcomingSection(months: MonthBucket[]): string {
  const due = months.filter((m) => m.reviews.length > 0);
  const rows = due
    .map(
      (m) => `<tr><th scope="row">${e(m.name)}</th><td class="num" data-label="Reviews due">${m.reviews.length}</td>
<td data-label="Systems">${m.reviews.map((r) => `${systemLink(r.id, r.name)} <span class="muted">(due ${e(r.reviewDueAt.slice(0, 10))})</span>`).join(', ')}</td></tr>`,
    )
    .join('');
  const table =
    due.length === 0
      ? '<p>No periodic review falls due in the next 12 months.</p>'
      : `<table class="stack" id="upcoming-table"><caption>Months with reviews due (every other month: none)</caption>
<thead><tr><th scope="col">Month</th><th scope="col" class="num">Reviews due</th><th scope="col">Systems</th></tr></thead>
<tbody>${rows}</tbody></table>`;
  return `<section aria-labelledby="upcoming-h" id="upcoming">
<h2 id="upcoming-h">Upcoming reviews</h2>
<figure aria-labelledby="chart-caption">
<figcaption id="chart-caption">Reviews due per month, next 12 months</figcaption>
${reviewChart(months)}
</figure>
${table}
</section>`;
}

function systemsSection(d: DashboardData): string {
  const f = d.filter;
  const option = (value: string, text: string, selected?: string) =>
    `<option value="${e(value)}"${selected === value ? ' selected' : ''}>${e(text)}</option>`;
  const form = `<form method="get" action="/#systems" class="filters" aria-label="Filter systems">
<div><label for="f-stage">Stage</label><select id="f-stage" name="stage">${option('', 'any stage', f.stage ?? '')}${stages.map((s) => option(s, label(s), f.stage)).join('')}</select></div>
<div><label for="f-tier">Risk tier</label><select id="f-tier" name="tier">${option('', 'any tier', f.tier ?? '')}${visibilityTiers.map((t) => option(t, label(t), f.tier)).join('')}</select></div>
<div><label for="f-owner">Owner e-mail</label><input id="f-owner" name="owner" type="email" value="${e(f.owner ?? '')}" autocomplete="email"></div>
<div><button type="submit">Show systems</button></div>
</form>`;
  const rows = d.systems.systems
    .map(
      (s) => `<tr data-system="${e(s.id)}">
<td data-label="System">${systemLink(s.id, s.name)} <span class="muted">${e(s.id)}</span></td>
<td data-label="Stage">${e(label(s.stage))}${s.status !== 'RUNNING' && s.status !== 'COMPLETED' ? ` <span class="badge">${e(s.status.toLowerCase())}</span>` : ''}</td>
<td data-label="Risk tier">${tierBadge(s.riskTier)}</td>
<td data-label="Owner" class="who">${e(s.owner ?? '—')}</td>
<td data-label="Review due">${timeEl(s.stage === 'retired' ? null : s.reviewDueAt)}</td>
</tr>`,
    )
    .join('');
  const filtered = Boolean(f.stage || f.tier || f.owner);
  const table =
    d.systems.systems.length === 0
      ? `<p>No system matches${filtered ? ' these filters' : ''}.</p>`
      : `<table class="stack" id="systems-table"><caption>Systems${filtered ? ' matching the filters' : ''}</caption>
<thead><tr><th scope="col">System</th><th scope="col">Stage</th><th scope="col">Risk tier</th><th scope="col">Owner</th><th scope="col">Review due</th></tr></thead>
<tbody>${rows}</tbody></table>`;
  const next = d.systems.nextPageToken
    ? `<p><a href="/?${new URLSearchParams({
        ...(f.stage ? { stage: f.stage } : {}),
        ...(f.tier ? { tier: f.tier } : {}),
        ...(f.owner ? { owner: f.owner } : {}),
        pageToken: d.systems.nextPageToken,
      }).toString()}#systems" rel="next">Next page of systems</a></p>`
    : '';
  return `<section aria-labelledby="systems-h" id="systems">
<h2 id="systems-h">All systems</h2>
${form}
${d.filterError ? `<p class="error" role="alert">${e(d.filterError)}</p>` : ''}
${table}
${next}
</section>`;
}

/** The governance lead's overview: what is late, who is holding it, what comes next. */
export function dashboardPage(d: DashboardData): string {
  const in30 = d.now.getTime() + 30 * 86_400_000;
  const soon = d.months.flatMap((m) => m.reviews).filter((r) => Date.parse(r.reviewDueAt) < in30).length;
  const overdueActions = d.incidents.filter((i) => i.overdue).length;
  const cards = `<ul class="cards" aria-label="At a glance">
<li${d.overdue.length ? ' class="late"' : ''}><span class="n" id="n-overdue">${d.overdue.length}</span> overdue review${d.overdue.length === 1 ? '' : 's'}</li>
<li><span class="n" id="n-pending">${d.pending.length}</span> pending approval${d.pending.length === 1 ? '' : 's'}</li>
<li><span class="n" id="n-soon">${soon}</span> review${soon === 1 ? '' : 's'} due in 30 days</li>
<li><span class="n" id="n-total">${d.counts.total}</span> AI system${d.counts.total === 1 ? '' : 's'}</li>
<li${overdueActions ? ' class="late"' : ''}><span class="n" id="n-overdue-actions">${overdueActions}</span> overdue corrective action${overdueActions === 1 ? '' : 's'}</li>
<li${d.mail.failedTotal ? ' class="late"' : ''}><span class="n" id="n-failed-mail">${d.mail.failedTotal}</span> undeliverable e-mail${d.mail.failedTotal === 1 ? '' : 's'}</li>
</ul>`;
  return governancePage({
    title: 'AI governance dashboard',
    nav: [
      { href: '#overdue', text: 'Overdue' },
      { href: '#pending', text: 'Pending' },
      { href: '#incidents', text: 'Incidents' },
      { href: '#failed-mail', text: 'E-mail' },
      { href: '#upcoming', text: 'Upcoming' },
      { href: '#systems', text: 'Systems' },
      ...(d.statementOfApplicability
        ? [{ href: '/statement-of-applicability', text: 'Statement of Applicability' }]
        : []),
    ],
    main: `<h1>AI governance dashboard</h1>
<p class="muted">As of ${timeEl(d.now.toISOString())}, from Temporal's visibility store and the record store (either can lag a few seconds behind).</p>
${cards}
${overdueSection(d.overdue, d.now)}
${pendingSection(d.pending)}
${incidentsSection(d.incidents, d.now)}
${mailSection(d.mail)}
${upcomingSection(d.months)}
${countsSection(d.counts)}
${systemsSection(d)}`,
  });
}
