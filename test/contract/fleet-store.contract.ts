import { describe, expect, it } from 'vitest';
import { suspendedAt, type FleetObservation, type FleetStore, type FleetView } from '../../src/state/fleet.js';

export type MakeFleetStore = () => Promise<{ store: FleetStore; cleanup: () => Promise<void> }>;

const T = Date.UTC(2026, 10, 22, 12);
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;

/** `{ cls: { identity: ts } }` → an observation with every class at `at`. */
function obs(active: Record<string, Record<string, number>>, at: number, activeWindowMs: number): FleetObservation {
  const m = new Map<string, Map<string, number>>();
  for (const [cls, ids] of Object.entries(active)) m.set(cls, new Map(Object.entries(ids)));
  return { active: m, at: new Map([...m.keys()].map((cls) => [cls, at])), activeWindowMs };
}

/** A view as plain data, open entries sorted, for toEqual. */
function plain(v: FleetView | undefined): { active: number; open: Record<string, number> } | undefined {
  if (!v) return undefined;
  return { active: v.active, open: Object.fromEntries([...v.open].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
}

function plainAll(m: Map<string, FleetView>): Record<string, ReturnType<typeof plain>> {
  return Object.fromEntries([...m].map(([k, v]) => [k, plain(v)]));
}

/**
 * What every FleetStore must do, so the embedded pipeline (memory) and the
 * service (Redis) count a class the same way.
 */
export function fleetStoreContract(name: string, make: MakeFleetStore): void {
  const withStore = (fn: (store: FleetStore) => Promise<void>) => async () => {
    const { store, cleanup } = await make();
    try {
      await fn(store);
    } finally {
      await cleanup();
    }
  };

  describe(`FleetStore contract: ${name}`, () => {
    it('an empty observation counts nothing', withStore(async (store) => {
      expect((await store.observe(obs({}, T, 60 * SEC))).size).toBe(0);
    }));

    it('counts identities whose latest event is in (at - window, at]: the lower bound is excluded', withStore(async (store) => {
      const w = 10 * SEC;
      const got = await store.observe(obs({ c: { edge: T - w, inside: T - w + 1, now: T, old: T - 5 * w } }, T, w));
      expect(plainAll(got)).toEqual({ c: { active: 2, open: {} } });
      // The pruned ones are gone; identities seen again count once each.
      const again = await store.observe(obs({ c: { now: T, inside: T - w + 1 } }, T, w));
      expect(again.get('c')!.active).toBe(2);
      // One ms later `inside` is on the bound, and out.
      expect((await store.observe(obs({ c: { now: T + 1 } }, T + 1, w))).get('c')!.active).toBe(1);
    }));

    it('keeps each identity\'s latest time (GT): an older or late event never lowers it', withStore(async (store) => {
      const w = 60 * SEC;
      await store.observe(obs({ c: { a: T + 100 * SEC, b: T + 10 * SEC } }, T + 100 * SEC, w));
      // A late event of a (ts long before its latest) arrives in a batch whose latest is b's.
      const got = await store.observe(obs({ c: { a: T, b: T + 130 * SEC } }, T + 130 * SEC, w));
      // a's latest is still T+100s, inside (T+70s, T+130s]; had it been lowered to T it would be pruned.
      expect(got.get('c')!.active).toBe(2);
      // Later: a ages out on its own latest time (T+100s), not on the late event.
      const later = await store.observe(obs({ c: { b: T + 160 * SEC } }, T + 160 * SEC, w));
      expect(later.get('c')!.active).toBe(1);
      // And a higher time does move it forward.
      await store.observe(obs({ c: { a: T + 200 * SEC } }, T + 200 * SEC, w));
      const end = await store.observe(obs({ c: { b: T + 215 * SEC } }, T + 215 * SEC, w));
      expect(end.get('c')!.active).toBe(2);
    }));

    it('prunes as time moves on: a class that went quiet counts 0 active once its window has passed', withStore(async (store) => {
      const w = 60 * SEC;
      const ids = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`id-${i}`, T + i * SEC]));
      expect((await store.observe(obs({ c: ids }, T + 19 * SEC, w))).get('c')!.active).toBe(20);
      // At T+70s, ids 0..10 (ts <= T+10s) are out.
      expect((await store.observe(obs({ c: { 'id-19': T + 19 * SEC } }, T + 70 * SEC, w))).get('c')!.active).toBe(9);
      // Far later only the identity of this batch is active.
      expect((await store.observe(obs({ c: { fresh: T + 3600 * SEC } }, T + 3600 * SEC, w))).get('c')!.active).toBe(1);
      // Going back in time does not bring pruned identities back.
      expect((await store.observe(obs({ c: { fresh: T } }, T + 20 * SEC, w))).get('c')!.active).toBe(1);
    }));

    it('keeps whole-identity suspensions fleet-wide for the chains that name them: since the first of an unbroken run, the latest end wins, ended ones are not in force', withStore(async (store) => {
      const plainC = async (ids: string[], at: number) => Object.fromEntries(await store.cascading(ids, at));
      expect((await store.cascading([], T)).size).toBe(0);
      await store.suspended([
        { agentClass: null, identity: 'root', until: T + HOUR, cascade: true, since: T },
        { agentClass: null, identity: 'other', until: T + 10 * MIN, cascade: true, since: T - MIN },
        // A class count only: not a cascade.
        { agentClass: 'mailer', identity: 'mail-1', until: T + HOUR },
      ]);
      expect(await plainC(['root', 'other', 'mail-1', 'nobody'], T)).toEqual({ root: { since: T, until: T + HOUR }, other: { since: T - MIN, until: T + 10 * MIN } });
      // In force only past the asking time.
      expect(await plainC(['root', 'other'], T + 20 * MIN)).toEqual({ root: { since: T, until: T + HOUR } });
      // A later command of the same run moves the end and keeps the start.
      await store.suspended([{ agentClass: null, identity: 'root', until: T + 2 * HOUR, cascade: true, since: T + 30 * MIN }]);
      expect(await plainC(['root'], T)).toEqual({ root: { since: T, until: T + 2 * HOUR } });
      // A resume ends it now, though the suspension would have lasted longer; the next run starts afresh.
      await store.suspended([{ agentClass: null, identity: 'root', until: T + 40 * MIN, cascade: true }]);
      expect((await store.cascading(['root'], T + 41 * MIN)).size).toBe(0);
      expect(await plainC(['root'], T)).toEqual({});
      await store.suspended([{ agentClass: null, identity: 'root', until: T + 3 * HOUR, cascade: true, since: T + 50 * MIN }]);
      expect(await plainC(['root'], T + 51 * MIN)).toEqual({ root: { since: T + 50 * MIN, until: T + 3 * HOUR } });
      // The class counts are untouched by cascade entries.
      const w = 60 * SEC;
      expect(plainAll(await store.observe(obs({ mailer: { 'mail-2': T } }, T, w)))).toEqual({ mailer: { active: 1, open: { 'mail-1': T + HOUR } } });
    }));

    it('counts several classes in one call, each on its own, and only the classes named', withStore(async (store) => {
      const w = 60 * SEC;
      await store.suspended([{ agentClass: 'z', identity: 'z1', until: T + HOUR }]);
      const got = await store.observe(obs({ x: { a: T, b: T, c: T }, y: { a: T } }, T, w));
      expect(plainAll(got)).toEqual({ x: { active: 3, open: {} }, y: { active: 1, open: {} } });
      const next = await store.observe(obs({ y: { b: T + SEC }, z: { z1: T + SEC } }, T + SEC, w));
      expect(plainAll(next)).toEqual({ y: { active: 2, open: {} }, z: { active: 1, open: { z1: T + HOUR } } });
    }));

    it('each class is pruned by its own time: one far-ahead event of one class does not empty another\'s active set', withStore(async (store) => {
      const w = 10 * MIN;
      const ids = (n: number, ts: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`m${i}`, ts]));
      await store.observe(obs({ mailer: ids(5, T), other: ids(3, T) }, T, w));
      await store.suspended([{ agentClass: 'mailer', identity: 'm0', until: T + HOUR }]);
      // One event 300,000 years ahead in "other", in the same batch as a mailer event.
      const far = 9e15;
      const m = new Map([['mailer', new Map([['m1', T + MIN]])], ['other', new Map([['x', far]])]]);
      const got = await store.observe({ active: m, at: new Map([['mailer', T + MIN], ['other', far]]), activeWindowMs: w });
      expect(plainAll(got)).toEqual({ mailer: { active: 5, open: { m0: T + HOUR } }, other: { active: 1, open: {} } });
      // A class named with no time of its own counts at its identities' latest.
      const bare = await store.observe({ active: new Map([['mailer', new Map([['m2', T + 2 * MIN]])]]), at: new Map(), activeWindowMs: w });
      expect(plainAll(bare)).toEqual({ mailer: { active: 5, open: { m0: T + HOUR } } });
    }));

    it('a class named with no identities this batch is counted like the others', withStore(async (store) => {
      const w = 60 * SEC;
      await store.observe(obs({ x: { a: T, b: T } }, T, w));
      await store.suspended([{ agentClass: 'x', identity: 'a', until: T + HOUR }]);
      const got = await store.observe(obs({ x: {}, y: { c: T + SEC } }, T + SEC, w));
      expect(plainAll(got)).toEqual({ x: { active: 2, open: { a: T + HOUR } }, y: { active: 1, open: {} } });
    }));

    it('suspended() is idempotent and keeps the latest end of each identity\'s suspension', withStore(async (store) => {
      const w = 60 * SEC;
      const list = [
        { agentClass: 'c', identity: 'a', until: T + 15 * MIN },
        { agentClass: 'c', identity: 'b', until: T + 30 * MIN },
        { agentClass: 'd', identity: 'a', until: T + 5 * MIN },
      ];
      await store.suspended(list);
      await store.suspended(list);
      await store.suspended([]);
      // An earlier end (a redelivered older batch) does not shorten it; a later one extends it.
      await store.suspended([{ agentClass: 'c', identity: 'a', until: T + MIN }, { agentClass: 'c', identity: 'b', until: T + HOUR }]);
      const got = await store.observe(obs({ c: { a: T }, d: { a: T } }, T, w));
      expect(plainAll(got)).toEqual({
        c: { active: 1, open: { a: T + 15 * MIN, b: T + HOUR } },
        d: { active: 1, open: { a: T + 5 * MIN } },
      });
      // The same suspension recorded in one call twice, with two ends: the later wins.
      await store.suspended([{ agentClass: 'e', identity: 'x', until: T + 2 * MIN }, { agentClass: 'e', identity: 'x', until: T + MIN }]);
      expect(plain((await store.observe(obs({ e: { x: T } }, T, w))).get('e'))).toEqual({ active: 1, open: { x: T + 2 * MIN } });
    }));

    it('open holds suspensions ending after at - window, ended ones included; older ones are pruned', withStore(async (store) => {
      const w = 10 * MIN;
      const at = T + HOUR;
      await store.suspended([
        { agentClass: 'c', identity: 'long-gone', until: at - w - MIN },
        { agentClass: 'c', identity: 'edge', until: at - w },
        { agentClass: 'c', identity: 'just-ended', until: at - w + 1 },
        { agentClass: 'c', identity: 'ended', until: at - MIN },
        { agentClass: 'c', identity: 'in-force', until: at + MIN },
        { agentClass: 'c', identity: 'long', until: at + HOUR },
      ]);
      const view = (await store.observe(obs({ c: { q: at } }, at, w))).get('c')!;
      expect(plain(view)).toEqual({ active: 1, open: { ended: at - MIN, 'in-force': at + MIN, 'just-ended': at - w + 1, long: at + HOUR } });
      // The engine counts the ones in force at each event's own time.
      expect(suspendedAt(view, at - w)).toBe(4);
      expect(suspendedAt(view, at - MIN - 1)).toBe(3);
      expect(suspendedAt(view, at)).toBe(2);
      expect(suspendedAt(view, at + MIN)).toBe(1);
      expect(suspendedAt(view, at + HOUR)).toBe(0);
      // Pruned for good: an observation at an earlier time does not bring them back.
      const earlier = (await store.observe(obs({ c: { q: at - 2 * w } }, at - 2 * w, w))).get('c')!;
      expect([...earlier.open.keys()].sort()).toEqual(['ended', 'in-force', 'just-ended', 'long']);
    }));

    it('the view is a copy: changing it does not change the store', withStore(async (store) => {
      const w = 60 * SEC;
      await store.suspended([{ agentClass: 'c', identity: 'a', until: T + HOUR }]);
      const v = (await store.observe(obs({ c: { a: T } }, T, w))).get('c')!;
      v.open.set('b', T + HOUR);
      v.open.delete('a');
      expect(plain((await store.observe(obs({ c: { a: T } }, T, w))).get('c'))).toEqual({ active: 1, open: { a: T + HOUR } });
    }));

    it('class and identity names with odd characters do not collide', withStore(async (store) => {
      const w = 60 * SEC;
      const classes = ['a}b', 'a', 'b', '{f}', 'a b', 'a:s:x', 'a:a:x', 'ü-🚀-日本', 'u\u0308-🚀-日本', '?', '*', 'a\nb', ''];
      const identities = ['}', '{f}:s:', 'x y', 'ü', 'u\u0308', '*', '\n'];
      // Class i has i+1 identities and one suspension ending at T + (i+1) min.
      const active: Record<string, Record<string, number>> = {};
      classes.forEach((cls, i) => {
        active[cls] = Object.fromEntries(Array.from({ length: i + 1 }, (_, j) => [`${identities[j % identities.length]}#${j}`, T]));
      });
      await store.suspended(classes.map((cls, i) => ({ agentClass: cls, identity: identities[i % identities.length]!, until: T + (i + 1) * MIN })));
      const got = await store.observe(obs(active, T, w));
      expect([...got.keys()].sort()).toEqual([...classes].sort());
      classes.forEach((cls, i) => {
        expect(plain(got.get(cls)), cls).toEqual({ active: i + 1, open: { [identities[i % identities.length]!]: T + (i + 1) * MIN } });
      });
    }));
  });
}

