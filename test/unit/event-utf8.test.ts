import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, readEventStream, type AgentEvent } from '../../src/event/index.js';
import { isUtf8 } from '../../src/event/utf8.js';

const base: AgentEvent = { id: 'e1', ts: 1_700_000_000_000, identity: 'agent-a', action: 'read', resource: 'db/users' };
const hex = (s: string): Uint8Array => Uint8Array.from(s.split(' ').map((h) => parseInt(h, 16)));

/** A msgpack map of base with `field` replaced by a str of the given raw bytes. */
function withRawStr(field: string, raw: Uint8Array, into: Record<string, unknown> = base as unknown as Record<string, unknown>): Uint8Array {
  const marker = 'M'.repeat(raw.length);
  const bytes = encode({ ...into, [field]: marker });
  const enc = new TextEncoder().encode(marker);
  const at = Buffer.from(bytes).indexOf(Buffer.from(enc));
  const out = new Uint8Array(bytes);
  out.set(raw, at);
  return out;
}

function errorOf(bytes: Uint8Array): { code: string; field?: string; message: string } {
  const r = decodeEvent(bytes);
  if (r.ok) throw new Error(`expected a failure, got ${JSON.stringify(r)}`);
  return r.error;
}

describe('isUtf8', () => {
  it('accepts well-formed UTF-8 and refuses the rest', () => {
    const good = ['', 'abc', 'ÿ', '日本', '🚀', '\u{10FFFF}', '\uFFFD', 'u\u0308'];
    for (const s of good) {
      const b = new TextEncoder().encode(s);
      expect(isUtf8(b, 0, b.length), s).toBe(true);
    }
    const bad = ['61 ff', 'ff', 'c0 80', 'c1 bf', 'e0 80 80', 'ed a0 80', 'ed bf bf', 'f0 80 80 80', 'f4 90 80 80', 'f5 80 80 80',
      '80', 'c3', 'e6 97', 'f0 9f 9a', 'c3 28', 'e6 28 a5', '61 fe 62'];
    for (const h of bad) {
      const b = hex(h);
      expect(isUtf8(b, 0, b.length), h).toBe(false);
      // The same as the platform's strict decoder says.
      expect(() => new TextDecoder('utf-8', { fatal: true }).decode(b), h).toThrow();
    }
  });
});

describe('invalid UTF-8 is refused with EVENT_INVALID_UTF8, naming the field', () => {
  it('msgpack: `61 ff` is not the identity "aÿ"', () => {
    const bad = withRawStr('identity', hex('61 ff'));
    expect(errorOf(bad)).toEqual({ code: 'EVENT_INVALID_UTF8', field: 'identity', message: 'field "identity" is not valid UTF-8' });
    // The real UTF-8 "aÿ" is a fine identity.
    const good = decodeEvent(withRawStr('identity', new TextEncoder().encode('aÿ')));
    expect(good.ok && good.event.identity).toBe('aÿ');
  });

  it('msgpack: every string field, short or long (the library decodes long strings another way), and nested ones', () => {
    for (const field of ['id', 'action', 'resource', 'agentClass', 'instance', 'task', 'correlationId', 'tenant', 'outcome']) {
      expect(errorOf(withRawStr(field, hex('ed a0 80'))), field).toMatchObject({ code: 'EVENT_INVALID_UTF8', field });
    }
    const long = new Uint8Array(900).fill(0x61);
    long[700] = 0xc0;
    long[701] = 0xaf;
    expect(errorOf(withRawStr('resource', long))).toMatchObject({ code: 'EVENT_INVALID_UTF8', field: 'resource' });
    const chain = encode({ ...base, chain: ['root', 'MM'] });
    const at = Buffer.from(chain).indexOf(Buffer.from('MM'));
    chain.set(hex('c3 28'), at);
    expect(errorOf(chain)).toMatchObject({ code: 'EVENT_INVALID_UTF8', field: 'chain[1]' });
    expect(errorOf(withRawStr('note', hex('ff'), { ...base, attrs: {} }))).toMatchObject({ code: 'EVENT_INVALID_UTF8' });
    const nested = encode({ ...base, attrs: { tags: ['x', 'MM'] } });
    nested.set(hex('ff fe'), Buffer.from(nested).indexOf(Buffer.from('MM')));
    expect(errorOf(nested)).toMatchObject({ code: 'EVENT_INVALID_UTF8', field: 'attrs.tags[1]' });
  });

  it('msgpack: a map key that is not UTF-8', () => {
    const bytes = encode({ ...base, MM: 1 });
    bytes.set(hex('c3 28'), Buffer.from(bytes).indexOf(Buffer.from('MM')));
    expect(errorOf(bytes)).toEqual({ code: 'EVENT_INVALID_UTF8', message: 'a map key is not valid UTF-8' });
  });

  it('msgpack: binary data (bin) is not a string and is left alone', () => {
    const r = decodeEvent(encode({ ...base, attrs: { blob: hex('ff fe 00') } }));
    expect(r.ok).toBe(true);
  });

  it('JSON: invalid bytes and lone-surrogate escapes', () => {
    const json = new TextEncoder().encode(JSON.stringify({ ...base, identity: 'a__' }));
    const at = Buffer.from(json).indexOf(Buffer.from('a__'));
    json.set(hex('61 ff'), at);
    json[at + 2] = 0x61;
    expect(errorOf(json)).toEqual({ code: 'EVENT_INVALID_UTF8', field: 'identity', message: 'field "identity" is not valid UTF-8' });
    const surrogate = new TextEncoder().encode(`{"id":"e1","ts":1,"identity":"a\\ud800","action":"x","resource":"r"}`);
    expect(errorOf(surrogate)).toMatchObject({ code: 'EVENT_INVALID_UTF8', field: 'identity' });
    const chain = new TextEncoder().encode(`{"id":"e1","ts":1,"identity":"a","chain":["\\udfff"],"action":"x","resource":"r"}`);
    expect(errorOf(chain)).toMatchObject({ code: 'EVENT_INVALID_UTF8', field: 'chain[0]' });
    // A pair is fine, and U+FFFD written as UTF-8 is a real character.
    const pair = decodeEvent(new TextEncoder().encode(`{"id":"e1","ts":1,"identity":"\\ud83d\\ude80\uFFFD","action":"x","resource":"r"}`));
    expect(pair.ok && pair.event.identity).toBe('🚀\uFFFD');
    const fffd = decodeEvent(encodeEvent({ ...base, identity: '\uFFFD' }, 'msgpack'));
    expect(fffd.ok && fffd.event.identity).toBe('\uFFFD');
  });

  it('JSON Lines and msgpack streams: the bad record is refused, the next one read', async () => {
    const badLine = Buffer.concat([Buffer.from('{"id":"b","ts":1,"identity":"'), Buffer.from(hex('61 ff')), Buffer.from('","action":"x","resource":"r"}\n')]);
    const goodLine = Buffer.from(JSON.stringify({ ...base, id: 'g' }) + '\n');
    const msgpack = Buffer.concat([withRawStr('identity', hex('61 ff')), encodeEvent({ ...base, id: 'g' })]);
    for (const input of [Buffer.concat([badLine, goodLine]), msgpack]) {
      const out = [];
      for await (const r of readEventStream([input])) out.push(r);
      expect(out.map((r) => (r.result.ok ? r.result.event?.id : r.result.error.code))).toEqual(['EVENT_INVALID_UTF8', 'g']);
      expect(out[0]!.raw).toBeDefined();
    }
  });
});
