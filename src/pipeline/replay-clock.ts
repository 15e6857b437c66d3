import type { StreamRecord } from '../event/read-stream.js';
import { timeError, type TimeBounds } from '../event/time.js';

/** Timed records after the one being judged that its clock looks at. */
export const CLOCK_HALF_WINDOW = 8;

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
 */
export async function* boundedByRecording(
  records: AsyncIterable<StreamRecord> | Iterable<StreamRecord>,
  bounds: TimeBounds,
  half = CLOCK_HALF_WINDOW,
): AsyncGenerator<StreamRecord> {
  let queue: StreamRecord[] = [];
  let head = 0;
  let timed = 0; // timed records in queue[head..]
  let accepted = -Infinity;

  const judge = (r: StreamRecord, ts: number): StreamRecord => {
    const window = [ts];
    for (let i = head + 1, n = 0; i < queue.length && n < half; i++) {
      const t = tsOf(queue[i]!);
      if (t !== undefined) {
        window.push(t);
        n++;
      }
    }
    window.sort((a, b) => a - b);
    const now = Math.max(accepted, window[(window.length - 1) >> 1]!);
    const err = timeError(ts, now, bounds, r.result.ok && r.result.control ? 'CONTROL' : 'EVENT');
    if (!err) {
      if (ts > accepted) accepted = ts;
      return r;
    }
    const out: StreamRecord = { index: r.index, result: { ok: false, error: err } };
    if (r.line !== undefined) out.line = r.line;
    return out;
  };

  function* ready(end: boolean): Generator<StreamRecord> {
    while (head < queue.length) {
      const r = queue[head]!;
      const ts = tsOf(r);
      if (ts !== undefined && timed - 1 < half && !end) break;
      const out = ts === undefined ? r : judge(r, ts);
      head++;
      if (ts !== undefined) timed--;
      yield out;
    }
    if (head > 1024) {
      queue = queue.slice(head);
      head = 0;
    }
  }

  for await (const r of records) {
    queue.push(r);
    if (tsOf(r) !== undefined) timed++;
    yield* ready(false);
  }
  yield* ready(true);
}
