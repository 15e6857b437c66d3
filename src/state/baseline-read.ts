import { scanKeys, type RedisClient } from './redis-connection.js';
import { newBaseline, SLOTS, type BaselineState } from './baseline.js';
import { IDENTITY_FIELD, TRACK_FIELD, identityPattern } from './keys.js';

/** A counter with a learned baseline, as an identity's hash holds it (lua/includes/counter.lua). */
export interface StoredCounter {
  /** The track key, e.g. `rate:a:email.send`. */
  track: string;
  /** Start of the counter's current bucket (event time) and its count. */
  bucketStart: number;
  count: number;
  prev: number;
  baseline: BaselineState;
}

const COUNTER_BYTES = 64;
const HOUR_BYTES = 48;
const HOUR_BYTES_V1 = 40;
const HALF_BYTES = 48;

function halves(am: Buffer, pm: Buffer): number[] {
  const out: number[] = [];
  for (const b of [am, pm]) for (let i = 0; i < SLOTS / 2; i++) out.push(b.readFloatLE(i * 4));
  return out;
}

/**
 * Decodes one counter's fields: `|C` of 64 bytes (b c p n mean variance hour hn)
 * and the baseline's `|H |E |F |V |W`. Null for a counter without a baseline
 * or one whose fields are of another layout (the service starts those afresh).
 */
export function decodeStoredCounter(track: string, f: Map<string, Buffer>): StoredCounter | null {
  const c = f.get(track + TRACK_FIELD.counter);
  const h = f.get(track + TRACK_FIELD.baselineHour);
  const parts = [TRACK_FIELD.baselineSlotsAm, TRACK_FIELD.baselineSlotsPm, TRACK_FIELD.baselineVarsAm, TRACK_FIELD.baselineVarsPm].map((s) => f.get(track + s));
  if (c?.length !== COUNTER_BYTES || !h || (h.length !== HOUR_BYTES && h.length !== HOUR_BYTES_V1) || parts.some((p) => p?.length !== HALF_BYTES)) return null;
  const d = (i: number): number => c.readDoubleLE(i * 8);
  const b = newBaseline();
  b.n = d(3); b.mean = d(4); b.variance = d(5); b.hour = d(6); b.hn = d(7);
  b.hsum = h.readDoubleLE(0); b.hsq = h.readDoubleLE(8);
  for (let i = 0; i < SLOTS; i++) b.k[i] = h[16 + i]!;
  if (h.length === HOUR_BYTES) {
    b.ln = h.readFloatLE(40);
    b.ld = h.readFloatLE(44);
  }
  const [sa, sp, va, vp] = parts as Buffer[];
  b.slots = halves(sa!, sp!);
  b.vars = halves(va!, vp!);
  return { track, bucketStart: d(0), count: d(1), prev: d(2), baseline: b };
}

/**
 * Every baselined counter of an identity whose track key starts with
 * `trackPrefix`, read from its hash on whichever partition holds it. Read-only.
 */
export async function readBaselines(redis: RedisClient, prefix: string, identity: string, trackPrefix: string): Promise<StoredCounter[]> {
  const out: StoredCounter[] = [];
  for await (const keys of scanKeys(redis, identityPattern(prefix, identity))) {
    for (const key of keys) {
      const id = await redis.hget(key, IDENTITY_FIELD.id);
      if (id !== identity) continue;
      const fields = new Map<string, Buffer>();
      let hc = '0';
      do {
        // MATCH on the prefix with its glob characters escaped: action names are agent input.
        const [n, flat] = await redis.hscanBuffer(key, hc, 'MATCH', trackPrefix.replace(/[*?[\]\\]/g, '\\$&') + '*', 'COUNT', 1000);
        hc = n.toString();
        for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!.toString('utf8'), flat[i + 1]!);
      } while (hc !== '0');
      for (const name of fields.keys()) {
        if (!name.endsWith(TRACK_FIELD.counter)) continue;
        const s = decodeStoredCounter(name.slice(0, -TRACK_FIELD.counter.length), fields);
        if (s) out.push(s);
      }
    }
  }
  return out.sort((a, b) => (a.track < b.track ? -1 : a.track > b.track ? 1 : 0));
}
