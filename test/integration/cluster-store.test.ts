import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDeadLetters, storeDeadLetter } from '../../src/alerts/dispatcher.js';
import { serializeBreaker } from '../../src/breaker/breaker.js';
import type { BreakerState } from '../../src/breaker/types.js';
import { RedisParkingLot } from '../../src/service/parked.js';
import {
  classBaseKey, deadLetterCountKey, deadLetterKey, epochKey, fleetActiveKey, partitionKey,
} from '../../src/state/keys.js';
import { RedisClassStore } from '../../src/state/redis-class-store.js';
import { createRedis, masters, pingAll, type RedisClient } from '../../src/state/redis-connection.js';
import { RedisFleetStore } from '../../src/state/redis-fleet.js';
import { RedisWindowStore } from '../../src/state/redis-store.js';
import type { StateUpdate, Track } from '../../src/state/types.js';
import { classStoreContract } from '../contract/class-store.contract.js';
import { fleetStoreContract } from '../contract/fleet-store.contract.js';
import { windowStoreContract } from '../contract/window-store.contract.js';
import { countPipelines, deletePrefix, keysUnder, REDIS_CLUSTER_URL, requireCluster, wardenCli } from './helpers.js';

// The whole file runs on a real 3-master Redis Cluster (scripts/redis-cluster.sh, brought up by scripts/test.sh).
let admin: RedisClient;
const clients: RedisClient[] = [];
const prefixes: string[] = [];

beforeAll(async () => {
  admin = await requireCluster();
});
afterAll(async () => {
  for (const p of prefixes) await deletePrefix(admin, p);
  for (const c of clients) c.disconnect();
  admin?.disconnect();
});

function client(): RedisClient {
  const c = createRedis(REDIS_CLUSTER_URL);
  c.on('error', () => {});
  clients.push(c);
  return c;
}

function newPrefix(kind: string): string {
  const p = `wtest-cl-${kind}-${randomBytes(5).toString('hex')}`;
  prefixes.push(p);
  return p;
}

async function setUp<T>(kind: string, make: (redis: RedisClient, prefix: string) => T) {
  admin ??= await requireCluster();
  const redis = client();
  const prefix = newPrefix(kind);
  const store = make(redis, prefix);
  const cleanup = async () => {
    await deletePrefix(admin, prefix);
    expect(await keysUnder(admin, prefix)).toEqual([]);
  };
  return { store, redis, prefix, cleanup };
}

windowStoreContract('redis cluster', async () => {
  const s = await setUp('win', (redis, prefix) => new RedisWindowStore({ redis, prefix }));
  await s.store.start();
  return s;
});
classStoreContract('redis cluster', () => setUp('cls', (redis, prefix) => new RedisClassStore({ redis, prefix })));
fleetStoreContract('redis cluster', () => setUp('fleet', (redis, prefix) => new RedisFleetStore(redis, prefix)));

const T0 = Date.UTC(2026, 10, 20, 3, 15, 0);
const tracks = (m: string): Track[] => [
  { kind: 'counter', key: 'c', windowMs: 60_000, baseline: { alpha: 0.3, slotAlpha: 0.2, learningPeriodMs: 0, minBuckets: 3, learnZ: 3 } },
  { kind: 'seen', key: 'act', member: m, cap: 100 },
  { kind: 'distinct', key: 'kids', windowMs: 60_000, member: m, cap: 10 },
];
const open: BreakerState = {
  '*': {
    phase: 'open', until: T0 + 3_600_000, probationUntil: T0 + 7_200_000, strikes: 1, closedAt: 0,
    reason: 'scope: vault.read is outside the manifest', detector: 'scope', commandId: 'c-1', openedAt: T0,
  },
};

const slotOf = async (key: string): Promise<number> => Number(await (await masters(admin))[0]!.cluster('KEYSLOT', key));

/** Which master serves each slot, from CLUSTER SLOTS. */
async function slotOwners(): Promise<(slot: number) => string> {
  const ranges = (await (await masters(admin))[0]!.cluster('SLOTS')) as Array<[number, number, [string, number]]>;
  return (slot) => {
    const r = ranges.find(([from, to]) => slot >= from && slot <= to);
    return r ? `${r[2][0]}:${r[2][1]}` : 'none';
  };
}

