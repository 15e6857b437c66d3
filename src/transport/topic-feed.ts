import { randomBytes } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import { Kafka, logLevel, type LogEntry, type SASLOptions } from 'kafkajs';
import { kafkajsTransport } from './kafkajs.js';
import type { GroupConsumer, PartitionOffsets } from './types.js';

/** A record as a feed hands it over. */
export interface FeedRecord {
  key: Buffer | null;
  value: Buffer | null;
  /** int64, as text. */
  offset: string;
}

export interface FeedHandlers {
  records(partition: number, records: readonly FeedRecord[]): void;
  /** Records of `partition` before `next` have been read (also past ones compaction removed). */
  position(partition: number, next: number): void;
  /** The feed failed; `restart`: its client starts it again by itself. */
  crash(error: Error, restart: boolean): void;
}

/**
 * The minimal subscription the enforcer needs: one topic read whole from its
 * start and then followed, committing nothing. Gateways get one over Kafka
 * from `kafkaTopicFeed`; tests can hand the enforcer their own.
 */
export interface TopicFeed {
  /** Each partition's offsets now; null when the topic does not exist. */
  offsets(topic: string): Promise<PartitionOffsets[] | null>;
  /** Starts reading `topic` from the beginning of every partition; resolves once it is reading. */
  follow(topic: string, handlers: FeedHandlers): Promise<void>;
  close(): Promise<void>;
}

export interface FeedLogger {
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export interface FeedConnection {
  brokers: string[];
  clientId: string;
  ssl?: boolean | ConnectionOptions;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** The client's own warnings and errors; none without one. */
  logger?: FeedLogger;
}

/** A feed over Kafka: its own throwaway consumer group (no group state to share or clean), a short long-poll so stop is quick. */
export function kafkaTopicFeed(conn: FeedConnection): TopicFeed {
  const log = conn.logger;
  const kafka = new Kafka({
    clientId: conn.clientId,
    brokers: conn.brokers,
    ...(conn.ssl !== undefined ? { ssl: conn.ssl } : {}),
    ...(conn.sasl ? { sasl: conn.sasl as SASLOptions } : {}),
    logLevel: log ? logLevel.WARN : logLevel.NOTHING,
    logCreator: () => (e: LogEntry) => {
      const { message, ...fields } = e.log;
      if (e.level === logLevel.ERROR) log?.error({ ...fields, kafka: e.namespace }, message);
      else log?.warn({ ...fields, kafka: e.namespace }, message);
    },
  });
  const transport = kafkajsTransport(kafka, { allowAutoTopicCreation: false });
  let consumer: GroupConsumer | undefined;
  return {
    async offsets(topic) {
      const admin = transport.admin();
      await admin.connect();
      try {
        if (!(await admin.listTopics()).includes(topic)) return null;
        return await admin.topicOffsets(topic);
      } finally {
        await admin.disconnect();
      }
    },
    async follow(topic, on) {
      const c = transport.consumer({ groupId: `warden-enforcer-${randomBytes(8).toString('hex')}`, maxWaitMs: 1000 });
      consumer = c;
      // Batches emptied by compaction or control records never reach eachBatch, but still move the position.
      c.on('batch-end', (e) => on.position(e.partition, Number(e.lastOffset) + 1));
      c.on('crash', (e) => on.crash(e.error, e.restart));
      await c.connect();
      await c.subscribe([topic], true);
      await c.run({
        partitionsConcurrently: 1,
        eachBatch: async ({ batch, resolveOffset }) => {
          on.records(batch.partition, batch.messages);
          const last = batch.lastOffset();
          resolveOffset(last);
          on.position(batch.partition, Number(last) + 1);
        },
      });
    },
    async close() {
      await consumer?.disconnect();
    },
  };
}
