import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { createRedis, isCluster, scanKeys, type RedisClient } from '../../src/state/redis-connection.js';

const run = promisify(execFile);

export const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The local Redis Cluster scripts/test.sh brings up (scripts/redis-cluster.sh start). */
export const REDIS_CLUSTER_URL = process.env.REDIS_CLUSTER_URL ?? 'redis+cluster://127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103';
/** The keys test runs sign commands with (a fixed 32-byte test secret; never a real one). */
export const TEST_COMMAND_KEYS = `test-1=${Buffer.alloc(32, 7).toString('base64')}`;

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Fails loudly (never skips) when the real broker is not there. */
export async function requireKafka(): Promise<void> {
  try {
    await run('kcat', ['-b', BROKERS, '-L', '-m', '5'], { timeout: 15_000 });
  } catch (err) {
    throw new Error(`Kafka is not reachable at ${BROKERS}: start it with \`bash scripts/kafka.sh start\` (${(err as Error).message.split('\n')[0]})`);
  }
}

export async function requireRedis(): Promise<Redis> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new Error(`Redis is not reachable at ${REDIS_URL}: start redis-server or set REDIS_URL (${(err as Error).message})`);
  }
  return redis;
}

/** A connection to the local Redis Cluster; fails (never skips) when it is not up. */
export async function requireCluster(url = REDIS_CLUSTER_URL): Promise<RedisClient> {
  const redis = createRedis(url);
  redis.on('error', () => {});
  try {
    await Promise.race([redis.ping(), new Promise((_r, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000))]);
    if (!isCluster(redis)) throw new Error('not a cluster URL');
  } catch (err) {
    redis.disconnect();
    throw new Error(`Redis Cluster is not reachable at ${url}: start it with \`bash scripts/redis-cluster.sh start\` or set REDIS_CLUSTER_URL (${(err as Error).message})`);
  }
  return redis;
}

export function kafkaAdmin() {
  return new Kafka({ clientId: 'warden-test', brokers: BROKERS.split(','), logLevel: logLevel.NOTHING }).admin();
}

export async function createTopic(topic: string, partitions: number, compact = false): Promise<void> {
  const admin = kafkaAdmin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, configEntries: compact ? [{ name: 'cleanup.policy', value: 'compact' }] : [] }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

/**
 * kcat as the external producer: one message per line, `key<TAB>value` (JSON values). By default with
 * `murmur2_random`, which places a key where Java and kafkajs producers do; null: kcat's own default
 * (librdkafka's consistent_random, CRC32 of the key).
 */
