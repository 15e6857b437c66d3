import { afterAll, describe, expect, it } from 'vitest';
import { builtinDetectors } from '../../../detectors/index.js';
import { benignFleet, cleanupConfigs, FLEET_MANIFESTS, Harness, loadTestConfig } from './harness.js';

afterAll(cleanupConfigs);

describe('builtin detectors', () => {
  it('are rate, scope, chain, credential, enumeration, silence (which keeps none) and loop, each keeping state only under its own prefix', () => {
    expect(builtinDetectors.map((d) => d.name)).toEqual(['rate', 'scope', 'chain', 'credential', 'enumeration', 'silence', 'loop']);
  });

  it('together stay quiet on the benign fleet', async () => {
    // Every detector on, the opt-in enumeration and credential too.
    const { resolve } = await loadTestConfig({ ...FLEET_MANIFESTS, 'detectors.yaml': 'detectors:\n  enumeration:\n    enabled: true\n  credential:\n    enabled: true\n' });
    const keys = new Set<string>();
    const h = new Harness(resolve, builtinDetectors, (_event, view) => {
      const perAction = (k: string) => k.replace(/^(rate:[ahm]:|enumeration:[esr]:).*$/, '$1*');
      for (const k in view.counters) keys.add(perAction(k));
      for (const k in view.seen) keys.add(k);
      for (const k in view.distinct) keys.add(perAction(k));
    });
    expect(h.runAll(benignFleet(4)).map((f) => `${f.detector}/${f.finding.rule}: ${f.finding.reason}`)).toEqual([]);
    expect([...keys].sort()).toEqual([
      'chain:children', 'enumeration:e:*', 'enumeration:r:*', 'enumeration:s:*',
      'loop:0', 'loop:1', 'loop:2', 'loop:3', 'loop:4', 'loop:5', 'loop:6', 'loop:7', 'loop:d', 'loop:n', 'rate:a:*', 'rate:all', 'rate:h:*', 'rate:limit:0:3600000', 'scope:act', 'scope:p1', 'scope:p2',
    ]);
  });
});
