import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '../../src/alerts/sign.js';
import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { keyringFromEnv } from '../../src/commands/keyring.js';
import { openCommand } from '../../src/commands/sign.js';
import { encodeEvent } from '../../src/event/codec.js';
import type { AgentEvent } from '../../src/event/types.js';
import { simulateFleet } from '../../src/sim/fleet.js';
import { classActiveKey, classCountersKey } from '../../src/state/keys.js';
import {
  committedCount, createTopic, headerMap, kcatConsumeAll, kcatProduceBinary, kcatProduceLines, startWarden, stopWarden, TEST_COMMAND_KEYS, uniqueName, waitForGroupCaughtUp, useServices,
} from './helpers.js';
import { exactConfigDir, expectSameStateOf, newRunOf, outputs, replayExpected, type Run } from './runs.js';

const execFileP = promisify(execFile);
let redis: Redis;
const prefixes = useServices((r) => (redis = r));

const newRun = (actions: string): Promise<Run> => newRunOf(actions, prefixes);
const expectSameState = (a: string, b: string, rename?: [string, string]): Promise<void> => expectSameStateOf(redis, a, redis, b, rename);

describe('warden run against the real broker and Redis', () => {
  it('takes msgpack and JSON events from kcat, publishes commands and decisions, dead-letters malformed events', async () => {
    const actions = uniqueName('actions');
    await createTopic(actions, 3);
    const run = await newRun(actions);
    const t0 = Date.UTC(2026, 10, 20, 3, 0, 0);
    const rogue = 'spiffe://acme.example/agent/analytics-agent/{evil}:\nid';
    const reader = 'spiffe://acme.example/agent/analytics-agent/good';
    const msgpackEvents: AgentEvent[] = [
      { id: 'm1', ts: t0, identity: reader, action: 'db.read', resource: 'db:prod.orders', agentClass: 'analytics-agent' },
      { id: 'm2', ts: t0 + 1000, identity: rogue, action: 'db.write', resource: 'db:prod.orders', agentClass: 'analytics-agent' },
    ];
    await kcatProduceBinary(actions, msgpackEvents.map((e) => ({ key: e.identity, value: encodeEvent(e, 'msgpack') })));
    const jsonEvent: AgentEvent = { id: 'j1', ts: t0 + 2000, identity: 'spiffe://acme.example/agent/support-bot/s1', action: 'vault.read', resource: 'vault:secrets/prod', agentClass: 'support-bot' };
    await kcatProduceLines(actions, [
      { key: jsonEvent.identity, value: JSON.stringify(jsonEvent) },
      { key: 'junk', value: 'this is not an event' },
      { key: 'no-ts', value: JSON.stringify({ id: 'x', identity: 'a', action: 'b', resource: 'c' }) },
    ]);

    const warden = startWarden(run.env);
    await warden.waitForLog(/"msg":"consuming"/);
    await waitForGroupCaughtUp(run.group, actions);
    expect(await stopWarden(warden)).toBe(0);
    expect(warden.logs.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
    // The class store counted both analytics-agent identities and the class's db.read.
    expect((await redis.zrange(classActiveKey(run.prefix, 'analytics-agent'), '0', '-1')).sort()).toEqual([reader, rogue].sort());
    expect(await redis.hkeys(classCountersKey(run.prefix, 'analytics-agent'))).toEqual(expect.arrayContaining([expect.stringContaining('db.read')]));

    const raw = await kcatConsumeAll(run.commands);
    // Every command is signed with the configured key and verifies; a tampered copy does not.
    const keyring = keyringFromEnv({ WARDEN_COMMAND_KEYS: TEST_COMMAND_KEYS });
    if (!keyring.ok) throw new Error(keyring.reason);
    for (const r of raw) {
      const v = openCommand(r.payload!, keyring.keyring);
      expect(v.ok, r.payload!).toBe(true);
      expect(JSON.parse(r.payload!).kid).toBe('test-1');
      expect(openCommand(r.payload!.replace('"scope":"*"', '"scope":"db.read"'), keyring.keyring)).toMatchObject({ ok: false, code: 'COMMAND_FORGED' });
    }
    const commands = raw.map((r) => ({ key: r.key, cmd: JSON.parse(r.payload!) }));
    const suspended = commands.filter((c) => c.cmd.type === 'suspend').map((c) => [c.key, c.cmd.identity, c.cmd.scope, c.cmd.detector]);
    expect(suspended).toEqual(expect.arrayContaining([
      [rogue, rogue, '*', 'scope'],
      [jsonEvent.identity, jsonEvent.identity, '*', 'scope'],
    ]));
    expect(suspended.some((s) => s[1] === reader)).toBe(false);

    const audit = (await kcatConsumeAll(run.decisions)).map((r) => JSON.parse(r.payload!));
    // Restatements (`state`, on start and on an interval) repeat state; the audit trail has the decisions' commands only.
    expect(audit.filter((d) => d.kind === 'command').length).toBe(commands.filter((c) => c.cmd.type !== 'state').length);
    const decisions = audit.filter((d) => d.kind === 'detection');
    expect(decisions.filter((d) => d.identity === rogue).map((d) => d.rule).sort()).toEqual(['outside-manifest', 'read-only-write']);
    expect(decisions.find((d) => d.identity === jsonEvent.identity)?.rule).toBe('outside-manifest');

    // Operators see the same state with `warden breaker`.
    const cli = (args: string[]) => execFileP(process.execPath, ['bin/warden.js', 'breaker', ...args], { env: { ...process.env, WARDEN_REDIS_PREFIX: run.prefix } });
    const listed = (await cli(['list', '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(listed.map((b) => b.identity).sort()).toEqual([rogue, jsonEvent.identity].sort());
    expect(listed.find((b) => b.identity === rogue).breaker['*']).toMatchObject({ phase: 'open', strikes: 1, detector: 'scope' });
    const shown = (await cli(['show', rogue])).stdout;
    expect(shown).toContain('whole identity');
    expect(shown).toMatch(/open\s+1\s+2026-11-20 03:15:01/);
    await expect(cli(['show', 'spiffe://nobody'])).rejects.toMatchObject({ code: 1 });

    const dlq = await kcatConsumeAll(run.dlq);
    expect(dlq.map((r) => r.payload).sort()).toEqual([JSON.stringify({ id: 'x', identity: 'a', action: 'b', resource: 'c' }), 'this is not an event'].sort());
    const byPayload = new Map(dlq.map((r) => [r.payload, headerMap(r)]));
    expect(byPayload.get('this is not an event')).toMatchObject({ 'warden-error-code': 'EVENT_DECODE', 'warden-source-topic': actions });
    const missing = byPayload.get(JSON.stringify({ id: 'x', identity: 'a', action: 'b', resource: 'c' }))!;
    expect(missing).toMatchObject({ 'warden-error-code': 'EVENT_FIELD_MISSING', 'warden-error-field': 'ts' });
    expect(missing['warden-error-reason']).toMatch(/ts/);
    expect(Number(missing['warden-source-offset'])).toBeGreaterThanOrEqual(0);
  });

  it('serves /healthz, /readyz and /metrics, and hot-reloads config: a bad file is refused and the running config stays', async () => {
    const actions = uniqueName('ops');
    await createTopic(actions, 2);
    const run = await newRun(actions);
    const dir = await mkdtemp(join(tmpdir(), 'warden-cfg-'));
    try {
      await cp('config', dir, { recursive: true });
      // A real on-call receiver on loopback.
      const received: Array<{ headers: Record<string, string | string[] | undefined>; body: string }> = [];
      const receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          received.push({ headers: req.headers, body });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      const port = (receiver.address() as AddressInfo).port;
      await writeFile(join(dir, 'alerts.yaml'), `receivers:\n  - name: oncall\n    url: http://127.0.0.1:${port}/hook\n    format: generic\n    secretEnv: ONCALL_SECRET\n`);
      // A catch-all binding overlaps every class's: valid, but warned about once at start (the bound classes still win).
      await writeFile(join(dir, 'agents', 'catch-all.yaml'), 'agentClass: catch-all\nidentities: ["spiffe://acme.example/**"]\n');
      const warden = startWarden({ ...run.env, ONCALL_SECRET: 'on-call-test-secret' }, dir);
      const warning = JSON.parse(await warden.waitForLog(/config warning: .*catch-all\.yaml/));
      expect(warning).toMatchObject({ level: 40, path: 'identities[0]', line: 2 });
      expect(warning.msg).toMatch(/"spiffe:\/\/acme\.example\/\*\*" overlaps "spiffe:\/\/acme\.example\/agent\/[a-z-]+\/\*" of [a-z-]+/);
      const started = JSON.parse(await warden.waitForLog(/"msg":"warden running"/));
      const base = `http://${started.http}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      await warden.waitForLog(/partitions assigned/);
      let ready = await fetch(`${base}/readyz`);
      for (let i = 0; i < 50 && ready.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        ready = await fetch(`${base}/readyz`);
      }
      expect(ready.status).toBe(200);
      const t0 = Date.UTC(2026, 10, 20);
      const bot = 'spiffe://acme.example/agent/support-bot/0a0a';
      await kcatProduceLines(actions, [
        // A support bot (config/agents binds its SPIFFE ID) out of its manifest; it sends no agentClass, as the example gateway does.
        { key: bot, value: JSON.stringify({ id: 'o1', ts: t0, identity: bot, action: 'vault.read', resource: 'vault:x' }) },
        { key: 'b', value: 'garbage' },
      ]);
      await waitForGroupCaughtUp(run.group, actions);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/^warden_events_consumed_total 2$/m);
      expect(metrics).toMatch(/^warden_events_invalid_total\{code="EVENT_DECODE"\} 1$/m);
      expect(metrics).toMatch(/^warden_detections_total\{detector="scope",rule="outside-manifest",decision="suspend"\} 1$/m);
      expect(metrics).toMatch(/^warden_breakers_open 1$/m);
      expect(metrics).toMatch(/^# TYPE warden_batch_duration_seconds histogram$/m);

      await writeFile(join(dir, 'detectors.yaml'), 'detectors:\n  rate:\n    mode: sometimes\n');
      const refused = await warden.waitForLog(/config reload refused/);
      expect(refused).toMatch(/detectors\.rate\.mode/);
      await writeFile(join(dir, 'detectors.yaml'), 'version: "reloaded-1"\n');
      // alerts.yaml shows in a pinned version, as override files do.
      await warden.waitForLog(/"configVersion":"reloaded-1\+alerts:[0-9a-f]{12}".*config reloaded|config reloaded.*"configVersion":"reloaded-1\+alerts:[0-9a-f]{12}"/);
      const after = await (await fetch(`${base}/metrics`)).text();
      expect(after).toMatch(/^warden_config_reloads_total\{result="refused"\} 1$/m);
      expect(after).toMatch(/^warden_config_reloads_total\{result="applied"\} 1$/m);
      // On-call was paged for the suspension, with a signature the receiver can verify.
      for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(received).toHaveLength(1);
      const alert = JSON.parse(received[0]!.body);
      expect(alert).toMatchObject({ receiver: 'oncall', detection: { identity: bot, rule: 'outside-manifest', decision: 'suspend', agentClass: 'support-bot' } });
      expect(verifyWebhook('on-call-test-secret', received[0]!.headers, received[0]!.body, Math.floor(Date.now() / 1000))).toMatchObject({ ok: true });
      expect(verifyWebhook('forged', received[0]!.headers, received[0]!.body, Math.floor(Date.now() / 1000))).toMatchObject({ ok: false });
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^warden_webhook_deliveries_total\{receiver="oncall"\} 1$/m);
      expect(await stopWarden(warden)).toBe(0);
      receiver.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('with a simulated fleet on a 6-partition topic', () => {
    const sim = simulateFleet({ days: 2, seed: 5 });
    let actions: string;
    let clean: Run;
    let expected: { decisions: string[]; commands: string[] };
    // Class baselines are approximate across partitions: decision for decision, compare without them.
    let exactDir: string;

    beforeAll(async () => {
      exactDir = await exactConfigDir();
      actions = uniqueName('fleet');
      await createTopic(actions, 6);
      await kcatProduceLines(actions, sim.events.map((e) => ({ key: e.identity, value: JSON.stringify(e) })));
      expected = await replayExpected(sim.events, exactDir);
      clean = await newRun(actions);
      const w = startWarden(clean.env, exactDir);
      await waitForGroupCaughtUp(clean.group, actions);
      expect(await stopWarden(w)).toBe(0);
    });

    it('gives the same decisions and commands as warden replay of the same events', async () => {
      const got = await outputs(clean);
      expect(expected.commands.length).toBeGreaterThan(2);
      expect(got.decisions).toEqual(expected.decisions);
      expect(got.commands).toEqual(expected.commands);
    });

    it('after SIGKILL mid-stream and a restart, state and outputs equal a clean run: nothing lost, nothing counted twice', async () => {
      const run = await newRun(actions);
      const first = startWarden({ ...run.env, WARDEN_MAX_BATCH: '100', WARDEN_CONCURRENCY: '2' }, exactDir);
      const total = sim.events.length;
      let done = 0;
      while (done < total * 0.2) {
        await new Promise((r) => setTimeout(r, 50));
        done = await committedCount(run.group, actions);
      }
      first.child.kill('SIGKILL');
      await first.exited;
      expect(done).toBeLessThan(total);
      const second = startWarden(run.env, exactDir);
      await waitForGroupCaughtUp(run.group, actions);
      expect(await stopWarden(second)).toBe(0);

      await expectSameState(run.prefix, clean.prefix);
      const got = await outputs(run);
      expect(got.decisions).toEqual(expected.decisions);
      expect(got.commands).toEqual(expected.commands);
    });

    it('two processes in one group split the partitions; when one leaves, the other takes over', async () => {
      // Its own topic, filled only once both members hold partitions, so there is work to hand over.
      const topic = uniqueName('fleet2');
      await createTopic(topic, 6);
      const run = await newRun(topic);
      const a = startWarden({ ...run.env, WARDEN_MAX_BATCH: '100' }, exactDir);
      const b = startWarden({ ...run.env, WARDEN_MAX_BATCH: '100' }, exactDir);
      const lastAssigned = (p: typeof a): string[] =>
        p.logs.filter((l) => l.includes('partitions assigned')).map((l) => JSON.parse(l).assigned as string[]).pop() ?? [];
      const until = async (what: string, ok: () => boolean): Promise<void> => {
        const deadline = Date.now() + 60_000;
        while (!ok()) {
          if (Date.now() > deadline) throw new Error(`${what}: a=${lastAssigned(a)} b=${lastAssigned(b)}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await until('group did not split', () => lastAssigned(a).length > 0 && lastAssigned(b).length > 0 && lastAssigned(a).length + lastAssigned(b).length === 6);
      const assignedA = lastAssigned(a);
      await kcatProduceLines(topic, sim.events.map((e) => ({ key: e.identity, value: JSON.stringify(e) })));
      let done = 0;
      while (done < sim.events.length * 0.3) {
        await new Promise((r) => setTimeout(r, 50));
        done = await committedCount(run.group, topic);
      }
      expect(await stopWarden(a)).toBe(0);
      await until('b did not take over all six partitions', () => lastAssigned(b).length === 6);
      await waitForGroupCaughtUp(run.group, topic);
      expect(await stopWarden(b)).toBe(0);
      expect(assignedA.length).toBeGreaterThan(0);
      expect(assignedA.length).toBeLessThan(6);
      // a committed part of the stream itself before it left.
      expect(a.logs.some((l) => l.includes('"msg":"stopped"'))).toBe(true);

      await expectSameState(run.prefix, clean.prefix, [topic, actions]);
      const got = await outputs(run);
      expect(got.decisions).toEqual(expected.decisions);
      expect(got.commands).toEqual(expected.commands);
    });
  });
});
