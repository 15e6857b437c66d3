import type { KafkaMessage } from 'kafkajs';
import { decodeEvent } from '../event/codec.js';
import { timeError, type TimeBounds } from '../event/time.js';
import type { InputRecord } from '../pipeline/engine.js';

const EMPTY = new Uint8Array(0);

function headersOf(message: KafkaMessage): Record<string, string> | undefined {
  if (!message.headers) return undefined;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers)) {
    if (v === undefined) continue;
    headers[k] = Array.isArray(v) ? v.map(String).join(',') : String(v);
  }
  return headers;
}

/**
 * A Kafka message to an engine record; a bad one keeps its bytes and headers
 * for the dead-letter topic, and so does a control, whose signature the engine checks.
 * `now` is the wall clock the record's time is bounded by.
 */
export function toRecord(message: KafkaMessage, now: number, bounds: TimeBounds): InputRecord {
  const offset = BigInt(message.offset);
  const value = message.value ?? EMPTY;
  const result = decodeEvent(value);
  const late = result.ok ? timeError(result.control ? result.control.ts : result.event.ts, now, bounds, result.control ? 'CONTROL' : 'EVENT') : undefined;
  if (result.ok && !result.control && !late) return { offset, ok: true, event: result.event };
  const rec: InputRecord = late
    ? { offset, ok: false, error: late, raw: value }
    : result.ok ? { offset, ok: true, control: result.control!, raw: value } : { offset, ok: false, error: result.error, raw: value };
  const headers = headersOf(message);
  if (headers) rec.headers = headers;
  if (message.key) rec.key = message.key;
  return rec;
}
