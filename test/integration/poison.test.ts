import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  createTopic, headerMap, kcatConsumeAll, kcatProduceFile, kcatProduceLines, startWarden, stopWarden, topicMaxMessageBytes, uniqueName, waitForGroupCaughtUp, wardenCli, type KcatRecord, type WardenProcess, useServices,
} from './helpers.js';
import { newRunOf } from './runs.js';

let redis: Redis;
const prefixes = useServices((r) => (redis = r));

const t0 = Date.UTC(2026, 10, 20, 3, 0, 0);
/** A read-only agent writing: one suspend decision per event, on whichever partition it is sent to. */
const rogue = (n: number, extra: Record<string, unknown> = {}) => JSON.stringify({
  id: `rogue-${n}`, ts: t0 + 60_000 + n, identity: `spiffe://acme.example/agent/analytics-agent/rogue-${n}`,
  action: 'db.write', resource: 'db:prod.orders', agentClass: 'analytics-agent', ...extra,
});

/** A record's size as the broker counts it, near enough: value, key and headers. */
function recordSize(r: KcatRecord): number {
  let n = Buffer.byteLength(r.payload ?? '') + Buffer.byteLength(r.key ?? '') + 70;
  for (const h of r.headers ?? []) n += Buffer.byteLength(h) + 5;
  return n;
}

async function live(w: WardenProcess): Promise<{ base: string; health: number }> {
  const started = JSON.parse(await w.waitForLog(/"msg":"warden running"/)) as { http: string };
  const base = `http://${started.http}`;
  return { base, health: (await fetch(`${base}/healthz`)).status };
}

async function detections(topic: string): Promise<Array<Record<string, unknown>>> {
  return (await kcatConsumeAll(topic)).map((r) => JSON.parse(r.payload!) as Record<string, unknown>).filter((r) => r.kind === 'detection');
}

