import { DEFAULT_TIME_BOUNDS, type TimeBounds } from '../event/time.js';
import { EVENT_LIMITS, type Encoding } from '../event/types.js';
import { WardenError } from '../errors.js';

export interface BufferOptions {
  topic: string;
  encoding: Encoding;
  lingerMs: number;
  maxBatchEvents: number;
  maxBatchBytes: number;
  maxBufferedEvents: number;
  maxBufferedBytes: number;
  onFull: 'wait' | 'reject';
  /** The service's bounds on `ts` (README "Event time bounds"): match WARDEN_EVENT_MAX_AHEAD / _AGE if you changed them. */
  timeBounds: TimeBounds;
  now: () => number;
}

/** The largest record one event can make: the whole event plus its key. */
export const MAX_RECORD_BYTES = EVENT_LIMITS.eventBytes + EVENT_LIMITS.identityBytes;

export const BUFFER_DEFAULTS: Readonly<Omit<BufferOptions, 'timeBounds' | 'now'>> = Object.freeze({
  topic: 'agent.actions',
  encoding: 'msgpack',
  lingerMs: 5,
  maxBatchEvents: 500,
  // Under the broker's default max.message.bytes (1 MiB) with room for the batch overhead.
  maxBatchBytes: 512 * 1024,
  maxBufferedEvents: 10_000,
  maxBufferedBytes: 32 * 1024 * 1024,
  onFull: 'wait',
});

export function optionsInvalid(message: string): never {
  throw new WardenError('PRODUCER_OPTIONS_INVALID', message);
}

function count(name: string, v: unknown, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) optionsInvalid(`${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

export type BufferInput = Partial<Omit<BufferOptions, 'timeBounds'>> & { timeBounds?: Partial<TimeBounds> };

export function bufferOptions(o: BufferInput): BufferOptions {
  const d = BUFFER_DEFAULTS;
  if (o.topic !== undefined && (typeof o.topic !== 'string' || o.topic === '')) optionsInvalid('topic must be a non-empty string');
  if (o.encoding !== undefined && o.encoding !== 'msgpack' && o.encoding !== 'json') optionsInvalid(`encoding must be msgpack or json, got ${String(o.encoding)}`);
  if (o.onFull !== undefined && o.onFull !== 'wait' && o.onFull !== 'reject') optionsInvalid(`onFull must be wait or reject, got ${String(o.onFull)}`);
  if (o.now !== undefined && typeof o.now !== 'function') optionsInvalid('now must be a function returning ms since the epoch');
  const maxBatchBytes = count('maxBatchBytes', o.maxBatchBytes, d.maxBatchBytes, MAX_RECORD_BYTES);
  const maxBatchEvents = count('maxBatchEvents', o.maxBatchEvents, d.maxBatchEvents, 1);
  const maxBufferedBytes = count('maxBufferedBytes', o.maxBufferedBytes, Math.max(d.maxBufferedBytes, maxBatchBytes), maxBatchBytes);
  const maxBufferedEvents = count('maxBufferedEvents', o.maxBufferedEvents, Math.max(d.maxBufferedEvents, maxBatchEvents), maxBatchEvents);
  const bounds: Partial<TimeBounds> = o.timeBounds ?? {};
  return {
    topic: o.topic ?? d.topic,
    encoding: o.encoding ?? d.encoding,
    lingerMs: count('lingerMs', o.lingerMs, d.lingerMs, 0),
    maxBatchEvents, maxBatchBytes, maxBufferedEvents, maxBufferedBytes,
    onFull: o.onFull ?? d.onFull,
    timeBounds: {
      maxAheadMs: count('timeBounds.maxAheadMs', bounds.maxAheadMs, DEFAULT_TIME_BOUNDS.maxAheadMs, 0),
      maxAgeMs: count('timeBounds.maxAgeMs', bounds.maxAgeMs, DEFAULT_TIME_BOUNDS.maxAgeMs, 0),
    },
    now: o.now ?? Date.now,
  };
}