/** 12 partitions' batches, a class observe and a fleet observe, all side by side as the service runs them. */
async function fillState(redis: RedisClient, prefix: string): Promise<string[]> {
  const store = new RedisWindowStore({ redis, prefix });
  const fleet = new RedisFleetStore(redis, prefix);
  const classes = new RedisClassStore({ redis, prefix });
  const partitions = Array.from({ length: 12 }, (_, i) => `agent.actions:${i}`);
  const active = new Map([['support-bot', new Map([['alice', T0]])]]);
  await Promise.all([
    ...partitions.map((partition) => store.apply({ partition, updates: ['alice', 'bob'].map((identity, i): StateUpdate => ({ offset: BigInt(i), identity: `${identity}@${partition}`, ts: T0, tracks: tracks('m') })) })),
    fleet.observe({ active, at: new Map([['support-bot', T0]]), activeWindowMs: 3_600_000 }),
    classes.observe({ counters: new Map([['support-bot', new Map([['k', { spec: { windowMs: 300_000 }, runs: [T0, 1] }]])]]), active, at: T0, activeWindowMs: 3_600_000 }),
  ]);
  await Promise.all(partitions.map((partition) => store.commit({
    partition, offset: 1n, breakers: new Map([[`alice@${partition}`, serializeBreaker(open)]]), outbox: [{ topic: 't', key: 'k', value: new Uint8Array([1, 2]) }],
  })));
  return partitions;
}

