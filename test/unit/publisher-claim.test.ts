import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryParkingLot } from '../../src/service/parked.js';
import { OutboxPublisher, type ProducerSlot } from '../../src/service/publisher.js';
import { MemoryWindowStore } from '../../src/state/memory-store.js';
import type { OutboxRecord } from '../../src/state/types.js';

const P = 'actions:0';
const rec: OutboxRecord = { topic: 'warden.decisions', key: 'a', value: new Uint8Array([1]) };

function setup() {
  const store = new MemoryWindowStore();
  const publisher = new OutboxPublisher({ store, producer: {} as ProducerSlot, parking: new MemoryParkingLot(), log: pino({ level: 'silent' }) });
  let offset = 0n;
  const commit = (n: number) => store.commit({ partition: P, offset: offset++, breakers: new Map(), outbox: Array.from({ length: n }, () => rec) });
  /** A commit of this process, claimed (or not) for publishing from memory. */
  const own = async (n: number) => publisher.claim(P, await commit(n), n);
  return { store, commit, own };
}

describe('publishing a commit from memory', () => {
  it('is allowed when the outbox was empty, or held only this process\'s own commits right before it', async () => {
    const { store, own } = setup();
    expect(await own(2)).toBe(true);
    // Not yet acknowledged (its publish in flight): still ours.
    expect(await own(3)).toBe(true);
    expect(await own(0)).toBe(true);
    await store.ackOutbox(P, 1n);
    expect(await own(1)).toBe(true);
  });

  it('is refused when older records wait that this process did not commit (a crash\'s, another owner\'s)', async () => {
    const { store, commit, own } = setup();
    await commit(2);
    expect(await own(1)).toBe(false);
    await store.ackOutbox(P, 100n);
    expect(await own(1)).toBe(true);
  });

  it('is refused once another commit came between two of its own, and until the outbox is drained', async () => {
    const { store, commit, own } = setup();
    expect(await own(2)).toBe(true);
    await commit(1);
    expect(await own(1)).toBe(false);
    // Acknowledging this commit's seqs would drop the other one's record unpublished: no more from memory.
    expect(await own(1)).toBe(false);
    await store.ackOutbox(P, 100n);
    expect(await own(1)).toBe(true);
  });
});
