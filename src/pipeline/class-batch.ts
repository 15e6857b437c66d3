import type { ClassCounterBatch, ClassState, ClassStore } from '../state/class-store.js';
import type { ClassTrack, PeerView } from '../state/types.js';

interface Running {
  out: PeerView;
  state: ClassState | undefined;
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
  private readonly running = new Map<string, Running>();

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

  /**
   * The class at this event, this event included; call in event order. The
   * objects are reused from one event to the next: a view is read by the
   * detectors of its own event only.
   */
  peersAt(agentClass: string, ts: number, tracks: readonly ClassTrack[]): PeerView {
    let cls = this.running.get(agentClass);
    if (!cls) {
      const state = this.before?.get(agentClass);
      cls = { out: { agentClass, active: state?.active ?? 1, counters: {} }, state };
      this.running.set(agentClass, cls);
    }
    const counters = cls.out.counters;
    for (const t of tracks) {
      let v = counters[t.key];
      const idx = Math.floor(ts / t.windowMs) * t.windowMs;
      if (!v) {
        const b = cls.state?.counters.get(t.key);
        v = b ? { ...b.view, firstSeen: b.firstSeen } : { windowMs: t.windowMs, bucketStart: idx, count: 0, prev: 0, firstSeen: idx };
        counters[t.key] = v;
      }
      if (idx > v.bucketStart) {
        v.prev = idx - v.bucketStart === t.windowMs ? v.count : 0;
        v.count = 0;
        v.bucketStart = idx;
      }
      v.count += 1;
    }
    return cls.out;
  }
}
