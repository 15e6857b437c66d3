import type { StreamRecord } from '../event/read-stream.js';
import { timeError, type TimeBounds } from '../event/time.js';

/** Timed records after the one being judged that its clock looks at. */
export const CLOCK_LOOKAHEAD = 8;

const tsOf = (r: StreamRecord): number | undefined =>
  r.result.ok ? (r.result.control ? r.result.control.ts : r.result.event.ts) : undefined;

/**
 * The time bounds in replay: the same rule as the service's (event/time.ts),
 * with the recording's own clock for "now", so a recording gives the same
 * result whatever day it is replayed. That clock, for a record, is the median
 * time of itself and the 8 timed records after it, and never less than the
 * latest accepted time (a wall clock does not go back). A far-future record
 * stands out because the recording goes on from before it; after a quiet gap
 * the recording goes on from later, and nothing is refused. With nothing after
 * it (the last record) only the absolute bounds and the age apply.
 *
 * Synchronous and allocation-free per record: replay's reader already batches
 * to one async hop per record, and this must not add another.
 */
export class RecordingClock {
  private queue: StreamRecord[] = [];
  private head = 0;
  /** Timed records in queue[head..]. */
  private timed = 0;
  private accepted = -Infinity;
  private readonly window: Float64Array;

  constructor(private readonly bounds: TimeBounds, private readonly lookahead = CLOCK_LOOKAHEAD) {
    this.window = new Float64Array(lookahead + 1);
  }

  /** Adds a record; appends to `out` the records now decided, in order. */
  push(r: StreamRecord, out: StreamRecord[]): void {
    this.queue.push(r);
    if (tsOf(r) !== undefined) this.timed++;
    this.drain(out, false);
  }

  /** The end of the recording: decides the rest. */
  end(out: StreamRecord[]): void {
    this.drain(out, true);
  }

  private drain(out: StreamRecord[], end: boolean): void {
    const q = this.queue;
    while (this.head < q.length) {
      const r = q[this.head]!;
      const ts = tsOf(r);
      if (ts !== undefined && this.timed - 1 < this.lookahead && !end) break;
      out.push(ts === undefined ? r : this.judge(r, ts));
      this.head++;
      if (ts !== undefined) this.timed--;
    }
    if (this.head === q.length) {
      q.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
  }

  private judge(r: StreamRecord, ts: number): StreamRecord {
    // Insertion sort of at most lookahead + 1 times.
    const w = this.window;
    let n = 0;
    const add = (t: number): void => {
      let i = n++;
      while (i > 0 && w[i - 1]! > t) {
        w[i] = w[i - 1]!;
        i--;
      }
      w[i] = t;
    };
    add(ts);
    const q = this.queue;
    for (let i = this.head + 1, k = 0; i < q.length && k < this.lookahead; i++) {
      const t = tsOf(q[i]!);
      if (t !== undefined) {
        add(t);
        k++;
      }
    }
    const now = Math.max(this.accepted, w[(n - 1) >> 1]!);
    const err = timeError(ts, now, this.bounds, r.result.ok && r.result.control ? 'CONTROL' : 'EVENT');
    if (!err) {
      if (ts > this.accepted) this.accepted = ts;
      return r;
    }
    const bad: StreamRecord = { index: r.index, result: { ok: false, error: err } };
    if (r.line !== undefined) bad.line = r.line;
    return bad;
  }
}

/** The records of a recording with the bounds applied (for tests and tools; runRecords uses the clock directly). */
export async function* boundedByRecording(
  records: AsyncIterable<StreamRecord> | Iterable<StreamRecord>,
  bounds: TimeBounds,
): AsyncGenerator<StreamRecord> {
  const clock = new RecordingClock(bounds);
  const out: StreamRecord[] = [];
  for await (const r of records) {
    clock.push(r, out);
    yield* out;
    out.length = 0;
  }
  clock.end(out);
  yield* out;
}
