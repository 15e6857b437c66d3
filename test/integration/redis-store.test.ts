import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { errorMessage } from '../../src/errors.js';
import { mulberry32 } from '../../src/sim/prng.js';
import { distinctKey, IDENTITY_FIELD, identityKey, metaKey, partitionKey, pendingKey } from '../../src/state/keys.js';
import { MemoryWindowStore } from '../../src/state/memory-store.js';
import { RedisWindowStore } from '../../src/state/redis-store.js';
import { loadScripts } from '../../src/state/script-loader.js';
import type { StateUpdate, Track } from '../../src/state/types.js';
import { windowStoreContract } from '../contract/window-store.contract.js';
import { keysUnder as keysUnderPrefix } from './helpers.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000 });
admin.on('error', () => {});
let reachable: Promise<void> | undefined;

/** Every test that needs Redis fails (never skips) with this message when it is down. */
function redisUp(): Promise<void> {
  reachable ??= admin.connect().then(() => admin.ping()).then(() => undefined, (err: unknown) => {
    throw new Error(`Redis is not reachable at ${url} (${errorMessage(err)}): start redis-server or set REDIS_URL. These tests never skip.`);
  });
  return reachable;
}

afterAll(async () => {
  if (admin.status === 'ready') await admin.quit();
  else admin.disconnect();
});

const keysUnder = (prefix: string): Promise<string[]> => keysUnderPrefix(admin, prefix);

async function makeRedis(idleTtlMs?: number) {
  await redisUp();
  const prefix = `wtest-${randomBytes(6).toString('hex')}`;
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableAutoPipelining: false });
  const store = new RedisWindowStore(idleTtlMs === undefined ? { redis, prefix } : { redis, prefix, idleTtlMs });
  await store.start();
  const cleanup = async () => {
    const keys = await keysUnder(prefix);
    for (let i = 0; i < keys.length; i += 500) await admin.del(...keys.slice(i, i + 500));
    await store.shutdown();
  };
  return { store, redis, prefix, cleanup };
}

windowStoreContract('redis', makeRedis);

