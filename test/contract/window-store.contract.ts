import { mulberry32 } from '../../src/sim/prng.js';
import { describe, expect, it } from 'vitest';
import { MAX_EMPTY_FOLD, baselineView, foldBucket, newBaseline, rollBaseline } from '../../src/state/baseline.js';
import { MemoryWindowStore } from '../../src/state/memory-store.js';
import type {
  ApplyOutcome, BaselineParams, BaselineView, CounterView, IdentityView, OutboxRecord, StateUpdate, Track, WindowStore,
} from '../../src/state/types.js';

export type MakeStore = () => Promise<{ store: WindowStore; cleanup: () => Promise<void> }>;

const P = 'topic:0';

function viewOf(o: ApplyOutcome | undefined): IdentityView {
  if (!o || o.status !== 'view') throw new Error(`expected a view, got ${JSON.stringify(o)}`);
  return o.view;
}

/** Builds updates with increasing offsets. */
function updates(start = 0n) {
  let next = start;
  return (identity: string, ts: number, tracks: Track[]): StateUpdate => ({ offset: next++, identity, ts, tracks });
}

const counter = (key: string, windowMs: number, baseline?: BaselineParams): Track =>
  baseline ? { kind: 'counter', key, windowMs, baseline } : { kind: 'counter', key, windowMs };
const seen = (key: string, member: string, cap: number): Track => ({ kind: 'seen', key, member, cap });
const distinct = (key: string, windowMs: number, member: string, cap: number): Track => ({ kind: 'distinct', key, windowMs, member, cap });

const params = (p: Partial<BaselineParams>): BaselineParams => ({
  alpha: 0.5, slotAlpha: 0.5, learningPeriodMs: 1e12, minBuckets: 1000, learnZ: 0, ...p,
});

const HOUR = 3_600_000;
const DAY = 86_400_000;

/**
 * What one counter with a baseline shows after each event at `ts` (increasing:
 * the identity is first seen at ts[0]), computed with baseline.ts directly.
 */
function referenceViews(p: BaselineParams, windowMs: number, ts: readonly number[]): CounterView[] {
  const base = newBaseline();
  let b = NaN;
  let count = 0;
  let prev = 0;
  return ts.map((t) => {
    const idx = Math.floor(t / windowMs) * windowMs;
    if (Number.isNaN(b)) {
      b = idx;
    } else if (idx > b) {
      const gap = (idx - b) / windowMs;
      rollBaseline(base, count, gap, windowMs, p, b, ts[0]!);
      prev = gap === 1 ? count : 0;
      count = 0;
      b = idx;
    }
    count += 1;
    return { windowMs, bucketStart: b, count, prev, baseline: baselineView(base, b) };
  });
}

function rec(topic: string, key: string | null, bytes: number[], headers?: Record<string, string>): OutboxRecord {
  const r: OutboxRecord = { topic, key, value: new Uint8Array(bytes) };
  if (headers) r.headers = headers;
  return r;
}


