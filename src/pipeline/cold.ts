import type { DetectorsConfig } from '../config/types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The longest `learningPeriodMs` an enabled detector (or an enabled part of
 * one, e.g. `rate.baseline`) of this config keeps: how long an identity that
 * re-learns after a state loss is cold.
 */
export function learningPeriodOf(config: DetectorsConfig): number {
  let max = 0;
  for (const d of Object.values(config as unknown as Obj)) {
    if (!isObj(d) || d.enabled === false) continue;
    for (const part of [d, ...Object.values(d)]) {
      if (isObj(part) && part.enabled !== false && typeof part.learningPeriodMs === 'number') max = Math.max(max, part.learningPeriodMs);
    }
  }
  return max;
}

/**
 * An identity re-learns from nothing after the state was lost at `lostAt`
 * (wall time): its detections are cold while it is younger than the learning
 * period. Every state in the epoch was created after the loss; one first seen
 * a learning period after it is simply new.
 */
export function isCold(lostAt: number | null, firstSeen: number, ts: number, learningPeriodMs: number): boolean {
  return lostAt !== null && ts - firstSeen < learningPeriodMs && firstSeen < lostAt + learningPeriodMs;
}
