import { Counter, Gauge, Histogram, Registry } from './metrics.js';

/** The service's metrics, named after Prometheus conventions (base units, _total for counters). */
export function serviceMetrics(collect: { openBreakers: () => number; lag: () => Array<[Record<string, string>, number]> }) {
  const registry = new Registry();
  return {
    registry,
    events: registry.register(new Counter('warden_events_consumed_total', 'Events consumed from the actions topic.')),
    invalid: registry.register(new Counter('warden_events_invalid_total', 'Events sent to the dead-letter topic, by error code.')),
    detections: registry.register(new Counter('warden_detections_total', 'Detections by detector, rule and decision.')),
    commands: registry.register(new Counter('warden_breaker_commands_total', 'Breaker commands published, by type.')),
    openBreakers: registry.register(new Gauge('warden_breakers_open', 'Suspensions in force on the partitions this process owns.', () => [[undefined, collect.openBreakers()]])),
    lag: registry.register(new Gauge('warden_consumer_lag', 'Messages behind the high watermark at the last fetch, by partition.', collect.lag)),
    batchSeconds: registry.register(new Histogram('warden_batch_duration_seconds', 'Time to process one partition batch, state and outputs included.', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])),
    reloads: registry.register(new Counter('warden_config_reloads_total', 'Config reloads, by result.')),
  };
}

export type ServiceMetrics = ReturnType<typeof serviceMetrics>;
