import { defineDetector, type DetectorCommon, type DetectorContext, type Finding, type MergedIssue } from '../src/detector.js';
import type { AgentEvent } from '../src/event/types.js';
import type { DeepPartial, Manifest } from '../src/config/types.js';
import { detectorSchema } from '../src/config/detector-schema.js';
import { boolean, duration, integer, number, object } from '../src/config/schema.js';
import { baselineLearned, baselineParamsOf, bucketSd } from '../src/state/baseline.js';
import { slidingCount, type BaselineView, type ClassTrack, type CounterView, type IdentityView, type PeerView, type Track } from '../src/state/types.js';
import { crosses, formatDuration, NO_FINDINGS, perActionKeys, round } from './format.js';

/** When a window's count is anomalous against what the baseline expects of it. */
export interface Bar {
  /** Fire above ratio x expected... */
  ratio: number;
  /** ...and above expected + zScore x sd... */
  zScore: number;
  /** ...and never below this many events in the window. */
  minEvents: number;
}

export interface RateConfig extends DetectorCommon {
  /** Enforce the manifests' hard limits. */
  limits: boolean;
  baseline: {
    enabled: boolean;
    bucketMs: number;
    learningPeriodMs: number;
    /** Closed buckets needed before the baseline speaks. */
    minBuckets: number;
    /** EWMA weight per closed bucket of the flat mean and the noise. */
    alpha: number;
    /** Weight of a day in an hour-of-day slot of the daily profile. */
    slotAlpha: number;
    /** A learned baseline learns a bucket at most at expected + learnZ sd + 1. */
    learnZ: number;
    /** The sliding bucket: bursts. */
    short: Bar;
    /** A sliding longer window: sustained shifts and ramps. */
    long: Bar & { windowMs: number };
    /**
     * A quiet day (a weekend, a holiday) lowers both bars: the last closed
     * hours against what the profile expected of them (the baseline's
     * level), never below `floor`. A window must still exceed `minRatio` x
     * the unlowered expectation, so a return to a normal day is not a burst.
     */
    quiet: { floor: number; minRatio: number };
  };
  /** The identity's agent class as a peer group (needs a manifest). */
  peers: {
    enabled: boolean;
    /** The class speaks once this many of its identities are active. */
    minActive: number;
    /** Peers at this many times their own expectation or more: the class is moving together (a surge, a rollout)... */
    surge: number;
    /** ...and an identity moving no more than this many times faster than them is not flagged. */
    tolerance: number;
    /** An identity still in its learning period, judged by its class's rate per identity. */
    newcomer: Bar;
  };
  /**
   * Denied outcomes against the identity's own, when at least `share` of its
   * actions: in the sliding bucket (a burst of probing), and over a longer
   * window (`long`: probing paced under the burst bar, at a smaller share).
   */
  denied: Bar & { enabled: boolean; share: number; long: Bar & { windowMs: number; share: number } };
}

const RULES = ['hard-limit', 'baseline', 'sustained', 'denied', 'newcomer'] as const;

const bar = { ratio: number({ min: 1 }), zScore: number({ min: 0 }), minEvents: integer({ min: 1 }) };

const schema = detectorSchema(RULES, {
  limits: boolean(),
  baseline: object({
    enabled: boolean(),
    bucketMs: duration({ min: 1000 }).from('bucket'),
    learningPeriodMs: duration().from('learningPeriod'),
    minBuckets: integer({ min: 0 }),
    alpha: number({ gt: 0, max: 1 }),
    slotAlpha: number({ gt: 0, max: 1 }),
    learnZ: number({ min: 0 }),
    short: object(bar),
    long: object({ ...bar, windowMs: duration({ min: 1000 }).from('window') }),
    quiet: object({ floor: number({ gt: 0, max: 1 }), minRatio: number({ min: 1 }) }),
  }).check((b, report) => {
    const m = longTooShort(b);
    if (m !== undefined) report(['long', 'window'], m);
  }),
  denied: object({
    enabled: boolean(), ...bar, share: number({ min: 0, max: 1 }),
    long: object({ ...bar, windowMs: duration({ min: 1000 }).from('window'), share: number({ min: 0, max: 1 }) }),
  }),
  peers: object({ enabled: boolean(), minActive: integer({ min: 2 }), surge: number({ gt: 1 }), tolerance: number({ min: 1 }), newcomer: object(bar) }),
});

