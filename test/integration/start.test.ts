import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createTopic, startRedisServer, startWarden, stopWarden, uniqueName, type WardenProcess, useServices } from './helpers.js';
import { newRunOf } from './runs.js';

let redis: Redis;
const prefixes = useServices((r) => (redis = r));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TIMEOUT_S = 3;

/** A TCP server that accepts and never answers (a broker or Redis that hangs); counts its connections. */
async function silentServer(): Promise<{ server: Server; port: number; connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let n = 0;
  const server = createServer((s) => {
    n++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    server, port, connections: () => n,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/** A port nothing listens on: taken from the OS, then given back. */
async function closedPort(): Promise<number> {
  const s = await silentServer();
  await s.close();
  return s.port;
}

/** Its exit code and how long after `since`, or "still running" after `withinMs`. */
async function exitOf(w: WardenProcess, since: number, withinMs: number): Promise<{ code: number | null | 'still running'; ms: number }> {
  const code = await Promise.race([w.exited, sleep(withinMs).then(() => 'still running' as const)]);
  if (code === 'still running') w.child.kill('SIGKILL');
  return { code, ms: Date.now() - since };
}

/** The one fatal line a failed start ends with; every line on stderr is JSON, none is ioredis' "Unhandled error event". */
function exitingLine(w: WardenProcess): { code?: string; msg: string; level: number; exitCode: number } {
  for (const l of w.logs) expect(() => JSON.parse(l), `not a JSON log line: ${l}`).not.toThrow();
  expect(w.logs.filter((l) => l.includes('Unhandled error event'))).toEqual([]);
  const exiting = w.logs.filter((l) => l.includes('warden exiting'));
  expect(exiting, w.logs.slice(-10).join('\n')).toHaveLength(1);
  return JSON.parse(exiting[0]!) as { code?: string; msg: string; level: number; exitCode: number };
}

function env(extra: Record<string, string>): Record<string, string> {
  const prefix = uniqueName('start');
  prefixes.push(prefix);
  return { WARDEN_REDIS_PREFIX: prefix, KAFKA_GROUP_ID: uniqueName('start'), WARDEN_TOPIC_ACTIONS: uniqueName('start'), WARDEN_START_TIMEOUT_S: String(TIMEOUT_S), ...extra };
}

describe('warden run fails fast and visibly at start', () => {
  it('Kafka at a closed port: waits out the start timeout, then exits 1 with one line naming KAFKA_BROKERS and the address', async () => {
    const port = await closedPort();
    const began = Date.now();
    const w = startWarden(env({ KAFKA_BROKERS: `127.0.0.1:${port}` }));
    const { code, ms } = await exitOf(w, began, TIMEOUT_S * 1000 + 10_000);
    expect(code).toBe(1);
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_S * 1000);
    const line = exitingLine(w);
    expect(line).toMatchObject({ level: 60, exitCode: 1, code: 'START_TIMEOUT' });
    expect(line.msg).toContain(`Kafka at 127.0.0.1:${port}`);
    expect(line.msg).toContain('check KAFKA_BROKERS');
    expect(line.msg).toContain(`within ${TIMEOUT_S} s`);
  });

  it('Redis at a closed port: exits 1 with one line naming REDIS_URL, its password redacted, and every Redis error as JSON', async () => {
    const port = await closedPort();
    const began = Date.now();
    const w = startWarden(env({ REDIS_URL: `redis://warden:hunter2-secret@127.0.0.1:${port}/0`, KAFKA_BROKERS: `127.0.0.1:${await closedPort()}` }));
    const { code, ms } = await exitOf(w, began, TIMEOUT_S * 1000 + 10_000);
    expect(code).toBe(1);
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_S * 1000);
    const line = exitingLine(w);
    expect(line).toMatchObject({ code: 'START_TIMEOUT', exitCode: 1 });
    expect(line.msg).toContain(`Redis at redis://warden:[redacted]@127.0.0.1:${port}/0`);
    expect(line.msg).toContain('check REDIS_URL');
    expect(line.msg).toMatch(/ECONNREFUSED/);
    // Redis first: Kafka is not tried while Redis does not answer.
    expect(w.logs.filter((l) => l.includes('"module":"kafkajs"'))).toEqual([]);
    expect(w.logs.some((l) => l.includes('"msg":"Redis connection error"'))).toBe(true);
    expect(w.logs.filter((l) => l.includes('hunter2'))).toEqual([]);
  });

  it('WARDEN_HTTP_PORT taken: exits 1 at once with one line naming it, before touching Kafka or Redis', async () => {
    const taken = await silentServer();
    const deps = await silentServer();
    try {
      const began = Date.now();
      const w = startWarden(env({ WARDEN_HTTP_PORT: String(taken.port), KAFKA_BROKERS: `127.0.0.1:${deps.port}`, REDIS_URL: `redis://127.0.0.1:${deps.port}` }));
      const { code, ms } = await exitOf(w, began, 10_000);
      expect(code).toBe(1);
      expect(ms).toBeLessThan(TIMEOUT_S * 1000);
      const line = exitingLine(w);
      expect(line).toMatchObject({ code: 'START_HTTP', exitCode: 1 });
      expect(line.msg).toContain(`127.0.0.1:${taken.port}`);
      expect(line.msg).toContain('already in use');
      expect(line.msg).toContain('WARDEN_HTTP_PORT');
      expect(deps.connections()).toBe(0);
    } finally {
      await Promise.all([taken.close(), deps.close()]);
    }
  });

  it('while Kafka accepts but never answers: /readyz is 503 "starting" naming what it waits on, /healthz 200, /metrics served; then exit 1', async () => {
    const broker = await silentServer();
    try {
      const w = startWarden(env({ KAFKA_BROKERS: `127.0.0.1:${broker.port}`, WARDEN_START_TIMEOUT_S: '8' }));
      const started = JSON.parse(await w.waitForLog(/"msg":"warden starting"/)) as { http: string };
      const base = `http://${started.http}`;
      await w.waitForLog(/"phase":"connecting to Kafka/, 8_000);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.text()).toBe(`not ready: starting: connecting to Kafka at 127.0.0.1:${broker.port}\n`);
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.text()).toBe('ok\n');
      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('warden_events_consumed_total');
      expect(broker.connections()).toBeGreaterThan(0);
      // SIGHUP's default would end it: while starting it is held for later.
      w.child.kill('SIGHUP');
      await w.waitForLog(/"msg":"SIGHUP while starting: the config is read again once started"/, 5_000);
      expect(w.child.exitCode).toBeNull();
      const { code } = await exitOf(w, Date.now(), 8_000 + 10_000);
      expect(code).toBe(1);
      const line = exitingLine(w);
      expect(line).toMatchObject({ code: 'START_TIMEOUT' });
      expect(line.msg).toContain(`connecting to Kafka at 127.0.0.1:${broker.port}: no answer within 8 s (check KAFKA_BROKERS`);
    } finally {
      await broker.close();
    }
  });

  it('after start, a Redis outage is logged as JSON for the state and the alert dispatcher connections, never as an unhandled event', async () => {
    const server = await startRedisServer();
    const dir = await mkdtemp(join(tmpdir(), 'warden-cfg-'));
    try {
      await cp('config', dir, { recursive: true });
      await writeFile(join(dir, 'alerts.yaml'), 'receivers:\n  - name: oncall\n    url: http://127.0.0.1:9/hook\n    format: generic\n    secretEnv: ONCALL_SECRET\n');
      const actions = uniqueName('start-outage');
      await createTopic(actions, 1);
      const run = await newRunOf(actions, []);
      const w = startWarden({ ...run.env, REDIS_URL: server.url, ONCALL_SECRET: 'on-call-test-secret' }, dir);
      await w.waitForLog(/"msg":"alert receiver consuming"/);
      await w.waitForLog(/"msg":"warden running"/);
      await server.stop();
      await w.waitForLog(/"connection":"state".*"msg":"Redis connection error"/, 15_000);
      await w.waitForLog(/"connection":"alerts".*"msg":"Redis connection error"/, 15_000);
      await server.start();
      expect(w.child.exitCode).toBeNull();
      expect(await stopWarden(w)).toBe(0);
      for (const l of w.logs) expect(() => JSON.parse(l), `not a JSON log line: ${l}`).not.toThrow();
      expect(w.logs.filter((l) => l.includes('Unhandled error event'))).toEqual([]);
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
