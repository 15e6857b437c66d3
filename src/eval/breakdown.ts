import { median } from 'simple-statistics';
import { INTENSITIES, roleOf, type Incident, type Intensity, type Role } from '../sim/labels.js';
import { DEFAULT_GRACE_MS, matches, type DecisionLike } from './score.js';

export interface KindRow {
  kind: string;
  intensity: Intensity | null;
  role: Role;
  incidents: number;
  caught: number;
  /** Time to detect of each caught incident, ms of event time. */
  ttdMs: number[];
}

export interface Caught {
  label: string;
  identity: string;
  kind: string | null;
  intensity: Intensity | null;
  role: Role;
  start: number;
  end: number;
  ttdMs: number | null;
  detector: string | null;
  rule: string | null;
  /** Why it was missed, when it was. */
  missed: string | null;
}

export interface FalseFlag {
  identity: string;
  decisions: number;
  first: { ts: number; detector: string | null; rule: string | null; reason: string | null; decision: string | null };
  detectors: string[];
  /** The confounder label whose window holds the first decision (else any of them), or null. */
  confounder: string | null;
}

export interface LabelledReport {
  /** role incident only: the headline. */
  incidents: number;
  caught: number;
  recall: number | null;
  byIntensity: Record<Intensity, { incidents: number; caught: number }>;
  /** One row per kind and intensity (role incident and low), in label order. */
  byKind: KindRow[];
  ttdMedianMs: number | null;
  rows: Caught[];
  decisions: number;
  /** Decisions inside an incident's window (incident or low). */
  matchedDecisions: number;
  /** Decisions on an incident identity outside its windows. */
  outsideDecisions: number;
  /** Decisions on identities with no incident at all. */
  falseDecisions: number;
  /** Identities with no incident that got any decision. */
  falselyFlagged: FalseFlag[];
  /** Of those, the ones inside a labelled confounder. */
  onConfounders: number;
}

const fmtMs = (ms: number): string => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : ms < 7_200_000 ? `${(ms / 60_000).toFixed(0)} min` : `${(ms / 3_600_000).toFixed(1)} h`);
const str = (v: string | undefined): string | null => v ?? null;

/** Why an incident was missed, from the decisions naming it (directly or by chain) outside its window. */
function whyMissed(near: DecisionLike[], inc: Incident, grace: number): string {
  if (near.length === 0) return 'no decision on this identity at all';
  const after = near.filter((d) => d.ts > inc.end + grace).sort((a, b) => a.ts - b.ts)[0];
  const before = near.filter((d) => d.ts < inc.start).sort((a, b) => b.ts - a.ts)[0];
  const what = (d: DecisionLike): string => `${d.detector ?? '?'}/${d.rule ?? '?'}`;
  if (after) return `decision only after the window: first ${fmtMs(after.ts - inc.end)} after its end (${what(after)})`;
  return `decisions only before the window: last ${fmtMs(inc.start - before!.ts)} before its start (${what(before!)})`;
}

/**
 * Scores decisions against catalogue labels: recall per kind and intensity,
 * time to detect, why each miss was missed, and every falsely flagged identity
 * with the confounder it fell in. A decision counts for an incident (or a
 * `low` label) when it names the identity, or a sub-agent whose chain holds
 * it, between start and end + grace.
 */
