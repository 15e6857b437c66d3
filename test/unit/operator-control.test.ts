import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { encode as msgpack } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advance, isSuspended, offend } from '../../src/breaker/breaker.js';
import { applyControl, controlCommandId } from '../../src/breaker/operator.js';
import type { BreakerCommand, BreakerState } from '../../src/breaker/types.js';
import { parseKeyring, type Keyring } from '../../src/commands/keyring.js';
import { signCommand } from '../../src/commands/sign.js';
import { loadConfig } from '../../src/config/load.js';
import type { BreakerConfig, WardenConfig } from '../../src/config/types.js';
import { createControl, encodeControl, type ControlRequest } from '../../src/control/create.js';
import { canonicalControl, verifyControl } from '../../src/control/sign.js';
import type { OperatorControl } from '../../src/control/types.js';
import type { Detection } from '../../src/detector.js';
import { decodeEvent } from '../../src/event/codec.js';
import { readEventStream } from '../../src/event/read-stream.js';
import type { AgentEvent } from '../../src/event/types.js';
import { Engine, type InputRecord } from '../../src/pipeline/engine.js';
import type { OutputItem } from '../../src/pipeline/outputs.js';
import { outputRecord } from '../../src/pipeline/records.js';
import { replay } from '../../src/pipeline/replay.js';
import { MemoryWindowStore } from '../../src/state/memory-store.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T = Date.UTC(2026, 10, 22, 12);
const cfg = {
  ttlMs: 15 * MIN, maxTtlMs: HOUR, probationMs: 10 * MIN, probationActions: 0, forgiveAfterMs: 24 * HOUR,
  fleetGuard: { enabled: false, maxPercent: 25, alwaysAllow: 2, activeWindowMs: HOUR },
} as BreakerConfig;

function ring(spec: string): Keyring {
  const r = parseKeyring(spec);
  if (!r.ok) throw new Error(r.reason);
  return r.keyring;
}
const OPS = ring(`ops-1=${Buffer.alloc(32, 1).toString('base64')}`);
/** Same key id, another secret: what a forger without the key would have. */
const WRONG_SECRET = ring(`ops-1=${Buffer.alloc(32, 2).toString('base64')}`);
const OTHER_KID = ring(`ops-2=${Buffer.alloc(32, 1).toString('base64')}`);

let seq = 0;
function control(op: 'suspend' | 'resume', ts: number, over: Partial<ControlRequest> = {}, keys: Keyring = OPS): OperatorControl {
  return createControl({
    op, identity: 'agent-1', scope: op === 'suspend' ? '*' : null, ttlMs: op === 'suspend' ? 30 * MIN : null,
    reason: 'INC-7 exfiltration suspected', operator: 'alice', ...over,
  }, keys, ts, `ctl-${++seq}`);
}

function detection(ts: number, over: Partial<Detection> = {}): Detection {
  return {
    identity: 'agent-1', detector: 'rate', rule: 'hard-limit', severity: 'high', decision: 'suspend', mode: 'enforce',
    scope: 'email.send', ts, eventId: `e-${ts}`, action: 'email.send', resource: 'email:x', chain: [], agentClass: 'bot',
    reason: 'too many emails', evidence: { observed: 30, configVersion: 'v1' }, ...over,
  };
}

