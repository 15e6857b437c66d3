import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { validateConfigDir } from '../../../src/config/load.js';
import type { WardenConfig } from '../../../src/config/types.js';
import type { Detection } from '../../../src/detector.js';
import type { AgentEvent } from '../../../src/event/types.js';
import { Engine } from '../../../src/pipeline/engine.js';
import { AbsenceBook } from '../../../src/pipeline/absence.js';
import { MemoryWindowStore } from '../../../src/state/memory-store.js';
import { silence } from '../../../detectors/silence.js';
import { arrivals, byTime, DAY, diurnal, ev, HOUR, MIN, mulberry32, T0 } from './harness.js';

const ID = 'spiffe://acme.example/agent/monitor/1';

async function detections(config: WardenConfig, events: AgentEvent[], batch = 500): Promise<Detection[]> {
  const engine = new Engine({ config, store: new MemoryWindowStore() });
  const out: Detection[] = [];
  for (let i = 0; i < events.length; i += batch) {
    const records = events.slice(i, i + batch).map((event, j) => ({ offset: BigInt(i + j), ok: true as const, event }));
    const r = await engine.process('p', records);
    for (const item of r.items) if (item.kind === 'detection') out.push(item.detection);
  }
  return out;
}

/** Two actions around the clock at `perHour` in all, with a hole [from, to) where it does nothing. */
function monitor(seed: number, days: number, perHour: (ts: number) => number, hole?: [number, number], identity = ID): AgentEvent[] {
  const rng = mulberry32(seed);
  const events: AgentEvent[] = [];
  for (const t of arrivals(rng, T0, T0 + days * DAY, perHour)) {
    if (hole && t >= hole[0] && t < hole[1]) continue;
    events.push(ev(identity, t, rng() < 0.7 ? 'metrics.read' : 'http.get', 'metrics:api/latency'));
  }
  return events;
}

const silences = (ds: Detection[]) => ds.filter((d) => d.detector === 'silence');

describe('silence detector', () => {
  it('alerts once when an always-on identity falls silent, stamped with when it became due, and names the last event', async () => {
    const config = await loadConfig('config');
    const hole: [number, number] = [T0 + 2 * DAY + 10 * HOUR, T0 + 2 * DAY + 12 * HOUR];
    const events = monitor(1, 3, () => 60, hole);
    const found = silences(await detections(config, events));
    expect(found).toHaveLength(1);
    const s = found[0]!;
    const last = events.filter((e) => e.ts < hole[0]).at(-1)!;
    expect(s).toMatchObject({ identity: ID, decision: 'alert', rule: 'silent', scope: '*', eventId: last.id, action: last.action });
    expect(s.evidence.lastEventTs).toBe(last.ts);
    // 15 actions at about 60 an hour: some 15 minutes after the last one, long before the hole ends.
    expect(s.ts - last.ts).toBeGreaterThan(8 * MIN);
    expect(s.ts - last.ts).toBeLessThan(40 * MIN);
    expect(s.ts).toBe(last.ts + (s.evidence.silentMs as number));
  });

  it('gives the same findings whatever the batching (the time is when it became due, not when it was noticed)', async () => {
    const config = await loadConfig('config');
    const events = monitor(2, 3, () => 60, [T0 + 2 * DAY + 3 * HOUR, T0 + 2 * DAY + 5 * HOUR]);
    const one = await detections(config, events, 1);
    const many = await detections(config, events, 5000);
    expect(silences(one)).toHaveLength(1);
    expect(JSON.stringify(many)).toBe(JSON.stringify(one));
  });

  it('stays quiet on office hours that end every evening, on nights near zero and on a quiet day, on several seeds', async () => {
    const config = await loadConfig('config');
    for (const seed of [3, 4, 5]) {
      // Three working days, then a day at a third of the usual rate (a weekend).
      const rate = (t: number) => 120 * diurnal(t, 0.02) * (t >= T0 + 3 * DAY ? 0.35 : 1);
      const found = silences(await detections(config, monitor(seed, 4, rate)));
      expect(found, `seed ${seed}: ${found.map((d) => d.reason).join('; ')}`).toEqual([]);
    }
  });

  it('does not judge an identity before its baseline has learned, nor one too slow to be missed within the hour', async () => {
    const config = await loadConfig('config');
    // Day one only, then silence: still learning.
    expect(silences(await detections(config, monitor(6, 1, () => 60, [T0 + 20 * HOUR, T0 + DAY])))).toEqual([]);
    // Six an hour: 15 expected actions take longer than `within` (1h).
    expect(silences(await detections(config, monitor(7, 3, () => 6, [T0 + 2 * DAY + 10 * HOUR, T0 + 2 * DAY + 16 * HOUR])))).toEqual([]);
  });

  it('is judged again after an alert, from the identity\'s next event', async () => {
    const config = await loadConfig('config');
    const holes: Array<[number, number]> = [[T0 + 2 * DAY + 2 * HOUR, T0 + 2 * DAY + 4 * HOUR], [T0 + 2 * DAY + 8 * HOUR, T0 + 2 * DAY + 10 * HOUR]];
    const events = monitor(8, 3, () => 60).filter((e) => !holes.some(([a, b]) => e.ts >= a && e.ts < b));
    const found = silences(await detections(config, byTime(events)));
    expect(found.map((d) => holes.findIndex(([a, b]) => d.ts >= a && d.ts < b))).toEqual([0, 1]);
  });

  it('refuses settings out of range, naming them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warden-silence-'));
    try {
      await mkdir(join(dir, 'agents'));
      await writeFile(join(dir, 'detectors.yaml'), 'detectors:\n  silence:\n    within: 7h\n    expectedEvents: 1\n');
      const r = await validateConfigDir(dir);
      expect(r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`).sort()).toEqual([
        expect.stringMatching(/^detectors\.silence\.expectedEvents: must be >= 3/),
        expect.stringMatching(/^detectors\.silence\.within: must be at most 6h/),
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('absence book', () => {
  it('keeps nothing of an identity nothing is expected of', async () => {
    const config = await loadConfig('config');
    const book = new AbsenceBook();
    const ctx = { config: config.detectors, manifest: undefined, configVersion: 'v' };
    const view = { identity: ID, firstSeen: T0, events: 1, counters: {}, seen: {}, distinct: {} };
    // Nothing learned: no expectation, so nothing kept.
    book.heard(silence, ev(ID, T0, 'a', 'r'), view, ctx, []);
    expect(book.size).toBe(0);
  });
});
