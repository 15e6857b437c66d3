import { formatDuration } from '../../detectors/format.js';
import type { AuditEntry } from './audit-index.js';
import { chartSvg } from './chart.js';
import { href, html, type Html } from './html.js';
import { OPERATOR_REASON, type By, type IdentityPage, type Overview, type RecentRow, type ScopeRow } from './model.js';

export interface Viewer {
  operator: string;
  /** Null: may look, not act (no buttons). */
  kid: string | null;
  csrf: string;
}

const time = (ms: number | null): string => {
  if (ms === null || !Number.isFinite(ms)) return '-';
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
};
const scopeName = (s: string | null): string => (s === null ? 'everything' : s === '*' ? 'whole identity' : s);
const identityLink = (identity: string): Html => html`<a class="identity" href="${href('/status/identity', { id: identity })}">${identity}</a>`;

function by(b: By): Html {
  return b.kind === 'detector'
    ? html`<span class="by detector">${b.detector}${b.rule ? html`<span class="rule">/${b.rule}</span>` : null}</span>`
    : html`<span class="by operator">operator ${b.operator || '?'}${b.kid ? html` <span class="kid">(key ${b.kid})</span>` : null}</span>`;
}

export function layout(title: string, viewer: Viewer | null, body: Html): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Warden</title><link rel="stylesheet" href="/status/static/style.css"><script src="/status/static/app.js" defer></script></head>
<body><header><a class="brand" href="/status">Warden</a><span class="title">${title}</span>
${viewer ? html`<span class="who">signed in as <b>${viewer.operator}</b>${viewer.kid ? html` · key ${viewer.kid}` : html` · view only`}</span>` : null}</header>
<main id="live">${body}</main></body></html>`;
}

function statusBadge(r: ScopeRow): Html {
  const label = r.status === 'ended' ? 'ended (closes on its next event)' : r.status === 'probation' ? 'on probation' : r.status;
  return html`<span class="badge ${r.status}">${label}</span>`;
}

function resumeForm(viewer: Viewer, identity: string, scope: string | null, label: string): Html | null {
  if (!viewer.kid) return null;
  return html`<form class="control" method="post" action="/status/control" data-scope="${scope ?? ''}">
<input type="hidden" name="csrf" value="${viewer.csrf}"><input type="hidden" name="op" value="resume">
<input type="hidden" name="identity" value="${identity}"><input type="hidden" name="scope" value="${scope ?? ''}">
<input name="reason" required maxlength="500" placeholder="reason" aria-label="reason to resume ${identity}">
<button type="submit" class="resume">${label}</button></form>`;
}

function suspendForm(viewer: Viewer, identity: string): Html | null {
  if (!viewer.kid) return null;
  return html`<form class="control suspend" method="post" action="/status/control">
<input type="hidden" name="csrf" value="${viewer.csrf}"><input type="hidden" name="op" value="suspend">
<input type="hidden" name="identity" value="${identity}">
<input name="scope" placeholder="action (empty: whole identity)" aria-label="scope">
<input name="ttl" placeholder="for (e.g. 2h; empty: maxTtl)" aria-label="ttl" size="14">
<input name="reason" required maxlength="500" placeholder="why (in the audit trail)" aria-label="reason to suspend ${identity}">
<button type="submit" class="suspend">Suspend</button></form>`;
}

function nowTable(rows: ScopeRow[], viewer: Viewer): Html {
  if (rows.length === 0) return html`<p class="empty">No identity is suspended.</p>`;
  return html`<table class="rows"><thead><tr><th>identity</th><th>scope</th><th>since · until</th><th>by</th><th>reason</th><th>strike</th><th></th></tr></thead><tbody>
${rows.map((r) => html`<tr data-identity="${r.identity}"><td class="id">${identityLink(r.identity)}</td><td>${scopeName(r.scope)}</td><td class="time">${time(r.since)}<br><span class="meta">until ${time(r.until)}</span></td><td>${by(r.by)}</td><td class="reason">${r.reason}</td><td>${r.strikes}</td>
<td>${resumeForm(viewer, r.identity, r.scope, 'Resume')}</td></tr>`)}</tbody></table>`;
}

function recentTable(rows: RecentRow[], watching: ScopeRow[]): Html {
  if (rows.length === 0 && watching.length === 0) return html`<p class="empty">Nothing suspended in this window.</p>`;
  return html`<table class="rows"><thead><tr><th>identity</th><th>scope</th><th>suspended</th><th>by</th><th>reason</th><th>ended</th></tr></thead><tbody>
