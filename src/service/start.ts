import type { Logger } from 'pino';
import type { RedisClient } from '../state/redis-connection.js';
import { createDispatcher, type AlertsConfig, type Dispatcher } from '../alerts/index.js';
import type { WardenConfig } from '../config/types.js';
import { createRedis, duplicateRedis, logRedisErrors } from '../state/redis-connection.js';
import { RedisClassStore } from '../state/redis-class-store.js';
import { RedisFleetStore } from '../state/redis-fleet.js';
import { RedisWindowStore } from '../state/redis-store.js';
import { RedisParkingLot } from './parked.js';
import { createTransport } from '../transport/kafka-client.js';
import { startRepublisher, type Republisher } from './republish.js';
import { EpochWatch } from './epoch-watch.js';
import { WardenService } from './service.js';
import { settingsFromEnv, type ServiceSettings } from './settings.js';
import { kafkaDependency, redisDependency, StartGate } from './start-gate.js';

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

/** Redis answered (WRONGPASS, NOAUTH, ...): trying again will not help. */
const isRedisReply = (err: unknown): boolean => err instanceof Error && err.name === 'ReplyError';

/** Wires Kafka, Redis and the on-call dispatcher from the settings and starts consuming. */
export async function startService(opts: {
  config: WardenConfig;
  log: Logger;
  settings?: ServiceSettings;
  recordLatency?: boolean;
  /** For the benchmark, which counts round trips; normally built from REDIS_URL. */
  redis?: RedisClient;
  /** How often the state epoch marker is read (default EPOCH_CHECK_MS). */
  epochCheckMs?: number;
  /** Bounds and names each wait on Kafka or Redis; by default one with the settings' start timeout. */
  gate?: StartGate;
  /** The service as soon as it exists, before it starts (for /metrics while it does). */
  onService?: (service: WardenService) => void;
}): Promise<Running> {
  const settings = opts.settings ?? settingsFromEnv();
  const gate = opts.gate ?? new StartGate(settings.startTimeoutMs);
  const log = opts.log.child({ module: 'redis' });
  const redis = opts.redis ?? createRedis(settings.redis.url, { logger: log, name: 'state' });
  if (opts.redis) logRedisErrors(redis, log, 'state');
  const kafkaDep = kafkaDependency(settings.kafka.brokers);
  const redisDep = redisDependency(settings.redis.url);
  try {
    // Until Redis answers a PING: refused connections are retried until the start timeout.
    // The connection's own error (ECONNREFUSED) says more than ioredis' "max retries per request".
    let seen: unknown;
    const note = (err: unknown): void => void (seen = err);
    redis.on('error', note);
    await gate.wait(redisDep, 'connecting to', () => redis.ping().catch((err: unknown) => {
      throw isRedisReply(err) || seen === undefined ? err : seen;
    }), (err) => !isRedisReply(err)).finally(() => redis.off('error', note));
  } catch (err) {
    if (!opts.redis) redis.disconnect();
    throw err;
  }
  const store = new RedisWindowStore({ redis, prefix: settings.redis.prefix, idleTtlMs: settings.redis.idleTtlMs });
  const fleet = new RedisFleetStore(redis, settings.redis.prefix);
  const parking = new RedisParkingLot(redis, settings.redis.prefix);
  // On the fleet store's connection, so a batch's fleet and class observes share one pipeline.
  const classes = new RedisClassStore({ redis, prefix: settings.redis.prefix });
  const service = new WardenService({ config: opts.config, settings, store, fleet, classes, parking, log: opts.log, recordLatency: opts.recordLatency ?? false });
  opts.onService?.(service);
  service.metrics.countRedisErrors(redis, 'state');
  let fatal!: (reason: string) => void;
  const failed = new Promise<string>((resolve) => (fatal = resolve));
  service.on('warden.fatal', ({ reason }) => fatal(reason));
  // Before the first batch, so an epoch that began with a loss re-learns cold from the start.
  const epoch = new EpochWatch({
    redis, prefix: settings.redis.prefix, log: opts.log, everyMs: opts.epochCheckMs,
    onLoss: (lostAt, cause) => service.stateLost(lostAt, cause),
  });
  // A failed start gives up at once: what it opened closes in the background (a dependency that does not answer must not hold up the exit).
  const abandon = (...more: Array<Promise<unknown> | undefined>): void => {
    epoch.stop();
    void Promise.allSettled([service.stop(), ...more]).then(() => (opts.redis ? undefined : redis.disconnect()));
  };
  try {
    await gate.wait(redisDep, 'reading the state epoch marker from', () => epoch.start());
  } catch (err) {
    abandon();
    throw err;
  }
  // A restarted Redis is found at once, not a check interval later.
  const onReady = (): void => void epoch.poll();
  redis.on('ready', onReady);
  try {
    await service.start(gate);
  } catch (err) {
    abandon();
    throw err;
  }
  let republisher: Republisher;
  try {
    republisher = await gate.wait(kafkaDep, 'connecting the republisher to', () => startRepublisher({
      redis, prefix: settings.redis.prefix, kafka: createTransport(settings.kafka, opts.log), topic: settings.topics.commands,
      keyring: settings.keyring, intervalMs: settings.republishIntervalMs, log: opts.log,
    }));
  } catch (err) {
    abandon();
    throw err;
  }
  let alerts: Dispatcher | null = null;
  let alertsRedis: RedisClient | null = null;
  let stopping = false;
  // The receivers come with the config (alerts.yaml, loaded with the environment for their secrets).
  const startAlerts = async (config: AlertsConfig): Promise<void> => {
    const own = duplicateRedis(redis, log, 'alerts');
    alertsRedis = own;
    service.metrics.countRedisErrors(own, 'alerts');
    alerts = createDispatcher({
      config,
      kafka: settings.kafka,
      decisionsTopic: settings.topics.decisions,
      groupPrefix: `${settings.kafka.groupId}-alerts`,
      redis: own,
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
      alertsRedis = null;
      await d.stop().catch(() => {});
      await own.quit().catch(() => {});
      throw err;
    }
    service.metrics.attachAlerts(() => d.stats());
  };
  if (opts.config.alerts.receivers.length > 0) {
    try {
      // Not bounded: it joins its receivers' groups, which waits for their rebalances like the service's own join.
      gate.note(`starting the alert dispatcher (joining its groups on Kafka at ${kafkaDep.address})`);
      await startAlerts(opts.config.alerts);
    } catch (err) {
      // The service already consumes: a failed start must not leave it running without the rest.
      abandon(republisher.stop());
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
      await (alertsRedis as RedisClient | null)?.quit();
    },
  };
}
