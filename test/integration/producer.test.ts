import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeEvent } from '../../src/event/codec.js';
import { createProducer, identityPartition, type Delivery } from '../../src/producer/index.js';
import { BROKERS, createTopic, deletePrefix, kafkaAdmin, kcatConsumeAll, kcatProduceLines, requireKafka, requireRedis, startWarden, stopWarden, uniqueName, waitForGroupCaughtUp } from './helpers.js';
import { newRunOf } from './runs.js';

const run = promisify(execFile);
const PARTITIONS = 6;
// The failures below are on purpose: keep kafkajs' error lines out of the test output.
const logger = pino({ level: 'silent' });

interface Raw { partition: number; offset: string; key: Buffer; value: Buffer }

/** kcat as the external consumer, binary-safe: a header line with the lengths, then the key and value bytes. */
async function kcatRecords(topic: string): Promise<Raw[]> {
  const { stdout } = await run('kcat', ['-b', BROKERS, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%p %o %K %S\n%k%s'], { encoding: 'buffer', timeout: 60_000, maxBuffer: 1 << 26 });
  const out: Raw[] = [];
  let i = 0;
  while (i < stdout.length) {
    const nl = stdout.indexOf(0x0a, i);
    const [p, o, k, s] = stdout.subarray(i, nl).toString('latin1').split(' ').map(String);
    const start = nl + 1;
    const key = stdout.subarray(start, start + Number(k));
    const value = stdout.subarray(start + Number(k), start + Number(k) + Number(s));
    out.push({ partition: Number(p), offset: o!, key, value });
    i = start + Number(k) + Number(s);
  }
  return out;
}

describe('warden/producer against the real broker, read back by kcat', () => {
  let topic: string;
  beforeAll(async () => {
    await requireKafka();
    topic = uniqueName('producer');
    await createTopic(topic, PARTITIONS);
  });

  it('publishes each valid event keyed by identity on its murmur2 partition, in order per identity, and never an invalid one', async () => {
    const identities = Array.from({ length: 40 }, (_, i) => i % 5 === 0 ? `spiffe://acme.example/agent/bot-${i}/ünï-✓` : `spiffe://acme.example/agent/bot-${i}`);
    const producer = createProducer({ logger, brokers: BROKERS.split(','), topic, lingerMs: 5, maxBatchEvents: 25, maxBufferedEvents: 100 });
    await producer.connect();
    const ts = Date.now();
    const sends: Array<Promise<Delivery>> = [];
    const refused: Array<Promise<unknown>> = [];
    const seq = new Map<string, number>();
    for (let n = 0; n < 600; n++) {
      const identity = identities[(n * 7) % identities.length]!;
      const s = seq.get(identity) ?? 0;
      seq.set(identity, s + 1);
      sends.push(producer.send({ id: `ok-${n}`, ts, identity, action: 'db.read', resource: `db:orders/${n}`, outcome: 'allowed', attrs: { seq: s } }));
      if (n % 100 === 50) {
        refused.push(producer.send({ id: `bad-ts-${n}`, ts: Math.floor(ts / 1000), identity, action: 'db.read', resource: 'r' }).catch((e: { code: string }) => e.code));
        refused.push(producer.send({ id: `bad-field-${n}`, ts, identity, action: 'db.read', resource: 'r', user: 'x' } as never).catch((e: { code: string }) => e.code));
      }
    }
    // 600 sent at once into a 100-event buffer: most wait their turn.
    expect(producer.stats().waiting).toBeGreaterThan(400);
    const delivered = await Promise.all(sends);
    expect(await Promise.all(refused)).toEqual(Array.from({ length: 12 }, (_, i) => (i % 2 ? 'EVENT_UNKNOWN_FIELD' : 'EVENT_TS_TOO_OLD')));
    await producer.close();
    expect(producer.stats()).toMatchObject({ delivered: 600, failed: 0, refused: 12, buffered: 0 });

    const records = await kcatRecords(topic);
    expect(records).toHaveLength(600);
    expect(records.filter((r) => !decodeEvent(r.value).event?.id.startsWith('ok-'))).toEqual([]);
    const byId = new Map(delivered.map((d) => [d.id, d]));
    const lastSeq = new Map<string, number>();
    for (const r of records.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))) {
      const d = decodeEvent(r.value);
      expect(d.ok && d.encoding).toBe('msgpack');
      const event = d.event!;
      expect(r.key.toString('utf8')).toBe(event.identity);
      expect(r.partition).toBe(identityPartition(event.identity, PARTITIONS));
      expect(byId.get(event.id)).toEqual({ id: event.id, topic, partition: r.partition, offset: r.offset });
      // Per identity the attrs.seq runs 0, 1, 2, ... in offset order: nothing lost, nothing reordered.
      const s = event.attrs!.seq as number;
      expect(s).toBe((lastSeq.get(event.identity) ?? -1) + 1);
      lastSeq.set(event.identity, s);
    }
    expect(lastSeq).toEqual(new Map([...seq].map(([k, v]) => [k, v - 1])));
    expect(new Set(records.map((r) => r.partition)).size).toBe(PARTITIONS);

    // librdkafka's murmur2 partitioner (kcat) places the same keys on the same partitions.
    const other = uniqueName('producer-kcat');
    await createTopic(other, PARTITIONS);
    await kcatProduceLines(other, identities.map((key) => ({ key, value: '{}' })));
    const placed = new Map((await kcatConsumeAll(other)).map((r) => [r.key!, r.partition]));
    for (const identity of identities) expect(placed.get(identity), identity).toBe(identityPartition(identity, PARTITIONS));
  });

  it('surfaces delivery errors with their retriable flag, then delivers the next events', async () => {
    const small = uniqueName('producer-small');
    const admin = kafkaAdmin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: small, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '2000' }] }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
    const producer = createProducer({ logger, brokers: BROKERS.split(','), topic: small, lingerMs: 0, retries: 1 });
    const base = { ts: Date.now(), identity: 'spiffe://acme.example/agent/big', action: 'file.write', resource: 'fs:/tmp/x' };
    const err = await producer.send({ ...base, id: 'big', attrs: { blob: 'x'.repeat(5000) } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KAFKA_PUBLISH', retriable: false, message: expect.stringMatching(/too large|MESSAGE_TOO_LARGE/i) });
    await expect(producer.send({ ...base, id: 'small' })).resolves.toMatchObject({ id: 'small', partition: 0, offset: '0' });
    await producer.close();
    const records = await kcatRecords(small);
    expect(records.map((r) => decodeEvent(r.value).event?.id)).toEqual(['small']);

    const missing = createProducer({ logger, brokers: BROKERS.split(','), topic: uniqueName('producer-missing'), retries: 1 });
    await expect(missing.connect()).rejects.toMatchObject({ code: 'KAFKA_PUBLISH', retriable: true });
    await missing.close();
  });

  it('the agent-hook example reports each tool call, its outcome included', async () => {
    const hooked = uniqueName('producer-hook');
    await createTopic(hooked, 3);
    const { stdout } = await run(process.execPath, ['examples/agent-hook/tool-hook.mjs'], { env: { ...process.env, KAFKA_BROKERS: BROKERS, WARDEN_TOPIC_ACTIONS: hooked }, timeout: 60_000 });
    expect(JSON.parse(stdout)).toMatchObject({ delivered: 3, failed: 0, refused: 0 });
    const events = (await kcatRecords(hooked)).map((r) => decodeEvent(r.value).event!);
    expect(events.map((e) => [e.action, e.resource, e.outcome])).toEqual([
      ['crm.read', 'crm:customers/42', 'allowed'], ['email.send', 'email:customer/ada@example.com', 'allowed'], ['email.send', 'email:customer/nobody', 'error'],
    ]);
    expect(new Set(events.map((e) => e.identity))).toEqual(new Set(['spiffe://acme.example/agent/support-bot/7f3a']));
  });

  it('warden run counts what it produced on the owner partitions: nothing forwarded, misrouted or dead-lettered', async () => {
    const redis = await requireRedis();
    const prefixes: string[] = [];
    try {
      const actions = uniqueName('producer-run');
      await createTopic(actions, PARTITIONS);
      const run = await newRunOf(actions, prefixes);
      const warden = startWarden(run.env);
      await warden.waitForLog(/"msg":"consuming"/);
      const producer = createProducer({ logger, brokers: BROKERS.split(','), topic: actions });
      const sends = Array.from({ length: 300 }, (_, n) => producer.send({ identity: `spiffe://acme.example/agent/support-bot/${n % 30}`, action: 'crm.read', resource: `crm:customers/${n}`, outcome: 'allowed' }));
      await Promise.all(sends);
      await producer.close();
      await waitForGroupCaughtUp(run.group, actions);
      const metrics = await (await fetch(`http://${JSON.parse(await warden.waitForLog(/"msg":"warden running"/)).http}/metrics`)).text();
      expect(await stopWarden(warden)).toBe(0);
      const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
      expect(value('warden_events_consumed_total')).toBe(300);
      expect(value('warden_events_forwarded_total')).toBe(0);
      expect(value('warden_events_misrouted_total')).toBe(0);
      expect(metrics).not.toMatch(/^warden_events_invalid_total\{/m);
    } finally {
      for (const p of prefixes) await deletePrefix(redis, p);
      redis.disconnect();
    }
  });
});
