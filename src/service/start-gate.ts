import { setTimeout as delay } from 'node:timers/promises';
import { errorMessage, WardenError } from '../errors.js';

export const DEFAULT_START_TIMEOUT_MS = 30_000;
const LATE = Symbol('late');

/** What a start step waits on, named as the operator sets it. */
export interface Dependency {
  name: 'Kafka' | 'Redis';
  /** The variable to check: KAFKA_BROKERS, REDIS_URL. */
  variable: string;
  /** Where it was tried, credentials removed. */
  address: string;
  /** Further settings to check when it answers with a refusal (credentials, TLS). */
  refusal?: string;
}

/** A URL with its user's password replaced, for logs and errors: `redis://:[redacted]@host:6379`. */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = '[redacted]';
    else if (u.username && /^rediss?(\+cluster)?:$/.test(u.protocol)) u.username = '[redacted]';
    return u.toString().replace(/%5Bredacted%5D/g, '[redacted]');
  } catch {
    // Not a URL we can take apart: show nothing that could be a secret.
    return raw.includes('@') ? `[redacted]@${raw.slice(raw.lastIndexOf('@') + 1)}` : raw;
  }
}

export const kafkaDependency = (brokers: string[]): Dependency => ({ name: 'Kafka', variable: 'KAFKA_BROKERS', address: brokers.join(','), refusal: 'KAFKA_SSL and KAFKA_SASL_*' });
export const redisDependency = (url: string): Dependency => ({ name: 'Redis', variable: 'REDIS_URL', address: redactUrl(url) });

/**
 * Bounds every wait on Kafka or Redis while `warden run` starts, so a
 * dependency that does not answer ends the start with a line naming the
 * variable to check instead of a process that hangs. `phase` says what the
 * start waits on now (for /readyz).
 */
export class StartGate {
  phase = 'starting';

  constructor(readonly timeoutMs: number = DEFAULT_START_TIMEOUT_MS, private readonly onPhase: (phase: string) => void = () => {}) {}

  private enter(phase: string): void {
    this.phase = phase;
    this.onPhase(phase);
  }

  /** Without a dependency: only says what the start is doing (e.g. joining the group, bounded by kafkajs). */
  note(phase: string): void {
    this.enter(phase);
  }

  /**
   * Runs `step` within the timeout. While `retriable(err)` says trying again
   * can help (a connection refused), it is tried again with backoff until the
   * timeout; any other failure ends the start at once, with the variable named.
   * `doing` reads before the dependency: "connecting to" Kafka at ...
   */
  async wait<T>(dep: Dependency, doing: string, step: () => Promise<T>, retriable: (err: unknown) => boolean = () => false): Promise<T> {
    const phase = `${doing} ${dep.name} at ${dep.address}`;
    this.enter(phase);
    const deadline = Date.now() + this.timeoutMs;
    let last: unknown;
    for (let attempt = 0; ; attempt++) {
      const timer = new AbortController();
      const work = step();
      work.catch(() => {});
      const late = delay(Math.max(0, deadline - Date.now()), LATE, { signal: timer.signal }).catch(() => LATE);
      try {
        const r = await Promise.race([work, late]);
        if (r !== LATE) return r as T;
        throw this.timedOut(dep, phase, last);
      } catch (err) {
        if (err instanceof WardenError && err.code === 'START_TIMEOUT') throw err;
        if (!retriable(err)) throw new WardenError('START_FAILED', `${phase}: ${errorMessage(err)} (check ${dep.variable}${dep.refusal ? `, ${dep.refusal}` : ''})`, { cause: err });
        last = err;
      } finally {
        timer.abort();
      }
      const left = deadline - Date.now();
      if (left <= 0) throw this.timedOut(dep, phase, last);
      await delay(Math.min(250 * 2 ** attempt, 2_000, left));
    }
  }

  private timedOut(dep: Dependency, phase: string, last: unknown): WardenError {
    const why = last === undefined ? '' : `; last error: ${errorMessage(last)}`;
    return new WardenError(
      'START_TIMEOUT',
      `${phase}: no answer within ${this.timeoutMs / 1000} s (check ${dep.variable}, or raise WARDEN_START_TIMEOUT_S)${why}`,
      { cause: last },
    );
  }
}
