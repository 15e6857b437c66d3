import { Decoder, Encoder } from '@msgpack/msgpack';
import type { Redis } from 'ioredis';
import { errorMessage, WardenError } from '../errors.js';
import { MAX_EMPTY_FOLD } from './baseline.js';
import { DEFAULT_PREFIX, metaKey, outboxKey, partitionKey, validatePrefix } from './keys.js';
import { defineScripts } from './script-loader.js';
import type {
  ApplyBatch, ApplyOutcome, ApplyResult, BaselineParams, CommitBatch, IdentityView, OutboxRecord, StateUpdate, WindowStore,
} from './types.js';

const DAY = 86_400_000;
const encoder = new Encoder();
const decoder = new Decoder();

/** The scripts ioredis exposes after defineScripts (src/state/lua/*.lua). */
interface ScriptCommands {
  wardenApplyBuffer(base: string, batch: Buffer, ttlMs: number, maxFold: number): Promise<Buffer>;
  wardenCommit(base: string, batch: Buffer, ttlMs: number, ...records: Buffer[]): Promise<number>;
  wardenAck(base: string, seq: string): Promise<number>;
}

export interface RedisWindowStoreOptions {
  redis: Redis;
  /** Key prefix, [A-Za-z0-9:_-]{1,64}; default `warden`. */
  prefix?: string;
  /** Wall-clock time after which an idle identity's state is dropped; default 14 days. */
  idleTtlMs?: number;
}

/**
 * The window store the service runs on: one Lua call per partition batch for
 * apply and one for commit, both atomic, with offsets stored next to the state
 * (see src/state/lua/apply-1.lua for the key layout). Views are identical to
 * MemoryWindowStore's, floats included. shutdown() closes the given connection.
 */
