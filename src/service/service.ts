import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { WardenConfig } from '../config/types.js';
import { errorMessage } from '../errors.js';
import { Engine } from '../pipeline/engine.js';
import type { BatchOutput } from '../pipeline/outputs.js';
import { OutboxEncoder } from '../pipeline/outbox.js';
import type { ClassStore } from '../state/class-store.js';
import type { FleetStore } from '../state/fleet.js';
import type { WindowStore } from '../state/types.js';
import { createTransport, kafkaRetriable } from '../transport/kafka-client.js';
import type { Admin, BatchContext, GroupConsumer, KafkaTransport } from '../transport/types.js';
import { kafkaDependency, redisDependency, type Dependency, type StartGate } from './start-gate.js';
import { misrouted, toRecord } from './decode.js';
import { MemoryParkingLot, type ParkingLot } from './parked.js';
import { OutboxPublisher, ProducerSlot } from './publisher.js';
import { CommitTap } from './commit-tap.js';
import { Router } from './route.js';
import { heartbeatingSleep, persist, type Liveline } from './supervise.js';
import type { ServiceSettings } from './settings.js';
import { serviceMetrics, type ServiceMetrics } from '../ops/service-metrics.js';
import { ensureTopics, outputLimits } from './topics.js';
import { learningPeriodOf } from '../pipeline/cold.js';
import type { LossCause } from '../state/epoch.js';

function within<T>(work: Promise<T>, ms: number, why: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(why)), ms)));
  work.catch(() => {});
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** Instrumentation, namespaced `warden.`. */
export interface ServiceEvents {
  'warden.batch': [BatchInfo];
  'warden.partitions': [{ assigned: string[] }];
  'warden.error': [{ error: unknown; partition?: string }];
  /** The service cannot go on (a consumer its client will not restart, a failure no retry can mend): the process must exit non-zero. */
  'warden.fatal': [{ reason: string; error: unknown }];
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
  /** Where outputs Kafka refuses after retries are kept; in memory unless given. */
  parking?: ParkingLot;
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
  private readonly kafka: KafkaTransport;
  private readonly consumer: GroupConsumer;
  private readonly producer: ProducerSlot;
  private readonly engine: Engine;
  private readonly outbox: OutboxEncoder;
  private readonly publisher: OutboxPublisher;
  /** The store as the engine sees it: each commit's records, for publishing from memory. */
  private readonly tap: CommitTap;
  /** Partitions whose outbox was drained since they were last assigned. */
  private readonly drained = new Set<string>();
  private readonly parking: ParkingLot;
  private readonly log: Logger;
  private running = false;
  private crashed: string | null = null;
  /** Set once the service cannot go on; liveness fails with it. */
  private dead: string | null = null;
  /** Since when the consumer has not been in the group (null: it is). */
  private downSince: number | null = null;
  private readonly stopping = new AbortController();
  private readonly heartbeatMs: number;
  /** Per assigned partition: wall time of the last completed batch (or of the assignment). */
  private readonly progress = new Map<string, number>();
  /** Per partition: what its batch is waiting on, while it retries. */
  private readonly waiting = new Map<string, string>();
  private admin: Admin | null = null;
  private probe: NodeJS.Timeout | null = null;
  private readonly lag = new Map<string, number>();
  /** Per partition: when a batch last set its lag (performance.now()). */
  private readonly lagAt = new Map<string, number>();
  /** identity\0scope → until, for the open-breakers gauge; event time. */
  private readonly open = new Map<string, number>();
  private watermark = 0;
  /** Set at start from the actions topic's partition count. */
  private router: Router | null = null;
  /** Wall time the Redis state was lost, when this epoch began with a loss (src/service/epoch-watch.ts). */
  private lostAt: number | null = null;
  readonly metrics: ServiceMetrics;
  assigned: string[] = [];

