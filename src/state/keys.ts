import { createHash } from 'node:crypto';
import { WardenError } from '../errors.js';

/**
 * Every Redis key and hash field name Warden uses. The Lua scripts build the
 * per-identity keys themselves from the partition's base key, so all keys of a
 * partition share one hash tag, from the same suffixes and field names:
 * lua/includes/keys.lua holds the tables below under the same names
 * (test/unit/keys.test.ts checks they agree).
 */
export const DEFAULT_PREFIX = 'warden';

/** Suffixes of a partition's keys, after its base key (partitionKey). */
export const SUFFIX = {
  /** HASH, META_FIELD */
  meta: ':m',
  /** STRING, the views of applies not yet committed (lua/includes/offsets.lua) */
  pending: ':pending',
  /** LIST, the outbox */
  outbox: ':o',
  /** HASH, per source partition (decimal), the highest forwarded offset counted here (lua/apply-1.lua) */
  forwarded: ':f',
  /** + sha1(identity): HASH, IDENTITY_FIELD and TRACK_FIELD */
  identity: ':i:',
  /** + sha1(identity) + ':' + sha1(track): SET, a distinct track's members */
  distinct: ':d:',
} as const;

/** Fields of a partition's meta hash. */
export const META_FIELD = {
  /** the last offset applied (decimal) */
  applied: 'applied',
  /** the last offset committed (decimal) */
  committed: 'committed',
  /** the outbox's next sequence id */
  next: 'next',
} as const;

/** Fixed fields of an identity hash. */
export const IDENTITY_FIELD = {
  /** the identity itself (collision check) */
  id: '_id',
  /** struct '<ddd': firstSeen, events, ts of the last expiry push (identity-hash.ts) */
  state: '_s',
  /** the breaker snapshot */
  breaker: '_b',
} as const;

/** Per-track fields of an identity hash: the track key, then one of these. */
export const TRACK_FIELD = {
  /** a counter's b c p; with a baseline, also n mean variance hour hn (lua/includes/counter.lua) */
  counter: '|C',
  /** a baseline's hsum hsq and days learned per hour of day; then its slots and
   * variances per half day (hours 0-11, 12-23): every value <= 64 bytes, so the
   * identity hash stays a listpack (hash-max-listpack-value) */
  baselineHour: '|H',
  baselineSlotsAm: '|E',
  baselineSlotsPm: '|F',
  baselineVarsAm: '|V',
  baselineVarsPm: '|W',
  seenSize: '|S',
  /** then the member, '|' and the byte length of the track key (seenMemberField) */
  seenMember: '|=',
  distinctBucket: '|B',
  distinctPrev: '|P',
  distinctCount: '|N',
} as const;

const PREFIX = /^[A-Za-z0-9:_-]{1,64}$/;

export function isValidPrefix(prefix: string): boolean {
  return PREFIX.test(prefix);
}

export function validatePrefix(prefix: string): string {
  if (!isValidPrefix(prefix)) throw new WardenError('SETTINGS_INVALID', `Redis key prefix must match [A-Za-z0-9:_-]{1,64}, got "${prefix}"`);
  return prefix;
}

/**
 * `<prefix>:{p:<partition>}`. Any partition name is safe: the hash tag ends at
 * the first `}`, which is the same for every key of the partition, and the
 * suffixes the scripts append never contain a `}`, so partitions cannot collide.
 */
export function partitionKey(prefix: string, partition: string): string {
  return `${prefix}:{p:${partition}}`;
}

export const metaKey = (base: string): string => base + SUFFIX.meta;
export const pendingKey = (base: string): string => base + SUFFIX.pending;
export const outboxKey = (base: string): string => base + SUFFIX.outbox;
export const forwardedKey = (base: string): string => base + SUFFIX.forwarded;

