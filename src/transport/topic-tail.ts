import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { createKafka, type KafkaSettings } from './kafka-client.js';

export interface TailedRecord {
  key: string | null;
  value: Buffer;
  /** The record's Kafka timestamp (ms). */
  timestamp: number;
  partition: number;
}

export interface TopicTail {
  close(): Promise<void>;
}

/**
 * Follows a topic from the first record at or after `sinceMs` (by record
 * timestamp), every partition, for a reader that keeps no offsets (the status
 * page's audit view). Its consumer group is throwaway: unique per start and
 * deleted on close, so it never holds offsets or a rebalance of another.
 */
export async function tailTopic(opts: {
  kafka: KafkaSettings; groupPrefix: string; topic: string; sinceMs: number; log: Logger; onRecord: (r: TailedRecord) => void;
}): Promise<TopicTail> {
  const kafka = createKafka(opts.kafka, opts.log);
  const groupId = `${opts.groupPrefix}-${randomUUID()}`;
  const admin = kafka.admin();
  await admin.connect();
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250 });
  try {
    const starts = await admin.fetchTopicOffsetsByTimestamp(opts.topic, opts.sinceMs);
    await consumer.connect();
    await consumer.subscribe({ topic: opts.topic, fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (!message.value) return;
        opts.onRecord({ key: message.key?.toString('utf8') ?? null, value: message.value, timestamp: Number(message.timestamp), partition });
      },
    });
    // kafkajs gives a partition with no record since then its end.
    for (const s of starts) consumer.seek({ topic: opts.topic, partition: s.partition, offset: s.offset });
  } catch (err) {
    await consumer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    throw err;
  }
  return {
    async close() {
      await consumer.disconnect().catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    },
  };
}