  constructor(private readonly opts: ServiceOptions) {
    super();
    this.log = opts.log.child({ module: 'service' });
    const { kafka, topics } = opts.settings;
    this.kafka = createTransport(kafka, opts.log);
    this.heartbeatMs = Math.min(3000, Math.floor(kafka.sessionTimeoutMs / 3));
    this.consumer = this.kafka.consumer({
      groupId: kafka.groupId,
      maxWaitMs: 100,
      sessionTimeoutMs: kafka.sessionTimeoutMs,
      heartbeatIntervalMs: this.heartbeatMs,
      retries: 10,
    });
    this.producer = new ProducerSlot(
      () => this.kafka.producer({ idempotent: true }),
      (seconds, failed) => (failed ? this.metrics.kafkaErrors.inc({ kind: 'publish' }) : this.metrics.publishSeconds.observe(seconds)),
    );
    this.outbox = new OutboxEncoder(topics, topics.actions, opts.settings.keyring);
    this.tap = new CommitTap(opts.store);
    this.engine = new Engine({
      config: opts.config, store: this.tap, outbox: this.outbox,
      operatorKeys: opts.settings.operatorKeyring,
      ...(opts.fleet ? { fleet: opts.fleet } : {}),
      ...(opts.classes ? { classes: opts.classes } : {}),
    });
    this.parking = opts.parking ?? new MemoryParkingLot();
    this.publisher = new OutboxPublisher({
      store: opts.store, producer: this.producer, parking: this.parking, log: this.log,
      onParked: (entry) => this.metrics.parked.inc({ topic: entry.topic }),
    });
    this.metrics = serviceMetrics({
      openBreakers: () => {
        let n = 0;
        for (const until of this.open.values()) if (until > this.watermark) n++;
        return n;
      },
      // Keys are `topic:partition`; a topic name has no colon.
      lag: () => [...this.lag].map(([key, lag]) => {
        const at = key.lastIndexOf(':');
        return { topic: key.slice(0, at), partition: Number(key.slice(at + 1)), lag };
      }),
      ready: async () => (await this.notReady()) === null,
      live: () => this.notLive() === null,
    });
  }

  /** Null when ready: running, partitions assigned, Kafka consumer alive, Redis answering. */
  async notReady(): Promise<string | null> {
    if (this.dead) return this.dead;
    if (!this.running) return 'not running';
    if (this.crashed) return `Kafka consumer crashed: ${this.crashed}`;
    if (this.assigned.length === 0) return 'no partitions assigned';
    try {
      // A Redis that hangs must not hang the probe (its command timeout is 30 s).
      await within(this.opts.store.ping(), 2000, 'no answer within 2 s');
    } catch (err) {
      return `Redis: ${(err as Error).message}`;
    }
    return null;
  }

  /**
   * Null while alive (liveness): the consumer is in its group, and no assigned
   * partition with lag has gone `stallTimeoutMs` without a completed batch.
   */
  notLive(now = Date.now()): string | null {
    if (this.dead) return this.dead;
    if (!this.running) return 'not running';
    const bound = this.opts.settings.stallTimeoutMs;
    const secs = (ms: number): number => Math.round(ms / 1000);
    if (this.downSince !== null && now - this.downSince > bound) {
      return `Kafka consumer not in its group for ${secs(now - this.downSince)} s${this.crashed ? `: ${this.crashed}` : ''}`;
    }
    for (const p of this.assigned) {
      const lag = this.lag.get(p) ?? 0;
      const since = this.progress.get(p) ?? now;
      if (lag > 0 && now - since > bound) {
        // A partition whose batch has no worker yet waits behind the ones retrying.
        const on = this.waiting.get(p) ?? [...new Set(this.waiting.values())].join(', ');
        return `${p}: no batch completed for ${secs(now - since)} s with ${lag} behind${on ? ` (retrying ${on})` : ''}`;
      }
    }
    return null;
  }

