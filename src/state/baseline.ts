import type { BaselineParams, BaselineView } from './types.js';

/**
 * At most this many empty buckets are folded into a baseline when an identity
 * was silent; past it the baseline has decayed to noise anyway. The Redis
 * script uses the same bound so both stores give identical numbers.
 */
export const MAX_EMPTY_FOLD = 512;

/** Hour-of-day slots of the daily profile (UTC). */
export const SLOTS = 24;
/** Per-slot day counts stop at this (they only matter until 1/k falls below slotAlpha). */
export const MAX_SLOT_COUNT = 255;

const HOUR = 3_600_000;
const DAY = 86_400_000;

/**
 * A counter's learned baseline, as stored. An hour's buckets gather in the
 * hour accumulator and go into that hour's slot when the hour is over, so the
 * hour under way is always judged by earlier days, never by itself. Slots are
 * float32 (rounded after every update, in both stores): the profile is the
 * bulk of an identity's state and needs no more precision than that.
 */
export interface BaselineState {
  /** Closed buckets folded (empty ones included). */
  n: number;
  /** Flat EWMA mean and variance of bucket counts: what speaks for an hour of day not yet learned. */
  mean: number;
  variance: number;
  /** Start of the hour the accumulator holds (-1: none), its buckets, their sum and sum of squares. */
  hour: number;
  hn: number;
  hsum: number;
  hsq: number;
  /** Per hour of day (UTC): EWMA over days of the hour's mean bucket count, and of the buckets' variance around it (float32). */
  slots: number[];
  vars: number[];
  /** Per hour of day: days learned, capped at MAX_SLOT_COUNT. */
  k: number[];
  /**
   * The day's level: closed hours' counts and what their slots expected of
   * them, each decayed by LEVEL_DECAY per hour closed (float32). A quiet day
   * (a weekend, a holiday) shows as ln well below ld.
   */
  ln: number;
  ld: number;
}

/** Weight of the hour before in the day's level, per hour closed: about the last three hours speak. */
export const LEVEL_DECAY = 0.6;
/** The level speaks once its closed hours expected this many events (decayed); below it, 1. */
export const LEVEL_MIN_EXPECTED = 40;

export function newBaseline(): BaselineState {
  const zeros = () => new Array<number>(SLOTS).fill(0);
  return { n: 0, mean: 0, variance: 0, hour: -1, hn: 0, hsum: 0, hsq: 0, slots: zeros(), vars: zeros(), k: zeros(), ln: 0, ld: 0 };
}

/** Hour of day (UTC) of a time, for any finite ms. */
export function slotOf(ts: number): number {
  return Math.floor((ts - Math.floor(ts / DAY) * DAY) / HOUR);
}

/** Whether the baseline speaks for a bucket starting at `bucketStart`. */
export function baselineLearned(n: number, p: BaselineParams, bucketStart: number, firstSeen: number): boolean {
  return n >= p.minBuckets && bucketStart - firstSeen >= p.learningPeriodMs;
}

/** Standard deviation of a bucket's count: the learned variance, never below Poisson's. */
export function bucketSd(variance: number, expected: number): number {
  return Math.sqrt(variance > expected ? variance : expected);
}

/** The hour's mean bucket and the buckets' spread around the slot go into its slot, weighted 1/days, then slotAlpha. */
function closeHour(b: BaselineState, p: BaselineParams): void {
  if (b.hn === 0) return;
  const h = slotOf(b.hour);
  // Against what this hour's slot expected of it, before the hour is learned into it; an hour not learned yet says nothing of the day.
  if (b.k[h]! > 0) {
    b.ln = Math.fround(LEVEL_DECAY * b.ln + b.hsum);
    b.ld = Math.fround(LEVEL_DECAY * b.ld + b.hn * b.slots[h]!);
  }
  const k = b.k[h]! < MAX_SLOT_COUNT ? b.k[h]! + 1 : MAX_SLOT_COUNT;
  b.k[h] = k;
  const w = 1 / k > p.slotAlpha ? 1 / k : p.slotAlpha;
  const mu = b.hsum / b.hn;
  const s = b.slots[h]!;
  const d = mu - s;
  // The buckets' variance around the old slot mean: the hour's own spread plus how far its mean moved.
  let spread = b.hsq / b.hn - mu * mu;
  if (spread < 0) spread = 0;
  const v = k === 1 ? spread : spread + d * d;
  b.slots[h] = Math.fround(s + w * d);
  b.vars[h] = Math.fround(b.vars[h]! + w * (v - b.vars[h]!));
  b.hn = 0;
  b.hsum = 0;
  b.hsq = 0;
}