function longTooShort(b: Partial<RateConfig['baseline']>): string | undefined {
  const w = b.long?.windowMs;
  if (w !== undefined && w > 3_600_000) return 'must be at most 1h (the daily profile is hourly)';
  if (w === undefined || b.bucketMs === undefined || w > b.bucketMs) return undefined;
  return `must be longer than bucket (${formatDuration(b.bucketMs)})`;
}

/** An override may change only one of bucket and long.window: check the merged result. */
function checkMerged(merged: RateConfig, patch: DeepPartial<RateConfig>): MergedIssue[] {
  const b = patch.baseline;
  if (b === undefined || (b.bucketMs === undefined && b.long?.windowMs === undefined)) return [];
  const m = longTooShort(merged.baseline);
  return m === undefined ? [] : [[['baseline', b.bucketMs === undefined ? 'long' : 'bucket'], `after this override, long.window ${m}`]];
}

const defaults = {
  enabled: true,
  mode: 'enforce',
  severity: 'high',
  scope: 'action',
  // Judged by others (denied outcomes, a newcomer by its class): alerts until an operator says they may suspend.
  rules: { denied: { mode: 'alert' }, newcomer: { mode: 'alert' } },
  limits: true,
  baseline: {
    enabled: true,
    bucket: '5m',
    learningPeriod: '24h',
    minBuckets: 12,
    alpha: 0.02,
    slotAlpha: 0.2,
    learnZ: 3,
    short: { ratio: 3, zScore: 5, minEvents: 10 },
    long: { window: '1h', ratio: 2, zScore: 4, minEvents: 15 },
    quiet: { floor: 0.25, minRatio: 1.25 },
  },
  denied: { enabled: true, ratio: 3, zScore: 5, minEvents: 10, share: 0.3, long: { window: '1h', ratio: 3, zScore: 3.5, minEvents: 5, share: 0.05 } },
  peers: { enabled: true, minActive: 3, surge: 1.3, tolerance: 2.5, newcomer: { ratio: 4, zScore: 5, minEvents: 10 } },
};

const limitKeys = new WeakMap<Manifest, string[]>();

function keysOf(m: Manifest): string[] {
  let keys = limitKeys.get(m);
  if (!keys) {
    keys = m.limits.map((l, i) => `rate:limit:${i}:${l.windowMs}`);
    limitKeys.set(m, keys);
  }
  return keys;
}

export { baselineParamsOf };

export const rateKeys = perActionKeys('rate:a:', 'rate:h:');
/** Every action (the denominator of the denied share), over denied.long's window. */
const ALL = 'rate:all';
const DENIED = 'rate:o:denied';
const DENIED_LONG = 'rate:o:denied:h';

/**
 * Where a window's count is anomalous, given what the baseline expects of the
 * window and its variance. Counts are skewed: the z-score bar gets Poisson's
 * Cornish-Fisher term, (z² - 1) / 6, so a quiet hour's noise is not a burst.
 */
export function barFor(bar: Bar, expected: number, variance: number): number {
  const z = bar.zScore;
  return Math.max(bar.minEvents, bar.ratio * expected, expected + z * bucketSd(variance, expected) + (z * z - 1) / 6);
}

/**
 * Expectation and variance of a sliding window of `windowMs` in buckets of
 * `bucketMs`, from the higher of this hour and its neighbours: an hour of
 * schedule jitter, or the older part of the window, is not an anomaly.
 */
function windowExpectation(base: BaselineView, windowMs: number, bucketMs: number): [number, number] {
  const scale = windowMs / bucketMs;
  return [scale * base.expectedHigh, scale * base.noiseHigh];
}

function track(event: AgentEvent, ctx: DetectorContext): Track[] {
  const cfg = ctx.config.rate;
  const tracks: Track[] = [];
  const m = ctx.manifest;
  if (cfg.limits && m && m.limits.length > 0) {
    const keys = keysOf(m);
    for (let i = 0; i < m.limits.length; i++) {
      const l = m.limits[i]!;
      if (l.action.test(event.action)) tracks.push({ kind: 'counter', key: keys[i]!, windowMs: l.windowMs });
    }
  }
  const b = cfg.baseline;
  const params = baselineParamsOf(b);
  // Errors are the system failing, not the agent acting: a retry storm is not a burst of activity.
  if (b.enabled && event.outcome !== 'error') {
    const [short, long] = rateKeys(event.action);
    tracks.push({ kind: 'counter', key: short, windowMs: b.bucketMs, baseline: params });
    tracks.push({ kind: 'counter', key: long, windowMs: b.long.windowMs });
  }
  if (cfg.denied.enabled) {
    tracks.push({ kind: 'counter', key: ALL, windowMs: cfg.denied.long.windowMs });
    if (event.outcome === 'denied') {
      tracks.push({ kind: 'counter', key: DENIED, windowMs: b.bucketMs, baseline: params });
      tracks.push({ kind: 'counter', key: DENIED_LONG, windowMs: cfg.denied.long.windowMs });
    }
  }
  return tracks;
}

