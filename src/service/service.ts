import { EventEmitter } from 'node:events';
import { Partitioners, type Consumer, type EachBatchPayload, type Kafka, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { WardenConfig } from '../config/types.js';
import { Engine } from '../pipeline/engine.js';
import { OutboxEncoder } from '../pipeline/outbox.js';
import type { WindowStore } from '../state/types.js';
import { createKafka } from '../transport/kafka-client.js';
import { toRecord } from './decode.js';
import { OutboxPublisher } from './publisher.js';
import type { ServiceSettings } from './settings.js';
import { ensureTopics } from './topics.js';

/** Instrumentation, namespaced like kafkajs' own. */
export interface ServiceEvents {
  'warden.batch': [BatchInfo];
  'warden.partitions': [{ assigned: string[] }];
  'warden.error': [{ error: unknown; partition?: string }];
}

export interface BatchInfo {
  partition: string;
  messages: number;
  processed: number;
  skipped: number;
  invalid: number;
  outputs: number;
  durationMs: number;
  /** Per message: wall time of its decision minus its Kafka timestamp (ms), when latency recording is on. */
  latenciesMs?: number[];
}

export interface ServiceOptions {
  config: WardenConfig;
  settings: ServiceSettings;
  store: WindowStore;
  log: Logger;
  recordLatency?: boolean;
}

/**
 * `warden run`: a consumer group on the actions topic. Per partition batch:
 * decode → engine (one Redis call to apply, one to commit state + outbox) →
 * publish the outbox → commit the Kafka offset. The Redis offsets make state
 * changes exactly-once; the outbox makes outputs at-least-once with stable ids.
 */
export class WardenService extends EventEmitter<ServiceEvents> {
  private readonly kafka: Kafka;
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly engine: Engine;
  private readonly publisher: OutboxPublisher;
  private readonly log: Logger;
  private running = false;
  assigned: string[] = [];

  constructor(private readonly opts: ServiceOptions) {
    super();
    this.log = opts.log.child({ module: 'service' });
    const { kafka, topics } = opts.settings;
    this.kafka = createKafka(kafka, opts.log);
    this.consumer = this.kafka.consumer({
      groupId: kafka.groupId,
      maxWaitTimeInMs: 100,
      sessionTimeout: kafka.sessionTimeoutMs,
      heartbeatInterval: Math.min(3000, Math.floor(kafka.sessionTimeoutMs / 3)),
      retry: { retries: 10 },
    });
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    this.engine = new Engine({ config: opts.config, store: opts.store, outbox: new OutboxEncoder(topics, topics.actions) });
    this.publisher = new OutboxPublisher(opts.store, this.producer);
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Swap in a validated config; batches after this one use it. */
  setConfig(config: WardenConfig): void {
    this.engine.setConfig(config);
  }

  async start(): Promise<void> {
    const { settings, store } = this.opts;
    await store.start();
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const created = await ensureTopics(admin, settings.topics);
      if (created.length > 0) this.log.info({ created }, 'created topics');
    } finally {
      await admin.disconnect();
    }
    await this.producer.connect();
    await this.consumer.connect();
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      const assigned = Object.entries(e.payload.memberAssignment).flatMap(([t, ps]) => ps.map((p) => `${t}:${p}`));
      this.assigned = assigned;
      this.log.info({ assigned }, 'partitions assigned');
      this.emit('warden.partitions', { assigned });
    });
    await this.consumer.subscribe({ topic: settings.topics.actions, fromBeginning: settings.kafka.fromBeginning });
    this.running = true;
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: settings.kafka.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.onBatch(payload),
    });
    this.log.info({ topic: settings.topics.actions, group: settings.kafka.groupId }, 'consuming');
  }

  /** Finishes the batch in flight, commits, leaves the group. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.consumer.disconnect();
    await this.producer.disconnect();
    await this.opts.store.shutdown();
    this.log.info('stopped');
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const partition = `${batch.topic}:${batch.partition}`;
    const max = this.opts.settings.kafka.maxBatch;
    // Outputs left by a crash or a previous owner go out before anything new.
    await this.publisher.drain(partition);
    for (let i = 0; i < batch.messages.length; i += max) {
      if (!isRunning() || isStale()) return;
      const started = performance.now();
      const messages = batch.messages.slice(i, i + max);
      const records = messages.map(toRecord);
      let out;
      try {
        out = await this.engine.process(partition, records);
      } catch (error) {
        this.emit('warden.error', { error, partition });
        throw error;
      }
      if (out.items.length > 0) await this.publisher.drain(partition);
      const last = messages[messages.length - 1]!.offset;
      resolveOffset(last);
      await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
      await heartbeat();
      const info: BatchInfo = {
        partition, messages: messages.length, processed: out.processed, skipped: out.skipped, invalid: out.invalid,
        outputs: out.items.length, durationMs: performance.now() - started,
      };
      if (this.opts.recordLatency) {
        const now = Date.now();
        info.latenciesMs = messages.map((m) => now - Number(m.timestamp));
      }
      this.emit('warden.batch', info);
    }
  }
}
