/**
 * Integration checks against a real Kafka broker (by default the 4.x pinned in
 * scripts/kafka/pom.xml; KAFKA_VERSION=3.9.1 bash scripts/kafka.sh start runs
 * the other tested line), plus consistency checks between scripts/kafka.sh's
 * inputs and docker-compose.yml.
 *
 * The broker must already run at $KAFKA_BROKERS (default 127.0.0.1:9092):
 *
 *   bash scripts/kafka.sh start
 *
 * When it does not, these tests FAIL (they never skip).
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel, ConfigResourceTypes, type Admin, type KafkaMessage } from 'kafkajs';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';

const execFileAsync = promisify(execFile);

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const KAFKA_SH = resolve(REPO_ROOT, 'scripts/kafka.sh');
const POM = resolve(REPO_ROOT, 'scripts/kafka/pom.xml');
const TOPICS_TXT = resolve(REPO_ROOT, 'scripts/kafka/topics.txt');
const COMPOSE = resolve(REPO_ROOT, 'docker-compose.yml');

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092')
  .split(',')
  .map((b) => b.trim())
  .filter(Boolean);
const BOOTSTRAP = BROKERS.join(',');

// ---------------------------------------------------------------------------
// helpers

interface TopicSpec {
  name: string;
  /** As written in topics.txt: "3" or "${WARDEN_PARTITIONS:-6}". */
  partitionsRaw: string;
  /** Resolved with the current environment, as scripts/kafka.sh does. */
  partitions: number;
  configs: Record<string, string>;
}

function parseConfigs(s: string | undefined): Record<string, string> {
  if (!s || s === '-') return {};
  return Object.fromEntries(
    s.split(',').map((kv) => {
      const i = kv.indexOf('=');
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
}

function resolvePartitions(raw: string): number {
  const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*):-([0-9]+)\}$/.exec(raw);
  const value = m ? process.env[m[1]!] || m[2]! : raw;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bad partition count ${JSON.stringify(raw)}`);
  return n;
}

function readTopicsTxt(): TopicSpec[] {
  return readFileSync(TOPICS_TXT, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [name, partitionsRaw, configs] = l.split(/\s+/);
      return {
        name: name!,
        partitionsRaw: partitionsRaw!,
        partitions: resolvePartitions(partitionsRaw!),
        configs: parseConfigs(configs),
      };
    });
}

async function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, {
      timeout: opts.timeoutMs ?? 20_000,
      maxBuffer: 16 * 1024 * 1024,
      env: opts.env ?? process.env,
    });
    return stdout;
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string; killed?: boolean };
    throw new Error(
      `${cmd} ${args.join(' ')} failed${err.killed ? ' (timed out)' : ''}: ${err.message}\n` +
        `stdout: ${err.stdout ?? ''}\nstderr: ${err.stderr ?? ''}`,
    );
  }
}

/** Runs cmd with `input` on stdin. */
function runWithInput(cmd: string, args: string[], input: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise(stdout);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}; stderr: ${stderr}`));
    });
    child.stdin.end(input);
  });
}

interface KcatMetadata {
  brokers?: { id: number; name: string }[];
  topics?: { topic: string; partitions: unknown[]; error?: string }[];
}

async function kcatMetadata(): Promise<KcatMetadata> {
  return JSON.parse(await run('kcat', ['-b', BOOTSTRAP, '-L', '-J', '-m', '5'])) as KcatMetadata;
}

function newKafka(clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: BROKERS,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5_000,
    retry: { retries: 5, initialRetryTime: 200 },
  });
}

function uniqueTopic(label: string): string {
  return `warden-it.${label}.${Date.now()}.${randomUUID().slice(0, 8)}`;
}

async function createTopic(admin: Admin, topic: string, numPartitions = 3): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1 }], waitForLeaders: true });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------

