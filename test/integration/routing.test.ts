import { Kafka, logLevel, Partitioners } from 'kafkajs';
import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../src/event/types.js';
import { keyringFromEnv } from '../../src/commands/keyring.js';
import { createEnforcer } from '../../src/enforcer/index.js';
import { FORWARD_HEADER } from '../../src/pipeline/forward.js';
import { simulateFleet } from '../../src/sim/fleet.js';
import { decodeIdentityState } from '../../src/state/identity-hash.js';
import { keyPartition } from '../../src/transport/murmur2.js';
import {
  BROKERS, committedCount, createTopic, dumpState, headerMap, kafkaAdmin, kcatConsumeAll, kcatProduceLines, startWarden, stopWarden, TEST_COMMAND_KEYS, uniqueName, type KcatRecord, useServices,
} from './helpers.js';
import { exactConfigDir, newRunOf, outputs, replayExpected, type Run } from './runs.js';

let redis: Redis;
const prefixes = useServices((r) => (redis = r));

const PARTITIONS = 6;
/**
 * The counted order puts a forwarded event where it reached its owner, often after events hours
 * later in event time; replay's recording clock would refuse some as ahead of it, where the
 * service bounds by the wall clock alone. Replays of it allow what the service allowed.
 */
const ARRIVAL = { maxAheadMs: 7 * 86_400_000, maxAgeMs: 0 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Line = { key: string; value: string };

async function kafkajsProduce(topic: string, lines: Line[]): Promise<void> {
  const producer = new Kafka({ clientId: 'warden-test-producer', brokers: BROKERS.split(','), logLevel: logLevel.NOTHING })
    .producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    for (let i = 0; i < lines.length; i += 500) await producer.send({ topic, messages: lines.slice(i, i + 500) });
  } finally {
    await producer.disconnect();
  }
}

/** Records again, to the partition they are on, with their key and headers. */
async function resend(topic: string, records: KcatRecord[]): Promise<void> {
  const producer = new Kafka({ clientId: 'warden-test-producer', brokers: BROKERS.split(','), logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages: records.map((r) => ({ partition: r.partition, key: r.key, value: r.payload, headers: headerMap(r) })) });
  } finally {
    await producer.disconnect();
  }
}

/** Three producers at once, each with every third event: kcat's default partitioner (CRC32), kcat's murmur2, kafkajs. */
async function threeProducers(topic: string, events: AgentEvent[], keyOf: (e: AgentEvent, i: number) => string): Promise<void> {
  const share = (k: number): Line[] => events.flatMap((e, i) => (i % 3 === k ? [{ key: keyOf(e, i), value: JSON.stringify(e) }] : []));
  await Promise.all([kcatProduceLines(topic, share(0), null), kcatProduceLines(topic, share(1), 'murmur2_random'), kafkajsProduce(topic, share(2))]);
}

/** The group has committed everything, twice in a row: a forward lands on its owner before its source commits. */
async function caughtUp(run: Run, topic: string, timeoutMs = 120_000): Promise<void> {
  const admin = kafkaAdmin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    for (let calm = 0; calm < 2;) {
      const high = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId: run.group, topics: [topic] });
      const behind = high.some((h) => Number(h.high) > 0 && Number(committed?.partitions.find((p) => p.partition === h.partition)?.offset ?? -1) < Number(h.high));
      calm = behind ? 0 : calm + 1;
      if (Date.now() > deadline) throw new Error(`group ${run.group} did not catch up on ${topic}`);
      await sleep(400);
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * What each owner partition counted, in its order, read back from the topic: a record on its
 * identity's murmur2 partition, and the first copy of each forward there. A producer keyed by
 * identity with murmur2 (the single-producer run) would have written exactly this order.
 */
function countedOrder(records: KcatRecord[]): { events: AgentEvent[]; forwarded: number; repeats: number } {
  const per = new Map<number, KcatRecord[]>();
  for (const r of records) per.set(r.partition, [...(per.get(r.partition) ?? []), r]);
  const lists: AgentEvent[][] = [];
  let forwarded = 0;
  let repeats = 0;
  for (const [p, list] of per) {
    const seen = new Set<string>();
    const counted: AgentEvent[] = [];
    for (const r of list.sort((a, b) => a.offset - b.offset)) {
      const e = JSON.parse(r.payload!) as AgentEvent;
      const h = headerMap(r);
      if (h[FORWARD_HEADER.from] !== undefined) {
        const id = `${h[FORWARD_HEADER.from]}:${h[FORWARD_HEADER.offset]}`;
        if (seen.has(id)) repeats++;
        else counted.push(e);
        seen.add(id);
      } else if (keyPartition(e.identity, PARTITIONS) === p) counted.push(e);
      else forwarded++;
    }
    lists.push(counted);
  }
  // Partitions merged by event time, each in its own order (an identity is on one).
  const events: AgentEvent[] = [];
  const at = lists.map(() => 0);
  for (;;) {
    let best = -1;
    for (let k = 0; k < lists.length; k++) if (at[k]! < lists[k]!.length && (best < 0 || lists[k]![at[k]!]!.ts < lists[best]![at[best]!]!.ts)) best = k;
    if (best < 0) return { events, forwarded, repeats };
    events.push(lists[best]![at[best]!++]!);
  }
}

