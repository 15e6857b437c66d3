import { median } from 'simple-statistics';
import { INCIDENT_KINDS, INTENSITIES, type Intensity } from '../sim/labels.js';
import type { KindRow, LabelledReport } from './breakdown.js';
import { duration, table } from './score.js';

/** Sums reports of several seeds: counts add up, times to detect pool, lists concatenate. */
export function mergeReports(reports: readonly LabelledReport[]): LabelledReport {
  const byKey = new Map<string, KindRow>();
  for (const r of reports) {
    for (const k of r.byKind) {
      const key = `${k.kind}\u0000${k.intensity ?? ''}`;
      const m = byKey.get(key) ?? byKey.set(key, { ...k, incidents: 0, caught: 0, ttdMs: [] }).get(key)!;
      m.incidents += k.incidents;
      m.caught += k.caught;
      m.ttdMs.push(...k.ttdMs);
    }
  }
  const sum = (f: (r: LabelledReport) => number): number => reports.reduce((n, r) => n + f(r), 0);
  const rows = reports.flatMap((r) => r.rows);
  const ttds = rows.filter((r) => r.role === 'incident' && r.ttdMs !== null).map((r) => r.ttdMs!);
  const incidents = sum((r) => r.incidents);
  const caught = sum((r) => r.caught);
  return {
    incidents,
    caught,
    recall: incidents > 0 ? caught / incidents : null,
    byIntensity: Object.fromEntries(INTENSITIES.map((x) => [x, { incidents: sum((r) => r.byIntensity[x].incidents), caught: sum((r) => r.byIntensity[x].caught) }])) as LabelledReport['byIntensity'],
    byKind: [...byKey.values()],
    ttdMedianMs: ttds.length > 0 ? median(ttds) : null,
    rows,
    decisions: sum((r) => r.decisions),
    matchedDecisions: sum((r) => r.matchedDecisions),
    outsideDecisions: sum((r) => r.outsideDecisions),
    falseDecisions: sum((r) => r.falseDecisions),
    falselyFlagged: reports.flatMap((r) => r.falselyFlagged),
    onConfounders: sum((r) => r.onConfounders),
  };
}

const kindOrder = (k: string): number => {
  const i = (INCIDENT_KINDS as readonly string[]).indexOf(k);
  return i < 0 ? INCIDENT_KINDS.length : i;
};

function kinds(...reports: LabelledReport[]): string[] {
  const all = new Set(reports.flatMap((r) => r.byKind.map((k) => k.kind)));
  return [...all].sort((a, b) => kindOrder(a) - kindOrder(b) || (a < b ? -1 : 1));
}

function cell(r: LabelledReport, kind: string, x: Intensity | null): string {
  const rows = r.byKind.filter((k) => k.kind === kind && (x === null || k.intensity === x));
  if (rows.length === 0) return '-';
  return `${rows.reduce((n, k) => n + k.caught, 0)}/${rows.reduce((n, k) => n + k.incidents, 0)}`;
}

function ttdOf(r: LabelledReport, kind: string): string {
  const t = r.byKind.filter((k) => k.kind === kind).flatMap((k) => k.ttdMs);
  return t.length > 0 ? duration(median(t)) : '-';
}

const frac = (c: number, n: number): string => `${c}/${n}${n > 0 ? ` (${((c / n) * 100).toFixed(0)}%)` : ''}`;

/**
 * Warden beside another scorer (the naive floor) per kind and intensity.
 * `low` kinds (first use of a declared tool) are marked and left out of "all".
 */