function classTrack(event: AgentEvent, ctx: DetectorContext): ClassTrack[] {
  const cfg = ctx.config.rate;
  const b = cfg.baseline;
  if (!cfg.peers.enabled || !b.enabled || !ctx.manifest || event.outcome === 'error') return NO_FINDINGS;
  const [short, long] = rateKeys(event.action);
  return [{ key: short, windowMs: b.bucketMs, baseline: baselineParamsOf(b) }, { key: long, windowMs: b.long.windowMs }];
}

function detect(event: AgentEvent, view: IdentityView, ctx: DetectorContext): Finding[] {
  const cfg = ctx.config.rate;
  let out: Finding[] | undefined;
  const m = ctx.manifest;
  if (cfg.limits && m && m.limits.length > 0) {
    const keys = keysOf(m);
    for (let i = 0; i < m.limits.length; i++) {
      // A counter in the view means the limit's glob matched in track().
      const cv = view.counters[keys[i]!];
      if (!cv) continue;
      const l = m.limits[i]!;
      const est = slidingCount(cv, event.ts);
      if (!crosses(est, l.max, cv.count)) continue;
      const observed = round(est);
      (out ??= []).push({
        rule: 'hard-limit',
        severity: cfg.severity,
        scope: cfg.scope,
        reason: `${event.action} exceeded the manifest limit of ${l.max} per ${formatDuration(l.windowMs)} (observed ${observed})`,
        evidence: { observed, limit: l.max, windowMs: l.windowMs, action: event.action, pattern: l.action.source, agentClass: m.agentClass, key: `limit:${i}` },
      });
    }
  }
  const b = cfg.baseline;
  if (b.enabled && event.outcome !== 'error') {
    const [short, long] = rateKeys(event.action);
    const cv = view.counters[short];
    const base = cv?.baseline;
    const lv = view.counters[long];
    if (cv && base && baselineLearned(base.n, baselineParamsOf(b), cv.bucketStart, view.firstSeen)) {
      // A quiet day (a weekend, a holiday) lowers both bars.
      const level = dayLevel(base, b);
      // A quiet day the class shares (its other identities quiet too, over the long window) is no reason to keep the
      // unlowered floor: that floor is for an identity returning to normal after a quiet spell of its own.
      const pace = level < 1 ? classPace(event, view, cfg) : undefined;
      const shared = pace !== undefined && pace < 1 ? Math.max(pace, level) : 1;
      const f = checkBar(event, cv, base, b.short, b.bucketMs, 'baseline', cfg, view.peers, level, shared)
        ?? (lv ? checkBar(event, lv, base, b.long, b.bucketMs, 'sustained', cfg, view.peers, level, shared) : undefined);
      if (f) (out ??= []).push(f);
    } else if (cv && lv && view.peers && cfg.peers.enabled) {
      const f = newcomer(event, cv, short, b.bucketMs, view.peers, cfg)
        ?? newcomer(event, lv, long, b.bucketMs, view.peers, cfg);
      if (f) (out ??= []).push(f);
    }
  }
  const d = cfg.denied;
  if (d.enabled && event.outcome === 'denied') {
    const cv = view.counters[DENIED];
    const lv = view.counters[DENIED_LONG];
    const all = view.counters[ALL];
    // The counter starts at the identity's first denied action: before it there were none, so a young counter expects zero.
    if (cv && lv && all && event.ts - view.firstSeen >= b.learningPeriodMs) {
      const base = cv.baseline;
      const young = !base || base.n < b.minBuckets;
      // The identity's actions at their rate over the long window, scaled to each window.
      const perMs = slidingCount(all, event.ts) / all.windowMs;
      const short = deniedBar(cv, d, 'denied', young ? undefined : base, b.bucketMs, perMs, event.ts, cfg);
      const long = deniedBar(lv, d.long, 'denied:long', young ? undefined : base, b.bucketMs, perMs, event.ts, cfg);
      // One probing, one finding: a window that crosses while the other is still over its bar (it has told) says nothing.
      const f = short === null || long === null ? undefined : short ?? long;
      if (f) (out ??= []).push(f);
    }
  }
  return out ?? NO_FINDINGS;
}