describe(`Kafka broker at ${BOOTSTRAP}`, () => {
  const kafka = newKafka('warden-it');
  const admin = kafka.admin();
  const createdTopics: string[] = [];

  // Every test awaits this, so an absent broker fails each of them with the same
  // message (a throwing beforeAll would leave them reported as "skipped").
  let ready: Promise<void> | undefined;
  const requireBroker = (): Promise<void> =>
    (ready ??= (async () => {
      let meta: KcatMetadata | undefined;
      let cause = '';
      try {
        meta = await kcatMetadata();
      } catch (e) {
        cause = (e as Error).message.split('\n')[0] ?? '';
      }
      if (!meta?.brokers?.length) {
        throw new Error(
          `Kafka is not reachable at ${BOOTSTRAP}: start it with \`bash scripts/kafka.sh start\`` +
            (cause ? ` (${cause})` : ''),
        );
      }
      await admin.connect();
    })());

  afterAll(async () => {
    if (createdTopics.length) {
      await admin.deleteTopics({ topics: createdTopics, timeout: 10_000 }).catch(() => undefined);
    }
    await admin.disconnect().catch(() => undefined);
  });

  it('kcat produces keyed messages, a kafkajs consumer group (eachBatch) reads them', async () => {
    await requireBroker();
    const topic = uniqueTopic('kcat-to-kafkajs');
    createdTopics.push(topic);
    await createTopic(admin, topic);

    const sent = [
      { key: 'agent-1', value: '{"n":1,"action":"read"}' },
      { key: 'agent-2', value: '{"n":2,"action":"write"}' },
      { key: 'agent-3', value: '{"n":3,"action":"delete"}' },
    ];
    // One message per line; -K '|' splits each line into key and value.
    await runWithInput(
      'kcat',
      ['-P', '-b', BOOTSTRAP, '-t', topic, '-K', '|'],
      sent.map((m) => `${m.key}|${m.value}`).join('\n') + '\n',
    );

    const consumer = kafka.consumer({ groupId: `warden-it-${randomUUID()}`, sessionTimeout: 10_000 });
    const received: { key: string | undefined; value: string | undefined; partition: number }[] = [];
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await withTimeout(
        new Promise<void>((done, fail) => {
          consumer
            .run({
              eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
                for (const m of batch.messages as KafkaMessage[]) {
                  received.push({
                    key: m.key?.toString(),
                    value: m.value?.toString(),
                    partition: batch.partition,
                  });
                  resolveOffset(m.offset);
                }
                await heartbeat();
                if (received.length >= sent.length) done();
              },
            })
            .catch(fail);
        }),
        30_000,
        `kafkajs consumer reading ${sent.length} messages from ${topic}`,
      );
    } finally {
      await consumer.disconnect();
    }

    expect(received).toHaveLength(sent.length);
    const byKey = (a: { key?: string }, b: { key?: string }) => (a.key ?? '').localeCompare(b.key ?? '');
    expect(received.map(({ key, value }) => ({ key, value })).sort(byKey)).toEqual([...sent].sort(byKey));
  }, 60_000);

  it('kafkajs produces, kcat consumes (-C -e -J) the same keys, values and headers', async () => {
    await requireBroker();
    const topic = uniqueTopic('kafkajs-to-kcat');
    createdTopics.push(topic);
    await createTopic(admin, topic);

    const sent = [
      { key: 'agent-a', value: JSON.stringify({ tool: 'shell', ok: true }), headers: { 'x-warden': 'v1' } },
      { key: 'agent-b', value: 'plain text with spaces and ünïcødé', headers: { 'x-warden': 'v1' } },
      { key: 'agent-a', value: '', headers: { 'x-warden': 'v1' } },
    ];
    const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: sent });
    } finally {
      await producer.disconnect();
    }

    const out = await run('kcat', ['-C', '-b', BOOTSTRAP, '-t', topic, '-o', 'beginning', '-e', '-J', '-q'], {
      timeoutMs: 20_000,
    });
    const got = out
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { key: string | null; payload: string | null; partition: number; offset: number; headers?: string[] });

    expect(got).toHaveLength(sent.length);
    // Order is only defined per partition (and both agent-a messages share one).
    const seen = got
      .sort((a, b) => a.partition - b.partition || a.offset - b.offset)
      .map((m) => ({ key: m.key, value: m.payload ?? '', headers: m.headers }));
    for (const s of sent) {
      expect(seen).toContainEqual({ key: s.key, value: s.value, headers: ['x-warden', 'v1'] });
    }
    const agentA = seen.filter((m) => m.key === 'agent-a').map((m) => m.value);
    expect(agentA).toEqual([sent[0]!.value, sent[2]!.value]);
  }, 60_000);

  it("`scripts/kafka.sh topics` creates Warden's topics with their partitions and configs", async () => {
    await requireBroker();
    const expected = readTopicsTxt();
    expect(expected.map((t) => t.name).sort()).toEqual(
      ['agent.actions', 'agent.actions.dlq', 'warden.commands', 'warden.decisions'].sort(),
    );

    // The script talks to 127.0.0.1:$KAFKA_PORT; point it at the broker under test.
    const [host, port] = BROKERS[0]!.split(':');
    if (host !== '127.0.0.1' && host !== 'localhost') {
      throw new Error(`scripts/kafka.sh manages 127.0.0.1 only; KAFKA_BROKERS=${BOOTSTRAP} is not local`);
    }
    await run('bash', [KAFKA_SH, 'topics'], {
      timeoutMs: 120_000,
      env: { ...process.env, KAFKA_PORT: port ?? '9092' },
    });

    const meta = await kcatMetadata();
    const partitionsByTopic = new Map((meta.topics ?? []).map((t) => [t.topic, t.partitions.length]));
    for (const t of expected) {
      expect(partitionsByTopic.get(t.name), `partitions of ${t.name}`).toBe(t.partitions);
    }

    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: expected.map((t) => ({ type: ConfigResourceTypes.TOPIC, name: t.name })),
    });
    for (const t of expected) {
      const res = described.resources.find((r) => r.resourceName === t.name);
      expect(res, `describeConfigs result for ${t.name}`).toBeDefined();
      expect(res!.errorCode).toBe(0);
      const actual = Object.fromEntries(res!.configEntries.map((e) => [e.configName, e.configValue]));
      for (const [k, v] of Object.entries(t.configs)) {
        expect(actual[k], `${t.name} ${k}`).toBe(v);
      }
      if (!('cleanup.policy' in t.configs)) expect(actual['cleanup.policy'], `${t.name} cleanup.policy`).toBe('delete');
    }
    const commands = described.resources.find((r) => r.resourceName === 'warden.commands')!;
    expect(commands.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue).toBe('compact');
  }, 150_000);
});

