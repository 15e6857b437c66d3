/**
 * The re-publisher against real Redis and a real broker: what it restates, that
 * an unchanged state gives the same bytes every round, and that a command
 * committed and published while a round runs is never left behind a
 * restatement (compaction would keep the restatement).
 */
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeRecord, type BreakerRecord } from '../../src/breaker/breaker.js';
import type { ScopeState } from '../../src/breaker/types.js';
import { keyringFromEnv, type Keyring } from '../../src/commands/keyring.js';
import { openCommand, signCommand } from '../../src/commands/sign.js';
import { republishOnce } from '../../src/service/republish.js';
import { identityKey, partitionKey } from '../../src/state/keys.js';
import { createTransport } from '../../src/transport/kafka-client.js';
import type { Producer } from '../../src/transport/types.js';
import { BROKERS, createTopic, deletePrefix, kcatConsumeAll, requireKafka, requireRedis, TEST_COMMAND_KEYS, uniqueName } from './helpers.js';

const T = Date.now();
let redis: Redis;
let producer: Producer;
let keys: Keyring;
const prefix = `wt-${uniqueName('republish')}`;

const open = (over: Partial<ScopeState> = {}): ScopeState => ({
  phase: 'open', until: T + 900_000, probationUntil: T + 1_500_000, strikes: 1, closedAt: 0, reason: 'why', detector: 'scope', commandId: 'c-1', openedAt: T, ...over,
});

async function store(identity: string, record: BreakerRecord, partition = 'actions:0'): Promise<void> {
  await redis.hset(identityKey(partitionKey(prefix, partition), identity), '_id', identity, '_b', serializeRecord(record));
}

beforeAll(async () => {
  await requireKafka();
  redis = await requireRedis();
  const k = keyringFromEnv({ WARDEN_COMMAND_KEYS: TEST_COMMAND_KEYS });
  if (!k.ok) throw new Error(k.reason);
  keys = k.keyring;
  // The service's own producer, through the transport seam.
  producer = createTransport({ brokers: BROKERS.split(','), clientId: 'warden-test', ssl: false, sasl: null }, pino({ level: 'silent' }))
    .producer({ idempotent: true });
  await producer.connect();
});

afterAll(async () => {
  await producer?.disconnect();
  await deletePrefix(redis, prefix);
  redis?.disconnect();
});

describe('republishOnce', () => {
  it('restates every identity with a seq or an open suspension, with its stored seq, the same bytes each round', async () => {
    const topic = uniqueName('c-republish');
    await createTopic(topic, 3, true);
    await store('suspended', { state: { '*': open() }, seq: T + 2, at: T });
    await store('resumed', { state: {}, seq: T + 5, at: T + 1 });
    await store('legacy-open', { state: { 'email.send': open({ commandId: 'c-l' }) }, seq: 0, at: 0 });
    await store('legacy-closed', { state: { '*': open({ phase: 'closed' }) }, seq: 0, at: 0 });
    // One identity on two partitions (a producer's partitioner split it): the higher seq is restated.
    await store('split', { state: {}, seq: T + 1, at: T }, 'actions:1');
    await store('split', { state: { '*': open({ commandId: 'c-s' }) }, seq: T + 9, at: T + 9 }, 'actions:2');
    await redis.hset(identityKey(partitionKey(prefix, 'actions:0'), 'no-breaker'), '_id', 'no-breaker');

    const first = await republishOnce({ redis, prefix, producer, topic, keyring: keys });
    expect(first).toEqual({ identities: 5, published: 4, passes: 1, unsettled: 0 });
    const second = await republishOnce({ redis, prefix, producer, topic, keyring: keys });
    expect(second).toEqual(first);

    const records = await kcatConsumeAll(topic);
    expect(records).toHaveLength(8);
    const byKey = new Map<string, string[]>();
    for (const r of records) byKey.set(r.key!, [...(byKey.get(r.key!) ?? []), r.payload!]);
    expect([...byKey.keys()].sort()).toEqual(['legacy-open', 'resumed', 'split', 'suspended']);
    for (const [key, [a, b]] of byKey) {
      expect(a).toBe(b);
      const v = openCommand(a!, keys);
      expect(v.ok && v.command.identity).toBe(key);
    }
    const cmd = (key: string) => JSON.parse(byKey.get(key)![0]!) as Record<string, any>;
    expect(cmd('suspended')).toMatchObject({ kind: 'command', v: 2, type: 'state', seq: T + 2, issuedAt: T, active: [{ scope: '*', commandId: 'c-1', cascade: true }] });
    expect(cmd('resumed')).toMatchObject({ type: 'state', seq: T + 5, active: [] });
    expect(cmd('legacy-open')).toMatchObject({ type: 'state', seq: 0, active: [{ scope: 'email.send', commandId: 'c-l', cascade: false }] });
    expect(cmd('split')).toMatchObject({ seq: T + 9, active: [{ commandId: 'c-s' }] });
  });

  it('a command committed and published while the round publishes is restated after it, so it stays the latest', async () => {
    const topic = uniqueName('c-republish-race');
    await createTopic(topic, 1, true);
    const identity = `racer-${uniqueName('x')}`;
    await store(identity, { state: { '*': open() }, seq: T + 2, at: T });
    // The engine's part, between the round's read and its publish: commit the resume (seq T + 3), publish it.
    let raced = false;
    const racing: Producer = {
      ...producer,
      send: async (req, acks) => {
        if (!raced) {
          raced = true;
          await store(identity, { state: { '*': open({ phase: 'closed' }) }, seq: T + 3, at: T + 3 });
          const resume = signCommand({
            v: 2, seq: T + 3, type: 'resume', commandId: 'r-1', identity, scope: '*', until: null, probationUntil: null, reason: 'operator',
            detector: null, issuedAt: T + 3, eventId: 'ctl-1', strike: 0, cascade: true, active: [],
          }, keys);
          await producer.send([{ topic, messages: [{ key: identity, value: JSON.stringify({ kind: 'command', ...resume }) }] }], -1);
        }
        return producer.send(req, acks);
      },
    };
    const round = await republishOnce({ redis, prefix, producer: racing, topic, keyring: keys });
    expect(round.passes).toBe(2);
    const mine = (await kcatConsumeAll(topic)).filter((r) => r.key === identity).map((r) => JSON.parse(r.payload!) as Record<string, any>);
    expect(mine.map((c) => [c.type, c.seq])).toEqual([['resume', T + 3], ['state', T + 2], ['state', T + 3]]);
    expect(mine.at(-1)!.active).toEqual([]);
  });
});
