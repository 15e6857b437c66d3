import { scanKeys, type RedisClient } from '../state/redis-connection.js';
import { parkedKey, parkedPattern, partitionKey } from '../state/keys.js';
import type { OutboxRecord } from '../state/types.js';

/** An output the service could not publish after retries, kept for an operator (`warden parked`). */
export interface ParkedOutput {
  partition: string;
  seq: string;
  topic: string;
  key: string | null;
  bytes: number;
  /** Why Kafka refused it, the last time. */
  error: string;
  /** Wall time it was parked, ISO 8601. */
  at: string;
  /** The record itself, so it can be re-published by hand. */
  value: string;
  headers: Record<string, string> | null;
}

/** Per partition, at most this many are kept (newest); the metric and the log count every one. */
export const PARKED_MAX = 10_000;

export interface ParkingLot {
  park(partition: string, seq: bigint, record: OutboxRecord, error: string): Promise<ParkedOutput>;
  count(partitions: readonly string[]): Promise<number>;
}

export function parkedEntry(partition: string, seq: bigint, record: OutboxRecord, error: string, now = Date.now()): ParkedOutput {
  return {
    partition, seq: seq.toString(), topic: record.topic, key: record.key, bytes: record.value.byteLength, error, at: new Date(now).toISOString(),
    value: Buffer.from(record.value.buffer, record.value.byteOffset, record.value.byteLength).toString('base64'), headers: record.headers ?? null,
  };
}

/** A Redis LIST per partition, beside the partition's outbox. */
export class RedisParkingLot implements ParkingLot {
  constructor(private readonly redis: RedisClient, private readonly prefix: string) {}

  async park(partition: string, seq: bigint, record: OutboxRecord, error: string): Promise<ParkedOutput> {
    const entry = parkedEntry(partition, seq, record, error);
    const key = parkedKey(partitionKey(this.prefix, partition));
    await this.redis.multi().rpush(key, JSON.stringify(entry)).ltrim(key, -PARKED_MAX, -1).exec();
    return entry;
  }

  async count(partitions: readonly string[]): Promise<number> {
    let n = 0;
    for (const p of partitions) n += await this.redis.llen(parkedKey(partitionKey(this.prefix, p)));
    return n;
  }
}

export class MemoryParkingLot implements ParkingLot {
  readonly entries: ParkedOutput[] = [];
  async park(partition: string, seq: bigint, record: OutboxRecord, error: string): Promise<ParkedOutput> {
    const entry = parkedEntry(partition, seq, record, error);
    this.entries.push(entry);
    return entry;
  }
  async count(partitions: readonly string[]): Promise<number> {
    return this.entries.filter((e) => partitions.includes(e.partition)).length;
  }
}

/** Every parked output under a prefix, oldest first per partition (for `warden parked`). */
export async function listParked(redis: RedisClient, prefix: string): Promise<ParkedOutput[]> {
  const out: ParkedOutput[] = [];
  const keys: string[] = [];
  for await (const found of scanKeys(redis, parkedPattern(prefix))) keys.push(...found);
  for (const key of keys.sort()) for (const s of await redis.lrange(key, 0, -1)) out.push(JSON.parse(s) as ParkedOutput);
  return out;
}
