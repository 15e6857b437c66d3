import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { simulateFleet } from '../../src/sim/fleet.js';
import {
  committedCount, createTopic, kcatProduceLines, startRedisServer, startWarden, stopWarden, uniqueName, waitForGroupCaughtUp, useServices,
} from './helpers.js';
import { expectSameStateOf, newRunOf, outputs, replayExpected } from './runs.js';

let redis: Redis;
const prefixes = useServices((r) => (redis = r));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a Redis that stops answering', () => {
  it('frozen for 35 s (commands hang past their timeout, longer than the session timeout): the member stays, and state and outputs equal a clean run', async () => {
    const server = await startRedisServer();
    const own = new Redis(server.url, { maxRetriesPerRequest: 1 });
    own.on('error', () => {});
    try {
      const sim = simulateFleet({ days: 1, seed: 11 });
      const lines = sim.events.map((e) => ({ key: e.identity, value: JSON.stringify(e) }));
      const half = Math.floor(lines.length / 2);
      const actions = uniqueName('freeze');
      await createTopic(actions, 6);
      const [ref, run] = [await newRunOf(actions, prefixes), await newRunOf(actions, [])];
      const expected = replayExpected(sim.events);
      const clean = startWarden({ ...ref.env, WARDEN_MAX_BATCH: '200' });
      const warden = startWarden({ ...run.env, REDIS_URL: server.url, WARDEN_MAX_BATCH: '200' });
      await warden.waitForLog(/"msg":"consuming"/);
      await kcatProduceLines(actions, lines.slice(0, half));
      while ((await committedCount(run.group, actions)) < half) await sleep(200);

      server.freeze();
      const frozen = Date.now();
      await kcatProduceLines(actions, lines.slice(half));
      while (Date.now() - frozen < 35_000) await sleep(500);
      expect(warden.child.exitCode).toBeNull();
      server.thaw();

      await waitForGroupCaughtUp(run.group, actions, 90_000);
      await waitForGroupCaughtUp(ref.group, actions, 30_000);
      expect(warden.logs.some((l) => l.includes('batch waiting: retrying'))).toBe(true);
      expect(warden.logs.filter((l) => l.includes('"msg":"partitions assigned"'))).toHaveLength(1);
      expect(warden.logs.filter((l) => /not aware of this member|consumer crashed/.test(l))).toEqual([]);
      expect(await stopWarden(warden)).toBe(0);
      expect(await stopWarden(clean)).toBe(0);

      await expectSameStateOf(own, run.prefix, redis, ref.prefix);
      const [got, exp] = [await outputs(run), await expected];
      expect(exp.commands.length).toBeGreaterThan(0);
      expect(got.decisions).toEqual(exp.decisions);
      expect(got.commands).toEqual(exp.commands);
    } finally {
      own.disconnect();
      await server.close();
    }
  });
});
