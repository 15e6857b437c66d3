import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../../../src/config/index.js';
import type { AgentEvent } from '../../../src/event/types.js';
import { credential } from '../../../detectors/credential.js';
import { benignFleet, byTime, cleanupConfigs, DAY, ev, FLEET_MANIFESTS, Harness, HOUR, loadTestConfig, MIN, T0, type Fired } from './harness.js';

let resolve: Resolver;

beforeAll(async () => {
  ({ resolve } = await loadTestConfig({
    ...FLEET_MANIFESTS,
    'agents/pinned.yaml': `
agentClass: pinned
maxInstances: 2
allow:
  - { action: "**", resource: "**" }
`,
    // Opt-in: enabled here, as a user turns it on.
    'detectors.yaml': 'detectors:\n  credential:\n    enabled: true\n',
  }));
});
afterAll(cleanupConfigs);

const ID = 'svc-1';

/** One event a minute from each instance `at(ts)` names, from `from` to `to`. */
function steady(from: number, to: number, at: (ts: number) => string[], extra: Partial<AgentEvent> = {}, identity = ID): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let t = from; t < to; t += MIN) {
    at(t).forEach((instance, k) => out.push(ev(identity, t + 1000 + k * 977, 'db.read', `db:orders.${k}`, { instance, ...extra })));
  }
  return out;
}

function rules(fired: Fired[]): string[] {
  return fired.map((f) => `${f.finding.rule}@${Math.round((f.event.ts - T0) / MIN)}m`);
}

