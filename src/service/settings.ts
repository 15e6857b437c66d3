import { errorMessage, WardenError } from '../errors.js';
import { isValidPrefix } from '../state/keys.js';
import { DEFAULT_REDIS_URL, isClusterUrl, parseClusterUrl } from '../state/redis-connection.js';
import { DEFAULT_TOPICS, type Topics } from '../pipeline/outbox.js';
import type { KafkaSettings } from '../transport/kafka-client.js';
import { kafkaConnectionFromEnv } from '../transport/kafka-env.js';
import { keyringFromEnv, operatorKeyringFromEnv } from '../commands/keyring.js';
import type { Keyring } from '../commands/keyring.js';
import { DEFAULT_REPUBLISH_INTERVAL_MS } from './republish.js';
import { DEFAULT_START_TIMEOUT_MS } from './start-gate.js';
import { parseDuration } from '../config/duration.js';
import { DEFAULT_TIME_BOUNDS, type TimeBounds } from '../event/time.js';
import { parseStatusUsers, type StatusUser } from '../status/users.js';

/** Where Warden's service connects. Secrets come only from the environment, never from files or logs. */
export interface ServiceSettings {
  kafka: KafkaSettings & { groupId: string; partitionsConsumedConcurrently: number; maxBatch: number; fromBeginning: boolean; sessionTimeoutMs: number };
  topics: Topics;
  redis: { url: string; prefix: string; idleTtlMs: number };
  http: { port: number; host: string };
  /** How long `warden run` waits for each Kafka or Redis step at start before it exits non-zero. */
  startTimeoutMs: number;
  /** Liveness fails when an assigned partition with lag has gone this long without a completed batch. */
  stallTimeoutMs: number;
  /** Signs every command; gateways verify with the same keys. */
  keyring: Keyring;
  /** Verifies operator controls: WARDEN_OPERATOR_KEYS, else the command keys. */
  operatorKeyring: Keyring;
  /** Every identity's breaker state is re-published to the commands topic on start and this often. */
  republishIntervalMs: number;
  /** How far an event's or control's time may be from the wall clock. */
  timeBounds: TimeBounds;
  /** The status page on the ops port; null (the default) keeps it off. */
  status: { users: StatusUser[]; historyMs: number } | null;
}

const DAY = 86_400_000;

/** Every environment variable the service reads, documented in the README. */
export const ENVIRONMENT = [
  'KAFKA_BROKERS', 'KAFKA_CLIENT_ID', 'KAFKA_GROUP_ID', 'KAFKA_SESSION_TIMEOUT_MS', 'KAFKA_SSL', 'KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD',
  'WARDEN_COMMAND_KEYS', 'WARDEN_COMMAND_KEY_ID', 'WARDEN_OPERATOR_KEYS', 'WARDEN_OPERATOR_KEY_ID', 'WARDEN_TOPIC_ACTIONS', 'WARDEN_TOPIC_DLQ', 'WARDEN_TOPIC_COMMANDS', 'WARDEN_TOPIC_DECISIONS',
  'WARDEN_CONCURRENCY', 'WARDEN_MAX_BATCH', 'WARDEN_FROM_BEGINNING', 'WARDEN_REPUBLISH_INTERVAL_MS', 'WARDEN_EVENT_MAX_AHEAD', 'WARDEN_EVENT_MAX_AGE',
  'REDIS_URL', 'WARDEN_REDIS_PREFIX', 'WARDEN_IDLE_TTL_DAYS', 'WARDEN_HTTP_PORT', 'WARDEN_HTTP_HOST', 'WARDEN_STALL_TIMEOUT_S', 'WARDEN_START_TIMEOUT_S', 'WARDEN_STATUS_TOKENS', 'WARDEN_STATUS_HISTORY', 'LOG_LEVEL',
] as const;

const MAX_AHEAD_LIMIT = 7 * DAY;

/**
 * WARDEN_EVENT_MAX_AHEAD (default 5m, at most 7d) and WARDEN_EVENT_MAX_AGE
 * (default 30d, 0 = only the 2000-01-01 floor): the service bounds by the
 * wall clock, `warden replay` and the demo by the recording's own clock.
 */
export function timeBoundsFromEnv(env: NodeJS.ProcessEnv, problems: string[] = []): TimeBounds {
  const read = (name: string, fallback: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const d = parseDuration(raw);
    if (!d.ok) problems.push(`${name}: ${d.reason}`);
    else if (d.ms > max) problems.push(`${name} must be at most ${max / DAY}d, got "${raw}"`);
    else return d.ms;
    return fallback;
  };
  const bounds = {
    maxAheadMs: read('WARDEN_EVENT_MAX_AHEAD', DEFAULT_TIME_BOUNDS.maxAheadMs, MAX_AHEAD_LIMIT),
    maxAgeMs: read('WARDEN_EVENT_MAX_AGE', DEFAULT_TIME_BOUNDS.maxAgeMs, 3650 * DAY),
  };
  return bounds;
}

/** The bounds alone, for the tools that need no other settings (replay, demo). */
export function timeBoundsSettings(env: NodeJS.ProcessEnv = process.env): TimeBounds {
  const problems: string[] = [];
  const bounds = timeBoundsFromEnv(env, problems);
  if (problems.length > 0) throw new WardenError('SETTINGS_INVALID', `invalid environment: ${problems.join('; ')}`);
  return bounds;
}

