import type { ChainableCommander } from 'ioredis';
import { hashTag, isCluster, type RedisClient } from './redis-connection.js';

export type PipelineReplies = Array<[Error | null, unknown]>;

interface Open {
  p: ChainableCommander;
  replies: Promise<PipelineReplies | null>;
}

const open = new WeakMap<RedisClient, Map<string, Open>>();

/**
 * Adds commands to the connection's pipeline of this tick, which goes out once
 * the current synchronous run is over: stores called side by side for one
 * batch (the window store's apply, the fleet guard's and the class store's
 * observes) share one round trip. Resolves with the replies of the commands
 * `build` added, in order. Every key `build` uses must share `key`'s hash tag:
 * on a Redis Cluster a pipeline goes to one node, so there each hash tag gets
 * its own pipeline of the tick, all sent at once (round trips in parallel).
 */
export function sameTick(redis: RedisClient, key: string, build: (p: ChainableCommander) => void): Promise<PipelineReplies | null> {
  const group = isCluster(redis) ? hashTag(key) : '';
  let byGroup = open.get(redis);
  if (!byGroup) {
    byGroup = new Map();
    open.set(redis, byGroup);
  }
  let cur = byGroup.get(group);
  if (!cur) {
    const p = redis.pipeline();
    const groups = byGroup;
    const replies = new Promise<PipelineReplies | null>((resolve) => {
      queueMicrotask(() => {
        groups.delete(group);
        resolve(p.exec());
      });
    });
    cur = { p, replies };
    byGroup.set(group, cur);
  }
  const from = cur.p.length;
  build(cur.p);
  const to = cur.p.length;
  return cur.replies.then((r) => (r ? r.slice(from, to) : null));
}
