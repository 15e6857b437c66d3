import { Kafka, logLevel, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  ssl: boolean;
  sasl: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string } | null;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * kafkajs is in maintenance mode (2.2.4 is its last release): everything else
 * in Warden talks to Kafka through this module and src/service, so the client
 * can be swapped without touching the pipeline.
 */
export function createKafka(settings: KafkaSettings, log: Logger): Kafka {
  const kafkaLog = log.child({ module: 'kafkajs' });
  const config: KafkaConfig = {
    clientId: settings.clientId,
    brokers: settings.brokers,
    ssl: settings.ssl,
    // kafkajs' own logs go through pino, with its namespace kept.
    logCreator: () => ({ namespace, level, log: entry }) => {
      const { message, timestamp: _t, logger: _l, ...rest } = entry as Record<string, unknown>;
      kafkaLog[LEVELS[level] ?? 'info']({ ns: namespace, ...rest }, String(message));
    },
    logLevel: logLevel.WARN,
  };
  if (settings.sasl) config.sasl = settings.sasl as SASLOptions;
  return new Kafka(config);
}

function rootCause(err: unknown): unknown {
  let e = err;
  while (e instanceof Error && e.cause !== undefined) e = e.cause;
  return e;
}

/** kafkajs' own rule (its consumer's restart decision): its retries ran out on a retriable cause, or the root cause is retriable. */
export function kafkaRetriable(err: unknown): boolean {
  if (err instanceof Error && err.name === 'KafkaJSNumberOfRetriesExceeded') return true;
  const cause = rootCause(err) as { retriable?: unknown };
  return typeof cause === 'object' && cause !== null && cause.retriable === true;
}

/** The broker's error type (`MESSAGE_TOO_LARGE`, ...) when it sent one. */
export function kafkaErrorType(err: unknown): string | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string') return type;
  }
  return undefined;
}
