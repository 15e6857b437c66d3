import { Decoder, Encoder } from '@msgpack/msgpack';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './redis-connection.js';
import { WardenError } from '../errors.js';
import { toBuffer } from './apply-codec.js';
import { MAX_EMPTY_FOLD } from './baseline.js';
import type { ClassCounterState, ClassObservation, ClassState, ClassStore } from './class-store.js';
import { classBaseKey, validatePrefix } from './keys.js';
import { sameTick } from './same-tick.js';
import { toWardenError } from './redis-store.js';
import { defineScripts } from './script-loader.js';
import type { BaselineParams, CounterView } from './types.js';

const DAY = 86_400_000;
const encoder = new Encoder();
const decoder = new Decoder();

interface ClassScript {
  wardenClassBuffer(base: string, batch: Buffer, counterTtlMs: number, activeTtlMs: number, maxFold: number): ChainableCommander;
}

export interface RedisClassStoreOptions {
  redis: RedisClient;
  prefix: string;
  /** Wall-clock time after which an idle class's counters are dropped; default 7 days. */
  idleTtlMs?: number;
}

/**
 * The class store the service runs on: per agent class a hash of its counters
 * (packed as counter.lua packs an identity's) and a sorted set of its active
 * identities, under their own hash tag (lua/class-1.lua). One script call per
 * batch, in the same pipeline as the fleet guard's observe when both run for
 * the batch; the results are MemoryClassStore's, floats included.
 */
export class RedisClassStore implements ClassStore {
  private readonly base: string;
  private readonly idleTtlMs: number;

  constructor(private readonly opts: RedisClassStoreOptions) {
    this.base = classBaseKey(validatePrefix(opts.prefix));
    this.idleTtlMs = opts.idleTtlMs ?? 7 * DAY;
    defineScripts(opts.redis);
  }

  async observe(o: ClassObservation): Promise<Map<string, ClassState>> {
    const classes = [...o.active.keys()];
    for (const cls of o.counters.keys()) if (!o.active.has(cls)) classes.push(cls);
    if (classes.length === 0) return new Map();
    const params: number[] = [];
    const paramIndex = new Map<BaselineParams, number>();
    const flat: Array<string | number> = [];
    for (const cls of classes) {
      const ids = o.active.get(cls);
      flat.push(cls, ids ? 1 : 0, ids ? ids.size * 2 : 0);
      if (ids) for (const [id, ts] of ids) flat.push(id, ts);
      const byKey = o.counters.get(cls);
      flat.push(byKey?.size ?? 0);
      if (byKey) {
        for (const [key, { spec, runs }] of byKey) {
          let pi = 0;
          if (spec.baseline) {
            pi = paramIndex.get(spec.baseline) ?? 0;
            if (pi === 0) {
              const b = spec.baseline;
              pi = params.push(b.alpha, b.slotAlpha, b.learningPeriodMs, b.minBuckets, b.learnZ) / 5;
              paramIndex.set(b, pi);
            }
          }
          flat.push(key, spec.windowMs, pi, runs.length);
          for (const x of runs) flat.push(x);
        }
      }
    }
    const blob = toBuffer(encoder.encode([o.at, o.activeWindowMs, params, flat]));
    const activeTtl = Math.max(Math.ceil(o.activeWindowMs * 2), 60_000);
    const reply = await this.call(sameTick(this.opts.redis, this.base, (p) => {
      (p as unknown as ClassScript).wardenClassBuffer(this.base, blob, this.idleTtlMs, activeTtl, MAX_EMPTY_FOLD);
    }));
    const r = decoder.decode(reply) as number[];
    const out = new Map<string, ClassState>();
    let q = 0;
    for (const cls of classes) {
      const counters = new Map<string, ClassCounterState>();
      out.set(cls, { active: r[q++]!, counters });
      const byKey = o.counters.get(cls);
      if (!byKey) continue;
      for (const [key, { spec }] of byKey) {
        const kind = r[q++]!;
        if (kind === 0) continue;
        const firstSeen = r[q]!;
        const view: CounterView = { windowMs: spec.windowMs, bucketStart: r[q + 1]!, count: r[q + 2]!, prev: r[q + 3]! };
        q += 4;
        if (kind === 2) {
          view.baseline = {
            n: r[q]!, mean: r[q + 1]!, variance: r[q + 2]!, expected: r[q + 3]!,
            noise: r[q + 4]!, expectedHigh: r[q + 5]!, noiseHigh: r[q + 6]!, slotN: r[q + 7]!, expectedLow: r[q + 8]!, level: r[q + 9]!,
          };
          q += 10;
        }
        counters.set(key, { firstSeen, view });
      }
    }
    return out;
  }

  private async call(replies: ReturnType<typeof sameTick>): Promise<Buffer> {
    let res;
    try {
      res = await replies;
    } catch (err) {
      throw toWardenError(err, 'class observe');
    }
    if (!res || res.length !== 1) throw new WardenError('STATE_REDIS', 'Redis class observe: pipeline returned nothing', { retriable: true });
    const [err, v] = res[0]!;
    if (err) throw toWardenError(err, 'class observe');
    return v as Buffer;
  }
}