${rows.map((r) => html`<tr data-identity="${r.identity}"><td class="id">${identityLink(r.identity)}</td><td>${scopeName(r.scope)}</td><td class="time">${time(r.at)}</td><td>${by(r.by)}</td><td class="reason">${r.reason}</td>
<td>${r.ended ? html`${time(r.ended.at)} · ${by(r.ended.by)}<div class="reason">${r.ended.by.kind === 'operator' ? r.ended.reason.replace(OPERATOR_REASON, '') : r.ended.reason}</div>` : html`<span class="badge ended">not resumed yet</span>`}</td></tr>`)}
${watching.map((r) => html`<tr data-identity="${r.identity}"><td class="id">${identityLink(r.identity)}</td><td>${scopeName(r.scope)}</td><td class="time">${time(r.since)}</td><td>${by(r.by)}</td><td class="reason">${r.reason}</td><td>${statusBadge(r)}${r.strikes > 0 ? html` · strike ${r.strikes}` : null}</td></tr>`)}
</tbody></table>`;
}

export function overviewPage(o: Overview, viewer: Viewer): Html {
  const window = formatDuration(o.history.sinceMs);
  return layout('Circuit breakers', viewer, html`
<section><h2>Suspended now <span class="count">${o.now.length}</span></h2>${nowTable(o.now, viewer)}</section>
<section><h2>Recently <span class="sub">(last ${window}, and every breaker on probation or with strikes)</span></h2>${recentTable(o.recent, o.watching)}</section>
<form class="lookup" method="get" action="/status/identity"><input name="id" required placeholder="identity" aria-label="identity"><button type="submit">Look up</button></form>
<footer>Decisions read from the decisions topic since ${time(o.history.since)} (${o.history.read} records); breakers from Redis. Times are UTC.</footer>`);
}

function evidence(v: unknown): Html {
  if (v === null || typeof v !== 'object') return html`<code>${JSON.stringify(v) ?? String(v)}</code>`;
  const entries = Object.entries(v as Record<string, unknown>);
  return html`<table class="evidence">${entries.map(([k, x]) => html`<tr><th>${k}</th><td>${x !== null && typeof x === 'object' ? evidence(x) : html`<code>${typeof x === 'string' ? x : JSON.stringify(x)}</code>`}</td></tr>`)}</table>`;
}

function entry(e: AuditEntry): Html {
  const r = e.record;
  const s = (k: string): string => (typeof r[k] === 'string' ? (r[k] as string) : r[k] === null || r[k] === undefined ? '' : JSON.stringify(r[k]));
  if (e.kind === 'detection') {
    return html`<li class="detection ${s('decision')}"><time>${time(e.ts)}</time><span class="badge ${s('decision')}">${s('decision')}</span>
<b>${s('detector')}/${s('rule')}</b> <span class="sev">${s('severity')}</span> · ${scopeName(s('scope'))} · <code>${s('action')}</code> on <code>${s('resource')}</code>
<div class="reason">${s('reason')}</div><details><summary>evidence</summary>${evidence(r.evidence)}<div class="meta">event ${s('eventId')} · mode ${s('mode')} · class ${s('agentClass')}</div></details></li>`;
  }
  if (e.kind === 'command') {
    return html`<li class="command ${s('type')}"><time>${time(e.ts)}</time><span class="badge ${s('type') === 'suspend' ? 'suspended' : 'resumed'}">${s('type')}</span>
${scopeName(s('scope'))}${s('type') === 'suspend' ? html` until ${time(typeof r.until === 'number' ? r.until : null)} · strike ${s('strike')}` : null} · ${r.detector === null ? 'operator' : s('detector')}
<div class="reason">${s('reason')}</div><div class="meta">command ${s('commandId')} · seq ${s('seq')}</div></li>`;
  }
  return html`<li class="control ${s('result')}"><time>${time(e.ts)}</time><span class="badge control">${s('op')} by ${s('operator')}</span>