/** Per identity, the partitions holding a state for it and the events that state counted. */
async function statesOf(prefix: string): Promise<Map<string, { partitions: string[]; events: number }>> {
  const out = new Map<string, { partitions: string[]; events: number }>();
  for (const [key, v] of Object.entries(await dumpState(redis, prefix))) {
    const m = /^:\{p:(.*)\}:i:[0-9a-f]{40}$/.exec(key);
    if (!m) continue;
    const h = v as Record<string, string>;
    const id = Buffer.from(h._id!, 'hex').toString('utf8');
    const s = out.get(id) ?? { partitions: [], events: 0 };
    s.partitions.push(m[1]!);
    if (h._s) s.events += decodeIdentityState(Buffer.from(h._s, 'hex')).events;
    out.set(id, s);
  }
  return out;
}

async function expectOneStateEach(prefix: string, topic: string, events: AgentEvent[]): Promise<void> {
  const want = new Map<string, number>();
  for (const e of events) want.set(e.identity, (want.get(e.identity) ?? 0) + 1);
  const states = await statesOf(prefix);
  const wrong = [...want].filter(([id, n]) => {
    const s = states.get(id);
    return !s || s.events !== n || s.partitions.length !== 1 || s.partitions[0] !== `${topic}:${keyPartition(id, PARTITIONS)}`;
  }).map(([id, n]) => [id, n, states.get(id)]);
  expect(wrong.slice(0, 5)).toEqual([]);
  expect([...states.keys()].filter((id) => !want.has(id))).toEqual([]);
}