describe('docker-compose.yml agrees with scripts/kafka', () => {
  type Service = {
    image?: string;
    build?: unknown;
    command?: string | string[];
    environment?: Record<string, unknown> | string[];
    depends_on?: Record<string, { condition?: string }> | string[];
  };
  const compose = parseYaml(readFileSync(COMPOSE, 'utf8')) as { services: Record<string, Service> };
  const services = compose.services;

  function env(s: Service | undefined): Record<string, string> {
    const e = s?.environment ?? {};
    if (Array.isArray(e)) {
      return Object.fromEntries(e.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    }
    return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, String(v)]));
  }

  it('has the kafka, kafka-init, redis and warden services', () => {
    for (const name of ['kafka', 'kafka-init', 'redis', 'warden']) {
      expect(services[name], `service ${name}`).toBeDefined();
    }
    expect(services.redis!.image).toMatch(/^redis:7-alpine$/);
    expect(services.warden!.build).toBeDefined();
    const dependsOn = services.warden!.depends_on as Record<string, { condition?: string }>;
    expect(dependsOn['kafka-init']?.condition).toBe('service_completed_successfully');
    expect(dependsOn.redis).toBeDefined();
    expect((services['kafka-init']!.depends_on as Record<string, { condition?: string }>).kafka?.condition).toBe(
      'service_healthy',
    );
  });

  it('uses the Kafka version pinned in scripts/kafka/pom.xml', () => {
    const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(POM, 'utf8'))?.[1];
    expect(version).toMatch(/^4\.\d+\.\d+$/); // the current line by default; 3.9.1 is the KAFKA_VERSION switch
    expect(services.kafka!.image).toBe(`apache/kafka:${version}`);
    expect(services['kafka-init']!.image).toBe(`apache/kafka:${version}`);
  });

  it('gives warden a KAFKA_BROKERS address the broker advertises', () => {
    const brokers = env(services.warden).KAFKA_BROKERS;
    expect(brokers).toBe('kafka:19092');
    expect(env(services.kafka).KAFKA_ADVERTISED_LISTENERS).toContain(`://${brokers}`);
    expect(env(services.kafka).KAFKA_ADVERTISED_LISTENERS).toContain('PLAINTEXT://127.0.0.1:${HOST_KAFKA_PORT:-19092}');
    expect(env(services.warden).REDIS_URL).toBe('redis://redis:6379');
  });

  it('kafka-init creates the topics of scripts/kafka/topics.txt with the same settings', () => {
    const cmd = services['kafka-init']!.command;
    const script = Array.isArray(cmd) ? cmd.join('\n') : String(cmd);
    const created = script
      .split('\n')
      .filter((line) => /kafka-topics\.sh\b.*--create\b/.test(line))
      .map((line) => {
        const tokens = line.trim().split(/\s+/);
        const arg = (flag: string) => tokens[tokens.indexOf(flag) + 1];
        const configs: Record<string, string> = {};
        tokens.forEach((tok, i) => {
          if (tok === '--config') Object.assign(configs, parseConfigs(tokens[i + 1]));
        });
        expect(tokens).toContain('--if-not-exists');
        expect(arg('--replication-factor')).toBe('1');
        return { name: arg('--topic'), partitionsRaw: arg('--partitions'), configs };
      });

    const expected = readTopicsTxt().map(({ name, partitionsRaw, configs }) => ({ name, partitionsRaw, configs }));
    const byName = (a: { name?: string }, b: { name?: string }) => (a.name ?? '').localeCompare(b.name ?? '');
    expect(created.sort(byName)).toEqual(expected.sort(byName));
  });
});

