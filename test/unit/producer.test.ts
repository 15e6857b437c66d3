import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { Encoder } from '@msgpack/msgpack';
// kafkajs here is the reference Warden's placement is checked against, not a transport.
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import type { InboundMessage } from '../../src/transport/types.js';
import { describe, expect, it } from 'vitest';
import { decodeEvent } from '../../src/event/codec.js';
import { DEFAULT_TIME_BOUNDS } from '../../src/event/time.js';
import { WardenError } from '../../src/errors.js';
import { createProducer, identityPartition, InvalidEventError, SINK_DEFAULTS, type KeyedRecord, type RecordDelivery, type RecordSink } from '../../src/producer/index.js';
import { Fifo } from '../../src/producer/fifo.js';
import { BUFFER_DEFAULTS, MAX_RECORD_BYTES } from '../../src/producer/options.js';
import { README, tableRows } from '../readme/verifiers.js';
import { toRecord } from '../../src/service/decode.js';

const NOW = Date.UTC(2026, 11, 2, 12);
const now = () => NOW;
const ev = (identity: string, n: number, extra: Record<string, unknown> = {}) =>
  ({ id: `${identity}-${n}`, ts: NOW, identity, action: 'db.read', resource: `db:orders/${n}`, ...extra });

/** A transport that records what it is given; `hold()` keeps sends pending until released. */
class FakeSink implements RecordSink {
  sent: Array<{ topic: string; records: KeyedRecord[] }> = [];
  closed = false;
  fail: Error | null = null;
  private gate: Promise<void> | null = null;
  private open: (() => void) | null = null;
  private offsets = new Map<number, number>();
  constructor(readonly n = 12) {}
  hold(): void { this.gate = new Promise((r) => (this.open = r)); }
  release(): void { this.open?.(); this.gate = null; }
  async connect(): Promise<void> {}
  async partitions(): Promise<number> { return this.n; }
  async send(topic: string, records: readonly KeyedRecord[]): Promise<RecordDelivery[]> {
    if (this.gate) await this.gate;
    if (this.fail) { const e = this.fail; this.fail = null; throw e; }
    this.sent.push({ topic, records: [...records] });
    return records.map((r) => {
      const o = this.offsets.get(r.partition) ?? 0;
      this.offsets.set(r.partition, o + 1);
      return { partition: r.partition, offset: String(o) };
    });
  }
  async close(): Promise<void> { this.closed = true; }
  get records(): KeyedRecord[] { return this.sent.flatMap((s) => s.records); }
}

const tick = () => new Promise((r) => setImmediate(r));

