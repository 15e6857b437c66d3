import { max, median } from 'simple-statistics';
import type { Incident } from '../sim/labels.js';

/** The fields of a detection the scorer needs; a Detection fits. */
export interface DecisionLike {
  identity: string;
  ts: number;
  chain?: string[];
  decision?: string;
  detector?: string;
  rule?: string;
  reason?: string;
}

export interface ScoreOptions {
  /** Decisions up to this long after an incident's end still count for it. Default 5 min. */
  graceMs?: number;
  /** Sum over identities of their active span, in hours, for the false-positive rate. */
  identityHours?: number;
}

export interface IncidentRow {
  identity: string;
  label: string;
  caught: boolean;
  /** First matching decision ts minus the incident start; null when missed. */
  ttdMs: number | null;
  firstDetector: string | null;
}

export interface EvalReport {
  incidents: number;
  caught: number;
  /** null when there are no incidents. */
  recall: number | null;
  decisions: number;
  truePositives: number;
  falsePositives: number;
  /** Decision-level: true-positive decisions over all decisions; null when there are none. */
  precision: number | null;
  /** null without identityHours. */
  falsePositivesPer1000IdentityHours: number | null;
  identityHours: number | null;
  ttdMedianMs: number | null;
  ttdMaxMs: number | null;
  rows: IncidentRow[];
}

export const DEFAULT_GRACE_MS = 5 * 60_000;

/** True when the decision names the incident's identity, or a sub-agent whose chain contains it, inside the window plus grace. */
export function matches(d: DecisionLike, inc: Incident, graceMs: number): boolean {
  if (d.ts < inc.start || d.ts > inc.end + graceMs) return false;
  return d.identity === inc.identity || (d.chain?.includes(inc.identity) ?? false);
}

export function scoreDecisions(decisions: DecisionLike[], incidents: Incident[], opts: ScoreOptions = {}): EvalReport {
  const grace = opts.graceMs ?? DEFAULT_GRACE_MS;
  const first: (DecisionLike | null)[] = incidents.map(() => null);
  let truePositives = 0;
  for (const d of decisions) {
    let hit = false;
    incidents.forEach((inc, i) => {
      if (!matches(d, inc, grace)) return;
      hit = true;
      const f = first[i];
      if (!f || d.ts < f.ts) first[i] = d;
    });
    if (hit) truePositives++;
  }

  const rows: IncidentRow[] = incidents.map((inc, i) => {
    const f = first[i] ?? null;
    return {
      identity: inc.identity,
      label: inc.label,
      caught: f !== null,
      ttdMs: f ? f.ts - inc.start : null,
      firstDetector: f ? (f.detector ?? null) : null,
    };
  });
  const ttds = rows.flatMap((r) => (r.ttdMs === null ? [] : [r.ttdMs]));
  const caught = ttds.length;
  const falsePositives = decisions.length - truePositives;
  const hours = opts.identityHours;
  return {
    incidents: incidents.length,
    caught,
    recall: incidents.length > 0 ? caught / incidents.length : null,
    decisions: decisions.length,
    truePositives,
    falsePositives,
    precision: decisions.length > 0 ? truePositives / decisions.length : null,
    falsePositivesPer1000IdentityHours: hours !== undefined && hours > 0 ? (falsePositives / hours) * 1000 : null,
    identityHours: hours ?? null,
    ttdMedianMs: caught > 0 ? median(ttds) : null,
    ttdMaxMs: caught > 0 ? max(ttds) : null,
    rows,
  };
}

export function duration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

const pct = (x: number | null): string => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);

export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

export function formatReport(r: EvalReport): string {
  const fpRate = r.falsePositivesPer1000IdentityHours;
  const summary = table([
    ['incidents caught', `${r.caught}/${r.incidents}`, `recall ${pct(r.recall)}`],
    ['decisions', String(r.decisions), `precision ${pct(r.precision)}`],
    ['true positives', String(r.truePositives), ''],
    ['false positives', String(r.falsePositives), fpRate === null ? '' : `${fpRate.toFixed(2)} per 1000 identity-hours`],
    ['time to detect', `median ${duration(r.ttdMedianMs)}`, `max ${duration(r.ttdMaxMs)}`],
  ]);
  const incidents = table([
    ['incident', 'identity', 'caught', 'ttd', 'first detector'],
    ...r.rows.map((row) => [row.label, row.identity, row.caught ? 'yes' : 'NO', duration(row.ttdMs), row.firstDetector ?? '-']),
  ]);
  return [...summary, '', ...incidents].map((l) => `  ${l}`).join('\n');
}
