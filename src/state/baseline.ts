import type { BaselineParams, BaselineView } from './types.js';

/**
 * At most this many empty buckets are folded into a baseline when an identity
 * was silent; past it the baseline has decayed to noise anyway. The Redis
 * script uses the same bound so both stores give identical numbers.
 */
export const MAX_EMPTY_FOLD = 512;

/** Where the learned baseline fires: never below minEvents, the peak envelope, or a Poisson-floored z-score. */
export function baselineThreshold(b: BaselineView, p: BaselineParams): number {
  return Math.max(p.minEvents, p.multiplier * b.peak, b.mean + p.zScore * Math.sqrt(b.variance + b.mean));
}

/** Whether the baseline speaks for a bucket starting at `bucketStart`. */
export function baselineLearned(b: BaselineView, p: BaselineParams, bucketStart: number, firstSeen: number): boolean {
  return b.n >= p.minBuckets && bucketStart - firstSeen >= p.learningPeriodMs;
}

/** Folds one closed bucket into the EWMA mean/variance and the decaying peak. Mirrored in src/state/lua/includes/counter.lua. */
export function foldBucket(b: BaselineView, x: number, p: BaselineParams): void {
  b.n += 1;
  if (b.n === 1) {
    b.mean = x;
    b.variance = 0;
  } else {
    const d = x - b.mean;
    const incr = p.alpha * d;
    b.mean = b.mean + incr;
    b.variance = (1 - p.alpha) * (b.variance + d * incr);
  }
  const decayed = b.peak * p.peakDecay;
  b.peak = x > decayed ? x : decayed;
}

/**
 * Closes the bucket that started at `closedStart` with `count` events, then
 * folds `gap - 1` empty buckets. Once learned, a bucket above the threshold is
 * left out: it is what the detector fired on, not normal behaviour.
 */
export function rollBaseline(b: BaselineView, count: number, gap: number, p: BaselineParams, closedStart: number, firstSeen: number): void {
  if (!(baselineLearned(b, p, closedStart, firstSeen) && count > baselineThreshold(b, p))) foldBucket(b, count, p);
  const empties = Math.min(gap - 1, MAX_EMPTY_FOLD);
  for (let i = 0; i < empties; i++) foldBucket(b, 0, p);
}
