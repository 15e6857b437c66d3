import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baselineView } from '../../src/state/baseline.js';
import { readBaselines } from '../../src/state/baseline-read.js';
import { RedisWindowStore } from '../../src/state/redis-store.js';
import type { BaselineParams, CounterView, StateUpdate, Track } from '../../src/state/types.js';
import { deletePrefix, REDIS_URL, requireRedis } from './helpers.js';

const PARAMS: BaselineParams = { alpha: 0.05, slotAlpha: 0.2, learningPeriodMs: 3_600_000, minBuckets: 3, learnZ: 3 };
const BUCKET = 300_000;
const T0 = Date.UTC(2026, 10, 20, 0, 0, 0);

let admin: Redis;
let redis: Redis;
const prefix = `wt-baseline-read-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  admin = await requireRedis();
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableAutoPipelining: false });
});
afterAll(async () => {
  await deletePrefix(admin, prefix);
  redis?.disconnect();
  admin?.disconnect();
});

const tracks = (action: string, resource: string): Track[] => [
  { kind: 'counter', key: `rate:a:${action}`, windowMs: BUCKET, baseline: PARAMS },
  { kind: 'counter', key: `rate:h:${action}`, windowMs: 3_600_000 },
  { kind: 'seen', key: 'scope:a', member: resource, cap: 100 },
];

describe('readBaselines: the status page reads the baselines the Redis store keeps', () => {
  it('decodes every baselined rate counter of an identity to the state the store judged by (its view), and nothing else', async () => {
    const store = new RedisWindowStore({ redis, prefix });
    await store.start();
    const identity = 'spiffe://acme.example/agent/support-bot/<b>"x"</b>';
    // An action with glob characters: the field scan must match it literally.
    const actions = ['email.send', 'crm.read', 'odd*[a]?'];
    const updates: StateUpdate[] = [];
    let offset = 0n;
    // 30 hours, a daily rhythm: every hour slot is closed at least once, some twice.
    for (let t = T0; t < T0 + 30 * 3_600_000; t += BUCKET) {
      const hour = new Date(t).getUTCHours();
      for (const [i, action] of actions.entries()) {
        const n = (hour >= 8 && hour < 18 ? 4 : 1) + i;
        for (let k = 0; k < n; k++) updates.push({ offset: offset++, identity, ts: t + k * 1000 + i, tracks: tracks(action, `r:${k}`) });
      }
    }
    const last = new Map<string, CounterView>();
    for (let i = 0; i < updates.length; i += 500) {
      const batch = updates.slice(i, i + 500);
      const r = await store.apply({ partition: 'actions:0', updates: batch });
      for (const o of r.outcomes) {
        if (o.status !== 'view') continue;
        for (const [k, v] of Object.entries(o.view.counters)) if (k.startsWith('rate:a:')) last.set(k, v);
      }
      await store.commit({ partition: 'actions:0', offset: batch.at(-1)!.offset, breakers: new Map(), outbox: [] });
    }
    const read = await readBaselines(redis, prefix, identity, 'rate:a:');
    expect(read.map((c) => c.track)).toEqual(['rate:a:crm.read', 'rate:a:email.send', 'rate:a:odd*[a]?']);
    for (const c of read) {
      const v = last.get(c.track)!;
      expect([c.bucketStart, c.count, c.prev]).toEqual([v.bucketStart, v.count, v.prev]);
      expect(baselineView(c.baseline, c.bucketStart)).toEqual(v.baseline);
      expect(c.baseline.k.filter((k) => k > 0).length).toBe(24);
    }
    // A prefix that names one action reads it alone; another identity reads nothing.
    expect((await readBaselines(redis, prefix, identity, 'rate:a:odd*')).map((c) => c.track)).toEqual(['rate:a:odd*[a]?']);
    expect(await readBaselines(redis, prefix, 'someone-else', 'rate:a:')).toEqual([]);
    await store.shutdown();
  });
});
