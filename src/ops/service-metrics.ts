import type { ReceiverStats } from '../alerts/dispatcher.js';
import { Counter, Gauge, Histogram, Registry } from './metrics.js';

/** The service's metrics, named after Prometheus conventions (base units, _total for counters). */
export function serviceMetrics(collect: { openBreakers: () => number; lag: () => Array<[Record<string, string>, number]> }) {
  const registry = new Registry();
  return {
    registry,
    events: registry.register(new Counter('warden_events_consumed_total', 'Events consumed from the actions topic.')),
    invalid: registry.register(new Counter('warden_events_invalid_total', 'Events sent to the dead-letter topic, by error code.')),
    misrouted: registry.register(new Counter('warden_events_misrouted_total', 'Valid events whose record key is not their identity (or is missing): the identity may have a state per partition.')),
    detections: registry.register(new Counter('warden_detections_total', 'Detections by detector, rule and decision.')),
    commands: registry.register(new Counter('warden_breaker_commands_total', 'Breaker commands published, by type.')),
    guardTrips: registry.register(new Counter('warden_fleet_guard_trips_total', 'Suspensions the fleet guard turned into alerts, by agent class.')),
    controls: registry.register(new Counter('warden_operator_controls_total', 'Operator controls handled, by op and result (applied or ignored).')),
    openBreakers: registry.register(new Gauge('warden_breakers_open', 'Suspensions in force on the partitions this process owns.', () => [[undefined, collect.openBreakers()]])),
    lag: registry.register(new Gauge('warden_consumer_lag', 'Messages behind the high watermark, by partition: after every batch and from the broker on an interval.', collect.lag)),
    batchSeconds: registry.register(new Histogram('warden_batch_duration_seconds', 'Time to process one partition batch, state and outputs included.', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])),
    parked: registry.register(new Counter('warden_outputs_parked_total', 'Outputs Kafka refused after retries, parked for an operator (`warden parked`), by topic.')),
    retries: registry.register(new Counter('warden_batch_retries_total', 'Batch steps retried after a retriable Redis or Kafka failure, by step (state or publish).')),
    stateLoss: registry.register(new Counter('warden_state_loss_total', 'Losses of the Redis state this process found (its epoch marker gone or changed), by cause (missing or changed).')),
    reloads: registry.register(new Counter('warden_config_reloads_total', 'Config reloads, by result.')),
    /** Webhook figures come from the dispatcher's own counters when alerting is on. */
    attachAlerts(stats: () => Record<string, ReceiverStats>): void {
      const per = (name: string, help: string, type: 'counter' | 'gauge', pick: (s: ReceiverStats) => number): void => {
        registry.register({
          render: () => {
            const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
            for (const [receiver, s] of Object.entries(stats())) lines.push(`${name}{receiver="${receiver}"} ${pick(s)}`);
            return lines.join('\n');
          },
        });
      };
      per('warden_webhook_deliveries_total', 'Alerts delivered, by receiver.', 'counter', (s) => s.delivered);
      per('warden_webhook_failures_total', 'Failed delivery attempts, by receiver.', 'counter', (s) => s.failures);
      per('warden_webhook_retries_total', 'Delivery attempts repeated after a retriable failure, by receiver.', 'counter', (s) => s.retries);
      per('warden_webhook_dead_letters_total', 'Alerts kept as dead letters by this process, by receiver.', 'counter', (s) => s.deadLettered);
      per('warden_webhook_queue_depth', 'Decisions not yet handled plus pending follow-ups, by receiver.', 'gauge', (s) => s.queueDepth);
    },
  };
}

export type ServiceMetrics = ReturnType<typeof serviceMetrics>;
