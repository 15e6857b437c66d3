import type { BaselineParams, BaselineView } from './types.js';

/**
 * At most this many empty buckets are folded into a baseline when an identity
 * was silent; past it the baseline has decayed to noise anyway. The Redis
 * script uses the same bound so both stores give identical numbers.
 */
export const MAX_EMPTY_FOLD = 512;

/** Folds one closed bucket into the EWMA mean/variance and the decaying peak. Mirrored in src/state/lua/apply-1.lua. */
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

/** Folds the closed bucket `count` and then `gap - 1` empty buckets. */
export function rollBaseline(b: BaselineView, count: number, gap: number, p: BaselineParams): void {
  foldBucket(b, count, p);
  const empties = Math.min(gap - 1, MAX_EMPTY_FOLD);
  for (let i = 0; i < empties; i++) foldBucket(b, 0, p);
}
