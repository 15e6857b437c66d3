import type { Severity } from '../src/config/types.js';

const UNITS: Array<[number, string]> = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'm'], [1000, 's']];

/** 300000 -> `5m`, 3600000 -> `1h`, 86400000 -> `24h`, 604800000 -> `7d`. */
export function formatDuration(ms: number): string {
  for (const [size, unit] of UNITS) {
    // Whole days only from 2d up: `24h` reads better than `1d` next to hourly windows.
    if (unit === 'd' && ms < 2 * size) continue;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  for (const [size, unit] of UNITS) {
    if (unit !== 'd' && ms >= size) return `${round(ms / size, 1)}${unit}`;
  }
  return `${ms}ms`;
}

/** FNV-1a, 32-bit unsigned: a stable, fast hash of a name. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };

export function atLeast(s: Severity, floor: Severity): Severity {
  return RANK[s] >= RANK[floor] ? s : floor;
}

/**
 * Fires on the event that takes a sliding estimate over the limit, and again on
 * the first event of each new bucket while it stays over: one finding per
 * bucket, not one per event, and a breaker whose TTL ran out hears of it again.
 */
export function crosses(estimate: number, limit: number, bucketCount: number): boolean {
  return estimate > limit && (estimate - 1 <= limit || bucketCount === 1);
}

/** Shared empty results (the pipeline never mutates them): frozen so a caller that did would fail loudly. */
export const NO_FINDINGS: never[] = Object.freeze([]) as unknown as never[];
export const NO_TRACKS: never[] = NO_FINDINGS;

// The action vocabulary is small, and the bound keeps hostile action names from growing a cache.
const MAX_KEYS = 4096;

/** Track keys per action (`<prefix><action>` for each prefix), built once per action. */
export function perActionKeys<const P extends readonly string[]>(...prefixes: P): (action: string) => { [K in keyof P]: string } {
  const cache = new Map<string, { [K in keyof P]: string }>();
  return (action) => {
    let k = cache.get(action);
    if (!k) {
      if (cache.size >= MAX_KEYS) cache.clear();
      k = prefixes.map((p) => p + action) as unknown as { [K in keyof P]: string };
      cache.set(action, k);
    }
    return k;
  };
}
