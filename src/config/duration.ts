export type DurationResult = { ok: true; ms: number } | { ok: false; reason: string };

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
const ORDER: readonly Unit[] = ['d', 'h', 'm', 's', 'ms'];
const PART = /(\d+)(ms|d|h|m|s)/y;
const HINT = 'expected a duration: a non-negative integer of ms, or e.g. 500ms, 30s, 15m, 1h, 7d, 1h30m';

/** Non-negative integer ms, or a string of descending `<int><unit>` parts (units d, h, m, s, ms). */
export function parseDuration(v: unknown): DurationResult {
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && v >= 0 ? { ok: true, ms: v } : { ok: false, reason: `${HINT}, got ${v}` };
  }
  if (typeof v !== 'string') return { ok: false, reason: `${HINT}, got ${v === null ? 'null' : typeof v}` };
  const s = v.trim();
  if (s === '0') return { ok: true, ms: 0 };
  let ms = 0;
  let pos = 0;
  let last = -1;
  PART.lastIndex = 0;
  while (pos < s.length) {
    PART.lastIndex = pos;
    const m = PART.exec(s);
    if (m === null) return { ok: false, reason: `${HINT}, got "${v}"` };
    const unit = m[2] as Unit;
    const rank = ORDER.indexOf(unit);
    // Descending, unrepeated units catch typos like "30m1h" or "1m1m".
    if (rank <= last) return { ok: false, reason: `units must be in descending order without repeats, got "${v}"` };
    last = rank;
    ms += Number(m[1]) * UNIT_MS[unit];
    pos = PART.lastIndex;
  }
  if (pos === 0) return { ok: false, reason: `${HINT}, got "${v}"` };
  if (!Number.isSafeInteger(ms)) return { ok: false, reason: `duration "${v}" is too large` };
  return { ok: true, ms };
}

/** The inverse of parseDuration: 5400000 → "1h30m", 0 → "0". */
export function formatDuration(ms: number): string {
  let out = '';
  let rest = ms;
  for (const unit of ORDER) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * UNIT_MS[unit];
  }
  return out === '' ? '0' : out;
}