describe('RedisWindowStore', () => {
  const tracks = (m: string): Track[] => [
    { kind: 'counter', key: 'c', windowMs: 60_000, baseline: { alpha: 0.3, slotAlpha: 0.2, learningPeriodMs: 0, minBuckets: 3, learnZ: 3 } },
    { kind: 'seen', key: 'act', member: m, cap: 100 },
    { kind: 'seen', key: 'p1', member: `${m}:x`, cap: 100 },
    { kind: 'distinct', key: 'kids', windowMs: 60_000, member: m, cap: 10 },
  ];
  const T0 = 1_700_000_000_000;

  it('registers one command per script, named from the file', () => {
    expect(loadScripts().map((s) => [s.name, s.numberOfKeys])).toStrictEqual([['wardenAck', 1], ['wardenApply', 1], ['wardenClass', 1], ['wardenCommit', 1]]);
  });

  it('keeps every key of a partition under one hash tag, at the keys keys.ts computes', async () => {
    const { store, prefix, cleanup } = await makeRedis();
    try {
      for (const partition of ['agent.actions:0', 'agent.actions:1']) {
        const ups: StateUpdate[] = ['a', 'b:{x}', 'c\n'].map((identity, i) => ({ offset: BigInt(i), identity, ts: T0, tracks: tracks('m') }));
        await store.apply({ partition, updates: ups });
        await store.commit({ partition, offset: 1n, breakers: new Map([['a', 's']]), outbox: [{ topic: 't', key: null, value: new Uint8Array([1]) }] });
        const base = partitionKey(prefix, partition);
        for (const id of ['a', 'b:{x}', 'c\n']) {
          expect(await admin.exists(identityKey(base, id), distinctKey(base, id, 'kids'))).toBe(2);
          // Seen members are fields of the identity hash: <track>|=<member>|<byte length of track>.
          expect(await admin.hmget(identityKey(base, id), 'act|S', 'act|=m|3', 'p1|S', 'p1|=m:x|2')).toStrictEqual(['1', '1', '1', '1']);
        }
      }
      const keys = await keysUnder(prefix);
      expect(keys.length).toBe(2 * (3 * 2 + 3));
      for (const key of keys) {
        const tag = key.slice(key.indexOf('{') + 1, key.indexOf('}'));
        expect(['p:agent.actions:0', 'p:agent.actions:1']).toContain(tag);
        expect(key.startsWith(`${prefix}:{${tag}}:`)).toBe(true);
      }
    } finally {
      await cleanup();
    }
  });

  it('expires identity keys together, set at creation and pushed forward after TTL/4 of event time', async () => {
    const ttl = 3_600_000;
    const { store, prefix, cleanup } = await makeRedis(ttl);
    try {
      const partition = 'p';
      const base = partitionKey(prefix, partition);
      await store.apply({ partition, updates: [{ offset: 0n, identity: 'a', ts: T0, tracks: tracks('m') }] });
      const idKeys = [identityKey(base, 'a'), distinctKey(base, 'a', 'kids')];
      const expiry = async () => Promise.all(idKeys.map((k) => admin.pexpiretime(k)));
      const first = await expiry();
      expect(new Set(first).size).toBe(1);
      expect(first[0]! - Date.now()).toBeGreaterThan(ttl - 60_000);
      expect(first[0]! - Date.now()).toBeLessThanOrEqual(ttl);
      for (const k of [metaKey(base), pendingKey(base)]) expect(await admin.pttl(k)).toBe(-1);

      for (const k of idKeys) await admin.pexpire(k, 60_000);
      // Within TTL/4 of event time: nothing is refreshed, even the keys this event touches.
      await store.apply({ partition, updates: [{ offset: 1n, identity: 'a', ts: T0 + ttl / 4, tracks: [tracks('n')[1]!] }] });
      for (const k of idKeys) expect(await admin.pttl(k)).toBeLessThanOrEqual(60_000);
      // Past it: every key of the identity, touched or not, moves to the same new deadline.
      await store.apply({ partition, updates: [{ offset: 2n, identity: 'a', ts: T0 + ttl / 4 + 1, tracks: [] }] });
      const after = await expiry();
      expect(new Set(after).size).toBe(1);
      expect(after[0]! - Date.now()).toBeGreaterThan(ttl - 60_000);
    } finally {
      await cleanup();
    }
  });

  it('keeps seen members apart from each other and from every other field, whatever the characters', async () => {
    const { store, prefix, cleanup } = await makeRedis();
    try {
      // Keys and members that would collide under a naive <track>|=<member> or
      // be read as <track>|<letter> by a suffix parse.
      const keys = ['x', 'x|=b', 'x|=b|1', 'x|', '', 'x|=', 'ü', 'x|S', 'x|B'];
      const members = ['b|=c', 'c', 'b', '', '|1', '=b|=c', '1', 'c|B', 'c|S', 'ü|3'];
      const tracksOf = (ts: number): Track[] => [
        ...keys.flatMap((key) => members.map((member): Track => ({ kind: 'seen', key, member, cap: 100 }))),
        ...keys.map((key): Track => ({ kind: 'counter', key, windowMs: 1000 })),
        { kind: 'distinct', key: 'x', windowMs: 1000, member: String(ts), cap: 10 },
      ];
      const oracle = new MemoryWindowStore();
      for (const ts of [1, 2]) {
        // Per key: the first pass adds every member, the second finds them all.
        const batch = { partition: 'p', updates: [{ offset: BigInt(ts), identity: 'a', ts, tracks: tracksOf(ts) }] };
        const got = await store.apply(batch);
        expect(got).toStrictEqual(await oracle.apply(batch));
        const o = got.outcomes[0];
        if (o?.status !== 'view') throw new Error('expected a view');
        for (const key of keys) expect(o.view.seen[key]).toStrictEqual({ added: ts === 1, size: members.length, full: false });
      }
      const fields = await admin.hkeys(identityKey(partitionKey(prefix, 'p'), 'a'));
      // _id _s, per key its seen set's |S and members and its counter's |C, the distinct track's |B|P|N.
      expect(fields.length).toBe(2 + keys.length * (1 + members.length + 1) + 3);
    } finally {
      await cleanup();
    }
  });

  it('matches the memory store when a key changes window, cap or baseline, and past 4000 fields per identity', async () => {
    const { store, cleanup } = await makeRedis();
    try {
      const oracle = new MemoryWindowStore();
      const rnd = mulberry32(7);
      const int = (n: number) => Math.floor(rnd() * n);
      const p = { alpha: 0.3, slotAlpha: 0.25, learningPeriodMs: 0, minBuckets: 2, learnZ: 1 };
      let offset = 0n;
      let ts = T0;
      for (let b = 0; b < 40; b++) {
        const updates: StateUpdate[] = [];
        for (let i = 0; i < 50; i++) {
          ts += int(200_000);
          // Windows that do not divide each other give fractional bucket gaps.
          const tracks: Track[] = [
            { kind: 'counter', key: 'c', windowMs: [1000, 1500, 60_000, 7000][int(4)]!, ...(rnd() < 0.7 ? { baseline: p } : {}) },
            { kind: 'seen', key: 's', member: `m${int(12)}`, cap: 1 + int(8) },
            { kind: 'distinct', key: 'd', windowMs: [1000, 2500][int(2)]!, member: `x${int(5)}`, cap: int(4) },
          ];
          updates.push({ offset: offset++, identity: `id${int(3)}`, ts: ts - int(300_000), tracks });
        }
        if (b === 20) {
          // One identity needing more fields than one HMGET/HSET takes.
          const tracks = Array.from({ length: 4500 }, (_, j): Track => ({ kind: 'seen', key: `k${j % 3}`, member: `big${j}`, cap: 2000 }));
          updates.push({ offset: offset++, identity: 'big', ts, tracks }, { offset: offset++, identity: 'big', ts, tracks: tracks.slice(0, 10) });
        }
        const batch = { partition: 'p', updates };
        expect(await store.apply(batch), `batch ${b}`).toStrictEqual(await oracle.apply(batch));
        const commit = { partition: 'p', offset: offset - 1n - BigInt(int(5)), breakers: new Map([[`id${int(3)}`, `b${b}`]]), outbox: [] };
        await store.commit(commit);
        await oracle.commit(commit);
      }
    } finally {
      await cleanup();
    }
  });

  const REST = ['c|H', 'c|E', 'c|F', 'c|V', 'c|W'];
  const sizes = async (h: string, fields: string[]) => Promise.all(fields.map(async (f) => (await admin.hgetBuffer(h, f))?.length ?? null));

  it('stores a counter with a baseline in fields of at most 64 bytes, starts older layouts afresh, refuses any other', async () => {
    const { store, prefix, cleanup } = await makeRedis();
    try {
      const h = identityKey(partitionKey(prefix, 'p'), 'a');
      const c = tracks('m')[0]!;
      const plain: Track = { kind: 'counter', key: 'plain', windowMs: 60_000 };
      await store.apply({ partition: 'p', updates: [{ offset: 0n, identity: 'a', ts: T0, tracks: [c, plain] }] });
      expect(await sizes(h, ['c|C', ...REST, 'plain|C', ...REST.map((f) => `plain${f.slice(1)}`)])).toStrictEqual([64, 48, 48, 48, 48, 48, 24, null, null, null, null, null]);

      // The 56-byte '<ddddddd' b c p n m v peak of the old baseline, and the unreleased
      // 296-byte one-field layout: b c p are kept, the baseline starts afresh.
      const oracle = new MemoryWindowStore();
      const want = (await oracle.apply({ partition: 'p', updates: [{ offset: 0n, identity: 'a', ts: T0 - 60_000, tracks: Array.from({ length: 7 }, () => c) }, { offset: 1n, identity: 'a', ts: T0, tracks: [c] }] })).outcomes[1];
      if (want?.status !== 'view') throw new Error('expected a view');
      let offset = 1n;
      for (const len of [56, 296]) {
        const old = Buffer.alloc(len, 0x7f);
        [T0 - 60_000 - (T0 % 60_000), 7, 3, 90, 5, 2, 9].forEach((x, i) => old.writeDoubleLE(x, 8 * i));
        await admin.hdel(h, ...REST);
        await admin.hset(h, 'c|C', old);
        const o = (await store.apply({ partition: 'p', updates: [{ offset: offset++, identity: 'a', ts: T0, tracks: [c] }] })).outcomes[0];
        if (o?.status !== 'view') throw new Error('expected a view');
        // As if the counter had been created with the new baseline and its 7 events.
        expect(o.view.counters.c, `${len} bytes`).toStrictEqual(want.view.counters.c);
        expect(o.view.counters.c!.baseline).toMatchObject({ n: 1, mean: 7, slotN: 0 });
        expect(await sizes(h, ['c|C', ...REST])).toStrictEqual([64, 48, 48, 48, 48, 48]);
      }

      // Refused before anything is written: a counter field of another length, a missing or short baseline field.
      const before = await admin.hgetallBuffer(h);
      const refused = async (field: string, value: Buffer | null, message: RegExp) => {
        if (value) await admin.hset(h, field, value);
        else await admin.hdel(h, field);
        await expect(store.apply({ partition: 'p', updates: [{ offset: offset, identity: 'a', ts: T0 + 60_000, tracks: [c] }] }))
          .rejects.toMatchObject({ code: 'STATE_INCONSISTENT', message: expect.stringMatching(message) });
        expect((await admin.hgetBuffer(h, field))?.length ?? null).toBe(value?.length ?? null);
        await admin.hset(h, field, before[field]!);
      };
      await refused('c|C', Buffer.alloc(40), /c\|C has 40 bytes/);
      await refused('c|V', null, /c\|V is missing/);
      await refused('c|H', Buffer.alloc(44), /c\|H has 44 bytes, not 48/);
      await refused('c|F', Buffer.alloc(40), /c\|F has 40 bytes, not 48/);
      expect(await admin.hgetallBuffer(h)).toStrictEqual(before);

      // A |H written before the day's level (hsum hsq and the 24 k, 40 bytes) is read with the level at 0, then written whole.
      const hour = before['c|H']!;
      expect(hour.readFloatLE(40)).toBeGreaterThanOrEqual(0);
      await admin.hset(h, 'c|H', hour.subarray(0, 40));
      const o = (await store.apply({ partition: 'p', updates: [{ offset: offset++, identity: 'a', ts: T0 + 60_000, tracks: [c] }] })).outcomes[0];
      if (o?.status !== 'view') throw new Error('expected a view');
      expect(o.view.counters.c!.baseline!.level).toBe(1);
      expect((await admin.hgetBuffer(h, 'c|H'))!.length).toBe(48);
    } finally {
      await cleanup();
    }
  });

  it('keeps an identity hash with baseline counters a listpack on a default-config Redis', async () => {
    const { store, prefix, cleanup } = await makeRedis();
    try {
      // The limit this test is about, at Redis's default.
      expect(await admin.config('GET', 'hash-max-listpack-value')).toStrictEqual(['hash-max-listpack-value', '64']);
      const oracle = new MemoryWindowStore();
      const p = { alpha: 0.3, slotAlpha: 0.2, learningPeriodMs: 0, minBuckets: 3, learnZ: 3 };
      const base: Track[] = [
        { kind: 'counter', key: 'rate:short', windowMs: 60_000, baseline: p },
        { kind: 'counter', key: 'rate:medium', windowMs: 900_000, baseline: p },
        { kind: 'counter', key: 'rate:long', windowMs: 3_600_000, baseline: p },
        { kind: 'counter', key: 'plain', windowMs: 60_000 },
      ];
      let offset = 0n;
      // Two days of events every 7 minutes: every hour-of-day slot learned.
      for (let day = 0; day < 2; day++) {
        const updates: StateUpdate[] = [];
        for (let t = 0; t < 86_400_000; t += 420_000) {
          updates.push({ offset: offset++, identity: 'agent', ts: T0 + day * 86_400_000 + t, tracks: [...base, { kind: 'seen', key: 'tool', member: `t${offset % 5n}`, cap: 50 }] });
        }
        const batch = { partition: 'p', updates };
        expect(await store.apply(batch)).toStrictEqual(await oracle.apply(batch));
      }
      const h = identityKey(partitionKey(prefix, 'p'), 'agent');
      const fields = await admin.hgetallBuffer(h);
      expect(Object.keys(fields)).toHaveLength(2 + 3 * 6 + 1 + 1 + 5) // _id _s, 3 baseline counters, plain, tool's size and 5 members;
      expect(Math.max(...Object.values(fields).map((v) => v.length))).toBe(64);
      expect(await admin.object('ENCODING', h)).toBe('listpack');
    } finally {
      await cleanup();
    }
  });

  it('sends exactly one EVALSHA per apply and per commit', async () => {
    const { store, redis, cleanup } = await makeRedis();
    try {
      const sent: string[] = [];
      const original = redis.sendCommand.bind(redis);
      redis.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
        sent.push(command.name);
        return (original as (...a: unknown[]) => unknown)(command, ...rest);
      }) as typeof redis.sendCommand;
      const batch = (from: number) => Array.from({ length: 500 }, (_, i): StateUpdate => ({ offset: BigInt(from + i), identity: `id-${i % 37}`, ts: T0 + i, tracks: tracks(`m${i % 7}`) }));
      await store.apply({ partition: 'p', updates: batch(0) });
      await store.commit({ partition: 'p', offset: 499n, breakers: new Map(), outbox: [] });
      sent.length = 0;
      await store.apply({ partition: 'p', updates: batch(500) });
      expect(sent).toStrictEqual(['evalsha']);
      await store.commit({ partition: 'p', offset: 999n, breakers: new Map([['id-1', 'x']]), outbox: [{ topic: 't', key: 'k', value: new Uint8Array(3) }] });
      expect(sent).toStrictEqual(['evalsha', 'evalsha']);
    } finally {
      await cleanup();
    }
  });

  it('refuses, before writing anything, an identity hash that belongs to another identity', async () => {
    const { store, prefix, cleanup } = await makeRedis();
    try {
      const base = partitionKey(prefix, 'p');
      await admin.hset(identityKey(base, 'victim'), IDENTITY_FIELD.id, 'someone-else');
      const ups: StateUpdate[] = [
        { offset: 0n, identity: 'innocent', ts: T0, tracks: tracks('m') },
        { offset: 1n, identity: 'victim', ts: T0, tracks: tracks('m') },
      ];
      await expect(store.apply({ partition: 'p', updates: ups })).rejects.toMatchObject({ code: 'STATE_KEY_COLLISION', retriable: false });
      expect((await keysUnder(prefix)).sort()).toStrictEqual([identityKey(base, 'victim')]);
      await expect(store.commit({ partition: 'p', offset: 1n, breakers: new Map([['victim', 'b']]), outbox: [] }))
        .rejects.toMatchObject({ code: 'STATE_KEY_COLLISION' });
      expect(await admin.hgetall(identityKey(base, 'victim'))).toStrictEqual({ _id: 'someone-else' });
    } finally {
      await cleanup();
    }
  });

  it('reports an unreachable Redis as a retriable STATE_REDIS error', async () => {
    const redis = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => {});
    const store = new RedisWindowStore({ redis, prefix: 'wtest-down' });
    await expect(store.apply({ partition: 'p', updates: [] })).rejects.toMatchObject({ code: 'STATE_REDIS', retriable: true });
    await expect(store.ping()).rejects.toMatchObject({ code: 'STATE_REDIS', retriable: true });
    redis.disconnect();
  });

  it('rejects a prefix outside [A-Za-z0-9:_-]{1,64}', () => {
    const redis = new Redis(url, { lazyConnect: true });
    expect(() => new RedisWindowStore({ redis, prefix: 'a{b}' })).toThrow(/prefix/);
    redis.disconnect();
  });
});
