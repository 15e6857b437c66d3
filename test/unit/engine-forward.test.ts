import { describe, expect, it } from 'vitest';
import { parseKeyring } from '../../src/commands/keyring.js';
import { loadConfig } from '../../src/config/load.js';
import type { AgentEvent } from '../../src/event/types.js';
import { Engine, type InputRecord } from '../../src/pipeline/engine.js';
import { FORWARD_HEADER, verifyForward } from '../../src/pipeline/forward.js';
import { DEFAULT_TOPICS, OutboxEncoder } from '../../src/pipeline/outbox.js';
import { MemoryWindowStore } from '../../src/state/memory-store.js';

const ring = (() => {
  const r = parseKeyring(`k1=${Buffer.alloc(32, 3).toString('base64')}`);
  if (!r.ok) throw new Error(r.reason);
  return r.keyring;
})();
const T0 = Date.UTC(2026, 10, 20, 9);
const ev = (id: string, identity: string, i: number): AgentEvent => ({ id, ts: T0 + i, identity, action: 'vault.read', resource: 'vault:x', agentClass: 'support-bot' });
const bytes = (e: AgentEvent) => new TextEncoder().encode(JSON.stringify(e));

describe('the engine with forwards', () => {
  it('sends a record its partition does not own to the owner with the offset, once; the owner counts a forward once', async () => {
    const store = new MemoryWindowStore();
    const engine = new Engine({ config: await loadConfig('config'), store, outbox: new OutboxEncoder(DEFAULT_TOPICS, DEFAULT_TOPICS.actions, ring) });
    const away = ev('e1', 'bot-away', 1);
    const home = ev('e2', 'bot-home', 2);
    const src = `${DEFAULT_TOPICS.actions}:1`;
    const batch: InputRecord[] = [
      { offset: 10n, ok: true, event: away, forward: { partition: 4, value: bytes(away) } },
      { offset: 11n, ok: true, event: home },
    ];
    const out = await engine.process(src, batch);
    expect(out).toMatchObject({ processed: 1, forwarded: 1, skipped: 0 });
    const [record] = (await store.pendingOutbox(src, 100)).map((p) => p.record).filter((r) => r.topic === DEFAULT_TOPICS.actions);
    expect(record).toMatchObject({ topic: DEFAULT_TOPICS.actions, partition: 4, key: 'bot-away', headers: { [FORWARD_HEADER.from]: '1', [FORWARD_HEADER.offset]: '10' } });
    expect(Buffer.from(record!.value)).toEqual(Buffer.from(bytes(away)));
    expect(verifyForward(ring, 4, (n) => record!.headers![n], record!.value)).toStrictEqual({ from: 1, offset: 10n });
    // Redelivered after the commit: nothing forwarded again.
    expect(await engine.process(src, batch)).toMatchObject({ processed: 0, forwarded: 0, skipped: 2, items: [] });
    expect((await store.pendingOutbox(src, 100)).filter((p) => p.record.topic === DEFAULT_TOPICS.actions)).toHaveLength(1);

    // At the owner: the forward and a re-published copy of it (a later offset there): counted once.
    const owner = `${DEFAULT_TOPICS.actions}:4`;
    const arrived = (offset: bigint): InputRecord => ({ offset, ok: true, event: away, forwarded: { from: 1, offset: 10n } });
    expect(await engine.process(owner, [arrived(0n), arrived(1n)])).toMatchObject({ processed: 1, skipped: 1, forwarded: 0 });
    expect(await engine.process(owner, [arrived(2n)])).toMatchObject({ processed: 0, skipped: 1 });
  });
});
