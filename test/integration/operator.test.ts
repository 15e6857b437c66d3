import { execFile } from 'node:child_process';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyringFromEnv, parseKeyring, type Keyring } from '../../src/commands/keyring.js';
import { openCommand, verifyCommand } from '../../src/commands/sign.js';
import { createControl, encodeControl } from '../../src/control/create.js';
import type { AgentEvent } from '../../src/event/types.js';
import {
  BROKERS, createTopic, deletePrefix, headerMap, kcatConsumeAll, kcatProduceLines, REDIS_URL, requireKafka, requireRedis,
  startWarden, stopWarden, TEST_COMMAND_KEYS, uniqueName, waitForGroupCaughtUp, type KcatRecord, type WardenProcess,
} from './helpers.js';

/** Operator keys distinct from the command keys (a fixed test secret; never a real one). */
const TEST_OPERATOR_KEYS = `op-1=${Buffer.alloc(32, 9).toString('base64')}`;

let redis: Redis;
let commandKeys: Keyring;
const prefixes: string[] = [];
const wardens: WardenProcess[] = [];

beforeAll(async () => {
  await requireKafka();
  redis = await requireRedis();
  const k = keyringFromEnv({ WARDEN_COMMAND_KEYS: TEST_COMMAND_KEYS });
  if (!k.ok) throw new Error(k.reason);
  commandKeys = k.keyring;
});
afterAll(async () => {
  for (const w of wardens) await stopWarden(w);
  for (const p of prefixes) await deletePrefix(redis, p);
  redis?.disconnect();
});

interface Run { env: Record<string, string>; group: string; actions: string; decisions: string; commands: string; dlq: string }

async function newRun(): Promise<Run> {
  const id = uniqueName('op');
  const run: Run = { group: `g-${id}`, actions: `a-${id}`, decisions: `d-${id}`, commands: `c-${id}`, dlq: `q-${id}`, env: {} };
  prefixes.push(`wt-${id}`);
  await Promise.all([createTopic(run.actions, 3), createTopic(run.decisions, 2), createTopic(run.commands, 2, true), createTopic(run.dlq, 1)]);
  run.env = {
    WARDEN_TOPIC_ACTIONS: run.actions, WARDEN_TOPIC_DECISIONS: run.decisions, WARDEN_TOPIC_COMMANDS: run.commands, WARDEN_TOPIC_DLQ: run.dlq,
    KAFKA_GROUP_ID: run.group, WARDEN_REDIS_PREFIX: `wt-${id}`, KAFKA_SESSION_TIMEOUT_MS: '6000',
  };
  return run;
}

async function startOn(run: Run, env: Record<string, string> = {}): Promise<WardenProcess> {
  const w = startWarden({ ...run.env, ...env });
  wardens.push(w);
  await w.waitForLog(/partitions assigned/);
  return w;
}

interface CliResult { code: number; stdout: string; stderr: string }

/** `warden breaker ...` as an operator runs it: its own process, settings from the environment. */
function breaker(run: Run, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/warden.js', 'breaker', ...args], {
      env: {
        ...process.env, KAFKA_BROKERS: BROKERS, REDIS_URL, KAFKAJS_NO_PARTITIONER_WARNING: '1', USER: 'ci',
        WARDEN_COMMAND_KEYS: TEST_COMMAND_KEYS, WARDEN_OPERATOR_KEYS: '', ...run.env, ...env,
      },
      timeout: 60_000,
    }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Polls a topic until `ok` holds for what is on it (the outbox publishes just after the commit the CLI waits for). */
