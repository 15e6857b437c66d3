import type { WardenConfig } from '../config/types.js';
import { simulateFleet, type FleetOptions } from '../sim/fleet.js';
import type { Incident } from '../sim/fleet.js';
import { MemoryWindowStore } from '../state/memory-store.js';
import { Engine, type InputRecord } from './engine.js';
import type { OutputItem } from './outputs.js';

export interface DemoResult {
  events: number;
  identities: number;
  items: OutputItem[];
  incidents: Incident[];
  firstTs: number;
  lastTs: number;
  identityHours: number;
}

/** The simulated fleet through the same engine as replay and the service. */
export async function runDemo(config: WardenConfig, fleet: FleetOptions = {}): Promise<DemoResult> {
  const sim = simulateFleet(fleet);
  const engine = new Engine({ config, store: new MemoryWindowStore() });
  const items: OutputItem[] = [];
  const spans = new Map<string, [number, number]>();
  for (const e of sim.events) {
    const s = spans.get(e.identity);
    if (s) s[1] = e.ts;
    else spans.set(e.identity, [e.ts, e.ts]);
  }
  let spanMs = 0;
  for (const [a, b] of spans.values()) spanMs += b - a;
  const batchSize = 2000;
  for (let i = 0; i < sim.events.length; i += batchSize) {
    const batch: InputRecord[] = [];
    const end = Math.min(i + batchSize, sim.events.length);
    for (let j = i; j < end; j++) batch.push({ offset: BigInt(j), ok: true, event: sim.events[j]! });
    const out = await engine.process('demo', batch);
    for (const item of out.items) items.push(item);
  }
  return {
    events: sim.events.length,
    identities: sim.identities,
    items,
    incidents: sim.incidents,
    firstTs: sim.events[0]?.ts ?? 0,
    lastTs: sim.events[sim.events.length - 1]?.ts ?? 0,
    identityHours: spanMs / 3_600_000,
  };
}
