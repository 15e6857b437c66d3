import type { Producer, Message } from 'kafkajs';
import type { WindowStore } from '../state/types.js';

/**
 * Publishes a partition's outbox to Kafka, then acknowledges it in the store.
 * A crash between the two republishes the same records on restart: outputs are
 * never lost, and their deterministic ids make a repeat recognisable.
 */
export class OutboxPublisher {
  constructor(private readonly store: WindowStore, private readonly producer: Producer, private readonly chunk = 1000) {}

  async drain(partition: string): Promise<number> {
    let sent = 0;
    for (;;) {
      const pending = await this.store.pendingOutbox(partition, this.chunk);
      if (pending.length === 0) return sent;
      const byTopic = new Map<string, Message[]>();
      for (const { record } of pending) {
        const msgs = byTopic.get(record.topic) ?? [];
        const m: Message = { key: record.key, value: Buffer.from(record.value.buffer, record.value.byteOffset, record.value.byteLength) };
        if (record.headers) m.headers = record.headers;
        msgs.push(m);
        byTopic.set(record.topic, msgs);
      }
      await this.producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic.entries()].map(([topic, messages]) => ({ topic, messages })),
      });
      await this.store.ackOutbox(partition, pending[pending.length - 1]!.seq);
      sent += pending.length;
    }
  }
}
