import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../../../detectors/index.js';
import { DEFAULT_DETECTORS_FILE } from '../../../src/config/defaults.js';
import { loadConfig, validateConfigDir } from '../../../src/config/load.js';
import { DETECTORS } from '../../../src/alerts/config.js';
import { Engine, type InputRecord } from '../../../src/pipeline/engine.js';
import { MemoryWindowStore } from '../../../src/state/memory-store.js';
import type { Detection } from '../../../src/detector.js';
import { errorBurst } from './fixtures/error-burst.js';

let dir: string;
const T = Date.UTC(2026, 10, 22, 12);

async function configDir(detectorsYaml: string): Promise<string> {
  const d = await mkdtemp(join(dir, 'cfg-'));
  await mkdir(join(d, 'agents'));
  await writeFile(join(d, 'agents', 'bot.yaml'), 'agentClass: bot\nreadOnly: true\nallow:\n  - { action: crm.read, resource: "crm:**" }\n');
  await writeFile(join(d, 'detectors.yaml'), detectorsYaml);
  return d;
}

function events(n: number, f: (i: number) => Partial<InputRecord & { ok: true }>['event']): InputRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    offset: BigInt(i), ok: true as const,
    event: { id: `e${i}`, ts: T + i * 1000, identity: 'bot-1', agentClass: 'bot', action: 'crm.read', resource: 'crm:customers/1', ...f(i) },
  }));
}

function detections(out: Awaited<ReturnType<Engine['process']>>): Detection[] {
  return out.items.flatMap((i) => (i.kind === 'detection' ? [i.detection] : []));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-registry-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the detector registry', () => {
  it('is the one list the config keys, the defaults and the alert filter come from', () => {
    const names = registry.map((d) => d.name);
    expect(Object.keys(DEFAULT_DETECTORS_FILE.detectors)).toEqual(names);
    expect([...DETECTORS]).toEqual(names);
  });

  it('takes a new detector as one file and one list entry: validated config, defaults, engine', async () => {
    const detectors = [...registry, errorBurst];
    const d = await configDir('detectors:\n  errorBurst:\n    max: 2\n');
    const config = await loadConfig(d, { detectors });
    expect((config.detectors as unknown as Record<string, unknown>).errorBurst).toMatchObject({ max: 2, windowMs: 60_000, mode: 'enforce' });

    const bad = await validateConfigDir(await configDir('detectors:\n  errorBurst:\n    window: soon\n'), { detectors });
    expect(bad.ok ? [] : bad.issues.map((i) => `${i.path}:${i.line}`)).toEqual(['detectors.errorBurst.window:3']);

    const engine = new Engine({ config, store: new MemoryWindowStore(), detectors });
    const out = await engine.process('p', events(4, () => ({ outcome: 'error' })));
    // e3 offends again within the suppression window: the breaker counts it, no second detection.
    expect(detections(out).map((x) => [x.detector, x.rule, x.eventId, x.decision])).toEqual([['errorBurst', 'too-many-errors', 'e2', 'suspend']]);
  });

  it('refuses an engine whose detector has no config, naming the fix', async () => {
    const config = await loadConfig(await configDir(''));
    expect(() => new Engine({ config, store: new MemoryWindowStore(), detectors: [...registry, errorBurst] })).toThrow(
      expect.objectContaining({ code: 'ENGINE_DETECTOR_UNCONFIGURED', message: expect.stringContaining('errorBurst') }),
    );
    const r = await validateConfigDir(await configDir('detectors:\n  errorBurst: { max: 2 }\n'));
    expect(r.ok ? [] : r.issues.map((i) => i.message)).toEqual([expect.stringContaining('unknown key "errorBurst"')]);
  });

  it('lets one rule alert while the rest of its detector enforces', async () => {
    const config = await loadConfig(await configDir('detectors:\n  scope:\n    rules:\n      outside-manifest: { mode: alert, severity: low }\n'));
    const engine = new Engine({ config, store: new MemoryWindowStore() });
    const out = await engine.process('p', events(2, (i) => (i === 0 ? { resource: 'hr:salaries' } : { action: 'crm.write' })));
    expect(detections(out).map((x) => [x.eventId, x.rule, x.decision, x.severity])).toEqual([
      ['e0', 'outside-manifest', 'alert', 'low'],
      ['e1', 'outside-manifest', 'alert', 'low'],
      ['e1', 'read-only-write', 'suspend', 'high'],
    ]);
    const bad = await validateConfigDir(await configDir('detectors:\n  scope:\n    rules:\n      baseline: { mode: alert }\n'));
    expect(bad.ok ? [] : bad.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      expect.stringMatching(/^detectors\.scope\.rules\.baseline: unknown key "baseline" \(allowed: outside-manifest, read-only-write, class-mismatch, unknown-class, first-seen\)/),
    ]);
  });
});
