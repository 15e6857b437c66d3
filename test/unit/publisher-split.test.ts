import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BATCH_OVERHEAD, recordBytes } from '../../src/pipeline/record-size.js';
import { MemoryParkingLot } from '../../src/service/parked.js';
import { OutboxPublisher, type ProducerSlot } from '../../src/service/publisher.js';
import type { WindowStore } from '../../src/state/types.js';

const publisher = (maxBatchBytes: number): OutboxPublisher => {
  const p = new OutboxPublisher({ store: {} as WindowStore, producer: {} as ProducerSlot, parking: new MemoryParkingLot(), log: pino({ level: 'silent' }) });
  p.maxBatchBytes = maxBatchBytes;
  return p;
};
const rec = (seq: number, bytes: number) => ({
  seq: BigInt(seq), record: { topic: 'agent.actions.dlq', key: 'k', value: new Uint8Array(bytes), headers: { 'warden-error-code': 'EVENT_DECODE' } },
});

describe('outbox sends', () => {
  it('are cut below the batch limit, in order, with nothing left out', () => {
    // 700 dead letters of ~1.6 KB: one send of them all would be over the stock 1,048,588.
    const pending = Array.from({ length: 700 }, (_, i) => rec(i, 1600));
    const groups = publisher(1_048_588).split(pending);
    expect(groups.length).toBe(2);
    expect(groups.flat().map((p) => p.seq)).toEqual(pending.map((p) => p.seq));
    for (const g of groups) expect(g.reduce((n, p) => n + recordBytes(p.record), BATCH_OVERHEAD)).toBeLessThanOrEqual(1_048_588);
  });

  it('send a record over the limit by itself', () => {
    const groups = publisher(10_000).split([rec(0, 100), rec(1, 50_000), rec(2, 100), rec(3, 100)]);
    expect(groups.map((g) => g.map((p) => Number(p.seq)))).toEqual([[0], [1], [2, 3]]);
  });
});