async function until(topic: string, ok: (records: KcatRecord[]) => boolean, timeoutMs = 15_000): Promise<KcatRecord[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const records = await kcatConsumeAll(topic);
    if (ok(records)) return records;
    if (Date.now() > deadline) throw new Error(`${topic}: condition not met within ${timeoutMs} ms; records:\n${records.map((r) => r.payload).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const parsed = (records: KcatRecord[]): Array<Record<string, any>> => records.map((r) => JSON.parse(r.payload!) as Record<string, any>);
const ofIdentity = (records: KcatRecord[], identity: string): Array<Record<string, any>> => parsed(records).filter((r) => r.identity === identity);

/** support-bot may read the CRM; vault.read is outside its manifest (a whole-identity suspend from the scope detector). */
function event(id: string, identity: string, action: 'crm.read' | 'vault.read', ts = Date.now()): AgentEvent {
  return { id, ts, identity, action, resource: action === 'crm.read' ? 'crm:customers/42' : 'vault:secrets/prod', agentClass: 'support-bot' };
}
const lines = (events: AgentEvent[]) => events.map((e) => ({ key: e.identity, value: JSON.stringify(e) }));

describe('warden breaker suspend|resume against a running Warden, the real broker and Redis', () => {
  let run: Run;
  const alice = `spiffe://acme.example/agent/support-bot/${uniqueName('alice')}`;
  const bob = `spiffe://acme.example/agent/support-bot/${uniqueName('bob')}`;

  beforeAll(async () => {
    run = await newRun();
    // Some of each identity's own traffic first, so the control lands behind it on the same partition.
    await kcatProduceLines(run.actions, lines([event('a0', alice, 'crm.read'), event('b0', bob, 'crm.read')]));
    await startOn(run);
  });

  it('suspend: applied, a signed operator suspend on the commands topic, the audit record on decisions, same partition as the identity', async () => {
    const r = await breaker(run, ['suspend', alice, '--reason', 'INC-1 token leak', '--ttl', '1h', '--operator', 'carol', '--wait', '20s']);
    expect(r.stderr).toBe('');
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^published suspend \\S+ for ${alice.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} to ${run.actions}\\[\\d\\] at offset \\d+ \\(key id test-1\\)$`, 'm'));
    expect(r.stdout).toMatch(/^applied$/m);
    expect(r.stdout).toMatch(/whole identity: open until .*\(operator carol: INC-1 token leak\)/);
    const controlId = /published suspend (\S+)/.exec(r.stdout)![1]!;

    const records = await until(run.commands, (rs) => ofIdentity(rs, alice).length > 0);
    const mine = records.filter((rec) => rec.key === alice);
    expect(mine).toHaveLength(1);
    const v = verifyCommand(mine[0]!.payload!, commandKeys, Date.now());
    expect(v.ok, JSON.stringify(v)).toBe(true);
    const cmd = JSON.parse(mine[0]!.payload!);
    expect(cmd).toMatchObject({ type: 'suspend', identity: alice, scope: '*', cascade: true, detector: null, eventId: controlId, kid: 'test-1', strike: 0 });
    expect(cmd.reason).toBe('operator carol: INC-1 token leak');
    expect(cmd.until - cmd.issuedAt).toBe(3_600_000);
    expect(Math.abs(cmd.issuedAt - Date.now())).toBeLessThan(60_000);
    expect(cmd.active).toEqual([{ scope: '*', until: cmd.until, cascade: true, commandId: cmd.commandId, reason: cmd.reason }]);
    // Tampering with the published command is caught by the gateway's check.
    expect(openCommand(mine[0]!.payload!.replace('"scope":"*"', '"scope":"crm.read"'), commandKeys)).toMatchObject({ ok: false, code: 'COMMAND_FORGED' });

    const audit = ofIdentity(await until(run.decisions, (rs) => ofIdentity(rs, alice).some((d) => d.kind === 'control')), alice);
    expect(audit.find((d) => d.kind === 'control')).toMatchObject({
      controlId, op: 'suspend', scope: '*', operator: 'carol', reason: 'INC-1 token leak', kid: 'test-1', result: 'applied', commandIds: [cmd.commandId],
    });
    expect(audit.filter((d) => d.kind === 'command').map((d) => d.commandId)).toEqual([cmd.commandId]);

    // Keyed by the identity: the control is on the partition of the identity's own events.
    const onActions = (await kcatConsumeAll(run.actions)).filter((rec) => rec.key === alice);
    expect(onActions).toHaveLength(2);
    expect(new Set(onActions.map((rec) => rec.partition)).size).toBe(1);
    expect(JSON.parse(onActions[1]!.payload!)).toMatchObject({ control: 'warden.operator', id: controlId, op: 'suspend', identity: alice, ttlMs: 3_600_000 });
  });

  it('detector offences do not drop an operator suspension: whole identity stays, and a capability one rides along in `active`', async () => {
    // bob: an operator suspends one capability, then bob trips the scope detector (whole identity).
    const r = await breaker(run, ['suspend', bob, '--reason', 'INC-2 spam', '--scope', 'email.send', '--ttl', '2h', '--operator', 'dave', '--wait', '20s']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^  email\.send: open until .*\(operator dave: INC-2 spam\)$/m);
    const operatorCmd = ofIdentity(await until(run.commands, (rs) => ofIdentity(rs, bob).length > 0), bob)[0]!;
    expect(operatorCmd).toMatchObject({ scope: 'email.send', cascade: false, detector: null });

    await kcatProduceLines(run.actions, lines([
      event('a1', alice, 'vault.read'), event('a2', alice, 'vault.read', Date.now() + 1000),
      event('b1', bob, 'vault.read'),
    ]));
    await waitForGroupCaughtUp(run.group, run.actions, 30_000);
    const records = await until(run.commands, (rs) => ofIdentity(rs, bob).length >= 2);
    const bobCmds = ofIdentity(records, bob);
    expect(bobCmds).toHaveLength(2);
    const det = bobCmds[1]!;
    expect(verifyCommand(records.filter((x) => x.key === bob)[1]!.payload!, commandKeys, Date.now()).ok).toBe(true);
    expect(det).toMatchObject({ type: 'suspend', scope: '*', detector: 'scope', strike: 1 });
    expect(det.active.map((a: Record<string, unknown>) => [a.scope, a.commandId, a.reason])).toEqual([
      ['*', det.commandId, expect.stringContaining('vault.read')],
      ['email.send', operatorCmd.commandId, 'operator dave: INC-2 spam'],
    ]);

    // alice: already suspended as a whole, so her offences are recorded but issue nothing, and the operator's suspension
    // stands; her second offence of the same kind is within the suppression window, counted but not a second detection.
    const audit = await until(run.decisions, (rs) => ofIdentity(rs, alice).filter((d) => d.kind === 'detection').length >= 1);
    const detections = ofIdentity(audit, alice).filter((d) => d.kind === 'detection');
    expect(detections.map((d) => [d.eventId, d.commandId])).toEqual([['a1', null]]);
    expect(ofIdentity(await kcatConsumeAll(run.commands), alice)).toHaveLength(1);
    const bobOnActions = (await kcatConsumeAll(run.actions)).filter((rec) => rec.key === bob);
    expect(bobOnActions.map((rec) => JSON.parse(rec.payload!).control ?? 'event')).toEqual(['event', 'warden.operator', 'event']);
    expect(new Set(bobOnActions.map((rec) => rec.partition)).size).toBe(1);
    const shown = await breaker(run, ['show', alice, '--json']);
    expect(shown.code).toBe(0);
    const state = JSON.parse(shown.stdout.trim().split('\n')[0]!);
    expect(state.breaker['*']).toMatchObject({ phase: 'open', detector: null, reason: 'operator carol: INC-1 token leak' });
  });

  it('resume: applied, a signed operator resume published; nothing left to resume is ignored', async () => {
    const r = await breaker(run, ['resume', alice, '--reason', 'INC-1 closed, token rotated', '--operator', 'carol', '--wait', '20s']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^published resume /m);
    expect(r.stdout).toMatch(/^applied$/m);
    expect(r.stdout).toMatch(/whole identity: closed \(operator carol: INC-1 closed, token rotated\)/);
    const records = await until(run.commands, (rs) => ofIdentity(rs, alice).length >= 2);
    const mine = records.filter((rec) => rec.key === alice);
    expect(mine).toHaveLength(2);
    expect(verifyCommand(mine[1]!.payload!, commandKeys, Date.now()).ok).toBe(true);
    expect(JSON.parse(mine[1]!.payload!)).toMatchObject({
      type: 'resume', identity: alice, scope: '*', until: null, probationUntil: null, detector: null, strike: 0, active: [],
      reason: 'operator carol: INC-1 closed, token rotated',
    });
    // Nothing left to resume: the CLI says so with exit 1, and the audit record says why.
    const again = await breaker(run, ['resume', alice, '--reason', 'twice', '--wait', '20s']);
    expect(again.code, again.stdout + again.stderr).toBe(1);
    expect(again.stdout).toMatch(/^ignored: nothing to resume/m);
    const audit = await until(run.decisions, (rs) => ofIdentity(rs, alice).filter((d) => d.kind === 'control').length >= 3);
    expect(ofIdentity(audit, alice).filter((d) => d.kind === 'control').map((d) => [d.op, d.result, d.operator])).toEqual([
      ['suspend', 'applied', 'carol'], ['resume', 'applied', 'carol'], ['resume', 'ignored', 'ci'],
    ]);
    expect(ofIdentity(audit, alice).filter((d) => d.kind === 'control').at(-1)!.detail).toMatch(/^nothing to resume/);
  });

  it('resume without --scope lifts every suspension and forgives the strikes: the next offence is strike 1 again', async () => {
    const r = await breaker(run, ['resume', bob, '--reason', 'INC-2 closed', '--operator', 'dave', '--wait', '20s']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^  whole identity: closed \(operator dave: INC-2 closed\)$/m);
    expect(r.stdout).toMatch(/^  email\.send: closed \(operator dave: INC-2 closed\)$/m);
    const resumed = ofIdentity(await until(run.commands, (rs) => ofIdentity(rs, bob).length >= 4), bob);
    expect(resumed.slice(2).map((c) => [c.type, c.scope, c.detector, c.active])).toEqual([['resume', '*', null, []], ['resume', 'email.send', null, []]]);
    // Bob had one strike from the scope detector; forgiven, the same offence again is a first one, with the base ttl.
    await kcatProduceLines(run.actions, lines([event('b2', bob, 'vault.read')]));
    const after = ofIdentity(await until(run.commands, (rs) => ofIdentity(rs, bob).length >= 5), bob);
    expect(after[4]).toMatchObject({ type: 'suspend', scope: '*', detector: 'scope', strike: 1 });
    expect(after[4]!.until - after[4]!.issuedAt).toBe(15 * 60_000);
  });

  it('a forged control produced with kcat goes to the dead-letter topic as CONTROL_FORGED and issues nothing', async () => {
    const mallory = `spiffe://acme.example/agent/support-bot/${uniqueName('mallory')}`;
    const wrong = parseKeyring(`test-1=${Buffer.alloc(32, 8).toString('base64')}`);
    if (!wrong.ok) throw new Error(wrong.reason);
    const forged = createControl({ op: 'suspend', identity: mallory, scope: '*', ttlMs: 3_600_000, reason: 'takeover', operator: 'mallory' }, wrong.keyring);
    await kcatProduceLines(run.actions, [{ key: mallory, value: encodeControl(forged).toString() }, ...lines([event('m1', mallory, 'crm.read')])]);
    await waitForGroupCaughtUp(run.group, run.actions, 30_000);
    const dlq = await until(run.dlq, (rs) => rs.some((x) => headerMap(x)['warden-error-code'] === 'CONTROL_FORGED'));
    const dl = dlq.filter((x) => headerMap(x)['warden-error-code'] === 'CONTROL_FORGED');
    expect(dl).toHaveLength(1);
    const h = headerMap(dl[0]!);
    expect(h['warden-source-topic']).toBe(run.actions);
    expect(h['warden-error-reason']).toContain(forged.id);
    expect(ofIdentity(await kcatConsumeAll(run.commands), mallory)).toEqual([]);
    expect(ofIdentity(await kcatConsumeAll(run.decisions), mallory).filter((d) => d.kind === 'control')).toEqual([]);
  });
});