describe('Warden on a Redis Cluster', () => {
  it('runs on three masters that split the slots', async () => {
    const nodes = await masters(admin);
    expect(nodes.length).toBe(3);
    await pingAll(admin);
    const owner = await slotOwners();
    expect(new Set([0, 8000, 16383].map(owner)).size).toBe(3);
  });

  it('every key a script touches is in its base key\'s slot: a partition\'s under {p:...}, the class store\'s under {c}, the fleet guard\'s under {f}; partitions spread over the masters', async () => {
    const prefix = newPrefix('slots');
    const partitions = await fillState(client(), prefix);
    const keys = await keysUnder(admin, prefix);
    const bases = [...partitions.map((p) => partitionKey(prefix, p)), classBaseKey(prefix), fleetActiveKey(prefix, '')];
    const owner = await slotOwners();
    const used = new Set<string>();
    for (const key of keys) {
      const base = bases.find((b) => key.startsWith(b.slice(0, b.indexOf('}') + 1)));
      expect(base, key).toBeDefined();
      const slot = await slotOf(key);
      expect(slot, key).toBe(await slotOf(base!));
      used.add(owner(slot));
    }
    // Per partition: meta, outbox, two identities' hashes and distinct sets (commit dropped pending); the class store's two keys, the fleet's one.
    expect(keys.length, keys.join('\n')).toBe(12 * 6 + 2 + 1);
    expect(used.size).toBe(3);
    // The epoch marker is one string on its own: no script touches it with another key.
    expect(epochKey(prefix)).not.toContain('{');
  });

  it('an apply, a fleet observe and a class observe of one tick go out as one pipeline per hash tag, each to its own master, in parallel', async () => {
    const redis = client();
    await redis.ping();
    const prefix = newPrefix('tick');
    const execs = countPipelines(redis);
    const store = new RedisWindowStore({ redis, prefix });
    const fleet = new RedisFleetStore(redis, prefix);
    const classes = new RedisClassStore({ redis, prefix });
    const active = new Map([['c', new Map([['x', T0]])]]);
    const [applied, seen, cls] = await Promise.all([
      store.apply({ partition: 'p:0', updates: [{ offset: 0n, identity: 'x', ts: T0, tracks: tracks('m') }] }),
      fleet.observe({ active, at: new Map([['c', T0]]), activeWindowMs: 60_000 }),
      classes.observe({ counters: new Map(), active, at: T0, activeWindowMs: 60_000 }),
    ]);
    expect(execs()).toBe(3);
    expect(applied.outcomes[0]).toMatchObject({ status: 'view' });
    expect(seen.get('c')!.active).toBe(1);
    expect(cls.get('c')!.active).toBe(1);
  });

  it('EVALSHA after every master lost its scripts (SCRIPT FLUSH, a restarted node): NOSCRIPT is answered by loading them there, in and out of pipelines', async () => {
    const redis = client();
    const prefix = newPrefix('noscript');
    const store = new RedisWindowStore({ redis, prefix });
    const classes = new RedisClassStore({ redis, prefix });
    const partitions = Array.from({ length: 6 }, (_, i) => `t:${i}`);
    const round = async (offset: bigint) => {
      // apply and class observe go through pipelines (sameTick); commit and ack are direct calls.
      await Promise.all(partitions.map(async (partition) => {
        const got = await store.apply({ partition, updates: [{ offset, identity: 'x', ts: T0 + Number(offset), tracks: tracks(`m${offset}`) }] });
        expect(got.outcomes[0]).toMatchObject({ status: 'view' });
        const r = await store.commit({ partition, offset, breakers: new Map(), outbox: [{ topic: 't', key: null, value: new Uint8Array([Number(offset)]) }] });
        await store.ackOutbox(partition, r.first);
      }));
      await classes.observe({ counters: new Map(), active: new Map([['c', new Map([['x', T0]])]]), at: T0, activeWindowMs: 60_000 });
    };
    await round(0n);
    for (const node of await masters(admin)) expect(await node.script('FLUSH')).toBe('OK');
    await round(1n);
    const sent: string[] = [];
    for (const node of await masters(redis)) {
      const send = node.sendCommand.bind(node);
      node.sendCommand = ((cmd: Parameters<typeof send>[0], ...rest: unknown[]) => {
        sent.push(cmd.name);
        return send(cmd, ...(rest as []));
      }) as typeof node.sendCommand;
    }
    await round(2n);
    // Loaded again on every master: the next round is EVALSHA only.
    expect(sent.filter((n) => n === 'eval')).toEqual([]);
    expect(sent.filter((n) => n === 'evalsha').length).toBeGreaterThanOrEqual(3 * partitions.length + 1);
    for (const partition of partitions) expect(await store.committedOffset(partition)).toBe(2n);
  });

  it('alert dead letters: the list and its count are one slot, so their MULTI runs on a cluster; warden alerts dead list reads every master', async () => {
    const prefix = newPrefix('dead');
    expect(await slotOf(deadLetterKey(prefix, 'ops'))).toBe(await slotOf(deadLetterCountKey(prefix, 'ops')));
    const redis = client();
    for (const id of ['a-1', 'a-2']) await storeDeadLetter(redis, prefix, 'ops', id, JSON.stringify({ alertId: id }));
    expect(await readDeadLetters(redis, prefix, 'ops')).toEqual([{ alertId: 'a-2' }, { alertId: 'a-1' }]);
    expect(await admin.get(deadLetterCountKey(prefix, 'ops'))).toBe('2');
    // Receivers on different masters: `warden alerts dead list` scans every one (the count is not a receiver).
    await storeDeadLetter(redis, prefix, 'pager', 'a-3', JSON.stringify({ alertId: 'a-3' }));
    expect(await slotOf(deadLetterKey(prefix, 'ops'))).not.toBe(await slotOf(deadLetterKey(prefix, 'pager')));
    const list = await wardenCli(['alerts', 'dead', 'list', '--json'], { REDIS_URL: REDIS_CLUSTER_URL, WARDEN_REDIS_PREFIX: prefix });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { alertId: 'a-1', receiver: 'ops' }, { alertId: 'a-2', receiver: 'ops' }, { alertId: 'a-3', receiver: 'pager' },
    ]);
  });

  it('warden breaker list and show, and warden parked, read every master', async () => {
    const prefix = newPrefix('cli');
    const redis = client();
    const partitions = await fillState(redis, prefix);
    const parking = new RedisParkingLot(redis, prefix);
    for (const p of partitions.slice(0, 6)) await parking.park(p, 1n, { topic: 'agent.decisions', key: 'k', value: new Uint8Array([1]) }, 'too large');
    expect(await parking.count(partitions)).toBe(6);
    const env = { REDIS_URL: REDIS_CLUSTER_URL, WARDEN_REDIS_PREFIX: prefix };
    const list = await wardenCli(['breaker', 'list', '--json'], env);
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    const listed = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { identity: string });
    expect(listed.map((b) => b.identity).sort()).toEqual(partitions.map((p) => `alice@${p}`).sort());
    const show = await wardenCli(['breaker', 'show', `alice@${partitions[7]}`, '--json'], env);
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout.trim().split('\n')[0]!)).toMatchObject({ identity: `alice@${partitions[7]}`, partition: partitions[7], events: 1 });
    const parked = await wardenCli(['parked', '--json'], env);
    expect(parked.code).toBe(0);
    expect(parked.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { partition: string }).partition).sort()).toEqual(partitions.slice(0, 6).sort());
  });

  it('a cluster URL that names no node, or a database, and a cluster node named as one Redis, are refused by name at start', async () => {
    for (const [url, why] of [['redis+cluster://', 'no nodes'], ['redis+cluster://127.0.0.1:7101/2', 'only database 0'], ['redis+cluster://127.0.0.1', 'is not host:port']]) {
      const r = await wardenCli(['run', '--config', 'config'], { REDIS_URL: url!, WARDEN_COMMAND_KEYS: 'k=' + Buffer.alloc(32, 1).toString('base64') });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(why!);
      expect(r.stderr).toContain('REDIS_URL');
    }
    // One node of the cluster named as one Redis: refused at start with what to write instead, not MOVED on the first batch.
    const node = (await masters(admin))[0]!;
    const r = await wardenCli(['run', '--config', 'config'], {
      REDIS_URL: `redis://${node.options.host}:${node.options.port}`, WARDEN_COMMAND_KEYS: 'k=' + Buffer.alloc(32, 1).toString('base64'), WARDEN_HTTP_PORT: '0', WARDEN_START_TIMEOUT_S: '5',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is a Redis Cluster node: name the cluster as REDIS_URL=redis+cluster://');
  });
});

// Keeps the type import used: the master connections ioredis hands out are plain Redis clients.
export type { Redis };
