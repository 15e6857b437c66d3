import type { WardenConfig } from '../config/types.js';
import type { AgentEvent } from '../event/types.js';
import type { DecisionLike } from './score.js';

export interface NaiveOptions {
  /** Rate statistics are learned from buckets that end by then (the clean first day), and judged after. */
  learnUntil: number;
  bucketMs?: number;
  /** Flag a bucket above mean + sd x this. */
  sd?: number;
  /** Closed learning buckets needed before an identity is judged. */
  minBuckets?: number;
  /** Chain depth limit when the manifest sets none. */
  maxDepth?: number;
}

interface RateState {
  bucket: number;
  count: number;
  n: number;
  sum: number;
  sumSq: number;
  threshold: number | null;
  flagged: number;
}

/**
 * A reference floor, not a Warden detector: per identity, events per 5-min
 * bucket against the mean + 6 sd it showed before `learnUntil` (idle buckets
 * count as zeros), the manifest allow-list, and chain depth. The eval runs it
 * beside Warden so every figure has something naive to beat.
 */
export function naiveFloor(events: Iterable<AgentEvent>, config: WardenConfig, opts: NaiveOptions): DecisionLike[] {
  const bucketMs = opts.bucketMs ?? 5 * 60_000;
  const k = opts.sd ?? 6;
  const minBuckets = opts.minBuckets ?? 12;
  const defaultDepth = opts.maxDepth ?? (config.detectors as { chain?: { maxDepth?: number } }).chain?.maxDepth ?? 4;
  const lastLearning = Math.floor(opts.learnUntil / bucketMs);
  const rates = new Map<string, RateState>();
  const out: DecisionLike[] = [];
  const flag = (e: AgentEvent, rule: string, reason: string): void => {
    const d: DecisionLike = { identity: e.identity, ts: e.ts, detector: 'naive', rule, reason, decision: 'alert' };
    if (e.chain) d.chain = e.chain;
    out.push(d);
  };

  for (const e of events) {
    const b = Math.floor(e.ts / bucketMs);
    let s = rates.get(e.identity);
    if (!s) rates.set(e.identity, (s = { bucket: b, count: 0, n: 0, sum: 0, sumSq: 0, threshold: null, flagged: -1 }));
    if (b !== s.bucket) {
      // Close the current bucket and the idle ones after it that fall in the learning day.
      if (s.bucket < lastLearning) {
        s.n++;
        s.sum += s.count;
        s.sumSq += s.count * s.count;
        s.n += Math.max(0, Math.min(b, lastLearning) - s.bucket - 1);
      }
      s.bucket = b;
      s.count = 0;
      if (b >= lastLearning && s.threshold === null && s.n >= minBuckets) {
        const mean = s.sum / s.n;
        const sd = Math.sqrt(Math.max(0, s.sumSq / s.n - mean * mean));
        s.threshold = mean + k * sd;
      }
    }
    s.count++;
    if (s.threshold !== null && s.count > s.threshold && s.flagged !== b) {
      s.flagged = b;
      flag(e, 'rate', `${s.count} events in a ${bucketMs / 60_000}-min bucket, above the learned mean + ${k} sd (${s.threshold.toFixed(1)})`);
    }

    const m = e.agentClass === undefined ? undefined : config.manifests.get(e.agentClass);
    if (m && !m.allow.some((a) => a.action.test(e.action) && a.resource.test(e.resource))) {
      flag(e, 'allow-list', `${e.action} on ${e.resource} is not in the ${m.agentClass} manifest`);
    }
    const depth = e.chain?.length ?? 0;
    const limit = m?.delegation.maxDepth ?? defaultDepth;
    if (depth > limit) flag(e, 'depth', `chain depth ${depth} over ${limit}`);
  }
  return out;
}