/** A denied finding when the window crosses its bar; null while it stays over it. */
function deniedBar(
  cv: CounterView, bar: Bar & { share: number }, key: string, base: BaselineView | undefined, bucketMs: number, perMs: number, ts: number, cfg: RateConfig,
): Finding | null | undefined {
  const scale = cv.windowMs / bucketMs;
  const expected = base ? scale * base.expectedHigh : 0;
  const est = slidingCount(cv, ts);
  const share = est / Math.max(1, perMs * cv.windowMs);
  const limit = barFor(bar, expected, base ? scale * base.noiseHigh : 0);
  if (share < bar.share || est <= limit) return undefined;
  // Over the bar, but not crossing it now: null (reported already).
  if (!crosses(est, limit, cv.count)) return null;
  return {
    rule: 'denied',
    severity: cfg.severity,
    scope: 'identity',
    reason: `${round(est)} denied actions in ${formatDuration(cv.windowMs)} (${Math.round(share * 100)}% of its actions), against ${round(expected, 1)} expected (threshold ${round(limit)})`,
    evidence: { observed: round(est), limit: round(limit), share: round(share, 3), expected: round(expected, 3), windowMs: cv.windowMs, key },
  };
}

/** How quiet the last closed hours were against the profile (the baseline's level), in [quiet.floor, 1]. */
function dayLevel(base: BaselineView, b: RateConfig['baseline']): number {
  const l = base.level;
  return l >= 1 ? 1 : l < b.quiet.floor ? b.quiet.floor : l;
}

function summary(base: BaselineView): Record<string, number> {
  return { expected: round(base.expected, 3), sd: round(bucketSd(base.noise, base.expected), 3), mean: round(base.mean, 3), n: base.n, hourDays: base.slotN };
}

function checkBar(
  event: AgentEvent, cv: CounterView, base: BaselineView, bar: Bar, bucketMs: number, rule: 'baseline' | 'sustained', cfg: RateConfig,
  peers?: PeerView, level = 1, shared = 1,
): Finding | undefined {
  const [profile, variance] = windowExpectation(base, cv.windowMs, bucketMs);
  const expected = profile * level;
  const limit = Math.max(barFor(bar, expected, variance * level), level < 1 ? cfg.baseline.quiet.minRatio * profile * shared : 0);
  const est = slidingCount(cv, event.ts);
  if (!crosses(est, limit, cv.count)) return undefined;
  const surge = peers ? classSurge(event, peers, cv, est, expected, bucketMs, cfg) : undefined;
  if (surge !== undefined && est / Math.max(expected, 1e-9) <= surge * cfg.peers.tolerance) return undefined;
  const window = formatDuration(cv.windowMs);
  const vs = expected >= 0.01 ? `${round(est / expected, 1)}x the ${round(expected, 1)} expected around this hour` : 'where it is normally idle';
  return {
    rule,
    severity: cfg.severity,
    scope: cfg.scope,
    reason: `${event.action} at ${round(est)} in ${window}, ${vs} (threshold ${round(limit)})`,
    evidence: {
      observed: round(est), limit: round(limit), expected: round(expected, 3), baseline: summary(base), windowMs: cv.windowMs, action: event.action,
      key: `${rule}:${event.action}`, ...(surge !== undefined ? { peersRatio: round(surge, 2) } : {}),
    },
  };
}

/**
 * The class's counter for this window (`key`) and its learned baseline (the
 * short counter's, as for an identity), when the class has learned it and
 * enough of its identities are active.
 */
