import type { Logger } from 'pino';
import type { WardenConfig } from '../config/types.js';
import { errorMessage } from '../errors.js';
import { publishControl } from '../service/operator.js';
import type { ServiceSettings } from '../service/settings.js';
import { readBaselines } from '../state/baseline-read.js';
import { collectBreakers } from '../state/breaker-view.js';
import { createRedis, type RedisClient } from '../state/redis-connection.js';
import { tailTopic, type TopicTail } from '../transport/topic-tail.js';
import { AuditIndex } from './audit-index.js';
import { createStatusApp, type StatusApp } from './server.js';

export interface StatusRuntime {
  app: StatusApp;
  /** Starts reading the decisions topic (once Kafka answers); retried in the background until it does. */
  start(): void;
  close(): Promise<void>;
}

const RETRY_MS = 5_000;
const SCAN_REUSE_MS = 1_500;

/**
 * The status page inside `warden run`: its own Redis connection (read-only
 * use, as `warden breaker list`), a tail of the decisions topic for the
 * timeline, and controls published as `warden breaker` publishes them.
 */
export function statusRuntime(settings: ServiceSettings, config: () => WardenConfig, log: Logger): StatusRuntime {
  const status = settings.status;
  const slog = log.child({ module: 'status' });
  const audit = new AuditIndex();
  let redis: RedisClient | null = null;
  const redisOf = (): RedisClient => (redis ??= createRedis(settings.redis.url, { logger: slog, name: 'status' }));
  const historyMs = status?.historyMs ?? 0;
  // Every open page refreshes every few seconds: one scan of the breakers serves them all for a moment.
  let scan: { at: number; found: ReturnType<typeof collectBreakers> } | null = null;
  const allBreakers = (): ReturnType<typeof collectBreakers> => {
    const now = Date.now();
    if (!scan || now - scan.at > SCAN_REUSE_MS) {
      const found = collectBreakers(redisOf(), settings.redis.prefix);
      scan = { at: now, found };
      found.catch(() => (scan = null));
    }
    return scan.found;
  };
  const app = createStatusApp({
    users: status?.users ?? null,
    keyring: settings.operatorKeyring,
    log: slog,
    publish: (c) => publishControl(settings, c),
    sources: {
      breakers: (identity) => (identity === undefined ? allBreakers() : collectBreakers(redisOf(), settings.redis.prefix, identity)),
      baselines: (identity, prefix) => readBaselines(redisOf(), settings.redis.prefix, identity, prefix),
      audit,
      rate: () => config().detectors.rate,
      now: () => Date.now(),
      historyMs,
    },
  });
  let tail: TopicTail | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  const begin = (): void => {
    if (closed || !status) return;
    tailTopic({
      kafka: settings.kafka, groupPrefix: `${settings.kafka.groupId}-status`, topic: settings.topics.decisions,
      sinceMs: Date.now() - historyMs, log: slog, onRecord: (r) => audit.add(r.value.toString('utf8'), r.timestamp),
    }).then((t) => {
      if (closed) void t.close();
      else tail = t;
    }, (err: unknown) => {
      slog.warn({ err: errorMessage(err), topic: settings.topics.decisions, retryInMs: RETRY_MS }, 'status page: cannot read the decisions topic yet');
      timer = setTimeout(begin, RETRY_MS);
      timer.unref();
    });
  };
  return {
    app,
    start: begin,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await (tail as TopicTail | null)?.close();
      (redis as RedisClient | null)?.disconnect();
    },
  };
}
