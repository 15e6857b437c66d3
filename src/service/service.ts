import { EventEmitter } from 'node:events';
import { Partitioners, type Consumer, type EachBatchPayload, type Kafka, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { WardenConfig } from '../config/types.js';
import { Engine } from '../pipeline/engine.js';
import type { BatchOutput } from '../pipeline/outputs.js';
import { OutboxEncoder } from '../pipeline/outbox.js';
import type { ClassStore } from '../state/class-store.js';
import type { FleetStore } from '../state/fleet.js';
import type { WindowStore } from '../state/types.js';
import { createKafka } from '../transport/kafka-client.js';
import { toRecord } from './decode.js';
import { OutboxPublisher } from './publisher.js';
import type { ServiceSettings } from './settings.js';
import { serviceMetrics, type ServiceMetrics } from '../ops/service-metrics.js';
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
  /** Class counts for the fleet guard, shared by every Warden process. */
  fleet?: FleetStore;
  /** Class counters (peer groups), shared by every Warden process. */
  classes?: ClassStore;
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
  private crashed: string | null = null;
  private readonly lag = new Map<string, number>();
  /** identity\0scope → until, for the open-breakers gauge; event time. */
  private readonly open = new Map<string, number>();
  private watermark = 0;
  readonly metrics: ServiceMetrics;
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
    this.engine = new Engine({
      config: opts.config, store: opts.store, outbox: new OutboxEncoder(topics, topics.actions, opts.settings.keyring),
      operatorKeys: opts.settings.operatorKeyring,
      ...(opts.fleet ? { fleet: opts.fleet } : {}),
      ...(opts.classes ? { classes: opts.classes } : {}),
    });
    this.publisher = new OutboxPublisher(opts.store, this.producer);
    this.metrics = serviceMetrics({
      openBreakers: () => {
        let n = 0;
        for (const until of this.open.values()) if (until > this.watermark) n++;
        return n;
      },
      lag: () => [...this.lag].map(([partition, lag]) => [{ partition }, lag]),
    });
  }

  /** Null when ready: running, partitions assigned, Kafka consumer alive, Redis answering. */
  async notReady(): Promise<string | null> {
    if (!this.running) return 'not running';
    if (this.crashed) return `Kafka consumer crashed: ${this.crashed}`;
    if (this.assigned.length === 0) return 'no partitions assigned';
    try {
      await this.opts.store.ping();
    } catch (err) {
      return `Redis: ${(err as Error).message}`;
    }
    return null;
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
      this.crashed = null;
      this.emit('warden.partitions', { assigned });
    });
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      this.crashed = e.payload.error.message;
      this.log.error({ err: e.payload.error.message, restart: e.payload.restart }, 'consumer crashed');
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

  private observe(items: BatchOutput['items'], messages: number, ms: number): void {
    const m = this.metrics;
    m.events.inc(undefined, messages);
    m.batchSeconds.observe(ms / 1000);
    for (const item of items) {
      if (item.kind === 'dead-letter') m.invalid.inc({ code: item.deadLetter.code });
      else if (item.kind === 'detection') {
        const d = item.detection;
        m.detections.inc({ detector: d.detector, rule: d.rule, decision: d.decision });
        const trip = d.evidence.fleetGuard as { agentClass?: string } | undefined;
        if (trip) m.guardTrips.inc({ agent_class: String(trip.agentClass) });
        if (d.ts > this.watermark) this.watermark = d.ts;
      } else if (item.kind === 'control') {
        m.controls.inc({ op: item.control.op, result: item.control.result });
      } else {
        const c = item.command;
        m.commands.inc({ type: c.type });
        const k = `${c.identity}\u0000${c.scope}`;
        if (c.type === 'suspend') this.open.set(k, c.until ?? 0);
        else this.open.delete(k);
        if (c.issuedAt > this.watermark) this.watermark = c.issuedAt;
      }
    }
    if (this.open.size > 10_000) for (const [k, until] of this.open) if (until <= this.watermark) this.open.delete(k);
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const partition = `${batch.topic}:${batch.partition}`;
    this.lag.set(partition, Number(batch.offsetLagLow()));
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
      this.observe(out.items, messages.length, performance.now() - started);
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
