import { scanKeys, type RedisClient } from './redis-connection.js';
import { parseRecord } from '../breaker/breaker.js';
import type { BreakerState } from '../breaker/types.js';
import { decodeIdentityState } from './identity-hash.js';
import { IDENTITY_FIELD, identitiesPattern, identityPattern, partitionOf } from './keys.js';

export interface IdentityBreaker {
  identity: string;
  partition: string;
  /** Event time of the identity's earliest event; null when no update was ever applied (only a breaker was stored). */
  firstSeen: number | null;
  /** Updates applied (events and operator controls) since its state was created. */
  events: number;
  breaker: BreakerState;
  /** Seq of the identity's last command (0: none since v2) and that command's event time. */
  seq: number;
  at: number;
}

const FIELDS = [IDENTITY_FIELD.id, IDENTITY_FIELD.state, IDENTITY_FIELD.breaker] as const;

/** Reads breaker state as the service stored it, for operators. Read-only. */
export async function* scanBreakers(redis: RedisClient, prefix: string, identity?: string): AsyncGenerator<IdentityBreaker> {
  const pattern = identity === undefined ? identitiesPattern(prefix) : identityPattern(prefix, identity);
  // Every master's keys on a cluster; a page's keys are all on one node, so its HMGETs are one pipeline there.
  for await (const keys of scanKeys(redis, pattern)) {
    // One round trip per SCAN page, not per identity: the service's republish round runs this on the state connection.
    const p = redis.pipeline();
    for (const key of keys) p.hmgetBuffer(key, ...FIELDS);
    const replies = await p.exec();
    if (!replies) throw new Error('Redis: pipeline returned nothing');
    for (const [i, key] of keys.entries()) {
      const [err, fields] = replies[i]!;
      if (err) throw err;
      const [idBytes, s, b] = fields as Array<Buffer | null>;
      if (idBytes == null) continue;
      const id = idBytes.toString('utf8');
      if (identity !== undefined && id !== identity) continue;
      if (identity === undefined && !b?.length) continue;
      const state = s == null ? null : decodeIdentityState(s);
      const record = parseRecord(b == null ? null : b.toString('utf8'));
      yield {
        identity: id, partition: partitionOf(key) ?? '', firstSeen: state?.firstSeen ?? null, events: state?.events ?? 0,
        breaker: record.state, seq: record.seq, at: record.at,
      };
    }
  }
}

/** Every breaker `scanBreakers` yields, by identity. */
export async function collectBreakers(redis: RedisClient, prefix: string, identity?: string): Promise<IdentityBreaker[]> {
  const found: IdentityBreaker[] = [];
  for await (const b of scanBreakers(redis, prefix, identity)) {
    // A snapshot with no scopes left only keeps the seq: nothing to list.
    if (identity === undefined && Object.keys(b.breaker).length === 0) continue;
    found.push(b);
  }
  return found.sort((a, b) => (a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0));
}