describe('producer validation: the service\'s rules, before anything is sent', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['EVENT_FIELD_MISSING', { id: 'e', ts: NOW, action: 'a', resource: 'r' }],
    ['EVENT_FIELD_TYPE', { ...ev('a', 1), chain: 'root' }],
    ['EVENT_FIELD_INVALID', { ...ev('a', 1), outcome: 'maybe' }],
    ['EVENT_FIELD_INVALID', { ...ev('a', 1), identity: '' }],
    ['EVENT_FIELD_TOO_LONG', { ...ev('a', 1), identity: 'x'.repeat(2049) }],
    ['EVENT_FIELD_TOO_LONG', { ...ev('a', 1), attrs: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) }],
    ['EVENT_UNKNOWN_FIELD', { ...ev('a', 1), user: 'bob' }],
    ['EVENT_INVALID_UTF8', { ...ev('a', 1), resource: 'db:\ud800' }],
    ['EVENT_TOO_LARGE', { ...ev('a', 1), attrs: { blob: 'x'.repeat(70_000) } }],
    ['EVENT_TS_TOO_OLD', { ...ev('a', 1), ts: Math.floor(NOW / 1000) }],
    ['EVENT_TS_TOO_OLD', { ...ev('a', 1), ts: NOW - 31 * 86_400_000 }],
    ['EVENT_TS_FUTURE', { ...ev('a', 1), ts: NOW * 1000 }],
    ['EVENT_TS_FUTURE', { ...ev('a', 1), ts: NOW + 6 * 60_000 }],
  ];

  it.each(cases)('refuses %s with the code the service dead-letters the same bytes with, and sends nothing', async (code, input) => {
    const sink = new FakeSink();
    const p = createProducer({ sink, now });
    const err = await p.send(input as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidEventError);
    expect(err).toMatchObject({ code, retriable: false });
    // The service, given these fields encoded without any check, decides the same.
    const raw = new Encoder().encode(input);
    const asService = toRecord({ key: Buffer.from('k'), value: Buffer.from(raw), offset: '0', timestamp: String(NOW), attributes: 0, headers: {} } as unknown as InboundMessage, NOW, DEFAULT_TIME_BOUNDS);
    expect(asService.ok ? 'accepted' : asService.error.code).toBe(code);
    await p.close();
    expect(sink.sent).toEqual([]);
    expect(p.stats()).toMatchObject({ refused: 1, delivered: 0, buffered: 0 });
  });

  it('names the field, and refuses an attrs value msgpack cannot encode', async () => {
    const p = createProducer({ sink: new FakeSink(), now });
    await expect(p.send({ ...ev('a', 1), chain: ['root', 7 as never] })).rejects.toMatchObject({ code: 'EVENT_FIELD_TYPE', field: 'chain[1]' });
    await expect(p.send({ ...ev('a', 1), attrs: { f: () => 1 } })).rejects.toMatchObject({ code: 'EVENT_FIELD_TYPE', field: 'attrs' });
    await p.close();
  });

  it('uses the configured time bounds (a service run with WARDEN_EVENT_MAX_AGE=0)', async () => {
    const sink = new FakeSink();
    const p = createProducer({ sink, now, timeBounds: { maxAgeMs: 0 }, lingerMs: 0 });
    await expect(p.send({ ...ev('a', 1), ts: NOW - 365 * 86_400_000 })).resolves.toMatchObject({ id: 'a-1' });
    await p.close();
  });

  it('fills in id and ts when left out, and sends only the known fields, msgpack by default', async () => {
    const sink = new FakeSink();
    const p = createProducer({ sink, now, lingerMs: 0 });
    const d = await p.send({ identity: 'bot-1', action: 'email.send', resource: 'crm:c/1', outcome: 'allowed' });
    expect(d.id).toMatch(/^[0-9a-f-]{36}$/);
    const [rec] = sink.records;
    expect(rec!.value[0]).toBeGreaterThanOrEqual(0x80); // a msgpack map
    expect(decodeEvent(rec!.value)).toMatchObject({ ok: true, encoding: 'msgpack', event: { id: d.id, ts: NOW, identity: 'bot-1', outcome: 'allowed' } });
    await p.close();
  });

  it('encodes JSON when asked', async () => {
    const sink = new FakeSink();
    const p = createProducer({ sink, now, encoding: 'json', lingerMs: 0 });
    await p.send(ev('bot-1', 1, { v: 1 }));
    expect(JSON.parse(Buffer.from(sink.records[0]!.value).toString('utf8'))).toEqual(ev('bot-1', 1));
    await p.close();
  });
});

describe('producer placement: keyed by identity on its murmur2 partition', () => {
  it('matches Kafka\'s own murmur2 vectors (clients UtilsTest)', () => {
    const vectors: Array<[string, number]> = [
      ['21', -973932308], ['foobar', -790332482], ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829], ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971], ['abc', 479470107],
    ];
    for (const [key, hash] of vectors) {
      for (const n of [1, 3, 12, 100]) expect(identityPartition(key, n), `${key} % ${n}`).toBe((hash & 0x7fffffff) % n);
    }
  });

  it('puts each event where kafkajs\' DefaultPartitioner puts its identity, key = identity', async () => {
    const sink = new FakeSink(7);
    const p = createProducer({ sink, now, lingerMs: 0 });
    const identities = Array.from({ length: 200 }, (_, i) => `spiffe://acme.example/agent/bot-${i}/ü${'x'.repeat(i % 9)}`);
    const deliveries = await Promise.all(identities.map((id, i) => p.send(ev(id, i))));
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 7 }, (_, i) => ({ partitionId: i, leader: 0 })) as unknown as PartitionMetadata[];
    for (const [i, rec] of sink.records.entries()) {
      expect(rec.key).toBe(identities[i]);
      expect(rec.partition).toBe(partitioner({ topic: 't', partitionMetadata, message: { key: Buffer.from(identities[i]!), value: null } }));
      expect(deliveries[i]!.partition).toBe(rec.partition);
    }
    expect(new Set(sink.records.map((r) => r.partition)).size).toBe(7);
    await p.close();
  });
});

