import { baselineView, newBaseline, rollBaseline, type BaselineState } from './baseline.js';
import type { BaselineParams, CounterView } from './types.js';

/**
 * Per agent class, counters shared by all its identities (peer groups): what
 * the class as a whole does per bucket, with the same learned baseline as an
 * identity's. One call per batch, beside the window store's apply.
 *
 * Like the fleet guard's counts, exact in the embedded pipeline (one
 * partition, batches in order) and approximate in the service, where
 * partitions add to the same class concurrently and a redelivered batch adds
 * again: class state informs detectors, it is never an identity's own count.
 */
export interface ClassCounterSpec {
  windowMs: number;
  baseline?: BaselineParams;
}

export interface ClassCounterBatch {
  spec: ClassCounterSpec;
  /** This batch's events on the counter, in event order: [bucketStart, events] runs, flattened. */
  runs: number[];
}

export interface ClassObservation {
  /** Per class, per counter key. */
  counters: Map<string, Map<string, ClassCounterBatch>>;
  /** Per class, the identities of this batch with their latest event time. */
  active: Map<string, Map<string, number>>;
  /** Event time the active counts are for (the batch's latest), and their window. */
  at: number;
  activeWindowMs: number;
}

export interface ClassCounterState {
  /** Event time the counter was created: its baseline speaks after learningPeriod, as an identity's does. */
  firstSeen: number;
  view: CounterView;
}

export interface ClassState {
  /** Identities with an event in (at - activeWindow, at], this batch's included. */
  active: number;
  /** As they were before this batch. */
  counters: Map<string, ClassCounterState>;
}

export interface ClassStore {
  /** Returns each class's named counters as before this batch and its active identities, then adds the batch. */
  observe(o: ClassObservation): Promise<Map<string, ClassState>>;
}

interface Counter {
  firstSeen: number;
  b: number;
  c: number;
  p: number;
  base: BaselineState | null;
}

/** The reference implementation, for the embedded pipeline and tests. */
export class MemoryClassStore implements ClassStore {
  private readonly counters = new Map<string, Map<string, Counter>>();
  private readonly active = new Map<string, Map<string, number>>();

  async observe(o: ClassObservation): Promise<Map<string, ClassState>> {
    const out = new Map<string, ClassState>();
    const from = o.at - o.activeWindowMs;
    for (const [cls, ids] of o.active) {
      const seen = this.get(this.active, cls);
      for (const [id, ts] of ids) if (ts > (seen.get(id) ?? -Infinity)) seen.set(id, ts);
      for (const [id, ts] of seen) if (ts <= from) seen.delete(id);
      out.set(cls, { active: seen.size, counters: new Map() });
    }
    for (const [cls, byKey] of o.counters) {
      let state = out.get(cls);
      if (!state) out.set(cls, (state = { active: this.active.get(cls)?.size ?? 0, counters: new Map() }));
      const mine = this.get(this.counters, cls);
      for (const [key, batch] of byKey) {
        const c = mine.get(key);
        if (c) state.counters.set(key, { firstSeen: c.firstSeen, view: viewOf(c, batch.spec) });
        add(mine, key, batch);
      }
    }
    return out;
  }

  private get<V>(by: Map<string, Map<string, V>>, cls: string): Map<string, V> {
    let m = by.get(cls);
    if (!m) by.set(cls, (m = new Map()));
    return m;
  }
}

function viewOf(c: Counter, spec: ClassCounterSpec): CounterView {
  const v: CounterView = { windowMs: spec.windowMs, bucketStart: c.b, count: c.c, prev: c.p };
  if (c.base) v.baseline = baselineView(c.base, c.b);
  return v;
}

function add(mine: Map<string, Counter>, key: string, batch: ClassCounterBatch): void {
  const { windowMs, baseline } = batch.spec;
  let c = mine.get(key);
  for (let i = 0; i < batch.runs.length; i += 2) {
    const idx = batch.runs[i]!;
    if (!c) {
      c = { firstSeen: idx, b: idx, c: 0, p: 0, base: baseline ? newBaseline() : null };
      mine.set(key, c);
    } else if (idx > c.b) {
      const gap = (idx - c.b) / windowMs;
      if (c.base && baseline) rollBaseline(c.base, c.c, gap, windowMs, baseline, c.b, c.firstSeen);
      c.p = gap === 1 ? c.c : 0;
      c.c = 0;
      c.b = idx;
    }
    c.c += batch.runs[i + 1]!;
  }
}
