import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { Detection } from '../../src/detector.js';
import { Engine, type InputRecord } from '../../src/pipeline/engine.js';
import { groupOf, suppress, type QuietState } from '../../src/pipeline/suppress.js';
import { MemoryWindowStore } from '../../src/state/memory-store.js';

let dir: string;
const T = Date.UTC(2026, 10, 22, 12);
const MIN = 60_000;

async function configDir(suppression: string): Promise<string> {
  const d = await mkdtemp(join(dir, 'cfg-'));
  await mkdir(join(d, 'agents'));
  await writeFile(join(d, 'agents', 'bot.yaml'), 'agentClass: bot\nallow:\n  - { action: crm.read, resource: "crm:customers/**" }\n');
  // The breaker's own suspension must not end the flood's offences: alert mode, so every finding is a candidate detection.
  await writeFile(join(d, 'detectors.yaml'), `detectors:\n  scope: { mode: alert }\n${suppression}`);
  return d;
}

function flood(n: number, from: number, everyMs: number, resource = 'hr:salaries/1'): InputRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    offset: BigInt(i), ok: true as const,
    event: { id: `e${from + i}`, ts: T + (from + i) * everyMs, identity: 'bot-1', agentClass: 'bot', action: 'crm.read', resource },
  }));
}

async function detectionsOf(d: string, batches: InputRecord[][]): Promise<Detection[]> {
  const engine = new Engine({ config: await loadConfig(d), store: new MemoryWindowStore() });
  const out: Detection[] = [];
  let offset = 0n;
  for (const b of batches) {
    const res = await engine.process('p', b.map((r) => ({ ...r, offset: offset++ })) as InputRecord[]);
    for (const item of res.items) if (item.kind === 'detection') out.push(item.detection);
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-suppress-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('finding suppression', () => {
  it('gives one detection per group per window, and the next one says how many were held back', async () => {
    // 52 offending reads, one every 20 s: 17 minutes, so a window of 10 minutes opens twice.
    const got = await detectionsOf(await configDir('suppression: { window: 10m }\n'), [flood(30, 0, 20_000), flood(22, 30, 20_000)]);
    expect(got.map((d) => [d.eventId, d.rule])).toEqual([['e0', 'outside-manifest'], ['e30', 'outside-manifest']]);
    expect(got[0]!.evidence.suppressed).toBeUndefined();
    expect(got[1]!.evidence.suppressed).toEqual({ held: 29, firstEventId: 'e0', lastEventId: 'e29' });
  });

  it('keeps groups apart: another resource system is its own group', async () => {
    const got = await detectionsOf(await configDir('suppression: { window: 10m }\n'), [[...flood(3, 0, 1000), ...flood(3, 3, 1000, 'payroll:runs/1')]]);
    expect(got.map((d) => d.eventId)).toEqual(['e0', 'e3']);
  });

  it('emits every finding with window 0, and always emits one that opens a breaker', async () => {
    expect(await detectionsOf(await configDir('suppression: { window: 0 }\n'), [flood(5, 0, 1000)])).toHaveLength(5);
    const quiet: QuietState = {};
    const cfg = { windowMs: 10 * MIN, maxGroups: 2 };
    const d = (eventId: string, ts: number, key: string) =>
      ({ detector: 'scope', rule: 'r', action: 'a', eventId, ts, evidence: { key, observed: 1, configVersion: 'v' } }) as unknown as Detection;
    expect(suppress(quiet, d('a1', T, 'k1'), false, cfg)).toBeNull();
    expect(suppress(quiet, d('a2', T + 1, 'k1'), false, cfg)).toBeUndefined();
    expect(suppress(quiet, d('a3', T + 2, 'k1'), true, cfg)).toEqual({ held: 1, firstEventId: 'a1', lastEventId: 'a2' });
    // Bounded: a third group makes room by dropping the window ending soonest.
    suppress(quiet, d('b1', T + 3, 'k2'), false, cfg);
    suppress(quiet, d('c1', T + 4, 'k3'), false, cfg);
    expect(Object.keys(quiet).sort()).toEqual([groupOf(d('', 0, 'k2')), groupOf(d('', 0, 'k3'))]);
  });
});
