import type { Redis } from 'ioredis';
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import type { Detection } from '../detector.js';
import { errorMessage, WardenError } from '../errors.js';
import { deadLetterCountKey, deadLetterKey } from '../state/keys.js';
import { createKafka, type KafkaSettings } from '../transport/kafka-client.js';
import { SEVERITIES, type AlertReceiver, type AlertsConfig } from './config.js';
import { deliverOnce, type FetchImpl } from './deliver.js';
import { buildPayload, type Alert } from './payload.js';
import { AttemptError, retry, RetryError } from './retry.js';
import { signWebhook } from './sign.js';

export interface DispatcherOptions {
  config: AlertsConfig;
  kafka: KafkaSettings;
  decisionsTopic: string;
  /** Each receiver consumes as group `<groupPrefix>-<name>`. */
  groupPrefix: string;
  redis: Redis;
  redisPrefix: string;
  log: Logger;
  fetchImpl?: FetchImpl;
  /** A receiver with no committed offsets starts at the end of the topic (it must not page for history) unless this is set. */
  fromBeginning?: boolean;
  sessionTimeoutMs?: number;
  /** Called when a receiver's consumer stops and kafkajs will not restart it: the process must not live on without it. */
  onFatal?: (reason: string) => void;
  /** Injectable for tests. */
  now?: () => number;
  random?: () => number;
}

export interface ReceiverStats {
  delivered: number;
  /** Attempts repeated after a retriable failure. */
  retries: number;
  /** Failed attempts (any non-2xx, timeout or connection error). */
  failures: number;
  /** Since this process started; the Redis counter keeps the total. */
  deadLettered: number;
  folded: number;
  /** Decisions not yet handled on the assigned partitions, plus pending "N more" follow-ups. */
  queueDepth: number;
}

export interface Dispatcher {
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): Record<string, ReceiverStats>;
}

export const DEAD_LETTER_MAX = 10_000;
export { deadLetterCountKey, deadLetterKey };

/** The newest dead letters of a receiver, newest first. */
export async function readDeadLetters(redis: Redis, prefix: string, receiver: string, count = 100): Promise<Record<string, unknown>[]> {
  const items = await redis.lrange(deadLetterKey(prefix, receiver), 0, count - 1);
  return items.map((s) => JSON.parse(s) as Record<string, unknown>);
}

const RANK = new Map<string, number>(SEVERITIES.map((s, i) => [s, i]));
const TICK = Symbol('tick');

function toDetection(m: KafkaMessage): Detection | undefined {
  let rec: unknown;
  try {
    rec = JSON.parse(m.value?.toString('utf8') ?? '');
  } catch {
    return undefined;
  }
  if (typeof rec !== 'object' || rec === null || (rec as { kind?: unknown }).kind !== 'detection') return undefined;
  const { kind: _kind, ...d } = rec as Record<string, unknown>;
  const fields = ['identity', 'detector', 'rule', 'severity', 'decision', 'eventId'];
  return fields.every((f) => typeof d[f] === 'string') ? (d as unknown as Detection) : undefined;
}

/** Waits for `work`, heartbeating meanwhile so a long outage does not cost the partitions; a failed heartbeat (rebalance) aborts it. */
async function keepAlive<T>(work: Promise<T>, heartbeat: () => Promise<void>, everyMs: number, abort: AbortController): Promise<T> {
  work.catch(() => {});
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const tick = new Promise<typeof TICK>((r) => (timer = setTimeout(r, everyMs, TICK)));
    const r = await Promise.race([work, tick]).finally(() => clearTimeout(timer));
    if (r !== TICK) return r as T;
    try {
      await heartbeat();
    } catch (err) {
      abort.abort(err);
      throw err;
    }
  }
}

interface Group {
  windowEnd: number;
  folded: number;
  last?: Detection;
  timer?: NodeJS.Timeout;
}

