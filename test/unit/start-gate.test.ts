import { describe, expect, it } from 'vitest';
import { WardenError } from '../../src/errors.js';
import { kafkaDependency, redactUrl, redisDependency, StartGate } from '../../src/service/start-gate.js';

describe('redactUrl', () => {
  it('replaces a password, keeps the user, host, port and db', () => {
    expect(redactUrl('redis://:s3cret@10.0.0.1:6380/2')).toBe('redis://:[redacted]@10.0.0.1:6380/2');
    expect(redactUrl('rediss://warden:s3cret@cache.internal:6379')).toBe('rediss://warden:[redacted]@cache.internal:6379');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });

  it('a Redis URL with only a user part treats it as the password (redis://secret@host)', () => {
    expect(redactUrl('redis://s3cret@host:6379')).toBe('redis://[redacted]@host:6379');
  });

  it('something that is no URL shows nothing before an @', () => {
    expect(redactUrl('not a url s3cret@host')).toBe('[redacted]@host');
    expect(redisDependency('redis://u:p@h:1').address).not.toContain(':p@');
  });
});

describe('StartGate', () => {
  const dep = { name: 'Kafka' as const, variable: 'KAFKA_BROKERS', address: 'b:9092' };

  it('retries a retriable failure until it succeeds, and says what it waits on', async () => {
    const phases: string[] = [];
    const gate = new StartGate(5_000, (p) => phases.push(p));
    let calls = 0;
    const r = await gate.wait(dep, 'connecting to', async () => {
      if (++calls < 3) throw new Error('ECONNREFUSED');
      return 'up';
    }, () => true);
    expect(r).toBe('up');
    expect(calls).toBe(3);
    expect(phases).toEqual(['connecting to Kafka at b:9092']);
  });

  it('a step that never answers ends with START_TIMEOUT naming the variable and the last error', async () => {
    const gate = new StartGate(300);
    let calls = 0;
    const err = await gate.wait(dep, 'connecting to', () => (++calls === 1 ? Promise.reject(new Error('ECONNREFUSED')) : new Promise(() => {})), () => true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WardenError);
    expect((err as WardenError).code).toBe('START_TIMEOUT');
    expect((err as Error).message).toBe('connecting to Kafka at b:9092: no answer within 0.3 s (check KAFKA_BROKERS, or raise WARDEN_START_TIMEOUT_S); last error: ECONNREFUSED');
  });

  it('a failure retrying cannot mend ends at once with START_FAILED', async () => {
    const gate = new StartGate(60_000);
    const began = Date.now();
    const err = await gate.wait(kafkaDependency(['b:9092']), 'connecting to', () => Promise.reject(new Error('SASL authentication failed')), () => false).catch((e: unknown) => e);
    expect((err as WardenError).code).toBe('START_FAILED');
    expect((err as Error).message).toBe('connecting to Kafka at b:9092: SASL authentication failed (check KAFKA_BROKERS, KAFKA_SSL and KAFKA_SASL_*)');
    expect(Date.now() - began).toBeLessThan(1_000);
  });
});