describe('one state per identity, whatever the partitioner or key', () => {
  const sim = simulateFleet({ days: 1, seed: 5, agents: { 'support-bot': 6, 'analytics-agent': 3, 'ops-orchestrator': 2, 'batch-reporter': 1, 'coding-assistant': 2 } });
  let dir: string;
  beforeAll(async () => {
    dir = await exactConfigDir();
  });

  it('kcat (default partitioner), kcat (murmur2) and kafkajs writing the same identities at once: one state each, decisions of a single-producer run', async () => {
    const actions = uniqueName('route3');
    await createTopic(actions, PARTITIONS);
    const run = await newRunOf(actions, prefixes);
    const warden = startWarden(run.env, dir);
    await warden.waitForLog(/"msg":"consuming"/);
    await threeProducers(actions, sim.events, (e) => e.identity);
    await caughtUp(run, actions);
    const metrics = await (await fetch(`http://${JSON.parse(await warden.waitForLog(/"msg":"warden running"/)).http}/metrics`)).text();
    expect(await stopWarden(warden)).toBe(0);

    const all = await kcatConsumeAll(actions);
    // kcat's murmur2 and kafkajs put every record keyed by its identity on the owner Warden computes.
    const byMurmur = new Set(sim.events.filter((_, i) => i % 3 !== 0).map((e) => e.id));
    const placed = all.filter((r) => headerMap(r)[FORWARD_HEADER.from] === undefined && byMurmur.has(JSON.parse(r.payload!).id));
    expect(placed).toHaveLength(byMurmur.size);
    expect(placed.filter((r) => r.partition !== keyPartition(JSON.parse(r.payload!).identity, PARTITIONS))).toEqual([]);
    const order = countedOrder(all);
    expect(order.events.map((e) => e.id).sort()).toEqual(sim.events.map((e) => e.id).sort());
    // CRC32 and murmur2 disagree on most keys: about a third of the events took the hop.
    expect(order.forwarded).toBeGreaterThan(sim.events.length / 6);
    expect(Number(/^warden_events_forwarded_total (\d+)$/m.exec(metrics)?.[1])).toBe(order.forwarded);
    await expectOneStateEach(run.prefix, actions, sim.events);
    const [got, want] = [await outputs(run), await replayExpected(order.events, dir, ARRIVAL)];
    expect(want.commands.length).toBeGreaterThan(2);
    console.log(JSON.stringify({ threeProducers: { events: sim.events.length, forwarded: order.forwarded, decisions: got.decisions.length, commands: got.commands.length } }));
    expect(got.decisions).toEqual(want.decisions);
    expect(got.commands).toEqual(want.commands);

    // And a single producer (kcat, murmur2, keyed by identity) writing that order: nothing forwarded, the same outputs.
    const single = uniqueName('route1');
    await createTopic(single, PARTITIONS);
    const one = await newRunOf(single, prefixes);
    await kcatProduceLines(single, order.events.map((e) => ({ key: e.identity, value: JSON.stringify(e) })));
    const w1 = startWarden(one.env, dir);
    await caughtUp(one, single);
    expect(await stopWarden(w1)).toBe(0);
    expect((await kcatConsumeAll(single)).filter((r) => headerMap(r)[FORWARD_HEADER.from] !== undefined)).toEqual([]);
    const alone = await outputs(one);
    expect(got.decisions).toEqual(alone.decisions);
    expect(got.commands).toEqual(alone.commands);
  });

  it('a producer rotating 12 keys over one mass-mailer\'s 600 email.send in 10 minutes: suspended at the manifest limit, as under one key', async () => {
    const t0 = Date.UTC(2026, 10, 20, 9, 0, 0);
    const mailer = 'spiffe://acme.example/agent/support-bot/mass-mailer';
    const events: AgentEvent[] = Array.from({ length: 600 }, (_, i) => ({
      id: `mail-${i}`, ts: t0 + i * 1000, identity: mailer, action: 'email.send', resource: `email:customer/c${i}@example.com`, agentClass: 'support-bot',
    }));
    const actions = uniqueName('rotate');
    await createTopic(actions, PARTITIONS);
    const run = await newRunOf(actions, prefixes);
    await kcatProduceLines(actions, events.map((e, i) => ({ key: `mailer-key-${i % 12}`, value: JSON.stringify(e) })), null);
    const spread = new Set((await kcatConsumeAll(actions)).map((r) => r.partition));
    expect(spread.size).toBeGreaterThan(2);
    const warden = startWarden(run.env, dir);
    await caughtUp(run, actions);
    expect(await stopWarden(warden)).toBe(0);

    const oneKey = await replayExpected(events, dir);
    const got = await outputs(run);
    const gist = (c: string) => { const x = JSON.parse(c); return `${x.type} ${x.identity} ${x.scope} ${x.detector}`; };
    expect(oneKey.commands.map(gist)).toEqual([`suspend ${mailer} email.send rate`]);
    expect(got.commands.map(gist)).toEqual(oneKey.commands.map(gist));
    const limit = (ds: string[]) => ds.map((d) => JSON.parse(d)).map((d) => [d.rule, d.decision, d.scope, d.reason]);
    expect(limit(oneKey.decisions)).toEqual([['hard-limit', 'suspend', 'email.send', 'email.send exceeded the manifest limit of 500 per 1h (observed 501)']]);
    expect(limit(got.decisions)).toEqual(limit(oneKey.decisions));
    // The gateway denies it (per partition, each of 12 states had seen ~50 and it was allowed).
    const ring = keyringFromEnv({ WARDEN_COMMAND_KEYS: TEST_COMMAND_KEYS });
    if (!ring.ok) throw new Error(ring.reason);
    const gateway = createEnforcer({ brokers: BROKERS.split(','), topic: run.commands, keyring: ring.keyring, now: () => t0 + 11 * 60_000 });
    await gateway.start();
    try {
      expect(gateway.check(mailer, 'email.send')).toMatchObject({ allow: false, scope: 'email.send' });
      expect(gateway.check(mailer, 'crm.read')).toMatchObject({ allow: true });
    } finally {
      await gateway.stop();
    }
    await expectOneStateEach(run.prefix, actions, events);
    const order = countedOrder(await kcatConsumeAll(actions));
    const exact = await replayExpected(order.events, dir, ARRIVAL);
    expect(got.decisions).toEqual(exact.decisions);
    expect(got.commands).toEqual(exact.commands);
  });

  it('SIGKILL mid-stream, restart: every event counted once, in one state, and the decisions of a single-producer run', async () => {
    const actions = uniqueName('routekill');
    await createTopic(actions, PARTITIONS);
    const run = await newRunOf(actions, prefixes);
    const rotating = new Map<string, number>();
    await threeProducers(actions, sim.events, (e) => {
      // Half the identities rotate keys on top of it.
      const n = (rotating.get(e.identity) ?? 0) + 1;
      rotating.set(e.identity, n);
      return e.identity.length % 2 === 0 ? e.identity : `${e.identity}#${n % 5}`;
    });
    const first = startWarden({ ...run.env, WARDEN_MAX_BATCH: '100', WARDEN_CONCURRENCY: '2' }, dir);
    let done = 0;
    while (done < sim.events.length * 0.3) {
      await sleep(50);
      done = await committedCount(run.group, actions);
    }
    first.child.kill('SIGKILL');
    await first.exited;
    // What a crash between publish and ack re-sends: forwards already on their owner, again, headers and all.
    const copies = (await kcatConsumeAll(actions)).filter((r) => headerMap(r)[FORWARD_HEADER.sig] !== undefined).slice(0, 40);
    expect(copies.length).toBeGreaterThan(10);
    await resend(actions, copies);
    const second = startWarden(run.env, dir);
    await caughtUp(run, actions);
    expect(await stopWarden(second)).toBe(0);

    const order = countedOrder(await kcatConsumeAll(actions));
    expect(order.repeats).toBeGreaterThanOrEqual(copies.length);
    expect(order.events.map((e) => e.id).sort()).toEqual(sim.events.map((e) => e.id).sort());
    await expectOneStateEach(run.prefix, actions, sim.events);
    const [got, want] = [await outputs(run), await replayExpected(order.events, dir, ARRIVAL)];
    expect(got.decisions).toEqual(want.decisions);
    expect(got.commands).toEqual(want.commands);
    console.log(JSON.stringify({ sigkill: { events: sim.events.length, forwarded: order.forwarded, repeatedForwards: order.repeats, committedAtKill: done } }));
  });
});
