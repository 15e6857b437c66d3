import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decodeMulti } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { DEFAULT_START, simulateFleet, type FleetOptions } from '../../src/sim/fleet.js';
import { Prng } from '../../src/sim/prng.js';
import { writeEvents, writeIncidents } from '../../src/sim/write.js';

const DAY = 86_400_000;
const IDENTITY = /^spiffe:\/\/acme\.example\/agent\/[a-z-]+\/[0-9a-f]{4}$/;

const t0 = performance.now();
const rogue = simulateFleet({ seed: 7 });
const rogueMs = performance.now() - t0;
const benign = simulateFleet({ seed: 7, rogues: false });

describe('Prng', () => {
  it('is deterministic per seed and stays in range', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const xs = Array.from({ length: 100 }, () => a.float());
    expect(Array.from({ length: 100 }, () => b.float())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const r = new Prng(1);
    for (let i = 0; i < 1000; i++) {
      const n = r.int(3, 5);
      expect(n >= 3 && n <= 5 && Number.isInteger(n)).toBe(true);
    }
  });

  it('draws Poisson counts with about the right mean, small and large lambda', () => {
    const r = new Prng(3);
    for (const lambda of [0.5, 4, 80]) {
      let sum = 0;
      for (let i = 0; i < 20_000; i++) sum += r.poisson(lambda);
      expect(sum / 20_000).toBeCloseTo(lambda, lambda > 30 ? 0 : 1);
    }
    expect(r.poisson(0)).toBe(0);
  });
});

