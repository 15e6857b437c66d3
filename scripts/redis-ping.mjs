// Exits 0 when Redis at the given URL answers PING within 2 s.
import { Redis } from 'ioredis';

const url = process.argv[2] ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
redis.on('error', () => {});
try {
  await redis.connect();
  const pong = await redis.ping();
  redis.disconnect();
  process.exit(pong === 'PONG' ? 0 : 1);
} catch (err) {
  console.error(`redis-ping: ${url}: ${err.message}`);
  redis.disconnect();
  process.exit(1);
}