describe('applyControl', () => {
  it('a suspend opens the whole identity at the control time with the given ttl, probation after it, as the operator', () => {
    const s: BreakerState = {};
    const c = control('suspend', T);
    const effect = applyControl(s, c, cfg);
    expect(effect.result).toBe('applied');
    expect(effect.detail).toMatch(/^suspended the whole identity until 2026-11-22T12:30:00.000Z$/);
    const id = controlCommandId(c, '*', 'suspend');
    expect(effect.commands).toEqual([{
      v: 2, seq: 0, type: 'suspend', commandId: id, identity: 'agent-1', scope: '*', until: T + 30 * MIN, probationUntil: T + 40 * MIN,
      reason: 'operator alice: INC-7 exfiltration suspected', detector: null, issuedAt: T, eventId: c.id, strike: 0, cascade: true,
      active: [{ scope: '*', until: T + 30 * MIN, cascade: true, commandId: id, reason: 'operator alice: INC-7 exfiltration suspected' }],
    }]);
    expect(s['*']).toMatchObject({ phase: 'open', until: T + 30 * MIN, probationUntil: T + 40 * MIN, detector: null, commandId: id, openedAt: T, strikes: 0 });
    expect(isSuspended(s, 'crm.read', T + 29 * MIN)).toBe(true);
    expect(isSuspended(s, 'crm.read', T + 30 * MIN)).toBe(false);
    // The same control always gives the same command id; another control another.
    expect(controlCommandId(c, '*', 'suspend')).toBe(id);
    expect(controlCommandId(control('suspend', T), '*', 'suspend')).not.toBe(id);
  });

  it('without a ttl suspends for maxTtl, and a ttl above maxTtl is capped to it', () => {
    const a: BreakerState = {};
    expect(applyControl(a, control('suspend', T, { ttlMs: null }), cfg).commands[0]).toMatchObject({ until: T + HOUR, probationUntil: T + HOUR + 10 * MIN });
    const b: BreakerState = {};
    expect(applyControl(b, control('suspend', T, { ttlMs: 5 * HOUR }), cfg).commands[0]).toMatchObject({ until: T + HOUR, probationUntil: T + HOUR + 10 * MIN });
    expect(b['*']!.until).toBe(T + HOUR);
  });

  it('suspends one capability: only that action, no cascade', () => {
    const s: BreakerState = {};
    const effect = applyControl(s, control('suspend', T, { scope: 'email.send' }), cfg);
    expect(effect.detail).toMatch(/^suspended email\.send until/);
    expect(effect.commands[0]).toMatchObject({ scope: 'email.send', cascade: false, detector: null });
    expect(effect.commands[0]!.active.map((a) => [a.scope, a.cascade])).toEqual([['email.send', false]]);
    expect(isSuspended(s, 'email.send', T + MIN)).toBe(true);
    expect(isSuspended(s, 'crm.read', T + MIN)).toBe(false);
    expect(Object.keys(s)).toEqual(['email.send']);
  });

  it('a suspend over a longer suspension in force does not end it sooner; over a shorter one it extends it', () => {
    const s: BreakerState = {};
    const det = offend(s, detection(T, { scope: '*' }), cfg)!;
    expect(det.until).toBe(T + 15 * MIN);
    const short = applyControl(s, control('suspend', T + MIN, { ttlMs: 2000 }), cfg);
    expect(short.result).toBe('applied');
    expect(short.commands[0]).toMatchObject({ until: T + 15 * MIN, probationUntil: T + 25 * MIN, detector: null });
    expect(isSuspended(s, 'crm.read', T + 14 * MIN)).toBe(true);
    expect(s['*']!.strikes).toBe(1);
    const long = applyControl(s, control('suspend', T + 2 * MIN, { ttlMs: 30 * MIN }), cfg);
    expect(long.commands[0]).toMatchObject({ until: T + 32 * MIN, probationUntil: T + 42 * MIN });
    expect(long.commands[0]!.active).toHaveLength(1);
  });

  it('a suspend issued before the scope last changed is ignored', () => {
    const s: BreakerState = {};
    offend(s, detection(T + 10 * MIN, { scope: '*' }), cfg);
    const before = structuredClone(s);
    const effect = applyControl(s, control('suspend', T + 5 * MIN, { ttlMs: 2 * HOUR }), cfg);
    expect(effect).toMatchObject({ result: 'ignored', commands: [] });
    expect(effect.detail).toMatch(/changed at 2026-11-22T12:10:00.000Z, after this control was issued \(2026-11-22T12:05:00.000Z\)/);
    expect(s).toEqual(before);
  });

  it('a resume without a scope lifts every suspension of the identity, strikes forgiven, a closed tombstone kept', () => {
    const s: BreakerState = {};
    offend(s, detection(T), cfg);
    applyControl(s, control('suspend', T + MIN), cfg);
    expect(Object.keys(s).sort()).toEqual(['*', 'email.send']);
    const r = control('resume', T + 2 * MIN, { reason: 'false alarm', operator: 'bob' });
    const effect = applyControl(s, r, cfg);
    expect(effect.result).toBe('applied');
    expect(effect.detail).toBe('resumed the whole identity, email.send');
    expect(effect.commands.map((c) => [c.type, c.scope, c.cascade, c.until, c.probationUntil, c.strike, c.detector, c.reason, c.issuedAt, c.eventId])).toEqual([
      ['resume', '*', true, null, null, 0, null, 'operator bob: false alarm', T + 2 * MIN, r.id],
      ['resume', 'email.send', false, null, null, 0, null, 'operator bob: false alarm', T + 2 * MIN, r.id],
    ]);
    for (const c of effect.commands) expect(c.active).toEqual([]);
    expect(effect.commands.map((c) => c.commandId)).toEqual([controlCommandId(r, '*', 'resume'), controlCommandId(r, 'email.send', 'resume')]);
    for (const scope of ['*', 'email.send']) expect(s[scope]).toMatchObject({ phase: 'closed', closedAt: T + 2 * MIN, strikes: 0, reason: 'operator bob: false alarm' });
    expect(isSuspended(s, 'email.send', T + 3 * MIN)).toBe(false);
  });

  it('a resume with a scope lifts only that scope; the command still lists the rest', () => {
    const s: BreakerState = {};
    offend(s, detection(T), cfg);
    const sus = control('suspend', T + MIN);
    applyControl(s, sus, cfg);
    const effect = applyControl(s, control('resume', T + 2 * MIN, { scope: 'email.send' }), cfg);
    expect(effect.detail).toBe('resumed email.send');
    expect(effect.commands).toHaveLength(1);
    expect(effect.commands[0]).toMatchObject({ type: 'resume', scope: 'email.send', cascade: false });
    expect(effect.commands[0]!.active.map((a) => [a.scope, a.commandId])).toEqual([['*', controlCommandId(sus, '*', 'suspend')]]);
    expect(s['*']!.phase).toBe('open');
    expect(s['email.send']!.phase).toBe('closed');
  });

  it('a resume with nothing in force is ignored, with the reason, and changes nothing', () => {
    const empty: BreakerState = {};
    const e1 = applyControl(empty, control('resume', T), cfg);
    expect(e1).toEqual({ result: 'ignored', detail: 'nothing to resume: no suspension or probation in force for the identity', commands: [] });
    expect(empty).toEqual({});
    const s: BreakerState = {};
    applyControl(s, control('suspend', T, { scope: 'crm.read' }), cfg);
    const before = structuredClone(s);
    const e2 = applyControl(s, control('resume', T + MIN, { scope: 'email.send' }), cfg);
    expect(e2).toMatchObject({ result: 'ignored', commands: [] });
    expect(e2.detail).toBe('nothing to resume: no suspension or probation in force for email.send');
    expect(s).toEqual(before);
  });

  it('a resume issued before a newer detector suspension leaves that suspension in force', () => {
    const s: BreakerState = {};
    const cmd = offend(s, detection(T + 10 * MIN, { scope: '*' }), cfg)!;
    const before = structuredClone(s);
    const effect = applyControl(s, control('resume', T + 5 * MIN), cfg);
    expect(effect.result).toBe('ignored');
    expect(effect.detail).toMatch(/opened after this control was issued .*: the whole identity$/);
    expect(s).toEqual(before);
    expect(isSuspended(s, 'crm.read', T + 11 * MIN)).toBe(true);
    // One older, one newer: the older is lifted, the newer kept and named.
    applyControl(s, control('suspend', T + 1 * MIN, { scope: 'email.send' }), cfg);
    const mixed = applyControl(s, control('resume', T + 5 * MIN), cfg);
    expect(mixed.result).toBe('applied');
    expect(mixed.detail).toBe('resumed email.send; kept the whole identity (opened after the control was issued)');
    expect(mixed.commands.map((c) => c.scope)).toEqual(['email.send']);
    expect(mixed.commands[0]!.active.map((a) => a.commandId)).toEqual([cmd.commandId]);
  });

  it('the same suspend published again after a resume is stale and ignored', () => {
    const s: BreakerState = {};
    const sus = control('suspend', T);
    expect(applyControl(s, sus, cfg).result).toBe('applied');
    // Again while it is in force: nothing new.
    expect(applyControl(s, sus, cfg).result).toBe('ignored');
    expect(applyControl(s, control('resume', T + MIN), cfg).result).toBe('applied');
    const again = applyControl(s, sus, cfg);
    expect(again).toMatchObject({ result: 'ignored', commands: [] });
    expect(s['*']!.phase).toBe('closed');
    expect(isSuspended(s, 'crm.read', T + 2 * MIN)).toBe(false);
    // A new suspend, issued after the resume, applies.
    expect(applyControl(s, control('suspend', T + 2 * MIN), cfg).result).toBe('applied');
  });

  it('after an operator resume the strikes start over: the next offence is strike 1 with the base ttl', () => {
    const s: BreakerState = {};
    offend(s, detection(T), cfg);
    advance(s, 'agent-1', T + 15 * MIN, cfg);
    const second = offend(s, detection(T + 16 * MIN), cfg)!;
    expect(second.strike).toBe(2);
    expect(applyControl(s, control('resume', T + 17 * MIN), cfg).result).toBe('applied');
    expect(advance(s, 'agent-1', T + 18 * MIN, cfg)).toEqual([]);
    const next = offend(s, detection(T + 20 * MIN), cfg)!;
    expect(next.strike).toBe(1);
    expect(next.until! - next.issuedAt).toBe(cfg.ttlMs);
  });

  it('a resume reaches a scope on probation, and closes it', () => {
    const s: BreakerState = {};
    offend(s, detection(T), cfg);
    advance(s, 'agent-1', T + 16 * MIN, cfg);
    expect(s['email.send']!.phase).toBe('half-open');
    const effect = applyControl(s, control('resume', T + 17 * MIN), cfg);
    expect(effect.commands.map((c) => [c.type, c.scope])).toEqual([['resume', 'email.send']]);
    expect(s['email.send']).toMatchObject({ phase: 'closed', probationSeen: 0, strikes: 0 });
  });
});

