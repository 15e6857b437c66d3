import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import type { WardenConfig } from '../../../src/config/types.js';
import type { Detection } from '../../../src/detector.js';
import type { AgentEvent } from '../../../src/event/types.js';
import { Engine } from '../../../src/pipeline/engine.js';
import { MemoryWindowStore } from '../../../src/state/memory-store.js';
import { arrivals, byTime, ev, HOUR, MIN, mulberry32, T0 } from './harness.js';

const ID = 'spiffe://acme.example/agent/support-bot/1';

async function loops(config: WardenConfig, events: AgentEvent[]): Promise<Detection[]> {
  const engine = new Engine({ config, store: new MemoryWindowStore() });
  const out: Detection[] = [];
  for (let i = 0; i < events.length; i += 500) {
    const r = await engine.process('p', events.slice(i, i + 500).map((event, j) => ({ offset: BigInt(i + j), ok: true as const, event })));
    for (const item of r.items) if (item.kind === 'detection' && item.detection.detector === 'loop') out.push(item.detection);
  }
  return out;
}

/** An identity reading distinct customers at `perHour`, from T0 for `hours`. */
function diverse(seed: number, hours: number, perHour: number, identity = ID): AgentEvent[] {
  const rng = mulberry32(seed);
  return arrivals(rng, T0, T0 + hours * HOUR, () => perHour).map((t) => ev(identity, t, 'crm.read', `crm:customers/${Math.floor(rng() * 4000)}`));
}

/** `n` calls spread evenly from `from`, cycling through `calls`. */
function repeat(from: number, n: number, everyMs: number, calls: [string, string][], extra: Partial<AgentEvent> = {}, identity = ID): AgentEvent[] {
  return Array.from({ length: n }, (_, i) => ev(identity, from + i * everyMs, calls[i % calls.length]![0], calls[i % calls.length]![1], extra));
}

describe('loop detector', () => {
  it('flags the same call repeated within one task far beyond its share, once per window, naming the call and the task', async () => {
    const config = await loadConfig('config');
    const at = T0 + 3 * HOUR;
    const events = byTime([...diverse(1, 6, 120), ...repeat(at, 60, MIN, [['ticket.update', 'helpdesk:tickets/4711']], { task: 'conv-9', outcome: 'error' })]);
    const found = await loops(config, events);
    expect(found.length).toBeGreaterThanOrEqual(1);
    const d = found[0]!;
    expect(d).toMatchObject({ rule: 'repeat', decision: 'alert', scope: 'ticket.update', resource: 'helpdesk:tickets/4711' });
    expect(d.evidence).toMatchObject({ task: 'conv-9', limit: 25, windowMs: 30 * MIN });
    expect(d.evidence.observed as number).toBeGreaterThan(25);
    // 25 repeats at one a minute: found within about half an hour of the loop's start.
    expect(d.ts - at).toBeLessThan(32 * MIN);
    expect(d.reason).toMatch(/ticket\.update on helpdesk:tickets\/4711 in task conv-9 repeated about/);
    // One per 30-min bucket at most while it lasts (an hour): never one per event.
    expect(found.length).toBeLessThanOrEqual(3);
  });

  it('catches a small cycle of calls too', async () => {
    const config = await loadConfig('config');
    const cycle: [string, string][] = [['repo.read', 'git:acme/api/src/a.ts'], ['ci.trigger', 'ci:api-test'], ['repo.write', 'git:acme/api']];
    const events = byTime([...diverse(2, 4, 60), ...repeat(T0 + HOUR, 180, 10_000, cycle, { task: 'fix-7' })]);
    const found = await loops(config, events);
    expect(found.length).toBeGreaterThanOrEqual(1);
    expect(cycle.map(([a]) => a)).toContain(found[0]!.action);
  });

  it('stays quiet on busy diverse traffic, on short benign repetition, and on a batch job that re-reads its few tables', async () => {
    const config = await loadConfig('config');
    const batchId = 'spiffe://acme.example/agent/batch-reporter/1';
    const rng = mulberry32(3);
    const tables = ['sales', 'orders', 'customers', 'inventory', 'returns'];
    const batch = Array.from({ length: 500 }, (_, i) => ev(batchId, T0 + 2 * HOUR + Math.floor((i / 500) * 10 * MIN), 'db.read', `db:warehouse.${tables[Math.floor(rng() * 5)]}`));
    const events = byTime([
      ...diverse(4, 6, 400),
      // Re-reading the file being edited every other minute for 20 minutes, within a task.
      ...repeat(T0 + 2 * HOUR, 10, 2 * MIN, [['crm.read', 'crm:customers/1']], { task: 'conv-1' }),
      // Polling one health URL once a minute for 20 minutes, without a task.
      ...repeat(T0 + 3 * HOUR, 20, MIN, [['http.get', 'url:https://checkout.acme.example/health']]),
      ...batch,
    ]);
    expect(await loops(config, events)).toEqual([]);
  });

  it('holds calls outside a task to a bar `untasked` times higher', async () => {
    const config = await loadConfig('config');
    const poll = (identity: string, extra: Partial<AgentEvent>) => byTime([...diverse(5, 3, 60, identity), ...repeat(T0 + HOUR, 40, MIN, [['http.get', 'url:https://a.example/health']], extra, identity)]);
    expect(await loops(config, poll(ID, { task: 't-1' }))).not.toEqual([]);
    expect(await loops(config, poll(ID, {}))).toEqual([]);
  });
});
