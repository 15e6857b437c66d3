import { describe, expect, it } from 'vitest';
import { ClassBatch } from '../../src/pipeline/class-batch.js';
import { MemoryClassStore, type ClassCounterBatch, type ClassCounterSpec, type ClassObservation, type ClassStore } from '../../src/state/class-store.js';
import { mulberry32 } from '../../src/sim/prng.js';
import type { BaselineParams, ClassTrack } from '../../src/state/types.js';

export type MakeClassStore = () => Promise<{ store: ClassStore; cleanup: () => Promise<void> }>;

const T = Date.UTC(2026, 10, 22, 12);
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const W = 5 * MIN;

const PARAMS: BaselineParams = { alpha: 0.02, slotAlpha: 0.2, learningPeriodMs: DAY, minBuckets: 12, learnZ: 3 };
/** alpha 1/2 and no learning gate: EWMA values that can be worked out by hand. */
const HALF: BaselineParams = { alpha: 0.5, slotAlpha: 0.2, learningPeriodMs: 1000 * DAY, minBuckets: 1e9, learnZ: 3 };

type Runs = Record<string, { spec: ClassCounterSpec; runs: number[] }>;

/** `{ cls: { key: {spec, runs} } }` and `{ cls: { identity: ts } }` → an observation at `at`. */
function obs(counters: Record<string, Runs>, active: Record<string, Record<string, number>>, at: number, activeWindowMs = HOUR): ClassObservation {
  const c = new Map<string, Map<string, ClassCounterBatch>>();
  for (const [cls, byKey] of Object.entries(counters)) c.set(cls, new Map(Object.entries(byKey)));
  const a = new Map<string, Map<string, number>>();
  for (const [cls, ids] of Object.entries(active)) a.set(cls, new Map(Object.entries(ids)));
  return { counters: c, active: a, at, activeWindowMs };
}

/** A store that checks every observe against the reference, value for value (Object.is: floats bit for bit). */
function checked(store: ClassStore): { store: ClassStore; views: () => number } {
  const ref = new MemoryClassStore();
  let views = 0;
  return {
    views: () => views,
    store: {
      async observe(o) {
        const [got, want] = await Promise.all([store.observe(o), ref.observe(o)]);
        expect(got).toStrictEqual(want);
        expect([...got.keys()]).toStrictEqual([...want.keys()]);
        for (const s of got.values()) views += s.counters.size;
        return got;
      },
    },
  };
}

/**
 * What every ClassStore must do, so the embedded pipeline (memory) and the
 * service (Redis) give detectors the same class state, floats included.
 */
