import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowedSuspensions, checkGuard, guarded, UNKNOWN_CLASS } from '../../src/breaker/fleet-guard.js';
import type { BreakerCommand } from '../../src/breaker/types.js';
import { parseKeyring, type Keyring } from '../../src/commands/keyring.js';
import { loadConfig, validateConfigDir } from '../../src/config/load.js';
import type { FleetGuardConfig, WardenConfig } from '../../src/config/types.js';
import { createControl } from '../../src/control/create.js';
import type { OperatorControl } from '../../src/control/types.js';
import type { Detection, Detector } from '../../src/detector.js';
import { readEventStream } from '../../src/event/read-stream.js';
import type { AgentEvent } from '../../src/event/types.js';
import { Engine, type InputRecord } from '../../src/pipeline/engine.js';
import type { BatchOutput, OutputItem } from '../../src/pipeline/outputs.js';
import { replay } from '../../src/pipeline/replay.js';
import { MemoryFleetStore, type FleetView } from '../../src/state/fleet.js';
import { MemoryWindowStore } from '../../src/state/memory-store.js';

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const T = Date.UTC(2026, 10, 22, 12);

const guardCfg = (over: Partial<FleetGuardConfig> = {}): FleetGuardConfig => ({ enabled: true, maxPercent: 25, alwaysAllow: 2, activeWindowMs: HOUR, ...over });
const view = (active: number, open: Record<string, number> = {}): FleetView => ({ active, open: new Map(Object.entries(open)) });

