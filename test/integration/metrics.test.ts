import type { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, deletePrefix, kcatProduceLines, requireKafka, requireRedis, startWarden, stopWarden, uniqueName, waitForGroupCaughtUp } from './helpers.js';
import { newRunOf } from './runs.js';

let redis: Redis;
const prefixes: string[] = [];
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

beforeAll(async () => {
  await requireKafka();
  redis = await requireRedis();
});
afterAll(async () => {
  for (const p of prefixes) await deletePrefix(redis, p);
  redis?.disconnect();
});

const t0 = Date.UTC(2026, 10, 20);
const events = (from: number, n: number) => Array.from({ length: n }, (_, i) => {
  const identity = `spiffe://acme.example/agent/support-bot/m${(from + i) % 40}`;
  return { key: identity, value: JSON.stringify({ id: `e${from + i}`, ts: t0 + (from + i) * 10, identity, action: 'ticket.read', resource: `ticket:${from + i}`, agentClass: 'support-bot' }) };
});

/** `warden_consumer_lag` samples as `partition → lag`, for one topic. */
function lagOf(text: string, topic: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of text.matchAll(/^warden_consumer_lag\{topic="([^"]+)",partition="(\d+)"\} (\d+)$/gm)) if (m[1] === topic) out.set(Number(m[2]), Number(m[3]));
  return out;
}

describe('/metrics of warden run against the real broker and Redis', () => {
  it('shows lag 0 on every {topic, partition} once a backlog is drained, then again after live traffic; build info and process metrics', async () => {
    const actions = uniqueName('metrics');
    await createTopic(actions, 3);
    const run = await newRunOf(actions, prefixes);
    // A backlog larger than a batch (WARDEN_MAX_BATCH), so a batch starts with lag and must end at 0.
    const backlog = 600;
    await kcatProduceLines(actions, events(0, backlog));
    const warden = startWarden({ ...run.env, WARDEN_MAX_BATCH: '50' });
    try {
      const started = JSON.parse(await warden.waitForLog(/"msg":"warden running"/));
      const base = `http://${started.http}`;
      await waitForGroupCaughtUp(run.group, actions);
      let text = await (await fetch(`${base}/metrics`)).text();
      expect(text).toMatch(new RegExp(`^warden_events_consumed_total ${backlog}$`, 'm'));
      expect([...lagOf(text, actions)].sort()).toEqual([[0, 0], [1, 0], [2, 0]]);
      // The old label packed the topic into `partition`.
      expect(text).not.toMatch(/^warden_consumer_lag\{partition="[^"]*:/m);
      expect(text).toContain(`warden_build_info{version="${VERSION}",node="${process.version}"} 1`);
      expect(text).toMatch(/^process_cpu_seconds_total \d/m);
      expect(text).toMatch(/^process_resident_memory_bytes [1-9]\d*$/m);
      expect(text).toMatch(/^nodejs_heap_size_used_bytes [1-9]\d*$/m);
      expect(text).toMatch(/^warden_kafka_errors_total\{kind="crash"\} 0$/m);
      expect(text).toMatch(/^warden_redis_errors_total\{connection="state"\} 0$/m);
      // What /readyz and /healthz answer, for alert rules.
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect(text).toMatch(/^warden_ready 1$/m);
      expect(text).toMatch(/^warden_live 1$/m);
      // Ticket reads are in support-bot's manifest: no outputs yet, but the family is there.
      expect(text).toMatch(/^# TYPE warden_publish_seconds histogram$/m);

      // Live traffic on a running consumer, with an event the scope detector suspends (an output to publish).
      const live = events(backlog, 90);
      live.push({ key: 'rogue', value: JSON.stringify({ id: 'r1', ts: t0 + 5000, identity: 'rogue', action: 'vault.read', resource: 'vault:x', agentClass: 'support-bot' }) });
      await kcatProduceLines(actions, live);
      await waitForGroupCaughtUp(run.group, actions);
      text = await (await fetch(`${base}/metrics`)).text();
      expect(text).toMatch(new RegExp(`^warden_events_consumed_total ${backlog + live.length}$`, 'm'));
      expect([...lagOf(text, actions)].sort()).toEqual([[0, 0], [1, 0], [2, 0]]);
      const sends = Number(/^warden_publish_seconds_count (\d+)$/m.exec(text)?.[1]);
      expect(sends).toBeGreaterThan(0);
      expect(text).toMatch(/^warden_publish_seconds_bucket\{le="\+Inf"\} \d+$/m);
    } finally {
      expect(await stopWarden(warden)).toBe(0);
    }
  });

  it('shows lag 0, and stays live, when it starts at the end (WARDEN_FROM_BEGINNING=false) of a topic with old messages and no commits', async () => {
    const actions = uniqueName('metrics-end');
    await createTopic(actions, 3);
    const run = await newRunOf(actions, prefixes);
    await kcatProduceLines(actions, events(0, 300));
    // The shortest stall timeout: the broker is asked for lag every ~1.7 s, and liveness fails after 5 s with lag and no batch.
    const warden = startWarden({ ...run.env, WARDEN_FROM_BEGINNING: 'false', WARDEN_STALL_TIMEOUT_S: '5' });
    try {
      const started = JSON.parse(await warden.waitForLog(/"msg":"warden running"/));
      const base = `http://${started.http}`;
      await warden.waitForLog(/partitions assigned/);
      const assignedAt = Date.now();
      let lag = new Map<number, number>();
      for (let i = 0; i < 100 && lag.size < 3; i++) {
        await new Promise((r) => setTimeout(r, 100));
        lag = lagOf(await (await fetch(`${base}/metrics`)).text(), actions);
      }
      // Nothing new arrived: nothing is behind where this consumer started.
      expect([...lag].sort()).toEqual([[0, 0], [1, 0], [2, 0]]);
      await new Promise((r) => setTimeout(r, Math.max(0, assignedAt + 6000 - Date.now())));
      const health = await fetch(`${base}/healthz`);
      expect(await health.text()).toBe('ok\n');
      // What arrives now is consumed, and the lag is 0 again.
      await kcatProduceLines(actions, events(300, 12));
      await waitForGroupCaughtUp(run.group, actions);
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(text).toMatch(/^warden_events_consumed_total 12$/m);
      expect([...lagOf(text, actions)].sort()).toEqual([[0, 0], [1, 0], [2, 0]]);
      expect(await stopWarden(warden)).toBe(0);
    } finally {
      warden.child.kill('SIGKILL');
    }
  });
});
