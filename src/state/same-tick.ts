import type { ChainableCommander, Redis } from 'ioredis';

export type PipelineReplies = Array<[Error | null, unknown]>;

interface Open {
  p: ChainableCommander;
  replies: Promise<PipelineReplies | null>;
}

const open = new WeakMap<Redis, Open>();

/**
 * Adds commands to the connection's pipeline of this tick, which goes out once
 * the current synchronous run is over: stores called side by side for one
 * batch (the window store's apply, the fleet guard's and the class store's
 * observes) share one round trip. Resolves with the replies of the commands
 * `build` added, in order.
 */
export function sameTick(redis: Redis, build: (p: ChainableCommander) => void): Promise<PipelineReplies | null> {
  let cur = open.get(redis);
  if (!cur) {
    const p = redis.pipeline();
    const replies = new Promise<PipelineReplies | null>((resolve) => {
      queueMicrotask(() => {
        open.delete(redis);
        resolve(p.exec());
      });
    });
    cur = { p, replies };
    open.set(redis, cur);
  }
  const from = cur.p.length;
  build(cur.p);
  const to = cur.p.length;
  return cur.replies.then((r) => (r ? r.slice(from, to) : null));
}
