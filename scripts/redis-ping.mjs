// Exits 0 when Redis at the given URL (one Redis, or redis+cluster://) answers PING within 2 s.
import { createRedis } from '../dist/src/state/redis-connection.js';

const url = process.argv[2] ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = createRedis(url);
redis.on('error', () => {});
const timer = setTimeout(() => {
  console.error(`redis-ping: ${url}: no answer within 2 s`);
  redis.disconnect();
  process.exit(1);
}, 2000);
try {
  const pong = await redis.ping();
  clearTimeout(timer);
  redis.disconnect();
  process.exit(pong === 'PONG' ? 0 : 1);
} catch (err) {
  console.error(`redis-ping: ${url}: ${err.message}`);
  redis.disconnect();
  process.exit(1);
}
