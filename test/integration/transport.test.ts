/**
 * The transport seam (src/transport/types.ts) against the real broker, for the
 * kafkajs implementation: what the service, the alerts and the tools rely on.
 * kcat reads and writes beside it, so nothing here checks the client against
 * itself alone. Another client behind the seam must pass the same.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyPartition } from '../../src/transport/murmur2.js';
import { createTransport } from '../../src/transport/kafka-client.js';
import type { Admin, BatchContext, GroupConsumer, InboundMessage, KafkaTransport } from '../../src/transport/types.js';
import { BROKERS, headerMap, kcatConsumeAll, kcatProduceLines, requireKafka, uniqueName } from './helpers.js';

let transport: KafkaTransport;
let admin: Admin;
const consumers: GroupConsumer[] = [];

beforeAll(async () => {
  await requireKafka();
  transport = createTransport({ brokers: BROKERS.split(','), clientId: 'warden-test-transport', ssl: false, sasl: null }, pino({ level: 'silent' }));
  admin = transport.admin();
  await admin.connect();
});

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.disconnect().catch(() => {})));
  await admin?.disconnect();
});

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A consumer that keeps what it is handed, resolving each batch's records itself. */
async function collecting(topic: string, groupId: string): Promise<{ c: GroupConsumer; got: Map<number, InboundMessage[]>; assigned: Array<Record<string, number[]>> }> {
  const c = transport.consumer({ groupId, maxWaitMs: 100, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000 });
  consumers.push(c);
  const got = new Map<number, InboundMessage[]>();
  const assigned: Array<Record<string, number[]>> = [];
  c.on('assigned', (e) => assigned.push(e.assignment));
  await c.connect();
  await c.subscribe([topic], true);
  await c.run({
    partitionsConcurrently: 2,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isStale }: BatchContext) => {
      for (const m of batch.messages) {
        if (isStale()) return;
        got.set(batch.partition, [...(got.get(batch.partition) ?? []), m]);
        resolveOffset(m.offset);
      }
      await heartbeat();
    },
  });
  return { c, got, assigned };
}