class ReceiverWorker {
  readonly stats: Omit<ReceiverStats, 'queueDepth'> = { delivered: 0, retries: 0, failures: 0, deadLettered: 0, folded: 0 };
  private readonly consumer: Consumer;
  private readonly heartbeatMs: number;
  private readonly log: Logger;
  private readonly stopping = new AbortController();
  private readonly lag = new Map<number, number>();
  /**
   * Grouping state lives only in memory. Losing it on restart loses at most a
   * "N more" count: the first alert of the group was already delivered and the
   * folded detections stay on the decisions topic. Losing an alert would leave
   * on-call unaware of an incident, so alerts are tied to Kafka offsets instead.
   */
  private readonly groups = new Map<string, Group>();
  /** Deliveries of one receiver go one at a time: the partition's and the timers' follow-ups. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly r: AlertReceiver, private readonly o: DispatcherOptions, kafka: Kafka, readonly groupId: string) {
    this.log = o.log.child({ module: 'alerts', receiver: r.name });
    const sessionTimeout = o.sessionTimeoutMs ?? 30_000;
    this.heartbeatMs = Math.min(3_000, Math.floor(sessionTimeout / 3));
    this.consumer = kafka.consumer({ groupId, sessionTimeout, heartbeatInterval: this.heartbeatMs, maxWaitTimeInMs: 250, retry: { retries: 10 } });
  }

  queueDepth(): number {
    let n = 0;
    for (const v of this.lag.values()) n += v;
    for (const g of this.groups.values()) if (g.folded > 0) n++;
    return n;
  }

  async start(admin: Admin): Promise<void> {
    if (!this.o.fromBeginning) await this.pinStart(admin);
    await this.consumer.connect();
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => this.lag.clear());
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      if (this.stopping.signal.aborted) return;
      const reason = `receiver ${this.r.name}: consumer stopped${e.payload.restart ? '; kafkajs restarts it' : ' and will not restart'}: ${e.payload.error.message}`;
      if (e.payload.restart) this.log.warn({ err: e.payload.error.message }, reason);
      else {
        this.log.fatal({ err: e.payload.error.message }, reason);
        this.o.onFatal?.(reason);
      }
    });
    await this.consumer.subscribe({ topic: this.o.decisionsTopic, fromBeginning: this.o.fromBeginning ?? false });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (p) => this.onBatch(p),
    });
    // Only the origin: a Slack webhook URL's path is itself a secret.
    this.log.info({ group: this.groupId, origin: new URL(this.r.url).origin, format: this.r.format }, 'alert receiver consuming');
  }

  async stop(): Promise<void> {
    this.stopping.abort(new WardenError('ALERTS_STOPPING', 'alert dispatcher stopping'));
    const pending = [...this.groups.values()].filter((g) => g.folded > 0).length;
    for (const g of this.groups.values()) clearTimeout(g.timer);
    this.groups.clear();
    await this.consumer.disconnect();
    if (pending > 0) this.log.info({ pending }, 'stopped with "N more" follow-ups unsent (counts only; every alert was sent)');
  }

  /**
   * Commits the topic's end for partitions this group has never committed, so
   * decisions published after the receiver was configured are kept even if
   * Warden restarts before the first delivery.
   */
  private async pinStart(admin: Admin): Promise<void> {
    const topic = this.o.decisionsTopic;
    const [committed] = await admin.fetchOffsets({ groupId: this.groupId, topics: [topic] });
    const unset = new Set((committed?.partitions ?? []).filter((p) => Number(p.offset) < 0).map((p) => p.partition));
    if (unset.size === 0) return;
    const ends = await admin.fetchTopicOffsets(topic);
    const partitions = ends.filter((e) => unset.has(e.partition)).map((e) => ({ partition: e.partition, offset: e.high }));
    try {
      await admin.setOffsets({ groupId: this.groupId, topic, partitions });
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'could not pin the start offsets (another instance runs the group)');
    }
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const hw = Number(batch.highWatermark);
    let uncommitted: string | undefined;
    const commit = async () => {
      if (uncommitted === undefined) return;
      await this.consumer.commitOffsets([{ topic, partition, offset: uncommitted }]);
      uncommitted = undefined;
    };
    for (const m of batch.messages) {
      this.lag.set(partition, Math.max(0, hw - Number(m.offset)));
      if (!isRunning() || isStale() || this.stopping.signal.aborted) break;
      const d = toDetection(m);
      let sent = false;
      if (d === undefined) this.log.debug({ partition, offset: m.offset }, 'not a detection; skipped');
      else if (this.accepts(d)) {
        const abort = new AbortController();
        const signal = AbortSignal.any([abort.signal, this.stopping.signal]);
        try {
          sent = await keepAlive(this.serial(() => this.admit(d, signal)), heartbeat, this.heartbeatMs, abort);
        } catch (err) {
          if (!this.stopping.signal.aborted) throw err;
          break;
        }
      }
      resolveOffset(m.offset);
      uncommitted = (BigInt(m.offset) + 1n).toString();
      this.lag.set(partition, Math.max(0, hw - Number(m.offset) - 1));
      // The offset moves only once the alert is delivered or dead-lettered: a restart resumes exactly here.
      if (sent) await commit();
    }
    await commit();
  }

  private accepts(d: Detection): boolean {
    const r = this.r;
    return (RANK.get(d.severity) ?? -1) >= (RANK.get(r.minSeverity) ?? 0) && r.detectors.includes(d.detector) && r.decisions.includes(d.decision);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  /** Sends the first of a group at once and folds the rest; true when something was sent (or dead-lettered). */
  private async admit(d: Detection, signal: AbortSignal): Promise<boolean> {
    signal.throwIfAborted();
    const key = `${d.identity}\u0000${d.detector}`;
    const windowMs = this.o.config.grouping.windowMs;
    const now = (this.o.now ?? Date.now)();
    const g = this.groups.get(key);
    if (g !== undefined && now < g.windowEnd) {
      g.folded++;
      g.last = d;
      this.stats.folded++;
      return false;
    }
    if (g !== undefined) await this.flush(key, g, signal);
    await this.send({ detection: d, folded: 0 }, signal);
    if (windowMs > 0 && !signal.aborted) {
      // The window starts when the first alert went out, so a backlog drained after an outage folds too.
      const fresh: Group = { windowEnd: (this.o.now ?? Date.now)() + windowMs, folded: 0 };
      fresh.timer = setTimeout(() => {
        this.serial(() => this.flush(key, fresh, this.stopping.signal)).catch((err: unknown) => {
          if (!this.stopping.signal.aborted) this.log.error({ err: errorMessage(err) }, 'follow-up alert failed');
        });
      }, windowMs);
      fresh.timer.unref();
      this.groups.set(key, fresh);
    }
    return true;
  }

  /** Ends a group's window: one "N more" follow-up when anything was folded. */
  private async flush(key: string, g: Group, signal: AbortSignal): Promise<void> {
    if (this.groups.get(key) !== g) return;
    this.groups.delete(key);
    clearTimeout(g.timer);
    if (g.folded > 0 && g.last !== undefined) await this.send({ detection: g.last, folded: g.folded }, signal);
  }

  private async send(alert: Alert, signal: AbortSignal): Promise<void> {
    const r = this.r;
    const { alertId, body } = buildPayload(r, alert);
    let status: number | undefined;
    try {
      await retry(async () => {
        // Signed per attempt: a retry after a long outage must not carry a stale (replay-looking) timestamp.
        const sig = r.secret === null ? {} : signWebhook(r.secret, body, (this.o.now ?? Date.now)() / 1000, alertId);
        const out = await deliverOnce({
          url: r.url, body, headers: { 'X-Warden-Alert-Id': alertId, ...sig }, timeoutMs: r.timeoutMs, signal, fetchImpl: this.o.fetchImpl,
        });
        if (out.kind === 'delivered') return;
        this.stats.failures++;
        status = out.status;
        throw new AttemptError(out.reason, out.kind === 'retry', out.kind === 'retry' ? out.retryAfterMs : undefined, out.status);
      }, {
        maxAttempts: r.maxAttempts, baseMs: r.backoff.baseMs, maxMs: r.backoff.maxMs, random: this.o.random, signal,
        onRetry: ({ attempt, delayMs, error }) => {
          this.stats.retries++;
          this.log.warn({ alertId, attempt, delayMs, reason: errorMessage(error) }, 'alert delivery failed; retrying');
        },
      });
      this.stats.delivered++;
    } catch (err) {
      if (!(err instanceof RetryError)) throw err;
      await this.deadLetter(alert, alertId, err, status);
    }
  }

  private async deadLetter(alert: Alert, alertId: string, err: RetryError, status: number | undefined): Promise<void> {
    const { redis, redisPrefix } = this.o;
    const key = deadLetterKey(redisPrefix, this.r.name);
    const entry = JSON.stringify({
      alertId, receiver: this.r.name, reason: err.message, attempts: err.attempts, status: status ?? null,
      at: new Date((this.o.now ?? Date.now)()).toISOString(), folded: alert.folded, detection: alert.detection,
    });
    const res = await redis.multi().lpush(key, entry).ltrim(key, 0, DEAD_LETTER_MAX - 1).incr(deadLetterCountKey(redisPrefix, this.r.name)).exec();
    const failed = res?.find(([e]) => e !== null)?.[0];
    if (res === null || failed) throw new WardenError('ALERT_DEAD_LETTER_FAILED', `could not store dead letter ${alertId}: ${errorMessage(failed ?? 'transaction aborted')}`, { retriable: true });
    this.stats.deadLettered++;
    this.log.error({ alertId, attempts: err.attempts, reason: err.message }, 'alert dead-lettered');
  }
}

/** One consumer group per receiver on the decisions topic, so one receiver's outage never delays another. */
export function createDispatcher(o: DispatcherOptions): Dispatcher {
  const kafka = createKafka(o.kafka, o.log);
  const workers = o.config.receivers.map((r) => new ReceiverWorker(r, o, kafka, `${o.groupPrefix}-${r.name}`));
  let started = false;
  let stopped = false;
  return {
    async start() {
      if (stopped) throw new WardenError('ALERTS_STOPPED', 'an alert dispatcher cannot be restarted; create a new one');
      if (started || workers.length === 0) return;
      started = true;
      const admin = kafka.admin();
      await admin.connect();
      try {
        await Promise.all(workers.map((w) => w.start(admin)));
      } finally {
        await admin.disconnect();
      }
    },
    async stop() {
      if (!started || stopped) return;
      stopped = true;
      await Promise.all(workers.map((w) => w.stop()));
    },
    stats() {
      const out: Record<string, ReceiverStats> = {};
      o.config.receivers.forEach((r, i) => {
        const w = workers[i]!;
        out[r.name] = { ...w.stats, queueDepth: w.queueDepth() };
      });
      return out;
    },
  };
}