/**
 * Folds one closed bucket of `x` events that started at `t`: into the flat
 * moments, and into its hour's accumulator (closing the previous hour into
 * its slot first). Once learned, a bucket is learned at most at expected +
 * learnZ sd + 1 (a Huber-style clip): an attack, a ramp or a storm moves the
 * baseline only slowly and boundedly, while a burst that recurs at the same
 * hour every day keeps the variance that lets it pass. A benign new normal is
 * accepted by an override, not silently. Mirrored operation for operation in
 * src/state/lua (the baseline include), so IEEE results are identical.
 */
export function foldBucket(b: BaselineState, x: number, t: number, p: BaselineParams, firstSeen: number): void {
  const hour = Math.floor(t / HOUR) * HOUR;
  if (hour !== b.hour) {
    closeHour(b, p);
    b.hour = hour;
  }
  if (baselineLearned(b.n, p, t, firstSeen)) {
    const h = slotOf(t);
    const on = b.k[h]! > 0;
    const e = on ? b.slots[h]! : b.mean;
    const gate = e + p.learnZ * bucketSd(on ? b.vars[h]! : b.variance, e) + 1;
    if (x > gate) x = gate;
  }
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
  b.hn += 1;
  b.hsum += x;
  b.hsq += x * x;
}

/**
 * Closes the bucket that started at `closedStart` with `count` events, then
 * folds the `gap - 1` empty buckets after it (at most MAX_EMPTY_FOLD).
 */
export function rollBaseline(b: BaselineState, count: number, gap: number, windowMs: number, p: BaselineParams, closedStart: number, firstSeen: number): void {
  foldBucket(b, count, closedStart, p, firstSeen);
  const empties = Math.min(gap - 1, MAX_EMPTY_FOLD);
  for (let i = 1; i <= empties; i++) foldBucket(b, 0, closedStart + i * windowMs, p, firstSeen);
}

/**
 * The view a detector gets for the bucket starting at `bucketStart`: this
 * hour's expectation, and the highest of this hour's and its two neighbours'
 * (a daily job an hour early or late, the older part of a sliding window),
 * and the lowest of the three (what can be counted on: absence).
 * An hour of day not yet learned speaks with the flat moments.
 */
export function baselineView(b: BaselineState, bucketStart: number): BaselineView {
  const h = slotOf(bucketStart);
  const k = b.k;
  const on = k[h]! > 0;
  const expected = on ? b.slots[h]! : b.mean;
  const noise = on ? b.vars[h]! : b.variance;
  // The hour before, this one, the hour after, in that order, as the Lua twin.
  const g = h === 0 ? SLOTS - 1 : h - 1;
  const j = h === SLOTS - 1 ? 0 : h + 1;
  const eg = k[g]! > 0 ? b.slots[g]! : b.mean;
  const vg = k[g]! > 0 ? b.vars[g]! : b.variance;
  const ej = k[j]! > 0 ? b.slots[j]! : b.mean;
  const vj = k[j]! > 0 ? b.vars[j]! : b.variance;
  let high = -1;
  let highNoise = 0;
  let low = eg;
  if (expected < low) low = expected;
  if (ej < low) low = ej;
  if (eg > high) high = eg;
  if (vg > highNoise) highNoise = vg;
  if (expected > high) high = expected;
  if (noise > highNoise) highNoise = noise;
  if (ej > high) high = ej;
  if (vj > highNoise) highNoise = vj;
  return { n: b.n, mean: b.mean, variance: b.variance, expected, noise, expectedHigh: high, noiseHigh: highNoise, slotN: k[h]!, expectedLow: low, level: b.ld >= LEVEL_MIN_EXPECTED ? b.ln / b.ld : 1 };
}

const paramsCache = new WeakMap<object, BaselineParams>();

/** A detector config's baseline settings as the store's params, one object per config (the store interns them by identity). */
export function baselineParamsOf(b: BaselineParams): BaselineParams {
  let p = paramsCache.get(b);
  if (!p) {
    p = { alpha: b.alpha, slotAlpha: b.slotAlpha, learningPeriodMs: b.learningPeriodMs, minBuckets: b.minBuckets, learnZ: b.learnZ };
    paramsCache.set(b, p);
  }
  return p;
}
