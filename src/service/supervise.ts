import { setTimeout as delay } from 'node:timers/promises';
import { retry, RetryError } from '../retry.js';
import { WardenError } from '../errors.js';

/** Backoff between attempts at a batch's Redis or Kafka work: full jitter, 250 ms doubling to 5 s. */
export const BACKOFF = { baseMs: 250, maxMs: 5_000 };

/** What a partition batch gives its waits: the consumer's heartbeat, so the group keeps the member through an outage. */
export interface Liveline {
  heartbeat(): Promise<void>;
  everyMs: number;
  /** False once the consumer stops or the batch goes stale: waiting is pointless then. */
  isRunning(): boolean;
  signal: AbortSignal;
}

function checkRunning(line: Liveline): void {
  line.signal.throwIfAborted();
  if (!line.isRunning()) throw new WardenError('SERVICE_STOPPING', 'the consumer stopped while a batch waited');
}

/** Waits `ms`, heartbeating every `everyMs`; a failed heartbeat (a rebalance) ends the wait with its error. */
export function heartbeatingSleep(line: Liveline): (ms: number, signal?: AbortSignal) => Promise<void> {
  return async (ms, signal) => {
    const end = Date.now() + ms;
    for (;;) {
      checkRunning(line);
      const left = end - Date.now();
      if (left <= 0) return;
      await delay(Math.min(left, line.everyMs), undefined, { signal: signal ?? line.signal });
      await line.heartbeat();
    }
  };
}

const TICK = Symbol('tick');

/** Awaits `work`, heartbeating meanwhile: a Redis call that hangs for longer than the session timeout must not cost the partition. */
export async function keepAlive<T>(work: Promise<T>, line: Liveline): Promise<T> {
  work.catch(() => {});
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const tick = new Promise<typeof TICK>((r) => (timer = setTimeout(r, line.everyMs, TICK)));
    const r = await Promise.race([work, tick]).finally(() => clearTimeout(timer));
    if (r !== TICK) return r as T;
    checkRunning(line);
    await line.heartbeat();
  }
}

/**
 * Runs `fn` until it succeeds: a retriable failure (Redis down, a broker
 * away) is retried with backoff for as long as the consumer runs, with
 * heartbeats all along; anything else is thrown as it came, for the caller to
 * end the process. One retry factory (src/retry.ts) for all of Warden.
 */
export async function persist<T>(fn: () => Promise<T>, line: Liveline, onRetry: (info: { attempt: number; delayMs: number; error: unknown }) => void): Promise<T> {
  try {
    return await retry(() => keepAlive(fn(), line), { maxAttempts: Infinity, ...BACKOFF, signal: line.signal, sleep: heartbeatingSleep(line), onRetry });
  } catch (err) {
    throw err instanceof RetryError ? err.lastError : err;
  }
}