export async function kcatProduceLines(topic: string, lines: Array<{ key: string; value: string }>, partitioner: string | null = 'murmur2_random'): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-kcat-'));
  try {
    const file = join(dir, 'in.txt');
    await writeFile(file, lines.map((l) => `${l.key}\t${l.value}`).join('\n') + '\n');
    const placed = partitioner === null ? [] : ['-X', `partitioner=${partitioner}`];
    await run('kcat', ['-b', BROKERS, '-P', '-t', topic, '-K', '\t', ...placed, '-l', file], { timeout: 60_000, maxBuffer: 1 << 24 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** kcat as the external producer of binary values (msgpack): one file per message. */
export async function kcatProduceBinary(topic: string, messages: Array<{ key: string; value: Uint8Array }>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-kcat-'));
  try {
    for (const [i, m] of messages.entries()) {
      const file = join(dir, `m${i}.bin`);
      await writeFile(file, m.value);
      await run('kcat', ['-b', BROKERS, '-P', '-t', topic, '-k', m.key, '-X', 'partitioner=murmur2_random', file], { timeout: 30_000 });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface KcatRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  payload: string | null;
  headers?: string[];
}

/** kcat as the external consumer: everything on the topic now. */
export async function kcatConsumeAll(topic: string): Promise<KcatRecord[]> {
  const { stdout } = await run('kcat', ['-b', BROKERS, '-C', '-t', topic, '-o', 'beginning', '-e', '-J', '-q'], { timeout: 60_000, maxBuffer: 1 << 28 });
  return stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as KcatRecord);
}

export function headerMap(r: KcatRecord): Record<string, string> {
  const h: Record<string, string> = {};
  const list = r.headers ?? [];
  for (let i = 0; i + 1 < list.length; i += 2) h[list[i]!] = list[i + 1]!;
  return h;
}

/** Waits until the group has committed every message on the topic. */
export async function waitForGroupCaughtUp(groupId: string, topic: string, timeoutMs = 90_000): Promise<void> {
  const admin = kafkaAdmin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const high = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const behind = high.some((h) => {
        const c = committed?.partitions.find((p) => p.partition === h.partition);
        return Number(h.high) > 0 && Number(c?.offset ?? -1) < Number(h.high);
      });
      if (!behind) return;
      if (Date.now() > deadline) throw new Error(`group ${groupId} did not catch up on ${topic} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await admin.disconnect();
  }
}

export interface WardenProcess {
  child: ChildProcess;
  logs: string[];
  exited: Promise<number | null>;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/**
 * Starts `warden run` as a real separate process. Tests replay fixed dates
 * (the simulated fleet's November 2026), so the age bound is off unless a test
 * sets WARDEN_EVENT_MAX_AGE; the ahead bound stays at its default.
 */
export function startWarden(env: Record<string, string>, configDir = 'config'): WardenProcess {
  return startWardenCommand(['run', '--config', configDir], env);
}

/** Any `warden` command as a separate process, with the same environment and log capture as startWarden. */
export function startWardenCommand(args: string[], env: Record<string, string>): WardenProcess {
  const child = spawn(process.execPath, ['bin/warden.js', ...args], {
    env: { ...process.env, KAFKA_BROKERS: BROKERS, REDIS_URL, LOG_LEVEL: 'info', KAFKAJS_NO_PARTITIONER_WARNING: '1', WARDEN_HTTP_PORT: '0', WARDEN_HTTP_HOST: '127.0.0.1', WARDEN_COMMAND_KEYS: TEST_COMMAND_KEYS, WARDEN_EVENT_MAX_AGE: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (l: string) => void }> = [];
  let buf = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      logs.push(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.pattern.test(line)) {
          waiters[i]!.resolve(line);
          waiters.splice(i, 1);
        }
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    logs,
    exited,
    waitForLog(pattern, timeoutMs = 60_000) {
      const found = logs.find((l) => pattern.test(l));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms; last lines:\n${logs.slice(-15).join('\n')}`)), timeoutMs);
        waiters.push({ pattern, resolve: (l) => { clearTimeout(timer); resolve(l); } });
        void exited.then((code) => { clearTimeout(timer); reject(new Error(`warden exited (${code}) before logging ${pattern}; last lines:\n${logs.slice(-15).join('\n')}`)); });
      });
    },
  };
}

export async function stopWarden(p: WardenProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
  p.child.kill(signal);
  return p.exited;
}

/** Every key under a prefix with its content, the prefix removed, for comparing two runs' state. */
export async function dumpState(redis: RedisClient, prefix: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for await (const keys of scanKeys(redis, `${prefix}:*`)) {
    for (const key of keys) {
      const type = await redis.type(key);
      const name = key.slice(prefix.length);
      if (type === 'hash') {
        // Some fields hold packed binary numbers: compare bytes, not a lossy UTF-8 reading.
        const h = await redis.hgetallBuffer(key);
        out[name] = Object.fromEntries(Object.keys(h).sort().map((f) => [f, h[f]!.toString('hex')]));
      }
      else if (type === 'set') out[name] = (await redis.smembers(key)).sort();
      else if (type === 'list') out[name] = await redis.lrange(key, 0, -1);
      else if (type === 'string') out[name] = await redis.get(key);
      else out[name] = type;
    }
  }
  return out;
}

/** Every key under a prefix, sorted. */
/** Counts the pipelines the connection sends from now on (its round trips for batched work). */
export function countPipelines(redis: RedisClient): () => number {
  let execs = 0;
  const pipeline = redis.pipeline.bind(redis);
  redis.pipeline = ((...args: Parameters<typeof pipeline>) => {
    const p = pipeline(...args);
    const exec = p.exec.bind(p);
    p.exec = (...e: Parameters<typeof exec>) => {
      execs++;
      return exec(...e);
    };
    return p;
  }) as typeof redis.pipeline;
  return () => execs;
}

export async function keysUnder(redis: RedisClient, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const keys of scanKeys(redis, `${prefix}:*`)) out.push(...keys);
  return out.sort();
}

