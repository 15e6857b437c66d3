import type { AnyDetector, DetectorContext, Expectation, Finding } from '../detector.js';
import type { AgentEvent } from '../event/types.js';
import type { IdentityView } from '../state/types.js';

/** Silence is looked for each time a partition's event time crosses a minute. */
export const ABSENCE_CHECK_MS = 60_000;
/** An identity no detector expects anything of is forgotten this long after its last event. */
const KEEP_MS = 6 * 3_600_000;

interface Entry {
  key: string;
  detector: AnyDetector;
  ctx: DetectorContext;
  last: AgentEvent;
  held: Map<string, Expectation>;
  /** Event time the silence becomes a finding; null when nothing is expected. */
  due: number | null;
  /** Event time of the entry's one node in the heap: due, else when it is forgotten. */
  queued: number | null;
}

export interface Overdue {
  detector: AnyDetector;
  finding: Finding;
  last: AgentEvent;
  ctx: DetectorContext;
  /** Event time of the finding: when the silence became one. */
  at: number;
}

/**
 * What one partition expects of its identities between events. In memory:
 * after a restart or a rebalance it is rebuilt from the next events, so an
 * identity that fell silent just before is not judged (docs/design.md). Given
 * the partition's events in order it is deterministic: findings carry the
 * time they became due, not the time they were noticed, so batching does not
 * change them and a replay gives the live decisions.
 */
export class AbsenceBook {
  private readonly entries = new Map<string, Entry>();
  /** A binary min-heap of [time, key], one node per entry, ordered by time then key. */
  private readonly heap: Array<[number, string]> = [];
  private nextCheck = -Infinity;

  get size(): number {
    return this.entries.size;
  }

  /** Before an event at `ts`: findings for silences that have become due, in time order. */
  advance(ts: number, out: Overdue[]): void {
    if (ts < this.nextCheck) return;
    const at = Math.floor(ts / ABSENCE_CHECK_MS) * ABSENCE_CHECK_MS;
    this.nextCheck = at + ABSENCE_CHECK_MS;
    while (this.heap.length > 0 && this.heap[0]![0] <= at) {
      const [, key] = this.pop();
      const e = this.entries.get(key)!;
      e.queued = null;
      if (e.due !== null && e.due <= at) {
        this.fire(e, out);
        this.entries.delete(key);
      } else if (e.due === null && e.last.ts + KEEP_MS <= at) this.entries.delete(key);
      else this.queue(e);
    }
  }

  /** After the detectors have seen an event: a silence it ends that was already due is a finding too. */
  heard(d: AnyDetector, event: AgentEvent, view: IdentityView, ctx: DetectorContext, out: Overdue[]): void {
    const absence = d.absence!;
    const x = absence.expect(event, view, ctx);
    const key = `${d.name}\u0000${event.identity}`;
    let e = this.entries.get(key);
    if (!e) {
      if (!x) return;
      e = { key, detector: d, ctx, last: event, held: new Map(), due: null, queued: null };
      this.entries.set(key, e);
    } else if (e.due !== null && e.due <= event.ts) {
      this.fire(e, out);
    }
    e.ctx = ctx;
    if (event.ts >= e.last.ts) e.last = event;
    if (x) e.held.set(x.key, x);
    for (const [k, h] of e.held) if (e.last.ts - h.ts > KEEP_MS) e.held.delete(k);
    const due = absence.due(e.held.values(), e.last.ts, ctx);
    e.due = due === undefined ? null : due;
    if (e.queued === null) this.queue(e);
  }

  private fire(e: Entry, out: Overdue[]): void {
    const at = e.due!;
    const finding = e.detector.absence!.overdue({ identity: e.last.identity, last: e.last, held: [...e.held.values()], due: at }, e.ctx);
    out.push({ detector: e.detector, finding, last: e.last, ctx: e.ctx, at });
    // Told once: the identity is judged again from its next event.
    e.due = null;
    e.held.clear();
  }

  private queue(e: Entry): void {
    const t = e.due ?? e.last.ts + KEEP_MS;
    e.queued = t;
    const h = this.heap;
    h.push([t, e.key]);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): [number, string] {
    const h = this.heap;
    const top = h[0]!;
    const end = h.pop()!;
    if (h.length > 0) {
      h[0] = end;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(a: [number, string], b: [number, string]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}
