import type { OutboxRecord } from '../state/types.js';

/**
 * The broker's stock limit on a record batch is 1,048,588 bytes
 * (message.max.bytes / max.message.bytes); Warden stays below it when it
 * cannot read the topic's own limit.
 */
export const DEFAULT_RECORD_LIMIT = 1_000_000;
/** A record batch's own header (magic v2). */
export const BATCH_OVERHEAD = 61;

const bytes = (s: string | null | undefined): number => (s == null ? 0 : Buffer.byteLength(s, 'utf8'));

/** An upper bound on a record's size inside a v2 record batch: every varint counted at its widest. */
export function recordBytes(r: Pick<OutboxRecord, 'key' | 'value' | 'headers'>): number {
  let n = 36 + bytes(r.key) + r.value.byteLength;
  if (r.headers) for (const [k, v] of Object.entries(r.headers)) n += 10 + bytes(k) + bytes(v);
  return n;
}
