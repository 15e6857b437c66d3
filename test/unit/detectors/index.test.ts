import { afterAll, describe, expect, it } from 'vitest';
import { builtinDetectors } from '../../../detectors/index.js';
import { benignFleet, cleanupConfigs, FLEET_MANIFESTS, Harness, loadTestConfig } from './harness.js';

afterAll(cleanupConfigs);

describe('builtin detectors', () => {
  it('are rate, scope and chain, each keeping state only under its own prefix', () => {
    expect(builtinDetectors.map((d) => d.name)).toEqual(['rate', 'scope', 'chain']);
  });

  it('together stay quiet on the benign fleet', async () => {
    const { resolve } = await loadTestConfig(FLEET_MANIFESTS);
    const keys = new Set<string>();
    const h = new Harness(resolve, builtinDetectors, (_event, view) => {
      for (const k in view.counters) keys.add(k.startsWith('rate:a:') ? 'rate:a:*' : k.startsWith('rate:h:') ? 'rate:h:*' : k.startsWith('rate:m:') ? 'rate:m:*' : k);
      for (const k in view.seen) keys.add(k);
      for (const k in view.distinct) keys.add(k);
    });
    expect(h.runAll(benignFleet(4)).map((f) => `${f.detector}/${f.finding.rule}: ${f.finding.reason}`)).toEqual([]);
    expect([...keys].sort()).toEqual([
      'chain:children', 'rate:a:*', 'rate:all', 'rate:h:*', 'rate:limit:0:3600000', 'rate:m:*', 'scope:act', 'scope:p1', 'scope:p2',
    ]);
  });
});
