import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { createDispatcher, type AlertsConfig, type Dispatcher } from '../alerts/index.js';
import type { WardenConfig } from '../config/types.js';
import { createRedis } from '../state/redis-connection.js';
import { RedisClassStore } from '../state/redis-class-store.js';
import { RedisFleetStore } from '../state/redis-fleet.js';
import { RedisWindowStore } from '../state/redis-store.js';
import { errorMessage } from '../errors.js';
import { RedisParkingLot } from './parked.js';
import { createKafka } from '../transport/kafka-client.js';
import { startRepublisher, type Republisher } from './republish.js';
import { EpochWatch } from './epoch-watch.js';
import { WardenService } from './service.js';
import { settingsFromEnv, type ServiceSettings } from './settings.js';

export interface Running {
  service: WardenService;
  /** Null while there are no receivers (a reload that adds one creates it). */
  readonly alerts: Dispatcher | null;
  /** A reloaded config: the engine's, and the alert receivers'. */
  setConfig(config: WardenConfig): Promise<void>;
  /** Resolves with the reason when the service or the dispatcher cannot go on: the process must exit non-zero. */
  fatal: Promise<string>;
  stop(): Promise<void>;
}

/** Every Redis error as one JSON log line, at most one per 5 s per connection (with the count), never as an unhandled event. */
function logRedisErrors(redis: Redis, log: Logger, name: string): void {
  let last = 0;
  let suppressed = 0;
  redis.on('error', (err: unknown) => {
    const now = Date.now();
    if (now - last < 5000) {
      suppressed++;
      return;
    }
    log.warn({ connection: name, err: errorMessage(err), suppressed }, 'Redis connection error');
    last = now;
    suppressed = 0;
  });
}

/** Wires Kafka, Redis and the on-call dispatcher from the settings and starts consuming. */
export async function startService(opts: {
  config: WardenConfig;
  log: Logger;
  settings?: ServiceSettings;
  recordLatency?: boolean;
  /** For the benchmark, which counts round trips; normally built from REDIS_URL. */
  redis?: Redis;
  /** How often the state epoch marker is read (default EPOCH_CHECK_MS). */
  epochCheckMs?: number;
}): Promise<Running> {
  const settings = opts.settings ?? settingsFromEnv();
  const redis = opts.redis ?? createRedis(settings.redis.url);
  const log = opts.log.child({ module: 'redis' });
  logRedisErrors(redis, log, 'state');
  const store = new RedisWindowStore({ redis, prefix: settings.redis.prefix, idleTtlMs: settings.redis.idleTtlMs });
  const fleet = new RedisFleetStore(redis, settings.redis.prefix);
  const parking = new RedisParkingLot(redis, settings.redis.prefix);
  // On the fleet store's connection, so a batch's fleet and class observes share one pipeline.
  const classes = new RedisClassStore({ redis, prefix: settings.redis.prefix });
  const service = new WardenService({ config: opts.config, settings, store, fleet, classes, parking, log: opts.log, recordLatency: opts.recordLatency ?? false });
  let fatal!: (reason: string) => void;
  const failed = new Promise<string>((resolve) => (fatal = resolve));
  service.on('warden.fatal', ({ reason }) => fatal(reason));
  // Before the first batch, so an epoch that began with a loss re-learns cold from the start.
  const epoch = new EpochWatch({
    redis, prefix: settings.redis.prefix, log: opts.log, everyMs: opts.epochCheckMs,
    onLoss: (lostAt, cause) => service.stateLost(lostAt, cause),
  });
  await epoch.start();
  // A restarted Redis is found at once, not a check interval later.
  const onReady = (): void => void epoch.poll();
  redis.on('ready', onReady);
  try {
    await service.start();
  } catch (err) {
    epoch.stop();
    throw err;
  }
  let republisher: Republisher;
  try {
    republisher = await startRepublisher({
      redis, prefix: settings.redis.prefix, kafka: createKafka(settings.kafka, opts.log), topic: settings.topics.commands,
      keyring: settings.keyring, intervalMs: settings.republishIntervalMs, log: opts.log,
    });
  } catch (err) {
    epoch.stop();
    await service.stop();
    throw err;
  }
  let alerts: Dispatcher | null = null;
  let alertsRedis: Redis | null = null;
  let stopping = false;
  // The receivers come with the config (alerts.yaml, loaded with the environment for their secrets).
  const startAlerts = async (config: AlertsConfig): Promise<void> => {
    alertsRedis = redis.duplicate();
    logRedisErrors(alertsRedis, log, 'alerts');
    alerts = createDispatcher({
      config,
      kafka: settings.kafka,
      decisionsTopic: settings.topics.decisions,
      groupPrefix: `${settings.kafka.groupId}-alerts`,
      redis: alertsRedis,
      redisPrefix: settings.redis.prefix,
      log: opts.log.child({ module: 'alerts' }),
      sessionTimeoutMs: settings.kafka.sessionTimeoutMs,
      onFatal: (reason) => fatal(`alert dispatcher: ${reason}`),
    });
    const d: Dispatcher = alerts;
    try {
      await d.start();
    } catch (err) {
      alerts = null;
      await d.stop().catch(() => {});
      await alertsRedis.quit().catch(() => {});
      alertsRedis = null;
      throw err;
    }
    service.metrics.attachAlerts(() => d.stats());
  };
  if (opts.config.alerts.receivers.length > 0) {
    try {
      await startAlerts(opts.config.alerts);
    } catch (err) {
      // The service already consumes: a failed start must not leave it running without the rest.
      epoch.stop();
      await Promise.all([republisher.stop(), service.stop()]).catch(() => {});
      throw err;
    }
  }
  return {
    service,
    get alerts() {
      return alerts;
    },
    async setConfig(next) {
      service.setConfig(next);
      // A reload in flight when the stop began must not start receivers after it.
      if (stopping) return;
      if (alerts !== null) await (alerts as Dispatcher).reconfigure(next.alerts);
      else if (next.alerts.receivers.length > 0) await startAlerts(next.alerts);
    },
    fatal: failed,
    async stop() {
      stopping = true;
      epoch.stop();
      redis.off('ready', onReady);
      await republisher.stop();
      await Promise.all([service.stop(), (alerts as Dispatcher | null)?.stop()]);
      await (alertsRedis as Redis | null)?.quit();
    },
  };
}
