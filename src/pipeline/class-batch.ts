import type { ClassCounterBatch, ClassState, ClassStore } from '../state/class-store.js';
import type { ClassTrack, CounterView, PeerView } from '../state/types.js';

interface Running {
  firstSeen: number;
  view: CounterView;
}

/**
 * The class store's part of one engine batch: gather the batch's class
 * counter increments in event order, fetch the classes as they were before
 * it (beside the window apply), then give each event its class as seen at
 * that event: the state before the batch plus the batch's events up to it.
 */
export class ClassBatch {
  private readonly counters = new Map<string, Map<string, ClassCounterBatch>>();
  private readonly active = new Map<string, Map<string, number>>();
  private at = -Infinity;
  private before: Map<string, ClassState> | undefined;
  private readonly running = new Map<string, Map<string, Running>>();

  constructor(private readonly store: ClassStore, private readonly activeWindowMs: number) {}

  note(agentClass: string, identity: string, ts: number, tracks: readonly ClassTrack[]): void {
    let ids = this.active.get(agentClass);
    if (!ids) this.active.set(agentClass, (ids = new Map()));
    if (ts > (ids.get(identity) ?? -Infinity)) ids.set(identity, ts);
    if (ts > this.at) this.at = ts;
    if (tracks.length === 0) return;
    let byKey = this.counters.get(agentClass);
    if (!byKey) this.counters.set(agentClass, (byKey = new Map()));
    for (const t of tracks) {
      let b = byKey.get(t.key);
      if (!b) byKey.set(t.key, (b = { spec: t.baseline ? { windowMs: t.windowMs, baseline: t.baseline } : { windowMs: t.windowMs }, runs: [] }));
      const idx = Math.floor(ts / t.windowMs) * t.windowMs;
      const r = b.runs;
      // Events are in order within an identity, not across: a late event joins its bucket's run or the last one.
      if (r.length > 0 && r[r.length - 2]! >= idx) r[r.length - 1]! += 1;
      else r.push(idx, 1);
    }
  }

  async observe(): Promise<void> {
    if (this.active.size === 0) return;
    this.before = await this.store.observe({ counters: this.counters, active: this.active, at: this.at, activeWindowMs: this.activeWindowMs });
  }

  /** The class at this event, this event included; call in event order. */
  peersAt(agentClass: string, ts: number, tracks: readonly ClassTrack[]): PeerView {
    const state = this.before?.get(agentClass);
    const out: PeerView = { agentClass, active: state?.active ?? 1, counters: {} };
    let mine = this.running.get(agentClass);
    if (!mine) this.running.set(agentClass, (mine = new Map()));
    for (const t of tracks) {
      let r = mine.get(t.key);
      const idx = Math.floor(ts / t.windowMs) * t.windowMs;
      if (!r) {
        const b = state?.counters.get(t.key);
        r = b
          ? { firstSeen: b.firstSeen, view: { ...b.view } }
          : { firstSeen: idx, view: { windowMs: t.windowMs, bucketStart: idx, count: 0, prev: 0 } };
        mine.set(t.key, r);
      }
      const v = r.view;
      if (idx > v.bucketStart) {
        v.prev = idx - v.bucketStart === t.windowMs ? v.count : 0;
        v.count = 0;
        v.bucketStart = idx;
      }
      v.count += 1;
      out.counters[t.key] = { ...v, firstSeen: r.firstSeen };
    }
    return out;
  }
}