describe('control signatures', () => {
  it('round-trips, and refuses a tampered field, an unknown key id, a wrong secret, and no keyring', () => {
    const c = control('suspend', T);
    expect(c.kid).toBe('ops-1');
    expect(c.sig).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(verifyControl(c, OPS)).toEqual({ ok: true });
    const tampered = { ...c, reason: 'something milder' };
    expect(verifyControl(tampered, OPS)).toMatchObject({ ok: false, code: 'CONTROL_FORGED' });
    expect(verifyControl({ ...c, ttlMs: 60 * MIN }, OPS)).toMatchObject({ ok: false, code: 'CONTROL_FORGED' });
    expect(verifyControl({ ...c, identity: 'agent-2' }, OPS)).toMatchObject({ ok: false, code: 'CONTROL_FORGED' });
    expect(verifyControl({ ...c, ts: c.ts + 1 }, OPS)).toMatchObject({ ok: false, code: 'CONTROL_FORGED' });
    expect(verifyControl(c, OTHER_KID)).toMatchObject({ ok: false, code: 'CONTROL_UNKNOWN_KEY', reason: expect.stringContaining('"ops-1"') });
    expect(verifyControl(c, WRONG_SECRET)).toMatchObject({ ok: false, code: 'CONTROL_FORGED' });
    expect(verifyControl(c, undefined)).toMatchObject({ ok: false, code: 'CONTROL_UNVERIFIABLE' });
    // The key id is signed: relabelling with another kid of the same secret fails.
    const both = ring(`ops-1=${Buffer.alloc(32, 1).toString('base64')},ops-2=${Buffer.alloc(32, 1).toString('base64')}`);
    expect(verifyControl({ ...c, kid: 'ops-2' }, both)).toMatchObject({ ok: false, code: 'CONTROL_FORGED' });
  });

  it('a breaker command signature, or a command-style MAC over the same bytes, cannot pass as a control', () => {
    const c = control('suspend', T);
    const cmd: BreakerCommand = applyControl({}, c, cfg).commands[0]!;
    const signed = signCommand(cmd, OPS);
    expect(verifyControl({ ...c, sig: signed.sig }, OPS)).toMatchObject({ ok: false, code: 'CONTROL_FORGED' });
    // Commands MAC `v2.<kid>.<canonical>`: the same secret over the control's bytes with that prefix must not verify.
    const secret = OPS.keys.get('ops-1')!;
    const { kid: _k, sig: _s, ...unsigned } = c;
    const commandStyle = createHmac('sha256', secret).update(`v2.ops-1.${canonicalControl(unsigned)}`).digest('base64url');
    expect(verifyControl({ ...c, sig: commandStyle }, OPS)).toMatchObject({ ok: false, code: 'CONTROL_FORGED' });
    const controlStyle = createHmac('sha256', secret).update(`control.v1.ops-1.${canonicalControl(unsigned)}`).digest('base64url');
    expect(controlStyle).toBe(c.sig);
  });

  it('createControl refuses what Warden would refuse', () => {
    expect(() => control('suspend', T, { ttlMs: 10 })).toThrow(expect.objectContaining({ code: 'CONTROL_MALFORMED' }));
    expect(() => control('suspend', T, { scope: null })).toThrow(expect.objectContaining({ code: 'CONTROL_MALFORMED' }));
    expect(() => control('resume', T, { ttlMs: HOUR })).toThrow(expect.objectContaining({ code: 'CONTROL_MALFORMED' }));
    expect(() => control('suspend', T, { reason: '' })).toThrow(expect.objectContaining({ code: 'CONTROL_MALFORMED' }));
    expect(() => control('suspend', T, {}, { activeKid: 'nope', keys: new Map() })).toThrow(expect.objectContaining({ code: 'CONTROL_UNKNOWN_KEY' }));
  });
});

