import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, validateConfigDir } from '../../src/config/load.js';
import { createResolver } from '../../src/config/resolve.js';
import { Engine } from '../../src/pipeline/engine.js';
import { MemoryWindowStore } from '../../src/state/memory-store.js';

let dir: string;
const T = Date.UTC(2026, 10, 22, 12);

async function configWith(overrides: string): Promise<string> {
  const d = await mkdtemp(join(dir, 'cfg-'));
  await mkdir(join(d, 'agents'));
  await writeFile(join(d, 'agents', 'bot.yaml'), 'agentClass: bot\nallow:\n  - { action: crm.read, resource: "crm:**" }\n');
  await writeFile(join(d, 'detectors.yaml'), `overrides:\n${overrides}`);
  return d;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-overrides-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('overrides with an owner, a reason and an expiry', () => {
  it('refuses an expiring override without an owner or reason, or with a bad time', async () => {
    const d = await configWith('  - match: { identity: "bot-1" }\n    detectors: { scope: { enabled: false } }\n    expires: "tomorrow"\n');
    const r = await validateConfigDir(d);
    expect(r.ok).toBe(false);
    const msgs = r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
    expect(msgs).toEqual(expect.arrayContaining([expect.stringMatching(/^overrides\[0\]\.expires: expected a time/)]));
    const d2 = await configWith('  - match: { identity: "bot-1" }\n    detectors: { scope: { enabled: false } }\n    expires: "2026-11-22T14:00:00Z"\n');
    const r2 = await validateConfigDir(d2);
    const msgs2 = r2.ok ? [] : r2.issues.map((i) => `${i.path}: ${i.message}`);
    expect(msgs2).toEqual(expect.arrayContaining(['overrides[0].owner: an override that expires needs an owner', 'overrides[0].reason: an override that expires needs a reason']));
  });

  it('applies until its expiry in event time, then stops by itself', async () => {
    const d = await configWith('  - match: { identity: "bot-1" }\n    detectors: { scope: { mode: shadow } }\n    owner: "alice@acme"\n    reason: "migration INC-42"\n    expires: "2026-11-22T14:00:00Z"\n');
    const config = await loadConfig(d);
    expect(config.overrides[0]).toMatchObject({ owner: 'alice@acme', reason: 'migration INC-42', expiresAt: Date.UTC(2026, 10, 22, 14) });
    const resolve = createResolver(config);
    expect(resolve({ identity: 'bot-1', agentClass: 'bot', ts: T }).config.scope.mode).toBe('shadow');
    expect(resolve({ identity: 'bot-1', agentClass: 'bot', ts: Date.UTC(2026, 10, 22, 14) }).config.scope.mode).toBe('enforce');
    expect(resolve({ identity: 'bot-2', agentClass: 'bot', ts: T }).config.scope.mode).toBe('enforce');
    // Cached before expiry, still right after it.
    expect(resolve({ identity: 'bot-1', agentClass: 'bot', ts: T + 1 }).config.scope.mode).toBe('shadow');

    const engine = new Engine({ config, store: new MemoryWindowStore() });
    const ev = (i: number, ts: number) => ({ offset: BigInt(i), ok: true as const, event: { id: `e${i}`, ts, identity: 'bot-1', action: 'db.write', resource: 'db:prod', agentClass: 'bot' } });
    const out = await engine.process('p', [ev(0, T), ev(1, Date.UTC(2026, 10, 22, 14, 1))]);
    const detections = out.items.flatMap((i) => (i.kind === 'detection' ? [i] : []));
    expect(detections.map((d) => [d.detection.eventId, d.detection.mode, d.commandId === null])).toEqual([
      ['e0', 'shadow', true],
      ['e1', 'enforce', false],
    ]);
  });
});
