import { defineDetector, type DetectorCommon, type DetectorContext, type Expectation, type Finding, type Silence } from '../src/detector.js';
import type { AgentEvent } from '../src/event/types.js';
import { detectorSchema } from '../src/config/detector-schema.js';
import { boolean, duration, number, object } from '../src/config/schema.js';
import { baselineLearned, baselineParamsOf } from '../src/state/baseline.js';
import { slidingCount, type BaselineView, type CounterView, type IdentityView } from '../src/state/types.js';
import { formatDuration, NO_FINDINGS, NO_TRACKS, round } from './format.js';
import { classPace, rateKeys } from './rate.js';

export interface SilenceConfig extends DetectorCommon {
  /** Silence is a finding once this many events were expected and none came. */
  expectedEvents: number;
  /** An identity that would need longer than this to be missed is not judged. */
  withinMs: number;
  /** An action last seen longer ago than this before the last event no longer counts towards what is expected. */
  staleMs: number;
  /**
   * An action that goes on far below what is expected of it: over the rate
   * detector's long window, below min(ratio x E, E - zScore x sqrt(E)), E the
   * lowest profile of this hour and its neighbours times its class's pace on
   * the action (capped at 1: a quiet day the class shares lowers E), when E
   * is at least `minExpected` and the class keeps at least `peers` x its own
   * pace. Needs the class (a manifest) and the rate detector's peers.
   */
  drop: { enabled: boolean; ratio: number; zScore: number; minExpected: number; peers: number };
}

const RULES = ['silent', 'drop'] as const;

const schema = detectorSchema(RULES, {
  expectedEvents: number({ min: 3 }),
  // The absence book forgets an identity 6h after its last event.
  withinMs: duration({ min: 60_000 }).from('within').check((w, report) => {
    if (w > 6 * 3_600_000) report([], 'must be at most 6h');
  }),
  staleMs: duration({ min: 60_000 }).from('stale'),
  drop: object({ enabled: boolean(), ratio: number({ gt: 0, max: 1 }), zScore: number({ min: 0 }), minExpected: number({ min: 1 }), peers: number({ gt: 0 }) }),
});

const defaults = {
  enabled: true,
  // A silent agent may be a healthy one with nothing to do: never a suspension unless an operator says so.
  mode: 'alert',
  severity: 'medium',
  scope: 'identity',
  rules: {},
  expectedEvents: 15,
  within: '1h',
  stale: '1h',
  drop: { enabled: true, ratio: 0.3, zScore: 3, minExpected: 20, peers: 0.3 },
};

/**
 * What the identity can be counted on to do next, by action, from the rate
 * detector's counters: the lowest profile of this hour and its neighbours
 * (so the end of a working day or a nightly job is not a silence), scaled
 * down by how quiet the last hour was against this hour's profile (a quiet
 * day), never up.
 */
function expect(event: AgentEvent, view: IdentityView, ctx: DetectorContext): Expectation | undefined {
  const learned = learnedRate(event, view, ctx);
  if (!learned) return undefined;
  const [base, lv] = learned;
  const bucketMs = ctx.config.rate.baseline.bucketMs;
  const hour = (base.expected * lv.windowMs) / bucketMs;
  const level = hour > 0 ? Math.min(1, slidingCount(lv, event.ts) / hour) : 0;
  return { key: event.action, ts: event.ts, perMs: (base.expectedLow * level) / bucketMs };
}

/** The rate detector's learned baseline of this event's action and its long window, once learned. */
function learnedRate(event: AgentEvent, view: IdentityView, ctx: DetectorContext): [BaselineView, CounterView] | undefined {
  const r = ctx.config.rate;
  const b = r.baseline;
  if (!r.enabled || !b.enabled || event.outcome === 'error') return undefined;
  const [short, long] = rateKeys(event.action);
  const cv = view.counters[short];
  const base = cv?.baseline;
  const lv = view.counters[long];
  if (!cv || !base || !lv || !baselineLearned(base.n, baselineParamsOf(b), cv.bucketStart, view.firstSeen)) return undefined;
  return [base, lv];
}

/** An action going on far below what its profile and its class's pace expect of it now. */
function detect(event: AgentEvent, view: IdentityView, ctx: DetectorContext): Finding[] {
  const c = ctx.config.silence.drop;
  if (!c.enabled || !view.peers) return NO_FINDINGS;
  const learned = learnedRate(event, view, ctx);
  if (!learned) return NO_FINDINGS;
  const [base, lv] = learned;
  const profile = (lv.windowMs / ctx.config.rate.baseline.bucketMs) * base.expectedLow;
  // The class's pace only lowers the expectation: below minExpected already, it need not be asked (it reads the class's counters).
  if (profile < c.minExpected) return NO_FINDINGS;
  const pace = classPace(event, view, ctx.config.rate);
  if (pace === undefined || pace < c.peers) return NO_FINDINGS;
  // What its class's pace says it would do now: on a day the class is quiet, the identity may be quiet too.
  const expected = profile * Math.min(1, pace);
  if (expected < c.minExpected) return NO_FINDINGS;
  // Counts, not the learned noise: that holds the day-to-day swing of the profile, and a drop is judged against the class's day.
  const limit = Math.min(c.ratio * expected, expected - c.zScore * Math.sqrt(expected));
  const est = slidingCount(lv, event.ts);
  // Below the bar for as long as the drop lasts: suppression makes that one detection per window.
  if (est >= limit) return NO_FINDINGS;
  return [{
    rule: 'drop',
    severity: ctx.config.silence.severity,
    scope: 'identity',
    alertOnly: true,
    reason: `${event.action} at ${round(est)} in ${formatDuration(lv.windowMs)}, ${round(est / expected, 2)}x the ${round(expected, 1)} expected of it around this hour at its class's pace (${round(pace, 2)}x the class's own)`,
    evidence: { observed: round(est), limit: round(limit), expected: round(expected, 3), peersRatio: round(pace, 2), windowMs: lv.windowMs, action: event.action, key: `drop:${event.action}` },
  }];
}

function due(held: Iterable<Expectation>, lastTs: number, ctx: DetectorContext): number | undefined {
  const c = ctx.config.silence;
  let perMs = 0;
  for (const h of held) if (lastTs - h.ts <= c.staleMs) perMs += h.perMs;
  if (perMs * c.withinMs < c.expectedEvents) return undefined;
  return lastTs + Math.ceil(c.expectedEvents / perMs);
}

function overdue(s: Silence, ctx: DetectorContext): Finding {
  const c = ctx.config.silence;
  const gap = s.due - s.last.ts;
  const perHour = (c.expectedEvents / gap) * 3_600_000;
  return {
    rule: 'silent',
    severity: c.severity,
    scope: 'identity',
    alertOnly: true,
    reason: `silent for ${formatDuration(Math.round(gap / 1000) * 1000)} since ${new Date(s.last.ts).toISOString()}, where at least ${c.expectedEvents} actions were expected (about ${round(perHour, 1)} per hour around this hour)`,
    evidence: {
      observed: 0, limit: c.expectedEvents, lastEventTs: s.last.ts, silentMs: gap, expectedPerHour: round(perHour, 2),
      actions: s.held.map((h) => h.key).sort(), key: 'silent',
    },
  };
}

export const silence = defineDetector({
  name: 'silence', rules: RULES, schema, defaults,
  track: () => NO_TRACKS,
  detect,
  absence: { expect, due, overdue },
});