export function windowStoreContract(name: string, make: MakeStore): void {
  const withStore = (fn: (store: WindowStore) => Promise<void>) => async () => {
    const { store, cleanup } = await make();
    try {
      await store.start();
      await fn(store);
    } finally {
      await cleanup();
    }
  };
  const applyViews = async (store: WindowStore, ups: StateUpdate[], partition = P) =>
    (await store.apply({ partition, updates: ups })).outcomes.map(viewOf);

  describe(`WindowStore contract: ${name}`, () => {
    it('rolls counters: the adjacent bucket is kept as prev, a gap zeroes it', withStore(async (store) => {
      const u = updates();
      const c = [counter('c', 1000)];
      const views = await applyViews(store, [u('a', 100, c), u('a', 200, c), u('a', 1500, c), u('a', 1600, c), u('a', 3500, c)]);
      expect(views.map((v) => v.counters.c)).toStrictEqual([
        { windowMs: 1000, bucketStart: 0, count: 1, prev: 0 },
        { windowMs: 1000, bucketStart: 0, count: 2, prev: 0 },
        { windowMs: 1000, bucketStart: 1000, count: 1, prev: 2 },
        { windowMs: 1000, bucketStart: 1000, count: 2, prev: 2 },
        { windowMs: 1000, bucketStart: 3000, count: 1, prev: 0 },
      ]);
    }));

    it('folds closed buckets, empty ones included, into the baseline', withStore(async (store) => {
      const u = updates();
      const c = [counter('b', 1000, params({}))];
      const ups = [0, 1, 2, 3].map((i) => u('a', 10 * i, c));
      ups.push(u('a', 1000, c), u('a', 1001, c), u('a', 3000, c));
      const views = await applyViews(store, ups);
      const flat = (n: number, mean: number, variance: number): BaselineView =>
        ({ n, mean, variance, expected: mean, noise: variance, expectedHigh: mean, noiseHigh: variance, slotN: 0, expectedLow: mean, level: 1 });
      expect(views[0]!.counters.b!.baseline).toStrictEqual(flat(0, 0, 0));
      expect(views[4]!.counters.b).toStrictEqual({ windowMs: 1000, bucketStart: 1000, count: 1, prev: 4, baseline: flat(1, 4, 0) });
      // fold(2): mean 4 + 0.5·(−2) = 3, var 0.5·(0 + 2) = 1; fold(0): 1.5, 0.5·(1 + 4.5) = 2.75. No hour has closed yet.
      expect(views[6]!.counters.b).toStrictEqual({ windowMs: 1000, bucketStart: 3000, count: 1, prev: 0, baseline: flat(3, 1.5, 2.75) });

      // A silence of 10000 buckets folds the closed bucket and at most MAX_EMPTY_FOLD empty ones.
      const far = viewOf((await store.apply({ partition: P, updates: [u('a', 10_003_000, c)] })).outcomes[0]).counters.b!;
      const ref = newBaseline();
      for (const [x, t] of [[4, 0], [2, 1000], [0, 2000], [1, 3000]] as const) foldBucket(ref, x, t, params({}), 0);
      for (let i = 1; i <= MAX_EMPTY_FOLD; i++) foldBucket(ref, 0, 3000 + i * 1000, params({}), 0);
      expect(far.baseline).toStrictEqual(baselineView(ref, 10_003_000));
      expect(far.baseline!.n).toBe(4 + MAX_EMPTY_FOLD);
    }));

    it('clips a bucket once learned at expected + learnZ sd + 1, and learns it whole before', withStore(async (store) => {
      const u = updates();
      const c = [counter('b', 1000, params({ learningPeriodMs: 0, minBuckets: 2, learnZ: 0 })), counter('l', 1000, params({ minBuckets: 2 }))];
      const ups = [u('a', 0, c), u('a', 1, c), u('a', 1000, c), u('a', 1001, c)];
      for (let i = 0; i < 10; i++) ups.push(u('a', 2000 + i, c));
      ups.push(u('a', 3000, c), u('a', 4000, c));
      const views = await applyViews(store, ups);
      const flat = (n: number, mean: number, variance: number): BaselineView =>
        ({ n, mean, variance, expected: mean, noise: variance, expectedHigh: mean, noiseHigh: variance, slotN: 0, expectedLow: mean, level: 1 });
      expect(views[13]!.counters.b!.baseline).toStrictEqual(flat(2, 2, 0));
      // Learned (n 2): the 10 is learned as 2 + 0·sqrt(max(0, 2)) + 1 = 3: mean 2.5, var 0.5·(0 + 1·0.5) = 0.25.
      expect(views[14]!.counters.b!.baseline).toStrictEqual(flat(3, 2.5, 0.25));
      // 1 is under the gate 3.5: mean 1.75, var 0.5·(0.25 + 1.5·0.75) = 0.6875.
      expect(views[15]!.counters.b!.baseline).toStrictEqual(flat(4, 1.75, 0.6875));
      // Still in its learning period: the 10 is learned whole.
      expect(views[14]!.counters.l!.baseline).toStrictEqual(flat(3, 6, 16));
    }));

    it('closes an hour into its slot once per hour and day; the hour under way is judged by earlier days', withStore(async (store) => {
      const u = updates();
      const W = 1_800_000;
      const c = [counter('b', W, params({}))];
      const ts = [0, 1, 2, 3, W, W + 1, HOUR, HOUR + W, DAY, DAY + 1, DAY + W, DAY + W + 1, DAY + HOUR, DAY + HOUR + W, 2 * DAY];
      const views = (await applyViews(store, ts.map((t) => u('a', t, c)))).map((v) => v.counters.b!);
      expect(views.map((v) => v.baseline)).toStrictEqual(referenceViews(params({}), W, ts).map((v) => v.baseline));
      // At HOUR + W hour 0 (buckets 4 and 2) closes: slot 3, var 10 − 9 = 1, k 1. Flat: 4, 2, 1 → mean 2, var 1.5.
      expect(views[7]!.baseline).toStrictEqual({ n: 3, mean: 2, variance: 1.5, expected: 2, noise: 1.5, expectedHigh: 3, noiseHigh: 1.5, slotN: 0, expectedLow: 2, level: 1 });
      // Day 1, hour 0 under way: day 0's slot speaks for it; hour 1 (1, 1) has slot 1, var 0.
      expect(views[8]!.baseline).toMatchObject({ expected: 3, noise: 1, slotN: 1 });
      // Day 1's hour 0 (2, 2) closed once though it had two buckets: k 2, w 1/2, d −1: slot 2.5, var 1 + 0.5·(0 + 1 − 1) = 1.
      expect(views[14]!.baseline).toMatchObject({ expected: 2.5, noise: 1, slotN: 2 });
    }));

    it('keeps the day\'s level: closed hours against what their slots expected, decayed, speaking once they expected enough', withStore(async (store) => {
      const u = updates();
      const W = 300_000;
      const c = [counter('b', W, params({}))];
      // Day 0: 6 per bucket all day (learned). Day 1: the same until 06:00, then 2 per bucket (a third) into 09:00, so three quiet hours have closed.
      const ts: number[] = [];
      for (let t = 0; t <= DAY + 9 * HOUR + W; t += W) {
        const n = t >= DAY + 6 * HOUR ? 2 : 6;
        for (let i = 0; i < n; i++) ts.push(t + i);
      }
      const views = (await applyViews(store, ts.map((t) => u('a', t, c)))).map((v) => v.counters.b!.baseline!);
      expect(views).toStrictEqual(referenceViews(params({}), W, ts).map((v) => v.baseline));
      // Before any hour closed it does not speak; by day 1 at 06:00 it is 1; three quiet hours bring it near a third.
      expect(views[0]!.level).toBe(1);
      const at = (t: number) => views[ts.findIndex((x) => x >= t)]!.level;
      expect(at(DAY + 6 * HOUR)).toBeCloseTo(1, 5);
      const last = views.at(-1)!.level;
      expect(last).toBeLessThan(0.5);
      expect(last).toBeGreaterThan(1 / 3);
    }));

    it('rounds slots and their variances to float32 after every update', withStore(async (store) => {
      const u = updates();
      const W = 1_200_000;
      const p = params({ slotAlpha: 0.3 });
      const c = [counter('b', W, p)];
      // Hour 0 on three days: buckets 1, 0, 0 (mean 1/3), then 2, 1, 0, then 7, 0, 0.
      const ts = [0, HOUR, DAY, DAY + 1, DAY + W, DAY + HOUR, 2 * DAY, 2 * DAY + 1, 2 * DAY + 2, 2 * DAY + 3, 2 * DAY + 4, 2 * DAY + 5, 2 * DAY + 6, 2 * DAY + HOUR, 3 * DAY];
      const views = (await applyViews(store, ts.map((t) => u('a', t, c)))).map((v) => v.counters.b!.baseline!);
      expect(views).toStrictEqual(referenceViews(p, W, ts).map((v) => v.baseline));
      expect(views[2]!.expected).toBe(Math.fround(1 / 3));
      expect(views[2]!.expected).not.toBe(1 / 3);
      expect(views[2]!.noise).toBe(Math.fround(1 / 3 - (1 / 3) * (1 / 3)));
      for (const v of views) {
        expect(Math.fround(v.expected) === v.expected || v.expected === v.mean).toBe(true);
        expect(Math.fround(v.noise) === v.noise || v.noise === v.variance).toBe(true);
      }
      expect(views[14]!.slotN).toBe(3);
      expect(Math.fround(views[14]!.expected)).toBe(views[14]!.expected);
    }));

    it('takes expectedHigh, noiseHigh and expectedLow from the neighbouring hours, across midnight', withStore(async (store) => {
      const u = updates();
      const c = [counter('b', HOUR, params({}))];
      // Day 0: 6 events at hour 0, 1 at hour 1, 9 at hour 23; day 1: 1 at hours 0, 1 and 23; day 2 at hour 0.
      const ts = [
        ...Array.from({ length: 6 }, (_, i) => i), HOUR, ...Array.from({ length: 9 }, (_, i) => 23 * HOUR + i),
        DAY, DAY + HOUR, 2 * DAY - HOUR, 2 * DAY,
      ];
      const views = (await applyViews(store, ts.map((t) => u('a', t, c)))).map((v) => v.counters.b!.baseline!);
      expect(views).toStrictEqual(referenceViews(params({}), HOUR, ts).map((v) => v.baseline));
      // Hour 23 on day 0: hour 0 (slot 6) is its neighbour after midnight.
      expect(views[7]).toMatchObject({ expectedHigh: 6, slotN: 0 });
      expect(views[7]!.expected).toBeLessThan(1);
      // ...and expectedLow the lowest of the three: this hour's, unlearned, at the flat mean.
      expect(views[7]!.expectedLow).toBe(views[7]!.expected);
      // Hour 0 on day 2 (slot 6, then 1: 3.5): hour 23 is its neighbour before midnight, with day 0's 9 (day 1's hour 23 is not closed yet).
      const last = views[ts.length - 1]!;
      expect(last.slotN).toBe(2);
      expect(last.expected).toBe(3.5);
      expect(last.expectedHigh).toBe(9);
      // Its variance: day 1 moved the slot by −5, so 0 + 0.5·(25 − 0).
      expect([last.noise, last.noiseHigh]).toStrictEqual([12.5, 12.5]);
    }));

    it('folds empty buckets across hours, at most MAX_EMPTY_FOLD of them', withStore(async (store) => {
      const u = updates();
      const W = 60_000;
      const p = params({ alpha: 0.25, slotAlpha: 0.1 });
      const c = [counter('b', W, p)];
      // 1000 silent buckets after minute 0: the folds end 512 minutes later, in hour 8.
      const ts = [0, 1, 2, W, 1001 * W, 1001 * W + 1, DAY + 3 * HOUR, DAY + 8 * HOUR, DAY + 12 * HOUR, DAY + 16 * HOUR + 5 * W];
      const views = (await applyViews(store, ts.map((t) => u('a', t, c)))).map((v) => v.counters.b!.baseline!);
      expect(views).toStrictEqual(referenceViews(p, W, ts).map((v) => v.baseline));
      expect(views[4]!.n).toBe(2 + MAX_EMPTY_FOLD);
      // Hours 0..7 closed by the empty folds, hour 8 when the minute-1001 bucket folded; 9..15 never saw a bucket.
      expect(views.slice(6).map((v) => v.slotN)).toStrictEqual([1, 1, 0, 1]);
    }));

    it('counts days per slot up to 255, then keeps weighting by slotAlpha', withStore(async (store) => {
      const u = updates();
      // slotAlpha 1/4: at k = 4 the weights 1/k and slotAlpha tie.
      const p = params({ slotAlpha: 0.25 });
      const c = [counter('b', HOUR, p)];
      const ts = Array.from({ length: 300 }, (_, d) => d * DAY + 5 * HOUR + (d % 7));
      const views = (await applyViews(store, ts.map((t) => u('a', t, c)))).map((v) => v.counters.b!);
      expect(views).toStrictEqual(referenceViews(p, HOUR, ts));
      expect(views.map((v) => v.baseline!.slotN).slice(250, 260)).toStrictEqual([250, 251, 252, 253, 254, 255, 255, 255, 255, 255]);
      expect(views[299]!.baseline!.slotN).toBe(255);
    }));

    it('gives the same baseline whether a counter is updated within one batch or across batches', withStore(async (store) => {
      const p = params({ alpha: 0.2, slotAlpha: 0.25, learningPeriodMs: DAY, minBuckets: 4, learnZ: 1 });
      const c = (key: string) => [counter(key, 900_000, p)];
      const rnd = mulberry32(11);
      const ts: number[] = [];
      let t = 5 * HOUR;
      for (let i = 0; i < 400; i++) {
        t += rnd() < 0.9 ? Math.floor(rnd() * 200_000) : Math.floor(rnd() * 20 * HOUR);
        ts.push(t);
      }
      const want = referenceViews(p, 900_000, ts);
      const u = updates();
      // One batch; one event per batch; random splits. One identity per way, so they share nothing.
      const one = await applyViews(store, ts.map((x) => u('one', x, c('k'))));
      const single: IdentityView[] = [];
      for (const x of ts) single.push(...await applyViews(store, [u('single', x, c('k'))]));
      const split: IdentityView[] = [];
      for (let i = 0; i < ts.length;) {
        const n = 1 + Math.floor(rnd() * 40);
        split.push(...await applyViews(store, ts.slice(i, i + n).map((x) => u('split', x, c('k')))));
        i += n;
      }
      for (const got of [one, single, split]) expect(got.map((v) => v.counters.k)).toStrictEqual(want);
      // The workload reaches learned slots and the clip.
      expect(want.some((v) => v.baseline!.slotN >= 3)).toBe(true);
    }), 60_000);

    it('counts late events into the current bucket and moves firstSeen back', withStore(async (store) => {
      const u = updates();
      const t = [counter('c', 1000), distinct('d', 1000, 'x', 5)];
      const views = await applyViews(store, [u('a', 5000, t), u('a', 5100, t), u('a', 3000, [counter('c', 1000), distinct('d', 1000, 'y', 5)])]);
      expect(views[2]).toStrictEqual({
        identity: 'a', firstSeen: 3000, events: 3,
        counters: { c: { windowMs: 1000, bucketStart: 5000, count: 3, prev: 0 } },
        seen: {},
        distinct: { d: { added: true, count: 2, prev: 0, bucketStart: 5000, windowMs: 1000 } },
      });
      expect(views[0]!.firstSeen).toBe(5000);
    }));

    it('keeps seen members up to the cap and reports full', withStore(async (store) => {
      const u = updates();
      const views = await applyViews(store, ['a', 'a', 'b', 'c', 'a'].map((m) => u('i', 1, [seen('s', m, 2)])));
      expect(views.map((v) => v.seen.s)).toStrictEqual([
        { added: true, size: 1, full: false },
        { added: false, size: 1, full: false },
        { added: true, size: 2, full: false },
        { added: false, size: 2, full: true },
        { added: false, size: 2, full: false },
      ]);
      const other = await applyViews(store, [u('j', 1, [seen('s', 'c', 2)])]);
      expect(other[0]!.seen.s).toStrictEqual({ added: true, size: 1, full: false });
    }));

    it('counts distinct members per bucket, capped', withStore(async (store) => {
      const u = updates();
      const d = (ts: number, m: string) => u('i', ts, [distinct('d', 1000, m, 2)]);
      const views = await applyViews(store, [d(0, 'x'), d(1, 'x'), d(2, 'y'), d(3, 'z'), d(1000, 'x'), d(3000, 'q')]);
      expect(views.map((v) => v.distinct.d)).toStrictEqual([
        { added: true, count: 1, prev: 0, bucketStart: 0, windowMs: 1000 },
        { added: false, count: 1, prev: 0, bucketStart: 0, windowMs: 1000 },
        { added: true, count: 2, prev: 0, bucketStart: 0, windowMs: 1000 },
        { added: false, count: 2, prev: 0, bucketStart: 0, windowMs: 1000 },
        { added: true, count: 1, prev: 2, bucketStart: 1000, windowMs: 1000 },
        { added: true, count: 1, prev: 0, bucketStart: 3000, windowMs: 1000 },
      ]);
    }));

    it('round-trips breaker snapshots through commit', withStore(async (store) => {
      const u = updates();
      const first = await store.apply({ partition: P, updates: [u('a', 1, []), u('b', 1, [])] });
      expect(first.outcomes).toStrictEqual([
        { status: 'view', view: { identity: 'a', firstSeen: 1, events: 1, counters: {}, seen: {}, distinct: {} }, breaker: null },
        { status: 'view', view: { identity: 'b', firstSeen: 1, events: 1, counters: {}, seen: {}, distinct: {} }, breaker: null },
      ]);
      await store.commit({ partition: P, offset: 1n, breakers: new Map([['a', '{"state":"open"}'], ['never-seen', 'x']]), outbox: [] });
      const second = await store.apply({ partition: P, updates: [u('a', 2, []), u('b', 2, []), u('never-seen', 2, [])] });
      expect(second.outcomes.map((o) => (o.status === 'view' ? o.breaker : 'done'))).toStrictEqual(['{"state":"open"}', null, 'x']);
      expect(viewOf(second.outcomes[2]).events).toBe(1);
    }));

    it('applies a redelivered batch once: pending views, then done', withStore(async (store) => {
      const u = updates(10n);
      const t = [counter('c', 1000), seen('s', 'm', 5)];
      const batch = [u('a', 1, t), u('a', 2, t), u('b', 3, t)];
      const first = await store.apply({ partition: P, updates: batch });
      expect(first.committed).toBeNull();
      const again = await store.apply({ partition: P, updates: batch });
      expect(again).toStrictEqual(first);
      const next = await applyViews(store, [u('a', 4, t)]);
      expect(next[0]!.events).toBe(3);
      expect(next[0]!.counters.c!.count).toBe(3);

      await store.commit({ partition: P, offset: 13n, breakers: new Map(), outbox: [] });
      const done = await store.apply({ partition: P, updates: [...batch, { ...batch[0]!, offset: 13n }] });
      expect(done).toStrictEqual({ outcomes: Array(4).fill({ status: 'done' }), committed: 13n });
    }));

    it('splits a batch that overlaps committed, pending and new offsets', withStore(async (store) => {
      const u = updates();
      const t = [counter('c', 1000)];
      const all = [0, 1, 2, 3, 4, 5].map((i) => u('a', i, t));
      const firstFour = await store.apply({ partition: P, updates: all.slice(0, 4) });
      await store.commit({ partition: P, offset: 1n, breakers: new Map([['a', 'b1']]), outbox: [] });
      const r = await store.apply({ partition: P, updates: all });
      expect(r.committed).toBe(1n);
      expect(r.outcomes.slice(0, 2)).toStrictEqual([{ status: 'done' }, { status: 'done' }]);
      // Pending views are returned as first computed, breaker included.
      expect(r.outcomes.slice(2, 4)).toStrictEqual(firstFour.outcomes.slice(2, 4));
      expect(r.outcomes.slice(4).map((o) => [viewOf(o).events, o.status === 'view' && o.breaker])).toStrictEqual([[5, 'b1'], [6, 'b1']]);
      await store.commit({ partition: P, offset: 5n, breakers: new Map(), outbox: [] });
      expect((await store.apply({ partition: P, updates: all })).outcomes.every((o) => o.status === 'done')).toBe(true);
    }));

    it('counts a forwarded update once per source offset: a re-published prefix is done, also across batches and a redo', withStore(async (store) => {
      const t = [counter('c', 1000)];
      const fwd = (offset: bigint, from: number, src: bigint, ts: number): StateUpdate => ({ offset, identity: 'a', ts, tracks: t, forwarded: { from, offset: src } });
      // Partition 2 forwarded its offsets 5, 6, 9; partition 4 its offset 5; then a crash re-published 2's 6 and 9, then 10.
      const first = [fwd(0n, 2, 5n, 1), fwd(1n, 2, 6n, 2), fwd(2n, 4, 5n, 3), { offset: 3n, identity: 'a', ts: 4, tracks: t }, fwd(4n, 2, 9n, 5)];
      const r1 = await store.apply({ partition: P, updates: first });
      expect(r1.outcomes.map((o) => (o.status === 'view' ? o.view.events : 'done'))).toStrictEqual([1, 2, 3, 4, 5]);
      const second = [fwd(5n, 2, 6n, 6), fwd(6n, 2, 9n, 7), fwd(7n, 4, 5n, 8), fwd(8n, 2, 10n, 9), fwd(9n, 4, 2n, 10)];
      const r2 = await store.apply({ partition: P, updates: second });
      expect(r2.outcomes.map((o) => (o.status === 'view' ? o.view.events : 'done'))).toStrictEqual(['done', 'done', 'done', 6, 'done']);
      expect(viewOf(r2.outcomes[3]).counters.c!.count).toBe(6);
      // Redelivered before a commit: the same outcomes, repeats included, nothing counted again.
      expect(await store.apply({ partition: P, updates: [...first, ...second] })).toStrictEqual({ outcomes: [...r1.outcomes, ...r2.outcomes], committed: null });
      await store.commit({ partition: P, offset: 6n, breakers: new Map(), outbox: [] });
      const r3 = await store.apply({ partition: P, updates: [...second, fwd(10n, 2, 11n, 11), fwd(11n, 4, 6n, 12)] });
      expect(r3.outcomes.map((o) => (o.status === 'view' ? o.view.events : 'done'))).toStrictEqual(['done', 'done', 'done', 6, 'done', 7, 8]);
      // Marks are per partition of the state: another partition counts its own forwards.
      const other = await store.apply({ partition: 'topic:1', updates: [{ offset: 0n, identity: 'b', ts: 1, tracks: [], forwarded: { from: 2, offset: 6n } }] });
      expect(viewOf(other.outcomes[0]).events).toBe(1);
    }));

    it('keeps an outbox record\'s explicit partition', withStore(async (store) => {
      const r: OutboxRecord = { topic: 'actions', key: 'a', value: new Uint8Array([1, 2]), headers: { 'warden-forwarded-from': '3' }, partition: 5 };
      await store.commit({ partition: P, offset: 0n, breakers: new Map(), outbox: [r, rec('decisions', 'a', [3])] });
      expect(await store.pendingOutbox(P, 10)).toStrictEqual([{ seq: 0n, record: r }, { seq: 1n, record: rec('decisions', 'a', [3]) }]);
    }));

    it('refuses an applied offset whose view is no longer pending', withStore(async (store) => {
      await store.apply({ partition: P, updates: [{ offset: 5n, identity: 'a', ts: 1, tracks: [] }] });
      await expect(store.apply({ partition: P, updates: [{ offset: 3n, identity: 'a', ts: 1, tracks: [] }] }))
        .rejects.toMatchObject({ code: 'STATE_INCONSISTENT' });
    }));

    it('keeps the outbox in order until acknowledged', withStore(async (store) => {
      const r1 = rec('commands', 'a', [0, 255, 1, 128], { h: 'v' });
      const r2 = rec('decisions', null, []);
      const r3 = rec('alerts', 'k', [7]);
      expect(await store.pendingOutbox(P, 10)).toStrictEqual([]);
      await store.commit({ partition: P, offset: 0n, breakers: new Map(), outbox: [r1, r2, r3] });
      expect(await store.pendingOutbox(P, 10)).toStrictEqual([{ seq: 0n, record: r1 }, { seq: 1n, record: r2 }, { seq: 2n, record: r3 }]);
      expect(await store.pendingOutbox(P, 2)).toStrictEqual([{ seq: 0n, record: r1 }, { seq: 1n, record: r2 }]);
      await store.ackOutbox(P, 1n);
      expect(await store.pendingOutbox(P, 10)).toStrictEqual([{ seq: 2n, record: r3 }]);
      await store.commit({ partition: P, offset: 1n, breakers: new Map(), outbox: [r1, r2] });
      expect((await store.pendingOutbox(P, 10)).map((e) => e.seq)).toStrictEqual([2n, 3n, 4n]);
      await store.ackOutbox(P, 0n);
      expect((await store.pendingOutbox(P, 10)).map((e) => e.seq)).toStrictEqual([2n, 3n, 4n]);
      await store.ackOutbox(P, 100n);
      expect(await store.pendingOutbox(P, 10)).toStrictEqual([]);
      await store.commit({ partition: P, offset: 2n, breakers: new Map(), outbox: [r3] });
      expect(await store.pendingOutbox(P, 10)).toStrictEqual([{ seq: 5n, record: r3 }]);
      expect(await store.pendingOutbox('topic:1', 10)).toStrictEqual([]);
    }));

    it('says where a commit put its records and what was waiting before them', withStore(async (store) => {
      const r = rec('decisions', 'a', [1]);
      expect(await store.commit({ partition: P, offset: 0n, breakers: new Map(), outbox: [r, r] })).toStrictEqual({ first: 0n, head: 0n });
      expect(await store.commit({ partition: P, offset: 1n, breakers: new Map(), outbox: [] })).toStrictEqual({ first: 2n, head: 0n });
      await store.ackOutbox(P, 0n);
      expect(await store.commit({ partition: P, offset: 2n, breakers: new Map(), outbox: [r] })).toStrictEqual({ first: 2n, head: 1n });
      await store.ackOutbox(P, 2n);
      expect(await store.commit({ partition: P, offset: 3n, breakers: new Map(), outbox: [r] })).toStrictEqual({ first: 3n, head: 3n });
      expect(await store.commit({ partition: 'topic:1', offset: 0n, breakers: new Map(), outbox: [] })).toStrictEqual({ first: 0n, head: 0n });
    }));

    it('tracks the committed offset per partition, never backwards', withStore(async (store) => {
      await store.ping();
      expect(await store.committedOffset(P)).toBeNull();
      await store.commit({ partition: P, offset: 41n, breakers: new Map(), outbox: [] });
      await store.commit({ partition: P, offset: 7n, breakers: new Map(), outbox: [] });
      expect(await store.committedOffset(P)).toBe(41n);
      expect(await store.committedOffset('topic:1')).toBeNull();
      await store.commit({ partition: 'topic:1', offset: 2n ** 62n, breakers: new Map(), outbox: [] });
      expect(await store.committedOffset('topic:1')).toBe(2n ** 62n);
      const r = await store.apply({ partition: P, updates: [{ offset: 41n, identity: 'a', ts: 1, tracks: [] }] });
      expect(r).toStrictEqual({ outcomes: [{ status: 'done' }], committed: 41n });
    }));

    it('never mixes identities or track keys, whatever their characters', withStore(async (store) => {
      const ids = ['{p:0}', '}{', 'a:b', 'a', 'line\nbreak', '', ':', 'ünï🤖', 'x'.repeat(2000), 'x'.repeat(1999) + 'y', 'topic:0}:i:abc'];
      const u = updates();
      const t = (m: string) => [counter('a', 1000), counter('a|c', 1000), counter('{a}', 1000), seen('s', m, 10), seen('s|c', m, 10), distinct('s', 1000, m, 10)];
      const round1 = await applyViews(store, ids.map((id) => u(id, 1, t(id))));
      const round2 = await applyViews(store, ids.map((id) => u(id, 2, t('same'))));
      round1.forEach((v, i) => {
        expect(v.identity).toBe(ids[i]);
        expect(v.events).toBe(1);
        expect(Object.values(v.counters).map((c) => c.count)).toStrictEqual([1, 1, 1]);
        expect([v.seen.s!.size, v.seen['s|c']!.size, v.distinct.s!.count]).toStrictEqual([1, 1, 1]);
      });
      round2.forEach((v) => {
        expect([v.events, v.counters.a!.count, v.counters['a|c']!.count, v.seen.s!.size, v.distinct.s!.count]).toStrictEqual([2, 2, 2, 2, 2]);
      });
    }));

    it('matches the memory store exactly on a random workload (parity)', withStore(async (store) => {
      await runParity(store, 20240601, 3000);
    }), 120_000);
  });
}

