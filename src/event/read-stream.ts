import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { WardenError } from '../errors.js';
import { decodeJson, decodeMsgpack, failed, isMapMarker, isSpace, type DecodeResult } from './codec.js';
import { EVENT_LIMITS } from './types.js';

export interface StreamRecord {
  /** 0-based position among the records of the stream; blank JSONL lines get none. */
  index: number;
  result: DecodeResult;
  /** The record's bytes, kept for failed records only (dead letters). */
  raw?: Uint8Array;
  /** 1-based line number, JSON Lines only. */
  line?: number;
}

export type Source = NodeJS.ReadableStream | AsyncIterable<Uint8Array>;
type Chunks = AsyncIterator<Uint8Array>;

const LIMIT = EVENT_LIMITS.eventBytes;
const EMPTY: Uint8Array = new Uint8Array(0);

/** '-' is stdin; anything else a file that must exist. */
export function openInput(pathOrDash: string): NodeJS.ReadableStream {
  if (pathOrDash === '-') return process.stdin;
  let isFile: boolean;
  try {
    isFile = statSync(pathOrDash).isFile();
  } catch (err) {
    throw new WardenError('INPUT_NOT_FOUND', `input file "${pathOrDash}" does not exist or cannot be read`, { cause: err });
  }
  if (!isFile) throw new WardenError('INPUT_NOT_FOUND', `input "${pathOrDash}" is not a regular file`);
  return createReadStream(pathOrDash);
}

async function* bytesOf(source: Source): AsyncGenerator<Uint8Array> {
  for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (bytes.length > 0) yield bytes;
  }
}

/** Reads until `want` bytes are buffered (or the stream ends); the caller prepends them again. */
async function peek(it: Chunks, want: number): Promise<Uint8Array> {
  let head = EMPTY;
  while (head.length < want) {
    const next = await it.next();
    if (next.done) break;
    head = head.length === 0 ? next.value : Buffer.concat([head, next.value]);
  }
  return head;
}

async function* prepend(head: Uint8Array, it: Chunks): AsyncGenerator<Uint8Array> {
  try {
    if (head.length > 0) yield head;
    for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
  } finally {
    await it.return?.();
  }
}

/** A copy: Buffer#slice would return a view that pins (or shares) the source chunk. */
const copy = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes);

export const isZlibError = (err: unknown): boolean =>
  typeof (err as { code?: unknown })?.code === 'string' && (err as { code: string }).code.startsWith('Z_');

export interface InputBytes {
  chunks: AsyncIterable<Uint8Array>;
  /** The input started with the gzip magic and is read through gunzip: a zlib error (isZlibError) means it is corrupt. */
  gzip: boolean;
  close(): void;
}

/** The bytes of an input, gunzipped when they start with the gzip magic (any file name). */
export async function inputBytes(source: Source): Promise<InputBytes> {
  const it = bytesOf(source);
  const head = await peek(it, 2);
  const chunks = prepend(head, it);
  if (head[0] !== 0x1f || head[1] !== 0x8b) return { chunks, gzip: false, close: () => undefined };
  const gunzip = createGunzip();
  const input = Readable.from(chunks, { objectMode: false });
  input.on('error', (err) => gunzip.destroy(err));
  input.pipe(gunzip);
  return { chunks: bytesOf(gunzip), gzip: true, close: () => input.destroy() };
}

/**
 * Records of a recording: gzip or not, JSON Lines or concatenated msgpack,
 * detected from the first bytes. Bad records come out as failed results and
 * reading goes on; only a corrupt msgpack or gzip stream ends it early.
 */
