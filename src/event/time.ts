import type { EventError } from './validate.js';

const MIN = 60_000;
const DAY = 86_400_000;

/**
 * How far an event's time may be from "now": the wall clock in the service,
 * the recording's own clock in replay (see replay-clock.ts). One rule, two
 * sources of now. README "Event time bounds".
 */
export interface TimeBounds {
  /** Ahead of now by more than this: refused (a producer sending µs, a skewed clock). */
  maxAheadMs: number;
  /** Behind now by more than this: refused. 0: only the absolute floor. */
  maxAgeMs: number;
}

export const DEFAULT_TIME_BOUNDS: Readonly<TimeBounds> = Object.freeze({ maxAheadMs: 5 * MIN, maxAgeMs: 30 * DAY });

/** 2000-01-01: nothing Warden watches is older (a producer sending seconds lands in 1970). */
export const TS_FLOOR = 946_684_800_000;
/**
 * 9999-12-31T23:59:59.999Z, checked when a record is decoded, with no clock:
 * beyond it the breaker's times stop being dates.
 */
export const TS_CEILING = 253_402_300_799_999;

/**
 * Event time as `2026-11-18T03:00:26.000Z`, or with `short` as
 * `2026-11-18 03:00:26` (the CLI's). Any number prints, never throws: a time
 * stored by an older Warden (a ts of 9e15, NaN) is the raw number with a note.
 */
export function isoTime(ts: number, short = false): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return `${String(ts)} (not a date)`;
  const iso = d.toISOString();
  return short ? iso.replace('T', ' ').slice(0, 19) : iso;
}

function span(ms: number): string {
  if (ms >= 2 * DAY) return `${Math.round(ms / DAY)} days`;
  if (ms >= 2 * 3_600_000) return `${Math.round(ms / 3_600_000)} h`;
  if (ms >= 2 * MIN) return `${Math.round(ms / MIN)} min`;
  return `${Math.round(ms / 1000)} s`;
}

/**
 * Why `ts` is out of bounds at `now`, or undefined. `kind` names the code:
 * EVENT_TS_FUTURE / EVENT_TS_TOO_OLD, CONTROL_TS_FUTURE / CONTROL_TS_TOO_OLD.
 */
export function timeError(ts: number, now: number, b: TimeBounds, kind: 'EVENT' | 'CONTROL'): EventError | undefined {
  if (ts > now + b.maxAheadMs) {
    return {
      code: `${kind}_TS_FUTURE`, field: 'ts',
      message: `field "ts" (${isoTime(ts)}) is ${span(ts - now)} ahead of the clock (${isoTime(now)}), more than the ${span(b.maxAheadMs)} allowed; ms since the epoch expected`,
    };
  }
  if (ts < TS_FLOOR) {
    return { code: `${kind}_TS_TOO_OLD`, field: 'ts', message: `field "ts" (${isoTime(ts)}) is before 2000-01-01; ms since the epoch expected` };
  }
  if (b.maxAgeMs > 0 && ts < now - b.maxAgeMs) {
    return {
      code: `${kind}_TS_TOO_OLD`, field: 'ts',
      message: `field "ts" (${isoTime(ts)}) is ${span(now - ts)} behind the clock (${isoTime(now)}), more than the ${span(b.maxAgeMs)} allowed`,
    };
  }
  return undefined;
}