/** `operator`: for operator tools, which sign controls and need no command keys of their own. */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env, opts: { operator?: boolean } = {}): ServiceSettings {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return n;
  };
  const bool = (name: string): boolean => {
    const raw = (env[name] ?? '').toLowerCase();
    if (raw === '' || raw === '0' || raw === 'false' || raw === 'no') return false;
    if (raw === '1' || raw === 'true' || raw === 'yes') return true;
    problems.push(`${name} must be true or false, got "${env[name]}"`);
    return false;
  };
  const { brokers, ssl, sasl } = kafkaConnectionFromEnv(env, problems);
  const prefix = env.WARDEN_REDIS_PREFIX ?? 'warden';
  if (!isValidPrefix(prefix)) problems.push(`WARDEN_REDIS_PREFIX must match [A-Za-z0-9:_-]{1,64}, got "${prefix}"`);
  const keys = keyringFromEnv(env);
  if (!keys.ok && !opts.operator) problems.push(`WARDEN_COMMAND_KEYS: ${keys.reason} (commands must be signed: set kid=<base64 secret of 32+ bytes>[,...], e.g. from \`openssl rand -base64 32\`)`);
  const opKeys = operatorKeyringFromEnv(env);
  if (!opKeys.ok && (env.WARDEN_OPERATOR_KEYS || opts.operator)) {
    problems.push(`${opKeys.reason} (operator controls must be signed: set WARDEN_OPERATOR_KEYS, or WARDEN_COMMAND_KEYS, as the service has them)`);
  }
  const redisUrl = env.REDIS_URL ?? DEFAULT_REDIS_URL;
  if (isClusterUrl(redisUrl)) {
    try {
      parseClusterUrl(redisUrl);
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  const settings: ServiceSettings = {
    kafka: {
      brokers,
      clientId: env.KAFKA_CLIENT_ID ?? 'warden',
      groupId: env.KAFKA_GROUP_ID ?? 'warden',
      ssl,
      sasl,
      partitionsConsumedConcurrently: int('WARDEN_CONCURRENCY', 4, 1, 64),
      maxBatch: int('WARDEN_MAX_BATCH', 1000, 1, 20_000),
      fromBeginning: env.WARDEN_FROM_BEGINNING === undefined ? true : bool('WARDEN_FROM_BEGINNING'),
      sessionTimeoutMs: int('KAFKA_SESSION_TIMEOUT_MS', 30_000, 6_000, 300_000),
    },
    topics: {
      actions: env.WARDEN_TOPIC_ACTIONS ?? DEFAULT_TOPICS.actions,
      deadLetter: env.WARDEN_TOPIC_DLQ ?? DEFAULT_TOPICS.deadLetter,
      commands: env.WARDEN_TOPIC_COMMANDS ?? DEFAULT_TOPICS.commands,
      decisions: env.WARDEN_TOPIC_DECISIONS ?? DEFAULT_TOPICS.decisions,
    },
    redis: {
      url: redisUrl,
      prefix,
      idleTtlMs: int('WARDEN_IDLE_TTL_DAYS', 14, 1, 3650) * DAY,
    },
    http: { port: int('WARDEN_HTTP_PORT', 9400, 0, 65535), host: env.WARDEN_HTTP_HOST ?? '0.0.0.0' },
    startTimeoutMs: int('WARDEN_START_TIMEOUT_S', DEFAULT_START_TIMEOUT_MS / 1000, 1, 3600) * 1000,
    stallTimeoutMs: int('WARDEN_STALL_TIMEOUT_S', 300, 5, 86_400) * 1000,
    keyring: keys.ok ? keys.keyring : { activeKid: '', keys: new Map() },
    operatorKeyring: opKeys.ok ? opKeys.keyring : { activeKid: '', keys: new Map() },
    republishIntervalMs: int('WARDEN_REPUBLISH_INTERVAL_MS', DEFAULT_REPUBLISH_INTERVAL_MS, 1000, DAY),
    timeBounds: timeBoundsFromEnv(env, problems),
    status: opts.operator ? null : statusFromEnv(env, opKeys.ok ? opKeys.keyring : undefined, problems),
  };
  if (problems.length > 0) throw new WardenError('SETTINGS_INVALID', `invalid environment: ${problems.join('; ')}`);
  return settings;
}

const DEFAULT_STATUS_HISTORY_MS = DAY;

/** WARDEN_STATUS_TOKENS turns the status page on; WARDEN_STATUS_HISTORY is how far back it reads decisions (default 24h, at most 30d). */
function statusFromEnv(env: NodeJS.ProcessEnv, keyring: Keyring | undefined, problems: string[]): ServiceSettings['status'] {
  const spec = env.WARDEN_STATUS_TOKENS;
  if (spec === undefined || spec.trim() === '') return null;
  let historyMs = DEFAULT_STATUS_HISTORY_MS;
  const raw = env.WARDEN_STATUS_HISTORY;
  if (raw !== undefined && raw !== '') {
    const d = parseDuration(raw);
    if (!d.ok) problems.push(`WARDEN_STATUS_HISTORY: ${d.reason}`);
    else if (d.ms < 60_000 || d.ms > 30 * DAY) problems.push(`WARDEN_STATUS_HISTORY must be from 1m to 30d, got "${raw}"`);
    else historyMs = d.ms;
  }
  if (!keyring) {
    problems.push('WARDEN_STATUS_TOKENS needs the operator keys the page signs with (WARDEN_OPERATOR_KEYS)');
    return null;
  }
  const users = parseStatusUsers(spec, keyring);
  if (!users.ok) {
    problems.push(`WARDEN_STATUS_TOKENS: ${users.reason}`);
    return null;
  }
  return { users: users.users, historyMs };
}
