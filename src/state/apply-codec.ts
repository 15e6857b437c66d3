// The wire format of lua/apply-1.lua: the batch it reads and the reply it
// returns. Each track kind's wire entry and view are described in its include
// (lua/includes/counter.lua, seen.lua, distinct.lua).
import { Decoder, Encoder } from '@msgpack/msgpack';
import { WardenError } from '../errors.js';
import type { ApplyOutcome, ApplyResult, BaselineParams, IdentityView, StateUpdate } from './types.js';

const encoder = new Encoder();
const decoder = new Decoder();

export function offsetString(offset: bigint): string {
  if (offset < 0n) throw new WardenError('STATE_INCONSISTENT', `offsets must not be negative, got ${offset}`);
  return offset.toString();
}

export function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** The batch as apply-1.lua reads it: track keys, baseline params, identities and members interned, tracks flattened. */
export function encodeApply(updates: readonly StateUpdate[]): Buffer {
  const keys: string[] = [];
  const keyIndex = new Map<string, number>();
  const params: number[] = [];
  const paramIndex = new Map<BaselineParams, number>();
  const ids: string[] = [];
  const idIndex = new Map<string, number>();
  const members: string[] = [];
  const memberIndex = new Map<string, number>();
  const flat: Array<string | number> = [];
  const forwards: Array<string | number> = [];
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
  for (const [n, u] of updates.entries()) {
    if (u.forwarded) forwards.push(n + 1, String(u.forwarded.from), offsetString(u.forwarded.offset));
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
  return toBuffer(encoder.encode([keys, params, ids, members, flat, forwards]));
}

/** The reply's outcomes are flat: 0 (done), or a view's length then the view. */
export function decodeApply(reply: Buffer): ApplyResult {
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
            expectedLow: v[i + 13] as number, level: v[i + 14] as number,
          },
        };
        i += 15;
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
