import { defineDetector, type DetectorCommon, type DetectorContext, type Finding } from '../src/detector.js';
import type { AgentEvent } from '../src/event/types.js';
import { detectorSchema } from '../src/config/detector-schema.js';
import { duration, integer, number, object } from '../src/config/schema.js';
import { baselineLearned, baselineParamsOf, bucketSd } from '../src/state/baseline.js';
import { slidingCount, type BaselineView, type DistinctView, type IdentityView, type Track } from '../src/state/types.js';
import { crosses, formatDuration, NO_FINDINGS, NO_TRACKS, perActionKeys, round } from './format.js';
import { tag } from './credential.js';
import { barFor, classMoving, type Bar } from './rate.js';

export interface EnumerationConfig extends DetectorCommon {
  baseline: {
    /** Counting bucket of the learned baseline; also the sweep's window. */
    bucketMs: number;
    learningPeriodMs: number;
    minBuckets: number;
    alpha: number;
    slotAlpha: number;
    learnZ: number;
  };
  /** Distinct resources in one bucket: a sweep. */
  sweep: Bar;
  /** Distinct resources in a longer sliding window: a slow rise held for hours. */
  rise: Bar & { windowMs: number };
  /** Distinct resources kept per window and action: past it a window stops counting. */
  maxDistinct: number;
}

const RULES = ['sweep', 'rise'] as const;

const bar = { ratio: number({ min: 1 }), zScore: number({ min: 0 }), minEvents: integer({ min: 1 }).from('minDistinct') };

const schema = detectorSchema(RULES, {
  baseline: object({
    bucketMs: duration({ min: 1000 }).from('bucket'),
    learningPeriodMs: duration().from('learningPeriod'),
    minBuckets: integer({ min: 0 }),
    alpha: number({ gt: 0, max: 1 }),
    slotAlpha: number({ gt: 0, max: 1 }),
    learnZ: number({ min: 0 }),
  }),
  sweep: object(bar),
  // The expectation of a window comes from this hour and its neighbours: a sliding window longer than 1h reaches past them.
  rise: object({ ...bar, windowMs: duration({ min: 1000 }).from('window').check((w, report) => {
    if (w > 3_600_000) report([], 'must be at most 1h (the daily profile is hourly)');
  }) }),
  maxDistinct: integer({ min: 2 }),
});

const defaults = {
  // Opt-in: two distinct sets per action (up to maxDistinct members each) and a baseline of its own cost Redis memory per identity.
  enabled: false,
  mode: 'enforce',
  severity: 'high',
  scope: 'action',
  // A slow rise may be a busier day: it alerts until an operator says it may suspend.
  rules: { rise: { mode: 'alert' } },
  baseline: { bucket: '15m', learningPeriod: '24h', minBuckets: 12, alpha: 0.02, slotAlpha: 0.2, learnZ: 3 },
  sweep: { ratio: 5, zScore: 5, minDistinct: 50 },
  rise: { window: '1h', ratio: 2, zScore: 5, minDistinct: 40 },
  maxDistinct: 512,
};

const keysFor = perActionKeys('enumeration:e:', 'enumeration:s:', 'enumeration:r:');

/**
 * A track cannot count only the members a distinct set adds (tracks are fixed
 * before the store answers), so the learned norm is the identity's events of
 * this action: an upper bound on the distinct resources they touch.
 */
function track(event: AgentEvent, ctx: DetectorContext): Track[] {
  // Errors are the system failing, not the agent reaching for more.
  if (event.outcome === 'error') return NO_TRACKS;
  const cfg = ctx.config.enumeration;
  const [events, sweep, rise] = keysFor(event.action);
  const member = tag(event.resource);
  return [
    { kind: 'counter', key: events, windowMs: cfg.baseline.bucketMs, baseline: baselineParamsOf(cfg.baseline) },
    { kind: 'distinct', key: sweep, windowMs: cfg.baseline.bucketMs, member, cap: cfg.maxDistinct },
    { kind: 'distinct', key: rise, windowMs: cfg.rise.windowMs, member, cap: cfg.maxDistinct },
  ];
}

function detect(event: AgentEvent, view: IdentityView, ctx: DetectorContext): Finding[] {
  if (event.outcome === 'error') return NO_FINDINGS;
  const cfg = ctx.config.enumeration;
  const [events, sweep, rise] = keysFor(event.action);
  const cv = view.counters[events];
  const base = cv?.baseline;
  if (!cv || !base || !baselineLearned(base.n, baselineParamsOf(cfg.baseline), cv.bucketStart, view.firstSeen)) return NO_FINDINGS;
  const f = check(event, view.distinct[sweep], base, cfg.sweep, 'sweep', cfg) ?? check(event, view.distinct[rise], base, cfg.rise, 'rise', cfg);
  // A slow rise while the whole class is busier is the class's day, not this identity's sweep.
  if (f?.rule === 'rise' && classMoving(event, view, ctx.config.rate) !== undefined) return NO_FINDINGS;
  return f ? [f] : NO_FINDINGS;
}

function check(event: AgentEvent, dv: DistinctView | undefined, base: BaselineView, b: Bar, rule: 'sweep' | 'rise', cfg: EnumerationConfig): Finding | undefined {
  // Only a new member moves the count: a repeat cannot cross.
  if (!dv || !dv.added) return undefined;
  const scale = dv.windowMs / cfg.baseline.bucketMs;
  const expected = scale * base.expectedHigh;
  const limit = barFor(b, expected, scale * base.noiseHigh);
  const est = slidingCount(dv, event.ts);
  if (!crosses(est, limit, dv.count)) return undefined;
  const observed = round(est);
  const what = rule === 'sweep' ? 'a sweep' : 'a sustained rise';
  return {
    rule,
    severity: cfg.severity,
    scope: cfg.scope,
    reason: `${event.action} touched ${observed} distinct resources in ${formatDuration(dv.windowMs)}, ${what} over the ${round(expected, 1)} actions expected around this hour (threshold ${round(limit)})`,
    evidence: {
      observed, limit: round(limit), expected: round(expected, 3),
      baseline: { expected: round(base.expected, 3), sd: round(bucketSd(base.noise, base.expected), 3), n: base.n, hourDays: base.slotN },
      windowMs: dv.windowMs, action: event.action, resource: event.resource, key: `${rule}:${event.action}`,
    },
  };
}

export const enumeration = defineDetector({ name: 'enumeration', rules: RULES, schema, defaults, track, detect });
