import type { WardenConfig } from '../config/types.js';
import type { StreamRecord } from '../event/read-stream.js';
import { simulateFleet, type FleetOptions, type Incident } from '../sim/fleet.js';
import type { OutputItem } from './outputs.js';
import { runRecords } from './replay.js';

export interface DemoResult {
  events: number;
  identities: number;
  items: OutputItem[];
  incidents: Incident[];
  firstTs: number;
  lastTs: number;
  identityHours: number;
}

/** The simulated fleet through the same engine and runner as `warden replay`. */
export async function runDemo(config: WardenConfig, fleet: FleetOptions = {}): Promise<DemoResult> {
  const sim = simulateFleet(fleet);
  const records = sim.events.map((event, index): StreamRecord => ({ index, result: { ok: true, event, encoding: 'json' } }));
  const items: OutputItem[] = [];
  const summary = await runRecords(records, config, (out) => {
    for (const item of out.items) items.push(item);
  });
  return {
    events: summary.events,
    identities: sim.identities,
    items,
    incidents: sim.incidents,
    firstTs: summary.firstTs ?? 0,
    lastTs: summary.lastTs ?? 0,
    identityHours: summary.identityHours,
  };
}
