import { Partitioners, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { WardenError, errorMessage } from '../errors.js';
import { createKafka, kafkaErrorType, type KafkaSettings } from './kafka-client.js';

export interface KeyedMessage {
  key: string;
  value: Uint8Array;
}

export interface EventPublisher {
  /** Resolves once the broker has acknowledged every message (acks all). */
  send(messages: KeyedMessage[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * An idempotent producer to one topic, with the Java client's murmur2
 * partitioner (as kcat's murmur2_random and the service's owner lookup): an
 * identity's events land on one partition whoever publishes them.
 */
export async function connectEventPublisher(settings: KafkaSettings, topic: string, log: Logger): Promise<EventPublisher> {
  const where = `topic "${topic}" at ${settings.brokers.join(',')}`;
  const kafka = createKafka(settings, log);
  // The idempotent producer retries without end: a missing topic or an unreachable broker is found here instead.
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.fetchTopicMetadata({ topics: [topic] });
  } catch (err) {
    const missing = /does not host this topic|UNKNOWN_TOPIC/i.test(errorMessage(err)) || kafkaErrorType(err) === 'UNKNOWN_TOPIC_OR_PARTITION';
    const why = missing ? 'the topic does not exist (create it, or set WARDEN_TOPIC_ACTIONS)' : errorMessage(err);
    throw new WardenError('KAFKA_PUBLISH', `cannot publish to ${where}: ${why}`, { cause: err });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const producer: Producer = kafka.producer({
    allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner,
  });
  try {
    await producer.connect();
  } catch (err) {
    throw new WardenError('KAFKA_PUBLISH', `cannot connect to publish to ${where}: ${errorMessage(err)}`, { cause: err });
  }
  return {
    async send(messages) {
      if (messages.length === 0) return;
      try {
        await producer.send({ topic, acks: -1, messages: messages.map((m) => ({ key: m.key, value: Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength) })) });
      } catch (err) {
        throw new WardenError('KAFKA_PUBLISH', `cannot publish to ${where}: ${errorMessage(err)}`, { cause: err });
      }
    },
    async close() {
      await producer.disconnect().catch(() => undefined);
    },
  };
}
