import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../../../src/config/index.js';
import { slidingCount } from '../../../src/state/types.js';
import { chain } from '../../../detectors/chain.js';
import { scope } from '../../../detectors/scope.js';
import { benignFleet, cleanupConfigs, ev, FLEET_MANIFESTS, Harness, HOUR, loadTestConfig, MIN, T0 } from './harness.js';

let resolve: Resolver;

beforeAll(async () => {
  ({ resolve } = await loadTestConfig({
    ...FLEET_MANIFESTS,
    'agents/planner.yaml': `
agentClass: planner
allow:
  - { action: "**", resource: "**" }
delegation: { maxDepth: 2, maxChildren: 10, window: 10m }
`,
  }));
});
afterAll(cleanupConfigs);

const PLANNER = { agentClass: 'planner' };

describe('chain detector', () => {
  it('stays quiet on the benign fleet, with a steady orchestrator under its fan-out limit', () => {
    let maxFanOut = 0;
    let maxDepth = 0;
    const h = new Harness(resolve, [chain], (event, view, ctx) => {
      maxDepth = Math.max(maxDepth, (event.chain?.length ?? 0) / (ctx.manifest?.delegation.maxDepth ?? ctx.config.chain.maxDepth));
      const d = view.distinct['chain:children'];
      if (d) maxFanOut = Math.max(maxFanOut, slidingCount(d, event.ts) / (ctx.manifest?.delegation.maxChildren ?? ctx.config.chain.maxFanOut));
    });
    const fired = h.runAll(benignFleet(3));
    console.log(`chain benign fleet: max fan-out/limit ${maxFanOut.toFixed(3)}, max depth/limit ${maxDepth.toFixed(2)}, ${h.store.size} identities`);
    expect(fired.map((f) => f.finding.reason)).toEqual([]);
    expect(maxFanOut).toBeGreaterThan(0.3);
    expect(maxFanOut).toBeLessThan(1);
  });

  it('flags a chain deeper than the default limit, and than the manifest limit', () => {
    const h = new Harness(resolve, [chain]);
    expect(h.run(ev('leaf', T0, 'web.fetch', 'web:x', { chain: ['a', 'b', 'c', 'd'] }))).toEqual([]);
    const [f] = h.run(ev('leaf', T0, 'web.fetch', 'web:x', { chain: ['a', 'b', 'c', 'd', 'e'] }));
    expect(f!.finding).toMatchObject({ rule: 'depth', severity: 'high', evidence: { observed: 5, limit: 4, chain: ['a', 'b', 'c', 'd', 'e'] } });
    const [g] = h.run(ev('p', T0, 'x.y', 'z', { ...PLANNER, chain: ['a', 'b', 'c'] }));
    expect(g!.finding).toMatchObject({ rule: 'depth', evidence: { observed: 3, limit: 2 } });
  });

  it('holds a chain to the strictest bound ancestor: the root\'s limit binds every descendant, whatever class it claims', async () => {
    const bound = await loadTestConfig({
      'agents/orchestrator.yaml': `
agentClass: orchestrator
identities: ["spiffe://acme.example/agent/orchestrator/*"]
allow:
  - { action: "**", resource: "**" }
delegation: { maxDepth: 3 }
`,
      'agents/researcher.yaml': `
agentClass: researcher
identities: ["spiffe://acme.example/agent/researcher/*"]
allow:
  - { action: "**", resource: "**" }
delegation: { maxDepth: 6 }
`,
    });
    const h = new Harness(bound.resolve, [chain]);
    const root = 'spiffe://acme.example/agent/orchestrator/1';
    const mid = 'spiffe://acme.example/agent/researcher/2';
    const leaf = 'spiffe://acme.example/agent/researcher/9';
    // Depth 3 under the root: allowed; depth 4 passes the researcher's 6 and the default 4, not the root's 3.
    expect(h.run(ev(leaf, T0, 'web.fetch', 'web:x', { chain: [root, mid, 'r3'] }))).toEqual([]);
    const [f] = h.run(ev(leaf, T0, 'web.fetch', 'web:x', { agentClass: 'researcher', chain: [root, mid, 'r3', 'r4'] }));
    expect(f!.finding).toMatchObject({ rule: 'depth', evidence: { observed: 4, limit: 3, boundBy: root, boundByClass: 'orchestrator' } });
    expect(f!.finding.reason).toBe(`delegation chain of depth 4 exceeds the limit of 3 that ${root} (orchestrator) sets for everything under it`);
    // A limit counts from where its identity stands: the researcher at depth 1 allows 1 + 6, so the leaf's own class's 6 binds.
    const deep = Array.from({ length: 6 }, (_, i) => `r${i}`);
    const [g] = h.run(ev(leaf, T0, 'web.fetch', 'web:x', { chain: ['x', mid, ...deep] }));
    expect(g!.finding).toMatchObject({ rule: 'depth', evidence: { observed: 8, limit: 6 } });
    expect(g!.finding.evidence.boundBy).toBeUndefined();
  });

  it('flags cycles: the identity in its own chain, or a repeated ancestor', () => {
    const h = new Harness(resolve, [chain]);
    const [self] = h.run(ev('b', T0, 'x.y', 'z', { chain: ['a', 'b'] }));
    expect(self!.finding).toMatchObject({ rule: 'cycle', severity: 'high', evidence: { observed: 'b' } });
    expect(self!.finding.reason).toBe('b appears in its own delegation chain');
    const [dup] = h.run(ev('c', T0, 'x.y', 'z', { chain: ['a', 'b', 'a'] }));
    expect(dup!.finding).toMatchObject({ rule: 'cycle', evidence: { observed: 'a' } });
    const long = Array.from({ length: 20 }, (_, i) => `n${i}`);
    expect(h.run(ev('c', T0, 'x.y', 'z', { chain: long })).map((f) => f.finding.rule)).toEqual(['depth']);
    expect(h.run(ev('c', T0, 'x.y', 'z', { chain: [...long, 'n3'] })).map((f) => f.finding.rule)).toEqual(['depth', 'cycle']);
  });

  it('flags fan-out over the manifest limit once per crossing, ignoring repeated children', () => {
    const h = new Harness(resolve, [chain]);
    const spawn = (i: number, ts: number) => ev('planner-1', ts, 'agent.spawn', `agents:worker/w${i}`, PLANNER);
    const fired = [];
    for (let i = 0; i < 10; i++) fired.push(...h.run(spawn(i, T0 + i * 10_000)));
    for (let i = 0; i < 10; i++) fired.push(...h.run(spawn(i, T0 + 2 * MIN + i * 1000)));
    expect(fired).toEqual([]);
    for (let i = 10; i < 15; i++) fired.push(...h.run(spawn(i, T0 + 3 * MIN + i * 1000)));
    expect(fired).toHaveLength(1);
    expect(fired[0]!.event.resource).toBe('agents:worker/w10');
    expect(fired[0]!.finding).toMatchObject({
      rule: 'fan-out',
      severity: 'high',
      scope: 'identity',
      evidence: { observed: 11, limit: 10, windowMs: 10 * MIN, child: 'agents:worker/w10' },
    });
    expect(fired[0]!.finding.reason).toBe('spawned 11 distinct sub-agents in 10m, over the limit of 10');
  });

  it('uses the detector default fan-out (100 per 1h) without a manifest limit', () => {
    const h = new Harness(resolve, [chain]);
    const fired = [];
    for (let i = 0; i < 120; i++) fired.push(...h.run(ev('free-1', T0 + i * 20_000, 'agent.spawn', `agents:worker/w${i}`)));
    expect(fired.map((f) => [f.finding.rule, f.finding.evidence.observed, f.finding.evidence.windowMs])).toEqual([['fan-out', 101, HOUR]]);
    expect(chain.track(ev('free-1', T0, 'agent.spawn', 'agents:worker/w0'), resolve({ identity: 'free-1' }))).toEqual([
      { kind: 'distinct', key: 'chain:children', windowMs: HOUR, member: 'agents:worker/w0', cap: 101 },
    ]);
    expect(chain.track(ev('free-1', T0, 'web.fetch', 'web:x'), resolve({ identity: 'free-1' }))).toEqual([]);
  });

  it('a spawn by a class whose manifest does not allow delegation is outside its manifest, and its child is still counted', () => {
    const h = new Harness(resolve, [scope, chain]);
    const fired = h.run(ev('support-1', T0, 'agent.spawn', 'agent:helper-1', { agentClass: 'support-bot' }));
    expect(fired.map((f) => `${f.detector}/${f.finding.rule}`)).toEqual(['scope/outside-manifest']);
    expect(fired[0]!.finding.reason).toMatch(/agent\.spawn/);
    expect(chain.track(ev('support-1', T0, 'agent.spawn', 'agent:helper-1', { agentClass: 'support-bot' }), resolve({ identity: 'support-1', agentClass: 'support-bot' }))).toHaveLength(1);
  });
});
