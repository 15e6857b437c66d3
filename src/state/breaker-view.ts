import type { Redis } from 'ioredis';
import { parseRecord } from '../breaker/breaker.js';
import type { BreakerState } from '../breaker/types.js';
import { identitiesPattern, identityPattern } from './keys.js';

export interface IdentityBreaker {
  identity: string;
  partition: string;
  firstSeen: number;
  events: number;
  breaker: BreakerState;
  /** Seq of the identity's last command (0: none since v2) and that command's event time. */
  seq: number;
  at: number;
}

/** Reads breaker state as the service stored it, for operators. Read-only. */
export async function* scanBreakers(redis: Redis, prefix: string, identity?: string): AsyncGenerator<IdentityBreaker> {
  const pattern = identity === undefined ? identitiesPattern(prefix) : identityPattern(prefix, identity);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const [id, f, e, b] = await redis.hmget(key, '_id', '_f', '_e', '_b');
      if (id == null || (identity !== undefined && id !== identity)) continue;
      if (identity === undefined && !b) continue;
      const partition = /\{p:([^}]*)\}/.exec(key)?.[1] ?? '';
      const { state, seq, at } = parseRecord(b ?? null);
      yield { identity: id, partition, firstSeen: Number(f), events: Number(e), breaker: state, seq, at };
    }
  } while (cursor !== '0');
}

/** Every breaker `scanBreakers` yields, by identity. */
export async function collectBreakers(redis: Redis, prefix: string, identity?: string): Promise<IdentityBreaker[]> {
  const found: IdentityBreaker[] = [];
  for await (const b of scanBreakers(redis, prefix, identity)) {
    // A snapshot with no scopes left only keeps the seq: nothing to list.
    if (identity === undefined && Object.keys(b.breaker).length === 0) continue;
    found.push(b);
  }
  return found.sort((a, b) => (a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0));
}
