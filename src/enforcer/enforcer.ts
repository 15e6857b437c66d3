import { kafkaTopicFeed, type FeedConnection, type TopicFeed } from '../transport/topic-feed.js';
import type { Keyring } from '../commands/keyring.js';
import { isExpired, openCommand, type VerifyCode } from '../commands/sign.js';
import { WardenError, errorMessage } from '../errors.js';
import { BootstrapTracker } from './bootstrap.js';
import { CommandTable, type Decision } from './table.js';

export type { Decision } from './table.js';

/** pino-compatible: `(fields, message)`. */
export interface EnforcerLogger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

/** Why a record was ignored: its verify code, or a key that is not the signed identity. */
export type RejectCode = VerifyCode | 'COMMAND_KEY_MISMATCH';

export interface RejectInfo {
  code: RejectCode;
  reason: string;
  partition: number;
  offset: string;
}

/** Where the commands topic is read from: Kafka at `brokers`, or a `feed` (src/transport/topic-feed.ts) instead of a client of the enforcer's own. */
export type EnforcerOptions = EnforcerSettings & ({ brokers: string[]; feed?: undefined } | { feed: TopicFeed; brokers?: undefined });

export interface EnforcerSettings {
  topic?: string;
  keyring: Keyring;
  clientId?: string;
  ssl?: FeedConnection['ssl'];
  sasl?: FeedConnection['sasl'];
  now?: () => number;
  onReject?: (info: RejectInfo) => void;
  logger?: EnforcerLogger;
  /** start() rejects with ENFORCER_BOOTSTRAP_TIMEOUT after this long. Default 60 s. */
  bootstrapTimeoutMs?: number;
}

export interface EnforcerStats {
  /** Verified commands that became the latest for their identity and scope. */
  applied: number;
  /** Verified but with a lower seq than the identity's last applied (e.g. a re-published old command). */
  stale: number;
  /** Verified with the seq last applied (a restatement or a redelivery): changes nothing. */
  repeated: number;
  /** Records ignored, by code. None of them changes what the enforcer denies. */
  rejected: Partial<Record<RejectCode, number>>;
  identities: number;
  bootstrapped: boolean;
  following: boolean;
}

export interface Enforcer {
  /** Resolves once the topic has been read up to the high watermarks seen at start; then keeps following. */
  start(): Promise<void>;
  /** Local and synchronous. Before start() resolves it answers from a partial view. */
  check(identity: string, action: string, chain?: readonly string[]): Decision;
  stats(): EnforcerStats;
  stop(): Promise<void>;
}

/**
 * The gateway side of breaker commands. Each instance reads the whole compacted
 * topic through a feed (over Kafka: its own throwaway consumer group) and
 * commits nothing: a restart simply re-reads, which is idempotent.
 */
