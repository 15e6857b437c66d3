import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../../src/config/index.js';
import type { Detection } from '../../src/detector.js';
import type { AgentEvent } from '../../src/event/types.js';
import { Engine } from '../../src/pipeline/engine.js';
import { MemoryFleetStore } from '../../src/state/fleet.js';
import { MemoryWindowStore } from '../../src/state/memory-store.js';

const T = Date.UTC(2026, 10, 20, 12);
const MIN = 60_000;
const ROOT = 'spiffe://acme.example/agent/ops-orchestrator/r1';
const WORKER = 'spiffe://acme.example/agent/ops-worker/w1';
const HELPER = 'spiffe://acme.example/agent/ops-worker/w2';

let n = 0;
// Offsets rise across calls: an engine run again must not see its records as already done.
let offset = 0n;
const ev = (identity: string, ts: number, action: string, resource: string, chain?: string[]): AgentEvent => ({
  id: `o${++n}`, ts, identity, action, resource, ...(chain ? { chain } : {}),
});

// The shipped config with orphans on (they are opt-in).
const withOrphans = () => loadConfig('config', { extra: { name: 'detectors.yaml', text: readFileSync('config/detectors.yaml', 'utf8').replace('orphans: false', 'orphans: true') } });

async function run(batches: AgentEvent[][], fleet = new MemoryFleetStore(), engine?: Engine): Promise<Detection[]> {
  engine ??= new Engine({ config: await withOrphans(), store: new MemoryWindowStore(), fleet });
  const out: Detection[] = [];
  for (const b of batches) {
    const r = await engine.process('p', b.map((event) => ({ offset: offset++, ok: true as const, event })));
    for (const item of r.items) if (item.kind === 'detection') out.push(item.detection);
  }
  return out;
}

const orphans = (ds: Detection[]) => ds.filter((d) => d.rule === 'orphan');

describe('chain orphan: a sub-agent acting under a suspended ancestor', () => {
  it('is reported (and suspended) while the ancestor\'s whole-identity suspension is in force, not before, not after it ends', async () => {
    const found = await run([
      [ev(ROOT, T, 'agent.spawn', `agent:${WORKER}`), ev(WORKER, T + 1000, 'k8s.read', 'k8s:prod/a', [ROOT]), ev(HELPER, T + 2000, 'log.read', 'logs:auth', [ROOT, WORKER])],
      // The root does what its manifest forbids: a whole-identity suspension (15 min), cascading to its sub-agents.
      [ev(ROOT, T + MIN, 'shell.exec', 'host:prod-db-1')],
      [ev(WORKER, T + 2 * MIN, 'k8s.read', 'k8s:prod/b', [ROOT]), ev(HELPER, T + 3 * MIN, 'log.read', 'logs:payments', [ROOT, WORKER])],
      [ev(WORKER, T + 17 * MIN, 'k8s.read', 'k8s:prod/c', [ROOT])],
    ]);
    const o = orphans(found);
    // The helper is under its nearest suspended ancestor: the worker, suspended as an orphan a minute before.
    expect(o.map((d) => [d.identity, d.evidence.observed])).toEqual([[WORKER, ROOT], [HELPER, WORKER]]);
    expect(o[0]).toMatchObject({ detector: 'chain', decision: 'suspend', scope: '*' });
    expect(o[0]!.evidence.until).toBe(T + MIN + 15 * MIN);
    expect(o[0]!.reason).toContain(`still acting under ${ROOT}, suspended until ${new Date(T + 16 * MIN).toISOString()}`);
  });

  it('a sub-agent first seen after its ancestor was suspended is not a zombie (its spawn was the suspended agent\'s, which the enforcer denies)', async () => {
    const found = await run([
      [ev(ROOT, T, 'shell.exec', 'host:prod-db-1')],
      [ev(ROOT, T + MIN, 'agent.spawn', `agent:${WORKER}`), ev(WORKER, T + MIN + 1000, 'k8s.read', 'k8s:prod/a', [ROOT])],
    ]);
    expect(orphans(found)).toEqual([]);
  });

  it('sees a suspension recorded by another engine (another partition) through the shared fleet store', async () => {
    const fleet = new MemoryFleetStore();
    const config = await withOrphans();
    const other = new Engine({ config, store: new MemoryWindowStore(), fleet });
    expect(orphans(await run([[ev(WORKER, T - MIN, 'k8s.read', 'k8s:prod/a', [ROOT])]], fleet, other))).toEqual([]);
    expect(orphans(await run([[ev(ROOT, T, 'shell.exec', 'host:prod-db-1')]], fleet))).toEqual([]);
    const o = orphans(await run([[ev(WORKER, T + MIN, 'k8s.read', 'k8s:prod/b', [ROOT])]], fleet, other));
    expect(o.map((d) => d.identity)).toEqual([WORKER]);
  });

  it('an action-scoped suspension of the ancestor does not make orphans', async () => {
    const fleet = new MemoryFleetStore();
    await fleet.suspended([{ agentClass: 'ops-orchestrator', identity: ROOT, until: T + HOUR_MS }]);
    expect(orphans(await run([[ev(WORKER, T - MIN, 'k8s.read', 'k8s:prod/z', [ROOT]), ev(WORKER, T + MIN, 'k8s.read', 'k8s:prod/a', [ROOT])]], fleet))).toEqual([]);
  });
});

const HOUR_MS = 60 * MIN;

describe('chain orphan is opt-in', () => {
  it('the shipped config judges no orphans, and neither asks nor tells the fleet store of cascades', async () => {
    const fleet = new MemoryFleetStore();
    let asked = 0;
    const cascading = fleet.cascading.bind(fleet);
    fleet.cascading = async (ids, at) => {
      asked++;
      return cascading(ids, at);
    };
    const recorded: boolean[] = [];
    const suspended = fleet.suspended.bind(fleet);
    fleet.suspended = async (list) => {
      for (const x of list) recorded.push(x.cascade === true);
      return suspended(list);
    };
    const engine = new Engine({ config: await loadConfig('config'), store: new MemoryWindowStore(), fleet });
    const found = await run([
      [ev(WORKER, T - MIN, 'k8s.read', 'k8s:prod/a', [ROOT])],
      [ev(ROOT, T, 'shell.exec', 'host:prod-db-1')],
      [ev(WORKER, T + MIN, 'k8s.read', 'k8s:prod/b', [ROOT])],
    ], fleet, engine);
    expect(found.some((d) => d.identity === ROOT)).toBe(true);
    expect(orphans(found)).toEqual([]);
    expect(asked).toBe(0);
    // The root's suspension counts for its class (the guard), and nothing is written for cascades.
    expect(recorded).toEqual([false]);
  });
});
