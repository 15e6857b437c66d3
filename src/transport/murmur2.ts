/**
 * Kafka's default partitioner for keyed records: Java's
 * `toPositive(Utils.murmur2(key)) % partitions`, which kafkajs'
 * DefaultPartitioner and librdkafka's `murmur2`/`murmur2_random` share
 * (test/unit/route.test.ts checks it against kafkajs).
 */
const M = 0x5bd1e995;

function mix(h: number, k: number): number {
  k = Math.imul(k, M);
  k ^= k >>> 24;
  return Math.imul(h, M) ^ Math.imul(k, M);
}

function tail(h: number, b0: number, b1: number, b2: number, rest: number): number {
  if (rest === 3) h ^= b2 << 16;
  if (rest >= 2) h ^= b1 << 8;
  if (rest >= 1) h = Math.imul(h ^ b0, M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  return (h ^ (h >>> 15)) | 0;
}

export function murmur2(data: Uint8Array, length = data.length): number {
  let h = (0x9747b28c ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) h = mix(h, data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
  return tail(h, data[whole] ?? 0, data[whole + 1] ?? 0, data[whole + 2] ?? 0, length & 3);
}

// Identities are at most 2048 bytes; a longer key takes an allocation.
const scratch = Buffer.allocUnsafe(8192);

/** The partition Kafka's default partitioner gives a record with this key. */
export function keyPartition(key: string | Uint8Array, partitions: number): number {
  let h: number;
  if (typeof key !== 'string') h = murmur2(key);
  else if (key.length * 3 <= scratch.length) h = murmur2(scratch, scratch.write(key, 0, 'utf8'));
  else h = murmur2(Buffer.from(key, 'utf8'));
  return (h & 0x7fffffff) % partitions;
}
