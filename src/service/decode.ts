import type { KafkaMessage } from 'kafkajs';
import { decodeEvent } from '../event/codec.js';
import type { InputRecord } from '../pipeline/engine.js';

const EMPTY = new Uint8Array(0);

/** A Kafka message to an engine record; a bad one keeps its bytes and headers for the dead-letter topic. */
export function toRecord(message: KafkaMessage): InputRecord {
  const offset = BigInt(message.offset);
  const value = message.value ?? EMPTY;
  const result = decodeEvent(value);
  if (result.ok) return result.control ? { offset, ok: true, control: result.control } : { offset, ok: true, event: result.event };
  const rec: InputRecord = { offset, ok: false, error: result.error, raw: value };
  if (message.headers) {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(message.headers)) {
      if (v === undefined) continue;
      headers[k] = Array.isArray(v) ? v.map(String).join(',') : String(v);
    }
    rec.headers = headers;
  }
  return rec;
}
