import type { RedisClient } from '../state/redis-connection.js';
import type { Logger } from 'pino';
import type { Detection } from '../detector.js';
import { errorMessage, WardenError } from '../errors.js';
import { deadLetterCountKey, deadLetterKey } from '../state/keys.js';
import { createTransport, type KafkaSettings } from '../transport/kafka-client.js';
import type { Admin, BatchContext, GroupConsumer, InboundMessage, KafkaTransport } from '../transport/types.js';
import { sameReceiver, SEVERITIES, type AlertReceiver, type AlertsConfig } from './config.js';
import { deliverOnce, type FetchImpl } from './deliver.js';
import { buildPayload, buildResolve, type Alert, type Resolution } from './payload.js';
import { AttemptError, retry, RetryError } from '../retry.js';
import { signWebhook } from './sign.js';

export interface DispatcherOptions {
  config: AlertsConfig;
  kafka: KafkaSettings;
  decisionsTopic: string;
  /** Each receiver consumes as group `<groupPrefix>-<name>`. */
  groupPrefix: string;
  redis: RedisClient;
  redisPrefix: string;
  log: Logger;
  fetchImpl?: FetchImpl;
  /** A receiver with no committed offsets starts at the end of the topic (it must not page for history) unless this is set. */
  fromBeginning?: boolean;
  sessionTimeoutMs?: number;
  /** Called when a receiver's consumer stops and its client will not restart it: the process must not live on without it. */
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
  /**
   * Applies a reloaded alerts config: a receiver whose settings did not change
   * keeps consuming; a removed one stops; a new one starts at the topic's end;
   * a changed one restarts where its group left off.
   */
  reconfigure(config: AlertsConfig): Promise<void>;
  stats(): Record<string, ReceiverStats>;
}

export const DEAD_LETTER_MAX = 10_000;
export { deadLetterCountKey, deadLetterKey };

/** Keeps one dead letter (newest first, the newest DEAD_LETTER_MAX) and counts it, in one MULTI: one slot on a cluster (keys.ts). */
export async function storeDeadLetter(redis: RedisClient, prefix: string, receiver: string, alertId: string, entry: string): Promise<void> {
  const key = deadLetterKey(prefix, receiver);
  const res = await redis.multi().lpush(key, entry).ltrim(key, 0, DEAD_LETTER_MAX - 1).incr(deadLetterCountKey(prefix, receiver)).exec().catch((err: unknown) => {
    throw new WardenError('ALERT_DEAD_LETTER_FAILED', `could not store dead letter ${alertId}: ${errorMessage(err)}`, { retriable: true, cause: err });
  });
  const failed = res?.find(([e]) => e !== null)?.[0];
  if (res === null || failed) throw new WardenError('ALERT_DEAD_LETTER_FAILED', `could not store dead letter ${alertId}: ${errorMessage(failed ?? 'transaction aborted')}`, { retriable: true });
}

/** The newest dead letters of a receiver, newest first. */
export async function readDeadLetters(redis: RedisClient, prefix: string, receiver: string, count = 100): Promise<Record<string, unknown>[]> {
  const items = await redis.lrange(deadLetterKey(prefix, receiver), 0, count - 1);
  return items.map((s) => JSON.parse(s) as Record<string, unknown>);
}

const RANK = new Map<string, number>(SEVERITIES.map((s, i) => [s, i]));
const TICK = Symbol('tick');

type Decoded = { kind: 'detection'; detection: Detection } | { kind: 'resume'; identity: string; detector: string | null; commandId: string; reason: string; issuedAt: number };