describe('simulateFleet', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = simulateFleet({ seed: 11, days: 2 });
    const b = simulateFleet({ seed: 11, days: 2 });
    const c = simulateFleet({ seed: 12, days: 2 });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(JSON.stringify(c.events.slice(0, 100))).not.toBe(JSON.stringify(a.events.slice(0, 100)));
  });

  it('generates the default fleet quickly', () => {
    expect(rogue.events.length).toBeGreaterThan(50_000);
    expect(rogueMs).toBeLessThan(2000);
  });

  it('sorts by ts, then by id, with unique ids', () => {
    const unsorted = rogue.events.filter((e, i) => {
      const p = rogue.events[i - 1];
      return p !== undefined && !(p.ts < e.ts || (p.ts === e.ts && p.id < e.id));
    });
    expect(unsorted).toEqual([]);
    expect(new Set(rogue.events.map((e) => e.id)).size).toBe(rogue.events.length);
  });

  it('emits well-formed AgentEvents inside the simulated days', () => {
    const end = DEFAULT_START + 3 * DAY;
    const nonEmpty = (v: unknown): boolean => typeof v === 'string' && v !== '';
    const bad = rogue.events.filter(
      (e) =>
        !(['id', 'identity', 'action', 'resource', 'agentClass', 'instance'] as const).every((k) => nonEmpty(e[k])) ||
        !Number.isInteger(e.ts) ||
        e.ts < DEFAULT_START ||
        e.ts >= end ||
        !IDENTITY.test(e.identity) ||
        e.identity.split('/')[4] !== e.agentClass ||
        (e.chain !== undefined && !e.chain.every((c) => IDENTITY.test(c))),
    );
    expect(bad).toEqual([]);
    expect(rogue.identities).toBe(new Set(rogue.events.map((e) => e.identity)).size);
  });

  it('has a benign fleet with no analytics writes and no deep chains', () => {
    expect(benign.incidents).toEqual([]);
    expect(benign.events.some((e) => e.agentClass === 'analytics-agent' && e.action !== 'db.read' && e.action !== 'report.read')).toBe(false);
    expect(Math.max(...benign.events.map((e) => e.chain?.length ?? 0))).toBeLessThanOrEqual(2);
  });

  it('has late joiners, nightly batch bursts and ephemeral workers spawned before they act', () => {
    const first = new Map<string, number>();
    for (const e of benign.events) if (!first.has(e.identity)) first.set(e.identity, e.ts);
    const late = [...first].filter(([id, ts]) => !id.includes('/ops-worker/') && ts >= DEFAULT_START + DAY);
    expect(late.length).toBeGreaterThanOrEqual(5);

    const batch = benign.events.filter((e) => e.agentClass === 'batch-reporter');
    expect(batch.every((e) => new Date(e.ts).getUTCHours() === 2)).toBe(true);

    const spawned = new Map<string, number>();
    for (const e of benign.events) if (e.action === 'agent.spawn') spawned.set(e.resource.slice('agent:'.length), e.ts);
    const workers = benign.events.filter((e) => e.agentClass === 'ops-worker');
    expect(workers.length).toBeGreaterThan(0);
    const bad = workers.filter((w) => {
      const at = spawned.get(w.identity);
      return !w.chain?.[0]?.includes('/ops-orchestrator/') || at === undefined || w.ts < at || w.ts - at > 2 * 60_000;
    });
    expect(bad).toEqual([]);
  });

  it('adds exactly the three rogue incidents inside the last day', () => {
    const lastDay = DEFAULT_START + 2 * DAY;
    expect(rogue.incidents.map((i) => i.label)).toEqual(['analytics-prod-write', 'support-email-spam', 'orchestrator-runaway']);
    for (const inc of rogue.incidents) {
      expect(inc.start).toBeGreaterThanOrEqual(lastDay);
      expect(inc.end).toBeLessThan(lastDay + DAY);
      expect(inc.end).toBeGreaterThan(inc.start);
    }
    const [write, spam, runaway] = rogue.incidents;

    const writes = rogue.events.filter((e) => e.action === 'db.write');
    expect(writes.every((e) => e.identity === write!.identity && e.ts >= write!.start && e.ts <= write!.end)).toBe(true);
    expect(writes[0]!.ts).toBe(write!.start);
    expect(rogue.events.filter((e) => e.identity === write!.identity && e.ts < write!.start).every((e) => e.action.endsWith('.read'))).toBe(true);

    const emails = rogue.events.filter((e) => e.identity === spam!.identity && e.action === 'email.send' && e.ts >= spam!.start && e.ts <= spam!.end);
    expect(emails.length).toBeGreaterThan(600);

    const spawns = rogue.events.filter((e) => e.identity === runaway!.identity && e.action === 'agent.spawn' && e.ts >= runaway!.start && e.ts <= runaway!.start + 15 * 60_000);
    expect(spawns.length).toBeGreaterThan(120);
    const deep = rogue.events.filter((e) => (e.chain?.length ?? 0) >= 3);
    expect(Math.max(...deep.map((e) => e.chain!.length))).toBe(5);
    expect(deep.every((e) => e.chain![0] === runaway!.identity && e.ts <= runaway!.end)).toBe(true);
  });

  it('rejects bad options', () => {
    expect(() => simulateFleet({ days: 0 })).toThrow(expect.objectContaining({ code: 'SIM_OPTIONS_INVALID' }));
    expect(() => simulateFleet({ agents: { nope: 1 } as FleetOptions['agents'] })).toThrow(/unknown agent class "nope"/);
  });
});

describe('writeEvents / writeIncidents', () => {
  const small = simulateFleet({ seed: 5, days: 1, agents: { 'support-bot': 2, 'analytics-agent': 1, 'ops-orchestrator': 1, 'batch-reporter': 0, 'coding-assistant': 1 } });
  const dir = mkdtempSync(join(tmpdir(), 'warden-sim-'));

  it('round-trips JSON Lines, gzipped JSON Lines and msgpack', async () => {
    await writeEvents(small.events, join(dir, 'e.jsonl'), 'jsonl');
    await writeEvents(small.events, join(dir, 'e.jsonl.gz'), 'jsonl', true);
    await writeEvents(small.events, join(dir, 'e.msgpack'), 'msgpack');
    const lines = readFileSync(join(dir, 'e.jsonl'), 'utf8').trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual(small.events);
    expect(gunzipSync(readFileSync(join(dir, 'e.jsonl.gz'))).toString('utf8')).toBe(readFileSync(join(dir, 'e.jsonl'), 'utf8'));
    expect([...decodeMulti(readFileSync(join(dir, 'e.msgpack')))]).toEqual(small.events);
  });

  it('writes incidents as a JSON array', async () => {
    await writeIncidents(small.incidents, join(dir, 'i.json'));
    expect(JSON.parse(readFileSync(join(dir, 'i.json'), 'utf8'))).toEqual(small.incidents);
    expect(small.incidents).toHaveLength(3);
  });
});
