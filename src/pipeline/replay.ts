import type { Writable } from 'node:stream';
import type { Keyring } from '../commands/keyring.js';
import type { WardenConfig } from '../config/types.js';
import type { StreamRecord } from '../event/read-stream.js';
import { DEFAULT_TIME_BOUNDS, type TimeBounds } from '../event/time.js';
import { MemoryFleetStore } from '../state/fleet.js';
import { MemoryClassStore } from '../state/class-store.js';
import { MemoryWindowStore } from '../state/memory-store.js';
import { Engine, type InputRecord } from './engine.js';
import type { BatchOutput } from './outputs.js';
import { outputRecord } from './records.js';
import { RecordingClock } from './replay-clock.js';

export interface ReplayOptions {
  records: AsyncIterable<StreamRecord>;
  config: WardenConfig;
  /** Receives JSON Lines: detections, commands, operator controls, invalid records, then one summary. */
  output: Writable;
  /** Verifies operator controls in the recording; without it they are reported invalid. */
  operatorKeys?: Keyring;
  batchSize?: number;
  /** The service's bounds on event time, applied against the recording's own clock. */
  timeBounds?: TimeBounds;
  /** Class baselines (peer groups), on by default as in the service; false replays without them. */
  peers?: boolean;
  /** Called after each batch with the number of records read so far. */
  onProgress?: (records: number) => void;
}

export interface ReplaySummary {
  kind: 'summary';
  records: number;
  events: number;
  invalid: number;
  identities: number;
  /** Sum over identities of first-to-last event span, for false positives per identity-hour. */
  identityHours: number;
  detections: number;
  suspensions: number;
  resumes: number;
  byDetector: Record<string, number>;
  firstTs: number | null;
  lastTs: number | null;
}

const PARTITION = 'replay';

/**
 * Runs records through a fresh engine with the in-memory store, batch by
 * batch, and tallies them. Both `warden replay` and the demo drive it.
 */
export async function runRecords(
  records: AsyncIterable<StreamRecord> | Iterable<StreamRecord>,
  config: WardenConfig,
  onBatch: (out: BatchOutput, recordsSoFar: number) => Promise<void> | void,
  batchSize = 2000,
  operatorKeys?: Keyring,
  timeBounds: TimeBounds = DEFAULT_TIME_BOUNDS,
  peers = true,
): Promise<ReplaySummary> {
  const engine = new Engine({
    config, store: new MemoryWindowStore(), fleet: new MemoryFleetStore(), ...(peers ? { classes: new MemoryClassStore() } : {}), ...(operatorKeys ? { operatorKeys } : {}),
  });
  const spans = new Map<string, [number, number]>();
  const summary: ReplaySummary = {
    kind: 'summary', records: 0, events: 0, invalid: 0, identities: 0, identityHours: 0,
    detections: 0, suspensions: 0, resumes: 0, byDetector: {}, firstTs: null, lastTs: null,
  };
  let batch: InputRecord[] = [];

  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const out = await engine.process(PARTITION, batch);
    batch = [];
    tally(summary, out);
    await onBatch(out, summary.records);
  };

  const take = (rec: StreamRecord): void => {
    summary.records++;
    const offset = BigInt(rec.index);
    if (rec.result.ok && rec.result.control) {
      batch.push({ offset, ok: true, control: rec.result.control });
    } else if (rec.result.ok) {
      const e = rec.result.event;
      const span = spans.get(e.identity);
      if (!span) spans.set(e.identity, [e.ts, e.ts]);
      else {
        if (e.ts < span[0]) span[0] = e.ts;
        if (e.ts > span[1]) span[1] = e.ts;
      }
      if (summary.firstTs === null || e.ts < summary.firstTs) summary.firstTs = e.ts;
      if (summary.lastTs === null || e.ts > summary.lastTs) summary.lastTs = e.ts;
      batch.push({ offset, ok: true, event: e });
    } else {
      batch.push({ offset, ok: false, error: rec.result.error });
    }
  };

  // The time bounds hold each record back until the clock has seen the ones after it.
  const clock = new RecordingClock(timeBounds);
  const decided: StreamRecord[] = [];
  const takeDecided = async (): Promise<void> => {
    for (const rec of decided) {
      take(rec);
      if (batch.length >= batchSize) await flush();
    }
    decided.length = 0;
  };
  for await (const rec of records) {
    clock.push(rec, decided);
    if (decided.length > 0) await takeDecided();
  }
  clock.end(decided);
  await takeDecided();
  await flush();

  summary.identities = spans.size;
  let ms = 0;
  for (const [a, b] of spans.values()) ms += b - a;
  summary.identityHours = Math.round((ms / 3_600_000) * 1000) / 1000;
  return summary;
}

/** Runs a recording through the same engine as the service, with the in-memory store. Output depends only on the input and config. */
export async function replay(opts: ReplayOptions): Promise<ReplaySummary> {
  const summary = await runRecords(opts.records, opts.config, async (out, n) => {
    await write(opts.output, render(out));
    opts.onProgress?.(n);
  }, opts.batchSize, opts.operatorKeys, opts.timeBounds, opts.peers ?? true);
  await write(opts.output, JSON.stringify(summary) + '\n');
  return summary;
}

function tally(s: ReplaySummary, out: BatchOutput): void {
  s.events += out.processed;
  s.invalid += out.invalid;
  for (const item of out.items) {
    if (item.kind === 'detection') {
      s.detections++;
      s.byDetector[item.detection.detector] = (s.byDetector[item.detection.detector] ?? 0) + 1;
    } else if (item.kind === 'command') {
      if (item.command.type === 'suspend') s.suspensions++;
      else s.resumes++;
    }
  }
}

function render(out: BatchOutput): string {
  let text = '';
  for (const item of out.items) text += JSON.stringify(outputRecord(item)) + '\n';
  return text;
}

function write(stream: Writable, text: string): Promise<void> {
  if (text.length === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const ok = stream.write(text, (err) => (err ? reject(err) : undefined));
    if (ok) resolve();
    else stream.once('drain', resolve);
  });
}
