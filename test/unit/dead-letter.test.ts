import { createHash } from 'node:crypto';
import type { InboundMessage } from '../../src/transport/types.js';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TIME_BOUNDS } from '../../src/event/time.js';
import { DEAD_LETTER_PREFIX_BYTES, deadLetterOutbox } from '../../src/pipeline/dead-letter.js';
import { BATCH_OVERHEAD, DEFAULT_RECORD_LIMIT, recordBytes } from '../../src/pipeline/record-size.js';
import { RAW_HEADERS, toRecord } from '../../src/service/decode.js';

const enc = new TextEncoder();

describe('dead-letter records', () => {
  it('keep the original key, value and headers, with the partition number alone and the topic apart', () => {
    const r = deadLetterOutbox({ offset: 7n, code: 'EVENT_DECODE', message: 'not JSON', raw: enc.encode('junk'), key: enc.encode('agent-1'), headers: { trace: 't1' } },
      'dlq', 'agent.actions', 'agent.actions:4', DEFAULT_RECORD_LIMIT);
    expect(r.key).toBe('agent-1');
    expect(new TextDecoder().decode(r.value)).toBe('junk');
    expect(r.headers).toMatchObject({ trace: 't1', 'warden-source-topic': 'agent.actions', 'warden-source-partition': '4', 'warden-source-offset': '7', 'warden-error-code': 'EVENT_DECODE' });
    expect(r.headers!['warden-truncated']).toBeUndefined();
  });

  it('carry a key that is not UTF-8 in a base64 header', () => {
    const r = deadLetterOutbox({ offset: 1n, code: 'EVENT_DECODE', message: 'x', key: new Uint8Array([0x61, 0xff]) }, 'dlq', 'a', 'a:0', DEFAULT_RECORD_LIMIT);
    expect(r.key).toBeNull();
    expect(r.headers!['warden-source-key-base64']).toBe(Buffer.from([0x61, 0xff]).toString('base64'));
  });

  it('an oversized one keeps a bounded prefix, the reason, the length and a SHA-256, and fits the limit', () => {
    const raw = new Uint8Array(1_048_450).fill(0x7b);
    const headers: Record<string, string> = { small: 'kept' };
    for (let i = 0; i < 100; i++) headers[`h${i}`] = 'x'.repeat(1000);
    const r = deadLetterOutbox({ offset: 3n, code: 'EVENT_TOO_LARGE', message: 'event is 1048450 bytes', raw, key: enc.encode('agent-1'), headers }, 'dlq', 'a', 'a:2', DEFAULT_RECORD_LIMIT);
    expect(recordBytes(r) + BATCH_OVERHEAD).toBeLessThanOrEqual(DEFAULT_RECORD_LIMIT);
    expect(r.value.byteLength).toBe(DEAD_LETTER_PREFIX_BYTES);
    expect(r.key).toBe('agent-1');
    expect(r.headers).toMatchObject({
      small: 'kept', 'warden-error-code': 'EVENT_TOO_LARGE', 'warden-truncated': '1048450', 'warden-source-partition': '2',
      'warden-original-sha256': createHash('sha256').update(raw).digest('hex'),
    });
    expect(Number(r.headers!['warden-headers-dropped'])).toBeGreaterThan(0);
  });

  it('a small limit shrinks the prefix below it', () => {
    const r = deadLetterOutbox({ offset: 3n, code: 'EVENT_TOO_LARGE', message: 'big', raw: new Uint8Array(200_000) }, 'dlq', 'a', 'a:0', 50_000);
    expect(recordBytes(r) + BATCH_OVERHEAD).toBeLessThanOrEqual(50_000);
    expect(r.value.byteLength).toBeGreaterThan(40_000);
  });
});

describe('a bad record\'s headers (service/decode.ts)', () => {
  it('are kept exactly: a repeated, null or non-UTF-8 header goes base64 in warden-source-headers-base64, never merged or decoded lossily', () => {
    const message = {
      offset: '3', key: Buffer.from('k'), value: Buffer.from('junk'), timestamp: '0', attributes: 0,
      headers: { ok: Buffer.from('caf\u00e9'), bin: Buffer.from([0xff, 0xfe, 0x41]), dup: [Buffer.from('1'), Buffer.from('2')], nul: null },
    } as unknown as InboundMessage;
    const r = toRecord(message, Date.now(), DEFAULT_TIME_BOUNDS);
    expect(r.ok).toBe(false);
    expect(r.headers).toEqual({ ok: 'caf\u00e9', [RAW_HEADERS]: JSON.stringify([['bin', '//5B'], ['dup', 'MQ=='], ['dup', 'Mg=='], ['nul', null]]) });
    const dl = deadLetterOutbox({ offset: 3n, code: 'EVENT_DECODE', message: 'x', raw: r.raw!, key: r.key!, headers: r.headers! }, 'dlq', 'a', 'a:0', DEFAULT_RECORD_LIMIT);
    expect(dl.headers).toMatchObject(r.headers!);
    const back = (JSON.parse(dl.headers![RAW_HEADERS]!) as Array<[string, string | null]>).map(([k, v]) => [k, v === null ? null : Buffer.from(v, 'base64')]);
    expect(back).toEqual([['bin', Buffer.from([0xff, 0xfe, 0x41])], ['dup', Buffer.from('1')], ['dup', Buffer.from('2')], ['nul', null]]);
  });
});