/** Random updates, batches, redeliveries and commits, through the memory store (oracle) and the store under test. */
export async function runParity(store: WindowStore, seed: number, total: number): Promise<void> {
  const rnd = mulberry32(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const oracle = new MemoryWindowStore();
  const p1: BaselineParams = { alpha: 0.3, slotAlpha: 0.2, learningPeriodMs: 3_600_000, minBuckets: 3, learnZ: 3 };
  const p2: BaselineParams = { alpha: 0.1, slotAlpha: 0.05, learningPeriodMs: 0, minBuckets: 2, learnZ: 0.5 };
  const members = ['read', 'write', 'db:prod', 'crm', 'x/y', '', '🙂', 'm:{1}'];
  const templates: Array<(m: string) => Track> = [
    () => counter('rate:a:read', 60_000, p1),
    () => counter('rate:a:write', 300_000, p2),
    () => counter('rate:limit:0', 10_000),
    (m) => seen('scope:act', m, 4),
    (m) => seen('scope:p1', m, 2),
    (m) => seen('scope:p2', m, 6),
    (m) => distinct('chain:children', 60_000, m, 3),
    (m) => distinct('fan', 5_000, m, 1),
  ];
  const identities = Array.from({ length: 50 }, (_, i) => (i % 10 === 9 ? `weird:{${i}}\n${'é'.repeat(i)}` : `agent-${i}`));
  const clock = new Map<string, number>();
  const all: StateUpdate[] = [];
  // A fifth of the updates come forwarded from three partitions, now and then re-published from a little back.
  const fr = mulberry32(seed ^ 0x5f0e);
  const sources = [0n, 0n, 0n];
  let id = pick(identities);
  for (let i = 0; i < total; i++) {
    if (rnd() > 0.7) id = pick(identities);
    let t = clock.get(id) ?? 1_700_000_000_000 + int(1e9);
    const r = rnd();
    if (r < 0.55) t += int(5_000);
    else if (r < 0.8) t += int(120_000);
    else if (r < 0.92) t += int(3 * 3_600_000);
    else if (r < 0.95) t += int(4 * 86_400_000);
    clock.set(id, t);
    const ts = r >= 0.95 ? t - int(600_000) : t;
    const tracks = templates.filter(() => rnd() < 0.45).map((f) => f(pick(members)));
    const u: StateUpdate = { offset: BigInt(i) + 100n, identity: id, ts, tracks };
    if (fr() < 0.2) {
      const from = Math.floor(fr() * 3);
      if (fr() < 0.15) sources[from] = sources[from]! > 5n ? sources[from]! - BigInt(1 + Math.floor(fr() * 5)) : 0n;
      u.forwarded = { from: from + 1, offset: sources[from]!++ };
    }
    all.push(u);
  }

  let applied = 0;
  let committed = 0;
  let step = 0;
  while (committed < all.length) {
    step++;
    const start = rnd() < 0.15 ? Math.max(0, committed - int(4)) : applied;
    const end = Math.min(all.length, Math.max(applied, start) + 1 + int(150));
    const batch = { partition: P, updates: all.slice(start, end) };
    const want = await oracle.apply(batch);
    const got = await store.apply(batch);
    expect(got, `step ${step}, offsets ${start}..${end - 1}`).toStrictEqual(want);
    applied = Math.max(applied, end);
    if (rnd() < 0.2) continue;
    const upto = Math.max(1, rnd() < 0.15 ? committed + int(applied - committed) : applied);
    const breakers = new Map<string, string>();
    for (const u of batch.updates) if (rnd() < 0.05) breakers.set(u.identity, `b${step}:${int(1000)}`);
    const outbox = Array.from({ length: int(3) }, () => rec(pick(['commands', 'decisions']), rnd() < 0.3 ? null : pick(identities), [int(256), int(256)]));
    const commit = { partition: P, offset: all[upto - 1]!.offset, breakers, outbox };
    await oracle.commit(commit);
    await store.commit(commit);
    committed = Math.max(committed, upto);
    if (rnd() < 0.3) {
      const limit = 1 + int(5);
      const pending = await oracle.pendingOutbox(P, limit);
      expect(await store.pendingOutbox(P, limit)).toStrictEqual(pending);
      if (pending.length > 0) {
        const seq = pick(pending).seq;
        await oracle.ackOutbox(P, seq);
        await store.ackOutbox(P, seq);
      }
    }
  }
  expect(await store.committedOffset(P)).toBe(await oracle.committedOffset(P));
  expect(await store.pendingOutbox(P, 1000)).toStrictEqual(await oracle.pendingOutbox(P, 1000));
}