describe('fleet guard: the pure functions', () => {
  it('allows maxPercent of the active identities, rounded down, but never fewer than alwaysAllow', () => {
    const cases: Array<[number, Partial<FleetGuardConfig>, number]> = [
      [12, {}, 3], // 25% of 12
      [11, {}, 2], // floor(2.75) = 2, and alwaysAllow is 2
      [15, {}, 3], // floor(3.75)
      [16, {}, 4],
      [0, {}, 2], // a class with nobody active may still have alwaysAllow suspended
      [1, {}, 2],
      [7, { alwaysAllow: 0 }, 1],
      [3, { alwaysAllow: 0 }, 0], // floor(0.75): nobody, when nothing is always allowed
      [3, { alwaysAllow: 5 }, 5], // alwaysAllow above the class size still holds
      [1000, { maxPercent: 100, alwaysAllow: 0 }, 1000],
      [199, { maxPercent: 0.5, alwaysAllow: 0 }, 0],
      [200, { maxPercent: 0.5, alwaysAllow: 0 }, 1],
      [3, { maxPercent: 33.4, alwaysAllow: 0 }, 1],
      [300, { maxPercent: 33.3, alwaysAllow: 0 }, 99], // 99.9 rounds down
      // Fractional percents that land exactly on a whole number must not lose one to float error (1500 × 66.6 = 99899.99999999999 in binary).
      [1500, { maxPercent: 66.6, alwaysAllow: 0 }, 999],
      [1000, { maxPercent: 0.7, alwaysAllow: 0 }, 7],
      [1000, { maxPercent: 33.3, alwaysAllow: 0 }, 333],
    ];
    for (const [active, over, want] of cases) expect(allowedSuspensions(active, guardCfg(over)), `${active} × ${JSON.stringify(over)}`).toBe(want);
  });

  it('checkGuard counts the suspensions in force at the event\'s own time: one ending frees a place', () => {
    const v = view(12, { a: T + 10 * MIN, b: T + 20 * MIN, c: T + 30 * MIN, gone: T - MIN });
    const cfg = guardCfg();
    // Three in force (gone ended): the cap of 3 is reached.
    expect(checkGuard(v, 'mailer', T, cfg)).toEqual({ agentClass: 'mailer', suspended: 3, active: 12, allowed: 3, maxPercent: 25 });
    expect(checkGuard(v, 'mailer', T + 10 * MIN - 1, cfg)).toMatchObject({ suspended: 3 });
    // A suspension has ended at its `until`.
    expect(checkGuard(v, 'mailer', T + 10 * MIN, cfg)).toBeNull();
    expect(checkGuard(v, 'mailer', T + 30 * MIN, cfg)).toBeNull();
    // An identity the view counts as suspended at ts is not one more (a redelivered batch); one whose suspension ended is.
    expect(checkGuard(v, 'mailer', T, cfg, 'a')).toBeNull();
    expect(checkGuard(v, 'mailer', T, cfg, 'gone')).toMatchObject({ suspended: 3 });
    expect(checkGuard(v, 'mailer', T, cfg, 'newcomer')).toMatchObject({ suspended: 3 });
    expect(checkGuard(v, 'mailer', T + 25 * MIN, cfg, 'c')).toBeNull();
    // A smaller class: alwaysAllow (2) is the cap, and 2 in force trips it.
    expect(checkGuard(view(4, { a: T + 10 * MIN, b: T + 20 * MIN }), 'small', T, cfg)).toEqual({ agentClass: 'small', suspended: 2, active: 4, allowed: 2, maxPercent: 25 });
    expect(checkGuard(view(4, { a: T + 10 * MIN, b: T + 20 * MIN }), 'small', T + 15 * MIN, cfg)).toBeNull();
    // Nothing allowed at all: the first suspension of the class already trips.
    expect(checkGuard(view(3), 'tiny', T, guardCfg({ alwaysAllow: 0 }))).toEqual({ agentClass: 'tiny', suspended: 0, active: 3, allowed: 0, maxPercent: 25 });
  });

  it('guarded() turns the suspend into a critical alert that says why, keeping who, what and the evidence', () => {
    const d: Detection = {
      identity: 'spiffe://acme/agent/mailer/7', detector: 'rate', rule: 'hard-limit', severity: 'high', decision: 'suspend', mode: 'enforce',
      scope: 'email.send', ts: T, eventId: 'e-7', action: 'email.send', resource: 'email:x', chain: ['spiffe://acme/agent/boss'], agentClass: 'mailer',
      reason: 'email.send exceeded the manifest limit of 1 per 1m (observed 2)', evidence: { observed: 2, limit: 1, configVersion: 'v9' },
    };
    const trip = { agentClass: 'mailer', suspended: 3, active: 12, allowed: 3, maxPercent: 25 };
    const g = guarded(d, trip);
    expect(g).toEqual({
      ...d,
      decision: 'alert',
      severity: 'critical',
      reason: 'fleet guard: 3 of 12 active "mailer" identities already suspended (cap 3, 25%); alerting instead of suspending: ' + d.reason,
      evidence: { observed: 2, limit: 1, configVersion: 'v9', fleetGuard: trip },
    });
    // The input is untouched, and the trip is copied, not shared.
    expect(d.decision).toBe('suspend');
    expect(d.evidence).not.toHaveProperty('fleetGuard');
    trip.suspended = 99;
    expect((g.evidence.fleetGuard as { suspended: number }).suspended).toBe(3);
    // The shared bucket of events without a manifest is named as such.
    expect(guarded(d, { ...trip, agentClass: UNKNOWN_CLASS }).reason).toMatch(/^fleet guard: 99 of 12 active unclassified identities already suspended/);
  });
});

function ring(spec: string): Keyring {
  const r = parseKeyring(spec);
  if (!r.ok) throw new Error(r.reason);
  return r.keyring;
}
const OPS = ring(`ops-1=${Buffer.alloc(32, 3).toString('base64')}`);

const N = 12;
const mailer = (i: number): string => `spiffe://acme.example/agent/mailer/${i}`;
const courier = (i: number): string => `spiffe://acme.example/agent/courier/${i}`;

