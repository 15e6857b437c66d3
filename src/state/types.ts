/**
 * The window-store seam. Detectors say, per event, which state they need
 * (`Track`s); a store applies a whole partition batch of them in order and
 * returns, per event, the identity's view after that event. The in-memory and
 * Redis stores implement the same contract (test/contract/window-store.ts).
 *
 * All time is event time: buckets advance with the events' `ts`, never with
 * the wall clock, so a replay gives the same views as the live run.
 */

/** Learned-baseline parameters for a counter, applied when a bucket closes (src/state/baseline.ts). */
export interface BaselineParams {
  /** EWMA weight of the newest closed bucket in the flat mean and variance, 0 < alpha <= 1. */
  alpha: number;
  /** Weight of a day in an hour-of-day slot once it has 1/slotAlpha days (a running mean before). */
  slotAlpha: number;
  /** Until the identity is this old and has minBuckets, every bucket is learned as it is. */
  learningPeriodMs: number;
  minBuckets: number;
  /** After that, a bucket is learned at most at expected + learnZ sd + 1. */
  learnZ: number;
}

export type Track =
  /** Events per fixed bucket of `windowMs`, with the previous bucket kept for a sliding estimate. */
  | { kind: 'counter'; key: string; windowMs: number; baseline?: BaselineParams }
  /** Members ever seen (learned scope); at most `cap` are kept. */
  | { kind: 'seen'; key: string; member: string; cap: number }
  /** Distinct members per bucket of `windowMs` (fan-out); at most `cap` per bucket. */
  | { kind: 'distinct'; key: string; windowMs: number; member: string; cap: number };

export interface BaselineView {
  /** Closed buckets folded into the baseline (empty ones included). */
  n: number;
  /** Flat moments of bucket counts. */
  mean: number;
  variance: number;
  /** Expected events in a bucket of this hour of day, and their variance: the hour's profile once learned, else the flat moments. */
  expected: number;
  noise: number;
  /** The highest expectation and variance of this hour and its two neighbours: what a bar is set from. */
  expectedHigh: number;
  noiseHigh: number;
  /** Days learned for this hour of day (capped at 255). */
  slotN: number;
  /** The lowest expectation of this hour and its two neighbours: what absence is judged by. */
  expectedLow: number;
  /** The last closed hours' counts over what the profile expected of them (1 until they expected enough): a quiet day is below 1. */
  level: number;
}

export interface CounterView {
  windowMs: number;
  /** Start of the current bucket (ms, aligned to windowMs). */
  bucketStart: number;
  /** Events in the current bucket, this one included. */
  count: number;
  /** Events in the bucket before it (0 when it was not the adjacent one). */
  prev: number;
  baseline?: BaselineView;
}

export interface SeenView {
  /** True when this event added the member. */
  added: boolean;
  size: number;
  /** The set is at its cap and the member was not in it. */
  full: boolean;
}

export interface DistinctView {
  added: boolean;
  /** Distinct members in the current bucket. */
  count: number;
  /** Distinct members in the previous adjacent bucket. */
  prev: number;
  bucketStart: number;
  windowMs: number;
}

/** A counter shared by every identity of the event's agent class (src/state/class-store.ts). */
export interface ClassTrack {
  key: string;
  windowMs: number;
  baseline?: BaselineParams;
}

/** The event's class as its peers left it, this event included; attached by the engine, not the window store. */
export interface PeerView {
  agentClass: string;
  /** Identities of the class active lately (this one included). */
  active: number;
  /** Class counters the detectors asked for, with when each was created. */
  counters: Record<string, CounterView & { firstSeen: number }>;
}

export interface IdentityView {
  /** Set by the engine when a class store is configured and a detector keeps class state. */
  peers?: PeerView;
  identity: string;
  /** Event time of the identity's first event ever seen (this one if new). */
  firstSeen: number;
  /** Events seen for the identity, this one included. */
  events: number;
  counters: Record<string, CounterView>;
  seen: Record<string, SeenView>;
  distinct: Record<string, DistinctView>;
}

/** The sliding-window estimate: current bucket plus the overlapping share of the previous one. */
export function slidingCount(v: { count: number; prev: number; bucketStart: number; windowMs: number }, ts: number): number {
  const elapsed = Math.min(Math.max(ts - v.bucketStart, 0), v.windowMs);
  return v.count + v.prev * (1 - elapsed / v.windowMs);
}

export interface StateUpdate {
  /** Position in the partition; strictly increasing within a partition. */
  offset: bigint;
  identity: string;
  ts: number;
  tracks: Track[];
  /**
   * The update came from another partition (src/pipeline/forward.ts): it is
   * counted only if its source offset is above the highest one counted from
   * that partition, which the store keeps beside the partition's offsets.
   */
  forwarded?: { from: number; offset: bigint };
}

/**
 * One partition's batch. Exactly-once effect: a store remembers per partition
 * the last applied offset (window state) and the last committed offset
 * (breaker state + outputs), so a redelivered batch is neither counted twice
 * nor loses its outputs.
 */
export interface ApplyBatch {
  partition: string;
  updates: StateUpdate[];
}

export type ApplyOutcome =
  /** Already committed before: skip it, its outputs are in the outbox or published. */
  | { status: 'done' }
  /** The view after this event (freshly applied, or recovered from an applied but uncommitted batch). */
  | { status: 'view'; view: IdentityView; breaker: BreakerSnapshot | null };

export interface ApplyResult {
  outcomes: ApplyOutcome[];
  /** The partition's committed offset before this batch (null: none), so records without state (dead letters) can be skipped too. */
  committed: bigint | null;
}

/** Opaque per-identity breaker state, persisted with the commit. */
export type BreakerSnapshot = string;

export interface OutboxRecord {
  /** Destination: commands, decisions, alerts... */
  topic: string;
  key: string | null;
  value: Uint8Array;
  headers?: Record<string, string>;
  /** An explicit partition (a forwarded record); else the producer's partitioner places it by key. */
  partition?: number;
}

export interface CommitBatch {
  partition: string;
  /** Every offset up to and including this one is now fully processed. */
  offset: bigint;
  breakers: Map<string, BreakerSnapshot>;
  outbox: OutboxRecord[];
}

/** Where a commit put its records in the partition's outbox, so the committer can publish them from memory. */
export interface CommitReceipt {
  /** Sequence id of the first record appended (the partition's next id when there were none). */
  first: bigint;
  /** Sequence id of the oldest record left in the outbox before this commit (`first` when it was empty). */
  head: bigint;
}

export interface WindowStore {
  start(): Promise<void>;
  apply(batch: ApplyBatch): Promise<ApplyResult>;
  /** Atomically: breaker states, the outbox records and the committed offset. */
  commit(batch: CommitBatch): Promise<CommitReceipt>;
  /** Outbox records not yet acknowledged, oldest first, with their sequence ids. */
  pendingOutbox(partition: string, limit: number): Promise<Array<{ seq: bigint; record: OutboxRecord }>>;
  /** Drop outbox records up to and including `seq` once they are durable downstream. */
  ackOutbox(partition: string, seq: bigint): Promise<void>;
  /** Last committed offset for a partition, or null. */
  committedOffset(partition: string): Promise<bigint | null>;
  /** Resolves when the store answers; for readiness. */
  ping(): Promise<void>;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}
