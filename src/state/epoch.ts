import { randomUUID } from 'node:crypto';
import { WardenError } from '../errors.js';
import { epochKey } from './keys.js';

/**
 * The state epoch marker: one small string under the prefix, written when
 * Warden first finds no state. Redis loses it with everything else (restarted
 * empty, flushed, failed over to an empty replica), so a marker that is gone,
 * or another one, once this process has seen one, means the state was lost.
 */
export interface EpochMarker {
  /** Random: two Redis servers never hold the same one. */
  epoch: string;
  /** Wall time the marker was written (ms). */
  createdAt: number;
  /** Wall time the loss was found, when this epoch began with one: every process re-learns from it. */
  lostAt?: number;
}

export type LossCause = 'missing' | 'changed';

export type EpochCheck =
  /** No marker ever seen and none there: a first start on empty state; this process wrote it. */
  | { kind: 'fresh'; marker: EpochMarker }
  /** The first marker this process sees (another process wrote it, or an earlier run). */
  | { kind: 'adopted'; marker: EpochMarker }
  | { kind: 'same'; marker: EpochMarker }
  /** The marker seen before is gone (`missing`) or replaced by another (`changed`). */
  | { kind: 'lost'; marker: EpochMarker; previous: EpochMarker; cause: LossCause; lostAt: number };

/** What the marker found says, given the one seen before (null: none yet). `found` null is handled by checkEpoch. */
export function classify(known: EpochMarker | null, found: EpochMarker, now: number): EpochCheck {
  if (known === null) return { kind: 'adopted', marker: found };
  if (found.epoch === known.epoch) return { kind: 'same', marker: found };
  // Another process found the loss first and wrote the new marker: the loss is its, not a new one now.
  const lostAt = found.lostAt !== undefined && found.lostAt >= known.createdAt && found.lostAt <= now ? found.lostAt : now;
  return { kind: 'lost', marker: found, previous: known, cause: found.lostAt === lostAt ? 'missing' : 'changed', lostAt };
}

export function encodeMarker(m: EpochMarker): string {
  return JSON.stringify(m);
}

/** Anything else under the key (written by hand, another program) is still a marker: its text is its epoch. */
export function parseMarker(raw: string | null): EpochMarker | null {
  if (raw === null) return null;
  try {
    const v = JSON.parse(raw) as Partial<EpochMarker>;
    if (typeof v.epoch === 'string' && typeof v.createdAt === 'number' && Number.isFinite(v.createdAt)) {
      const m: EpochMarker = { epoch: v.epoch, createdAt: v.createdAt };
      if (typeof v.lostAt === 'number' && Number.isFinite(v.lostAt)) m.lostAt = v.lostAt;
      return m;
    }
  } catch {
    // not JSON: below
  }
  return { epoch: raw, createdAt: 0 };
}

/** The two commands the check needs, so a test can give a fake. */
export interface EpochRedis {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, nx: 'NX'): Promise<'OK' | null>;
}

/**
 * Reads the marker, writes one if there is none (SET NX: of processes racing,
 * one writes and the others read it), and says what it means.
 */
export async function checkEpoch(redis: EpochRedis, prefix: string, known: EpochMarker | null, now = Date.now(), newId: () => string = randomUUID): Promise<EpochCheck> {
  const key = epochKey(prefix);
  const found = parseMarker(await redis.get(key));
  if (found !== null) return classify(known, found, now);
  const mine: EpochMarker = { epoch: newId(), createdAt: now };
  if (known !== null) mine.lostAt = now;
  if ((await redis.set(key, encodeMarker(mine), 'NX')) === 'OK') {
    return known === null ? { kind: 'fresh', marker: mine } : { kind: 'lost', marker: mine, previous: known, cause: 'missing', lostAt: now };
  }
  const theirs = parseMarker(await redis.get(key));
  if (theirs === null) throw new WardenError('STATE_INCONSISTENT', `the epoch marker ${key} was written and deleted at once; will check again`, { retriable: true });
  return classify(known, theirs, now);
}