export function scoreLabelled(decisions: readonly DecisionLike[], labels: readonly Incident[], graceMs = DEFAULT_GRACE_MS): LabelledReport {
  const targets = labels.filter((l) => roleOf(l) !== 'confounder');
  const confounders = new Map<string, Incident[]>();
  for (const l of labels) if (roleOf(l) === 'confounder') (confounders.get(l.identity) ?? confounders.set(l.identity, []).get(l.identity)!).push(l);
  const targetIds = new Set(targets.map((t) => t.identity));

  // Decisions naming an identity, directly or as an ancestor in the chain.
  const naming = new Map<string, DecisionLike[]>();
  const add = (id: string, d: DecisionLike): void => void (naming.get(id) ?? naming.set(id, []).get(id)!).push(d);
  for (const d of decisions) {
    if (targetIds.has(d.identity)) add(d.identity, d);
    for (const c of d.chain ?? []) if (c !== d.identity && targetIds.has(c)) add(c, d);
  }

  const matched = new Set<DecisionLike>();
  const rows: Caught[] = targets.map((inc) => {
    const near = naming.get(inc.identity) ?? [];
    let first: DecisionLike | null = null;
    for (const d of near) {
      if (!matches(d, inc, graceMs)) continue;
      matched.add(d);
      if (!first || d.ts < first.ts) first = d;
    }
    return {
      label: inc.label, identity: inc.identity, kind: inc.kind ?? null, intensity: inc.intensity ?? null, role: roleOf(inc),
      start: inc.start, end: inc.end,
      ttdMs: first ? Math.max(0, first.ts - inc.start) : null,
      detector: first ? str(first.detector) : null,
      rule: first ? str(first.rule) : null,
      missed: first ? null : whyMissed(near, inc, graceMs),
    };
  });

  const byKey = new Map<string, KindRow>();
  for (const r of rows) {
    const key = `${r.kind ?? r.label}\u0000${r.intensity ?? ''}`;
    let k = byKey.get(key);
    if (!k) byKey.set(key, (k = { kind: r.kind ?? r.label, intensity: r.intensity, role: r.role, incidents: 0, caught: 0, ttdMs: [] }));
    k.incidents++;
    if (r.ttdMs !== null) {
      k.caught++;
      k.ttdMs.push(r.ttdMs);
    }
  }

  const headline = rows.filter((r) => r.role === 'incident');
  const byIntensity = Object.fromEntries(INTENSITIES.map((x) => {
    const of = headline.filter((r) => r.intensity === x);
    return [x, { incidents: of.length, caught: of.filter((r) => r.ttdMs !== null).length }];
  })) as LabelledReport['byIntensity'];
  const ttds = headline.flatMap((r) => (r.ttdMs === null ? [] : [r.ttdMs]));

  let outsideDecisions = 0;
  const flagged = new Map<string, DecisionLike[]>();
  for (const d of decisions) {
    if (matched.has(d)) continue;
    if (targetIds.has(d.identity)) outsideDecisions++;
    else (flagged.get(d.identity) ?? flagged.set(d.identity, []).get(d.identity)!).push(d);
  }
  let falseDecisions = 0;
  const falselyFlagged: FalseFlag[] = [...flagged].map(([identity, ds]) => {
    falseDecisions += ds.length;
    const sorted = [...ds].sort((a, b) => a.ts - b.ts);
    const f = sorted[0]!;
    const inside = (d: DecisionLike): Incident | undefined =>
      (confounders.get(identity) ?? []).filter((c) => d.ts >= c.start && d.ts <= c.end + graceMs).sort((a, b) => a.end - a.start - (b.end - b.start))[0];
    const conf = inside(f) ?? sorted.map(inside).find((c) => c !== undefined);
    return {
      identity,
      decisions: ds.length,
      first: { ts: f.ts, detector: str(f.detector), rule: str(f.rule), reason: str(f.reason), decision: str(f.decision) },
      detectors: [...new Set(ds.map((d) => `${d.detector ?? '?'}/${d.rule ?? '?'}`))].sort(),
      confounder: conf?.label ?? null,
    };
  }).sort((a, b) => a.first.ts - b.first.ts);

  const caught = ttds.length;
  return {
    incidents: headline.length,
    caught,
    recall: headline.length > 0 ? caught / headline.length : null,
    byIntensity,
    byKind: [...byKey.values()],
    ttdMedianMs: caught > 0 ? median(ttds) : null,
    rows,
    decisions: decisions.length,
    matchedDecisions: matched.size,
    outsideDecisions,
    falseDecisions,
    falselyFlagged,
    onConfounders: falselyFlagged.filter((f) => f.confounder !== null).length,
  };
}
