import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyringFromEnv } from '../../src/commands/keyring.js';
import { openCommand } from '../../src/commands/sign.js';
import type { AgentEvent } from '../../src/event/types.js';
import { fleetActiveKey, fleetOpenKey } from '../../src/state/keys.js';
import {
  createTopic, deletePrefix, kcatConsumeAll, kcatProduceLines, requireKafka, requireRedis, startWarden, stopWarden,
  TEST_COMMAND_KEYS, uniqueName, waitForGroupCaughtUp, type WardenProcess,
} from './helpers.js';

let redis: Redis;
const prefixes: string[] = [];
const wardens: WardenProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  await requireKafka();
  redis = await requireRedis();
});
afterAll(async () => {
  for (const w of wardens) await stopWarden(w);
  for (const p of prefixes) await deletePrefix(redis, p);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  redis?.disconnect();
});

const MIN = 60_000;
const T = Date.UTC(2026, 10, 23, 9);
const N = 12;
const ids = Array.from({ length: N }, (_, i) => `spiffe://acme.example/agent/mailer/${i}`);
const email = (id: string, identity: string, ts: number): AgentEvent => ({ id, ts, identity, action: 'email.send', resource: 'email:customer/1', agentClass: 'mailer' });
const lines = (events: AgentEvent[]) => events.map((e) => ({ key: e.identity, value: JSON.stringify(e) }));