export function createEnforcer(opts: EnforcerOptions): Enforcer {
  const topic = opts.topic ?? 'warden.commands';
  const now = opts.now ?? Date.now;
  const log = opts.logger;
  const table = new CommandTable(now);
  const stats = { applied: 0, stale: 0, repeated: 0, rejected: {} as Partial<Record<RejectCode, number>>, bootstrapped: false, following: false };
  const feed = opts.feed ?? kafkaTopicFeed({
    brokers: opts.brokers, clientId: opts.clientId ?? 'warden-enforcer',
    ...(opts.ssl !== undefined ? { ssl: opts.ssl } : {}), ...(opts.sasl ? { sasl: opts.sasl } : {}), ...(log ? { logger: log } : {}),
  });
  let started = false;
  let stopped = false;
  let failBootstrap: ((err: Error) => void) | undefined;

  function reject(code: RejectCode, reason: string, partition: number, offset: string): void {
    stats.rejected[code] = (stats.rejected[code] ?? 0) + 1;
    log?.warn({ code, partition, offset, topic }, `breaker command rejected: ${reason}`);
    try {
      opts.onReject?.({ code, reason, partition, offset });
    } catch (err) {
      log?.error({ err: errorMessage(err) }, 'onReject threw');
    }
  }

  function handle(key: Buffer | null, value: Buffer | null, partition: number, offset: string): void {
    if (value === null) return reject('COMMAND_MALFORMED', 'tombstone (null value) cannot be verified', partition, offset);
    const r = openCommand(value, opts.keyring);
    if (!r.ok) return reject(r.code, r.reason, partition, offset);
    // Compaction keeps the last record per key: a valid command filed under another
    // identity's key would erase that identity's record. Never apply one.
    if (key === null || !key.equals(Buffer.from(r.command.identity, 'utf8'))) {
      return reject('COMMAND_KEY_MISMATCH', `record key is not the signed identity (command ${r.command.commandId})`, partition, offset);
    }
    // An expired suspend still supersedes older commands for its scope; it just denies nothing.
    const outcome = table.apply(r.command);
    if (isExpired(r.command, now())) {
      return reject('COMMAND_EXPIRED', `suspend ${r.command.commandId} ended at ${r.command.until}`, partition, offset);
    }
    stats[outcome]++;
  }

  async function highWatermarks() {
    const offsets = await feed.offsets(topic);
    if (offsets === null) throw new WardenError('ENFORCER_TOPIC_MISSING', `commands topic "${topic}" does not exist`, { retriable: true });
    return offsets;
  }

  async function start(): Promise<void> {
    if (started || stopped) throw new WardenError('ENFORCER_STATE', started ? 'enforcer already started' : 'enforcer was stopped');
    started = true;
    let tracker: BootstrapTracker;
    try {
      tracker = new BootstrapTracker(await highWatermarks());
    } catch (err) {
      if (err instanceof WardenError) throw err;
      throw new WardenError('ENFORCER_START_FAILED', `cannot read offsets of "${topic}": ${errorMessage(err)}`, { retriable: true, cause: err });
    }
    if (stopped) throw new WardenError('ENFORCER_STOPPED', 'enforcer stopped before bootstrap completed');
    let markBootstrapped!: () => void;
    const bootstrapped = new Promise<void>((resolve, rejectBootstrap) => {
      markBootstrapped = resolve;
      failBootstrap = rejectBootstrap;
    });
    const advance = (partition: number, next: number) => {
      if (tracker.advance(partition, next)) markBootstrapped();
    };
    const timeoutMs = opts.bootstrapTimeoutMs ?? 60_000;
    const timer = setTimeout(
      () => failBootstrap?.(new WardenError('ENFORCER_BOOTSTRAP_TIMEOUT', `did not read "${topic}" up to its high watermarks within ${timeoutMs} ms`, { retriable: true })),
      timeoutMs,
    );
    const follow = async () => {
      await feed.follow(topic, {
        records: (partition, records) => {
          for (const m of records) handle(m.key, m.value, partition, m.offset);
        },
        position: advance,
        crash: (error, restart) => {
          log?.error({ err: errorMessage(error), restart }, 'enforcer consumer crashed');
          if (!restart) {
            stats.following = false;
            failBootstrap?.(new WardenError('ENFORCER_CONSUMER_CRASHED', `commands consumer stopped: ${errorMessage(error)}`, { retriable: true }));
          }
        },
      });
      stats.following = true;
      if (tracker.done) markBootstrapped();
    };
    try {
      // Either side failing (connect error, crash, timeout, stop) ends start() at once.
      await Promise.all([follow(), bootstrapped]);
      stats.bootstrapped = true;
      log?.info({ topic, identities: table.identities, applied: stats.applied, rejected: stats.rejected }, 'enforcer bootstrapped');
    } catch (err) {
      await feed.close().catch(() => undefined);
      stats.following = false;
      if (err instanceof WardenError) throw err;
      throw new WardenError('ENFORCER_START_FAILED', `cannot follow "${topic}": ${errorMessage(err)}`, { retriable: true, cause: err });
    } finally {
      clearTimeout(timer);
      failBootstrap = undefined;
    }
  }

  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    stats.following = false;
    failBootstrap?.(new WardenError('ENFORCER_STOPPED', 'enforcer stopped before bootstrap completed'));
    await feed.close();
  }

  return {
    start,
    stop,
    check: (identity, action, chain) => table.check(identity, action, chain),
    stats: () => ({ ...stats, rejected: { ...stats.rejected }, identities: table.identities }),
  };
}