describe('decoding controls from the actions topic', () => {
  const raw = (c: OperatorControl): Record<string, unknown> => JSON.parse(JSON.stringify(c)) as Record<string, unknown>;
  const json = (o: unknown): Uint8Array => Buffer.from(JSON.stringify(o));

  it('a JSON or msgpack map with a control field decodes as a control, equal to the one signed', () => {
    const c = control('suspend', T, { scope: 'email.send', ttlMs: 2 * HOUR });
    const j = decodeEvent(encodeControl(c));
    expect(j).toEqual({ ok: true, control: c, encoding: 'json' });
    const m = decodeEvent(msgpack(raw(c)));
    expect(m).toEqual({ ok: true, control: c, encoding: 'msgpack' });
    if (!m.ok || !m.control) throw new Error('not a control');
    expect(verifyControl(m.control, OPS)).toEqual({ ok: true });
    // A resume with no scope or ttl fields at all is the same as null.
    const r = control('resume', T);
    const { scope: _s, ttlMs: _t, ...bare } = raw(r);
    const d = decodeEvent(json(bare));
    expect(d.ok && d.control).toEqual(r);
    expect(d.ok && d.control && verifyControl(d.control, OPS)).toEqual({ ok: true });
  });

  const cases: Array<[string, (o: Record<string, unknown>) => Record<string, unknown>, string, 'suspend' | 'resume']> = [
    ['an unknown field', (o) => ({ ...o, priority: 'high' }), 'priority', 'suspend'],
    ['no reason', (o) => { const { reason: _r, ...rest } = o; return rest; }, 'reason', 'suspend'],
    ['a suspend without a scope', (o) => ({ ...o, scope: null }), 'scope', 'suspend'],
    ['a resume with ttlMs', (o) => ({ ...o, ttlMs: 60_000 }), 'ttlMs', 'resume'],
    ['a sig of the wrong length', (o) => ({ ...o, sig: String(o.sig).slice(1) }), 'sig', 'suspend'],
    ['a wrong mark', (o) => ({ ...o, control: 'warden.other' }), 'control', 'suspend'],
    ['an unknown op', (o) => ({ ...o, op: 'delete' }), 'op', 'suspend'],
    ['a ttl under a second', (o) => ({ ...o, ttlMs: 999 }), 'ttlMs', 'suspend'],
    // Microseconds, or past what a Date can hold: would suspend for ever (or crash the breaker's date formatting).
    ['a ts in microseconds', (o) => ({ ...o, ts: T * 1000 }), 'ts', 'suspend'],
    ['a ts past the year 9999', (o) => ({ ...o, ts: 9e15 }), 'ts', 'resume'],
  ];
  for (const [what, change, field, op] of cases) {
    it(`${what} is CONTROL_MALFORMED naming field "${field}", in JSON and msgpack`, () => {
      const bad = change(raw(control(op, T)));
      for (const bytes of [json(bad), msgpack(bad)]) {
        const r = decodeEvent(bytes);
        expect(r.ok).toBe(false);
        if (r.ok) continue;
        expect(r.error).toMatchObject({ code: 'CONTROL_MALFORMED', field });
        expect(r.error.message).toMatch(/^operator control: /);
      }
    });
  }
});

