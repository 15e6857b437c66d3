import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../src/event/types.js';
import { loadEvalConfig } from '../../src/eval/run.js';
import { CLASSES, CUSTOMER_POOL, classSpec } from '../../src/sim/classes.js';
import { CATALOGUE_START, simulateCatalogue } from '../../src/sim/catalogue.js';
import { CONFOUNDER_KINDS, INCIDENT_KINDS, INTENSITIES, type Incident } from '../../src/sim/labels.js';
import { catalogueManifests } from '../../src/sim/manifests.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

const sim = simulateCatalogue({ seed: 1 });
const byId = new Map<string, AgentEvent[]>();
for (const e of sim.events) (byId.get(e.identity) ?? byId.set(e.identity, []).get(e.identity)!).push(e);
const of = (id: string): AgentEvent[] => byId.get(id) ?? [];
const within = (es: AgentEvent[], from: number, to: number): AgentEvent[] => es.filter((e) => e.ts >= from && e.ts <= to);
const incidents = sim.labels.filter((l) => l.role !== 'confounder');
const confounders = sim.labels.filter((l) => l.role === 'confounder');
const one = (label: string): Incident => {
  const l = incidents.find((x) => x.label === label);
  if (!l) throw new Error(`no incident ${label}`);
  return l;
};
/** Events per minute in [from, to). */
const perMin = (es: AgentEvent[], from: number, to: number): number => es.filter((e) => e.ts >= from && e.ts < to).length / ((to - from) / MIN);
const allowed = (e: AgentEvent): boolean => {
  const c = classSpec(e.agentClass!);
  const globs = [...c.allow, ...(c.rollout ? [c.rollout] : []), ...(c.dormant ? [c.dormant] : [])];
  const re = (g: string): RegExp => new RegExp(`^${g.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\u0000/g, '.*')}$`);
  return globs.some((g) => g.action === e.action && re(g.glob).test(e.resource));
};

const digest = (events: AgentEvent[]): string => createHash('sha256').update(JSON.stringify(events)).digest('hex');