  /** What readiness adds for an operator: partitions waiting on a dependency, parked outputs. */
  async detail(): Promise<string[]> {
    const lines = [...this.waiting].map(([p, on]) => `${p}: retrying ${on}`);
    const parked = await within(this.parking.count(this.assigned), 1000, 'timeout').catch(() => 0);
    if (parked > 0) lines.push(`parked outputs: ${parked} (list them with \`warden parked\`)`);
    const relearning = this.relearningUntil();
    if (relearning !== null) lines.push(`state lost at ${new Date(this.lostAt!).toISOString()}, re-learning (detections carry evidence.cold; until about ${new Date(relearning).toISOString()})`);
    return lines;
  }

  /**
   * The Redis state was lost at `lostAt` (wall time): identities re-learn, cold.
   * `cause` when this process found it (counted), null when the marker said so.
   */
  stateLost(lostAt: number, cause: LossCause | null): void {
    this.lostAt = lostAt;
    this.engine.setStateLoss(lostAt);
    if (cause) this.metrics.stateLoss.inc({ cause });
  }

  /** While identities first seen after the loss can still be learning: readiness says so. */
  private relearningUntil(now = Date.now()): number | null {
    if (this.lostAt === null) return null;
    const until = this.lostAt + 2 * learningPeriodOf(this.engine.currentConfig.detectors);
    return now < until ? until : null;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Swap in a validated config; batches after this one use it. */
  setConfig(config: WardenConfig): void {
    this.engine.setConfig(config);
  }

  /** `gate` bounds each wait on Kafka or Redis (WARDEN_START_TIMEOUT_S); without one, the Kafka client's and ioredis' own retries do. */
  async start(gate?: StartGate): Promise<void> {
    try {
      await this.begin(gate);
    } catch (err) {
      // Not awaited: a Kafka that does not answer must not hold up the failure; the clients close in the background.
      this.running = false;
      if (this.probe) clearInterval(this.probe);
      void Promise.allSettled([this.consumer.disconnect(), this.producer.disconnect(), this.admin?.disconnect()]);
      throw err;
    }
  }

  private async begin(gate?: StartGate): Promise<void> {
    const { settings, store } = this.opts;
    const kafka = kafkaDependency(settings.kafka.brokers);
    const redis = redisDependency(settings.redis.url);
    const step = <T>(dep: Dependency, doing: string, fn: () => Promise<T>, retriable?: (err: unknown) => boolean): Promise<T> =>
      gate ? gate.wait(dep, doing, fn, retriable) : fn();
    await step(redis, 'checking the version of', () => store.start());
    this.admin = await step(kafka, 'connecting to', async () => {
      const admin = this.kafka.admin();
      try {
        await admin.connect();
        return admin;
      } catch (err) {
        await admin.disconnect().catch(() => {});
        throw err;
      }
    }, kafkaRetriable);
    const admin = this.admin;
    const created = await step(kafka, 'creating topics on', () => ensureTopics(admin, settings.topics));
    if (created.length > 0) this.log.info({ created }, 'created topics');
    const partitions = await step(kafka, 'reading the actions topic\'s partitions from', () => admin.partitionCount(settings.topics.actions));
    this.router = new Router(partitions, settings.keyring);
    this.log.info({ topic: settings.topics.actions, partitions: this.router.partitions }, 'identities are counted on their murmur2 partition');
    const limits = await step(kafka, 'reading topic limits from', () => outputLimits(admin, settings.topics, this.log));
    this.outbox.deadLetterLimit = limits.deadLetter;
    this.publisher.maxBatchBytes = limits.batch;
    this.log.info(limits, 'output record limits');
    await step(kafka, 'connecting the producer to', () => this.producer.connect());
    await step(kafka, 'connecting the consumer to', () => this.consumer.connect());
    this.consumer.on('assigned', (e) => {
      const assigned = Object.entries(e.assignment).flatMap(([t, ps]) => ps.map((p) => `${t}:${p}`));
      this.assigned = assigned;
      this.engine.forgetExcept(assigned);
      const now = Date.now();
      for (const p of [...this.progress.keys()]) if (!assigned.includes(p)) this.progress.delete(p);
      for (const p of [...this.lag.keys()]) {
        if (!assigned.includes(p)) {
          this.lag.delete(p);
          this.lagAt.delete(p);
        }
      }
      for (const p of assigned) this.progress.set(p, now);
      // Another member may have owned them meanwhile: its unpublished outputs go out before anything new.
      this.drained.clear();
      this.log.info({ assigned }, 'partitions assigned');
      this.crashed = null;
      this.downSince = null;
      this.emit('warden.partitions', { assigned });
    });
    this.consumer.on('crash', (e) => {
      const err = e.error;
      this.metrics.kafkaErrors.inc({ kind: 'crash' });
      this.crashed = err.message;
      this.downSince ??= Date.now();
      if (e.restart) this.log.warn({ err: err.message, restart: true }, 'consumer crashed; its client restarts it');
      else this.fail(`Kafka consumer stopped and will not restart: ${err.message}`, err);
    });
    await step(kafka, 'subscribing to the actions topic on', () => this.consumer.subscribe([settings.topics.actions], settings.kafka.fromBeginning));
    this.running = true;
    this.downSince = Date.now();
    // Not bounded by the gate: a join waits for the group to rebalance; a failed one is a consumer crash (above).
    gate?.note(`joining consumer group ${settings.kafka.groupId} on ${settings.topics.actions}`);
    await this.consumer.run({
      partitionsConcurrently: settings.kafka.partitionsConsumedConcurrently,
      eachBatch: (ctx) => this.onBatch(ctx),
    });
    this.log.info({ topic: settings.topics.actions, group: settings.kafka.groupId }, 'consuming');
    const every = Math.max(1000, Math.min(10_000, Math.floor(settings.stallTimeoutMs / 3)));
    this.probe = setInterval(() => void this.probeLag(), every);
    this.probe.unref();
  }

  /** Ends the service for good: one clear log line, liveness fails, and `warden run` exits non-zero. */
  private fail(reason: string, error: unknown): void {
    if (!this.running || this.dead) return;
    this.dead = reason;
    this.log.fatal({ err: errorMessage(error) }, reason);
    this.emit('warden.fatal', { reason, error });
  }

  /** True lag per assigned partition, from the broker, between batches too: a consumer that stopped fetching must not look idle. */
  private async probeLag(): Promise<void> {
    const admin = this.admin;
    if (!admin || !this.running) return;
    const { topics, kafka } = this.opts.settings;
    const began = performance.now();
    try {
      const [ends, offsets] = await Promise.all([admin.topicOffsets(topics.actions), admin.groupOffsets(kafka.groupId, topics.actions)]);
      for (const e of ends) {
        const p = `${topics.actions}:${e.partition}`;
        // A batch that ended while the broker answered knows better than these offsets.
        if (!this.assigned.includes(p) || (this.lagAt.get(p) ?? -1) > began) continue;
        const c = Number(offsets.find((o) => o.partition === e.partition)?.offset ?? -1);
        if (c >= 0 || kafka.fromBeginning) this.lag.set(p, Math.max(0, Number(e.high) - (c >= 0 ? c : Number(e.low))));
        // Nothing committed and it started at the end: the old messages are not behind it; its first batch tells the lag.
        else if (!this.lag.has(p)) this.lag.set(p, 0);
      }
    } catch (err) {
      this.metrics.kafkaErrors.inc({ kind: 'lag_probe' });
      this.log.debug({ err: errorMessage(err) }, 'lag probe failed');
    }
  }

  /** Finishes the batch in flight, commits, leaves the group. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.probe) clearInterval(this.probe);
    // A batch waiting out an outage gives up now; its offsets stay uncommitted and it is redelivered.
    this.stopping.abort(new Error('stopping'));
    await this.consumer.disconnect();
    await this.producer.disconnect();
    await this.admin?.disconnect().catch(() => {});
    await this.opts.store.shutdown();
    this.log.info('stopped');
  }

  private setLag(partition: string, lag: number): void {
    this.lag.set(partition, lag);
    this.lagAt.set(partition, performance.now());
  }

  private observe(items: BatchOutput['items'], messages: number, ms: number): void {
    const m = this.metrics;
    m.events.inc(messages);
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
      } else if (item.kind === 'forward') {
        m.forwarded.inc();
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

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: BatchContext): Promise<void> {
    const partition = `${batch.topic}:${batch.partition}`;
    this.setLag(partition, Number(batch.offsetLagLow()));
    const max = this.opts.settings.kafka.maxBatch;
    const line: Liveline = { heartbeat, everyMs: this.heartbeatMs, isRunning: () => isRunning() && !isStale(), signal: this.stopping.signal };
    const sleep = heartbeatingSleep(line);
    let retried = false;
    // Redis or Kafka away: wait it out here, heartbeating, so the group keeps this member and nothing is redone.
    const wait = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      const began = Date.now();
      let attempts = 0;
      try {
        const r = await persist(fn, line, ({ attempt, delayMs, error }) => {
          attempts = attempt;
          retried = true;
          this.waiting.set(partition, what);
          this.metrics.retries.inc({ what });
          if (attempt === 1 || attempt % 10 === 0) this.log.warn({ partition, what, attempt, delayMs, err: errorMessage(error) }, 'batch waiting: retrying');
        });
        if (attempts > 0) this.log.info({ partition, what, attempts, waitedMs: Date.now() - began }, 'batch recovered');
        return r;
      } catch (error) {
        this.emit('warden.error', { error, partition });
        throw error;
      } finally {
        this.waiting.delete(partition);
      }
    };
    const drain = (): Promise<number> => wait('publish', () => this.publisher.drain(partition, sleep));
    // Outputs left by a crash or a previous owner go out before anything new: once per assignment.
    if (!this.drained.has(partition)) {
      await drain();
      this.drained.add(partition);
    }
    for (let i = 0; i < batch.messages.length; i += max) {
      if (!isRunning() || isStale()) return;
      const started = performance.now();
      const messages = batch.messages.slice(i, i + max);
      // The wall clock bounds event time (and only refuses), read once per batch so a retry decides the same.
      const now = Date.now();
      const router = this.router!;
      let wrongKey = 0;
      const records = messages.map((m) => {
        const forwarded = router.forwardedOf(m, batch.partition);
        const rec = toRecord(m, now, this.opts.settings.timeBounds, forwarded === null);
        // A forwarded record was counted as misrouted where it was first read.
        if (forwarded === null && misrouted(m, rec)) wrongKey++;
        router.route(m, rec, batch.partition, forwarded);
        return rec;
      });
      if (wrongKey > 0) this.metrics.misrouted.inc(wrongKey);
      retried = false;
      this.tap.take(partition);
      // Safe to repeat: the store applies and commits each offset once (a repeat gets the views back, or "done").
      const out = await wait('state', () => this.engine.process(partition, records));
      const commit = this.tap.take(partition);
      // A retry may have committed unseen (its reply lost), and a redelivered offset's outputs may still wait in the outbox: from Redis, then.
      if (retried || out.skipped > 0 || (commit && !this.publisher.claim(partition, commit.receipt, commit.records.length))) await drain();
      else if (commit && commit.records.length > 0) {
        let fromMemory = true;
        // A retry goes from Redis: what was acknowledged before the failure is not sent again.
        await wait('publish', () => {
          if (!fromMemory) return this.publisher.drain(partition, sleep);
          fromMemory = false;
          return this.publisher.publish(partition, commit.receipt.first, commit.records, sleep);
        });
      }
      const last = messages[messages.length - 1]!.offset;
      resolveOffset(last);
      await this.consumer.commit([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
      await heartbeat();
      this.progress.set(partition, Date.now());
      this.setLag(partition, Math.max(0, Number(batch.highWatermark) - Number(last) - 1));
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
