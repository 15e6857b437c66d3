import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClassObservation } from '../../src/state/class-store.js';
import { classActiveKey, classCountersKey, prefixPattern } from '../../src/state/keys.js';
import { RedisClassStore } from '../../src/state/redis-class-store.js';
import { RedisFleetStore } from '../../src/state/redis-fleet.js';
import { classStoreContract } from '../contract/class-store.contract.js';
import { countPipelines, deletePrefix, keysUnder as keysUnderPrefix, REDIS_URL, requireRedis } from './helpers.js';

let admin: Redis;
const clients: Redis[] = [];

beforeAll(async () => {
  admin = await requireRedis();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  admin?.disconnect();
});

const keysUnder = (prefix: string): Promise<string[]> => keysUnderPrefix(admin, prefix);

async function makeRedis() {
  // Fails (never skips) when Redis is down.
  admin ??= await requireRedis();
  const prefix = `wtest-cls-${randomBytes(6).toString('hex')}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableAutoPipelining: false });
  clients.push(redis);
  const store = new RedisClassStore({ redis, prefix });
  const cleanup = async () => {
    await deletePrefix(admin, prefix);
    expect(await keysUnder(prefix)).toEqual([]);
    redis.disconnect();
  };
  return { store, redis, prefix, cleanup };
}

classStoreContract('redis', makeRedis);

const T = Date.UTC(2026, 10, 22, 12);
const W = 300_000;
const HOUR = 3_600_000;

function obs(cls: string, ids: string[], at: number, runs: number[] = [at - (at % W), 1]): ClassObservation {
  return {
    counters: new Map([[cls, new Map([['k', { spec: { windowMs: W, baseline: { alpha: 0.02, slotAlpha: 0.2, learningPeriodMs: 0, minBuckets: 1, learnZ: 3 } }, runs }]])]]),
    active: new Map([[cls, new Map(ids.map((id) => [id, at]))]]),
    at,
    activeWindowMs: HOUR,
  };
}

describe('RedisClassStore', () => {
  it('keeps a hash of counters and a sorted set per class under one {c} hash tag, named by the class hash, with expiries; the partition scan does not see them', async () => {
    const { store, prefix, cleanup } = await makeRedis();
    try {
      const classes = ['role/DataPipeline', '}'];
      for (const c of classes) await store.observe(obs(c, ['id-1'], T));
      const keys = await keysUnder(prefix);
      expect(keys).toEqual(classes.flatMap((c) => [classCountersKey(prefix, c), classActiveKey(prefix, c)]).sort());
      for (const k of keys) expect(k).toMatch(new RegExp(`^${prefix}:\\{c\\}:[ka]:[0-9a-f]{40}$`));
      // Counters: 7 days idle; active identities: twice the window.
      const counters = await admin.pttl(classCountersKey(prefix, '}'));
      expect(counters).toBeGreaterThan(6 * 24 * HOUR);
      expect(counters).toBeLessThanOrEqual(7 * 24 * HOUR);
      const active = await admin.pttl(classActiveKey(prefix, '}'));
      expect(active).toBeGreaterThan(HOUR);
      expect(active).toBeLessThanOrEqual(2 * HOUR);
      expect(await admin.zrange(classActiveKey(prefix, '}'), '0', '-1', 'WITHSCORES')).toEqual(['id-1', String(T)]);
      // One field per counter key: firstSeen b c p, then the baseline (BASELINE_PACK).
      expect(await admin.hkeys(classCountersKey(prefix, '}'))).toEqual(['k']);
      expect((await admin.hgetBuffer(classCountersKey(prefix, '}'), 'k'))!.length).toBe(312);
      const [, scanned] = await admin.scan('0', 'MATCH', prefixPattern(prefix), 'COUNT', 10_000);
      expect(scanned).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('reads a counter written before the day\'s level (304 bytes) with the level at 0, and writes it whole', async () => {
    const { store, prefix, cleanup } = await makeRedis();
    try {
      const key = classCountersKey(prefix, 'c');
      await store.observe(obs('c', ['x'], T));
      await store.observe(obs('c', ['x'], T + W, [T + W - ((T + W) % W), 1]));
      const full = (await admin.hgetBuffer(key, 'k'))!;
      await admin.hset(key, 'k', full.subarray(0, 304));
      const got = (await store.observe(obs('c', ['x'], T + 2 * W, [T + 2 * W - ((T + 2 * W) % W), 1]))).get('c')!;
      expect(got.counters.get('k')!.view.baseline).toMatchObject({ n: 1, level: 1 });
      expect((await admin.hgetBuffer(key, 'k'))!.length).toBe(312);
    } finally {
      await cleanup();
    }
  });

  it('two stores on one prefix (two Warden processes) add to the same class', async () => {
    const a = await makeRedis();
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    clients.push(redis);
    const b = new RedisClassStore({ redis, prefix: a.prefix });
    try {
      await a.store.observe(obs('c', ['x', 'y'], T));
      const got = (await b.observe(obs('c', ['z'], T + 1000))).get('c')!;
      expect(got.active).toBe(3);
      expect(got.counters.get('k')!.view.count).toBe(1);
    } finally {
      await a.cleanup();
    }
  });

  it('shares the fleet guard\'s round trip: both observes of a batch go out in one pipeline', async () => {
    const { store, redis, prefix, cleanup } = await makeRedis();
    const fleet = new RedisFleetStore(redis, prefix);
    const execs = countPipelines(redis);
    const sent = redis.sendCommand.bind(redis);
    let alone = 0;
    redis.sendCommand = ((cmd: Parameters<typeof sent>[0], stream?: unknown) => {
      if (stream === undefined) alone++;
      return sent(cmd, stream as never);
    }) as typeof redis.sendCommand;
    try {
      const o = obs('c', ['x', 'y'], T);
      await store.observe(o);
      const before = [execs(), alone];
      const [views, classes] = await Promise.all([fleet.observe({ active: o.active, at: new Map([['c', T + 1]]), activeWindowMs: HOUR }), store.observe(obs('c', ['z'], T + 1))]);
      expect([execs() - before[0]!, alone - before[1]!]).toEqual([1, 0]);
      // Each store keeps its own sets: the fleet saw x and y, the class store x, y, then z.
      expect(views.get('c')!.active).toBe(2);
      expect(classes.get('c')).toMatchObject({ active: 3 });
      expect(classes.get('c')!.counters.get('k')!.view.count).toBe(1);
    } finally {
      await cleanup();
    }
  });

  it('a counter field of another size is STATE_INCONSISTENT, and the batch writes nothing', async () => {
    const { store, redis, prefix, cleanup } = await makeRedis();
    try {
      await store.observe(obs('good', ['x'], T));
      await redis.hset(classCountersKey(prefix, 'bad'), 'k', 'not a counter');
      const o = obs('good', ['y'], T + W);
      o.counters.set('bad', o.counters.get('good')!);
      o.active.set('bad', new Map([['y', T + W]]));
      await expect(store.observe(o)).rejects.toMatchObject({ code: 'STATE_INCONSISTENT', retriable: false });
      expect(await admin.zcard(classActiveKey(prefix, 'good'))).toBe(1);
      expect(await admin.exists(classActiveKey(prefix, 'bad'))).toBe(0);
      const again = (await store.observe(obs('good', ['x'], T + W))).get('good')!;
      expect(again.counters.get('k')!.view).toMatchObject({ bucketStart: T, count: 1 });
    } finally {
      await cleanup();
    }
  });

  it('a Redis error is a STATE_REDIS error', async () => {
    const { store, redis, prefix, cleanup } = await makeRedis();
    try {
      await redis.set(classActiveKey(prefix, 'c'), 'not a zset');
      await expect(store.observe(obs('c', ['x'], T))).rejects.toMatchObject({ code: 'STATE_REDIS' });
    } finally {
      await cleanup();
    }
  });
});