describe('simulateCatalogue', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = simulateCatalogue({ seed: 5, days: 2, agents: 40 });
    const b = simulateCatalogue({ seed: 5, days: 2, agents: 40 });
    const c = simulateCatalogue({ seed: 6, days: 2, agents: 40 });
    expect(digest(b.events)).toBe(digest(a.events));
    expect(JSON.stringify(b.labels)).toBe(JSON.stringify(a.labels));
    expect(digest(c.events)).not.toBe(digest(a.events));
    expect(c.labels.map((l) => l.start)).not.toEqual(a.labels.map((l) => l.start));
  });

  it('has ~52 long-lived agents in 6 classes plus ephemeral workers, sorted events with unique ids, the first day clean', () => {
    expect(sim.longLived).toBe(52);
    expect(new Set(sim.events.map((e) => e.agentClass))).toEqual(new Set(CLASSES.map((c) => c.name)));
    expect(sim.events.every((e, i) => i === 0 || sim.events[i - 1]!.ts <= e.ts)).toBe(true);
    expect(new Set(sim.events.map((e) => e.id)).size).toBe(sim.events.length);
    expect(sim.start).toBe(CATALOGUE_START);
    expect(sim.labels.every((l) => l.start >= sim.start + DAY && l.end <= sim.end)).toBe(true);
    const outcomes = new Map<string, number>();
    for (const e of sim.events) outcomes.set(e.outcome!, (outcomes.get(e.outcome!) ?? 0) + 1);
    expect(outcomes.get('allowed')! / sim.events.length).toBeGreaterThan(0.95);
    expect(outcomes.get('error')).toBeGreaterThan(0);
    expect(outcomes.get('denied')).toBeGreaterThan(0);
    // Nothing outside the manifests on day 1.
    expect(sim.events.filter((e) => e.ts < sim.start + DAY && !allowed(e))).toEqual([]);
  });

  it('has a daily rhythm: office classes are quieter at night and on the weekend', () => {
    const support = sim.events.filter((e) => e.agentClass === 'support-bot');
    const day1 = sim.start;
    const noon = perMin(support, day1 + 11 * HOUR, day1 + 14 * HOUR);
    expect(perMin(support, day1 + 1 * HOUR, day1 + 4 * HOUR)).toBeLessThan(noon / 5);
    const saturday = sim.start + 2 * DAY;
    expect(new Date(saturday).getUTCDay()).toBe(6);
    expect(perMin(support, saturday + 11 * HOUR, saturday + 14 * HOUR)).toBeLessThan(noon * 0.7);
    const rates = sim.labels.length > 0 ? [...byId.entries()].filter(([id]) => id.includes('/support-bot/')).map(([, es]) => perMin(es, day1 + 10 * HOUR, day1 + 16 * HOUR)) : [];
    expect(Math.max(...rates) / Math.min(...rates)).toBeGreaterThan(2);
  });

  it('places every incident kind at every intensity once, on distinct identities, and every confounder kind', () => {
    for (const k of INCIDENT_KINDS) for (const x of INTENSITIES) expect(incidents.filter((l) => l.kind === k && l.intensity === x)).toHaveLength(1);
    expect(incidents).toHaveLength(INCIDENT_KINDS.length * 3);
    expect(new Set(incidents.map((l) => l.identity)).size).toBe(incidents.length);
    expect(incidents.filter((l) => l.role === 'low').map((l) => l.kind)).toEqual(['declared-first-use', 'declared-first-use', 'declared-first-use']);
    for (const k of CONFOUNDER_KINDS) expect(confounders.some((l) => l.kind === k)).toBe(true);
    const offHours = incidents.filter((l) => l.kind === 'off-hours').map((l) => new Date(l.start).getUTCHours());
    expect(offHours.every((h) => h <= 5 || h >= 23)).toBe(true);
  });

  it('rate incidents really change the identity\'s rate in their window', () => {
    for (const x of INTENSITIES) {
      for (const kind of ['burst', 'sustained-shift']) {
        const l = one(`${kind}/${x}`);
        expect(perMin(of(l.identity), l.start, l.end), l.label).toBeGreaterThan(1.5 * perMin(of(l.identity), l.start - HOUR, l.start));
      }
      const ramp = one(`ramp/${x}`);
      expect(perMin(of(ramp.identity), ramp.end - 30 * MIN, ramp.end)).toBeGreaterThan(1.5 * perMin(of(ramp.identity), ramp.start - HOUR, ramp.start));
      const off = one(`off-hours/${x}`);
      expect(perMin(of(off.identity), off.start, off.end)).toBeGreaterThan(3 * Math.max(0.05, perMin(of(off.identity), off.start - 2 * HOUR, off.start)));
      const quiet = one(`silence/${x}`);
      const before = perMin(of(quiet.identity), quiet.start - 2 * HOUR, quiet.start);
      expect(before).toBeGreaterThan(0);
      if (x === 'subtle') expect(perMin(of(quiet.identity), quiet.start, quiet.end)).toBeLessThan(before * 0.5);
      else expect(within(of(quiet.identity), quiet.start, quiet.end - 1)).toEqual([]);
    }
  });

  it('scope, outcome and identity incidents emit what their labels say, and only then', () => {
    for (const x of INTENSITIES) {
      const probe = one(`error-probing/${x}`);
      const w = within(of(probe.identity), probe.start, probe.end);
      expect(w.filter((e) => e.outcome !== 'allowed').length / w.length, probe.label).toBeGreaterThan(0.08);

      const und = one(`undeclared-first-use/${x}`);
      const outside = of(und.identity).filter((e) => !allowed(e));
      expect(outside.length).toBeGreaterThan(0);
      expect(outside.every((e) => e.ts >= und.start && e.ts <= und.end)).toBe(true);
      expect(outside[0]!.ts).toBe(und.start);

      const decl = one(`declared-first-use/${x}`);
      const tool = classSpec(of(decl.identity)[0]!.agentClass!).dormant!;
      const uses = sim.events.filter((e) => e.action === tool.action && e.agentClass === of(decl.identity)[0]!.agentClass);
      expect(uses.every((e) => e.identity === decl.identity && e.ts >= decl.start && e.ts <= decl.end && allowed(e))).toBe(true);

      const fresh = one(`new-identity/${x}`);
      expect(of(fresh.identity)[0]!.ts - fresh.start).toBeLessThan(2 * MIN);
      expect(of(fresh.identity).every((e) => e.ts <= fresh.end)).toBe(true);

      const eph = one(`ephemeral-subagent/${x}`);
      const spawn = sim.events.find((e) => e.action === 'agent.spawn' && e.resource === `agent:${eph.identity}`)!;
      expect(spawn.ts).toBe(eph.start);
      expect(of(eph.identity).every((e) => e.chain?.[0] === spawn.identity && e.ts <= eph.end && e.ts - eph.start < 10 * MIN)).toBe(true);

      const ro = one(`read-only-write/${x}`);
      const writes = of(ro.identity).filter((e) => /\.(write|update|delete|restart)$/.test(e.action));
      expect(classSpec(of(ro.identity)[0]!.agentClass!).readOnly).toBe(true);
      expect(writes.length).toBeGreaterThan(0);
      expect(writes.every((e) => e.ts >= ro.start && e.ts <= ro.end)).toBe(true);

      const del = one(`delegation/${x}`);
      const deep = sim.events.filter((e) => (e.chain?.length ?? 0) > 2);
      expect(deep.some((e) => e.chain![0] === del.identity && e.ts >= del.start && e.ts <= del.end)).toBe(true);
    }
    // Only delegation incidents go deeper than the manifests allow.
    const deepRoots = new Set(sim.events.filter((e) => (e.chain?.length ?? 0) > 2).map((e) => e.chain![0]));
    expect([...deepRoots].sort()).toEqual(incidents.filter((l) => l.kind === 'delegation').map((l) => l.identity).sort());
  });

  it('confounders really happen', () => {
    const get = (kind: string): Incident[] => confounders.filter((l) => l.kind === kind);
    const surge = get('class-surge');
    const cls = surge[0]!.label.split('/')[1]!;
    const members = CLASSES.find((c) => c.name === cls)!;
    expect(surge.length).toBeGreaterThanOrEqual(Math.ceil(members.count * 0.8));
    const ids = new Set(surge.map((l) => l.identity));
    const classEvents = sim.events.filter((e) => ids.has(e.identity));
    expect(perMin(classEvents, surge[0]!.start, surge[0]!.end)).toBeGreaterThan(2 * perMin(classEvents, surge[0]!.start - HOUR, surge[0]!.start));

    const rollout = get('class-rollout');
    const rcls = rollout[0]!.label.split('/')[1]!;
    const tool = classSpec(rcls).rollout!;
    expect(rollout).toHaveLength(classSpec(rcls).count);
    for (const l of rollout) {
      const first = of(l.identity).find((e) => e.action === tool.action);
      expect(first, l.identity).toBeDefined();
      expect(first!.ts).toBeGreaterThanOrEqual(l.start);
      expect(first!.ts - l.start).toBeLessThan(HOUR);
    }
    const starts = rollout.map((l) => l.start);
    expect(Math.max(...starts) - Math.min(...starts)).toBeLessThanOrEqual(30 * MIN);

    for (const l of get('retry-storm')) {
      const w = within(of(l.identity), l.start, l.end);
      expect(w.filter((e) => e.outcome === 'error').length / w.length).toBeGreaterThan(0.5);
    }
    for (const l of get('nightly-batch')) expect(new Date(l.start).getUTCHours()).toBe(2);
    for (const l of get('rolling-deploy')) {
      const es = of(l.identity);
      const before = es.filter((e) => e.ts < l.start).at(-1)?.instance;
      const after = es.find((e) => e.ts > l.end)?.instance;
      expect(after).toBeDefined();
      expect(after).not.toBe(before);
    }
    for (const l of get('late-joiner')) expect(of(l.identity)[0]!.ts).toBeGreaterThanOrEqual(l.start);
    const fresh = get('new-customer-ids')[0]!;
    const enumerating = new Set(incidents.filter((l) => l.kind === 'enumeration').map((l) => l.identity));
    const newIds = sim.events.filter((e) => e.action === 'crm.read' && !enumerating.has(e.identity) && Number(e.resource.split('/')[1]) > CUSTOMER_POOL);
    expect(newIds.length).toBeGreaterThan(0);
    expect(newIds.every((e) => e.ts >= fresh.start)).toBe(true);
    const workers = get('ephemeral-normal');
    expect(workers.length).toBeGreaterThan(100);
    expect(workers.slice(0, 50).every((l) => of(l.identity).length > 0 && of(l.identity).every((e) => e.chain !== undefined && e.chain.length <= 2))).toBe(true);
    expect(get('weekend').every((l) => new Date(l.start).getUTCDay() === 6)).toBe(true);
    for (const l of get('rolling-deploy')) {
      // The old instance drains for a while after the new one starts: a brief overlap, not a shared credential.
      const during = new Set(within(of(l.identity), l.start, l.end).map((e) => e.instance));
      expect(during.size).toBeGreaterThanOrEqual(2);
    }
    const polls = get('polling');
    expect(polls.length).toBe(4);
    for (const l of polls) {
      const w = within(of(l.identity), l.start, l.end + MIN);
      const counts = new Map<string, number>();
      for (const e of w) counts.set(`${e.action} ${e.resource}`, (counts.get(`${e.action} ${e.resource}`) ?? 0) + 1);
      expect(Math.max(...counts.values())).toBeGreaterThanOrEqual(9);
    }
  });

  it('the identity incidents really happen: shared credentials, enumeration, runaway loops', () => {
    const instancesIn = (l: Incident): Set<string> => new Set(within(of(l.identity), l.start, l.end).map((e) => e.instance!));
    const before = (l: Incident): Set<string> => new Set(within(of(l.identity), l.start - 3 * HOUR, l.start - 1).map((e) => e.instance!));
    expect(instancesIn(one('shared-credential/blatant')).size).toBeGreaterThanOrEqual(before(one('shared-credential/blatant')).size + 3);
    for (const x of ['moderate', 'subtle']) {
      const l = one(`shared-credential/${x}`);
      const fresh = [...instancesIn(l)].filter((i) => !before(l).has(i));
      expect(fresh.length, x).toBe(1);
      // Used at the same time as the identity's own instance, not instead of it.
      const mins = (i: string): Set<number> => new Set(within(of(l.identity), l.start, l.end).filter((e) => e.instance === i).map((e) => Math.floor(e.ts / (5 * MIN))));
      const own = [...instancesIn(l)].find((i) => before(l).has(i))!;
      const overlap = [...mins(fresh[0]!)].filter((m) => mins(own).has(m));
      expect(overlap.length, x).toBeGreaterThanOrEqual(x === 'moderate' ? 4 : 1);
    }
    for (const x of INTENSITIES) {
      const l = one(`enumeration/${x}`);
      const seenBefore = new Set(sim.events.filter((e) => e.ts < l.start).map((e) => e.resource));
      const novel = within(of(l.identity), l.start, l.end).filter((e) => !seenBefore.has(e.resource));
      expect(novel.length, x).toBeGreaterThan(x === 'blatant' ? 290 : 15);
    }
    for (const x of INTENSITIES) {
      const l = one(`runaway-loop/${x}`);
      const looped = within(of(l.identity), l.start, l.end).filter((e) => e.task?.endsWith('-loop'));
      const calls = new Set(looped.map((e) => `${e.action} ${e.resource}`));
      expect(calls.size, x).toBe(x === 'moderate' ? 3 : 1);
      expect(looped.length, x).toBeGreaterThanOrEqual(55);
      expect(looped.some((e) => e.outcome === 'error'), x).toBe(true);
    }
  });

  it('a small fleet carries every kind, a later kind on an identity hours away from its first incident', () => {
    const small = simulateCatalogue({ seed: 5, days: 2, agents: 40 });
    const inc = small.labels.filter((l) => l.role !== 'confounder');
    expect(new Set(inc.map((l) => l.kind))).toEqual(new Set(INCIDENT_KINDS));
    const byIdentity = new Map<string, Incident[]>();
    for (const l of inc) byIdentity.set(l.identity, [...(byIdentity.get(l.identity) ?? []), l]);
    for (const ls of byIdentity.values()) {
      for (let i = 1; i < ls.length; i++) expect(ls[i]!.start - ls[i - 1]!.end >= 6 * HOUR || ls[i - 1]!.start - ls[i]!.end >= 6 * HOUR).toBe(true);
    }
  });

  it('rejects bad options', () => {
    expect(() => simulateCatalogue({ days: 1 })).toThrow(expect.objectContaining({ code: 'SIM_OPTIONS_INVALID' }));
    expect(() => simulateCatalogue({ agents: 10 })).toThrow(/agents must be an integer from 40/);
  });
});

describe('catalogue manifests', () => {
  it('eval/config/agents holds exactly what the fleet declares, and loads with the shipped detectors.yaml', async () => {
    const files = catalogueManifests();
    expect(readdirSync('eval/config/agents').sort()).toEqual([...files.keys()].sort());
    for (const [name, text] of files) expect(readFileSync(`eval/config/agents/${name}`, 'utf8')).toBe(text);
    const config = await loadEvalConfig();
    expect([...config.manifests.keys()].sort()).toEqual(CLASSES.map((c) => c.name).sort());
    expect(config.manifests.get('monitor-agent')!.allow.some((a) => a.resource.test('url:https://payments.acme.example/health'))).toBe(true);
  });
});
