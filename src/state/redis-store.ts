import { Decoder, Encoder } from '@msgpack/msgpack';
import type { Redis } from 'ioredis';
import { isCluster, pingAll, type RedisClient } from './redis-connection.js';
import { errorMessage, WardenError } from '../errors.js';
import { decodeApply, encodeApply, offsetString, toBuffer } from './apply-codec.js';
import { MAX_EMPTY_FOLD } from './baseline.js';
import { DEFAULT_PREFIX, META_FIELD, metaKey, outboxKey, partitionKey, validatePrefix } from './keys.js';
import { sameTick } from './same-tick.js';
import { defineScripts } from './script-loader.js';
import type { ApplyBatch, ApplyResult, CommitBatch, CommitReceipt, OutboxRecord, WindowStore } from './types.js';

const DAY = 86_400_000;
const encoder = new Encoder();
const decoder = new Decoder();

/** The scripts ioredis exposes after defineScripts (src/state/lua/*.lua). */
interface ScriptCommands {
  wardenApplyBuffer(base: string, batch: Buffer, ttlMs: number, maxFold: number): Promise<Buffer>;
  wardenCommit(base: string, batch: Buffer, ttlMs: number, ...records: Buffer[]): Promise<[number, string, string]>;
  wardenAck(base: string, seq: string): Promise<number>;
}

export interface RedisWindowStoreOptions {
  redis: RedisClient;
  /** Key prefix, [A-Za-z0-9:_-]{1,64}; default `warden`. */
  prefix?: string;
  /** Wall-clock time after which an idle identity's state is dropped; default 14 days. */
  idleTtlMs?: number;
}

/**
 * The window store the service runs on: one Lua call per partition batch for
 * apply and one for commit, both atomic, with offsets stored next to the state
 * (see src/state/lua/includes/keys.lua for the key layout). Views are identical to
 * MemoryWindowStore's, floats included. shutdown() closes the given connection.
 */
export class RedisWindowStore implements WindowStore {
  private readonly redis: RedisClient;
  private readonly scripts: ScriptCommands;
  private readonly prefix: string;
  private readonly idleTtlMs: number;

  constructor(opts: RedisWindowStoreOptions) {
    this.redis = opts.redis;
    this.prefix = validatePrefix(opts.prefix ?? DEFAULT_PREFIX);
    this.idleTtlMs = opts.idleTtlMs ?? 14 * DAY;
    if (!Number.isSafeInteger(this.idleTtlMs) || this.idleTtlMs < 1) {
      throw new WardenError('SETTINGS_INVALID', `idleTtlMs must be a positive integer, got ${opts.idleTtlMs}`);
    }
    defineScripts(this.redis);
    this.scripts = this.redis as unknown as ScriptCommands;
  }

  async start(): Promise<void> {
    const info = await this.call('INFO', () => this.redis.info('server'));
    const version = /redis_version:(\d+)/.exec(info)?.[1];
    // PEXPIRETIME arrived in 7.0.
    if (version !== undefined && Number(version) < 7) {
      throw new WardenError('STATE_REDIS', `Redis 7 or newer is required, found ${/redis_version:(\S+)/.exec(info)?.[1]}`);
    }
    if (!isCluster(this.redis)) {
      // A cluster node reached as one Redis answers MOVED for most keys: say what to change instead.
      const cluster = await this.call('INFO', () => (this.redis as Redis).info('cluster'));
      if (/cluster_enabled:1/.test(cluster)) {
        throw new WardenError('STATE_REDIS', 'this Redis is a Redis Cluster node: name the cluster as REDIS_URL=redis+cluster://host:port,host:port,... (README "Redis Cluster")');
      }
    }
  }

  async flush(): Promise<void> {}

  async ping(): Promise<void> {
    await this.call('PING', () => pingAll(this.redis));
  }