/** A port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => done(port));
    });
  });
}

describe('scripts/kafka.sh KAFKA_VERSION', () => {
  const status = (version: string) =>
    execFileAsync('bash', [KAFKA_SH, 'status'], { env: { ...process.env, KAFKA_VERSION: version }, timeout: 20_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code?: number; stderr?: string }) => ({ code: e.code, stderr: e.stderr ?? '' }),
    );

  it('refuses a version that is not a release, naming the variable', async () => {
    const r = await status('latest');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("KAFKA_VERSION must be a release like 4.4.0 or 3.9.1, got 'latest'");
  });

  it('refuses a line it does not know how to run (2.x needs ZooKeeper)', async () => {
    const r = await status('2.8.2');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('KAFKA_VERSION 2.8.2 is not supported (3.x with KRaft, or 4.x)');
  });

  it('refuses to start an older Kafka on data a newer one wrote, naming the way out', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-kafka-'));
    try {
      writeFileSync(join(dataDir, 'kafka.version'), '4.4.0\n');
      const r = await execFileAsync('bash', [KAFKA_SH, 'start'], {
        env: { ...process.env, KAFKA_VERSION: '3.9.1', KAFKA_PORT: String(await closedPort()), KAFKA_CONTROLLER_PORT: String(await closedPort()), KAFKA_DATA_DIR: dataDir },
        timeout: 20_000,
      }).then(() => ({ code: 0, stderr: '' }), (e: { code?: number; stderr?: string }) => ({ code: e.code, stderr: e.stderr ?? '' }));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${dataDir} holds data of Kafka 4.4.0, which Kafka 3.9.1 cannot read: set KAFKA_DATA_DIR to another directory, or delete it with: KAFKA_DATA_DIR=${dataDir} bash scripts/kafka.sh reset`);
      expect(existsSync(join(dataDir, 'server.properties'))).toBe(false);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