describe('producer batching and back-pressure', () => {
  it('lingers, then sends one batch at a time in send order, at most maxBatchEvents each', async () => {
    const sink = new FakeSink();
    const p = createProducer({ sink, now, lingerMs: 20, maxBatchEvents: 4 });
    const first = p.send(ev('a', 0));
    await tick();
    expect(sink.sent).toHaveLength(0); // lingering
    await first;
    expect(sink.sent.map((s) => s.records.length)).toEqual([1]);
    sink.hold();
    const all = Array.from({ length: 10 }, (_, i) => p.send(ev(i % 2 ? 'a' : 'b', i + 1)));
    await tick();
    // Four went at once (a full batch); the rest wait for it: one in flight.
    expect(p.stats()).toMatchObject({ buffered: 10 });
    sink.release();
    await Promise.all(all);
    expect(sink.sent.map((s) => s.records.length)).toEqual([1, 4, 4, 2]);
    expect(sink.records.map((r) => decodeEvent(r.value).event!.id)).toEqual(['a-0', ...Array.from({ length: 10 }, (_, i) => `${i % 2 ? 'a' : 'b'}-${i + 1}`)]);
    expect(sink.sent.every((s) => s.topic === 'agent.actions')).toBe(true);
    await p.close();
  });

  it('makes send() wait when the buffer is full, and lets it in, in order, as deliveries free room', async () => {
    const sink = new FakeSink();
    const p = createProducer({ sink, now, lingerMs: 0, maxBatchEvents: 2, maxBufferedEvents: 3 });
    sink.hold();
    const settled: string[] = [];
    const sends = Array.from({ length: 7 }, (_, i) => p.send(ev('a', i)).then((d) => void settled.push(d.id)));
    await tick();
    expect(p.stats()).toMatchObject({ buffered: 3, waiting: 4 });
    sink.release();
    await Promise.all(sends);
    expect(settled).toEqual(Array.from({ length: 7 }, (_, i) => `a-${i}`));
    expect(sink.records.map((r) => decodeEvent(r.value).event!.id)).toEqual(settled);
    expect(p.stats()).toMatchObject({ buffered: 0, waiting: 0, delivered: 7 });
    await p.close();
  });

  it('bounds the buffer by bytes too', async () => {
    const sink = new FakeSink();
    const p = createProducer({ sink, now, lingerMs: 0, maxBatchBytes: MAX_RECORD_BYTES, maxBufferedBytes: MAX_RECORD_BYTES });
    sink.hold();
    const big = (n: number) => ev('a', n, { attrs: { blob: 'x'.repeat(30_000) } });
    const sends = [p.send(big(0)), p.send(big(1)), p.send(big(2))];
    await tick();
    expect(p.stats()).toMatchObject({ buffered: 2, waiting: 1 });
    expect(p.stats().bufferedBytes).toBeGreaterThan(60_000);
    sink.release();
    await Promise.all(sends);
    expect(sink.records).toHaveLength(3);
    await p.close();
  });

  it('with onFull: reject, refuses with PRODUCER_BUFFER_FULL (retriable) and never sends that event', async () => {
    const sink = new FakeSink();
    const p = createProducer({ sink, now, lingerMs: 0, maxBatchEvents: 1, maxBufferedEvents: 2, onFull: 'reject' });
    sink.hold();
    const ok = [p.send(ev('a', 0)), p.send(ev('a', 1))];
    const err = await p.send(ev('a', 2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WardenError);
    expect(err).toMatchObject({ code: 'PRODUCER_BUFFER_FULL', retriable: true });
    sink.release();
    await Promise.all(ok);
    await p.send(ev('a', 3));
    expect(sink.records.map((r) => decodeEvent(r.value).event!.id)).toEqual(['a-0', 'a-1', 'a-3']);
    expect(p.stats()).toMatchObject({ refused: 1, delivered: 3 });
    await p.close();
  });

  it('rejects a failed batch\'s sends with KAFKA_PUBLISH and its retriable flag, and goes on with the next', async () => {
    const sink = new FakeSink();
    const p = createProducer({ sink, now, lingerMs: 10, maxBatchEvents: 2 });
    sink.fail = Object.assign(new Error('Broker: not enough replicas'), { retriable: true });
    const [a, b] = [p.send(ev('a', 0)), p.send(ev('a', 1))];
    await expect(a).rejects.toMatchObject({ code: 'KAFKA_PUBLISH', retriable: true, message: expect.stringMatching(/not enough replicas/) });
    await expect(b).rejects.toMatchObject({ code: 'KAFKA_PUBLISH', retriable: true });
    sink.fail = Object.assign(new Error('Broker: message too large'), { retriable: false });
    await expect(p.send(ev('a', 2))).rejects.toMatchObject({ code: 'KAFKA_PUBLISH', retriable: false });
    await expect(p.send(ev('a', 3))).resolves.toMatchObject({ id: 'a-3', offset: '0' });
    expect(p.stats()).toMatchObject({ failed: 3, delivered: 1, buffered: 0 });
    await p.close();
  });

  it('flush() sends at once what a long linger would hold; close() delivers the buffered and the waiting, then refuses', async () => {
    const sink = new FakeSink();
    const p = createProducer({ sink, now, lingerMs: 60_000, maxBatchEvents: 2, maxBufferedEvents: 2 });
    const one = p.send(ev('a', 0));
    await tick();
    expect(sink.sent).toHaveLength(0);
    await p.flush();
    await expect(one).resolves.toMatchObject({ id: 'a-0' });
    sink.hold();
    const more = Array.from({ length: 5 }, (_, i) => p.send(ev('b', i)));
    await tick();
    expect(p.stats().waiting).toBe(3);
    const closed = p.close();
    await expect(p.send(ev('c', 0))).rejects.toMatchObject({ code: 'PRODUCER_CLOSED' });
    sink.release();
    await closed;
    await Promise.all(more);
    expect(sink.records).toHaveLength(6);
    expect(sink.closed).toBe(true);
  });

  it('refuses bad options with PRODUCER_OPTIONS_INVALID, naming the option', () => {
    const sink = new FakeSink();
    expect(() => createProducer({ sink, maxBatchEvents: 0 })).toThrow(expect.objectContaining({ code: 'PRODUCER_OPTIONS_INVALID', message: expect.stringMatching(/maxBatchEvents/) }));
    expect(() => createProducer({ sink, maxBatchEvents: 100, maxBufferedEvents: 10 })).toThrow(/maxBufferedEvents must be an integer ≥ 100/);
    expect(() => createProducer({ sink, maxBatchBytes: 1000 })).toThrow(/maxBatchBytes/);
    expect(() => createProducer({ sink, onFull: 'drop' as never })).toThrow(/onFull/);
    expect(() => createProducer({ brokers: [] })).toThrow(expect.objectContaining({ code: 'PRODUCER_OPTIONS_INVALID', message: expect.stringMatching(/brokers/) }));
  });
});

describe('README "Producing events"', () => {
  const text = README.slice(README.indexOf('## Producing events'), README.indexOf('\n## ', README.indexOf('## Producing events') + 3));
  it('gives the defaults the code has', () => {
    const rows = new Map(tableRows(text).map(([option, def]) => [option!.replace(/`/g, ''), def!.replace(/`/g, '')]));
    for (const [option, value] of Object.entries({ ...BUFFER_DEFAULTS, ...SINK_DEFAULTS })) expect(rows.get(option), option).toBe(String(value));
    expect(rows.get('timeBounds')).toBe(`{ maxAheadMs: ${DEFAULT_TIME_BOUNDS.maxAheadMs}, maxAgeMs: ${DEFAULT_TIME_BOUNDS.maxAgeMs} }`);
  });
  it('names every code the producer raises', () => {
    for (const code of ['PRODUCER_BUFFER_FULL', 'PRODUCER_CLOSED', 'PRODUCER_OPTIONS_INVALID', 'KAFKA_PUBLISH']) expect(text).toContain(code);
  });
});

describe('producer import graph', () => {
  it('reaches Kafka only through src/transport (house rule), and no service, pipeline or state code', () => {
    const root = process.cwd();
    const queue = readdirSync(join(root, 'src/producer')).filter((f) => f.endsWith('.ts')).map((f) => join(root, 'src/producer', f));
    const seen = new Set<string>();
    const kafkajsFrom = new Set<string>();
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const m of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s+(type\s+)?[^;'"]*?\bfrom\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[2]!;
        if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        else if (spec === 'kafkajs') kafkajsFrom.add(relative(root, file));
      }
    }
    const files = [...seen].map((f) => relative(root, f));
    expect(files.filter((f) => !/^src\/(producer|event|control|commands|transport)\/[^/]+\.ts$|^src\/(errors|log)\.ts$/.test(f))).toEqual([]);
    expect([...kafkajsFrom].filter((f) => !f.startsWith('src/transport/'))).toEqual([]);
    expect(kafkajsFrom.size).toBeGreaterThan(0);
  });
});

describe('the buffer\'s queue', () => {
  it('keeps FIFO order across its compactions', () => {
    const q = new Fifo<number>();
    const out: number[] = [];
    let next = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 300; i++) q.push(next++);
      out.push(...q.take(100));
      for (let i = 0; i < 150; i++) out.push(q.shift()!);
      expect(q.peek()).toBe(out.length);
      expect(q.at(1)).toBe(out.length + 1);
    }
    expect(q.length).toBe(next - out.length);
    expect([...out, ...q.toArray()]).toEqual(Array.from({ length: next }, (_, i) => i));
    const n = q.length;
    expect(q.take(n + 5)).toHaveLength(n);
    expect(q.length).toBe(0);
    expect(q.shift()).toBeUndefined();
  });
});
