import { decodeEvent } from '../event/codec.js';
import { timeError, type TimeBounds } from '../event/time.js';
import type { InputRecord } from '../pipeline/engine.js';
import type { InboundMessage } from '../transport/types.js';

const EMPTY = new Uint8Array(0);
/** The headers no string can carry as they were (repeated, null, or not UTF-8): README "Dead letters". */
export const RAW_HEADERS = 'warden-source-headers-base64';
const utf8 = new TextDecoder('utf-8', { fatal: true });

function textOf(v: Buffer | string | null): string | undefined {
  if (typeof v === 'string' || v === null) return v ?? undefined;
  try {
    return utf8.decode(v);
  } catch {
    return undefined;
  }
}

/** A bad record's headers for its dead letter, exactly: as text where that is the value, else base64 in RAW_HEADERS. */
function headersOf(message: InboundMessage): Record<string, string> | undefined {
  if (!message.headers) return undefined;
  const headers: Record<string, string> = {};
  const raw: Array<[string, string | null]> = [];
  for (const [k, v] of Object.entries(message.headers)) {
    if (v === undefined) continue;
    const values = (Array.isArray(v) ? v : [v]) as Array<Buffer | string | null>;
    const text = values.length === 1 ? textOf(values[0]!) : undefined;
    if (text !== undefined) headers[k] = text;
    else for (const x of values) raw.push([k, x === null ? null : Buffer.from(x).toString('base64')]);
  }
  if (raw.length > 0) headers[RAW_HEADERS] = JSON.stringify(raw);
  return headers;
}

/**
 * Whether a valid event's record key is not its identity: it may then land
 * off its identity's owner partition and take a hop there (route.ts).
 * Counted, so operators can find the producer.
 */
export function misrouted(message: InboundMessage, rec: InputRecord): boolean {
  if (!rec.ok || !rec.event) return false;
  const key = message.key;
  if (!key) return true;
  const id = rec.event.identity;
  // Byte length first: most keys are right, and this avoids decoding them.
  return key.length !== Buffer.byteLength(id) || key.toString('utf8') !== id;
}

/**
 * A Kafka message to an engine record; a bad one keeps its bytes and headers
 * for the dead-letter topic, and so does a control, whose signature the engine checks.
 * `now` is the wall clock the record's time is bounded by; a record forwarded
 * by Warden is not bounded again (it was where it was first read).
 */
export function toRecord(message: InboundMessage, now: number, bounds: TimeBounds, bounded = true): InputRecord {
  const offset = BigInt(message.offset);
  const value = message.value ?? EMPTY;
  const result = decodeEvent(value);
  const late = result.ok && bounded ? timeError(result.control ? result.control.ts : result.event.ts, now, bounds, result.control ? 'CONTROL' : 'EVENT') : undefined;
  if (result.ok && !result.control && !late) return { offset, ok: true, event: result.event };
  const rec: InputRecord = late
    ? { offset, ok: false, error: late, raw: value }
    : result.ok ? { offset, ok: true, control: result.control!, raw: value } : { offset, ok: false, error: result.error, raw: value };
  const headers = headersOf(message);
  if (headers) rec.headers = headers;
  if (message.key) rec.key = message.key;
  return rec;
}
