import type { Logger } from 'pino';
import type { WardenConfig } from '../config/types.js';
import { createRedis } from '../state/redis-connection.js';
import { RedisWindowStore } from '../state/redis-store.js';
import { WardenService } from './service.js';
import { settingsFromEnv, type ServiceSettings } from './settings.js';

/** Wires Kafka and Redis from the settings and starts consuming. */
export async function startService(opts: { config: WardenConfig; log: Logger; settings?: ServiceSettings; recordLatency?: boolean }): Promise<WardenService> {
  const settings = opts.settings ?? settingsFromEnv();
  const redis = createRedis(settings.redis.url);
  const store = new RedisWindowStore({ redis, prefix: settings.redis.prefix, idleTtlMs: settings.redis.idleTtlMs });
  const service = new WardenService({ config: opts.config, settings, store, log: opts.log, recordLatency: opts.recordLatency ?? false });
  await service.start();
  return service;
}
