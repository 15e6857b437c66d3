import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';

/**
 * A Redis client for the service. Commands fail after a few reconnect attempts
 * instead of queueing forever, so a batch errors (retriably) and is redelivered
 * rather than hanging a partition and shutdown. With `log`, its errors are
 * logged (see logRedisErrors) from the first connection attempt on.
 */
export function createRedis(url: string = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', log?: { logger: Logger; name: string }): Redis {
  const redis = new Redis(url, {
    lazyConnect: false,
    enableAutoPipelining: false,
    maxRetriesPerRequest: 3,
    connectTimeout: 5_000,
    commandTimeout: 30_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    connectionName: 'warden',
  });
  if (log) logRedisErrors(redis, log.logger, log.name);
  return redis;
}

/** A second connection like `redis` (ioredis' duplicate() copies no listeners), its errors logged the same way. */
export function duplicateRedis(redis: Redis, logger: Logger, name: string): Redis {
  const copy = redis.duplicate();
  logRedisErrors(copy, logger, name);
  return copy;
}

/**
 * Every Redis error as one JSON log line, at most one per 5 s per connection
 * (with the count), never as ioredis' "Unhandled error event" on stderr.
 */
export function logRedisErrors(redis: Redis, log: Logger, name: string): void {
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
