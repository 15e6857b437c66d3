import { WardenError } from '../errors.js';
import { baselineView, newBaseline, rollBaseline, type BaselineState } from './baseline.js';
import type {
  ApplyBatch, ApplyOutcome, ApplyResult, BreakerSnapshot, CommitBatch, CounterView,
  CommitReceipt, DistinctView, IdentityView, OutboxRecord, SeenView, Track, WindowStore,
} from './types.js';

interface CounterState { b: number; c: number; p: number; base: BaselineState | null }
interface DistinctState { b: number; cur: Set<string>; p: number }
interface IdentityState {
  firstSeen: number;
  events: number;
  counters: Map<string, CounterState>;
  seen: Map<string, Set<string>>;
  distinct: Map<string, DistinctState>;
}
interface PartitionState {
  applied: bigint;
  committed: bigint;
  pending: Map<bigint, ApplyOutcome>;
  outbox: Array<{ seq: bigint; record: OutboxRecord }>;
  nextSeq: bigint;
  /** Per source partition, the highest forwarded offset counted here. */
  forwarded: Map<number, bigint>;
}

const NONE = -1n;

/** The reference window store: what the Redis store's Lua must reproduce exactly. */
export class MemoryWindowStore implements WindowStore {
  private readonly identities = new Map<string, IdentityState>();
  private readonly breakers = new Map<string, BreakerSnapshot>();
  private readonly partitions = new Map<string, PartitionState>();

  async start(): Promise<void> {}
  async flush(): Promise<void> {}
  async ping(): Promise<void> {}
  async shutdown(): Promise<void> {}

  async apply(batch: ApplyBatch): Promise<ApplyResult> {
    const before = this.partitions.get(batch.partition)?.committed ?? NONE;
    return { outcomes: this.applySync(batch), committed: before === NONE ? null : before };
  }

  /** Synchronous core, used directly by the embedded pipeline to avoid a promise per batch. */
  applySync(batch: ApplyBatch): ApplyOutcome[] {
    const part = this.partition(batch.partition);
    const outcomes: ApplyOutcome[] = new Array(batch.updates.length);
    for (let i = 0; i < batch.updates.length; i++) {
      const u = batch.updates[i]!;
      if (u.offset <= part.committed) {
        outcomes[i] = { status: 'done' };
      } else if (u.offset <= part.applied) {
        const pending = part.pending.get(u.offset);
        if (!pending) {
          throw new WardenError('STATE_INCONSISTENT', `partition ${batch.partition}: offset ${u.offset} was applied but its view is not pending`);
        }
        outcomes[i] = pending;
      } else if (u.forwarded && !this.firstForward(part, u.forwarded)) {
        // A forward published again (a crash between publish and ack): counted already. Kept pending as done, so a redo agrees.
        const outcome: ApplyOutcome = { status: 'done' };
        part.pending.set(u.offset, outcome);
        part.applied = u.offset;
        outcomes[i] = outcome;
      } else {
        const view = this.applyOne(u.identity, u.ts, u.tracks);
        const outcome: ApplyOutcome = { status: 'view', view, breaker: this.breakers.get(u.identity) ?? null };
        part.pending.set(u.offset, outcome);
        part.applied = u.offset;
        outcomes[i] = outcome;
      }
    }
    return outcomes;
  }

  async commit(batch: CommitBatch): Promise<CommitReceipt> {
    return this.commitSync(batch);
  }

  commitSync(batch: CommitBatch): CommitReceipt {
    const part = this.partition(batch.partition);
    const receipt = { first: part.nextSeq, head: part.outbox[0]?.seq ?? part.nextSeq };
    // '' means no breaker state left: delete it, as the Redis store deletes the field.
    for (const [identity, snap] of batch.breakers) {
      if (snap === '') this.breakers.delete(identity);
      else this.breakers.set(identity, snap);
    }
    for (const record of batch.outbox) part.outbox.push({ seq: part.nextSeq++, record });
    if (batch.offset > part.committed) part.committed = batch.offset;
    if (part.applied < part.committed) part.applied = part.committed;
    for (const off of part.pending.keys()) if (off <= part.committed) part.pending.delete(off);
    return receipt;
  }

  async pendingOutbox(partition: string, limit: number): Promise<Array<{ seq: bigint; record: OutboxRecord }>> {
    return this.partition(partition).outbox.slice(0, limit);
  }

