import type { Detection } from '../detector.js';

/** One group's window: until when repeats are held back, how many were, and the first and last event of the window. */
export interface QuietEntry {
  until: number;
  held: number;
  first: string;
  last: string;
}

/** Per group key (detector, rule, what the finding is about). */
export type QuietState = Record<string, QuietEntry>;

export interface SuppressConfig {
  /** 0: every finding is a detection. */
  windowMs: number;
  /** Groups kept per identity; the one ending soonest makes room. */
  maxGroups: number;
}

export interface Suppressed {
  held: number;
  firstEventId: string;
  lastEventId: string;
}

/** What a finding is about: its `evidence.key` when the detector gives one, else its action. */
export function groupOf(d: Detection): string {
  const k = d.evidence.key;
  return `${d.detector}|${d.rule}|${typeof k === 'string' ? k : d.action}`;
}

/**
 * One detection per (identity, detector, rule, key) per window, like Elastic's
 * alert suppression: repeats inside the window are counted, not emitted, and
 * the next detection of the group says how many were held back and their
 * first and last event ids. A detection that opens a breaker is always
 * emitted (the breaker sees every offence; a command needs its decision), and
 * starts a new window. Returns the summary to attach, null to emit as is, or
 * undefined to hold the detection back.
 */
export function suppress(
  quiet: QuietState, d: Detection, opensBreaker: boolean, cfg: SuppressConfig,
): Suppressed | null | undefined {
  if (cfg.windowMs <= 0) return null;
  const key = groupOf(d);
  const e = quiet[key];
  if (e && d.ts < e.until && !opensBreaker) {
    e.held++;
    e.last = d.eventId;
    return undefined;
  }
  const summary: Suppressed | null = e && e.held > 0 ? { held: e.held, firstEventId: e.first, lastEventId: e.last } : null;
  delete quiet[key];
  prune(quiet, d.ts, cfg.maxGroups - 1);
  quiet[key] = { until: d.ts + cfg.windowMs, held: 0, first: d.eventId, last: d.eventId };
  return summary;
}

/** Drops ended windows, then the soonest-ending ones beyond `keep`. Event time, so replay prunes as live does. */
function prune(quiet: QuietState, ts: number, keep: number): void {
  const live: Array<[string, number]> = [];
  for (const [k, e] of Object.entries(quiet)) {
    if (e.until <= ts && e.held === 0) delete quiet[k];
    else live.push([k, e.until]);
  }
  if (live.length <= keep) return;
  live.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  for (let i = 0; i < live.length - keep; i++) delete quiet[live[i]![0]];
}
