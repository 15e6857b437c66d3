import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { createDispatcher, loadAlertsConfig, type Dispatcher } from '../alerts/index.js';
import { ConfigError } from '../config/errors.js';
import type { WardenConfig } from '../config/types.js';
import { createRedis } from '../state/redis-connection.js';
import { RedisClassStore } from '../state/redis-class-store.js';
import { RedisFleetStore } from '../state/redis-fleet.js';
import { RedisWindowStore } from '../state/redis-store.js';
import { WardenService } from './service.js';
import { settingsFromEnv, type ServiceSettings } from './settings.js';

export interface Running {
  service: WardenService;
  alerts: Dispatcher | null;
  stop(): Promise<void>;
}

/** Wires Kafka, Redis and the on-call dispatcher from the settings and starts consuming. */
export async function startService(opts: {
  config: WardenConfig;
  log: Logger;
  settings?: ServiceSettings;
  recordLatency?: boolean;
  /** For the benchmark, which counts round trips; normally built from REDIS_URL. */
  redis?: Redis;
}): Promise<Running> {
  const settings = opts.settings ?? settingsFromEnv();
  const alertsConfig = await loadAlertsConfig(opts.config.dir);
  if (!alertsConfig.ok) throw new ConfigError(alertsConfig.issues);
  const redis = opts.redis ?? createRedis(settings.redis.url);
  const store = new RedisWindowStore({ redis, prefix: settings.redis.prefix, idleTtlMs: settings.redis.idleTtlMs });
  const fleet = new RedisFleetStore(redis, settings.redis.prefix);
  // On the fleet store's connection, so a batch's two observes share one pipeline. Opt-in: see WARDEN_PEERS.
  const classes = settings.peers ? { classes: new RedisClassStore({ redis, prefix: settings.redis.prefix }) } : {};
  const service = new WardenService({ config: opts.config, settings, store, fleet, ...classes, log: opts.log, recordLatency: opts.recordLatency ?? false });
  await service.start();
  let alerts: Dispatcher | null = null;
  let alertsRedis: Redis | null = null;
  if (alertsConfig.config.receivers.length > 0) {
    alertsRedis = redis.duplicate();
    alerts = createDispatcher({
      config: alertsConfig.config,
      kafka: settings.kafka,
      decisionsTopic: settings.topics.decisions,
      groupPrefix: `${settings.kafka.groupId}-alerts`,
      redis: alertsRedis,
      redisPrefix: settings.redis.prefix,
      log: opts.log.child({ module: 'alerts' }),
      sessionTimeoutMs: settings.kafka.sessionTimeoutMs,
    });
    await alerts.start();
    service.metrics.attachAlerts(() => alerts!.stats());
  }
  return {
    service,
    alerts,
    async stop() {
      await Promise.all([service.stop(), alerts?.stop()]);
      await alertsRedis?.quit();
    },
  };
}
