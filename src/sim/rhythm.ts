export const SEC = 1000;
export const MIN = 60 * SEC;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

export const hourOf = (ts: number): number => (((ts % DAY) + DAY) % DAY) / HOUR;
export const dayStartOf = (ts: number): number => ts - (((ts % DAY) + DAY) % DAY);
/** UTC Saturday or Sunday (1970-01-01 was a Thursday). */
export const isWeekend = (ts: number): boolean => {
  const d = (((Math.floor(ts / DAY) + 4) % 7) + 7) % 7;
  return d === 0 || d === 6;
};

/** 0 at night, 1 in business hours (09-18), with ramps either side; `ts` in the agent's local time. */
export function officeWeight(ts: number): number {
  const h = hourOf(ts);
  if (h >= 9 && h < 18) return 1;
  if (h >= 7 && h < 9) return (h - 7) / 2;
  if (h >= 18 && h < 22) return (22 - h) / 4;
  return 0;
}