export function formatComparison(w: LabelledReport, n: LabelledReport, names: [string, string] = ['Warden', 'naive'], fpPerSeed?: [number[], number[]]): string {
  const head = ['kind', ...INTENSITIES.map((x) => `${names[0]} ${x}`), ...INTENSITIES.map((x) => `${names[1]} ${x}`), `ttd ${names[0]}`, `ttd ${names[1]}`];
  const body = kinds(w, n).map((k) => {
    const low = w.byKind.some((r) => r.kind === k && r.role === 'low');
    return [low ? `${k} (low)` : k, ...INTENSITIES.map((x) => cell(w, k, x)), ...INTENSITIES.map((x) => cell(n, k, x)), ttdOf(w, k), ttdOf(n, k)];
  });
  const all = ['all incidents', ...INTENSITIES.map((x) => `${w.byIntensity[x].caught}/${w.byIntensity[x].incidents}`), ...INTENSITIES.map((x) => `${n.byIntensity[x].caught}/${n.byIntensity[x].incidents}`), duration(w.ttdMedianMs), duration(n.ttdMedianMs)];
  const fp = (r: LabelledReport, i: 0 | 1): string => {
    const per = fpPerSeed?.[i];
    return `${r.falselyFlagged.length}${per && per.length > 1 ? ` (per seed ${per.join(', ')})` : ''}, ${r.onConfounders} inside a confounder`;
  };
  const dec = (r: LabelledReport): string => `${r.decisions}: ${r.matchedDecisions} in incident windows, ${r.outsideDecisions} outside them on incident identities, ${r.falseDecisions} on other identities`;
  const summary = table([
    ['', names[0], names[1]],
    ['recall (incidents)', frac(w.caught, w.incidents), frac(n.caught, n.incidents)],
    ...INTENSITIES.map((x) => [`  ${x}`, frac(w.byIntensity[x].caught, w.byIntensity[x].incidents), frac(n.byIntensity[x].caught, n.byIntensity[x].incidents)]),
    ['median time to detect', duration(w.ttdMedianMs), duration(n.ttdMedianMs)],
    ['falsely flagged identities', fp(w, 0), fp(n, 1)],
  ]);
  return [
    ...table([head, ...body, all]),
    '',
    ...summary,
    `decisions ${names[0]} ${dec(w)}`,
    `decisions ${names[1]} ${dec(n)}`,
  ].map((l) => `  ${l}`).join('\n');
}

const short = (s: string | null, n = 110): string => (s === null ? '-' : s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Every missed incident with why, and every falsely flagged identity with detector, rule, reason and confounder. */
export function formatExplanations(r: LabelledReport, name = 'Warden'): string {
  const missed = r.rows.filter((x) => x.missed !== null);
  const lines = [`  ${name} missed ${missed.length} of ${r.rows.length} labelled incidents:`];
  for (const m of missed) lines.push(`    ${m.label}${m.role === 'low' ? ' (low)' : ''}  ${m.identity}  at ${iso(m.start)}: ${m.missed}`);
  lines.push(`  ${name} falsely flagged ${r.falselyFlagged.length} identities:`);
  for (const f of r.falselyFlagged) {
    lines.push(`    ${f.identity}  ${f.decisions} decision(s) from ${iso(f.first.ts)}, ${f.first.detector ?? '?'}/${f.first.rule ?? '?'} (${f.first.decision ?? '?'}): ${short(f.first.reason)}`);
    lines.push(`      ${f.confounder ? `falsely flagged: confounder ${f.confounder}` : 'no confounder: plain false positive'}; rules ${f.detectors.join(', ')}`);
  }
  return lines.join('\n');
}

const iso = (ts: number): string => new Date(ts).toISOString().slice(0, 16).replace('T', ' ');

/** The JSON-friendly view: per-kind medians instead of raw times, and every list. */
export function reportJson(r: LabelledReport): Record<string, unknown> {
  return {
    incidents: r.incidents,
    caught: r.caught,
    recall: r.recall,
    byIntensity: r.byIntensity,
    byKind: r.byKind.map((k) => ({ kind: k.kind, intensity: k.intensity, role: k.role, incidents: k.incidents, caught: k.caught, ttdMedianMs: k.ttdMs.length > 0 ? median(k.ttdMs) : null })),
    ttdMedianMs: r.ttdMedianMs,
    decisions: r.decisions,
    matchedDecisions: r.matchedDecisions,
    outsideDecisions: r.outsideDecisions,
    falseDecisions: r.falseDecisions,
    falselyFlaggedIdentities: r.falselyFlagged.length,
    onConfounders: r.onConfounders,
    missed: r.rows.filter((x) => x.missed !== null).map((x) => ({ label: x.label, identity: x.identity, start: x.start, why: x.missed })),
    falselyFlagged: r.falselyFlagged,
  };
}

/** One scorer's recall per kind and intensity, for `warden eval --decisions` on catalogue labels. */
export function formatKinds(r: LabelledReport): string {
  const body = kinds(r).map((k) => {
    const low = r.byKind.some((x) => x.kind === k && x.role === 'low');
    return [low ? `${k} (low)` : k, ...INTENSITIES.map((x) => cell(r, k, x)), ttdOf(r, k)];
  });
  const all = ['all incidents', ...INTENSITIES.map((x) => `${r.byIntensity[x].caught}/${r.byIntensity[x].incidents}`), duration(r.ttdMedianMs)];
  return table([['kind', ...INTENSITIES, 'ttd'], ...body, all]).map((l) => `  ${l}`).join('\n');
}