describe('the engine with operator controls', () => {
  let dir: string;
  let config: WardenConfig;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-control-'));
    await mkdir(join(dir, 'agents'));
    await writeFile(join(dir, 'agents', 'bot.yaml'), [
      'agentClass: bot',
      'allow:',
      '  - { action: crm.read, resource: "crm:**" }',
      '  - { action: email.send, resource: "email:**" }',
      '',
    ].join('\n'));
    await writeFile(join(dir, 'detectors.yaml'), 'breaker:\n  ttl: 15m\n  maxTtl: 2h\n  probation: 10m\n  probationActions: 2\n  forgiveAfter: 24h\n');
    config = await loadConfig(dir);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const event = (id: string, ts: number, action = 'crm.read', identity = 'agent-1'): AgentEvent => ({
    id, ts, identity, action, resource: action === 'crm.read' ? 'crm:customers/1' : action === 'email.send' ? 'email:c/1' : 'vault:secrets/prod', agentClass: 'bot',
  });
  const ev = (offset: number, e: AgentEvent): InputRecord => ({ offset: BigInt(offset), ok: true, event: e });
  const ctl = (offset: number, c: OperatorControl): InputRecord => ({ offset: BigInt(offset), ok: true, control: c });
  const kinds = (items: OutputItem[]): string[] => items.map((i) => (i.kind === 'command' ? `${i.command.type}:${i.command.scope}:${i.command.detector ?? 'operator'}` : i.kind));
  const commandsOf = (items: OutputItem[]): BreakerCommand[] => items.flatMap((i) => (i.kind === 'command' ? [i.command] : []));

  it('events and a signed control in one batch: the outputs in order, the control record last for it', async () => {
    const engine = new Engine({ config, store: new MemoryWindowStore(), operatorKeys: OPS });
    const r = control('resume', T + 2 * MIN, { reason: 'verified with the owner', operator: 'bob' });
    const out = await engine.process('p', [
      ev(0, event('e0', T)),
      ev(1, event('e1', T + MIN, 'vault.read')),
      ctl(2, r),
      ev(3, event('e3', T + 3 * MIN, 'crm.read')),
    ]);
    expect(kinds(out.items)).toEqual(['detection', 'suspend:*:scope', 'resume:*:operator', 'control']);
    expect(out).toMatchObject({ processed: 4, skipped: 0, invalid: 0, lastOffset: 3n });
    const [suspend, resume] = commandsOf(out.items);
    expect(resume).toMatchObject({ identity: 'agent-1', scope: '*', reason: 'operator bob: verified with the owner', issuedAt: T + 2 * MIN, eventId: r.id, strike: 0, active: [] });
    const record = outputRecord(out.items[3]!);
    expect(record).toEqual({
      kind: 'control', controlId: r.id, op: 'resume', identity: 'agent-1', scope: null, operator: 'bob', reason: 'verified with the owner',
      ts: T + 2 * MIN, kid: 'ops-1', result: 'applied', detail: 'resumed the whole identity', commandIds: [resume!.commandId],
    });
    expect(suspend!.commandId).not.toBe(resume!.commandId);
    // The resume took: a later offence is a first strike again.
    const later = await engine.process('p', [ev(4, event('e4', T + 4 * MIN, 'vault.read'))]);
    expect(commandsOf(later.items).map((c) => [c.type, c.strike])).toEqual([['suspend', 1]]);
  });

  it('a forged control is a dead letter (CONTROL_FORGED) and changes nothing; unknown key and no keys likewise', async () => {
    const store = new MemoryWindowStore();
    const engine = new Engine({ config, store, operatorKeys: OPS });
    const forged = control('suspend', T, { identity: 'agent-9' }, WRONG_SECRET);
    const out = await engine.process('p', [ctl(0, forged)]);
    expect(out).toMatchObject({ processed: 0, invalid: 1, lastOffset: 0n });
    expect(out.items).toHaveLength(1);
    const dl = out.items[0]!;
    expect(dl.kind).toBe('dead-letter');
    if (dl.kind !== 'dead-letter') return;
    expect(dl.deadLetter).toMatchObject({ offset: 0n, code: 'CONTROL_FORGED' });
    expect(dl.deadLetter.message).toContain(forged.id);
    expect(outputRecord(dl)).toMatchObject({ kind: 'invalid', code: 'CONTROL_FORGED' });
    // Nothing suspended: agent-9's next actions go through and its first offence is strike 1, alone in `active`.
    const next = await engine.process('p', [ev(1, event('n1', T + MIN, 'crm.read', 'agent-9')), ev(2, event('n2', T + 2 * MIN, 'vault.read', 'agent-9'))]);
    const cmds = commandsOf(next.items);
    expect(cmds.map((c) => [c.type, c.scope, c.detector, c.strike])).toEqual([['suspend', '*', 'scope', 1]]);
    expect(cmds[0]!.active.map((a) => a.commandId)).toEqual([cmds[0]!.commandId]);

    const unknown = await engine.process('p', [ctl(3, control('suspend', T, {}, OTHER_KID))]);
    expect(unknown.items.map((i) => i.kind === 'dead-letter' && i.deadLetter.code)).toEqual(['CONTROL_UNKNOWN_KEY']);
    const keyless = new Engine({ config, store: new MemoryWindowStore() });
    const none = await keyless.process('p', [ctl(0, control('suspend', T))]);
    expect(none.items.map((i) => i.kind === 'dead-letter' && i.deadLetter.code)).toEqual(['CONTROL_UNVERIFIABLE']);
    expect(none.processed).toBe(0);
  });

  it('a redelivered control (same offset) is skipped; re-published at a new offset it is ignored as stale', async () => {
    const engine = new Engine({ config, store: new MemoryWindowStore(), operatorKeys: OPS });
    const s = control('suspend', T, { scope: 'email.send', ttlMs: HOUR });
    const first = await engine.process('p', [ev(0, event('e0', T - MIN)), ctl(1, s)]);
    expect(kinds(first.items)).toEqual(['suspend:email.send:operator', 'control']);
    const again = await engine.process('p', [ev(0, event('e0', T - MIN)), ctl(1, s)]);
    expect(again).toMatchObject({ items: [], processed: 0, skipped: 2 });
    const republished = await engine.process('p', [ctl(2, s)]);
    expect(kinds(republished.items)).toEqual(['control']);
    const rec = republished.items[0]!;
    expect(rec.kind === 'control' && [rec.control.result, rec.control.commandIds]).toEqual(['ignored', []]);
    // Still suspended by the first: an email in the hour is not a new offence, and the next command still carries it.
    const later = await engine.process('p', [ev(3, event('e3', T + 10 * MIN, 'vault.read'))]);
    const cmds = commandsOf(later.items);
    expect(cmds.map((c) => [c.scope, c.detector])).toEqual([['*', 'scope']]);
    expect(cmds[0]!.active.map((a) => [a.scope, a.reason])).toEqual([
      ['*', expect.stringContaining('vault.read')],
      ['email.send', 'operator alice: INC-7 exfiltration suspected'],
    ]);
  });

  it('a control does not count as an action on probation', async () => {
    const engine = new Engine({ config, store: new MemoryWindowStore(), operatorKeys: OPS });
    await engine.process('p', [ev(0, event('e0', T, 'vault.read'))]);
    const P = T + 15 * MIN;
    const out = await engine.process('p', [
      ev(1, event('e1', P + 1000)),
      ev(2, event('e2', P + 2000)),
      ctl(3, control('suspend', P + 3000, { scope: 'email.send' })),
      ev(4, event('e4', P + 4000)),
    ]);
    // probationActions is 2: the third action (not the control) ends probation.
    expect(kinds(out.items)).toEqual(['suspend:email.send:operator', 'control', 'resume:*:scope']);
    const resume = commandsOf(out.items)[1]!;
    expect(resume).toMatchObject({ issuedAt: P + 4000, reason: '2 actions on probation without a new offence (strike 1)' });
    expect(resume.active.map((a) => a.scope)).toEqual(['email.send']);
  });

  it('replay of a recording with events and controls is byte-identical run to run, and issues the operator suspend', async () => {
    const sus = control('suspend', T + MIN, { identity: 'agent-2', ttlMs: 2 * HOUR, reason: 'INC-9' });
    const res = control('resume', T + 20 * MIN, { identity: 'agent-2', reason: 'cleared' });
    const forged = control('suspend', T + 21 * MIN, { identity: 'agent-3' }, WRONG_SECRET);
    const lines = [
      JSON.stringify(event('a0', T, 'crm.read', 'agent-2')),
      JSON.stringify(sus),
      JSON.stringify(event('a1', T + 2 * MIN, 'email.send', 'agent-2')),
      JSON.stringify(event('b0', T + 3 * MIN, 'vault.read', 'agent-3')),
      JSON.stringify(res),
      JSON.stringify(forged),
      JSON.stringify(event('a2', T + 30 * MIN, 'vault.read', 'agent-2')),
    ];
    const file = join(dir, 'controls.jsonl');
    await writeFile(file, lines.join('\n') + '\n');
    const run = async (operatorKeys?: Keyring): Promise<string> => {
      let text = '';
      const output = new Writable({ write(chunk, _e, cb) { text += chunk.toString(); cb(); } });
      await replay({ records: readEventStream(createReadStream(file)), config, output, ...(operatorKeys ? { operatorKeys } : {}), batchSize: 3 });
      return text;
    };
    const a = await run(OPS);
    const b = await run(OPS);
    expect(b).toBe(a);
    const recs = a.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const suspend = recs.find((r) => r.kind === 'command' && r.identity === 'agent-2' && r.type === 'suspend');
    expect(suspend).toMatchObject({
      scope: '*', detector: null, until: T + MIN + 2 * HOUR, reason: 'operator alice: INC-9', eventId: sus.id,
      commandId: controlCommandId(sus, '*', 'suspend'),
    });
    expect(recs.filter((r) => r.kind === 'control').map((r) => [r.controlId, r.result])).toEqual([[sus.id, 'applied'], [res.id, 'applied']]);
    expect(recs.filter((r) => r.kind === 'invalid').map((r) => [r.offset, r.code])).toEqual([[5, 'CONTROL_FORGED']]);
    // The operator resume forgave: agent-2's later offence is strike 1.
    expect(recs.filter((r) => r.kind === 'command' && r.identity === 'agent-2').map((r) => [r.type, r.detector, r.strike])).toEqual([
      ['suspend', null, 0], ['resume', null, 0], ['suspend', 'scope', 1],
    ]);
    // Without keys the controls are refused and nothing is suspended by an operator.
    const keyless = (await run()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(keyless.filter((r) => r.kind === 'invalid').map((r) => r.code)).toEqual(['CONTROL_UNVERIFIABLE', 'CONTROL_UNVERIFIABLE', 'CONTROL_UNVERIFIABLE']);
    expect(keyless.some((r) => r.kind === 'command' && r.detector === null)).toBe(false);
  });

  it('`warden replay` verifies controls with WARDEN_OPERATOR_KEYS, else WARDEN_COMMAND_KEYS (the built CLI)', async () => {
    const sus = control('suspend', T + MIN, { identity: 'agent-5', reason: 'INC-5' });
    const file = join(dir, 'cli-controls.jsonl');
    await writeFile(file, [JSON.stringify(event('c0', T, 'crm.read', 'agent-5')), JSON.stringify(sus)].join('\n') + '\n');
    const ops = `ops-1=${Buffer.alloc(32, 1).toString('base64')}`;
    const other = `ops-2=${Buffer.alloc(32, 1).toString('base64')}`;
    const cli = (env: Record<string, string>): Promise<{ code: number; out: Array<Record<string, unknown>>; stderr: string }> => new Promise((resolve) => {
      const { WARDEN_OPERATOR_KEYS: _o, WARDEN_COMMAND_KEYS: _c, WARDEN_OPERATOR_KEY_ID: _oi, WARDEN_COMMAND_KEY_ID: _ci, ...base } = process.env;
      execFile(process.execPath, ['bin/warden.js', 'replay', '--input', file, '--config', dir, '--quiet'], { env: { ...base, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
        const out = stdout.trim() === '' ? [] : stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out, stderr });
      });
    });
    const outcome = (out: Array<Record<string, unknown>>): unknown[] =>
      out.filter((r) => r.kind === 'control' || r.kind === 'invalid').map((r) => (r.kind === 'control' ? r.result : r.code));
    const own = await cli({ WARDEN_OPERATOR_KEYS: ops });
    expect(own.code, own.stderr).toBe(0);
    expect(outcome(own.out)).toEqual(['applied']);
    expect(own.out.find((r) => r.kind === 'command')).toMatchObject({ type: 'suspend', identity: 'agent-5', detector: null, reason: 'operator alice: INC-5' });
    expect(outcome((await cli({ WARDEN_COMMAND_KEYS: ops })).out)).toEqual(['applied']);
    // Operator keys, when set, replace the command keys for controls.
    expect(outcome((await cli({ WARDEN_OPERATOR_KEYS: other, WARDEN_COMMAND_KEYS: ops })).out)).toEqual(['CONTROL_UNKNOWN_KEY']);
    expect(outcome((await cli({})).out)).toEqual(['CONTROL_UNVERIFIABLE']);
    const bad = await cli({ WARDEN_OPERATOR_KEYS: 'not a keyring' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/WARDEN_OPERATOR_KEYS.*\[SETTINGS_INVALID\]/);
  });
});