describe('with separate operator keys', () => {
  it('refuses a control signed with the command key, accepts one signed with the operator key', async () => {
    const run = await newRun();
    const erin = `spiffe://acme.example/agent/support-bot/${uniqueName('erin')}`;
    await startOn(run, { WARDEN_OPERATOR_KEYS: TEST_OPERATOR_KEYS });
    // An operator holding only the command key (as every gateway does).
    const refused = await breaker(run, ['suspend', erin, '--reason', 'from a gateway host', '--wait', '20s']);
    expect(refused.code, refused.stdout + refused.stderr).toBe(1);
    expect(refused.stdout).toMatch(/\(key id test-1\)/);
    expect(refused.stdout).not.toMatch(/^applied$/m);
    expect(refused.stdout).toMatch(/^refused: /m);
    expect(refused.stdout).toContain(`see ${run.dlq} for why (usually a key Warden does not have: this control was signed with key id test-1)`);
    const dlq = await until(run.dlq, (rs) => rs.length > 0);
    expect(dlq.map((x) => headerMap(x)['warden-error-code'])).toEqual(['CONTROL_UNKNOWN_KEY']);
    expect(ofIdentity(await kcatConsumeAll(run.commands), erin)).toEqual([]);

    const ok = await breaker(run, ['suspend', erin, '--reason', 'INC-3', '--wait', '20s'], { WARDEN_OPERATOR_KEYS: TEST_OPERATOR_KEYS });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/\(key id op-1\)/);
    const cmds = await until(run.commands, (rs) => ofIdentity(rs, erin).length > 0);
    const mine = cmds.filter((x) => x.key === erin);
    // The command itself is still signed with the command key, for the gateways.
    expect(verifyCommand(mine[0]!.payload!, commandKeys, Date.now()).ok).toBe(true);
    expect(JSON.parse(mine[0]!.payload!)).toMatchObject({ kid: 'test-1', detector: null, reason: 'operator ci: INC-3' });
  });
});

describe('without a running Warden', () => {
  it('publishes, waits --wait, and exits 3', async () => {
    const run = await newRun();
    const started = Date.now();
    const r = await breaker(run, ['suspend', 'spiffe://acme.example/agent/support-bot/nobody-home', '--reason', 'test', '--wait', '2s']);
    expect(r.code, r.stdout + r.stderr).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(r.stdout).toMatch(/^published suspend /m);
    expect(r.stdout).toMatch(new RegExp(`^not applied within 2s: is \`warden run\` consuming ${run.actions}\\?`, 'm'));
    // It is on the topic for Warden to apply when it comes.
    const onTopic = await kcatConsumeAll(run.actions);
    expect(onTopic.map((x) => JSON.parse(x.payload!).control)).toEqual(['warden.operator']);
  });
});
