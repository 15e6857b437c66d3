import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetActiveKey, fleetOpenKey, prefixPattern } from '../../src/state/keys.js';
import { RedisFleetStore } from '../../src/state/redis-fleet.js';
import { fleetStoreContract } from '../contract/fleet-store.contract.js';
import { deletePrefix, keysUnder as keysUnderPrefix, REDIS_URL, requireRedis } from './helpers.js';

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
  const prefix = `wtest-fleet-${randomBytes(6).toString('hex')}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  clients.push(redis);
  const store = new RedisFleetStore(redis, prefix);
  const cleanup = async () => {
    await deletePrefix(admin, prefix);
    expect(await keysUnder(prefix)).toEqual([]);
    redis.disconnect();
  };
  return { store, redis, prefix, cleanup };
}

fleetStoreContract('redis', makeRedis);

describe('RedisFleetStore', () => {
  const T = Date.UTC(2026, 10, 22, 12);

  it('keeps two sorted sets per class under one {f} hash tag, named by the class hash, with expiries; the partition scan does not see them', async () => {
    const { store, prefix, cleanup } = await makeRedis();
    try {
      const classes = ['a}b', 'a b'];
      await store.observe({ active: new Map(classes.map((c) => [c, new Map([['id-1', T]])])), at: new Map(), activeWindowMs: 3_600_000 });
      await store.suspended(classes.map((c) => ({ agentClass: c, identity: 'id-1', until: T + 900_000 })));
      const keys = await keysUnder(prefix);
      expect(keys).toEqual(classes.flatMap((c) => [fleetActiveKey(prefix, c), fleetOpenKey(prefix, c)]).sort());
      for (const k of keys) {
        expect(k).toMatch(new RegExp(`^${prefix}:\\{f\\}:[as]:[0-9a-f]{40}$`));
        // Expiring keys: a class that goes quiet leaves nothing behind.
        expect(await admin.pttl(k)).toBeGreaterThan(0);
      }
      // Active: about twice the window; open: the store's keep time (7 days by default).
      expect(await admin.pttl(fleetActiveKey(prefix, 'a}b'))).toBeLessThanOrEqual(2 * 3_600_000);
      expect(await admin.pttl(fleetOpenKey(prefix, 'a}b'))).toBeGreaterThan(2 * 3_600_000);
      // Members are the identities themselves, scored by event time.
      expect(await admin.zrange(fleetOpenKey(prefix, 'a b'), '0', '-1', 'WITHSCORES')).toEqual(['id-1', String(T + 900_000)]);
      expect(await admin.zrange(fleetActiveKey(prefix, 'a b'), '0', '-1', 'WITHSCORES')).toEqual(['id-1', String(T)]);
      // The window store's SCAN pattern for a prefix (warden breaker list, state dumps) does not match them.
      const [, scanned] = await admin.scan('0', 'MATCH', prefixPattern(prefix), 'COUNT', 10_000);
      expect(scanned).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('two stores on one prefix (two Warden processes) see each other\'s identities and suspensions', async () => {
    const a = await makeRedis();
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    clients.push(redis);
    const b = new RedisFleetStore(redis, a.prefix);
    try {
      const w = 600_000;
      await a.store.observe({ active: new Map([['c', new Map([['x', T], ['y', T]])]]), at: new Map(), activeWindowMs: w });
      await a.store.suspended([{ agentClass: 'c', identity: 'x', until: T + w }]);
      const got = await b.observe({ active: new Map([['c', new Map([['z', T + 1000]])]]), at: new Map(), activeWindowMs: w });
      expect(got.get('c')!.active).toBe(3);
      expect([...got.get('c')!.open]).toEqual([['x', T + w]]);
    } finally {
      await a.cleanup();
    }
  });

  it('a Redis error is a retriable STATE_REDIS error', async () => {
    const { redis, prefix, cleanup } = await makeRedis();
    try {
      // The open key is a string, not a sorted set: ZADD fails with WRONGTYPE.
      await redis.set(fleetOpenKey(prefix, 'c'), 'not a zset');
      const store = new RedisFleetStore(redis, prefix);
      await expect(store.suspended([{ agentClass: 'c', identity: 'x', until: T }])).rejects.toMatchObject({ code: 'STATE_REDIS', retriable: true });
      await expect(store.observe({ active: new Map([['c', new Map([['x', T]])]]), at: new Map(), activeWindowMs: 1000 })).rejects.toMatchObject({ code: 'STATE_REDIS', retriable: true });
    } finally {
      await cleanup();
    }
  });
});
