import { Decoder, type DecoderOptions } from '@msgpack/msgpack';

/**
 * Well-formed UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above
 * U+10FFFF. ASCII, the common case, costs one compare per byte.
 */
export function isUtf8(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c < 0xc2) return false;
    if (c < 0xe0) {
      if (i + 1 >= end || (b[i + 1]! & 0xc0) !== 0x80) return false;
      i += 2;
    } else if (c < 0xf0) {
      if (i + 2 >= end) return false;
      const c1 = b[i + 1]!;
      if ((c1 & 0xc0) !== 0x80 || (b[i + 2]! & 0xc0) !== 0x80) return false;
      if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 >= 0xa0)) return false;
      i += 3;
    } else if (c < 0xf5) {
      if (i + 3 >= end) return false;
      const c1 = b[i + 1]!;
      if ((c1 & 0xc0) !== 0x80 || (b[i + 2]! & 0xc0) !== 0x80 || (b[i + 3]! & 0xc0) !== 0x80) return false;
      if ((c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 >= 0x90)) return false;
      i += 4;
    } else return false;
  }
  return true;
}

/** Thrown by the strict decoder; the codec turns it into EVENT_INVALID_UTF8. */
export class InvalidUtf8 extends Error {}

interface DecoderInternals {
  pos: number;
  bytes: Uint8Array;
  decodeUtf8String(byteLength: number, headerOffset: number): string;
  stateIsMapKey(): boolean;
}

type Slice = (this: Uint8Array, start: number, end: number) => string;
// Native, and they take any Uint8Array; latin1 of ASCII bytes is the same text as UTF-8.
const latin1 = (Buffer.prototype as unknown as { latin1Slice: Slice }).latin1Slice;
const utf8 = (Buffer.prototype as unknown as { utf8Slice: Slice }).utf8Slice;

class StrictDecoder extends Decoder {}
const lossy = (Decoder.prototype as unknown as DecoderInternals).decodeUtf8String;
if (typeof lossy !== 'function') throw new Error('@msgpack/msgpack: Decoder#decodeUtf8String is gone; update src/event/utf8.ts');

/*
 * @msgpack/msgpack decodes a str that is not UTF-8 lossily (`61 ff` becomes
 * "aÿ", the same identity as the UTF-8 "aÿ") and has no option to refuse it,
 * so this replaces its one string method (internal to 3.x; the tests pin the
 * behaviour). Short values, nearly all of an event, are checked and decoded
 * natively in one pass, which is cheaper than the library's own JS decoding;
 * map keys keep its cache, long strings its TextDecoder, both checked after.
 */
(StrictDecoder.prototype as unknown as DecoderInternals).decodeUtf8String = function (this: DecoderInternals, byteLength: number, headerOffset: number): string {
  const b = this.bytes;
  const start = this.pos + headerOffset;
  const end = start + byteLength;
  // 200 is under every maxStrLength Warden sets (64 KiB), so the fast path needs no limit check.
  if (byteLength > 200 || b.byteLength < end || (byteLength <= 16 && this.stateIsMapKey())) {
    // It checks the limits and the bounds, and moves pos past the string.
    const s = lossy.call(this, byteLength, headerOffset);
    if (!isUtf8(b, start, end)) throw new InvalidUtf8('string is not valid UTF-8');
    return s;
  }
  let i = start;
  while (i < end && b[i]! < 0x80) i++;
  let s: string;
  if (i === end) s = latin1.call(b, start, end);
  else if (isUtf8(b, i, end)) s = utf8.call(b, start, end);
  else throw new InvalidUtf8('string is not valid UTF-8');
  this.pos += headerOffset + byteLength;
  return s;
};

/** A msgpack Decoder that refuses a str (key or value) whose bytes are not UTF-8. */
export function strictDecoder(options: DecoderOptions): Decoder {
  return new StrictDecoder(options);
}

/**
 * The error path only: which field holds the bad string. Strings come back
 * as bytes (map keys lossily), so each can be checked; keys are tried last.
 */
export function invalidUtf8Field(bytes: Uint8Array): string | undefined {
  let value: unknown;
  try {
    value = new Decoder({ rawStrings: true, useBigInt64: false }).decode(bytes);
  } catch {
    return undefined;
  }
  return find(value, '');
}

function find(v: unknown, path: string): string | undefined {
  if (v instanceof Uint8Array) return isUtf8(v, 0, v.length) ? undefined : path;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const f = find(v[i], `${path}[${i}]`);
      if (f !== undefined) return f;
    }
    return undefined;
  }
  if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) {
      const f = find(x, path === '' ? k : `${path}.${k}`);
      if (f !== undefined) return f;
    }
  }
  return undefined;
}

/** A JSON event's field whose text decoded to U+FFFD (where the bad bytes were), on the error path. */
export function replacedField(v: unknown, path = ''): string | undefined {
  if (typeof v === 'string') return v.includes('\uFFFD') ? path : undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const f = replacedField(v[i], `${path}[${i}]`);
      if (f !== undefined) return f;
    }
    return undefined;
  }
  if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) {
      const name = path === '' ? k : `${path}.${k}`;
      if (k.includes('\uFFFD')) return name;
      const f = replacedField(x, name);
      if (f !== undefined) return f;
    }
  }
  return undefined;
}