function learnedPeer(event: AgentEvent, peers: PeerView, key: string, cfg: RateConfig): [CounterView, BaselineView] | undefined {
  const b = cfg.baseline;
  const pc = peers.counters[key];
  const ps = peers.counters[rateKeys(event.action)[0]];
  if (!pc || !ps || !ps.baseline || peers.active < cfg.peers.minActive) return undefined;
  // Partitions far apart in event time (a backlog) leave the class counter elsewhere in time: no view then.
  if (Math.abs(Math.floor(event.ts / b.bucketMs) * b.bucketMs - ps.bucketStart) > b.bucketMs) return undefined;
  if (!baselineLearned(ps.baseline.n, baselineParamsOf(b), ps.bucketStart, ps.firstSeen)) return undefined;
  return [pc, ps.baseline];
}

/**
 * The class's other identities, now against what they usually do: their
 * ratio when it is at least `surge` (the class is moving together: a surge, a
 * rollout), else undefined.
 */
function classSurge(event: AgentEvent, peers: PeerView, cv: CounterView, own: number, ownExpected: number, bucketMs: number, cfg: RateConfig): number | undefined {
  const ratio = othersRatio(event, peers, cv, own, ownExpected, bucketMs, cfg);
  return ratio !== undefined && ratio >= cfg.peers.surge ? ratio : undefined;
}

/** The class's other identities in this window against what they usually do (leave-one-out), or undefined when the class cannot say. */
function othersRatio(event: AgentEvent, peers: PeerView, cv: CounterView, own: number, ownExpected: number, bucketMs: number, cfg: RateConfig): number | undefined {
  const [short, long] = rateKeys(event.action);
  const key = cv.windowMs === bucketMs ? short : long;
  const p = learnedPeer(event, peers, key, cfg);
  if (!p) return undefined;
  const [classExpected] = windowExpectation(p[1], cv.windowMs, bucketMs);
  const others = slidingCount(p[0], event.ts) - own;
  const othersExpected = classExpected - ownExpected;
  if (othersExpected < 1) return undefined;
  return others / othersExpected;
}

/**
 * How the identity's class (its other identities) runs on this action over
 * the long window against its own normal (leave-one-out), from the rate
 * detector's own and class counters in the view. Undefined when the class
 * cannot say.
 */
export function classPace(event: AgentEvent, view: IdentityView, cfg: RateConfig): number | undefined {
  if (!view.peers || !cfg.peers.enabled || !cfg.baseline.enabled) return undefined;
  const [short, long] = rateKeys(event.action);
  const base = view.counters[short]?.baseline;
  const lv = view.counters[long];
  if (!base || !lv) return undefined;
  const [ownExpected] = windowExpectation(base, lv.windowMs, cfg.baseline.bucketMs);
  return othersRatio(event, view.peers, lv, slidingCount(lv, event.ts), ownExpected, cfg.baseline.bucketMs, cfg);
}

/**
 * Whether the identity's class is moving together on this action right now
 * (its other identities at `peers.surge` x their own normal or more over the
 * long window): for other detectors that count the same activity
 * (enumeration). The ratio, or undefined when the class is calm or cannot say.
 */
export function classMoving(event: AgentEvent, view: IdentityView, cfg: RateConfig): number | undefined {
  const pace = classPace(event, view, cfg);
  return pace !== undefined && pace >= cfg.peers.surge ? pace : undefined;
}

/** An identity still learning, judged by its class's rate per active identity. */
function newcomer(event: AgentEvent, cv: CounterView, key: string, bucketMs: number, peers: PeerView, cfg: RateConfig): Finding | undefined {
  const p = learnedPeer(event, peers, key, cfg);
  if (!p) return undefined;
  const [classExpected, classVariance] = windowExpectation(p[1], cv.windowMs, bucketMs);
  const n = peers.active;
  const expected = classExpected / n;
  const limit = barFor(cfg.peers.newcomer, expected, classVariance / n);
  const est = slidingCount(cv, event.ts);
  if (!crosses(est, limit, cv.count)) return undefined;
  return {
    rule: 'newcomer',
    severity: cfg.severity,
    scope: cfg.scope,
    reason: `${event.action} at ${round(est)} in ${formatDuration(cv.windowMs)} from an identity still learning, ${round(est / Math.max(expected, 0.01), 1)}x its class's ${round(expected, 1)} per identity (threshold ${round(limit)})`,
    evidence: {
      observed: round(est), limit: round(limit), expected: round(expected, 3), judgedBy: peers.agentClass, classActive: n, windowMs: cv.windowMs,
      action: event.action, key: `newcomer:${event.action}`,
    },
  };
}

export const rate = defineDetector({ name: 'rate', rules: RULES, schema, defaults, checkMerged, track, classTrack, detect });
