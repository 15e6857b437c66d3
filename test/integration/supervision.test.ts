import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { simulateFleet } from '../../src/sim/fleet.js';
import {
  committedCount, createTopic, kcatProduceLines, startRedisServer, startWarden, stopWarden, uniqueName, waitForGroupCaughtUp, type RedisServer, type WardenProcess, useServices,
} from './helpers.js';
import { expectSameStateOf, newRunOf, outputs, replayExpected } from './runs.js';

let redis: Redis;
const prefixes = useServices((r) => (redis = r));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const baseOf = async (w: WardenProcess): Promise<string> => `http://${(JSON.parse(await w.waitForLog(/"msg":"warden running"/)) as { http: string }).http}`;

describe('supervision: never a live process that does nothing', () => {
  it('rides out a 35 s Redis outage (longer than the session timeout): keeps its partitions, then goes on with nothing lost or counted twice', async () => {
    const server: RedisServer = await startRedisServer();
    const own = new Redis(server.url, { maxRetriesPerRequest: 1 });
    own.on('error', () => {});
    try {
      const sim = simulateFleet({ days: 1, seed: 9 });
      const lines = sim.events.map((e) => ({ key: e.identity, value: JSON.stringify(e) }));
      const half = Math.floor(lines.length / 2);
      const actions = uniqueName('outage');
      await createTopic(actions, 6);
      const [ref, run] = [await newRunOf(actions, prefixes), await newRunOf(actions, [])];
      const expected = replayExpected(sim.events);
      // The reference runs on the shared Redis with no outage; the other on its own Redis, which goes away.
      const clean = startWarden({ ...ref.env, WARDEN_MAX_BATCH: '200' });
      const warden = startWarden({ ...run.env, REDIS_URL: server.url, WARDEN_MAX_BATCH: '200', WARDEN_STALL_TIMEOUT_S: '10' });
      const base = await baseOf(warden);
      await kcatProduceLines(actions, lines.slice(0, half));
      while ((await committedCount(run.group, actions)) < half) await sleep(200);

      await server.stop();
      const down = Date.now();
      await kcatProduceLines(actions, lines.slice(half));
      await warden.waitForLog(/batch waiting: retrying/, 20_000);
      // Stalled with lag past WARDEN_STALL_TIMEOUT_S: liveness says so, readiness names Redis; the process stays up.
      while (Date.now() - down < 15_000) await sleep(500);
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.text()).toMatch(/no batch completed for \d+ s with \d+ behind \(retrying (state|publish)\)/);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.text()).toMatch(/Redis/);
      while (Date.now() - down < 35_000) await sleep(500);
      expect(warden.child.exitCode).toBeNull();
      await server.start();

      await waitForGroupCaughtUp(run.group, actions, 90_000);
      await waitForGroupCaughtUp(ref.group, actions, 30_000);
      expect(warden.child.exitCode).toBeNull();
      expect(warden.logs.some((l) => l.includes('batch recovered'))).toBe(true);
      // Heartbeats all along: the group never took the partitions away.
      expect(warden.logs.filter((l) => l.includes('"msg":"partitions assigned"'))).toHaveLength(1);
      expect(warden.logs.filter((l) => /not aware of this member|consumer crashed/.test(l))).toEqual([]);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect(await stopWarden(warden)).toBe(0);
      expect(await stopWarden(clean)).toBe(0);

      await expectSameStateOf(own, run.prefix, redis, ref.prefix);
      const [got, want, exp] = [await outputs(run), await outputs(ref), await expected];
      expect(exp.commands.length).toBeGreaterThan(0);
      expect(got.decisions).toEqual(want.decisions);
      expect(got.commands).toEqual(want.commands);
      expect(got.decisions).toEqual(exp.decisions);
      expect(got.commands).toEqual(exp.commands);
    } finally {
      own.disconnect();
      await server.close();
    }
  });

  it('a failure no retry mends (Redis refuses the scripts) ends warden run with exit 1 and one clear line', async () => {
    const server = await startRedisServer();
    try {
      const actions = uniqueName('refused');
      await createTopic(actions, 1);
      const run = await newRunOf(actions, []);
      const warden = startWarden({ ...run.env, REDIS_URL: server.url });
      await warden.waitForLog(/"msg":"consuming"/);
      const admin = new Redis(server.url);
      await admin.call('ACL', 'SETUSER', 'default', '-@scripting');
      admin.disconnect();
      await kcatProduceLines(actions, [{ key: 'a', value: JSON.stringify({ id: 'e1', ts: Date.UTC(2026, 10, 20), identity: 'a', action: 'db.read', resource: 'db:x' }) }]);
      const code = await Promise.race([warden.exited, sleep(60_000).then(() => 'still running')]);
      expect(code).toBe(1);
      const exiting = warden.logs.filter((l) => l.includes('warden exiting'));
      expect(exiting).toHaveLength(1);
      expect(JSON.parse(exiting[0]!)).toMatchObject({ level: 60, exitCode: 1 });
      expect(exiting[0]).toMatch(/NOPERM|no permissions/);
    } finally {
      await server.close();
    }
  });
});