function event(id: string, ts: number, identity: string, action = 'email.send', agentClass: string | undefined = identity.split('/')[4]): AgentEvent {
  const e: AgentEvent = { id, ts, identity, action, resource: action === 'email.send' ? 'email:customer/1' : 'crm:customers/1' };
  if (agentClass !== undefined) e.agentClass = agentClass;
  return e;
}

let offset = 0;
const ev = (e: AgentEvent): InputRecord => ({ offset: BigInt(offset++), ok: true, event: e });
const ctl = (c: OperatorControl): InputRecord => ({ offset: BigInt(offset++), ok: true, control: c });

const detectionsOf = (items: OutputItem[]) => items.flatMap((i) => (i.kind === 'detection' ? [{ ...i.detection, commandId: i.commandId }] : []));
const commandsOf = (items: OutputItem[]): BreakerCommand[] => items.flatMap((i) => (i.kind === 'command' ? [i.command] : []));
const suspendsOf = (out: BatchOutput): string[] => commandsOf(out.items).filter((c) => c.type === 'suspend').map((c) => `${c.identity} ${c.scope}`);
const tripsOf = (out: BatchOutput) => detectionsOf(out.items).filter((d) => d.evidence.fleetGuard !== undefined);

/** Each of `ids` sends two emails 100 ms apart from `ts`: the second is over the limit of 1 per minute. */
function offend(ids: string[], ts: number, action = 'email.send'): InputRecord[] {
  return ids.flatMap((id, i) => [ev(event(`${id}@${ts}#1`, ts + i * SEC, id, action)), ev(event(`${id}@${ts}#2`, ts + i * SEC + 100, id, action))]);
}

