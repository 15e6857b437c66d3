import { spawn } from 'node:child_process';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateFleet } from '../../src/sim/fleet.js';
import { outboxKey, partitionKey } from '../../src/state/keys.js';
import type { RedisClient } from '../../src/state/redis-connection.js';
import {
  BROKERS, createTopic, deletePrefix, kcatConsumeAll, kcatProduceLines, REDIS_CLUSTER_URL, REDIS_URL, requireCluster, startWarden, stopWarden,
  TEST_COMMAND_KEYS, uniqueName, useServices, waitForGroupCaughtUp,
} from './helpers.js';
import { exactConfigDir, expectSameStateOf, newRunOf, outputs, replayExpected, type Run } from './runs.js';

let redis: Redis;
const prefixes = useServices((r) => (redis = r));
// The same crashes on the local Redis Cluster (scripts/redis-cluster.sh), compared with the clean run on one Redis.
let cluster: RedisClient;
const clusterPrefixes: string[] = [];
afterAll(async () => {
  for (const p of clusterPrefixes) await deletePrefix(cluster, p);
  cluster?.disconnect();
});
const sim = simulateFleet({ days: 1, seed: 5 });
let actions: string;
let exactDir: string;
let clean: Run;
let expected: { decisions: string[]; commands: string[] };

beforeAll(async () => {
  exactDir = await exactConfigDir();
  // One partition: the first commit with records is the first output of the run, so "nothing published yet" is exact.
  actions = uniqueName('recovery');
  await createTopic(actions, 1);
  await kcatProduceLines(actions, sim.events.map((e) => ({ key: e.identity, value: JSON.stringify(e) })));
  expected = await replayExpected(sim.events, exactDir);
  clean = await newRunOf(actions, prefixes);
  const w = startWarden(clean.env, exactDir);
  await waitForGroupCaughtUp(clean.group, actions);
  expect(await stopWarden(w)).toBe(0);
  cluster = await requireCluster();
});

/** Runs test/integration/crash-at.mjs until it SIGKILLs itself at `at` (probes on a free port: 9400 may be taken on a shared machine). */
function crashAt(at: 'commit' | 'ack', run: Run, url: string): Promise<NodeJS.Signals | null> {
  const child = spawn(process.execPath, ['test/integration/crash-at.mjs', exactDir], {
    env: { ...process.env, KAFKA_BROKERS: BROKERS, REDIS_URL: url, KAFKAJS_NO_PARTITIONER_WARNING: '1', WARDEN_COMMAND_KEYS: TEST_COMMAND_KEYS, WARDEN_EVENT_MAX_AGE: '0', WARDEN_MAX_BATCH: '100', WARDEN_HTTP_PORT: '0', WARDEN_HTTP_HOST: '127.0.0.1', CRASH_AT: at, ...run.env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), 60_000);
  return new Promise((resolve) => child.on('exit', (_code, signal) => {
    clearTimeout(timer);
    resolve(signal);
  }));
}

const outboxLength = (r: RedisClient, run: Run): Promise<number> => r.llen(outboxKey(partitionKey(run.prefix, `${actions}:0`)));

it('the clean run gives what replay gives', async () => {
  const got = await outputs(clean);
  expect(expected.decisions.length).toBeGreaterThan(0);
  expect(got).toEqual({ ...expected, duplicates: 0 });
});

describe.each([
  { target: 'one Redis', url: () => REDIS_URL, admin: () => redis, own: () => prefixes },
  { target: 'a Redis Cluster', url: () => REDIS_CLUSTER_URL, admin: () => cluster, own: () => clusterPrefixes },
])('the outbox across a crash between commit and acknowledgement, on $target', ({ url, admin, own }) => {
  const runOn = async (): Promise<Run> => {
    const run = await newRunOf(actions, own());
    run.env.REDIS_URL = url();
    return run;
  };

  it('killed right after a commit, before publishing: the restart publishes the outbox once, state as a clean run', async () => {
    const run = await runOn();
    expect(await crashAt('commit', run, url())).toBe('SIGKILL');
    expect(await outboxLength(admin(), run)).toBeGreaterThan(0);
    expect(await kcatConsumeAll(run.decisions)).toEqual([]);

    const w = startWarden(run.env, exactDir);
    await waitForGroupCaughtUp(run.group, actions);
    expect(await stopWarden(w)).toBe(0);
    // Each output once: the restart published the committed records and did not derive them again from the redelivered events.
    expect(await outputs(run)).toEqual({ ...expected, duplicates: 0 });
    expect(await outboxLength(admin(), run)).toBe(0);
    await expectSameStateOf(admin(), run.prefix, redis, clean.prefix);
  });

  it('killed after publishing, before the acknowledgement: the restart publishes the same records again, byte for byte', async () => {
    const run = await runOn();
    expect(await crashAt('ack', run, url())).toBe('SIGKILL');
    const pending = await outboxLength(admin(), run);
    expect(pending).toBeGreaterThan(0);
    const before = (await kcatConsumeAll(run.decisions)).length + (await kcatConsumeAll(run.commands)).length;
    expect(before).toBeGreaterThan(0);

    const w = startWarden(run.env, exactDir);
    await waitForGroupCaughtUp(run.group, actions);
    expect(await stopWarden(w)).toBe(0);
    // outputs() requires a repeat to be identical to the first copy: same deterministic ids, same bytes.
    const got = await outputs(run);
    expect({ decisions: got.decisions, commands: got.commands }).toEqual(expected);
    expect(got.duplicates).toBeGreaterThan(0);
    expect(got.duplicates).toBeLessThanOrEqual(pending);
    expect(await outboxLength(admin(), run)).toBe(0);
    await expectSameStateOf(admin(), run.prefix, redis, clean.prefix);
  });
});