describe('credential detector', () => {
  it('has alert as its default mode: a deploy or a move can look like a shared credential for a while', () => {
    const ctx = resolve(ev(ID, T0, 'db.read', 'db:x', { instance: 'a' }));
    expect(ctx.config.credential).toMatchObject({ enabled: true, mode: 'alert', scope: 'identity' });
  });

  it('stays quiet on rolling deploys: a new instance overlapping the old one for a minute, even across a bucket edge', () => {
    const h = new Harness(resolve, [credential]);
    // Day 0 to 2: pod-a; at 36h pod-b starts and pod-a stops a minute later; at 50h02m30s (straddling a 5m edge) pod-c.
    const deploy1 = T0 + 36 * HOUR;
    const deploy2 = T0 + 50 * HOUR + 2 * MIN;
    const events = steady(T0, T0 + 3 * DAY, (t) => {
      if (t < deploy1) return ['pod-a'];
      if (t < deploy1 + MIN) return ['pod-a', 'pod-b'];
      if (t < deploy2) return ['pod-b'];
      if (t < deploy2 + 2 * MIN) return ['pod-b', 'pod-c'];
      return ['pod-c'];
    });
    expect(rules(h.runAll(events))).toEqual([]);
  });

  it('flags a stolen credential: a never-seen instance used alongside the usual one, held beyond a deploy\'s overlap', () => {
    const h = new Harness(resolve, [credential]);
    const start = T0 + 40 * HOUR;
    const events = steady(T0, T0 + 42 * HOUR, (t) => (t < start ? ['pod-a'] : ['pod-a', 'attacker-vm']));
    const fired = h.runAll(events);
    expect(fired.length).toBeGreaterThan(0);
    const first = fired[0]!;
    expect(first.finding).toMatchObject({ rule: 'instances', severity: 'high', scope: 'identity', evidence: { limitFrom: 'norm', norm: 1, limit: 1.5, key: 'instances' } });
    expect(first.finding.evidence.observed).toBeGreaterThanOrEqual(1.5);
    // Held for 15 to 20 minutes: three buckets of two instances.
    expect(first.event.ts - start).toBeGreaterThanOrEqual(15 * MIN);
    expect(first.event.ts - start).toBeLessThanOrEqual(21 * MIN);
    expect(first.finding.reason).toMatch(/^one credential used from [\d.]+ instances on average in 30m, over its norm of 1 \(threshold 1\.5\)$/);
    // Held, it keeps firing at about two instances on average.
    expect(fired.at(-1)!.finding.evidence.observed).toBe(2);
    expect(new Set(fired.map((f) => f.finding.rule))).toEqual(new Set(['instances']));
  });

  it('flags one credential shared by many instances at once: the new instance that takes it over its norm and a deploy\'s overlap', () => {
    const h = new Harness(resolve, [credential]);
    const share = T0 + 30 * HOUR + 2 * MIN;
    const all = ['pod-a', 'laptop-1', 'laptop-2', 'laptop-3', 'laptop-4', 'laptop-5'];
    const events = steady(T0, share + 3 * MIN, (t) => (t < share ? ['pod-a'] : all));
    const fired = h.runAll(events);
    expect(fired.length).toBeGreaterThan(0);
    const f = fired[0]!;
    expect(f.event.ts - share).toBeLessThan(MIN);
    expect(f.finding).toMatchObject({ rule: 'new-instance', evidence: { observed: 3, limit: 2.5, instance: 'laptop-2', known: 2, key: 'new-instance' } });
    expect(f.finding.reason).toContain('never-seen instance laptop-2 appeared alongside 2 other instance(s) in 5m');
  });

  it('flags known instances at once over the norm (instances), and a manifest\'s maxInstances from the first event', () => {
    const h = new Harness(resolve, [credential]);
    const at = T0 + 10 * HOUR + 2 * MIN;
    // Four instances known from the start but normally one at a time, round robin per hour.
    const pods = ['p0', 'p1', 'p2', 'p3'];
    const events = steady(T0, at + 2 * MIN, (t) => (t < at ? [pods[Math.floor((t - T0) / HOUR) % 4]!] : pods));
    const fired = h.runAll(events);
    expect(fired.map((f) => f.finding.rule)).toEqual(['instances']);
    expect(fired[0]!.finding.evidence).toMatchObject({ observed: 3, limitFrom: 'norm', norm: 1 });
    expect(fired[0]!.finding.reason).toContain('from 3 instances at once in 5m');

    const p = new Harness(resolve, [credential]);
    const pinned = { agentClass: 'pinned' };
    const quiet = p.runAll(steady(T0, T0 + 2 * HOUR, () => ['a', 'b'], pinned, 'pinned-1'));
    expect(rules(quiet)).toEqual([]);
    const over = p.runAll(steady(T0 + 2 * HOUR, T0 + 2 * HOUR + 5 * MIN, () => ['a', 'b', 'c', 'd'], pinned, 'pinned-1'));
    expect(over[0]!.finding).toMatchObject({ rule: 'instances', evidence: { observed: 4, limit: 3.5, limitFrom: 'manifest', instance: 'd' } });
    expect(over[0]!.finding.reason).toContain("over the manifest's maxInstances of 2");
  });

  it('stays quiet on autoscaling within the identity\'s norm (8 to 11 replicas over the day), and flags a jump far beyond it', () => {
    const h = new Harness(resolve, [credential]);
    const replicas = (t: number) => 8 + Math.round(3 * Math.sin((Math.PI * ((t - T0) % DAY)) / DAY) ** 2);
    const pods = (t: number) => Array.from({ length: replicas(t) }, (_, k) => `pod-${k}`);
    const fleet = steady(T0, T0 + 3 * DAY, pods);
    expect(rules(h.runAll(fleet))).toEqual([]);
    const jump = T0 + 3 * DAY + 7 * MIN;
    const more = steady(T0 + 3 * DAY, jump + 30 * MIN, (t) => (t < jump ? pods(t) : [...pods(t), ...Array.from({ length: 12 }, (_, k) => `pod-x${k}`)]));
    const fired = h.runAll(more);
    expect(fired[0]!.finding.rule).toBe('new-instance');
    expect(fired[0]!.event.ts - jump).toBeLessThan(MIN);
  });

  it('flags a task that changes instance mid-way, and not one task per instance', () => {
    const h = new Harness(resolve, [credential]);
    const fired = h.runAll([
      ev(ID, T0, 'db.read', 'db:a', { instance: 'pod-a', task: 't1' }),
      ev(ID, T0 + 1000, 'db.read', 'db:a', { instance: 'pod-b', task: 't2' }),
      ev(ID, T0 + 2000, 'db.read', 'db:a', { instance: 'pod-a', task: 't1' }),
      ev(ID, T0 + 3000, 'db.read', 'db:a', { instance: 'pod-b', task: 't2' }),
      ev(ID, T0 + 4000, 'db.read', 'db:a', { instance: 'pod-b', task: 't1' }),
      ev(ID, T0 + 5000, 'db.read', 'db:a', { instance: 'pod-b', task: 't1' }),
    ]);
    expect(fired).toHaveLength(1);
    expect(fired[0]!.finding).toMatchObject({ rule: 'task-moved', evidence: { task: 't1', instance: 'pod-b', key: 'task-moved:t1' } });
    expect(fired[0]!.finding.reason).toBe('task t1 changed instance mid-way: now on pod-b, seen on another instance within 1h');
  });

  it('keeps no state for events without an instance', () => {
    const h = new Harness(resolve, [credential], (_e, view) => {
      expect(Object.keys(view.distinct)).toEqual([]);
    });
    expect(h.runAll([ev(ID, T0, 'db.read', 'db:a', { task: 't' })])).toEqual([]);
  });

  it('stays quiet on the benign fleet with instances: daily pod restarts, two analytics replicas, tickets as tasks (several seeds)', () => {
    for (const seed of [1, 2, 3]) {
      const h = new Harness(resolve, [credential]);
      const fleet = benignFleet(seed).map((e): AgentEvent => {
        const day = Math.floor((e.ts - T0) / DAY);
        const replica = e.identity === 'analytics-1' ? `-r${e.id.charCodeAt(e.id.length - 1) % 2}` : '';
        const instance = `${e.identity}${replica}-d${day}`;
        return { ...e, instance, task: `${e.identity}${replica}-ticket-${Math.floor(e.ts / (20 * MIN))}` };
      });
      const fired = h.runAll(byTime(fleet));
      expect(rules(fired), `seed ${seed}`).toEqual([]);
    }
  });
});