  async shutdown(): Promise<void> {
    if (this.redis.status === 'end') return;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  async apply(batch: ApplyBatch): Promise<ApplyResult> {
    const base = partitionKey(this.prefix, batch.partition);
    const blob = encodeApply(batch.updates);
    // Goes out with the fleet guard's and the class store's observes of the same batch (sameTick): one round trip for all three.
    const replies = await this.call('apply', () => sameTick(this.redis, base, (p) => {
      (p as unknown as ScriptCommands).wardenApplyBuffer(base, blob, this.idleTtlMs, MAX_EMPTY_FOLD);
    }));
    if (!replies || replies.length !== 1) throw new WardenError('STATE_REDIS', 'Redis apply: pipeline returned nothing', { retriable: true });
    const [err, reply] = replies[0]!;
    if (err) throw toWardenError(err, 'apply');
    return decodeApply(reply as Buffer);
  }

  async commit(batch: CommitBatch): Promise<CommitReceipt> {
    const base = partitionKey(this.prefix, batch.partition);
    const breakers: string[] = [];
    for (const [identity, snap] of batch.breakers) breakers.push(identity, snap);
    const records = batch.outbox.map((r) => toBuffer(encoder.encode(r.partition === undefined ? [r.topic, r.key, r.value, r.headers ?? null] : [r.topic, r.key, r.value, r.headers ?? null, r.partition])));
    const blob = toBuffer(encoder.encode([offsetString(batch.offset), breakers]));
    const [, head, first] = await this.call('commit', () => this.scripts.wardenCommit(base, blob, this.idleTtlMs, ...records));
    return { first: BigInt(first), head: BigInt(head) };
  }

  async pendingOutbox(partition: string, limit: number): Promise<Array<{ seq: bigint; record: OutboxRecord }>> {
    const n = Math.floor(limit);
    if (!(n > 0)) return [];
    const key = outboxKey(partitionKey(this.prefix, partition));
    const entries = await this.call('pendingOutbox', () => this.redis.lrangeBuffer(key, 0, n - 1));
    return entries.map(decodeOutboxEntry);
  }

  async ackOutbox(partition: string, seq: bigint): Promise<void> {
    const base = partitionKey(this.prefix, partition);
    await this.call('ackOutbox', () => this.scripts.wardenAck(base, seq.toString()));
  }

  async committedOffset(partition: string): Promise<bigint | null> {
    const key = metaKey(partitionKey(this.prefix, partition));
    const c = await this.call('committedOffset', () => this.redis.hget(key, META_FIELD.committed));
    return c === null ? null : BigInt(c);
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toWardenError(err, what);
    }
  }
}

/**
 * Redis replies that a retry can outlive. NOSCRIPT: a node restarted without
 * its script cache; ioredis loads the script again on the next call to it, but
 * a cluster pipeline resent after a lost connection can hand the reply back.
 */
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOSCRIPT)\b/;

/** A failed call as a Warden error: the scripts' own codes, else STATE_REDIS, retriable unless Redis refused the command. */
export function toWardenError(err: unknown, what: string): WardenError {
  if (err instanceof WardenError) return err;
  const msg = errorMessage(err);
  if (msg.includes('WARDEN_KEY_COLLISION')) {
    return new WardenError('STATE_KEY_COLLISION', `Redis ${what}: ${msg.slice(msg.indexOf('WARDEN_KEY_COLLISION') + 21)}`, { cause: err });
  }
  if (msg.includes('WARDEN_INCONSISTENT')) {
    return new WardenError('STATE_INCONSISTENT', `Redis ${what}: ${msg.slice(msg.indexOf('WARDEN_INCONSISTENT') + 20)}`, { cause: err });
  }
  const isReply = err instanceof Error && err.name === 'ReplyError';
  return new WardenError('STATE_REDIS', `Redis ${what} failed: ${msg}`, { cause: err, retriable: !isReply || TRANSIENT_REPLY.test(msg) });
}

function decodeOutboxEntry(entry: Buffer): { seq: bigint; record: OutboxRecord } {
  const [seq, [topic, key, value, headers, partition]] = decoder.decode(entry) as [number, [string, string | null, Uint8Array, Record<string, string> | null, number?]];
  // Copy: the decoded bytes are a view into the whole reply buffer.
  const record: OutboxRecord = { topic, key, value: new Uint8Array(value) };
  if (headers !== null) record.headers = headers;
  if (partition !== undefined) record.partition = partition;
  return { seq: BigInt(seq), record };
}