describe('no poison pill, with the stock broker limits', () => {
  it('a 1,048,450-byte event and a burst of 700 invalid records in one batch: every partition keeps consuming, the dead letters are within limits', async () => {
    const actions = uniqueName('poison');
    await createTopic(actions, 3);
    const run = await newRunOf(actions, prefixes);
    const limit = await topicMaxMessageBytes(run.dlq);
    expect(limit).toBe(1_048_588);

    // The broker takes it (librdkafka's own default would refuse it first); 1 MB is far over the event limit.
    const big = Buffer.from(JSON.stringify({ id: 'big', pad: 'x'.repeat(1_048_450 - 21) }));
    expect(big.byteLength).toBe(1_048_450);
    await kcatProduceFile(actions, 0, 'big-key', big, ['-X', 'message.max.bytes=2000000']);
    // 700 invalid records under one key: one partition, one fetch, one batch; their dead letters add up to more than 1 MB.
    const pad = 'p'.repeat(1300);
    await kcatProduceLines(actions, Array.from({ length: 700 }, (_, i) => ({ key: 'burst', value: JSON.stringify({ id: `b${i}`, identity: 'burst', action: 'x', resource: pad }) })));

    const warden = startWarden(run.env);
    try {
      await warden.waitForLog(/"msg":"consuming"/);
      await waitForGroupCaughtUp(run.group, actions, 60_000);
      // Afterwards every partition still consumes and decides.
      for (let p = 0; p < 3; p++) await kcatProduceFile(actions, p, `rogue-${p}`, rogue(p));
      await waitForGroupCaughtUp(run.group, actions, 60_000);
      const found = await detections(run.decisions);
      expect([...new Set(found.map((d) => d.eventId))].sort()).toEqual(['rogue-0', 'rogue-1', 'rogue-2']);
      expect(found.some((d) => d.decision === 'suspend')).toBe(true);

      const dlq = await kcatConsumeAll(run.dlq);
      expect(dlq).toHaveLength(701);
      for (const r of dlq) expect(recordSize(r)).toBeLessThan(limit);
      const bigDl = dlq.find((r) => headerMap(r)['warden-error-code'] === 'EVENT_TOO_LARGE')!;
      expect(bigDl.key).toBe('big-key');
      expect(headerMap(bigDl)).toMatchObject({
        'warden-truncated': '1048450', 'warden-original-sha256': createHash('sha256').update(big).digest('hex'),
        'warden-source-topic': actions, 'warden-source-partition': '0', 'warden-source-offset': '0',
      });
      expect(Buffer.byteLength(bigDl.payload!)).toBe(64 * 1024);
      expect(big.subarray(0, 64 * 1024).toString()).toBe(bigDl.payload);
      const burst = dlq.filter((r) => r.key === 'burst');
      expect(burst).toHaveLength(700);
      for (const r of burst) {
        const h = headerMap(r);
        expect(h['warden-error-code']).toMatch(/^EVENT_[A-Z_]+$/);
        expect(h['warden-truncated']).toBeUndefined();
        expect(h['warden-source-topic']).toBe(actions);
        expect(h['warden-source-partition']).toMatch(/^[0-2]$/);
      }
      expect(new Set(burst.map((r) => r.payload)).size).toBe(700);

      const { base, health } = await live(warden);
      expect(health).toBe(200);
      expect(await (await fetch(`${base}/readyz`)).text()).toBe('ready\n');
      expect(warden.logs.filter((l) => /consumer crashed|MESSAGE_TOO_LARGE|output parked/.test(l))).toEqual([]);
    } finally {
      expect(await stopWarden(warden)).toBe(0);
    }
  });

  it('an output Kafka refuses is parked after retries, shown by `warden parked`, /readyz and a metric, and the partition moves on', async () => {
    const actions = uniqueName('park');
    await createTopic(actions, 1);
    const run = await newRunOf(actions, prefixes);
    // The audit topic takes only small records: a decision about a long resource cannot go there.
    const admin = (await import('./helpers.js')).kafkaAdmin();
    await admin.connect();
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: run.decisions, configEntries: [{ name: 'max.message.bytes', value: '3000' }] }] });
    await admin.disconnect();
    await kcatProduceLines(actions, [
      { key: 'r1', value: rogue(1, { resource: `db:prod.${'o'.repeat(1500)}` }) },
      { key: 'r2', value: rogue(2) },
    ]);
    const warden = startWarden(run.env);
    try {
      await waitForGroupCaughtUp(run.group, actions, 60_000);
      await warden.waitForLog(/output parked/);
      const found = await detections(run.decisions);
      expect([...new Set(found.map((d) => d.eventId))]).toEqual(['rogue-2']);
      // The commands went out: the gateways still hear of both suspensions.
      // Restatements (`state`, re-published on start and on an interval) carry no event.
      const commands = (await kcatConsumeAll(run.commands)).map((r) => JSON.parse(r.payload!) as Record<string, unknown>).filter((c) => c.type !== 'state');
      expect([...new Set(commands.map((c) => c.eventId))].sort()).toEqual(['rogue-1', 'rogue-2']);

      const listed = await wardenCli(['parked', '--json'], { WARDEN_REDIS_PREFIX: run.prefix });
      expect(listed.code).toBe(0);
      const parked = listed.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(parked.length).toBeGreaterThanOrEqual(1);
      for (const p of parked) {
        expect(p).toMatchObject({ partition: `${actions}:0`, topic: run.decisions });
        expect(String(p.error)).toMatch(/MESSAGE_TOO_LARGE|too large/i);
      }
      const records = parked.map((p) => JSON.parse(Buffer.from(String(p.value), 'base64').toString()) as Record<string, unknown>);
      expect(records.filter((r) => r.kind === 'detection').length).toBeGreaterThanOrEqual(1);
      for (const r of records) expect(r.eventId).toBe('rogue-1');
      const text = await wardenCli(['parked'], { WARDEN_REDIS_PREFIX: run.prefix });
      expect(text.stdout).toContain(run.decisions);

      const { base, health } = await live(warden);
      expect(health).toBe(200);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.text()).toContain(`parked outputs: ${parked.length}`);
      expect(await (await fetch(`${base}/metrics`)).text()).toContain(`warden_outputs_parked_total{topic="${run.decisions}"} ${parked.length}`);
    } finally {
      expect(await stopWarden(warden)).toBe(0);
    }
  });
});