/** A detection, or a breaker resume (the audit copy of the command: automatic at the end of probation, or an operator's). */
function decode(m: InboundMessage): Decoded | undefined {
  let rec: unknown;
  try {
    rec = JSON.parse(m.value?.toString('utf8') ?? '');
  } catch {
    return undefined;
  }
  if (typeof rec !== 'object' || rec === null) return undefined;
  const { kind, ...d } = rec as Record<string, unknown>;
  if (kind === 'command' && d.type === 'resume') {
    const ok = typeof d.identity === 'string' && typeof d.commandId === 'string' && (d.detector === null || typeof d.detector === 'string');
    return ok ? {
      kind: 'resume', identity: d.identity as string, detector: d.detector as string | null, commandId: d.commandId as string,
      reason: typeof d.reason === 'string' ? d.reason : '', issuedAt: typeof d.issuedAt === 'number' ? d.issuedAt : 0,
    } : undefined;
  }
  if (kind !== 'detection') return undefined;
  const fields = ['identity', 'detector', 'rule', 'severity', 'decision', 'eventId'];
  return fields.every((f) => typeof d[f] === 'string') ? { kind: 'detection', detection: d as unknown as Detection } : undefined;
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
  private readonly consumer: GroupConsumer;
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

  constructor(
    readonly r: AlertReceiver, private readonly o: DispatcherOptions, kafka: KafkaTransport, readonly groupId: string,
    /** The grouping window in force: a reload may change it. */
    private readonly windowMs: () => number,
  ) {
    this.log = o.log.child({ module: 'alerts', receiver: r.name });
    const sessionTimeout = o.sessionTimeoutMs ?? 30_000;
    this.heartbeatMs = Math.min(3_000, Math.floor(sessionTimeout / 3));
    this.consumer = kafka.consumer({ groupId, sessionTimeoutMs: sessionTimeout, heartbeatIntervalMs: this.heartbeatMs, maxWaitMs: 250, retries: 10 });
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
    this.consumer.on('assigned', () => this.lag.clear());
    this.consumer.on('crash', (e) => {
      if (this.stopping.signal.aborted) return;
      const reason = `receiver ${this.r.name}: consumer stopped${e.restart ? '; its client restarts it' : ' and will not restart'}: ${e.error.message}`;
      if (e.restart) this.log.warn({ err: e.error.message }, reason);
      else {
        this.log.fatal({ err: e.error.message }, reason);
        this.o.onFatal?.(reason);
      }
    });
    await this.consumer.subscribe([this.o.decisionsTopic], this.o.fromBeginning ?? false);
    await this.consumer.run({
      partitionsConcurrently: 1,
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
    const committed = await admin.groupOffsets(this.groupId, topic);
    const unset = new Set(committed.filter((p) => Number(p.offset) < 0).map((p) => p.partition));
    if (unset.size === 0) return;
    const ends = await admin.topicOffsets(topic);
    const partitions = ends.filter((e) => unset.has(e.partition)).map((e) => ({ partition: e.partition, offset: e.high }));
    try {
      await admin.setGroupOffsets(this.groupId, topic, partitions);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'could not pin the start offsets (another instance runs the group)');
    }
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: BatchContext): Promise<void> {
    const { topic, partition } = batch;
    const hw = Number(batch.highWatermark);
    let uncommitted: string | undefined;
    const commit = async () => {
      if (uncommitted === undefined) return;
      await this.consumer.commit([{ topic, partition, offset: uncommitted }]);
      uncommitted = undefined;
    };
    for (const m of batch.messages) {
      this.lag.set(partition, Math.max(0, hw - Number(m.offset)));
      if (!isRunning() || isStale() || this.stopping.signal.aborted) break;
      const rec = decode(m);
      let sent = false;
      const rs = rec?.kind === 'resume' ? this.resolutions(rec) : [];
      const work = rec?.kind === 'detection' ? (this.accepts(rec.detection) ? (signal: AbortSignal) => this.admit(rec.detection, signal) : undefined)
        : rs.length > 0 ? (signal: AbortSignal) => this.resolve(rs, signal) : undefined;
      if (rec === undefined) this.log.debug({ partition, offset: m.offset }, 'not a detection or a resume; skipped');
      else if (work !== undefined) {
        const abort = new AbortController();
        const signal = AbortSignal.any([abort.signal, this.stopping.signal]);
        try {
          sent = await keepAlive(this.serial(() => work(signal)), heartbeat, this.heartbeatMs, abort);
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

  /**
   * The incidents a resume ends, for receivers that have incidents: the
   * detector that caused the suspension, or, for an operator's resume (no
   * detector), every detector the receiver takes.
   */
  private resolutions(c: Extract<Decoded, { kind: 'resume' }>): Resolution[] {
    const r = this.r;
    if (r.format !== 'pagerduty') return [];
    const detectors = c.detector === null ? r.detectors : r.detectors.includes(c.detector) ? [c.detector] : [];
    return detectors.map((detector) => ({ identity: c.identity, detector, commandId: c.commandId, reason: c.reason, issuedAt: c.issuedAt }));
  }

  /** A pending "N more" goes first: a trigger after the resolve would open the incident again. */
  private async resolve(rs: Resolution[], signal: AbortSignal): Promise<boolean> {
    for (const res of rs) {
      signal.throwIfAborted();
      const key = `${res.identity}\u0000${res.detector}`;
      const g = this.groups.get(key);
      if (g !== undefined) await this.flush(key, g, signal);
      const built = buildResolve(this.r, res)!;
      await this.send(built, { resolve: res }, signal);
    }
    return true;
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
    const windowMs = this.windowMs();
    const now = (this.o.now ?? Date.now)();
    const g = this.groups.get(key);
    if (g !== undefined && now < g.windowEnd) {
      g.folded++;
      g.last = d;
      this.stats.folded++;
      return false;
    }
    if (g !== undefined) await this.flush(key, g, signal);
    await this.sendAlert({ detection: d, folded: 0 }, signal);
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
    if (g.folded > 0 && g.last !== undefined) await this.sendAlert({ detection: g.last, folded: g.folded }, signal);
  }

  private sendAlert(alert: Alert, signal: AbortSignal): Promise<void> {
    return this.send(buildPayload(this.r, alert), { folded: alert.folded, detection: alert.detection }, signal);
  }

  /** Delivers one request; `what` is kept with it if it is dead-lettered. */
  private async send({ alertId, body }: { alertId: string; body: string }, what: Record<string, unknown>, signal: AbortSignal): Promise<void> {
    const r = this.r;
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
      await this.deadLetter(what, alertId, err, status);
    }
  }

  private async deadLetter(what: Record<string, unknown>, alertId: string, err: RetryError, status: number | undefined): Promise<void> {
    const { redis, redisPrefix } = this.o;
    const entry = JSON.stringify({
      alertId, receiver: this.r.name, reason: err.message, attempts: err.attempts, status: status ?? null,
      at: new Date((this.o.now ?? Date.now)()).toISOString(), ...what,
    });
    await storeDeadLetter(redis, redisPrefix, this.r.name, alertId, entry);
    this.stats.deadLettered++;
    this.log.error({ alertId, attempts: err.attempts, reason: err.message }, 'alert dead-lettered');
  }
}

/** A config loaded without the environment has no secrets: sending would go unsigned or without a routing key. */
function checkSecrets(config: AlertsConfig): void {
  for (const r of config.receivers) {
    const missing = r.secretEnv !== undefined && r.secret === null ? r.secretEnv : r.routingKeyEnv !== undefined && r.routingKey === null ? r.routingKeyEnv : undefined;
    if (missing !== undefined) {
      throw new WardenError('ALERTS_SECRET_MISSING', `receiver "${r.name}": no value for ${missing} (load the config with the environment: validateConfigDir(dir, { env: process.env }))`);
    }
  }
}

/** One consumer group per receiver on the decisions topic, so one receiver's outage never delays another. */
export function createDispatcher(o: DispatcherOptions): Dispatcher {
  checkSecrets(o.config);
  const kafka = createTransport(o.kafka, o.log);
  let config = o.config;
  const worker = (r: AlertReceiver) => new ReceiverWorker(r, o, kafka, `${o.groupPrefix}-${r.name}`, () => config.grouping.windowMs);
  let workers = config.receivers.map(worker);
  let started = false;
  let stopped = false;
  // Reloads apply one at a time, and never during start or stop.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => {});
    return run;
  };
  const startAll = async (ws: ReceiverWorker[]) => {
    if (ws.length === 0) return;
    const admin = kafka.admin();
    await admin.connect();
    try {
      await Promise.all(ws.map((w) => w.start(admin)));
    } finally {
      await admin.disconnect();
    }
  };
  return {
    start: () => serial(async () => {
      if (stopped) throw new WardenError('ALERTS_STOPPED', 'an alert dispatcher cannot be restarted; create a new one');
      if (started) return;
      started = true;
      await startAll(workers);
    }),
    stop: () => serial(async () => {
      if (!started || stopped) return;
      stopped = true;
      await Promise.all(workers.map((w) => w.stop()));
    }),
    reconfigure: (next) => serial(async () => {
      if (stopped) return;
      checkSecrets(next);
      const kept = workers.filter((w) => next.receivers.some((r) => sameReceiver(r, w.r)));
      const gone = workers.filter((w) => !kept.includes(w));
      const fresh = next.receivers.filter((r) => !kept.some((w) => w.r.name === r.name)).map(worker);
      // A changed receiver's counters go on: /metrics counters must not go back.
      for (const w of fresh) Object.assign(w.stats, gone.find((g) => g.r.name === w.r.name)?.stats);
      config = next;
      workers = [...kept, ...fresh];
      if (!started) return;
      await Promise.all(gone.map((w) => w.stop()));
      try {
        await startAll(fresh);
      } catch (err) {
        // Not kept as running: the next reload of the same config tries them again.
        workers = kept;
        await Promise.all(fresh.map((w) => w.stop().catch(() => {})));
        throw err;
      }
      if (gone.length + fresh.length > 0) {
        o.log.info({ stopped: gone.map((w) => w.r.name), started: fresh.map((w) => w.r.name) }, 'alert receivers reloaded');
      }
    }),
    stats() {
      const out: Record<string, ReceiverStats> = {};
      for (const w of workers) out[w.r.name] = { ...w.stats, queueDepth: w.queueDepth() };
      return out;
    },
  };
}