describe('the fleet guard in warden run, against the real broker and Redis', () => {
  it(`of ${N} identities over a bad limit, on 3 partitions, only 25% are suspended at once; the rest are fleet-guard alerts`, async () => {
    const id = uniqueName('fleet');
    const t = { actions: `a-${id}`, decisions: `d-${id}`, commands: `c-${id}`, dlq: `q-${id}` };
    const group = `g-${id}`;
    const prefix = `wt-${id}`;
    prefixes.push(prefix);
    await Promise.all([createTopic(t.actions, 3), createTopic(t.decisions, 1), createTopic(t.commands, 1, true), createTopic(t.dlq, 1)]);

    // The shipped config plus a class whose manifest allows one email a minute: every identity offends.
    const dir = await mkdtemp(join(tmpdir(), 'warden-fleet-cfg-'));
    dirs.push(dir);
    await cp('config', dir, { recursive: true });
    await writeFile(join(dir, 'agents', 'mailer.yaml'), 'agentClass: mailer\nallow:\n  - { action: email.send, resource: "email:**" }\nlimits:\n  - { action: email.send, max: 1, window: 1m }\n');

    // One partition at a time: the counts in Redis are exact (concurrent partitions may overshoot a little near the cap, by design).
    const warden = startWarden({
      WARDEN_TOPIC_ACTIONS: t.actions, WARDEN_TOPIC_DECISIONS: t.decisions, WARDEN_TOPIC_COMMANDS: t.commands, WARDEN_TOPIC_DLQ: t.dlq,
      KAFKA_GROUP_ID: group, WARDEN_REDIS_PREFIX: prefix, KAFKA_SESSION_TIMEOUT_MS: '6000', WARDEN_CONCURRENCY: '1',
    }, dir);
    wardens.push(warden);
    const started = JSON.parse(await warden.waitForLog(/"msg":"warden running"/)) as { http: string };
    await warden.waitForLog(/partitions assigned/);

    // Every identity active (one email each), then each sends a second within the minute.
    await kcatProduceLines(t.actions, lines(ids.map((x, i) => email(`warm-${i}`, x, T + i * 1000))));
    await waitForGroupCaughtUp(group, t.actions);
    await kcatProduceLines(t.actions, lines(ids.map((x, i) => email(`bad-${i}`, x, T + 30_000 + i * 1000))));
    await waitForGroupCaughtUp(group, t.actions);
    // Twenty minutes on, the first suspensions (15m) have ended: the nine others offend again.
    const first = await (async () => {
      const cmds = await kcatConsumeAll(t.commands);
      return cmds.map((r) => JSON.parse(r.payload!) as { identity: string; type: string; until: number });
    })();
    const firstSuspended = first.filter((c) => c.type === 'suspend').map((c) => c.identity);
    expect(firstSuspended).toHaveLength(3);
    expect(Math.max(...first.map((c) => c.until))).toBeLessThan(T + 20 * MIN);
    const rest = ids.filter((x) => !firstSuspended.includes(x));
    await kcatProduceLines(t.actions, lines(rest.flatMap((x, i) => [email(`late-${i}a`, x, T + 20 * MIN + i * 1000), email(`late-${i}b`, x, T + 20 * MIN + i * 1000 + 100)])));
    await waitForGroupCaughtUp(group, t.actions);

    // Counted where it happens: one trip per guarded suspension.
    const metrics = await (await fetch(`http://${started.http}/metrics`)).text();
    expect(metrics).toMatch(/^warden_fleet_guard_trips_total\{agent_class="mailer"\} 15$/m);
    expect(metrics).toMatch(/^warden_breaker_commands_total\{type="suspend"\} 6$/m);
    // The shared counts in Redis: twelve active, six suspensions recorded, members the identities.
    expect((await redis.zrange(fleetActiveKey(prefix, 'mailer'), '0', '-1')).sort()).toEqual([...ids].sort());
    expect(await redis.zcard(fleetOpenKey(prefix, 'mailer'))).toBe(6);
    expect(await stopWarden(warden)).toBe(0);
    // The class is spread over the partitions: the cap held across them through the shared counts.
    expect(new Set((await kcatConsumeAll(t.actions)).map((r) => r.partition)).size).toBeGreaterThan(1);

    // The commands topic: six signed suspends, three per round, never more than three in force.
    const keyring = keyringFromEnv({ WARDEN_COMMAND_KEYS: TEST_COMMAND_KEYS });
    if (!keyring.ok) throw new Error(keyring.reason);
    const raw = await kcatConsumeAll(t.commands);
    for (const r of raw) expect(openCommand(r.payload!, keyring.keyring).ok).toBe(true);
    // A republish round (on assignment, or on its interval when the machine is slow) restates state records: not offences.
    const commands = raw.map((r) => JSON.parse(r.payload!) as { type: string; identity: string; scope: string; issuedAt: number; until: number; detector: string }).filter((c) => c.type !== 'state');
    expect(commands.filter((c) => !(c.type === 'suspend' && c.scope === 'email.send' && c.detector === 'rate'))).toEqual([]);
    expect(commands).toHaveLength(6);
    expect(new Set(commands.map((c) => c.identity)).size).toBe(6);
    const second = commands.filter((c) => c.issuedAt >= T + 20 * MIN).map((c) => c.identity);
    expect(second).toHaveLength(3);
    expect(second.every((x) => rest.includes(x))).toBe(true);

    // The decisions topic: every offence is there, suspended or alerted with the guard's reason.
    const audit = (await kcatConsumeAll(t.decisions)).map((r) => JSON.parse(r.payload!) as Record<string, unknown>);
    const detections = audit.filter((d) => d.kind === 'detection') as Array<{
      identity: string; rule: string; decision: string; severity: string; reason: string; commandId: string | null; ts: number; evidence: Record<string, unknown>;
    }>;
    expect(detections).toHaveLength(N + rest.length);
    expect(detections.every((d) => d.rule === 'hard-limit')).toBe(true);
    const suspendDecisions = detections.filter((d) => d.decision === 'suspend');
    expect(suspendDecisions.map((d) => d.identity).sort()).toEqual(commands.map((c) => c.identity).sort());
    expect(suspendDecisions.every((d) => d.commandId !== null && d.evidence.fleetGuard === undefined)).toBe(true);
    const trips = detections.filter((d) => d.evidence.fleetGuard !== undefined);
    expect(trips).toHaveLength(15);
    for (const d of trips) {
      expect(d).toMatchObject({ decision: 'alert', severity: 'critical', commandId: null });
      expect(d.reason).toMatch(/^fleet guard: 3 of 12 active "mailer" identities already suspended \(cap 3, 25%\); alerting instead of suspending: email\.send exceeded/);
      expect(d.evidence.fleetGuard).toEqual({ agentClass: 'mailer', suspended: 3, active: 12, allowed: 3, maxPercent: 25 });
    }
    // In each round, every identity that offended and was not suspended was alerted.
    const firstRound = detections.filter((d) => d.ts < T + 20 * MIN);
    expect(firstRound.map((d) => d.identity).sort()).toEqual([...ids].sort());
    expect(firstRound.filter((d) => d.evidence.fleetGuard !== undefined).map((d) => d.identity).sort()).toEqual(rest.sort());
    expect(audit.filter((d) => d.kind === 'command')).toHaveLength(6);
  });
});