describe('the kafkajs transport on the real broker', () => {
  it('admin: creates topics with their configs and reads partitions, configs and offsets', async () => {
    const topic = uniqueName('transport-admin');
    await admin.createTopics([{ topic, partitions: 3, configs: { 'cleanup.policy': 'compact' } }]);
    expect(await admin.listTopics()).toContain(topic);
    expect(await admin.partitionCount(topic)).toBe(3);
    const configs = await admin.topicConfig([topic], 'cleanup.policy');
    expect(configs.get(topic)).toBe('compact');
    const offsets = await admin.topicOffsets(topic);
    expect(offsets.map((o) => [o.partition, o.low, o.high]).sort()).toEqual([[0, '0', '0'], [1, '0', '0'], [2, '0', '0']]);
    expect((await admin.groupOffsets(uniqueName('transport-nobody'), topic)).map((p) => p.offset)).toEqual(['-1', '-1', '-1']);
  });

  it('producer: keys, headers and chosen partitions as kcat reads them; no key given a partition goes where murmur2 puts its key', async () => {
    const topic = uniqueName('transport-produce');
    await admin.createTopics([{ topic, partitions: 4 }]);
    // A key murmur2 puts off partition 2, so the offsets there are the two chosen ones'.
    const free = ['agent-c', 'agent-d', 'agent-e', 'agent-f'].find((k) => keyPartition(k, 4) !== 2)!;
    const p = transport.producer({ idempotent: true });
    await p.connect();
    try {
      const sent = await p.send([{
        topic,
        messages: [
          { key: 'agent-a', value: 'one', headers: { trace: 'abc', bin: Buffer.from([0xe2, 0x82, 0xac]) }, partition: 2 },
          { key: 'agent-b', value: Buffer.from('two'), partition: 2 },
          { key: free, value: 'three' },
        ],
      }], -1);
      const byPartition = new Map(sent.map((s) => [s.partition, s]));
      expect(byPartition.get(2)).toMatchObject({ topic, baseOffset: '0' });
      expect(byPartition.get(keyPartition(free, 4))).toMatchObject({ topic, baseOffset: '0' });
      const again = await p.send([{ topic, messages: [{ key: 'agent-a', value: 'four', partition: 2 }] }], -1);
      expect(again).toEqual([{ topic, partition: 2, baseOffset: '2' }]);
    } finally {
      await p.disconnect();
    }
    const read = await kcatConsumeAll(topic);
    const a = read.find((r) => r.payload === 'one')!;
    expect(a).toMatchObject({ key: 'agent-a', partition: 2, offset: 0 });
    expect(headerMap(a)).toEqual({ trace: 'abc', bin: '€' });
    expect(read.find((r) => r.payload === 'three')!).toMatchObject({ key: free, partition: keyPartition(free, 4) });
    expect((await admin.topicOffsets(topic)).find((o) => o.partition === 2)!.high).toBe('3');
  });

  it('consumer: assignment, batches with keys, headers and timestamps, commit, pause/resume and seek', async () => {
    const topic = uniqueName('transport-consume');
    const groupId = uniqueName('transport-group');
    await admin.createTopics([{ topic, partitions: 2 }]);
    const p = transport.producer({ idempotent: true });
    await p.connect();
    const before = Date.now();
    const put = (partition: number, values: string[]) =>
      p.send([{ topic, messages: values.map((v) => ({ key: `k-${v}`, value: v, partition, headers: { v } })) }], -1);
    await put(0, ['a0', 'a1']);
    await put(1, ['b0']);
    const { c, got, assigned } = await collecting(topic, groupId);
    await until('the first records', () => (got.get(0)?.length ?? 0) === 2 && (got.get(1)?.length ?? 0) === 1);
    expect(assigned.at(-1)).toEqual({ [topic]: [0, 1] });
    const m = got.get(0)![0]!;
    expect(m.key!.toString()).toBe('k-a0');
    expect(m.value!.toString()).toBe('a0');
    expect(m.offset).toBe('0');
    expect(String(m.headers!.v)).toBe('a0');
    expect(Number(m.timestamp)).toBeGreaterThanOrEqual(before - 1000);

    // Committed offsets are the group's, as the admin reads them.
    await c.commit([{ topic, partition: 0, offset: '2' }, { topic, partition: 1, offset: '1' }]);
    const committed = (await admin.groupOffsets(groupId, topic)).sort((x, y) => x.partition - y.partition);
    expect(committed).toEqual([{ partition: 0, offset: '2' }, { partition: 1, offset: '1' }]);

    // A paused partition gets nothing until it is resumed; the other goes on.
    c.pause([{ topic, partitions: [0] }]);
    // A fetch already in flight may still carry partition 0: let it come back first.
    await new Promise((r) => setTimeout(r, 500));
    await put(0, ['a2']);
    await put(1, ['b1']);
    await until('b1 while partition 0 is paused', () => got.get(1)!.length === 2);
    await new Promise((r) => setTimeout(r, 500));
    expect(got.get(0)!.length).toBe(2);
    c.resume([{ topic, partitions: [0] }]);
    await until('a2 after resume', () => got.get(0)!.length === 3);

    // Seek reads a partition again from the offset given.
    c.seek({ topic, partition: 0, offset: '1' });
    await until('a1 and a2 again after the seek', () => got.get(0)!.length === 5);
    expect(got.get(0)!.map((x) => x.value!.toString())).toEqual(['a0', 'a1', 'a2', 'a1', 'a2']);
    await p.disconnect();
    await c.disconnect();

    // With no member left, the group's offsets can be set and the group deleted.
    await admin.setGroupOffsets(groupId, topic, [{ partition: 0, offset: '0' }]);
    expect((await admin.groupOffsets(groupId, topic)).find((x) => x.partition === 0)!.offset).toBe('0');
    await admin.deleteGroups([groupId]);
    expect((await admin.groupOffsets(groupId, topic)).map((x) => x.offset)).toEqual(['-1', '-1']);
  });

  it('batch-end reports the position a batch moved to, and kcat-produced records arrive with their keys', async () => {
    const topic = uniqueName('transport-batch-end');
    await admin.createTopics([{ topic, partitions: 1 }]);
    await kcatProduceLines(topic, [{ key: 'x', value: '"1"' }, { key: 'y', value: '"2"' }, { key: 'z', value: '"3"' }]);
    const c = transport.consumer({ groupId: uniqueName('transport-ends'), maxWaitMs: 100 });
    consumers.push(c);
    const ends: string[] = [];
    const keys: string[] = [];
    c.on('batch-end', (e) => {
      if (e.topic === topic) ends.push(e.lastOffset);
    });
    await c.connect();
    await c.subscribe([topic], true);
    await c.run({
      partitionsConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset }) => {
        for (const m of batch.messages) keys.push(m.key!.toString());
        resolveOffset(batch.lastOffset());
      },
    });
    await until('the batch end at offset 2', () => ends.includes('2'));
    expect(keys).toEqual(['x', 'y', 'z']);
    await c.disconnect();
  });
});
