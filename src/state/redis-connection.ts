import { Redis } from 'ioredis';

/**
 * A Redis client for the service. Commands fail after a few reconnect attempts
 * instead of queueing forever, so a batch errors (retriably) and is redelivered
 * rather than hanging a partition and shutdown.
 */
export function createRedis(url: string = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'): Redis {
  return new Redis(url, {
    lazyConnect: false,
    enableAutoPipelining: false,
    maxRetriesPerRequest: 3,
    connectTimeout: 5_000,
    commandTimeout: 30_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    connectionName: 'warden',
  });
}