/** Deletes every key under a prefix, and the keys tagged with a name under it (`{<prefix>:...}...`). */
export async function deletePrefix(redis: RedisClient, prefix: string): Promise<void> {
  for (const pattern of [`${prefix}:*`, `{${prefix}:*`]) {
    for await (const keys of scanKeys(redis, pattern)) {
      // On a cluster, one DEL per key: a multi-key DEL must stay in one slot.
      if (isCluster(redis)) await Promise.all(keys.map((k) => redis.del(k)));
      else await redis.del(...keys);
    }
  }
}

/** Messages the group has committed on the topic, summed over partitions. */
export async function committedCount(groupId: string, topic: string): Promise<number> {
  const admin = kafkaAdmin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (committed?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

/** kcat as the external producer, one message per file, to a given partition; `extra` passes librdkafka settings. */
export async function kcatProduceFile(topic: string, partition: number, key: string, value: Uint8Array | string, extra: string[] = []): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-kcat-'));
  try {
    const file = join(dir, 'm.bin');
    await writeFile(file, value);
    await run('kcat', ['-b', BROKERS, '-P', '-t', topic, '-p', String(partition), '-k', key, ...extra, file], { timeout: 60_000 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A topic's effective max.message.bytes (the broker's message.max.bytes unless the topic overrides it). */
export async function topicMaxMessageBytes(topic: string): Promise<number> {
  const admin = kafkaAdmin();
  await admin.connect();
  try {
    const res = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: topic, configNames: ['max.message.bytes'] }] });
    return Number(res.resources[0]!.configEntries.find((e) => e.configName === 'max.message.bytes')!.configValue);
  } finally {
    await admin.disconnect();
  }
}

/** `warden <args>` as a separate process; its exit code and output. */
export async function wardenCli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/warden.js', ...args], { env: { ...process.env, REDIS_URL, KAFKA_BROKERS: BROKERS, ...env }, timeout: 60_000, maxBuffer: 1 << 26 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export interface RedisServer {
  port: number;
  url: string;
  /** SHUTDOWN SAVE: the process ends, its data kept in the temp dir for start(). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SHUTDOWN NOSAVE and start again with nothing: a Redis that restarted empty. */
  restartEmpty(): Promise<void>;
  /** SIGSTOP / SIGCONT: the process and its connections stay, nothing answers. */
  freeze(): void;
  thaw(): void;
  /** Stops it and removes its temp dir. */
  close(): Promise<void>;
}

async function pingRedis(port: number): Promise<boolean> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  r.on('error', () => {});
  try {
    await r.connect();
    await r.ping();
    return true;
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/** A redis-server of the test's own on a free port from 6390, no persistence but what stop() saves, so a test can take it away. */
export async function startRedisServer(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-redis-'));
  let port = 6390 + (process.pid % 50);
  while (await pingRedis(port)) port++;
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (await pingRedis(port)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`redis-server on ${port} did not start`);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    await run('redis-cli', ['-p', String(port), 'shutdown', 'save']).catch(() => c.kill('SIGTERM'));
    await exited;
    child = null;
  };
  const restartEmpty = async (): Promise<void> => {
    const c = child;
    if (c && c.exitCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      await run('redis-cli', ['-p', String(port), 'shutdown', 'nosave']).catch(() => c.kill('SIGKILL'));
      await exited;
    }
    child = null;
    await rm(join(dir, 'dump.rdb'), { force: true });
    await start();
  };
  await start();
  return {
    port, url: `redis://127.0.0.1:${port}`, start, stop, restartEmpty,
    freeze: () => void child?.kill('SIGSTOP'),
    thaw: () => void child?.kill('SIGCONT'),
    async close() {
      (child as ChildProcess | null)?.kill('SIGCONT');
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A suite's set-up against the real services: Kafka and Redis must answer
 * (it fails loudly, never skips), `onRedis` gets the admin connection, and
 * every key prefix pushed onto the returned list is deleted after the suite.
 */
export function useServices(onRedis: (redis: Redis) => void = () => {}): string[] {
  const prefixes: string[] = [];
  let redis: Redis | undefined;
  beforeAll(async () => {
    await requireKafka();
    redis = await requireRedis();
    onRedis(redis);
  });
  afterAll(async () => {
    for (const p of prefixes) await deletePrefix(redis!, p);
    redis?.disconnect();
  });
  return prefixes;
}
