import { setTimeout as delay } from 'node:timers/promises';
import { errorMessage, isRetriable, WardenError } from './errors.js';

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** [0, 1); injectable for tests. */
  random?: () => number;
}

export interface RetryOptions extends BackoffOptions {
  maxAttempts: number;
  signal?: AbortSignal;
  /** Injectable clock: must reject when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

/** A bad or hostile Retry-After must not park a receiver for days. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/** An attempt's failure; `retryAfterMs` is the server's Retry-After, when it sent one. */
export class AttemptError extends WardenError {
  constructor(message: string, retriable: boolean, readonly retryAfterMs?: number, readonly status?: number) {
    super(retriable ? 'ALERT_ATTEMPT_FAILED' : 'ALERT_REJECTED', message, { retriable });
  }
}

/** Thrown by retry() when it gives up: the last error is the cause. */
export class RetryError extends WardenError {
  constructor(readonly attempts: number, readonly lastError: unknown) {
    const why = isRetriable(lastError) ? `gave up after ${attempts} attempts` : `not retriable (attempt ${attempts})`;
    super('ALERT_UNDELIVERABLE', `${why}: ${errorMessage(lastError)}`, { cause: lastError });
  }
}

/** Full jitter (kafkajs/AWS style): uniform in [0, min(max, base·2^(retry-1))); `retry` is 1 before the second attempt. */
export function backoffDelay(retry: number, o: BackoffOptions): number {
  const ceiling = Math.min(o.maxMs, o.baseMs * 2 ** Math.min(retry - 1, 40));
  return Math.floor((o.random ?? Math.random)() * ceiling);
}

/** Never sooner than the server asked (capped at MAX_RETRY_AFTER_MS). */
export function retryDelay(retry: number, o: BackoffOptions, retryAfterMs?: number): number {
  const jittered = backoffDelay(retry, o);
  return retryAfterMs === undefined ? jittered : Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}

/** Retry-After as delta-seconds or an HTTP-date, in ms from `nowMs`; undefined when absent or unparseable. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(v);
  if (!/[a-z]/i.test(v) || Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - nowMs), MAX_RETRY_AFTER_MS);
}

/** Runs `fn` until it succeeds, throws a non-retriable error, or maxAttempts is reached; an abort stops the wait at once. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const sleep = o.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }));
  for (let attempt = 1; ; attempt++) {
    o.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (o.signal?.aborted) throw o.signal.reason;
      if (!isRetriable(error) || attempt >= o.maxAttempts) throw new RetryError(attempt, error);
      const delayMs = retryDelay(attempt, o, error instanceof AttemptError ? error.retryAfterMs : undefined);
      o.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, o.signal).catch((err: unknown) => {
        throw o.signal?.aborted ? o.signal.reason : err;
      });
    }
  }
}
