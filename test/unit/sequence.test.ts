import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBreaker, parseRecord, serializeBreaker, serializeRecord } from '../../src/breaker/breaker.js';
import { nextSeq, restatement } from '../../src/breaker/sequence.js';
import type { BreakerCommand, ScopeState } from '../../src/breaker/types.js';
import { parseKeyring } from '../../src/commands/keyring.js';
import { signCommand } from '../../src/commands/sign.js';
import { loadConfig } from '../../src/config/load.js';
import type { WardenConfig } from '../../src/config/types.js';
import { CommandTable } from '../../src/enforcer/table.js';
import type { AgentEvent } from '../../src/event/types.js';
import { Engine, type InputRecord } from '../../src/pipeline/engine.js';
import type { OutputItem } from '../../src/pipeline/outputs.js';
import { settingsFromEnv } from '../../src/service/settings.js';
import { MemoryWindowStore } from '../../src/state/memory-store.js';

const T = 1_763_400_000_000;
const MIN = 60_000;
const open = (over: Partial<ScopeState> = {}): ScopeState => ({
  phase: 'open', until: T + 15 * MIN, probationUntil: T + 25 * MIN, strikes: 1, closedAt: 0, reason: 'why', detector: 'scope', commandId: 'c-1', openedAt: T, ...over,
});

