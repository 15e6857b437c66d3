import { Kafka, logLevel, Partitioners, type Admin, type KafkaConfig, type Producer, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import { kafkajsTransport } from './kafkajs.js';
import type { KafkaTransport } from './types.js';

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  ssl: boolean;
  sasl: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string } | null;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * kafkajs is in maintenance mode (2.2.4 is its last release): everything else
 * in Warden talks to Kafka through the interfaces of ./types.ts, so the client
 * can be swapped without touching the pipeline. The kafkajs client itself is
 * for src/transport only (test/unit/transport-seam.test.ts holds the rest to ./types.ts).
 */
export function createKafka(settings: KafkaSettings, log: Logger, quiet?: (message: string) => boolean): Kafka {
  const kafkaLog = log.child({ module: 'kafkajs' });
  const config: KafkaConfig = {
    clientId: settings.clientId,
    brokers: settings.brokers,
    ssl: settings.ssl,
    // kafkajs' own logs go through pino, with its namespace kept.
    logCreator: () => ({ namespace, level, log: entry }) => {
      const { message, timestamp: _t, logger: _l, ...rest } = entry as Record<string, unknown>;
      if (quiet?.(String(message))) return;
      kafkaLog[LEVELS[level] ?? 'info']({ ns: namespace, ...rest }, String(message));
    },
    logLevel: logLevel.WARN,
  };
  if (settings.sasl) config.sasl = settings.sasl as SASLOptions;
  return new Kafka(config);
}

/** The Kafka client Warden's service, alerts and tools are built on (src/transport/types.ts). */
export function createTransport(settings: KafkaSettings, log: Logger, quiet?: (message: string) => boolean): KafkaTransport {
  return kafkajsTransport(createKafka(settings, log, quiet));
}

function rootCause(err: unknown): unknown {
  let e = err;
  while (e instanceof Error && e.cause !== undefined) e = e.cause;
  return e;
}

/** kafkajs' own rule (its consumer's restart decision): its retries ran out on a retriable cause, or the root cause is retriable. */
export function kafkaRetriable(err: unknown): boolean {
  if (err instanceof Error && err.name === 'KafkaJSNumberOfRetriesExceeded') return true;
  const cause = rootCause(err) as { retriable?: unknown };
  return typeof cause === 'object' && cause !== null && cause.retriable === true;
}

/** The broker's error type (`MESSAGE_TOO_LARGE`, ...) when it sent one. */
export function kafkaErrorType(err: unknown): string | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string') return type;
  }
  return undefined;
}

/** One record for `RecordSink.send`, its partition already chosen. */
export interface KeyedRecord {
  key: string;
  value: Uint8Array;
  partition: number;
}

export interface RecordDelivery {
  partition: number;
  /** int64, as text. */
  offset: string;
}

/** What the producer SDK (src/producer) needs from Kafka; a fake one stands in for it in unit tests. */
export interface RecordSink {
  connect(): Promise<void>;
  /** The topic's partition count (cached for a while). */
  partitions(topic: string): Promise<number>;
  /** Acknowledged by all in-sync replicas; one delivery per record, in order. */
  send(topic: string, records: readonly KeyedRecord[]): Promise<RecordDelivery[]>;
  close(): Promise<void>;
}

export interface RecordSinkOptions {
  /** Attempts kafkajs makes at one request before the send fails. */
  retries: number;
  /** How long a topic's partition count is trusted. */
  metadataMaxAgeMs: number;
}

const LIMITED_RETRIES = /Limiting retries for the idempotent producer/;

/**
 * An idempotent kafkajs producer sending to explicit partitions. Its retries
 * are bounded so a send fails instead of hanging; after a failure the next
 * send gets a fresh producer (a new producer id), as the service's
 * ProducerSlot does, so it cannot be refused as out of sequence.
 */
export function createRecordSink(settings: KafkaSettings, log: Logger, opts: RecordSinkOptions): RecordSink {
  const kafka = createKafka(settings, log, (m) => LIMITED_RETRIES.test(m));
  let producer: Promise<Producer> | null = null;
  let admin: Promise<Admin> | null = null;
  const counts = new Map<string, { n: number; at: number }>();

  const open = <T extends Producer | Admin>(c: T): Promise<T> => c.connect().then(() => c);
  const getProducer = (): Promise<Producer> => {
    producer ??= open(kafka.producer({
      idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false,
      retry: { retries: opts.retries }, createPartitioner: Partitioners.DefaultPartitioner,
    })).catch((err) => { producer = null; throw err; });
    return producer;
  };
  const getAdmin = (): Promise<Admin> => {
    admin ??= open(kafka.admin({ retry: { retries: opts.retries } })).catch((err) => { admin = null; throw err; });
    return admin;
  };
  const drop = (p: Promise<Producer | Admin> | null): Promise<void> =>
    p ? p.then((c) => c.disconnect()).catch(() => {}) : Promise.resolve();

  return {
    async connect() {
      await Promise.all([getProducer(), getAdmin()]);
    },
    async partitions(topic) {
      const known = counts.get(topic);
      if (known && Date.now() - known.at < opts.metadataMaxAgeMs) return known.n;
      const a = await getAdmin();
      const { topics } = await a.fetchTopicMetadata({ topics: [topic] });
      const n = topics[0]?.partitions.length ?? 0;
      if (n === 0) throw new Error(`topic "${topic}" has no partitions`);
      counts.set(topic, { n, at: Date.now() });
      return n;
    },
    async send(topic, records) {
      const current = getProducer();
      const p = await current;
      let meta;
      try {
        meta = await p.sendBatch({
          acks: -1,
          topicMessages: [{ topic, messages: records.map((r) => ({ key: r.key, value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength), partition: r.partition })) }],
        });
      } catch (err) {
        if (producer === current) {
          producer = null;
          counts.delete(topic);
          void drop(current);
        }
        throw err;
      }
      // One request holds one record batch per partition: its records take consecutive offsets.
      const next = new Map<number, bigint>();
      for (const m of meta) if (m.topicName === topic && m.baseOffset !== undefined) next.set(m.partition, BigInt(m.baseOffset));
      return records.map((r) => {
        const offset = next.get(r.partition) ?? -1n;
        if (offset >= 0n) next.set(r.partition, offset + 1n);
        return { partition: r.partition, offset: String(offset) };
      });
    },
    async close() {
      const p = producer;
      const a = admin;
      producer = null;
      admin = null;
      await Promise.all([drop(p), drop(a)]);
    },
  };
}
