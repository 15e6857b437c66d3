import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenConfig } from '../../../src/config/types.js';
import type { Detection } from '../../../src/detector.js';
import type { AgentEvent } from '../../../src/event/types.js';
import { Engine, type InputRecord } from '../../../src/pipeline/engine.js';
import { MemoryClassStore } from '../../../src/state/class-store.js';
import { MemoryWindowStore } from '../../../src/state/memory-store.js';
import { arrivals, byTime, cleanupConfigs, DAY, diurnal, ev, FLEET_MANIFESTS, HOUR, loadTestConfig, MIN, mulberry32, T0 } from './harness.js';

let config: WardenConfig;
beforeAll(async () => {
  ({ config } = await loadTestConfig(FLEET_MANIFESTS));
});
afterAll(cleanupConfigs);

const SUPPORT = { agentClass: 'support-bot' };

/** Ten support bots on a daily rhythm for `days`, each from its own seed; `boost` scales one bot's (or all bots') rate in a window. */
function fleet(days: number, boost: (identity: string, t: number) => number = () => 1): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let i = 0; i < 10; i++) {
    const id = `bot-${i}`;
    const rng = mulberry32(100 + i);
    for (const ts of arrivals(rng, T0, T0 + days * DAY, (t) => 60 * diurnal(t, 0.2) * boost(id, t))) out.push(ev(id, ts, 'crm.read', 'crm:customers/1', SUPPORT));
  }
  return out;
}

async function run(events: AgentEvent[], classes = true): Promise<Detection[]> {
  const engine = new Engine({ config, store: new MemoryWindowStore(), ...(classes ? { classes: new MemoryClassStore() } : {}) });
  const out: Detection[] = [];
  const sorted = byTime(events);
  for (let i = 0; i < sorted.length; i += 500) {
    const batch: InputRecord[] = sorted.slice(i, i + 500).map((event, j) => ({ offset: BigInt(i + j), ok: true as const, event }));
    const res = await engine.process('p', batch);
    for (const item of res.items) if (item.kind === 'detection') out.push(item.detection);
  }
  return out;
}

const SURGE_FROM = T0 + 3 * DAY + 13 * HOUR;
const inSurge = (t: number) => t >= SURGE_FROM && t < SURGE_FROM + 2 * HOUR;

describe('class baselines (peer groups)', () => {
  it('flag no one when the whole class surges 3x together, though each identity alone would be flagged', async () => {
    const events = fleet(4, (_id, t) => (inSurge(t) ? 3 : 1));
    const alone = await run(events, false);
    expect(new Set(alone.filter((d) => d.detector === 'rate').map((d) => d.identity)).size).toBeGreaterThan(3);
    expect((await run(events)).filter((d) => d.detector === 'rate').map((d) => `${d.identity} ${d.rule}: ${d.reason}`)).toEqual([]);
  });

  it('still flag the one identity that goes 10x while its class is calm', async () => {
    const events = fleet(4, (id, t) => (id === 'bot-3' && inSurge(t) ? 10 : 1));
    const flagged = (await run(events)).filter((d) => d.detector === 'rate');
    expect(new Set(flagged.map((d) => d.identity))).toEqual(new Set(['bot-3']));
    expect(flagged[0]!.ts - SURGE_FROM).toBeLessThan(5 * MIN);
  });

  it('judge a new identity by its class from its first minutes, and leave a new one behaving like its peers alone', async () => {
    const events = fleet(4);
    const start = T0 + 3 * DAY + 12 * HOUR;
    const rng = mulberry32(7);
    for (const ts of arrivals(rng, start, start + 2 * HOUR, (t) => 60 * diurnal(t, 0.2))) events.push(ev('late-joiner', ts, 'crm.read', 'crm:customers/2', SUPPORT));
    for (const ts of arrivals(rng, start, start + 20 * MIN, () => 900)) events.push(ev('rogue-newcomer', ts, 'crm.read', 'crm:customers/3', SUPPORT));
    const flagged = (await run(events)).filter((d) => d.detector === 'rate');
    expect(new Set(flagged.map((d) => d.identity))).toEqual(new Set(['rogue-newcomer']));
    expect(flagged[0]).toMatchObject({ rule: 'newcomer', decision: 'alert', evidence: { judgedBy: 'support-bot' } });
    expect(flagged[0]!.ts - start).toBeLessThan(3 * MIN);
  });

  it('alert (silence/drop) on the one identity whose action drops to a tenth while its class runs as usual, and on no one when the class drops together', async () => {
    const drops = (ds: Detection[]) => ds.filter((d) => d.detector === 'silence' && d.rule === 'drop');
    const one = drops(await run(fleet(4, (id, t) => (id === 'bot-3' && inSurge(t) ? 0.1 : 1))));
    expect(new Set(one.map((d) => d.identity))).toEqual(new Set(['bot-3']));
    expect(one[0]).toMatchObject({ decision: 'alert', scope: '*', action: 'crm.read' });
    expect(one[0]!.ts).toBeGreaterThan(SURGE_FROM);
    expect(one[0]!.ts - SURGE_FROM).toBeLessThan(2 * HOUR);
    expect(drops(await run(fleet(4, (_id, t) => (inSurge(t) ? 0.1 : 1)))).map((d) => `${d.identity}: ${d.reason}`)).toEqual([]);
    // Without the class nothing says the day is not a quiet one: no drop.
    expect(drops(await run(fleet(4, (id, t) => (id === 'bot-3' && inSurge(t) ? 0.1 : 1)), false))).toEqual([]);
  });
});