export function classStoreContract(name: string, make: MakeClassStore): void {
  const withStore = (fn: (store: ClassStore) => Promise<void>) => async () => {
    const { store, cleanup } = await make();
    try {
      await fn(store);
    } finally {
      await cleanup();
    }
  };

  describe(`ClassStore contract: ${name}`, () => {
    it('an empty observation returns nothing', withStore(async (store) => {
      expect((await store.observe(obs({}, {}, T))).size).toBe(0);
    }));

    it('returns each counter as it was before the batch: absent when new, then firstSeen and the view before', withStore(async (store) => {
      const spec = { windowMs: W };
      const first = await store.observe(obs({ c: { k: { spec, runs: [T, 3] } } }, { c: { a: T } }, T));
      expect(first).toStrictEqual(new Map([['c', { active: 1, counters: new Map() }]]));
      const second = await store.observe(obs({ c: { k: { spec, runs: [T, 2, T + W, 5] } } }, { c: { a: T + W } }, T + W));
      expect(second.get('c')!.counters).toStrictEqual(new Map([['k', { firstSeen: T, view: { windowMs: W, bucketStart: T, count: 3, prev: 0 } }]]));
      const third = await store.observe(obs({ c: { k: { spec, runs: [T + W, 1] } } }, { c: { a: T + W } }, T + W));
      // The batch before added 2 to bucket T (5 in all), then rolled: prev 5, 5 in T+W.
      expect(third.get('c')!.counters.get('k')).toStrictEqual({ firstSeen: T, view: { windowMs: W, bucketStart: T + W, count: 5, prev: 5 } });
    }));

    it('rolls buckets with gaps: prev only for the adjacent bucket; a late run counts in the current bucket', withStore(async (store) => {
      const spec = { windowMs: W };
      const view = async (runs: number[], at: number) => (await store.observe(obs({ c: { k: { spec, runs } } }, { c: { a: at } }, at))).get('c')!.counters.get('k')?.view;
      expect(await view([T, 4], T)).toBeUndefined();
      // Two buckets later: prev 0. Then a late run (bucket T) joins the current bucket.
      expect(await view([T + 3 * W, 2, T, 1], T + 3 * W)).toStrictEqual({ windowMs: W, bucketStart: T, count: 4, prev: 0 });
      expect(await view([T + 4 * W, 1], T + 4 * W)).toStrictEqual({ windowMs: W, bucketStart: T + 3 * W, count: 3, prev: 0 });
      expect(await view([T + 10 * W, 1], T + 10 * W)).toStrictEqual({ windowMs: W, bucketStart: T + 4 * W, count: 1, prev: 3 });
      expect(await view([T + 11 * W, 1], T + 11 * W)).toStrictEqual({ windowMs: W, bucketStart: T + 10 * W, count: 1, prev: 0 });
    }));

    it('folds closed buckets, empty ones included, into the baseline and closes an hour into its slot', withStore(async (store) => {
      const spec = { windowMs: W, baseline: HALF };
      const base = async (runs: number[], at: number) => (await store.observe(obs({ c: { k: { spec, runs } } }, { c: { a: at } }, at))).get('c')!.counters.get('k')!;
      await store.observe(obs({ c: { k: { spec, runs: [T, 3] } } }, { c: { a: T } }, T));
      // Nothing closed yet: a baseline of no buckets.
      expect((await base([T + W, 5], T + W)).view.baseline).toStrictEqual({ n: 0, mean: 0, variance: 0, expected: 0, noise: 0, expectedHigh: 0, noiseHigh: 0, slotN: 0, expectedLow: 0, level: 1 });
      // 3 closed; then 5 and one empty bucket (T+2W) fold in: means 3, 4, 2; variances 0, 1, 4.5.
      expect((await base([T + 3 * W, 1], T + 3 * W)).view.baseline).toStrictEqual({ n: 1, mean: 3, variance: 0, expected: 3, noise: 0, expectedHigh: 3, noiseHigh: 0, slotN: 0, expectedLow: 3, level: 1 });
      const c = await base([T + 13 * W, 1], T + 13 * W);
      expect(c.view).toMatchObject({ bucketStart: T + 3 * W, count: 1, prev: 0 });
      expect(c.view.baseline).toStrictEqual({ n: 3, mean: 2, variance: 4.5, expected: 2, noise: 4.5, expectedHigh: 2, noiseHigh: 4.5, slotN: 0, expectedLow: 2, level: 1 });
      // Buckets T..T+11W (hour 12: 3 5 0 1, then 8 empty) folded, and T+12W opened hour 13, closing hour 12 into its slot.
      const d = await base([T + 14 * W, 1], T + 14 * W);
      expect(d.view.baseline!.n).toBe(13);
      // Hour 13 has no day yet (its own flat moments); hour 12, its neighbour, has one: 9/12 events a bucket, float32.
      expect(d.view.baseline!.slotN).toBe(0);
      expect(d.view.baseline!.expectedHigh).toBe(Math.max(0.75, d.view.baseline!.mean));
      expect(d.view.baseline!.noiseHigh).toBe(Math.max(Math.fround(35 / 12 - 0.75 * 0.75), d.view.baseline!.variance));
      expect(d.firstSeen).toBe(T);
    }));

    it('caps the empty buckets folded after a long silence, as the identity counter does', withStore(async (store) => {
      const { store: s } = checked(store);
      const spec = { windowMs: MIN, baseline: PARAMS };
      await s.observe(obs({ c: { k: { spec, runs: [T, 3] } } }, { c: { a: T } }, T));
      // 3 days of one-minute buckets: far more than MAX_EMPTY_FOLD.
      await s.observe(obs({ c: { k: { spec, runs: [T + 3 * DAY, 1] } } }, { c: { a: T + 3 * DAY } }, T + 3 * DAY));
      const got = await s.observe(obs({ c: { k: { spec, runs: [T + 3 * DAY + MIN, 1] } } }, { c: { a: T + 3 * DAY + MIN } }, T + 3 * DAY + MIN));
      expect(got.get('c')!.counters.get('k')!.view.baseline!.n).toBe(1 + 512);
    }));

    it('gives bit-identical views to the reference over days of random batches (seeded), float32 slots included', withStore(async (store) => {
      const { store: s, views } = checked(store);
      const rng = mulberry32(20261122);
      const classes = ['web', 'role/DataPipeline', '}'];
      const tracks: ClassTrack[] = [
        { key: 'r:s:read', windowMs: W, baseline: PARAMS },
        { key: 'r:l:read', windowMs: HOUR },
        { key: 'r:s:write', windowMs: W, baseline: { ...PARAMS, alpha: 0.1, learnZ: 2 } },
      ];
      let fractional = 0;
      let slotted = 0;
      let ts = T - 7 * HOUR;
      const end = T + 4 * DAY;
      while (ts < end) {
        const batch = new ClassBatch(s, HOUR);
        const events = 1 + Math.floor(rng() * 60);
        const notes: Array<[string, string, number, ClassTrack[]]> = [];
        for (let e = 0; e < events; e++) {
          // Busier in the (UTC) working day, so the hour-of-day slots differ; now and then a silence.
          const h = Math.floor((ts % DAY) / HOUR);
          const busy = h >= 8 && h < 18 ? 4 : 1;
          ts += Math.floor((rng() * 10 * MIN) / busy);
          if (rng() < 0.005) ts += Math.floor(rng() * 30 * HOUR);
          const cls = classes[Math.floor(rng() * classes.length)]!;
          const id = `id-${Math.floor(rng() * 12)}`;
          // Identities' events arrive interleaved: a few ms to minutes out of order across identities.
          const at = ts - Math.floor(rng() * 3 * MIN);
          const mine = tracks.filter(() => rng() < 0.7);
          notes.push([cls, id, at, mine]);
        }
        for (const [cls, id, at, mine] of notes) batch.note(cls, id, at, mine);
        await batch.observe();
        for (const [cls, , at, mine] of notes) {
          const p = batch.peersAt(cls, at, mine);
          for (const v of Object.values(p.counters)) {
            const b = v.baseline;
            if (!b) continue;
            if (!Number.isInteger(b.expected) && Math.fround(b.expected) === b.expected) fractional++;
            if (b.slotN > 0) slotted++;
          }
        }
      }
      // The workload reached learned, hour-of-day slots with float32 expectations.
      expect(views()).toBeGreaterThan(200);
      expect(slotted).toBeGreaterThan(50);
      expect(fractional).toBeGreaterThan(20);
    }));

    it('counts identities whose latest event is in (at - window, at], keeping each one\'s latest (GT), pruning as time moves', withStore(async (store) => {
      const w = 10 * SEC;
      const active = async (ids: Record<string, number>, at: number) => (await store.observe(obs({}, { c: ids }, at, w))).get('c')!.active;
      expect(await active({ edge: T - w, inside: T - w + 1, now: T, old: T - 5 * w }, T)).toBe(2);
      expect(await active({ now: T }, T)).toBe(2);
      // A late event never lowers an identity's latest time.
      expect(await active({ inside: T - 5 * w }, T)).toBe(2);
      expect(await active({ now: T + 1 }, T + 1)).toBe(1);
      expect(await active({ x: T + 100 * w }, T + 100 * w)).toBe(1);
    }));

    it('keeps several classes in one batch apart; a class without counters gets its active count', withStore(async (store) => {
      const { store: s } = checked(store);
      const spec = { windowMs: W };
      await s.observe(obs({ a: { k: { spec, runs: [T, 1] } }, b: { k: { spec, runs: [T, 7] } } }, { a: { x: T }, b: { x: T, y: T }, c: { z: T } }, T));
      const got = await s.observe(obs({ a: { k: { spec, runs: [T, 1] } }, b: { j: { spec, runs: [T, 1] } } }, { a: { x: T }, b: { y: T }, c: { z: T, w: T } }, T));
      expect(got.get('a')).toStrictEqual({ active: 1, counters: new Map([['k', { firstSeen: T, view: { windowMs: W, bucketStart: T, count: 1, prev: 0 } }]]) });
      expect(got.get('b')).toStrictEqual({ active: 2, counters: new Map() });
      expect(got.get('c')).toStrictEqual({ active: 2, counters: new Map() });
      // A class named only by counters is counted as it stands.
      const only = await s.observe(obs({ b: { k: { spec, runs: [T + W, 1] } } }, {}, T + W));
      expect(only.get('b')).toStrictEqual({ active: 2, counters: new Map([['k', { firstSeen: T, view: { windowMs: W, bucketStart: T, count: 7, prev: 0 } }]]) });
    }));

    it('keeps a counter\'s baseline as created: one made without never gets one, one made with keeps it', withStore(async (store) => {
      const { store: s } = checked(store);
      const plain = { windowMs: W };
      const learned = { windowMs: W, baseline: PARAMS };
      await s.observe(obs({ c: { p: { spec: plain, runs: [T, 1] }, l: { spec: learned, runs: [T, 2] } } }, { c: { a: T } }, T));
      await s.observe(obs({ c: { p: { spec: learned, runs: [T + W, 1] }, l: { spec: plain, runs: [T + 2 * W, 2] } } }, { c: { a: T } }, T + 2 * W));
      const got = await s.observe(obs({ c: { p: { spec: learned, runs: [T + 3 * W, 1] }, l: { spec: learned, runs: [T + 3 * W, 2] } } }, { c: { a: T } }, T + 3 * W));
      expect(got.get('c')!.counters.get('p')!.view.baseline).toBeUndefined();
      expect(got.get('c')!.counters.get('l')!.view.baseline).toMatchObject({ n: 0 });
    }));

    it('takes any class, identity or counter name: no two collide', withStore(async (store) => {
      const { store: s } = checked(store);
      const names = ['role/DataPipeline', '}', '{c}', '{c}:k:', 'a}b', 'ü-🚀-日本', 'u\u0308-🚀-日本', 'a\nb', '*', ''];
      const spec = { windowMs: W, baseline: PARAMS };
      const counters = Object.fromEntries(names.map((n, i) => [n, { [n]: { spec, runs: [T, i + 1] }, [`${n}|C`]: { spec: { windowMs: W }, runs: [T, 100 + i] } }]));
      const active = Object.fromEntries(names.map((n, i) => [n, Object.fromEntries(names.slice(0, i + 1).map((id) => [id, T]))]));
      await s.observe(obs(counters, active, T));
      const got = await s.observe(obs(counters, active, T));
      names.forEach((n, i) => {
        const c = got.get(n)!;
        expect(c.active).toBe(i + 1);
        expect(c.counters.get(n)!.view.count).toBe(i + 1);
        expect(c.counters.get(`${n}|C`)!.view.count).toBe(100 + i);
      });
    }));
  });
}

