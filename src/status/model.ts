import { rateKeys, type RateConfig } from '../../detectors/rate.js';
import type { BreakerPhase } from '../breaker/types.js';
import type { IdentityBreaker } from '../state/breaker-view.js';
import type { StoredCounter } from '../state/baseline-read.js';
import type { AuditEntry, AuditIndex } from './audit-index.js';
import { rateChart, type ChartMark, type RateChart } from './chart.js';

/** Where the page reads: Redis (breakers, baselines, as `warden breaker list` does), the audit index, the running config. */
export interface StatusSources {
  breakers(identity?: string): Promise<IdentityBreaker[]>;
  baselines(identity: string, trackPrefix: string): Promise<StoredCounter[]>;
  audit: AuditIndex;
  rate(): RateConfig;
  now(): number;
  historyMs: number;
}

export type By = { kind: 'detector'; detector: string; rule: string | null } | { kind: 'operator'; operator: string; kid: string | null };

export interface ScopeRow {
  identity: string;
  scope: string;
  /** `suspended` (open, until ahead), `ended` (open, its until passed: Warden closes it on the identity's next event), `probation`, `closed`. */
  status: 'suspended' | 'ended' | 'probation' | 'closed';
  phase: BreakerPhase;
  since: number | null;
  until: number | null;
  probationUntil: number | null;
  strikes: number;
  by: By;
  reason: string;
  commandId: string;
}

export interface RecentRow {
  identity: string;
  scope: string;
  at: number;
  by: By;
  reason: string;
  /** How it ended, if it did: the resume command's reason. */
  ended: { at: number; by: By; reason: string } | null;
}

export const OPERATOR_REASON = /^operator (\S+): /;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Who decided a command: the detector (and rule, from its detection), or the operator of the control that caused it. */
function byOf(audit: AuditIndex, identity: string, commandId: string, detector: string | null, reason: string): By {
  const timeline = audit.timeline(identity);
  if (detector !== null) {
    const d = timeline.find((e) => e.kind === 'detection' && e.record.commandId === commandId);
    return { kind: 'detector', detector, rule: d ? str(d.record.rule) : null };
  }
  const c = timeline.find((e) => e.kind === 'control' && Array.isArray(e.record.commandIds) && e.record.commandIds.includes(commandId));
  if (c) return { kind: 'operator', operator: str(c.record.operator), kid: str(c.record.kid) || null };
  return { kind: 'operator', operator: OPERATOR_REASON.exec(reason)?.[1] ?? '', kid: null };
}

function scopeRows(b: IdentityBreaker, audit: AuditIndex, now: number): ScopeRow[] {
  return Object.entries(b.breaker).map(([scope, s]) => {
    const open = s.phase === 'open';
    return {
      identity: b.identity, scope, phase: s.phase,
      status: open ? (s.until > now ? 'suspended' : 'ended') : s.phase === 'half-open' ? 'probation' : 'closed',
      since: s.openedAt ?? null, until: s.phase === 'closed' ? null : s.until, probationUntil: s.phase === 'closed' ? null : s.probationUntil,
      // A closed breaker keeps the detector that opened it; its reason says who closed it.
      strikes: s.strikes, by: byOf(audit, b.identity, s.commandId, s.phase === 'closed' && OPERATOR_REASON.test(s.reason) ? null : s.detector, s.reason),
      reason: s.reason, commandId: s.commandId,
    };
  });
}

export interface Overview {
  now: ScopeRow[];
  /** On probation, ended, or suspended and resumed within the history window. */
  recent: RecentRow[];
  watching: ScopeRow[];
  history: { sinceMs: number; since: number | null; read: number };
}

export async function overview(src: StatusSources): Promise<Overview> {
  const now = src.now();
  const rows = (await src.breakers()).flatMap((b) => scopeRows(b, src.audit, now));
  const suspended = rows.filter((r) => r.status === 'suspended').sort((a, b) => (b.since ?? 0) - (a.since ?? 0));
  const held = new Set(suspended.map((r) => `${r.identity}\n${r.scope}`));
  const recent: RecentRow[] = [];
  for (const { identity, suspend, after } of src.audit.suspendedSince(now - src.historyMs)) {
    const r = suspend.record;
    const scope = str(r.scope);
    if (held.has(`${identity}\n${scope}`)) continue;
    const end = after.find((e) => e.record.scope === scope || e.record.scope === '*');
    recent.push({
      identity, scope, at: suspend.ts, reason: str(r.reason),
      by: byOf(src.audit, identity, str(r.commandId), typeof r.detector === 'string' ? r.detector : null, str(r.reason)),
      ended: end ? { at: end.ts, reason: str(end.record.reason), by: byOf(src.audit, identity, str(end.record.commandId), typeof end.record.detector === 'string' && !OPERATOR_REASON.test(str(end.record.reason)) ? end.record.detector : null, str(end.record.reason)) } : null,
    });
  }
  const listed = new Set(recent.map((r) => `${r.identity}\n${r.scope}`));
  return {
    now: suspended, recent,
    // What Redis holds beyond the history window: probation, an ended suspension not yet closed, strikes not yet forgiven.
    watching: rows.filter((r) => r.status !== 'suspended' && (r.status !== 'closed' || r.strikes > 0) && !listed.has(`${r.identity}\n${r.scope}`))
      .sort((a, b) => (b.since ?? 0) - (a.since ?? 0)),
    history: { sinceMs: src.historyMs, since: src.audit.since, read: src.audit.read },
  };
}

export interface IdentityPage {
  identity: string;
  found: IdentityBreaker | null;
  scopes: ScopeRow[];
  /** Newest first. */
  timeline: AuditEntry[];
  charts: RateChart[];
}

/** Charts shown per identity, the busiest actions first. */
export const MAX_CHARTS = 6;

export async function identityPage(src: StatusSources, identity: string): Promise<IdentityPage> {
  const [found] = await src.breakers(identity);
  const timeline = [...src.audit.timeline(identity)].reverse();
  const rate = src.rate();
  const prefix = rateKeys('')[0];
  const counters = await src.baselines(identity, prefix);
  const charts = counters
    .sort((a, b) => b.baseline.mean - a.baseline.mean || b.count - a.count)
    .slice(0, MAX_CHARTS)
    .map((c) => {
      const action = c.track.slice(prefix.length);
      const marks: ChartMark[] = timeline
        .filter((e) => e.kind === 'detection' && e.record.detector === 'rate' && e.record.action === action)
        .flatMap((e) => {
          const ev = e.record.evidence as Record<string, unknown> | undefined;
          return ev && ev.windowMs === rate.baseline.bucketMs && typeof ev.observed === 'number'
            ? [{ ts: e.ts, observed: ev.observed, limit: typeof ev.limit === 'number' ? ev.limit : null }] : [];
        });
      return rateChart(action, c, rate.baseline.short, rate.baseline.bucketMs, marks);
    });
  return { identity, found: found ?? null, scopes: found ? scopeRows(found, src.audit, src.now()) : [], timeline, charts };
}