describe('the per-identity seq', () => {
  it('is one above the last, never below the event time, never past the largest safe integer', () => {
    expect(nextSeq(0, T)).toBe(T);
    expect(nextSeq(T, T)).toBe(T + 1);
    expect(nextSeq(T + 5, T - MIN)).toBe(T + 6);
    expect(nextSeq(T, T + MIN)).toBe(T + MIN);
    expect(nextSeq(Number.MAX_SAFE_INTEGER, T)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('is stored with the breaker, and the snapshot written before v2 still reads (seq 0)', () => {
    const state = { '*': open() };
    const legacy = JSON.stringify(state);
    expect(parseRecord(legacy)).toEqual({ state, seq: 0, at: 0 });
    expect(parseBreaker(legacy)).toEqual(state);
    const rec = { state, seq: T + 3, at: T };
    expect(parseRecord(serializeRecord(rec))).toEqual(rec);
    expect(parseBreaker(serializeRecord(rec))).toEqual(state);
    // A scope may be named anything an action can be, "seq" and "scopes" included.
    const odd = { seq: open(), scopes: open({ commandId: 'c-2' }) };
    expect(parseRecord(serializeBreaker(odd))).toEqual({ state: odd, seq: 0, at: 0 });
    expect(parseRecord(serializeRecord({ state: odd, seq: 9, at: 1 }))).toEqual({ state: odd, seq: 9, at: 1 });
    // With no scopes left the seq is kept; with no seq ever issued the snapshot is deleted.
    expect(parseRecord(serializeRecord({ state: {}, seq: 9, at: 1 }))).toEqual({ state: {}, seq: 9, at: 1 });
    expect(serializeRecord({ state: {}, seq: 0, at: 0 })).toBe('');
  });
});

describe('restatement', () => {
  it('carries the stored seq and the open suspensions, deterministically, and is a repeat for a gateway that has the seq', () => {
    const rec = { state: { '*': open(), 'email.send': open({ phase: 'half-open', commandId: 'c-m' }) }, seq: T + 1, at: T };
    const a = restatement('agent-1', rec);
    expect(a).toMatchObject({ v: 2, seq: T + 1, type: 'state', identity: 'agent-1', scope: '*', until: null, issuedAt: T });
    expect(a.active).toEqual([{ scope: '*', until: T + 15 * MIN, cascade: true, commandId: 'c-1', reason: 'why' }]);
    expect(restatement('agent-1', structuredClone(rec))).toEqual(a);
    const ring = parseKeyring(`k=${Buffer.alloc(32, 3).toString('base64')}`);
    if (!ring.ok) throw new Error(ring.reason);
    const signed = signCommand(a, ring.keyring);
    const t = new CommandTable(() => T);
    expect(t.apply(signed)).toBe('applied');
    expect(t.check('agent-1', 'x')).toMatchObject({ allow: false, commandId: 'c-1' });
    expect(t.apply(signed)).toBe('repeated');
  });
});

describe('the engine stamps every command with the identity\'s next seq', () => {
  let dir: string;
  let config: WardenConfig;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-seq-'));
    await mkdir(join(dir, 'agents'));
    await writeFile(join(dir, 'agents', 'bot.yaml'), 'agentClass: bot\nallow:\n  - { action: crm.read, resource: "crm:**" }\n');
    await writeFile(join(dir, 'detectors.yaml'), 'breaker:\n  ttl: 15m\n  maxTtl: 2h\n  probation: 10m\n  probationActions: 0\n  forgiveAfter: 30m\n');
    config = await loadConfig(dir);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const event = (id: string, ts: number, action: string, identity = 'agent-1'): AgentEvent => ({
    id, ts, identity, action, resource: action === 'crm.read' ? 'crm:customers/1' : 'vault:secrets/prod', agentClass: 'bot',
  });
  const ev = (offset: number, e: AgentEvent): InputRecord => ({ offset: BigInt(offset), ok: true, event: e });
  const commandsOf = (items: OutputItem[]): BreakerCommand[] => items.flatMap((i) => (i.kind === 'command' ? [i.command] : []));

  it('strictly increasing across batches, through forgiveness, and the same on a redelivered batch', async () => {
    const store = new MemoryWindowStore();
    const engine = new Engine({ config, store });
    const first = commandsOf((await engine.process('p', [ev(0, event('e0', T, 'vault.read')), ev(1, event('e1', T, 'crm.read', 'agent-2'))])).items);
    expect(first.map((c) => [c.type, c.seq])).toEqual([['suspend', T]]);
    // Probation ends (resume), then strikes are forgiven and the scope deleted: the seq stays.
    const second = commandsOf((await engine.process('p', [ev(2, event('e2', T + 26 * MIN, 'crm.read')), ev(3, event('e3', T + 60 * MIN, 'crm.read'))])).items);
    expect(second.map((c) => [c.type, c.seq])).toEqual([['resume', T + 26 * MIN]]);
    // A late event (event time before the last command) still gets a higher seq.
    const third = commandsOf((await engine.process('p', [ev(4, event('e4', T + 10 * MIN, 'vault.read'))])).items);
    expect(third.map((c) => [c.type, c.seq, c.issuedAt])).toEqual([['suspend', T + 26 * MIN + 1, T + 10 * MIN]]);
    const again = new Engine({ config, store });
    const redelivered = await again.process('p', [ev(4, event('e4', T + 10 * MIN, 'vault.read'))]);
    expect(redelivered.skipped).toBe(1);
    const next = commandsOf((await again.process('p', [ev(5, event('e5', T + 11 * MIN, 'vault.read')), ev(6, event('e6', T + 100 * MIN, 'crm.read'))])).items);
    expect(next.map((c) => [c.type, c.seq])).toEqual([['resume', T + 100 * MIN]]);
  });
});

describe('WARDEN_REPUBLISH_INTERVAL_MS', () => {
  const keys = { WARDEN_COMMAND_KEYS: `k=${Buffer.alloc(32, 1).toString('base64')}` };
  it('defaults to 5 minutes, takes 1 s to 1 day, refuses anything else by name', () => {
    expect(settingsFromEnv(keys).republishIntervalMs).toBe(300_000);
    expect(settingsFromEnv({ ...keys, WARDEN_REPUBLISH_INTERVAL_MS: '2000' }).republishIntervalMs).toBe(2000);
    for (const bad of ['0', '999', '1.5', 'often', String(86_400_001)]) {
      expect(() => settingsFromEnv({ ...keys, WARDEN_REPUBLISH_INTERVAL_MS: bad })).toThrow(/WARDEN_REPUBLISH_INTERVAL_MS must be an integer from 1000 to 86400000/);
    }
  });
});
