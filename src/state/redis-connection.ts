import { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { errorMessage, WardenError } from '../errors.js';

/** A connection to one Redis or to a Redis Cluster (REDIS_URL `redis+cluster://`). */
export type RedisClient = Redis | Cluster;

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface ClusterTarget {
  nodes: Array<{ host: string; port: number }>;
  username?: string;
  password?: string;
  tls: boolean;
}

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?$/;

export const isClusterUrl = (url: string): boolean => /^rediss?\+cluster:/i.test(url);

/**
 * `redis+cluster://[user:password@]host:port[,host:port...]` (`rediss+cluster` for TLS):
 * the seed nodes of a Redis Cluster; ioredis finds the others from them.
 */
export function parseClusterUrl(url: string): ClusterTarget {
  const m = CLUSTER_URL.exec(url);
  const bad = (why: string) => new WardenError('SETTINGS_INVALID', `REDIS_URL ${url.includes('@') ? `[redacted]@${url.slice(url.lastIndexOf('@') + 1)}` : url}: ${why} (expected redis+cluster://host:port,host:port,...)`);
  if (!m) throw bad('not a cluster URL');
  const [, scheme, auth, hosts, path] = m;
  if (path !== undefined && path !== '/' && path !== '/0') throw bad('a cluster has only database 0');
  if (hosts!.trim() === '') throw bad('no nodes');
  const nodes = hosts!.split(',').map((h) => {
    const hm = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(h.trim());
    const port = Number(hm?.[2]);
    if (!hm || !(port > 0 && port < 65536)) throw bad(`"${h}" is not host:port`);
    return { host: hm[1]!.replace(/^\[|\]$/g, ''), port };
  });
  const target: ClusterTarget = { nodes, tls: scheme === 'rediss' };
  if (auth !== undefined && auth !== '') {
    const i = auth.indexOf(':');
    const user = decodeURIComponent(i < 0 ? auth : auth.slice(0, i));
    if (i >= 0) target.password = decodeURIComponent(auth.slice(i + 1));
    if (user !== '') target.username = user;
  }
  return target;
}

/**
 * A Redis client for the service. Commands fail after a few reconnect attempts
 * instead of queueing forever, so a batch errors (retriably) and is redelivered
 * rather than hanging a partition and shutdown. With `log`, its errors are
 * logged (see logRedisErrors) from the first connection attempt on. A
 * `redis+cluster://` URL gives an ioredis Cluster with the same bounds.
 */
export function createRedis(url: string = process.env.REDIS_URL ?? DEFAULT_REDIS_URL, log?: { logger: Logger; name: string }): RedisClient {
  const common = {
    maxRetriesPerRequest: 3,
    connectTimeout: 5_000,
    commandTimeout: 30_000,
    connectionName: 'warden',
  };
  let redis: RedisClient;
  if (isClusterUrl(url)) {
    const t = parseClusterUrl(url);
    redis = new Cluster(t.nodes, {
      enableAutoPipelining: false,
      // A master that is down answers nothing and the others CLUSTERDOWN once they see it: fail the command soon,
      // retriably, so the batch is retried under supervision (heartbeats go on) instead of waiting in ioredis.
      maxRedirections: 6,
      retryDelayOnClusterDown: 300,
      retryDelayOnFailover: 300,
      retryDelayOnTryAgain: 300,
      slotsRefreshTimeout: 2_000,
      clusterRetryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
      redisOptions: {
        ...common,
        ...(t.username !== undefined ? { username: t.username } : {}),
        ...(t.password !== undefined ? { password: t.password } : {}),
        ...(t.tls ? { tls: {} } : {}),
      },
    });
  } else {
    redis = new Redis(url, {
      ...common,
      lazyConnect: false,
      enableAutoPipelining: false,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    });
  }
  if (log) logRedisErrors(redis, log.logger, log.name);
  return redis;
}

export const isCluster = (redis: RedisClient): redis is Cluster => redis instanceof Cluster;

/**
 * The connections to every master (one Redis: itself): where a SCAN must run
 * to see every key. On a cluster, waits for the slot map and refuses when a
 * master that serves slots has no connection, so a scan never silently leaves
 * a master's keys out.
 */
export async function masters(redis: RedisClient): Promise<Redis[]> {
  if (!isCluster(redis)) return [redis];
  if (redis.status !== 'ready' || redis.slots.length === 0) await redis.ping();
  let missing = unconnectedMasters(redis);
  if (missing.length > 0) {
    // ioredis drops a node whose connection ended and connects again on the next slot map: ask for one now.
    await new Promise<void>((resolve) => redis.refreshSlotsCache(() => resolve()));
    missing = unconnectedMasters(redis);
  }
  if (missing.length > 0) throw new WardenError('STATE_REDIS', `Redis Cluster master ${missing.join(', ')} is not connected`, { retriable: true });
  const owners = slotOwners(redis);
  return redis.nodes('master').filter((n) => owners.has(nodeKey(n)));
}

const nodeKey = (n: Redis): string => `${n.options.host}:${n.options.port}`;

function slotOwners(redis: Cluster): Set<string> {
  const owners = new Set<string>();
  for (const s of redis.slots) if (s?.[0] !== undefined) owners.add(s[0]);
  return owners;
}

function unconnectedMasters(redis: Cluster): string[] {
  const have = new Set(redis.nodes('master').map(nodeKey));
  return [...slotOwners(redis)].filter((o) => !have.has(o));
}

/** SCAN MATCH over every master, a page of keys at a time. */
export async function* scanKeys(redis: RedisClient, pattern: string, count = 1000): AsyncGenerator<string[]> {
  for (const node of await masters(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}

/**
 * Every master answers PING. On a cluster, also that the cluster serves every
 * slot (cluster_state:ok): a lost master fails the cluster once the others see it.
 */
export async function pingAll(redis: RedisClient): Promise<void> {
  if (!isCluster(redis)) {
    await redis.ping();
    return;
  }
  const nodes = await masters(redis);
  const states = await Promise.all(nodes.map(async (n) => {
    await n.ping();
    return /cluster_state:(\w+)/.exec(String(await n.cluster('INFO')))?.[1];
  }));
  const bad = states.find((s) => s !== 'ok');
  if (bad !== undefined) throw new Error(`cluster_state:${bad}`);
  if (redis.status !== 'ready') throw new Error(`cluster connection ${redis.status}`);
}

/** The part of a key Redis Cluster hashes: its first non-empty `{...}`, else the whole key. Keys with one tag share a slot. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}

/** A second connection like `redis` (ioredis' duplicate() copies no listeners), its errors logged the same way. */
export function duplicateRedis(redis: RedisClient, logger: Logger, name: string): RedisClient {
  const copy: RedisClient = isCluster(redis) ? redis.duplicate() : redis.duplicate();
  logRedisErrors(copy, logger, name);
  return copy;
}

/**
 * Every Redis error as one JSON log line, at most one per 5 s per connection
 * (with the count), never as ioredis' "Unhandled error event" on stderr.
 */
export function logRedisErrors(redis: RedisClient, log: Logger, name: string): void {
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
