import { Encoder } from '@msgpack/msgpack';
import type { ErrorCode } from '../errors.js';
import { validateControl } from '../control/validate.js';
import type { OperatorControl } from '../control/types.js';
import { EVENT_LIMITS, type AgentEvent, type Encoding } from './types.js';
import { InvalidUtf8, invalidUtf8Field, replacedField, strictDecoder } from './utf8.js';
import { isPlainMap, kindOf, validateEvent, type EventError } from './validate.js';

export type DecodeResult =
  | { ok: true; event: AgentEvent; encoding: Encoding; control?: undefined }
  /** An operator control (shape checked, signature not yet): see src/control. */
  | { ok: true; control: OperatorControl; encoding: Encoding; event?: undefined }
  | { ok: false; error: EventError };

const LIMIT = EVENT_LIMITS.eventBytes;
// Nothing in a valid event is longer than the event, so cap every length up front.
const decoder = strictDecoder({
  useBigInt64: false,
  maxStrLength: LIMIT,
  maxBinLength: LIMIT,
  maxArrayLength: LIMIT,
  maxMapLength: LIMIT,
  maxExtLength: LIMIT,
});
const encoder = new Encoder({ ignoreUndefined: true });
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const lossyUtf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });
const textEncoder = new TextEncoder();

export function failed(code: ErrorCode, message: string, field?: string): { ok: false; error: EventError } {
  return { ok: false, error: field === undefined ? { code, message } : { code, field, message } };
}

function notUtf8(field: string | undefined, unknown: string): { ok: false; error: EventError } {
  const what = field === undefined ? unknown : `field "${field.slice(0, 64)}"`;
  return failed('EVENT_INVALID_UTF8', `${what} is not valid UTF-8`, field?.slice(0, 64));
}

export function reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.length <= 160 ? text : `${text.slice(0, 160)}…`;
}

/** fixmap, map16, map32. */
export function isMapMarker(byte: number): boolean {
  return (byte >= 0x80 && byte <= 0x8f) || byte === 0xde || byte === 0xdf;
}

export function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function validated(value: unknown, encoding: Encoding): DecodeResult {
  if (!isPlainMap(value)) {
    const what = encoding === 'json' ? 'a JSON object' : 'a msgpack map';
    return failed('EVENT_NOT_MAP', `event must be ${what}, got ${kindOf(value)}`);
  }
  if (value.control !== undefined) {
    const c = validateControl(value);
    return c.ok ? { ok: true, control: c.control, encoding } : c;
  }
  const r = validateEvent(value);
  return r.ok ? { ok: true, event: r.event, encoding } : r;
}

export function decodeMsgpack(bytes: Uint8Array): DecodeResult {
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (err) {
    if (err instanceof InvalidUtf8) return notUtf8(invalidUtf8Field(bytes), 'a map key');
    return failed('EVENT_DECODE', `invalid msgpack: ${reason(err)}`);
  }
  return validated(value, 'msgpack');
}

export function decodeJson(bytes: Uint8Array): DecodeResult {
  let value: unknown;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return notUtf8(jsonField(bytes), 'the event');
  }
  try {
    value = JSON.parse(text);
  } catch (err) {
    return failed('EVENT_DECODE', `invalid JSON: ${reason(err)}`);
  }
  return validated(value, 'json');
}

/** The error path: the field of a JSON event whose bytes are not UTF-8, if it still parses. */
function jsonField(bytes: Uint8Array): string | undefined {
  try {
    return replacedField(JSON.parse(lossyUtf8.decode(bytes)));
  } catch {
    return undefined;
  }
}

/** msgpack or JSON, told apart by the first byte. Never throws for bad input. */
export function decodeEvent(bytes: Uint8Array): DecodeResult {
  const n = bytes.length;
  if (n === 0) return failed('EVENT_EMPTY', 'event is empty');
  if (n > LIMIT) return failed('EVENT_TOO_LARGE', `event is ${n} bytes, more than ${LIMIT}`);
  const first = bytes[0]!;
  if (isMapMarker(first)) return decodeMsgpack(bytes);
  let i = 0;
  while (i < n && isSpace(bytes[i]!)) i++;
  if (i === n) return failed('EVENT_EMPTY', 'event is only whitespace');
  if (bytes[i] === 0x7b) return decodeJson(bytes);
  return notAMap(bytes, i);
}

const JSON_STARTS = new Set('["-0123456789tfn'.split('').map((c) => c.charCodeAt(0)));

/** The error path: say whether these bytes are a non-map value or not an encoding at all. */
function notAMap(bytes: Uint8Array, start: number): DecodeResult {
  if (JSON_STARTS.has(bytes[start]!)) {
    const r = decodeJson(bytes);
    if (r.ok || r.error.code === 'EVENT_NOT_MAP') return r;
  }
  const r = decodeMsgpack(bytes);
  if (!r.ok && r.error.code === 'EVENT_NOT_MAP') return r;
  const hex = bytes[0]!.toString(16).padStart(2, '0');
  return failed('EVENT_DECODE', `event is neither JSON nor msgpack (first byte 0x${hex})`);
}

export function encodeEvent(event: AgentEvent, encoding: Encoding = 'msgpack'): Uint8Array {
  return encoding === 'json' ? textEncoder.encode(JSON.stringify(event)) : encoder.encode(event);
}
