import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateFleet } from '../../src/sim/fleet.js';
import { partitionKey } from '../../src/state/keys.js';
import { masters, type RedisClient } from '../../src/state/redis-connection.js';
import {
  committedCount, createTopic, deletePrefix, kcatProduceLines, requireCluster, startWarden, stopWarden, TEST_COMMAND_KEYS, uniqueName, useServices,
  waitForGroupCaughtUp, wardenCli, type WardenProcess,
} from './helpers.js';
import { expectSameStateOf, newRunOf, outputs, replayExpected } from './runs.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A cluster of this test's own (it kills a master), on ports no other test uses; AOF with fsync always, so the
// killed master comes back with everything it acknowledged, as a production master with persistence would.
const PORTS = [7111, 7112, 7113];
const URL = `redis+cluster://${PORTS.map((p) => `127.0.0.1:${p}`).join(',')}`;
let dir: string;
const cluster = (cmd: string, ...args: string[]) => run('bash', ['scripts/redis-cluster.sh', cmd, ...args], {
  env: { ...process.env, REDIS_CLUSTER_PORTS: PORTS.join(' '), REDIS_CLUSTER_DIR: dir, REDIS_CLUSTER_APPENDONLY: 'yes' },
  timeout: 60_000,
});

let redis: Redis;
const prefixes = useServices((r) => (redis = r));
let own: RedisClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-cluster-failover-'));
  await cluster('start');
  own = await requireCluster(URL);
});
afterAll(async () => {
  own?.disconnect();
  if (dir) {
    await cluster('stop').catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
});

const baseOf = async (w: WardenProcess): Promise<string> => `http://${(JSON.parse(await w.waitForLog(/"msg":"warden running"/)) as { http: string }).http}`;

/** The port of the master that serves a key's slot. */
async function masterOf(key: string): Promise<number> {
  const [node] = await masters(own);
  const slot = Number(await node!.cluster('KEYSLOT', key));
  const ranges = (await node!.cluster('SLOTS')) as Array<[number, number, [string, number]]>;
  return ranges.find(([from, to]) => slot >= from && slot <= to)![2][1];
}

describe('warden run on a Redis Cluster', () => {
  it('readiness 503 while it is down, recovery when it is back on its nodes.conf, nothing lost or counted twice', async () => {
    const sim = simulateFleet({ days: 1, seed: 9 });
    const lines = sim.events.map((e) => ({ key: e.identity, value: JSON.stringify(e) }));
    const half = Math.floor(lines.length / 2);
    const actions = uniqueName('cluster-kill');
    await createTopic(actions, 6);
    const [ref, onCluster] = [await newRunOf(actions, prefixes), await newRunOf(actions, [])];
    const expected = replayExpected(sim.events);
    // The reference runs on the shared Redis and loses nothing; the other on the cluster, which loses a master.
    const clean = startWarden({ ...ref.env, WARDEN_MAX_BATCH: '200' });
    const warden = startWarden({ ...onCluster.env, REDIS_URL: URL, WARDEN_MAX_BATCH: '200' });
    const base = await baseOf(warden);
    await kcatProduceLines(actions, lines.slice(0, half));
    while ((await committedCount(onCluster.group, actions)) < half / 2) await sleep(100);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    // Partitions' state spreads over the masters; the one killed serves partition 0's.
    const victim = await masterOf(partitionKey(onCluster.prefix, `${actions}:0`));
    await cluster('kill', String(victim));
    const down = Date.now();
    const rest = kcatProduceLines(actions, lines.slice(half));
    let ready = await fetch(`${base}/readyz`);
    while (ready.status === 200 && Date.now() - down < 10_000) {
      await sleep(100);
      ready = await fetch(`${base}/readyz`);
    }
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(/Redis/);
    const unready = Date.now() - down;
    await warden.waitForLog(/batch waiting: retrying/, 20_000);
    await rest;
    // Nothing is committed while the cluster is down: the other masters refuse too once they see the loss (CLUSTERDOWN).
    await sleep(3000);
    const during = await committedCount(onCluster.group, actions);
    await sleep(2000);
    expect(await committedCount(onCluster.group, actions)).toBe(during);
    expect(during).toBeLessThan(lines.length);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    expect(warden.child.exitCode).toBeNull();

    // The same port, nodes.conf and AOF: it takes its slots back.
    await cluster('start');
    const back = Date.now();
    while ((await fetch(`${base}/readyz`)).status !== 200) {
      if (Date.now() - back > 30_000) throw new Error(`not ready 30 s after the master came back: ${await (await fetch(`${base}/readyz`)).text()}`);
      await sleep(200);
    }
    const recovered = Date.now() - back;
    await waitForGroupCaughtUp(onCluster.group, actions, 60_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; last lines:\n${warden.logs.slice(-25).join('\n')}`);
    });
    await waitForGroupCaughtUp(ref.group, actions, 30_000);
    expect(warden.logs.some((l) => l.includes('batch recovered'))).toBe(true);
    // Heartbeats all along: the group never took the partitions away.
    expect(warden.logs.filter((l) => l.includes('"msg":"partitions assigned"'))).toHaveLength(1);
    expect(await stopWarden(warden)).toBe(0);
    expect(await stopWarden(clean)).toBe(0);

    await expectSameStateOf(own, onCluster.prefix, redis, ref.prefix);
    const [got, want, exp] = [await outputs(onCluster), await outputs(ref), await expected];
    expect(exp.commands.length).toBeGreaterThan(0);
    expect(got.decisions).toEqual(want.decisions);
    expect(got.commands).toEqual(want.commands);
    expect(got.decisions).toEqual(exp.decisions);
    expect(got.commands).toEqual(exp.commands);
    // What it took, for the log of the run.
    console.log(`cluster failover: readiness 503 ${unready} ms after the kill; ready ${recovered} ms after the master came back`);
  });

  it('warden breaker suspend, list and resume against a Warden on the cluster', async () => {
    const actions = uniqueName('cluster-op');
    await createTopic(actions, 3);
    const r = await newRunOf(actions, []);
    const alice = `spiffe://acme.example/agent/support-bot/${uniqueName('alice')}`;
    await kcatProduceLines(actions, [{ key: alice, value: JSON.stringify({ id: 'a0', ts: Date.now(), identity: alice, action: 'crm.read', resource: 'crm:customers/42', agentClass: 'support-bot' }) }]);
    const warden = startWarden({ ...r.env, REDIS_URL: URL });
    try {
      await warden.waitForLog(/partitions assigned/);
      const env = { ...r.env, REDIS_URL: URL, USER: 'ci', WARDEN_COMMAND_KEYS: TEST_COMMAND_KEYS, WARDEN_OPERATOR_KEYS: '' };
      const suspend = await wardenCli(['breaker', 'suspend', alice, '--reason', 'INC-2', '--ttl', '1h', '--operator', 'carol', '--wait', '20s'], env);
      expect(suspend.stderr).toBe('');
      expect(suspend.code, suspend.stdout).toBe(0);
      expect(suspend.stdout).toMatch(/^applied$/m);
      const list = await wardenCli(['breaker', 'list', '--json'], env);
      expect(list.code, list.stderr).toBe(0);
      expect(JSON.parse(list.stdout.trim())).toMatchObject({ identity: alice, breaker: { '*': { phase: 'open' } } });
      const resume = await wardenCli(['breaker', 'resume', alice, '--reason', 'INC-2 fixed', '--operator', 'carol', '--wait', '20s'], env);
      expect(resume.code, resume.stdout + resume.stderr).toBe(0);
      expect(resume.stdout).toMatch(/^applied$/m);
      // A resume leaves a closed tombstone (replay protection), which the list shows.
      expect(JSON.parse((await wardenCli(['breaker', 'list', '--json'], env)).stdout.trim())).toMatchObject({ identity: alice, breaker: { '*': { phase: 'closed' } } });
    } finally {
      expect(await stopWarden(warden)).toBe(0);
      await deletePrefix(own, r.prefix);
    }
  });
});
