/**
 * Issue 9, case 3: the commands topic rewritten without a key. A real Warden
 * suspends an identity; kcat, as a hostile producer with write access to the
 * topic, then re-publishes a real earlier command (the victim's resume),
 * writes `junk`, a tombstone and another identity's valid command under the
 * victim's key. Gateways already running, started before compaction, and
 * started after compaction removed every real record of the victim all end up
 * denying the victim: the first two at once, the last within the re-publish
 * bound (here Warden's start). Real broker, real Redis, real compaction.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyringFromEnv, type Keyring } from '../../src/commands/keyring.js';
import { openCommand } from '../../src/commands/sign.js';
import { createControl, encodeControl } from '../../src/control/create.js';
import { createEnforcer, type Enforcer } from '../../src/enforcer/index.js';
import type { AgentEvent } from '../../src/event/types.js';
import {
  BROKERS, createTopic, deletePrefix, kafkaAdmin, kcatConsumeAll, kcatProduceLines, requireKafka, requireRedis, startWarden, stopWarden,
  TEST_COMMAND_KEYS, uniqueName, type KcatRecord, type WardenProcess,
} from './helpers.js';

const run = promisify(execFile);
const REPUBLISH_MS = 2000;

let redis: Redis;
let keys: Keyring;
const gateways: Enforcer[] = [];
let warden: WardenProcess | undefined;

const id = uniqueName('integrity');
const topics = { actions: `a-${id}`, decisions: `d-${id}`, commands: `c-${id}`, dlq: `q-${id}` };
const prefix = `wt-${id}`;
const env = {
  WARDEN_TOPIC_ACTIONS: topics.actions, WARDEN_TOPIC_DECISIONS: topics.decisions, WARDEN_TOPIC_COMMANDS: topics.commands, WARDEN_TOPIC_DLQ: topics.dlq,
  KAFKA_GROUP_ID: `g-${id}`, WARDEN_REDIS_PREFIX: prefix, KAFKA_SESSION_TIMEOUT_MS: '6000', WARDEN_OPERATOR_KEYS: '',
  WARDEN_REPUBLISH_INTERVAL_MS: String(REPUBLISH_MS),
};
const victim = `spiffe://acme.example/agent/support-bot/${uniqueName('victim')}`;
const other = `spiffe://acme.example/agent/support-bot/${uniqueName('other')}`;

function event(eid: string, identity: string, action: 'crm.read' | 'vault.read', ts: number): AgentEvent {
  return { id: eid, ts, identity, action, resource: action === 'crm.read' ? 'crm:customers/42' : 'vault:secrets/prod', agentClass: 'support-bot' };
}
const lines = (events: AgentEvent[]) => events.map((e) => ({ key: e.identity, value: JSON.stringify(e) }));

/** kcat -Z: an empty value is sent as NULL, a tombstone. */
async function kcatTombstone(topic: string, key: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-kcat-'));
  try {
    const file = join(dir, 'in.txt');
    await writeFile(file, `${key}\t\n`);
    await run('kcat', ['-b', BROKERS, '-P', '-t', topic, '-K', '\t', '-Z', '-X', 'partitioner=murmur2_random', '-l', file], { timeout: 30_000 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function gateway(): Promise<Enforcer> {
  const e = createEnforcer({ brokers: BROKERS.split(','), topic: topics.commands, keyring: keys });
  gateways.push(e);
  await e.start();
  return e;
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const parsed = (r: KcatRecord): Record<string, any> | null => {
  try {
    return r.payload === null ? null : (JSON.parse(r.payload) as Record<string, any>);
  } catch {
    return null;
  }
};
const denied = (g: Enforcer) => !g.check(victim, 'crm.read').allow;

beforeAll(async () => {
  await requireKafka();
  redis = await requireRedis();
  const k = keyringFromEnv({ WARDEN_COMMAND_KEYS: TEST_COMMAND_KEYS });
  if (!k.ok) throw new Error(k.reason);
  keys = k.keyring;
  await Promise.all([createTopic(topics.actions, 3), createTopic(topics.decisions, 1), createTopic(topics.dlq, 1)]);
  // One partition, compacted as eagerly as the broker allows, so the test can watch compaction happen.
  const admin = kafkaAdmin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{
        topic: topics.commands, numPartitions: 1, configEntries: [
          { name: 'cleanup.policy', value: 'compact' }, { name: 'segment.ms', value: '1000' }, { name: 'min.cleanable.dirty.ratio', value: '0.001' },
          { name: 'min.compaction.lag.ms', value: '0' }, { name: 'delete.retention.ms', value: '0' },
        ],
      }],
    });
  } finally {
    await admin.disconnect();
  }
});

afterAll(async () => {
  for (const g of gateways) await g.stop().catch(() => undefined);
  if (warden) await stopWarden(warden);
  await deletePrefix(redis, prefix);
  redis?.disconnect();
});

describe('a commands topic nobody can rewrite (real Warden, kcat as the hostile producer, real compaction)', () => {
  const t0 = Date.now() - 10_000;
  const records: { resume?: string; otherSuspend?: string; suspend?: string } = {};
  let running: Enforcer;
  let earlyStarted: Enforcer;

  it('Warden suspends the victim, resumes it for an operator, suspends it again at the same event time; each command a higher seq', async () => {
    warden = startWarden(env);
    await warden.waitForLog(/partitions assigned/);
    await kcatProduceLines(topics.actions, lines([
      event('v0', victim, 'crm.read', t0), event('v1', victim, 'vault.read', t0 + 1), event('o0', other, 'crm.read', t0), event('o1', other, 'vault.read', t0 + 1),
    ]));
    const resume = createControl({ op: 'resume', identity: victim, scope: null, ttlMs: null, reason: 'checked with the owner', operator: 'carol' }, keys, t0 + 2);
    await kcatProduceLines(topics.actions, [{ key: victim, value: encodeControl(resume).toString() }]);
    // The new offence at the resume's own event time: both commands have the same issuedAt (what let a replayed resume win before seq).
    await kcatProduceLines(topics.actions, lines([event('v3', victim, 'vault.read', t0 + 2)]));
    await waitFor('three victim commands', async () => {
      const all = (await kcatConsumeAll(topics.commands)).map(parsed).filter((c) => c?.identity === victim && c.type !== 'state');
      return all.length >= 3;
    });
    const all = await kcatConsumeAll(topics.commands);
    const real = all.filter((r) => parsed(r)?.type !== 'state');
    const mine = real.filter((r) => r.key === victim).map((r) => [parsed(r)!, r.payload!] as const);
    expect(mine.map(([c]) => c.type)).toEqual(['suspend', 'resume', 'suspend']);
    const seqs = mine.map(([c]) => c.seq as number);
    expect(seqs[0]).toBeLessThan(seqs[1]!);
    expect(seqs[1]).toBeLessThan(seqs[2]!);
    expect(mine[1]![0].issuedAt).toBe(mine[2]![0].issuedAt);
    for (const [, payload] of mine) expect(openCommand(payload, keys).ok).toBe(true);
    records.resume = mine[1]![1];
    records.suspend = mine[2]![1];
    records.otherSuspend = real.find((r) => r.key === other && parsed(r)?.type === 'suspend')!.payload!;
    // The re-publisher restates the same state with the same seq: nothing new for a gateway.
    await waitFor('a restatement of the victim', async () =>
      (await kcatConsumeAll(topics.commands)).some((r) => r.key === victim && parsed(r)?.type === 'state' && parsed(r)?.seq === seqs[2]));
    running = await gateway();
    expect(denied(running)).toBe(true);
    expect(running.check(other, 'crm.read').allow).toBe(false);
    expect(running.stats().rejected).toEqual({});
    expect(running.stats().repeated).toBeGreaterThan(0);
  });

  it('a re-published real resume, junk, a tombstone and another identity\'s command under the victim\'s key: running and new gateways still deny', async () => {
    await kcatProduceLines(topics.commands, [
      { key: victim, value: records.resume! },
      { key: victim, value: 'junk' },
      { key: victim, value: records.otherSuspend! },
    ]);
    await kcatTombstone(topics.commands, victim);
    await waitFor('the running gateway to have read the hostile records', () => {
      const s = running.stats();
      return (s.rejected.COMMAND_MALFORMED ?? 0) >= 2 && (s.rejected.COMMAND_KEY_MISMATCH ?? 0) >= 1 && s.stale >= 1;
    });
    expect(denied(running)).toBe(true);
    earlyStarted = await gateway();
    expect(denied(earlyStarted)).toBe(true);
    expect(earlyStarted.stats()).toMatchObject({ rejected: { COMMAND_MALFORMED: 2, COMMAND_KEY_MISMATCH: 1 } });
    expect(earlyStarted.stats().stale).toBeGreaterThanOrEqual(1);
    // The other identity's command filed under the victim's key was not applied to the other identity twice, nor to the victim.
    expect(earlyStarted.check(other, 'crm.read')).toMatchObject({ allow: false, identity: other });
  });

  it('with Warden stopped, compaction leaves only hostile records for the victim; Warden\'s start repairs it for every gateway', async () => {
    await stopWarden(warden!);
    warden = undefined;
    await kcatProduceLines(topics.commands, [{ key: victim, value: records.resume! }, { key: victim, value: 'junk' }]);
    // A later record in a new segment, so the one holding the hostile records can be cleaned.
    await waitFor('compaction to remove every real record of the victim', async () => {
      await kcatProduceLines(topics.commands, [{ key: `roll-${Date.now()}`, value: 'roll' }]);
      const mine = (await kcatConsumeAll(topics.commands)).filter((r) => r.key === victim);
      return mine.length === 1 && mine[0]!.payload === 'junk';
    }, 90_000);
    const afterCompaction = await gateway();
    // The window the re-publisher bounds: nothing valid is left for the victim on the topic.
    expect(denied(afterCompaction)).toBe(false);
    // Gateways that read the topic before it was compacted keep the suspension.
    expect(denied(running)).toBe(true);
    expect(denied(earlyStarted)).toBe(true);

    warden = startWarden(env);
    await warden.waitForLog(/breaker states re-published/);
    await waitFor('the gateway started after compaction to deny again', () => denied(afterCompaction), REPUBLISH_MS * 5);
    const fresh = await gateway();
    for (const g of [running, earlyStarted, afterCompaction, fresh]) {
      expect(g.check(victim, 'crm.read')).toMatchObject({ allow: false, identity: victim, scope: '*' });
    }
    // The restatement is the victim's real last suspend, not a new one: same seq, same suspension.
    const last = JSON.parse(records.suspend!) as Record<string, any>;
    expect(fresh.check(victim, 'crm.read')).toMatchObject({ commandId: last.active[0].commandId, until: last.active[0].until });
  });
});
