import type { Logger } from 'pino';
import { createLogger } from '../log.js';
import { createRecordSink, type KafkaSettings, type RecordSink } from '../transport/kafka-client.js';
import { keyPartition } from '../transport/murmur2.js';
import { bufferOptions, optionsInvalid, type BufferInput } from './options.js';
import { EventProducer } from './producer.js';

export type { AgentEvent, Encoding, Outcome } from '../event/types.js';
export type { TimeBounds } from '../event/time.js';
export type { KeyedRecord, RecordDelivery, RecordSink } from '../transport/kafka-client.js';
export type { Delivery, ProducerStats } from './producer.js';
export type { EventProducer } from './producer.js';
export type { EventInput } from './prepare.js';
export { InvalidEventError, prepareEvent } from './prepare.js';
export { BUFFER_DEFAULTS } from './options.js';
export { WardenError } from '../errors.js';

export const SINK_DEFAULTS = Object.freeze({ retries: 5, metadataMaxAgeMs: 60_000 });

export interface ProducerOptions extends BufferInput {
  /** Kafka bootstrap servers; or give `sink`. */
  brokers?: string[];
  clientId?: string;
  ssl?: boolean;
  sasl?: KafkaSettings['sasl'];
  /** Attempts at one request before its events fail (default 5). */
  retries?: number;
  /** How long a topic's partition count is trusted (default 60 s). */
  metadataMaxAgeMs?: number;
  /** pino logger for the Kafka client's warnings (default: warnings and errors to stderr, secrets redacted). */
  logger?: Logger;
  /** Another transport behind the same interface (tests, another client). */
  sink?: RecordSink;
}

/**
 * A producer of Warden events: each is checked as the service checks it,
 * encoded (msgpack by default), keyed by identity and written to the
 * partition Kafka's default (murmur2) partitioner gives that identity.
 */
export function createProducer(options: ProducerOptions): EventProducer {
  const buffer = bufferOptions(options);
  const sink = options.sink ?? createRecordSink(
    kafkaSettings(options),
    options.logger ?? createLogger('warn').child({ module: 'producer' }),
    { retries: positive('retries', options.retries, SINK_DEFAULTS.retries), metadataMaxAgeMs: positive('metadataMaxAgeMs', options.metadataMaxAgeMs, SINK_DEFAULTS.metadataMaxAgeMs) },
  );
  return new EventProducer(sink, buffer);
}

/** The partition Warden expects an identity's events on: Java's murmur2 placement, as kafkajs' DefaultPartitioner and librdkafka's `murmur2_random` give. */
export function identityPartition(identity: string, partitions: number): number {
  return keyPartition(identity, partitions);
}

function kafkaSettings(o: ProducerOptions): KafkaSettings {
  if (!Array.isArray(o.brokers) || o.brokers.length === 0 || !o.brokers.every((b) => typeof b === 'string' && b !== '')) {
    optionsInvalid('brokers must be a non-empty array of host:port (or give a sink)');
  }
  return { brokers: o.brokers, clientId: o.clientId ?? 'warden-producer', ssl: o.ssl ?? false, sasl: o.sasl ?? null };
}

function positive(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) optionsInvalid(`${name} must be an integer ≥ 1, got ${String(v)}`);
  return v;
}