export class RedisWindowStore implements WindowStore {
  private readonly redis: Redis;
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
  }

  async flush(): Promise<void> {}

  async ping(): Promise<void> {
    await this.call('PING', () => this.redis.ping());
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
    const reply = await this.call('apply', () => this.scripts.wardenApplyBuffer(base, blob, this.idleTtlMs, MAX_EMPTY_FOLD));
    return decodeApply(reply);
  }

  async commit(batch: CommitBatch): Promise<void> {
    const base = partitionKey(this.prefix, batch.partition);
    const breakers: string[] = [];
    for (const [identity, snap] of batch.breakers) breakers.push(identity, snap);
    const records = batch.outbox.map((r) => toBuffer(encoder.encode([r.topic, r.key, r.value, r.headers ?? null])));
    const blob = toBuffer(encoder.encode([offsetString(batch.offset), breakers]));
    await this.call('commit', () => this.scripts.wardenCommit(base, blob, this.idleTtlMs, ...records));
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
    const c = await this.call('committedOffset', () => this.redis.hget(key, 'committed'));
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

/** Redis replies that a retry can outlive. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY)\b/;

function toWardenError(err: unknown, what: string): WardenError {
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

function offsetString(offset: bigint): string {
  if (offset < 0n) throw new WardenError('STATE_INCONSISTENT', `offsets must not be negative, got ${offset}`);
  return offset.toString();
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** The batch as apply-1.lua reads it: track keys, baseline params, identities and members interned, tracks flattened. */
function encodeApply(updates: readonly StateUpdate[]): Buffer {
  const keys: string[] = [];
  const keyIndex = new Map<string, number>();
  const params: number[] = [];
  const paramIndex = new Map<BaselineParams, number>();
  const ids: string[] = [];
  const idIndex = new Map<string, number>();
  const members: string[] = [];
  const memberIndex = new Map<string, number>();
  const flat: Array<string | number> = [];
  const keyOf = (k: string): number => {
    let i = keyIndex.get(k);
    if (i === undefined) {
      i = keys.push(k);
      keyIndex.set(k, i);
    }
    return i;
  };
  const memberOf = (m: string): number => {
    let i = memberIndex.get(m);
    if (i === undefined) {
      i = members.push(m);
      memberIndex.set(m, i);
    }
    return i;
  };
  for (const u of updates) {
    let id = idIndex.get(u.identity);
    if (id === undefined) {
      id = ids.push(u.identity);
      idIndex.set(u.identity, id);
    }
    flat.push(offsetString(u.offset), id, u.ts, 0);
    const slots = flat.length - 1;
    for (const t of u.tracks) {
      if (t.kind === 'counter') {
        let p = 0;
        if (t.baseline) {
          const b = t.baseline;
          p = paramIndex.get(b) ?? 0;
          if (p === 0) {
            p = params.push(b.alpha, b.slotAlpha, b.learningPeriodMs, b.minBuckets, b.learnZ) / 5;
            paramIndex.set(b, p);
          }
        }
        flat.push(1, keyOf(t.key), t.windowMs, p);
      } else if (t.kind === 'seen') {
        flat.push(2, keyOf(t.key), memberOf(t.member), t.cap);
      } else {
        flat.push(3, keyOf(t.key), t.windowMs, memberOf(t.member), t.cap);
      }
    }
    flat[slots] = flat.length - slots - 1;
  }
  return toBuffer(encoder.encode([keys, params, ids, members, flat]));
}

/** The reply's outcomes are flat: 0 (done), or a view's length then the view. */
function decodeApply(reply: Buffer): ApplyResult {
  const [committed, flat] = decoder.decode(reply) as [string | false, Array<string | number | boolean>];
  const outcomes: ApplyOutcome[] = [];
  let i = 0;
  while (i < flat.length) {
    const len = flat[i] as number;
    if (len === 0) {
      outcomes.push({ status: 'done' });
      i += 1;
    } else {
      outcomes.push(decodeView(flat, i + 1, i + 1 + len));
      i += 1 + len;
    }
  }
  return { outcomes, committed: committed === false ? null : BigInt(committed) };
}

/** A view as apply-1.lua flattens it: each track starts with an integer giving its kind (mod 4) and small values. */
function decodeView(v: Array<string | number | boolean>, from: number, end: number): ApplyOutcome {
  const view: IdentityView = { identity: v[from] as string, firstSeen: v[from + 1] as number, events: v[from + 2] as number, counters: {}, seen: {}, distinct: {} };
  let i = from + 4;
  while (i < end) {
    const code = v[i] as number;
    const key = v[i + 1] as string;
    switch (code % 4) {
      case 1:
        view.counters[key] = { windowMs: v[i + 2] as number, bucketStart: v[i + 3] as number, count: (code - 1) / 4, prev: v[i + 4] as number };
        i += 5;
        break;
      case 2:
        view.counters[key] = {
          windowMs: v[i + 2] as number, bucketStart: v[i + 3] as number, count: (code - 2) / 4, prev: v[i + 4] as number,
          baseline: {
            n: v[i + 5] as number, mean: v[i + 6] as number, variance: v[i + 7] as number, expected: v[i + 8] as number,
            noise: v[i + 9] as number, expectedHigh: v[i + 10] as number, noiseHigh: v[i + 11] as number, slotN: v[i + 12] as number,
          },
        };
        i += 13;
        break;
      case 3: {
        const flags = (code - 3) / 4;
        view.seen[key] = { added: Math.floor(flags / 2) % 2 === 1, size: Math.floor(flags / 4), full: flags % 2 === 1 };
        i += 2;
        break;
      }
      case 0: {
        const flags = code / 4;
        view.distinct[key] = {
          added: flags % 2 === 1, count: Math.floor(flags / 2), prev: v[i + 2] as number, bucketStart: v[i + 3] as number, windowMs: v[i + 4] as number,
        };
        i += 5;
        break;
      }
      default:
        throw new WardenError('STATE_INCONSISTENT', `unexpected track code ${String(code)} in a Redis view`);
    }
  }
  const breaker = v[from + 3];
  return { status: 'view', view, breaker: typeof breaker === 'string' ? breaker : null };
}

function decodeOutboxEntry(entry: Buffer): { seq: bigint; record: OutboxRecord } {
  const [seq, [topic, key, value, headers]] = decoder.decode(entry) as [number, [string, string | null, Uint8Array, Record<string, string> | null]];
  // Copy: the decoded bytes are a view into the whole reply buffer.
  const record: OutboxRecord = { topic, key, value: new Uint8Array(value) };
  if (headers !== null) record.headers = headers;
  return { seq: BigInt(seq), record };
}