${scopeName(typeof r.scope === 'string' ? r.scope : null)} · ${s('result')}: ${s('detail')}
<div class="reason">${s('reason')}</div><div class="meta">control ${s('controlId')} · key ${s('kid')}</div></li>`;
}

export function identityView(p: IdentityPage, viewer: Viewer, sent: { id: string; outcome: AuditEntry | undefined; late?: boolean } | null): Html {
  const f = p.found;
  const open = p.scopes.filter((r) => r.status === 'suspended');
  const notice = sent
    ? sent.outcome
      ? html`<p class="notice ${String(sent.outcome.record.result)}" data-control="${sent.id}">Control ${sent.id}: ${String(sent.outcome.record.result)}. ${String(sent.outcome.record.detail)}</p>`
      : sent.late
        ? html`<p class="notice error" data-control="${sent.id}">Control ${sent.id} published, but no audit record yet: Warden may have refused it (see the dead-letter topic: usually a key it does not hold) or is behind on the actions topic.</p>`
        : html`<p class="notice pending" data-control="${sent.id}">Control ${sent.id} published; waiting for Warden to apply it…</p>`
    : null;
  return layout('Identity', viewer, html`${notice}
<h1 class="identity">${p.identity}</h1>
<p class="meta">${f ? html`partition ${f.partition} · ${f.firstSeen === null ? 'no events on record' : html`first seen ${time(f.firstSeen)} · ${f.events} events`}` : 'not in Redis (not seen, or expired after its idle TTL)'}</p>
<section><h2>Breaker</h2>
${p.scopes.length === 0 ? html`<p class="empty">Closed, no strikes.</p>` : html`<table class="rows"><thead><tr><th>scope</th><th>status</th><th>since</th><th>until</th><th>probation until</th><th>by</th><th>reason</th><th>strikes</th></tr></thead><tbody>
${p.scopes.map((r) => html`<tr data-scope="${r.scope}"><td>${scopeName(r.scope)}</td><td>${statusBadge(r)}</td><td class="time">${time(r.since)}</td><td class="time">${time(r.until)}</td><td class="time">${time(r.probationUntil)}</td><td>${by(r.by)}</td><td class="reason">${r.reason}</td><td>${r.strikes}</td></tr>`)}</tbody></table>`}
<div class="actions">${open.map((r) => resumeForm(viewer, p.identity, r.scope, `Resume ${scopeName(r.scope)}`))}${open.length > 1 ? resumeForm(viewer, p.identity, null, 'Resume everything') : null}${suspendForm(viewer, p.identity)}</div></section>
<section><h2>Rate against its learned baseline</h2>
${p.charts.length === 0 ? html`<p class="empty">No learned rate baseline stored for this identity.</p>` : p.charts.map((c) => html`<figure class="chart"><figcaption><code>${c.action}</code> · events per ${formatDuration(c.bucketMs)} by hour of day (UTC) · ${c.n} buckets learned · latest bucket ${time(c.bucket.start)}: ${c.bucket.count}</figcaption>${chartSvg(c)}</figure>`)}
${p.charts.length > 0 ? html`<p class="legend"><span class="k expected"></span>expected <span class="k band"></span>± 1 sd <span class="k bar"></span>threshold (rate short bar, before overrides) <span class="k now"></span>latest bucket <span class="k hourmean"></span>this hour's mean so far <span class="k mark"></span>rate detection <span class="k unlearned"></span>hour not learned yet</p>` : null}
</section>
<section><h2>Timeline <span class="sub">(newest first)</span></h2>${p.timeline.length === 0 ? html`<p class="empty">No decisions in the history window.</p>` : html`<ol class="timeline">${p.timeline.map(entry)}</ol>`}</section>`);
}

export function messagePage(title: string, message: string, viewer: Viewer | null): Html {
  return layout(title, viewer, html`<p class="notice error">${message}</p><p><a href="/status">Back to the breakers</a></p>`);
}