/** The partition a key of partitionKey's belongs to, or undefined. */
export function partitionOf(key: string): string | undefined {
  return /\{p:([^}]*)\}/.exec(key)?.[1];
}
/** Outputs the service could not publish after retries (src/service/parked.ts). */
export const parkedKey = (base: string): string => `${base}:parked`;
/** SCAN MATCH pattern for every partition's parked list. */
export const parkedPattern = (prefix: string): string => `${prefix}:{p:*}:parked`;

/** Same digest as Lua's redis.sha1hex over the string's UTF-8 bytes. */
export function sha1hex(s: string): string {
  return createHash('sha1').update(s, 'utf8').digest('hex');
}

export const identityKey = (base: string, identity: string): string => base + SUFFIX.identity + sha1hex(identity);
export const distinctKey = (base: string, identity: string, track: string): string => `${base}${SUFFIX.distinct}${sha1hex(identity)}:${sha1hex(track)}`;

/** A seen member's field: a name that ends in a digit, so it never reads as another track's field. */
export const seenMemberField = (track: string, member: string): string => `${track}${TRACK_FIELD.seenMember}${member}|${Buffer.byteLength(track, 'utf8')}`;

/** SCAN MATCH pattern for every key under a prefix (the prefix has no glob characters). */
export const prefixPattern = (prefix: string): string => `${prefix}:{p:*`;

/** SCAN MATCH pattern for one identity's hash in every partition. */
export const identityPattern = (prefix: string, identity: string): string => `${prefix}:{p:*}${SUFFIX.identity}${sha1hex(identity)}`;
/** SCAN MATCH pattern for every identity hash under a prefix. */
export const identitiesPattern = (prefix: string): string => `${prefix}:{p:*}${SUFFIX.identity}*`;

/**
 * Fleet-guard sets, one pair per agent class, all under one hash tag (`{f}`
 * cannot be a partition's `{p:...}`). Class names are event input: hashed.
 */
export const fleetActiveKey = (prefix: string, agentClass: string): string => `${prefix}:{f}:a:${sha1hex(agentClass)}`;
export const fleetOpenKey = (prefix: string, agentClass: string): string => `${prefix}:{f}:s:${sha1hex(agentClass)}`;
/** Whole-identity suspensions, fleet-wide: member the identity, score when it ends. */
export const fleetCascadeKey = (prefix: string): string => `${prefix}:{f}:x`;
/** Same members: when each whole-identity suspension in force began. */
export const fleetCascadeSinceKey = (prefix: string): string => `${prefix}:{f}:xs`;

/**
 * Class-store keys (peer groups), all under one hash tag of their own, built
 * by lua/class-1.lua from the base key: per agent class, named by its hash
 * (class names are event input), + sha1(class).
 */
export const CLASS_SUFFIX = {
  /** HASH, field: a class counter's key, value: its packed state (class-1.lua) */
  counters: ':k:',
  /** ZSET, the class's identities scored by their latest event time */
  active: ':a:',
} as const;

export const classBaseKey = (prefix: string): string => `${prefix}:{c}`;
export const classCountersKey = (prefix: string, agentClass: string): string => classBaseKey(prefix) + CLASS_SUFFIX.counters + sha1hex(agentClass);
export const classActiveKey = (prefix: string, agentClass: string): string => classBaseKey(prefix) + CLASS_SUFFIX.active + sha1hex(agentClass);

/**
 * STRING, the state epoch marker (src/state/epoch.ts): written when Warden
 * first finds no state under the prefix; missing or changed later means the
 * state was lost (Redis restarted empty, flushed, failed over to an empty replica).
 */
export const epochKey = (prefix: string): string => `${prefix}:epoch`;

/** An alert receiver's dead letters (LIST, newest first). */
export const deadLetterKey = (prefix: string, receiver: string): string => `${prefix}:alerts:dead:${receiver}`;
/**
 * Their running count (STRING), written in one MULTI with the list: its hash
 * tag is the list's whole name (no braces in a prefix or a receiver name), so
 * on a Redis Cluster both keys are in one slot.
 */
export const deadLetterCountKey = (prefix: string, receiver: string): string => `{${deadLetterKey(prefix, receiver)}}:count`;
