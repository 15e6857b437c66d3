import type { ReceiverStats } from '../alerts/dispatcher.js';
import { Counter, createRegistry, Gauge, Histogram } from './metrics.js';

export interface PartitionLag {
  topic: string;
  partition: number;
  lag: number;
}

/** Where an 'error' event comes from: a Redis connection (ioredis emits one per failed connection attempt). */
interface ErrorSource {
  on(event: 'error', listener: (err: unknown) => void): unknown;
}

/**
 * The service's metrics, named after Prometheus conventions (base units,
 * _total for counters). Families with a small known set of label values start
 * at 0 for each, so rate() sees the first increase; other labelled families
 * show no sample until they have one.
 */
export function serviceMetrics(collect: {
  openBreakers: () => number;
  lag: () => Iterable<PartitionLag>;
  /** What /readyz and /healthz answer, for alert rules (Prometheus cannot read those). */
  ready?: () => Promise<boolean>;
  live?: () => boolean;
}) {
  const registry = createRegistry();
  const registers = [registry];
  const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = [], start: Array<Record<L, string>> = []): Counter<L> => {
    const c = new Counter<L>({ name, help, labelNames, registers });
    for (const labels of start) c.inc(labels, 0);
    return c;
  };
  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  const redisErrors = counter('warden_redis_errors_total', 'Redis connection errors (refused, reset, timed out), by connection (state or alerts).', ['connection']);
  return {
    registry,
    events: counter('warden_events_consumed_total', 'Events consumed from the actions topic.'),
    invalid: counter('warden_events_invalid_total', 'Events sent to the dead-letter topic, by error code.', ['code']),
    misrouted: counter('warden_events_misrouted_total', 'Valid events whose record key is not their identity (or is missing): such an event may land off its identity\'s owner partition.'),
    forwarded: counter('warden_events_forwarded_total', 'Events read on a partition that does not own their identity, forwarded to the one that does (a producer keyed by identity with murmur2 avoids the hop).'),
    detections: counter('warden_detections_total', 'Detections by detector, rule and decision.', ['detector', 'rule', 'decision']),
    commands: counter('warden_breaker_commands_total', 'Breaker commands published, by type.', ['type']),
    guardTrips: counter('warden_fleet_guard_trips_total', 'Suspensions the fleet guard turned into alerts, by agent class.', ['agent_class']),
    controls: counter('warden_operator_controls_total', 'Operator controls handled, by op and result (applied or ignored).', ['op', 'result']),
    openBreakers: new Gauge({
      name: 'warden_breakers_open', help: 'Suspensions in force on the partitions this process owns.', registers,
      collect() { this.set(collect.openBreakers()); },
    }),
    lag: new Gauge({
      name: 'warden_consumer_lag',
      help: 'Messages behind the high watermark per assigned partition: after every batch and from the broker on an interval.',
      labelNames: ['topic', 'partition'] as const, registers,
      collect() {
        this.reset();
        for (const p of collect.lag()) this.set({ topic: p.topic, partition: p.partition }, p.lag);
      },
    }),
    ready: new Gauge({
      name: 'warden_ready', help: '1 while /readyz answers 200 (Kafka connected with partitions assigned, Redis answering), else 0.', registers,
      async collect() { this.set((await collect.ready?.()) === true ? 1 : 0); },
    }),
    live: new Gauge({
      name: 'warden_live', help: '1 while /healthz answers 200 (consumer in its group, no partition with lag stalled), else 0.', registers,
      collect() { this.set(collect.live?.() === true ? 1 : 0); },
    }),
    batchSeconds: new Histogram({ name: 'warden_batch_duration_seconds', help: 'Time to process one partition batch, state and outputs included.', buckets, registers }),
    publishSeconds: new Histogram({ name: 'warden_publish_seconds', help: 'Time for Kafka to acknowledge one send of outputs (acks=all); failed sends are counted in warden_kafka_errors_total{kind="publish"}.', buckets, registers }),
    parked: counter('warden_outputs_parked_total', 'Outputs Kafka refused after retries, parked for an operator (`warden parked`), by topic.', ['topic']),
    retries: counter('warden_batch_retries_total', 'Batch steps retried after a retriable Redis or Kafka failure, by step (state or publish).', ['what'], [{ what: 'state' }, { what: 'publish' }]),
    stateLoss: counter('warden_state_loss_total', 'Losses of the Redis state this process found (its epoch marker gone or changed), by cause (missing or changed).', ['cause'], [{ cause: 'missing' }, { cause: 'changed' }]),
    reloads: counter('warden_config_reloads_total', 'Config reloads, by result.', ['result'], [{ result: 'applied' }, { result: 'refused' }]),
    kafkaErrors: counter(
      'warden_kafka_errors_total',
      'Kafka failures, by kind: crash (the consumer crashed), publish (a send of outputs failed), lag_probe (the broker did not give offsets).',
      ['kind'], [{ kind: 'crash' }, { kind: 'publish' }, { kind: 'lag_probe' }],
    ),
    redisErrors,
    /** Counts a Redis connection's 'error' events under `connection`. */
    countRedisErrors(source: ErrorSource, connection: string): void {
      redisErrors.inc({ connection }, 0);
      source.on('error', () => redisErrors.inc({ connection }));
    },
    /** Webhook figures come from the dispatcher's own counters when alerting is on. */
    attachAlerts(stats: () => Record<string, ReceiverStats>): void {
      const counted = (name: string, help: string, pick: (s: ReceiverStats) => number): void => {
        new Counter({
          name, help, labelNames: ['receiver'] as const, registers,
          collect() {
            this.reset();
            for (const [receiver, s] of Object.entries(stats())) this.inc({ receiver }, pick(s));
          },
        });
      };
      counted('warden_webhook_deliveries_total', 'Alerts delivered, by receiver.', (s) => s.delivered);
      counted('warden_webhook_failures_total', 'Failed delivery attempts, by receiver.', (s) => s.failures);
      counted('warden_webhook_retries_total', 'Delivery attempts repeated after a retriable failure, by receiver.', (s) => s.retries);
      counted('warden_webhook_dead_letters_total', 'Alerts kept as dead letters by this process, by receiver.', (s) => s.deadLettered);
      new Gauge({
        name: 'warden_webhook_queue_depth', help: 'Decisions not yet handled plus pending follow-ups, by receiver.', labelNames: ['receiver'] as const, registers,
        collect() {
          this.reset();
          for (const [receiver, s] of Object.entries(stats())) this.set({ receiver }, s.queueDepth);
        },
      });
    },
  };
}

export type ServiceMetrics = ReturnType<typeof serviceMetrics>;
