import { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { epochKey } from '../../src/state/keys.js';
import {
  createTopic, kcatConsumeAll, kcatProduceLines, requireKafka, startRedisServer, startWarden, stopWarden, uniqueName, waitForGroupCaughtUp,
  type WardenProcess,
} from './helpers.js';
import { newRunOf } from './runs.js';

beforeAll(async () => {
  await requireKafka();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const baseOf = async (w: WardenProcess): Promise<string> => `http://${(JSON.parse(await w.waitForLog(/"msg":"warden running"/)) as { http: string }).http}`;

/** A read-only analytics agent sending mail: outside its manifest, one detection per event (fresh state each time). */
const offence = (id: string, identity: string) => ({
  key: identity,
  value: JSON.stringify({ id, ts: Date.now(), identity, agentClass: 'analytics-agent', action: 'email.send', resource: 'mail:someone@example.com' }),
});

interface Decision { kind: string; eventId: string; identity: string; evidence: Record<string, unknown> }

async function detectionsOf(topic: string, eventId: string): Promise<Decision[]> {
  for (let i = 0; i < 100; i++) {
    const all = (await kcatConsumeAll(topic)).map((r) => JSON.parse(r.payload!) as Decision).filter((d) => d.kind === 'detection');
    if (all.some((d) => d.eventId === eventId)) return all;
    await sleep(200);
  }
  throw new Error(`no detection of ${eventId} on ${topic}`);
}

describe('state loss: a Redis that restarts empty is noticed', () => {
  it('a first start is fresh; a restart empty is logged once, counted, on /readyz, and later detections are cold', async () => {
    const server = await startRedisServer();
    const own = new Redis(server.url, { maxRetriesPerRequest: 1 });
    own.on('error', () => {});
    try {
      const actions = uniqueName('loss');
      await createTopic(actions, 1);
      const run = await newRunOf(actions, []);
      const warden = startWarden({ ...run.env, REDIS_URL: server.url });
      const base = await baseOf(warden);
      expect(JSON.parse(await warden.waitForLog(/fresh state/))).toMatchObject({ level: 30, module: 'epoch' });
      const marker = JSON.parse((await own.get(epochKey(run.prefix)))!) as { epoch: string; createdAt: number };
      expect(marker.createdAt).toBeGreaterThan(Date.now() - 120_000);

      await kcatProduceLines(actions, [offence('before', 'an-1')]);
      const before = (await detectionsOf(run.decisions, 'before')).filter((d) => d.eventId === 'before');
      expect(before.length).toBeGreaterThan(0);
      expect(before.every((d) => d.evidence.cold === undefined)).toBe(true);
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^warden_state_loss_total\{cause="missing"\} 0$/m);
      expect(await (await fetch(`${base}/readyz`)).text()).not.toMatch(/state lost/);

      await server.restartEmpty();
      const lost = JSON.parse(await warden.waitForLog(/Redis state lost/, 30_000)) as Record<string, unknown>;
      expect(lost).toMatchObject({ level: 40, module: 'epoch', cause: 'missing', lostEpoch: marker.epoch, stateSince: new Date(marker.createdAt).toISOString() });
      expect(lost.msg).toMatch(/windows, baselines, breaker records/);

      // Still ready (Warden protects), and says why its detections are cold.
      let ready!: Response;
      for (let i = 0; i < 50; i++) {
        ready = await fetch(`${base}/readyz`);
        if (ready.status === 200) break;
        await sleep(200);
      }
      expect(ready.status).toBe(200);
      expect(await ready.text()).toMatch(new RegExp(`^ready\\nstate lost at ${String(lost.lostAt).replace(/[.]/g, '\\.')}, re-learning`, 'm'));
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^warden_state_loss_total\{cause="missing"\} 1$/m);
      const now = JSON.parse((await own.get(epochKey(run.prefix)))!) as { epoch: string; lostAt: number };
      expect(now.epoch).not.toBe(marker.epoch);
      expect(new Date(now.lostAt).toISOString()).toBe(lost.lostAt);

      await kcatProduceLines(actions, [offence('after', 'an-1'), offence('newcomer', 'an-2')]);
      const all = await detectionsOf(run.decisions, 'newcomer');
      await waitForGroupCaughtUp(run.group, actions);
      const after = all.filter((d) => d.eventId === 'after' || d.eventId === 'newcomer');
      // The identity seen before the loss and a new one: both re-learn from nothing.
      expect(new Set(after.map((d) => d.identity))).toEqual(new Set(['an-1', 'an-2']));
      expect(after.every((d) => d.evidence.cold === true)).toBe(true);

      // One warn line for the one loss; a periodic check finds nothing new.
      await sleep(6_000);
      expect(warden.logs.filter((l) => l.includes('Redis state lost'))).toHaveLength(1);
      expect(warden.logs.filter((l) => l.includes('fresh state'))).toHaveLength(1);
      expect(await stopWarden(warden)).toBe(0);
    } finally {
      own.disconnect();
      await server.close();
    }
  });
});