export async function* readEventStream(source: Source): AsyncGenerator<StreamRecord> {
  const input = await inputBytes(source);
  const chunks = input.chunks;
  // Parsers are synchronous and fill a batch per chunk: one async hop per record, not one per layer.
  const out: StreamRecord[] = [];
  let parser: Parser | undefined;
  let sniffed = EMPTY;
  try {
    for await (let chunk of chunks) {
      if (parser === undefined) {
        sniffed = sniffed.length === 0 ? chunk : Buffer.concat([sniffed, chunk]);
        let i = 0;
        while (i < sniffed.length && isSpace(sniffed[i]!)) i++;
        if (i === sniffed.length) continue;
        const first = sniffed[i]!;
        if (i === 0 && isMapMarker(first)) parser = msgpackParser();
        else if (first === 0x7b) parser = jsonLinesParser();
        else {
          const hex = first.toString(16).padStart(2, '0');
          const message = `input is neither JSON Lines nor a msgpack stream (first byte 0x${hex} at byte ${i})`;
          yield { index: 0, result: failed('EVENT_DECODE', message) };
          return;
        }
        chunk = sniffed;
        sniffed = EMPTY;
      }
      const more = parser.push(chunk, out);
      for (const rec of out) yield rec;
      out.length = 0;
      if (!more) return;
    }
    parser?.end(out);
    for (const rec of out) yield rec;
  } catch (err) {
    if (!input.gzip || !isZlibError(err)) throw err;
    yield { index: parser?.index() ?? 0, result: failed('EVENT_DECODE', `corrupt gzip input: ${(err as Error).message}`) };
  } finally {
    input.close();
  }
}

interface Parser {
  /** Appends the records completed by this chunk; false once the stream cannot go on. */
  push(chunk: Uint8Array, out: StreamRecord[]): boolean;
  end(out: StreamRecord[]): void;
  /** The index the next record would get. */
  index(): number;
}

function jsonLinesParser(): Parser {
  let index = 0;
  let lineNo = 0;
  let carry = EMPTY;
  // Bytes dropped from the current line once it exceeded the limit; it is reported, not buffered.
  let overflow = 0;

  function emit(buf: Uint8Array, start: number, end: number, out: StreamRecord[]): void {
    lineNo++;
    if (end > start && buf[end - 1] === 0x0d) end--;
    let s = start;
    while (s < end && isSpace(buf[s]!)) s++;
    if (s === end && overflow === 0) return;
    const size = end - start + overflow;
    if (size > LIMIT) {
      overflow = 0;
      out.push({ index: index++, result: failed('EVENT_TOO_LARGE', `line ${lineNo} is ${size} bytes, more than ${LIMIT}`), line: lineNo });
      return;
    }
    const line = buf.subarray(start, end);
    const result = decodeJson(line);
    out.push(result.ok ? { index: index++, result, line: lineNo } : { index: index++, result, raw: copy(line), line: lineNo });
  }

  return {
    index: () => index,
    push(chunk, out) {
      let pos = 0;
      let nl = chunk.indexOf(0x0a);
      if (nl >= 0 && (carry.length > 0 || overflow > 0)) {
        const joined = carry.length === 0 ? chunk.subarray(0, nl) : Buffer.concat([carry, chunk.subarray(0, nl)]);
        carry = EMPTY;
        emit(joined, 0, joined.length, out);
        pos = nl + 1;
        nl = chunk.indexOf(0x0a, pos);
      }
      while (nl >= 0) {
        emit(chunk, pos, nl, out);
        pos = nl + 1;
        nl = chunk.indexOf(0x0a, pos);
      }
      if (pos < chunk.length) {
        const tail = chunk.subarray(pos);
        if (overflow > 0 || carry.length + tail.length > LIMIT) {
          overflow += carry.length + tail.length;
          carry = EMPTY;
        } else {
          carry = carry.length === 0 ? copy(tail) : Buffer.concat([carry, tail]);
        }
      }
      return true;
    },
    end(out) {
      if (carry.length > 0 || overflow > 0) emit(carry, 0, carry.length, out);
    },
  };
}

/**
 * Finds where the msgpack value starting at `start` ends: the end offset, -1
 * if more bytes are needed, -2 for a byte that is not msgpack, -3 once it is
 * known to be longer than `limit`. Skips without decoding.
 */
