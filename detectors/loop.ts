import { defineDetector, type DetectorCommon, type DetectorContext, type Finding } from '../src/detector.js';
import type { AgentEvent } from '../src/event/types.js';
import { detectorSchema } from '../src/config/detector-schema.js';
import { duration, integer, number } from '../src/config/schema.js';
import { slidingCount, type IdentityView, type Track } from '../src/state/types.js';
import { crosses, formatDuration, hash32, NO_FINDINGS, round } from './format.js';

export interface LoopConfig extends DetectorCommon {
  windowMs: number;
  /** Counters a call is hashed into: more separate repeats from ordinary traffic better, and cost more state. */
  slots: number;
  /** Repeats of one call (same task, action, resource) in the window beyond what an even spread of the identity's traffic would put there. */
  maxRepeats: number;
  /** And at least this many times the identity's events per distinct call. */
  ratio: number;
  /** Both bars this many times higher for an event without a task: task-less repetition is more often polling. */
  untasked: number;
}

const RULES = ['repeat'] as const;

const schema = detectorSchema(RULES, {
  windowMs: duration({ min: 60_000 }).from('window'),
  slots: integer({ min: 2, max: 64 }),
  maxRepeats: integer({ min: 2 }),
  ratio: number({ min: 1 }),
  untasked: number({ min: 1 }),
});

const defaults = {
  enabled: true,
  mode: 'alert',
  severity: 'medium',
  // Suspending the looping action stops the loop and leaves the agent its other work.
  scope: 'action',
  rules: {},
  window: '30m',
  slots: 8,
  maxRepeats: 25,
  ratio: 3,
  untasked: 2,
};

const ALL = 'loop:n';
const CALLS = 'loop:d';
/** Distinct calls counted per window: past it, the identity's traffic counts as spread (even over the slots). */
const CALLS_CAP = 16;
const SLOTS = Array.from({ length: 64 }, (_, i) => `loop:${i}`);

/** The call an event makes: the same action on the same resource within the same task (or none). */
const callOf = (e: AgentEvent): number => hash32(`${e.task ?? ''}\u0000${e.action}\u0000${e.resource}`);

/**
 * Two counters per event: the identity's events in the window, and the events
 * of the calls that hash with this one. Repeats of one call pile up in its
 * slot; ordinary traffic spreads over all of them, so the other slots' mean is
 * what this one would hold without a loop. State: slots + 1 counters per identity.
 */
function track(event: AgentEvent, ctx: DetectorContext): Track[] {
  const cfg = ctx.config.loop;
  const call = callOf(event);
  return [
    { kind: 'counter', key: ALL, windowMs: cfg.windowMs },
    { kind: 'counter', key: SLOTS[call % cfg.slots]!, windowMs: cfg.windowMs },
    { kind: 'distinct', key: CALLS, windowMs: cfg.windowMs, member: String(call), cap: CALLS_CAP },
  ];
}

function detect(event: AgentEvent, view: IdentityView, ctx: DetectorContext): Finding[] {
  const cfg = ctx.config.loop;
  const all = view.counters[ALL];
  const own = view.counters[SLOTS[callOf(event) % cfg.slots]!];
  const calls = view.distinct[CALLS];
  if (!all || !own || !calls) return NO_FINDINGS;
  const n = slidingCount(all, event.ts);
  const c = slidingCount(own, event.ts);
  // What the other calls hashed with this one put in its slot, from the other slots' mean.
  const repeats = c - (n - c) / (cfg.slots - 1);
  // An identity that makes few distinct calls repeats each of them: its normal per call is its events over them.
  const d = calls.count < CALLS_CAP ? Math.max(1, slidingCount(calls, event.ts)) : Infinity;
  const perCall = n / d;
  const k = event.task ? 1 : cfg.untasked;
  const limit = k * cfg.maxRepeats;
  if (!crosses(repeats, limit, own.count) || repeats < k * cfg.ratio * perCall) return NO_FINDINGS;
  const observed = round(repeats, 1);
  const task = event.task ? ` in task ${event.task}` : '';
  return [{
    rule: 'repeat',
    severity: cfg.severity,
    scope: cfg.scope,
    reason: `${event.action} on ${event.resource}${task} repeated about ${observed} times in ${formatDuration(cfg.windowMs)} beyond its share of the identity's ${round(n)} events, over the limit of ${limit}${event.task ? '' : ' for calls outside a task'}: a runaway loop`,
    evidence: { observed, limit, windowMs: cfg.windowMs, events: round(n), resource: event.resource, ...(event.task ? { task: event.task } : {}), key: `repeat:${event.action}` },
  }];
}

export const loop = defineDetector({ name: 'loop', rules: RULES, schema, defaults, track, detect });
