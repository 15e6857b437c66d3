import { createHash } from 'node:crypto';
import type { OutboxRecord } from '../state/types.js';
import type { DeadLetter } from './outputs.js';
import { BATCH_OVERHEAD, recordBytes } from './record-size.js';

/** What an oversized dead letter keeps of the original value. */
export const DEAD_LETTER_PREFIX_BYTES = 64 * 1024;
/** What it keeps of the original headers and key; the rest is named in a header. */
const HEADER_BUDGET = 16 * 1024;
const KEY_BUDGET = 4 * 1024;
const REASON_MAX = 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function cut(s: string, max: number): string {
  const b = Buffer.from(s, 'utf8');
  return b.byteLength <= max ? s : `${b.subarray(0, max).toString('utf8').replace(/\uFFFD$/, '')}…`;
}

/** A Kafka key as the outbox keeps it: UTF-8 text as is; other bytes in a header, base64. */
function keyOf(key: Uint8Array | undefined): { key: string | null; header?: string } {
  if (key === undefined || key.byteLength === 0) return { key: null };
  try {
    return { key: utf8.decode(key) };
  } catch {
    return { key: null, header: Buffer.from(key).toString('base64') };
  }
}

/**
 * The dead-letter record for an invalid input: the original key, value and
 * headers plus Warden's reason. When that would not fit `limit` (the DLQ
 * topic's record limit) it keeps a bounded prefix of the value, the reason, a
 * SHA-256 of the whole original value and its length (`warden-truncated`), so
 * a poison record can never block the partition that carried it.
 */
export function deadLetterOutbox(dl: DeadLetter, topic: string, sourceTopic: string, partition: string, limit: number): OutboxRecord {
  const value = dl.raw ?? new Uint8Array(0);
  const k = keyOf(dl.key);
  const warden: Record<string, string> = {
    'warden-error-code': dl.code,
    'warden-error-reason': cut(dl.message, REASON_MAX),
    'warden-source-topic': sourceTopic,
    // The partition string is `<topic>:<n>`; the header carries only n.
    'warden-source-partition': partition.slice(partition.lastIndexOf(':') + 1),
    'warden-source-offset': String(dl.offset),
  };
  if (dl.field !== undefined) warden['warden-error-field'] = cut(dl.field, REASON_MAX);
  if (k.header !== undefined) warden['warden-source-key-base64'] = k.header;
  const whole: OutboxRecord = { topic, key: k.key, value, headers: { ...(dl.headers ?? {}), ...warden } };
  if (recordBytes(whole) + BATCH_OVERHEAD <= limit) return whole;

  const headers: Record<string, string> = {};
  let budget = HEADER_BUDGET;
  let dropped = 0;
  for (const [name, v] of Object.entries(dl.headers ?? {})) {
    if (name in warden) continue;
    const size = 10 + Buffer.byteLength(name) + Buffer.byteLength(v);
    if (size > budget) {
      dropped++;
      continue;
    }
    budget -= size;
    headers[name] = v;
  }
  Object.assign(headers, warden);
  let key = k.key;
  if (key !== null && Buffer.byteLength(key) > KEY_BUDGET) {
    headers['warden-key-dropped'] = String(Buffer.byteLength(key));
    key = null;
  }
  if (headers['warden-source-key-base64'] !== undefined && headers['warden-source-key-base64'].length > KEY_BUDGET) {
    headers['warden-key-dropped'] = String(dl.key!.byteLength);
    delete headers['warden-source-key-base64'];
  }
  if (dropped > 0) headers['warden-headers-dropped'] = String(dropped);
  headers['warden-truncated'] = String(value.byteLength);
  headers['warden-original-sha256'] = createHash('sha256').update(value).digest('hex');
  const room = limit - BATCH_OVERHEAD - recordBytes({ key, value: new Uint8Array(0), headers });
  const prefix = value.subarray(0, Math.max(0, Math.min(DEAD_LETTER_PREFIX_BYTES, room)));
  return { topic, key, value: prefix, headers };
}