export function msgpackEnd(buf: Uint8Array, start: number, limit: number): number {
  const n = buf.length;
  const max = start + limit;
  let p = start;
  let pending = 1;
  while (pending > 0) {
    if (p > max) return -3;
    if (p >= n) return -1;
    const b = buf[p++]!;
    pending--;
    let skip = 0;
    let items = 0;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) skip = 0;
    else if (b <= 0x8f) items = (b & 0x0f) * 2;
    else if (b <= 0x9f) items = b & 0x0f;
    else if (b <= 0xbf) skip = b & 0x1f;
    else if (b === 0xc1) return -2;
    else {
      // Sized types: the width of the length field, then what the length counts.
      let width = 0;
      let fixed = 0;
      let per = 0;
      let ext = 0;
      switch (b) {
        case 0xc4: case 0xd9: width = 1; per = 1; break;
        case 0xc5: case 0xda: width = 2; per = 1; break;
        case 0xc6: case 0xdb: width = 4; per = 1; break;
        case 0xc7: width = 1; per = 1; ext = 1; break;
        case 0xc8: width = 2; per = 1; ext = 1; break;
        case 0xc9: width = 4; per = 1; ext = 1; break;
        case 0xca: fixed = 4; break;
        case 0xcb: fixed = 8; break;
        case 0xcc: case 0xd0: fixed = 1; break;
        case 0xcd: case 0xd1: fixed = 2; break;
        case 0xce: case 0xd2: fixed = 4; break;
        case 0xcf: case 0xd3: fixed = 8; break;
        case 0xd4: fixed = 2; break;
        case 0xd5: fixed = 3; break;
        case 0xd6: fixed = 5; break;
        case 0xd7: fixed = 9; break;
        case 0xd8: fixed = 17; break;
        case 0xdc: width = 2; per = -1; break;
        case 0xdd: width = 4; per = -1; break;
        case 0xde: width = 2; per = -2; break;
        case 0xdf: width = 4; per = -2; break;
      }
      if (fixed > 0) skip = fixed;
      else {
        if (p + width > n) return p + width > max ? -3 : -1;
        let len = 0;
        for (let k = 0; k < width; k++) len = len * 256 + buf[p + k]!;
        p += width;
        if (per === 1) skip = len + ext;
        else items = per === -1 ? len : len * 2;
      }
    }
    p += skip;
    pending += items;
    // Every item takes at least a byte, so an oversized count is known at once.
    if (p + pending > max) return -3;
    if (p > n) return -1;
  }
  return p;
}

function msgpackParser(): Parser {
  let index = 0;
  let buf = EMPTY;
  let base = 0; // stream offset of buf[0]
  return {
    index: () => index,
    push(chunk, out) {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let pos = 0;
      while (pos < buf.length) {
        const end = msgpackEnd(buf, pos, LIMIT);
        if (end === -1) break;
        if (end < 0) {
          const at = base + pos;
          const result =
            end === -2
              ? failed('EVENT_DECODE', `corrupt msgpack stream: byte 0x${buf[pos]!.toString(16)} is not msgpack, in the event at byte ${at}; stopped`)
              : failed('EVENT_TOO_LARGE', `event at byte ${at} is more than ${LIMIT} bytes; cannot resynchronise, stopped`);
          out.push({ index, result });
          return false;
        }
        const frame = buf.subarray(pos, end);
        const result = decodeMsgpack(frame);
        out.push(result.ok ? { index: index++, result } : { index: index++, result, raw: copy(frame) });
        pos = end;
      }
      base += pos;
      buf = pos === buf.length ? EMPTY : copy(buf.subarray(pos));
      return true;
    },
    end(out) {
      if (buf.length === 0) return;
      const message = `truncated msgpack stream: it ends inside the event at byte ${base} (${buf.length} bytes of it)`;
      out.push({ index, result: failed('EVENT_DECODE', message), raw: buf });
    },
  };
}