describe('fleet guard in the engine', () => {
  let dir: string;
  let config: WardenConfig;
  let offConfig: WardenConfig;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-fleet-'));
    const on = join(dir, 'on');
    await cp(join(import.meta.dirname, '../../config'), on, { recursive: true });
    // A bad hard limit every identity of the class trips: one email and one CRM read a minute.
    const limits = 'limits:\n  - { action: email.send, max: 1, window: 1m }\n  - { action: crm.read, max: 1, window: 1m }\n';
    const allow = 'allow:\n  - { action: email.send, resource: "email:**" }\n  - { action: crm.read, resource: "crm:**" }\n';
    await writeFile(join(on, 'agents', 'mailer.yaml'), `agentClass: mailer\n${allow}${limits}`);
    await writeFile(join(on, 'agents', 'courier.yaml'), `agentClass: courier\n${allow}${limits}`);
    // The guard is under test, not suppression: every repeat is a detection here.
    const shipped = await readFile(join(on, 'detectors.yaml'), 'utf8');
    await writeFile(join(on, 'detectors.yaml'), shipped.replace(/suppression:\n  window: 10m\n/, 'suppression:\n  window: 0\n'));
    config = await loadConfig(on);
    const off = join(dir, 'off');
    await cp(on, off, { recursive: true });
    const yaml = await readFile(join(off, 'detectors.yaml'), 'utf8');
    const disabled = yaml.replace(/fleetGuard:\n    enabled: true\n/, 'fleetGuard:\n    enabled: false\n');
    expect(disabled).not.toBe(yaml);
    await writeFile(join(off, 'detectors.yaml'), disabled);
    offConfig = await loadConfig(off);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the config used: the shipped guard (25%, alwaysAllow 2, 1h), and the bad limit is the only thing that fires', async () => {
    expect(config.breaker.fleetGuard).toEqual({ enabled: true, maxPercent: 25, alwaysAllow: 2, activeWindowMs: HOUR });
    expect(offConfig.breaker.fleetGuard.enabled).toBe(false);
    const engine = new Engine({ config, store: new MemoryWindowStore(), fleet: new MemoryFleetStore() });
    const out = await engine.process('p', offend([mailer(0)], T));
    expect(detectionsOf(out.items).map((d) => [d.detector, d.rule, d.decision, d.scope])).toEqual([['rate', 'hard-limit', 'suspend', 'email.send']]);
  });

  it(`of ${N} offending identities only 25% (3) are suspended; the rest get critical alerts saying why, and no command`, async () => {
    const fleet = new MemoryFleetStore();
    const engine = new Engine({ config, store: new MemoryWindowStore(), fleet });
    const ids = Array.from({ length: N }, (_, i) => mailer(i));
    // A first email each: every identity active, nobody over the limit yet.
    const first = await engine.process('p', ids.map((id, i) => ev(event(`warm-${i}`, T + i * SEC, id))));
    expect(first.items).toEqual([]);
    const out = await engine.process('p', ids.map((id, i) => ev(event(`bad-${i}`, T + 30 * SEC + i * SEC, id))));
    const detections = detectionsOf(out.items);
    expect(detections).toHaveLength(N);
    const commands = commandsOf(out.items);
    expect(commands.map((c) => [c.type, c.identity, c.scope])).toEqual(ids.slice(0, 3).map((id) => ['suspend', id, 'email.send']));
    for (const [i, d] of detections.entries()) {
      expect(d).toMatchObject({ identity: ids[i], detector: 'rate', rule: 'hard-limit', action: 'email.send', scope: 'email.send', agentClass: 'mailer', eventId: `bad-${i}` });
      expect(d.evidence).toMatchObject({ limit: 1, observed: expect.any(Number), configVersion: config.version });
      if (i < 3) {
        expect(d).toMatchObject({ decision: 'suspend', severity: 'high', commandId: commands[i]!.commandId });
        expect(d.evidence).not.toHaveProperty('fleetGuard');
      } else {
        expect(d).toMatchObject({ decision: 'alert', severity: 'critical', commandId: null });
        expect(d.reason).toMatch(/^fleet guard: 3 of 12 active "mailer" identities already suspended \(cap 3, 25%\); alerting instead of suspending: email\.send exceeded the manifest limit of 1 per 1m/);
        expect(d.evidence.fleetGuard).toEqual({ agentClass: 'mailer', suspended: 3, active: 12, allowed: 3, maxPercent: 25 });
      }
    }
    // The store knows the three, until the end of their suspensions.
    const seen = await fleet.observe({ active: new Map([['mailer', new Map()]]), at: new Map([['mailer', T + MIN]]), activeWindowMs: HOUR });
    expect(Object.fromEntries(seen.get('mailer')!.open)).toEqual(Object.fromEntries(commands.map((c) => [c.identity, c.until])));

    // Ten minutes on, the three are still suspended: another offender is still only alerted.
    const still = await engine.process('p', offend([mailer(3)], T + 10 * MIN));
    expect(suspendsOf(still)).toEqual([]);
    expect(tripsOf(still).map((d) => d.evidence.fleetGuard)).toEqual([{ agentClass: 'mailer', suspended: 3, active: 12, allowed: 3, maxPercent: 25 }]);

    // Once their suspensions have ended (event time past until), three more may be suspended.
    const ended = Math.max(...commands.map((c) => c.until!));
    expect(ended).toBeLessThan(T + 20 * MIN);
    const later = await engine.process('p', offend(ids.slice(3), T + 20 * MIN));
    expect(suspendsOf(later)).toEqual(ids.slice(3, 6).map((id) => `${id} email.send`));
    const trips = tripsOf(later);
    expect(trips.map((d) => d.identity)).toEqual(ids.slice(6));
    expect(trips.every((d) => d.decision === 'alert' && d.severity === 'critical' && d.commandId === null)).toBe(true);
    expect(trips[0]!.evidence.fleetGuard).toEqual({ agentClass: 'mailer', suspended: 3, active: 12, allowed: 3, maxPercent: 25 });
  });

  it('a batch redelivered after a crash between recording the suspensions and the commit gives the same decisions', async () => {
    /** Fails its first commit, as a process killed right after fleet.suspended() would. */
    class CrashOnce extends MemoryWindowStore {
      crashed = false;
      override async commit(batch: Parameters<MemoryWindowStore['commit']>[0]): Promise<void> {
        if (!this.crashed) {
          this.crashed = true;
          throw new Error('killed before the commit');
        }
        return super.commit(batch);
      }
    }
    const ids = Array.from({ length: N }, (_, i) => mailer(i));
    const warm = ids.map((id, i) => ev(event(`warm-${i}`, T + i * SEC, id)));
    const bad = ids.map((id, i) => ev(event(`bad-${i}`, T + 30 * SEC + i * SEC, id)));
    const clean = new Engine({ config, store: new MemoryWindowStore(), fleet: new MemoryFleetStore() });
    await clean.process('p', warm);
    const expected = await clean.process('p', bad);
    expect(suspendsOf(expected)).toHaveLength(3);

    const store = new CrashOnce();
    store.crashed = true;
    const fleet = new MemoryFleetStore();
    const engine = new Engine({ config, store, fleet });
    await engine.process('p', warm);
    store.crashed = false;
    await expect(engine.process('p', bad)).rejects.toThrow('killed before the commit');
    // The suspensions were recorded; the breakers and the offset were not. The same batch comes again.
    const again = await engine.process('p', bad);
    expect(again.items).toEqual(expected.items);
    expect(suspendsOf(again)).toEqual(ids.slice(0, 3).map((id) => `${id} email.send`));
  });

  it('suspensions of one class do not count against another, in the same batch', async () => {
    const engine = new Engine({ config, store: new MemoryWindowStore(), fleet: new MemoryFleetStore() });
    const ids = Array.from({ length: N }, (_, i) => mailer(i));
    await engine.process('p', ids.map((id, i) => ev(event(`warm-${i}`, T + i * SEC, id))));
    const out = await engine.process('p', [
      ...ids.map((id, i) => ev(event(`bad-${i}`, T + 30 * SEC + i * SEC, id))),
      ...offend([courier(0), courier(1)], T + 45 * SEC),
    ]);
    expect(suspendsOf(out)).toEqual([...ids.slice(0, 3), courier(0), courier(1)].map((id) => `${id} email.send`));
    expect(tripsOf(out).map((d) => d.identity)).toEqual(ids.slice(3));
    // Courier has 2 active identities: alwaysAllow (2) is its cap, now reached, by its own suspensions only.
    const third = await engine.process('p', offend([courier(2)], T + MIN));
    expect(suspendsOf(third)).toEqual([]);
    expect(tripsOf(third).map((d) => d.evidence.fleetGuard)).toEqual([{ agentClass: 'courier', suspended: 2, active: 3, allowed: 2, maxPercent: 25 }]);
  });

  it('an identity already suspended for one capability may be suspended for another without tripping the guard', async () => {
    const fleet = new MemoryFleetStore();
    const engine = new Engine({ config, store: new MemoryWindowStore(), fleet });
    const ids = Array.from({ length: N }, (_, i) => mailer(i));
    await engine.process('p', ids.map((id, i) => ev(event(`warm-${i}`, T + i * SEC, id))));
    const out = await engine.process('p', ids.map((id, i) => ev(event(`bad-${i}`, T + 30 * SEC + i * SEC, id))));
    expect(suspendsOf(out)).toHaveLength(3);
    // The class is at its cap. mailer/0 (suspended for email.send) and mailer/5 (not suspended) each read the CRM too often.
    const crm = await engine.process('p', [...offend([mailer(0)], T + 2 * MIN, 'crm.read'), ...offend([mailer(5)], T + 2 * MIN + 10 * SEC, 'crm.read')]);
    const cmds = commandsOf(crm.items);
    expect(cmds.map((c) => [c.type, c.identity, c.scope])).toEqual([['suspend', mailer(0), 'crm.read']]);
    expect(cmds[0]!.active.map((a) => a.scope)).toEqual(['crm.read', 'email.send']);
    expect(tripsOf(crm).map((d) => [d.identity, d.action, (d.evidence.fleetGuard as { suspended: number }).suspended])).toEqual([[mailer(5), 'crm.read', 3]]);
    // Still three identities suspended, mailer/0 once, until its later end.
    const seen = (await fleet.observe({ active: new Map([['mailer', new Map()]]), at: new Map([['mailer', T + 3 * MIN]]), activeWindowMs: HOUR })).get('mailer')!;
    expect([...seen.open.keys()].sort()).toEqual(ids.slice(0, 3).sort());
    expect(seen.open.get(mailer(0))).toBe(cmds[0]!.until);
  });

  it('the shared bucket: events with no or an unknown agentClass count together as unclassified', async () => {
    // A detector that suspends every identity doing `x.bad`, whatever its class.
    const flagger: Detector = {
      name: 'scope',
      track: () => [],
      detect: (e) => (e.action === 'x.bad' ? [{ rule: 'test', severity: 'high', reason: 'x.bad', evidence: { observed: 1 } }] : []),
    };
    const engine = new Engine({ config, store: new MemoryWindowStore(), fleet: new MemoryFleetStore(), detectors: [flagger] });
    const ids = Array.from({ length: N }, (_, i) => `spiffe://acme.example/agent/stray/${i}`);
    // Half with no class, half with a class that has no manifest.
    const cls = (i: number): string | undefined => (i % 2 === 0 ? undefined : 'ghost');
    const out = await engine.process('p', ids.map((id, i) => {
      const e: AgentEvent = { id: `s-${i}`, ts: T + i * SEC, identity: id, action: 'x.bad', resource: 'x:1' };
      const c = cls(i);
      return ev(c === undefined ? e : { ...e, agentClass: c });
    }));
    expect(suspendsOf(out)).toEqual(ids.slice(0, 3).map((id) => `${id} *`));
    const trips = tripsOf(out);
    expect(trips).toHaveLength(9);
    expect(trips[0]!.evidence.fleetGuard).toEqual({ agentClass: UNKNOWN_CLASS, suspended: 3, active: 12, allowed: 3, maxPercent: 25 });
    expect(trips[0]!.reason).toMatch(/^fleet guard: 3 of 12 active unclassified identities already suspended/);
    // The event's own class is still reported as it was sent.
    expect(trips.map((d) => d.agentClass)).toEqual(ids.slice(3).map((_, i) => cls(i + 3) ?? null));
  });

  it('with fleetGuard.enabled false, or an engine without a fleet store, all offenders are suspended', async () => {
    const ids = Array.from({ length: N }, (_, i) => mailer(i));
    for (const engine of [
      new Engine({ config: offConfig, store: new MemoryWindowStore(), fleet: new MemoryFleetStore() }),
      new Engine({ config, store: new MemoryWindowStore() }),
    ]) {
      const out = await engine.process('p', offend(ids, T));
      expect(suspendsOf(out)).toEqual(ids.map((id) => `${id} email.send`));
      expect(tripsOf(out)).toEqual([]);
      expect(detectionsOf(out.items).every((d) => d.decision === 'suspend' && d.commandId !== null)).toBe(true);
    }
  });

  it('suspensions made with the guard off are counted once a reload turns it on', async () => {
    const engine = new Engine({ config: offConfig, store: new MemoryWindowStore(), fleet: new MemoryFleetStore() });
    const ids = Array.from({ length: N }, (_, i) => mailer(i));
    await engine.process('p', ids.map((id, i) => ev(event(`warm-${i}`, T + i * SEC, id))));
    expect(suspendsOf(await engine.process('p', offend(ids.slice(0, 3), T + 30 * SEC)))).toHaveLength(3);
    engine.setConfig(config);
    // Active identities are counted from the reload on (observing them is the guard's per-batch cost).
    await engine.process('p', ids.map((id, i) => ev(event(`again-${i}`, T + 90 * SEC + i, id, 'crm.read'))));
    const out = await engine.process('p', offend(ids.slice(3, 5), T + 3 * MIN));
    expect(suspendsOf(out)).toEqual([]);
    expect(tripsOf(out).map((d) => d.evidence.fleetGuard)).toEqual([
      { agentClass: 'mailer', suspended: 3, active: N, allowed: 3, maxPercent: 25 },
      { agentClass: 'mailer', suspended: 3, active: N, allowed: 3, maxPercent: 25 },
    ]);
  });

  it('operator suspensions are neither capped nor counted', async () => {
    const engine = new Engine({ config, store: new MemoryWindowStore(), fleet: new MemoryFleetStore(), operatorKeys: OPS });
    const ids = Array.from({ length: N }, (_, i) => mailer(i));
    const control = (i: number, ts: number): OperatorControl => createControl({
      op: 'suspend', identity: ids[i]!, scope: '*', ttlMs: HOUR, reason: `INC-${i}`, operator: 'alice',
    }, OPS, ts, `ctl-${i}-${ts}`);
    await engine.process('p', ids.map((id, i) => ev(event(`warm-${i}`, T + i * SEC, id))));
    // Operators suspend five identities: more than the cap of 3, all applied.
    const ops = await engine.process('p', [0, 1, 2, 3, 4].map((i) => ctl(control(i, T + 20 * SEC))));
    expect(suspendsOf(ops)).toEqual(ids.slice(0, 5).map((id) => `${id} *`));
    expect(ops.items.filter((i) => i.kind === 'control').map((i) => i.kind === 'control' && i.control.result)).toEqual(Array(5).fill('applied'));
    // They are not counted: three of the other seven offenders are still suspended by the detector.
    const out = await engine.process('p', ids.slice(5).map((id, i) => ev(event(`bad-${i}`, T + 30 * SEC + i * SEC, id))));
    expect(suspendsOf(out)).toEqual(ids.slice(5, 8).map((id) => `${id} email.send`));
    expect(tripsOf(out).map((d) => d.identity)).toEqual(ids.slice(8));
    expect(tripsOf(out)[0]!.evidence.fleetGuard).toMatchObject({ suspended: 3, allowed: 3 });
    // With the class at its cap, operators may still suspend more.
    const more = await engine.process('p', [8, 9, 10, 11].map((i) => ctl(control(i, T + MIN))));
    expect(suspendsOf(more)).toEqual(ids.slice(8).map((id) => `${id} *`));
  });

  it('replay of the same recording is byte-identical, with the guard in it', async () => {
    const ids = Array.from({ length: N }, (_, i) => mailer(i));
    const events: AgentEvent[] = [
      ...ids.map((id, i) => event(`warm-${i}`, T + i * SEC, id)),
      ...ids.map((id, i) => event(`bad-${i}`, T + 30 * SEC + i * SEC, id)),
      ...ids.slice(3).flatMap((id, i) => [event(`late-${i}a`, T + 20 * MIN + i * SEC, id), event(`late-${i}b`, T + 20 * MIN + i * SEC + 100, id)]),
    ];
    const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    const run = async (batchSize: number): Promise<string> => {
      let out = '';
      const output = new Writable({ write(chunk, _e, cb) { out += chunk.toString(); cb(); } });
      await replay({ records: readEventStream(Readable.from([Buffer.from(text)])), config, output, batchSize });
      return out;
    };
    const a = await run(5);
    const b = await run(5);
    expect(b).toBe(a);
    const recs = a.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const suspends = recs.filter((r) => r.kind === 'command' && r.type === 'suspend').map((r) => r.identity);
    expect(suspends).toEqual([...ids.slice(0, 3), ...ids.slice(3, 6)]);
    expect(recs.filter((r) => r.kind === 'detection' && (r.evidence as Record<string, unknown>).fleetGuard !== undefined)).toHaveLength(9 + 6);
    expect(recs.at(-1)).toMatchObject({ kind: 'summary', suspensions: 6, detections: 12 + 9 });
  });
});