  async ackOutbox(partition: string, seq: bigint): Promise<void> {
    const part = this.partition(partition);
    let n = 0;
    while (n < part.outbox.length && part.outbox[n]!.seq <= seq) n++;
    part.outbox.splice(0, n);
  }

  async committedOffset(partition: string): Promise<bigint | null> {
    const c = this.partitions.get(partition)?.committed ?? NONE;
    return c === NONE ? null : c;
  }

  /** True, and noted, when a forward's source offset is above the highest counted from its partition. */
  private firstForward(part: PartitionState, f: { from: number; offset: bigint }): boolean {
    const max = part.forwarded.get(f.from);
    if (max !== undefined && f.offset <= max) return false;
    part.forwarded.set(f.from, f.offset);
    return true;
  }

  /** Number of identities held, for tests and the demo summary. */
  get size(): number {
    return this.identities.size;
  }

  private partition(name: string): PartitionState {
    let p = this.partitions.get(name);
    if (!p) {
      p = { applied: NONE, committed: NONE, pending: new Map(), outbox: [], nextSeq: 0n, forwarded: new Map() };
      this.partitions.set(name, p);
    }
    return p;
  }

  private applyOne(identity: string, ts: number, tracks: Track[]): IdentityView {
    let s = this.identities.get(identity);
    if (!s) {
      s = { firstSeen: ts, events: 0, counters: new Map(), seen: new Map(), distinct: new Map() };
      this.identities.set(identity, s);
    } else if (ts < s.firstSeen) {
      s.firstSeen = ts;
    }
    s.events += 1;
    const view: IdentityView = { identity, firstSeen: s.firstSeen, events: s.events, counters: {}, seen: {}, distinct: {} };
    for (const t of tracks) {
      if (t.kind === 'counter') view.counters[t.key] = applyCounter(s, t, ts);
      else if (t.kind === 'seen') view.seen[t.key] = applySeen(s, t);
      else view.distinct[t.key] = applyDistinct(s, t, ts);
    }
    return view;
  }
}

function bucketOf(ts: number, windowMs: number): number {
  return Math.floor(ts / windowMs) * windowMs;
}

function applyCounter(s: IdentityState, t: Extract<Track, { kind: 'counter' }>, ts: number): CounterView {
  const idx = bucketOf(ts, t.windowMs);
  let c = s.counters.get(t.key);
  if (!c) {
    c = { b: idx, c: 0, p: 0, base: t.baseline ? newBaseline() : null };
    s.counters.set(t.key, c);
  } else if (idx > c.b) {
    const gap = (idx - c.b) / t.windowMs;
    if (c.base && t.baseline) rollBaseline(c.base, c.c, gap, t.windowMs, t.baseline, c.b, s.firstSeen);
    c.p = gap === 1 ? c.c : 0;
    c.c = 0;
    c.b = idx;
  }
  c.c += 1;
  const v: CounterView = { windowMs: t.windowMs, bucketStart: c.b, count: c.c, prev: c.p };
  if (c.base) v.baseline = baselineView(c.base, c.b);
  return v;
}

function applySeen(s: IdentityState, t: Extract<Track, { kind: 'seen' }>): SeenView {
  let set = s.seen.get(t.key);
  if (!set) {
    set = new Set();
    s.seen.set(t.key, set);
  }
  if (set.has(t.member)) return { added: false, size: set.size, full: false };
  if (set.size >= t.cap) return { added: false, size: set.size, full: true };
  set.add(t.member);
  return { added: true, size: set.size, full: false };
}

function applyDistinct(s: IdentityState, t: Extract<Track, { kind: 'distinct' }>, ts: number): DistinctView {
  const idx = bucketOf(ts, t.windowMs);
  let d = s.distinct.get(t.key);
  if (!d) {
    d = { b: idx, cur: new Set(), p: 0 };
    s.distinct.set(t.key, d);
  } else if (idx > d.b) {
    d.p = idx - d.b === t.windowMs ? d.cur.size : 0;
    d.cur = new Set();
    d.b = idx;
  }
  let added = false;
  if (!d.cur.has(t.member) && d.cur.size < t.cap) {
    d.cur.add(t.member);
    added = true;
  }
  return { added, count: d.cur.size, prev: d.p, bucketStart: d.b, windowMs: t.windowMs };
}
