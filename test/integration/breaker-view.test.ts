import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeBreaker } from '../../src/breaker/breaker.js';
import type { BreakerState } from '../../src/breaker/types.js';
import { collectBreakers } from '../../src/state/breaker-view.js';
import { IDENTITY_FIELD, identityKey, partitionKey } from '../../src/state/keys.js';
import { RedisWindowStore } from '../../src/state/redis-store.js';
import type { IdentityView, StateUpdate } from '../../src/state/types.js';
import { deletePrefix, REDIS_URL, requireRedis, uniqueName } from './helpers.js';

const execFileP = promisify(execFile);
const T0 = Date.UTC(2026, 10, 20, 3, 15, 0);
const alice = 'spiffe://acme.example/agent/support-bot/alice';
const bob = 'spiffe://acme.example/agent/support-bot/bob';
const carol = 'spiffe://acme.example/agent/support-bot/carol';
const open: BreakerState = {
  '*': {
    phase: 'open', until: T0 + 3_600_000, probationUntil: T0 + 7_200_000, strikes: 1, closedAt: 0,
    reason: 'scope: vault.read is outside the manifest', detector: 'scope', commandId: 'c-1', openedAt: T0 + 2000,
  },
};

describe('the breaker view reads what the window store writes (real Redis)', () => {
  let admin: Redis;
  let store: RedisWindowStore;
  const prefix = uniqueName('wt-bview');
  const views = new Map<string, IdentityView>();

  beforeAll(async () => {
    admin = await requireRedis();
    store = new RedisWindowStore({ redis: admin.duplicate(), prefix });
    await store.start();
    const apply = async (partition: string, updates: StateUpdate[]) => {
      for (const o of (await store.apply({ partition, updates })).outcomes) if (o.status === 'view') views.set(o.view.identity, o.view);
    };
    const tracks = (action: string): StateUpdate['tracks'] => [
      { kind: 'counter', key: `rate:${action}`, windowMs: 300_000 },
      { kind: 'seen', key: 'scope:a', member: action, cap: 100 },
    ];
    // alice: four updates over two batches, one of them late (it moves firstSeen back) and one a control (no tracks).
    await apply('agent.actions:0', [
      { offset: 0n, identity: alice, ts: T0 + 1000, tracks: tracks('crm.read') },
      { offset: 1n, identity: bob, ts: T0 + 1500, tracks: tracks('crm.read') },
      { offset: 2n, identity: alice, ts: T0 + 2000, tracks: tracks('vault.read') },
    ]);
    await store.commit({ partition: 'agent.actions:0', offset: 2n, breakers: new Map([[alice, serializeBreaker(open)]]), outbox: [] });
    await apply('agent.actions:0', [
      { offset: 3n, identity: alice, ts: T0 - 60_000, tracks: tracks('crm.read') },
      { offset: 4n, identity: alice, ts: T0 + 3000, tracks: [] },
    ]);
    await store.commit({ partition: 'agent.actions:0', offset: 4n, breakers: new Map(), outbox: [] });
    // carol: a breaker stored for an identity no update was applied for.
    await store.commit({ partition: 'agent.actions:1', offset: 0n, breakers: new Map([[carol, serializeBreaker(open)]]), outbox: [] });
  });

  afterAll(async () => {
    await deletePrefix(admin, prefix);
    await store.shutdown();
    await admin.quit();
  });

  it('gives the true first seen, event count and breaker of each identity', async () => {
    const a = views.get(alice)!;
    expect([a.firstSeen, a.events]).toStrictEqual([T0 - 60_000, 4]);
    expect(await collectBreakers(admin, prefix, alice)).toStrictEqual([
      { identity: alice, partition: 'agent.actions:0', firstSeen: a.firstSeen, events: a.events, breaker: open, seq: 0, at: 0 },
    ]);
    const b = views.get(bob)!;
    expect(await collectBreakers(admin, prefix, bob)).toStrictEqual([
      { identity: bob, partition: 'agent.actions:0', firstSeen: T0 + 1500, events: 1, breaker: {}, seq: 0, at: 0 },
    ]);
    expect([b.firstSeen, b.events]).toStrictEqual([T0 + 1500, 1]);
    expect(await collectBreakers(admin, prefix, carol)).toStrictEqual([
      { identity: carol, partition: 'agent.actions:1', firstSeen: null, events: 0, breaker: open, seq: 0, at: 0 },
    ]);
    // The list: only identities with a breaker stored.
    expect((await collectBreakers(admin, prefix)).map((x) => [x.identity, x.firstSeen, x.events])).toStrictEqual([
      [alice, T0 - 60_000, 4], [carol, null, 0],
    ]);
  });

  it('reads the fields apply and commit write, and nothing else', async () => {
    const fields = await admin.hkeys(identityKey(partitionKey(prefix, 'agent.actions:0'), alice));
    expect(fields).toEqual(expect.arrayContaining(Object.values(IDENTITY_FIELD)));
    expect(fields.filter((f) => f.startsWith('_')).sort()).toStrictEqual(Object.values(IDENTITY_FIELD).sort());
  });

  it('warden breaker show prints them', async () => {
    const cli = (args: string[]) => execFileP(process.execPath, ['bin/warden.js', 'breaker', ...args], { env: { ...process.env, REDIS_URL, WARDEN_REDIS_PREFIX: prefix } });
    const shown = (await cli(['show', alice])).stdout;
    expect(shown).toContain('partition agent.actions:0, first seen 2026-11-20 03:14:00, 4 events');
    expect(shown).toMatch(/whole identity\s+open\s+1\s+2026-11-20 04:15:00\s+2026-11-20 05:15:00\s+scope\s+scope: vault.read is outside the manifest/);
    expect((await cli(['show', bob])).stdout).toBe(`${bob}\n  partition agent.actions:0, first seen 2026-11-20 03:15:01, 1 events\n  breaker closed, no strikes\n`);
    expect((await cli(['show', carol])).stdout).toContain('partition agent.actions:1, no events on record');
    const json = (await cli(['show', alice, '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(json).toStrictEqual([{ identity: alice, partition: 'agent.actions:0', firstSeen: T0 - 60_000, events: 4, breaker: open, seq: 0, at: 0 }]);
  });
});
