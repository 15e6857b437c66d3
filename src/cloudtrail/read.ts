import { inputBytes, isZlibError, type Source, type StreamRecord } from '../event/read-stream.js';
import type { EventError } from '../event/validate.js';
import { ctError, mapRecord, unpack } from './map.js';

/** Larger than any CloudTrail file (they are split well below this), and below V8's longest string. */
export const MAX_VALUE_BYTES = 256 * 1024 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

type Value = { ok: true; text: string; at: number } | { ok: false; message: string; at: number; fatal?: boolean };

/**
 * The top-level JSON values of a byte stream: one pretty-printed document,
 * JSON Lines, or objects written back to back (as Firehose does), told apart
 * by nothing: each `{…}` or `[…]` at depth 0 is one value.
 */
export async function* jsonValues(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Value> {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let parts: Uint8Array[] = [];
  let size = 0;
  let base = 0; // stream offset of the current chunk
  let start = 0; // stream offset of the current value
  let junk = false; // skipping to the next line after bytes that start no value
  for await (const chunk of chunks) {
    let from = 0; // where the current value starts in this chunk (0 when it started before)
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (depth === 0) {
        if (junk) {
          if (b === 0x0a) junk = false;
          continue;
        }
        if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
        if (b !== 0x7b && b !== 0x5b) {
          yield { ok: false, at: base + i, message: `byte 0x${b.toString(16).padStart(2, '0')} at byte ${base + i} starts no JSON object or array; skipped to the next line` };
          junk = true;
          continue;
        }
        depth = 1;
        from = i;
        start = base + i;
        continue;
      }
      if (inString) {
        if (escaped) escaped = false;
        else if (b === 0x5c) escaped = true;
        else if (b === 0x22) inString = false;
      } else if (b === 0x22) inString = true;
      else if (b === 0x7b || b === 0x5b) depth++;
      else if (b === 0x7d || b === 0x5d) {
        if (--depth === 0) {
          parts.push(chunk.subarray(from, i + 1));
          const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
          parts = [];
          size = 0;
          yield decode(bytes, start);
        }
      }
    }
    if (depth > 0) {
      const tail = chunk.subarray(from);
      size += tail.length;
      if (size > MAX_VALUE_BYTES) {
        yield { ok: false, at: start, fatal: true, message: `the JSON value at byte ${start} is larger than ${MAX_VALUE_BYTES / 1024 / 1024} MiB; stopped` };
        return;
      }
      parts.push(new Uint8Array(tail));
    }
    base += chunk.length;
  }
  if (depth > 0) yield { ok: false, at: start, message: `the input ends inside the JSON value at byte ${start} (truncated?)` };
}

function decode(bytes: Uint8Array, at: number): Value {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, at, message: `the JSON value at byte ${at} is not valid UTF-8` };
  }
  return { ok: true, text, at };
}

function located(error: EventError, where: string, eventId: unknown): EventError {
  const id = typeof eventId === 'string' && eventId !== '' ? ` (eventID ${eventId.slice(0, 64)})` : '';
  return { ...error, message: `${where}${id}: ${error.message}` };
}

/**
 * CloudTrail records from a file or stdin, gzip or not, as Warden events. A
 * record that cannot be mapped comes out as a failed result with its
 * CLOUDTRAIL_* (or EVENT_*) code and where it was; reading goes on.
 */
export async function* readCloudTrail(source: Source): AsyncGenerator<StreamRecord> {
  const input = await inputBytes(source);
  let index = 0;
  let n = 0;
  try {
    for await (const v of jsonValues(input.chunks)) {
      n++;
      if (!v.ok) {
        yield { index: index++, result: ctError('CLOUDTRAIL_DECODE', v.message) };
        if (v.fatal) return;
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(v.text);
      } catch (err) {
        yield { index: index++, result: ctError('CLOUDTRAIL_DECODE', `the JSON value at byte ${v.at} is not JSON: ${(err as Error).message.slice(0, 160)}`) };
        continue;
      }
      for (const u of unpack(value)) {
        const where = `value ${n}${u.at ? ` ${u.at}` : ''}`;
        if (u.error) {
          yield { index: index++, result: { ok: false, error: located(u.error, where, undefined) } };
          continue;
        }
        const r = mapRecord(u.record);
        const id = (u.record as { eventID?: unknown } | null)?.eventID;
        yield r.ok
          ? { index: index++, result: { ok: true, event: r.event, encoding: 'json' } }
          : { index: index++, result: { ok: false, error: located(r.error, where, id) } };
      }
    }
  } catch (err) {
    if (!input.gzip || !isZlibError(err)) throw err;
    yield { index, result: ctError('CLOUDTRAIL_DECODE', `corrupt gzip input: ${(err as Error).message}`) };
  } finally {
    input.close();
  }
}
