import { gzipSync } from 'node:zlib';
import { Encoder, encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import {
  EVENT_LIMITS,
  decodeEvent,
  encodeEvent,
  openInput,
  readEventStream,
  validateEvent,
  type AgentEvent,
  type StreamRecord,
} from '../../src/event/index.js';
import { WardenError } from '../../src/errors.js';

const base: AgentEvent = { id: 'e1', ts: 1_700_000_000_000, identity: 'agent-a', action: 'read', resource: 'db/users' };
const full: AgentEvent = {
  ...base,
  chain: ['root', 'parent'],
  agentClass: 'planner',
  instance: 'i-1',
  task: 't-9',
  correlationId: 'c-1',
  tenant: 'acme',
  outcome: 'denied',
  attrs: { bytes: 12, tags: ['x'] },
};

function errorOf(value: unknown): { code: string; field?: string; message: string } {
  const r = validateEvent(value);
  if (r.ok) throw new Error('expected a failure');
  return r.error;
}

function decodeErr(bytes: Uint8Array): { code: string; message: string } {
  const r = decodeEvent(bytes);
  if (r.ok) throw new Error('expected a failure');
  return r.error;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

async function collect(chunks: Uint8Array[]): Promise<StreamRecord[]> {
  async function* source(): AsyncGenerator<Uint8Array> {
    for (const c of chunks) yield c;
  }
  const out: StreamRecord[] = [];
  for await (const rec of readEventStream(source())) out.push(rec);
  return out;
}

/** Splits bytes into small chunks so records straddle chunk boundaries. */
function split(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

const ids = (recs: StreamRecord[]): (string | null)[] => recs.map((r) => (r.result.ok ? r.result.event.id : null));

describe('codec round trip and detection', () => {
  it('round-trips msgpack and JSON and detects each', () => {
    for (const encoding of ['msgpack', 'json'] as const) {
      const r = decodeEvent(encodeEvent(full, encoding));
      expect(r).toEqual({ ok: true, event: full, encoding });
    }
    expect(encodeEvent(base)[0]).toBe(0x85);
    expect(decodeEvent(text('  \n{"id":"a","ts":1,"identity":"i","action":"x","resource":"r"}'))).toMatchObject({
      ok: true,
      encoding: 'json',
    });
  });

  it('decodes int64 timestamps to numbers', () => {
    const ts = 2 ** 40 + 7;
    const bytes = new Encoder({ useBigInt64: true }).encode({ ...base, ts: BigInt(ts) });
    const r = decodeEvent(bytes);
    expect(r.ok && r.event.ts).toBe(ts);
  });

  it('reports empty, oversized, garbage and non-map input', () => {
    expect(decodeErr(new Uint8Array(0)).code).toBe('EVENT_EMPTY');
    expect(decodeErr(text(' \n ')).code).toBe('EVENT_EMPTY');
    expect(decodeErr(new Uint8Array(EVENT_LIMITS.eventBytes + 1).fill(0x7b)).code).toBe('EVENT_TOO_LARGE');
    expect(decodeErr(Uint8Array.of(0xc1, 0xff, 0x00)).code).toBe('EVENT_DECODE');
    expect(decodeErr(text('{"id": nope')).code).toBe('EVENT_DECODE');
    expect(decodeErr(Uint8Array.of(0x85, 0xa2)).code).toBe('EVENT_DECODE');
    const arr = decodeErr(encode([base]));
    expect(arr).toMatchObject({ code: 'EVENT_NOT_MAP' });
    expect(arr.message).toContain('array');
    expect(decodeErr(text('[1,2]')).code).toBe('EVENT_NOT_MAP');
    expect(decodeErr(text('"str"')).code).toBe('EVENT_NOT_MAP');
  });

  it('refuses invalid UTF-8 in JSON with its own code, naming the field', () => {
    const bytes = concat([text('{"id":"'), Uint8Array.of(0xff), text('","ts":1,"identity":"i","action":"a","resource":"r"}')]);
    expect(decodeEvent(bytes)).toEqual({ ok: false, error: { code: 'EVENT_INVALID_UTF8', field: 'id', message: 'field "id" is not valid UTF-8' } });
    // Bytes that are neither valid UTF-8 nor JSON: still the encoding error, the event as a whole.
    expect(decodeErr(concat([text('{"id":'), Uint8Array.of(0xff)])).code).toBe('EVENT_INVALID_UTF8');
  });
});

describe('validateEvent', () => {
  it('returns a fresh object with only known fields, dropping null and empty optionals', () => {
    const input = { ...base, chain: [], tenant: null, task: '', outcome: undefined, v: 1 };
    const r = validateEvent(input);
    expect(r).toEqual({ ok: true, event: base });
    expect(r.ok && r.event).not.toBe(input);
    expect(r.ok && Object.keys(r.event)).toEqual(['id', 'ts', 'identity', 'action', 'resource']);
  });

  it('accepts a bigint ts in the safe range', () => {
    const r = validateEvent({ ...base, ts: 1_700_000_000_123n });
    expect(r.ok && r.event.ts).toBe(1_700_000_000_123);
    expect(errorOf({ ...base, ts: 2n ** 60n })).toMatchObject({ code: 'EVENT_FIELD_INVALID', field: 'ts' });
  });

  it.each([
    ['not a map', 'x', 'EVENT_NOT_MAP', undefined],
    ['missing resource', { id: 'a', ts: 1, identity: 'i', action: 'x' }, 'EVENT_FIELD_MISSING', 'resource'],
    ['null identity', { ...base, identity: null }, 'EVENT_FIELD_MISSING', 'identity'],
    ['string ts', { ...base, ts: '2024' }, 'EVENT_FIELD_TYPE', 'ts'],
    ['float ts', { ...base, ts: 1.5 }, 'EVENT_FIELD_TYPE', 'ts'],
    ['negative ts', { ...base, ts: -1 }, 'EVENT_FIELD_INVALID', 'ts'],
    ['numeric id', { ...base, id: 7 }, 'EVENT_FIELD_TYPE', 'id'],
    ['empty action', { ...base, action: '' }, 'EVENT_FIELD_INVALID', 'action'],
    ['bad outcome', { ...base, outcome: 'maybe' }, 'EVENT_FIELD_INVALID', 'outcome'],
    ['chain not array', { ...base, chain: 'root' }, 'EVENT_FIELD_TYPE', 'chain'],
    ['empty chain entry', { ...base, chain: ['a', ''] }, 'EVENT_FIELD_INVALID', 'chain[1]'],
    ['attrs array', { ...base, attrs: [1] }, 'EVENT_FIELD_TYPE', 'attrs'],
    ['tenant number', { ...base, tenant: 3 }, 'EVENT_FIELD_TYPE', 'tenant'],
    ['v 2', { ...base, v: 2 }, 'EVENT_FIELD_INVALID', 'v'],
    ['unknown field', { ...base, color: 'red' }, 'EVENT_UNKNOWN_FIELD', 'color'],
  ])('%s', (_name, value, code, field) => {
    const err = errorOf(value);
    expect(err.code).toBe(code);
    expect(err.field).toBe(field);
    if (field !== undefined) expect(err.message).toContain(`"${field}"`);
  });

  it('names the type it got', () => {
    expect(errorOf({ ...base, ts: '2024' }).message).toBe('field "ts" must be an integer of ms since the epoch, got string');
  });

  it('measures identity and chain entries in UTF-8 bytes', () => {
    expect(errorOf({ ...base, identity: 'a'.repeat(3000) })).toMatchObject({ code: 'EVENT_FIELD_TOO_LONG', field: 'identity' });
    // 700 three-byte characters: 700 UTF-16 units but 2100 bytes.
    expect(errorOf({ ...base, identity: '€'.repeat(700) }).code).toBe('EVENT_FIELD_TOO_LONG');
    expect(validateEvent({ ...base, identity: '€'.repeat(682) }).ok).toBe(true);
    expect(errorOf({ ...base, chain: ['ok', 'x'.repeat(2049)] })).toMatchObject({ code: 'EVENT_FIELD_TOO_LONG', field: 'chain[1]' });
    expect(errorOf({ ...base, resource: 'r'.repeat(2049) })).toMatchObject({ code: 'EVENT_FIELD_TOO_LONG', field: 'resource' });
  });

  it('limits chain length and attrs keys', () => {
    const chain = Array.from({ length: EVENT_LIMITS.chainLength + 1 }, (_, i) => `p${i}`);
    expect(errorOf({ ...base, chain })).toMatchObject({ code: 'EVENT_FIELD_TOO_LONG', field: 'chain' });
    expect(validateEvent({ ...base, chain: chain.slice(1) }).ok).toBe(true);
    const attrs = Object.fromEntries(Array.from({ length: EVENT_LIMITS.attrsKeys + 1 }, (_, i) => [`k${i}`, i]));
    expect(errorOf({ ...base, attrs })).toMatchObject({ code: 'EVENT_FIELD_TOO_LONG', field: 'attrs' });
  });

  it('never echoes a long user value', () => {
    const long = 'z'.repeat(5000);
    for (const value of [{ ...base, [long]: 1 }, { ...base, outcome: long }, { ...base, identity: long }]) {
      expect(errorOf(value).message.length).toBeLessThan(140);
    }
  });

  it('refuses an unknown field through the msgpack decoder too', () => {
    const err = decodeErr(encode({ ...base, extra: 1 }));
    expect(err.code).toBe('EVENT_UNKNOWN_FIELD');
    expect(err.message).toContain('"extra"');
  });
});

describe('readEventStream', () => {
  const events = [1, 2, 3, 4, 5].map((n) => ({ ...full, id: `e${n}`, ts: base.ts + n }));
  const jsonl = text(events.map((e) => JSON.stringify(e)).join('\n') + '\n');

  it('reads JSON Lines across chunk boundaries, keeping bad lines as failures', async () => {
    const lines = events.map((e) => JSON.stringify(e));
    lines.splice(2, 0, '', '{"id":"bad"', '  ');
    const recs = await collect(split(text(lines.join('\n')), 7));
    expect(ids(recs)).toEqual(['e1', 'e2', null, 'e3', 'e4', 'e5']);
    expect(recs.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
    const bad = recs[2]!;
    expect(bad.line).toBe(4);
    expect(!bad.result.ok && bad.result.error.code).toBe('EVENT_DECODE');
    expect(new TextDecoder().decode(bad.raw)).toBe('{"id":"bad"');
  });

  it('reads CRLF files', async () => {
    const lines = events.map((e) => JSON.stringify(e));
    lines.splice(1, 0, '{"id":1}');
    const recs = await collect(split(text(lines.join('\r\n') + '\r\n\r\n'), 11));
    expect(ids(recs)).toEqual(['e1', null, 'e2', 'e3', 'e4', 'e5']);
    expect(new TextDecoder().decode(recs[1]!.raw)).toBe('{"id":1}');
  });

  it('reads gzip JSON Lines', async () => {
    const recs = await collect(split(new Uint8Array(gzipSync(jsonl)), 13));
    expect(ids(recs)).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
    expect(recs[4]!.result).toMatchObject({ ok: true, encoding: 'json', event: events[4] });
  });

  it('reports a corrupt gzip stream once', async () => {
    const gz = new Uint8Array(gzipSync(jsonl));
    const recs = await collect([gz.subarray(0, gz.length - 12)]);
    const last = recs.at(-1)!;
    expect(!last.result.ok && last.result.error.code).toBe('EVENT_DECODE');
    expect(!last.result.ok && last.result.error.message).toContain('gzip');
  });

  it('reports an oversized JSON line and goes on', async () => {
    const huge = JSON.stringify({ ...base, attrs: { pad: 'p'.repeat(EVENT_LIMITS.eventBytes) } });
    const body = text(`${JSON.stringify(events[0])}\n${huge}\n${JSON.stringify(events[1])}\n`);
    const recs = await collect(split(body, 4096));
    expect(ids(recs)).toEqual(['e1', null, 'e2']);
    expect(!recs[1]!.result.ok && recs[1]!.result.error.code).toBe('EVENT_TOO_LARGE');
  });

  it('reads a msgpack stream; an invalid event in the middle fails alone', async () => {
    const frames = events.map((e) => encodeEvent(e));
    frames.splice(2, 0, encode({ ...base, ts: 'soon' }), encode([1, 2]));
    const recs = await collect(split(concat(frames), 5));
    expect(ids(recs)).toEqual(['e1', 'e2', null, null, 'e3', 'e4', 'e5']);
    expect(recs.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(recs[2]!.result).toMatchObject({ ok: false, error: { code: 'EVENT_FIELD_TYPE', field: 'ts' } });
    expect(recs[3]!.result).toMatchObject({ ok: false, error: { code: 'EVENT_NOT_MAP' } });
    expect(recs[2]!.raw).toEqual(frames[2]);
    expect(recs[6]!.result).toMatchObject({ ok: true, encoding: 'msgpack', event: events[4] });
  });

  it('reports a truncated msgpack stream once, after the complete events', async () => {
    const all = concat(events.map((e) => encodeEvent(e)));
    const recs = await collect(split(all.subarray(0, all.length - 3), 64));
    expect(ids(recs)).toEqual(['e1', 'e2', 'e3', 'e4', null]);
    const last = recs[4]!.result;
    expect(!last.ok && last.error.code).toBe('EVENT_DECODE');
    expect(!last.ok && last.error.message).toMatch(/truncated.*byte \d+/);
  });

  it('stops at a corrupt msgpack byte with its position', async () => {
    const first = encodeEvent(events[0]!);
    const recs = await collect([concat([first, Uint8Array.of(0xc1), encodeEvent(events[1]!)])]);
    expect(ids(recs)).toEqual(['e1', null]);
    const err = recs[1]!.result;
    expect(!err.ok && err.error.message).toContain(`byte ${first.length}`);
  });

  it('refuses input that is neither format', async () => {
    const recs = await collect([text('hello\n')]);
    expect(recs).toHaveLength(1);
    expect(!recs[0]!.result.ok && recs[0]!.result.error.code).toBe('EVENT_DECODE');
    expect(await collect([])).toEqual([]);
  });
});

describe('openInput', () => {
  it('throws INPUT_NOT_FOUND for a missing file', () => {
    expect(() => openInput('/nonexistent/warden-events.jsonl')).toThrow(WardenError);
    expect(() => openInput('/nonexistent/warden-events.jsonl')).toThrow(expect.objectContaining({ code: 'INPUT_NOT_FOUND' }));
    expect(openInput('-')).toBe(process.stdin);
  });
});