describe('fleetGuard config', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  async function check(fleetGuard: string) {
    const dir = await mkdtemp(join(tmpdir(), 'warden-fleetcfg-'));
    dirs.push(dir);
    await writeFile(join(dir, 'detectors.yaml'), `breaker:\n  fleetGuard:\n${fleetGuard}`);
    return validateConfigDir(dir);
  }

  it('takes partial settings over the defaults', async () => {
    const r = await check('    maxPercent: 50\n    activeWindow: 30m\n');
    expect(r.ok && r.config.breaker.fleetGuard).toEqual({ enabled: true, maxPercent: 50, alwaysAllow: 2, activeWindowMs: 30 * MIN });
    const dir = await mkdtemp(join(tmpdir(), 'warden-fleetcfg-'));
    dirs.push(dir);
    await writeFile(join(dir, 'detectors.yaml'), 'breaker:\n  ttl: 10m\n');
    expect((await loadConfig(dir)).breaker.fleetGuard).toEqual({ enabled: true, maxPercent: 25, alwaysAllow: 2, activeWindowMs: HOUR });
    const fraction = await check('    maxPercent: 0.5\n    alwaysAllow: 0\n');
    expect(fraction.ok && fraction.config.breaker.fleetGuard).toMatchObject({ maxPercent: 0.5, alwaysAllow: 0 });
  });

  const refused: Array<[string, string, RegExp]> = [
    ['    maxPercent: 0\n', 'breaker.fleetGuard.maxPercent', /must be > 0/],
    ['    maxPercent: 150\n', 'breaker.fleetGuard.maxPercent', /must be <= 100/],
    ['    maxPercent: "25%"\n', 'breaker.fleetGuard.maxPercent', /expected a number/],
    ['    alwaysAllow: -1\n', 'breaker.fleetGuard.alwaysAllow', /must be >= 0/],
    ['    alwaysAllow: 1.5\n', 'breaker.fleetGuard.alwaysAllow', /expected an integer/],
    ['    enabled: yes please\n', 'breaker.fleetGuard.enabled', /expected true or false/],
    ['    activeWindow: 0\n', 'breaker.fleetGuard.activeWindow', /at least 1s/],
    ['    maxPercnt: 30\n', 'breaker.fleetGuard.maxPercnt', /unknown key "maxPercnt"/],
  ];
  for (const [yaml, path, message] of refused) {
    it(`refuses ${yaml.trim()} at ${path}`, async () => {
      const r = await check(yaml);
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.issues).toEqual([expect.objectContaining({ path, message: expect.stringMatching(message), line: 3 })]);
    });
  }
});

describe('fleet guard: each class pruned by its own time (FleetBatch)', () => {
  it('one far-ahead event of one class in the batch does not empty another class\'s active set', async () => {
    const { FleetBatch } = await import('../../src/pipeline/fleet-batch.js');
    const store = new MemoryFleetStore();
    const seen: Array<Map<string, number>> = [];
    const spy = { observe: (o: Parameters<MemoryFleetStore['observe']>[0]) => { seen.push(new Map(o.at)); return store.observe(o); }, suspended: store.suspended.bind(store) };
    const first = new FleetBatch(spy, guardCfg());
    for (let i = 0; i < 6; i++) first.note('mailer', mailer(i), T + i * SEC);
    await first.observe();
    const next = new FleetBatch(spy, guardCfg());
    next.note('mailer', mailer(9), T + MIN);
    // Older Warden accepted any ts: a producer sending µs, in another class.
    next.note('other', 'x', 9e15);
    await next.observe();
    expect(seen[1]).toEqual(new Map([['mailer', T + MIN], ['other', 9e15]]));
    const views = await store.observe({ active: new Map([['mailer', new Map()]]), at: new Map([['mailer', T + MIN]]), activeWindowMs: HOUR });
    expect(views.get('mailer')!.active).toBe(7);
  });
});
