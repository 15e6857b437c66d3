import { createHash } from 'node:crypto';
import { WardenError } from '../errors.js';

/**
 * Every Redis key Warden uses, on the JS side. The Lua scripts build the
 * per-identity keys themselves from the partition's base key (see
 * lua/apply-1.lua), so all keys of a partition share one hash tag.
 */
export const DEFAULT_PREFIX = 'warden';

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

export const metaKey = (base: string): string => `${base}:m`;
export const pendingKey = (base: string): string => `${base}:pending`;
export const outboxKey = (base: string): string => `${base}:o`;
/** Outputs the service could not publish after retries (src/service/parked.ts). */
export const parkedKey = (base: string): string => `${base}:parked`;
/** SCAN MATCH pattern for every partition's parked list. */
export const parkedPattern = (prefix: string): string => `${prefix}:{p:*}:parked`;

/** Same digest as Lua's redis.sha1hex over the string's UTF-8 bytes. */
export function sha1hex(s: string): string {
  return createHash('sha1').update(s, 'utf8').digest('hex');
}

export const identityKey = (base: string, identity: string): string => `${base}:i:${sha1hex(identity)}`;
export const distinctKey = (base: string, identity: string, track: string): string => `${base}:d:${sha1hex(identity)}:${sha1hex(track)}`;

/** SCAN MATCH pattern for every key under a prefix (the prefix has no glob characters). */
export const prefixPattern = (prefix: string): string => `${prefix}:{p:*`;

/** SCAN MATCH pattern for one identity's hash in every partition. */
export const identityPattern = (prefix: string, identity: string): string => `${prefix}:{p:*}:i:${sha1hex(identity)}`;
/** SCAN MATCH pattern for every identity hash under a prefix. */
export const identitiesPattern = (prefix: string): string => `${prefix}:{p:*}:i:*`;

/**
 * Fleet-guard sets, one pair per agent class, all under one hash tag (`{f}`
 * cannot be a partition's `{p:...}`). Class names are event input: hashed.
 */
export const fleetActiveKey = (prefix: string, agentClass: string): string => `${prefix}:{f}:a:${sha1hex(agentClass)}`;
export const fleetOpenKey = (prefix: string, agentClass: string): string => `${prefix}:{f}:s:${sha1hex(agentClass)}`;
