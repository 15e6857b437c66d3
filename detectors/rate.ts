import { defineDetector, type DetectorCommon, type DetectorContext, type Finding } from '../src/detector.js';
import type { AgentEvent } from '../src/event/types.js';
import type { Manifest } from '../src/config/types.js';
import { detectorSchema } from '../src/config/detector-schema.js';
import { boolean, duration, integer, number, object } from '../src/config/schema.js';
import { baselineThreshold } from '../src/state/baseline.js';
import { slidingCount, type BaselineParams, type IdentityView, type Track } from '../src/state/types.js';
import { crosses, formatDuration, NO_FINDINGS, round } from './format.js';

export interface RateConfig extends DetectorCommon {
  /** Enforce the manifests' hard limits. */
  limits: boolean;
  baseline: {
    enabled: boolean;
    bucketMs: number;
    learningPeriodMs: number;
    /** EWMA weight per closed bucket. */
    alpha: number;
    /** Half-life of the peak envelope, in ms of event time. */
    peakHalfLifeMs: number;
    /** Fire above multiplier x the identity's own decayed peak... */
    multiplier: number;
    /** ...and above mean + zScore x sd... */
    zScore: number;
    /** ...and never below this many events in the sliding bucket. */
    minEvents: number;
    /** Closed buckets needed before the baseline speaks. */
    minBuckets: number;
  };
}

const RULES = ['hard-limit', 'baseline'] as const;

const schema = detectorSchema(RULES, {
  limits: boolean(),
  baseline: object({
    enabled: boolean(),
    bucketMs: duration({ min: 1000 }).from('bucket'),
    learningPeriodMs: duration().from('learningPeriod'),
    alpha: number({ gt: 0, max: 1 }),
    peakHalfLifeMs: duration({ min: 1 }).from('peakHalfLife'),
    multiplier: number({ min: 1 }),
    zScore: number({ min: 0 }),
    minEvents: integer({ min: 0 }),
    minBuckets: integer({ min: 0 }),
  }),
});

const defaults = {
  enabled: true,
  mode: 'enforce',
  severity: 'high',
  scope: 'action',
  rules: {},
  limits: true,
  baseline: {
    enabled: true,
    bucket: '5m',
    learningPeriod: '24h',
    alpha: 0.05,
    peakHalfLife: '7d',
    multiplier: 4,
    zScore: 6,
    minEvents: 20,
    minBuckets: 12,
  },
};

const limitKeys = new WeakMap<Manifest, string[]>();
const baselineParams = new WeakMap<RateConfig['baseline'], BaselineParams>();

function keysOf(m: Manifest): string[] {
  let keys = limitKeys.get(m);
  if (!keys) {
    keys = m.limits.map((l, i) => `rate:limit:${i}:${l.windowMs}`);
    limitKeys.set(m, keys);
  }
  return keys;
}

export function baselineParamsOf(b: RateConfig['baseline']): BaselineParams {
  let p = baselineParams.get(b);
  if (!p) {
    p = {
      alpha: b.alpha,
      peakDecay: 0.5 ** (b.bucketMs / b.peakHalfLifeMs),
      learningPeriodMs: b.learningPeriodMs,
      minBuckets: b.minBuckets,
      minEvents: b.minEvents,
      multiplier: b.multiplier,
      zScore: b.zScore,
    };
    baselineParams.set(b, p);
  }
  return p;
}


function actionKey(action: string): string {
  return `rate:a:${action}`;
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
  if (b.enabled) tracks.push({ kind: 'counter', key: actionKey(event.action), windowMs: b.bucketMs, baseline: baselineParamsOf(b) });
  return tracks;
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
        evidence: { observed, limit: l.max, windowMs: l.windowMs, action: event.action, pattern: l.action.source, agentClass: m.agentClass },
      });
    }
  }
  const b = cfg.baseline;
  if (b.enabled && event.ts - view.firstSeen >= b.learningPeriodMs) {
    const cv = view.counters[actionKey(event.action)];
    const base = cv?.baseline;
    if (cv && base && base.n >= b.minBuckets) {
      const threshold = baselineThreshold(base, baselineParamsOf(b));
      const est = slidingCount(cv, event.ts);
      if (crosses(est, threshold, cv.count)) {
        const observed = round(est);
        const limit = round(threshold);
        const window = formatDuration(cv.windowMs);
        const vs = base.peak >= 0.01
          ? `${round(est / base.peak, 1)}x its learned peak of ${round(base.peak)}`
          : `its learned mean is ${round(base.mean)}`;
        (out ??= []).push({
          rule: 'baseline',
          severity: cfg.severity,
          scope: cfg.scope,
          reason: `${event.action} at ${observed} in ${window}, ${vs} (threshold ${limit})`,
          evidence: {
            observed,
            limit,
            baseline: { mean: round(base.mean, 3), sd: round(Math.sqrt(base.variance), 3), peak: round(base.peak, 3), n: base.n },
            windowMs: cv.windowMs,
            action: event.action,
          },
        });
      }
    }
  }
  return out ?? NO_FINDINGS;
}

export const rate = defineDetector({ name: 'rate', rules: RULES, schema, defaults, track, detect });
