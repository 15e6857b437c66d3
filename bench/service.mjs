// npm run bench (service part): Warden on the real broker and Redis vs bare
// consumers that only decode (kafkajs and the candidate clients of
// bench/bare-clients.mjs), on the same pre-filled topic, in one run.
// BENCH_WARDEN=0 measures the bare consumers only.
import { fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig } from '../dist/src/config/load.js';
import { decodeEvent, encodeEvent } from '../dist/src/event/codec.js';
import { startService } from '../dist/src/service/start.js';
import { settingsFromEnv } from '../dist/src/service/settings.js';
import { loadScripts } from '../dist/src/state/script-loader.js';
import { fmt, percentile, syntheticEvents, table } from './common.mjs';
import { CLIENTS, clientVersion, drain, follow } from './bare-clients.mjs';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const IDENTITIES = Number(process.env.BENCH_IDENTITIES ?? 10_000);
const PARTITIONS = 6;
/** Every Nth event replaced by bytes that do not decode: a dead letter, so batches have outputs to publish (0: none). */
const INVALID_EVERY = Number(process.env.BENCH_INVALID_EVERY ?? 0);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 20);
/** The bare consumers' latency run: a fixed rate, the same for each, for this long. */
const CLIENT_RATE = Number(process.env.BENCH_CLIENT_RATE ?? 10_000);
const CLIENT_SECONDS = Number(process.env.BENCH_CLIENT_SECONDS ?? 10);
const WITH_WARDEN = process.env.BENCH_WARDEN !== '0';
/** BENCH_CLIENTS=0: kafkajs alone, whatever bench/clients holds. */
const BARE = process.env.BENCH_CLIENTS === '0' ? [CLIENTS[0]] : CLIENTS;
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
// The version scripts/kafka.sh runs (KAFKA_VERSION, else the pom's default): the label only, not asked of the broker.
const KAFKA_VERSION = process.env.KAFKA_VERSION ?? /<kafka\.version>([^<]+)</.exec(readFileSync(new URL('../scripts/kafka/pom.xml', import.meta.url), 'utf8'))?.[1];
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const id = `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
const topic = `bench-actions-${id}`;
const kafka = new Kafka({ clientId: 'warden-bench', brokers: BROKERS, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
const redis = new Redis(REDIS_URL);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function prefill() {
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const t0 = performance.now();
  let batch = [];
  const inflight = [];
  let i = 0;
  for (const e of syntheticEvents(EVENTS, IDENTITIES)) {
    const bad = INVALID_EVERY > 0 && ++i % INVALID_EVERY === 0;
    batch.push({ key: e.identity, value: bad ? Buffer.from(`not an event ${i}`) : Buffer.from(encodeEvent(e, 'msgpack')) });
    if (batch.length === 10_000) {
      inflight.push(producer.send({ topic, acks: 1, messages: batch }));
      batch = [];
      if (inflight.length >= 4) await inflight.shift();
    }
  }
  if (batch.length) inflight.push(producer.send({ topic, acks: 1, messages: batch }));
  await Promise.all(inflight);
  await producer.disconnect();
  return (performance.now() - t0) / 1000;
}

/** Each client drains the pre-filled topic in its own group, then follows a second topic at CLIENT_RATE; kafkajs again last, to show the machine's drift. */
async function bareConsumers() {
  const followTopic = `bench-follow-${id}`;
  await admin.createTopics({ topics: [{ topic: followTopic, numPartitions: PARTITIONS }], waitForLeaders: true });
  const warmer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await warmer.connect();
  const [warmEvent] = syntheticEvents(1, 1, Date.UTC(2026, 10, 21));
  const warm = (i) => warmer.send({ topic: followTopic, acks: 1, messages: [{ key: 'warm', value: Buffer.from(encodeEvent({ ...warmEvent, id: `warm-${i}` }, 'msgpack')) }] });
  const produce = () => new Promise((resolve) => {
    fork(new URL('./paced-producer.mjs', import.meta.url), [followTopic, String(CLIENT_RATE), String(CLIENT_SECONDS), String(IDENTITIES)], { stdio: 'inherit' }).on('message', resolve);
  });
  const out = [];
  const runs = BARE.length > 1 ? [...BARE, BARE[0]] : BARE;
  for (const [i, client] of runs.entries()) {
    const label = `${client.name}${i > 0 && client === BARE[0] ? ', again' : ''}`;
    const v = clientVersion(client);
    if (v.missing) {
      console.log(`  ${label}: not measured: ${v.missing}`);
      out.push({ label, missing: v.missing });
      continue;
    }
    try {
      const d = await drain(client, topic, EVENTS, `bench-bare-${i}-${id}`);
      const f = await follow(client, followTopic, `bench-follow-${i}-${id}`, warm, produce);
      out.push({ label, version: v.version, eps: d.eps, invalid: d.invalid, p50: percentile(f.latencies, 0.5), p99: percentile(f.latencies, 0.99), max: f.latencies.at(-1), produced: f.produced, received: f.received });
      console.log(`  ${label} ${v.version}: ${fmt(d.eps)} events/s; following at ${fmt(CLIENT_RATE)}/s p50 ${fmt(percentile(f.latencies, 0.5), 1)} ms, p99 ${fmt(percentile(f.latencies, 0.99), 1)} ms`);
    } catch (err) {
      console.log(`  ${label}: failed: ${err.message}`);
      out.push({ label, version: v.version, failed: err.message });
    }
  }
  await warmer.disconnect();
  await admin.deleteTopics({ topics: [followTopic] }).catch(() => {});
  return out;
}

let roundTrips = 0;
/** Round trips by what they carried (a pipeline by its distinct commands), while the topic drains. */
const carried = new Map();
const scriptNames = new Map(loadScripts().map((s) => [createHash('sha1').update(s.lua).digest('hex'), s.name]));
let counting = true;
const tally = (what) => {
  roundTrips++;
  if (counting) carried.set(what, (carried.get(what) ?? 0) + 1);
};
/**
 * The store's connection, counting round trips: each command sent alone is one
 * (EVALSHA counts once, whatever it runs), and so is each pipeline, however
 * many commands it carries (ioredis hands those to sendCommand with a stream).
 */
function countingRedis() {
  const r = new Redis(REDIS_URL, { enableAutoPipelining: false, maxRetriesPerRequest: 3 });
  const send = r.sendCommand.bind(r);
  r.sendCommand = (cmd, stream, ...rest) => {
    if (stream === undefined) tally(cmd.name === 'evalsha' || cmd.name === 'eval' ? scriptNames.get(String(cmd.args[0])) ?? 'script' : cmd.name);
    return send(cmd, stream, ...rest);
  };
  const pipeline = r.pipeline.bind(r);
  r.pipeline = (...args) => {
    const p = pipeline(...args);
    const exec = p.exec.bind(p);
    p.exec = (...a) => {
      tally(`pipeline [${[...new Set(p._queue.map((c) => (c.name === 'evalsha' ? scriptNames.get(String(c.args[0])) ?? 'script' : c.name)))].join(' ')}]`);
      return exec(...a);
    };
    return p;
  };
  return r;
}

async function commandCalls() {
  const info = await redis.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) if (m[1] !== 'info') calls += Number(m[2]);
  return calls;
}

async function usedMemory() {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1]);
}

async function warden() {
  const settings = settingsFromEnv({
    ...process.env, KAFKA_GROUP_ID: `bench-warden-${id}`, WARDEN_TOPIC_ACTIONS: topic,
    WARDEN_TOPIC_DECISIONS: `bench-decisions-${id}`, WARDEN_TOPIC_COMMANDS: `bench-commands-${id}`, WARDEN_TOPIC_DLQ: `bench-dlq-${id}`,
    // The synthetic events are from November 2026: no age bound, or they would all be dead letters a month later.
    WARDEN_EVENT_MAX_AGE: '0', WARDEN_REDIS_PREFIX: `bench-${id}`, WARDEN_COMMAND_KEYS: process.env.WARDEN_COMMAND_KEYS ?? `bench=${Buffer.alloc(32, 1).toString('base64')}`,
  });
  const config = await loadConfig(process.env.BENCH_CONFIG ?? 'config');
  const log = pino({ level: 'warn' }, pino.destination(2));
  const mem0 = await usedMemory();
  const calls0 = await commandCalls();
  let n = 0;
  let batches = 0;
  let withOutputs = 0;
  let first = 0;
  let last = 0;
  let onBatch = () => {};
  const latencies = [];
  let recording = false;
  const running = await startService({ config, log, settings, recordLatency: true, redis: countingRedis() });
  const service = running.service;
  let cpu0 = null;
  let cpu = null;
  service.on('warden.batch', (b) => {
    if (!first) {
      first = performance.now() - b.durationMs;
      cpu0 = process.cpuUsage();
    }
    n += b.messages;
    if (n <= EVENTS) {
      batches++;
      if (b.outputs > 0) withOutputs++;
      if (n >= EVENTS) cpu = process.cpuUsage(cpu0);
    }
    last = performance.now();
    if (recording && b.latenciesMs) for (const l of b.latenciesMs) latencies.push(l);
    onBatch();
  });
  await new Promise((resolve) => { onBatch = () => { if (n >= EVENTS) resolve(); }; onBatch(); });
  const eps = EVENTS / ((last - first) / 1000);
  const calls = roundTrips;
  counting = false;
  const scriptCalls = (await commandCalls()) - calls0 - 2;
  await sleep(500);
  const mem = (await usedMemory()) - mem0;

  // Latency at half the measured maximum: a paced producer in another process.
  const rate = Math.round(eps / 2);
  recording = true;
  const producer = fork(new URL('./paced-producer.mjs', import.meta.url), [topic, String(rate), String(LATENCY_SECONDS), String(IDENTITIES)], { stdio: 'inherit' });
  const produced = await new Promise((resolve) => producer.on('message', resolve));
  await sleep(2000);
  recording = false;
  await running.stop();
  latencies.sort((a, b) => a - b);
  const cpuUs = cpu ? (cpu.user + cpu.system) / EVENTS : NaN;
  return { eps, cpuUs, calls, batches, withOutputs, scriptCalls, mem, rate, produced, latencies };
}

console.log(`\nwarden run: ${fmt(EVENTS)} msgpack events${INVALID_EVERY > 0 ? ` (every ${fmt(INVALID_EVERY)}th invalid: a dead letter)` : ''} from ${fmt(IDENTITIES)} identities on a ${PARTITIONS}-partition topic (Kafka ${KAFKA_VERSION} and Redis 7 on loopback, ${(await import('node:os')).cpus().length} cores)`);
await admin.connect();
const produceSecs = await prefill();
console.log(`  pre-filled in ${produceSecs.toFixed(1)} s`);
const bares = await bareConsumers();
const bare = bares[0];
const clientRows = [['bare consumer (decode only)', 'version', 'drain events/s', `p50 at ${fmt(CLIENT_RATE)}/s`, 'p99', 'max', 'received / produced']];
for (const b of bares) {
  if (b.missing || b.failed) clientRows.push([b.label, b.version ?? '-', b.missing ? 'not installed' : `failed: ${b.failed}`, '', '', '', '']);
  else clientRows.push([b.label, b.version, fmt(b.eps), `${fmt(b.p50, 1)} ms`, `${fmt(b.p99, 1)} ms`, `${fmt(b.max)} ms`, `${fmt(b.received)} / ${fmt(b.produced)}`]);
}
console.log(table(clientRows));
if (!WITH_WARDEN) {
  await mkdir('bench-results', { recursive: true });
  await writeFile('bench-results/clients.json', JSON.stringify({ at: new Date().toISOString(), events: EVENTS, rate: CLIENT_RATE, seconds: CLIENT_SECONDS, kafka: KAFKA_VERSION, clients: bares }, null, 2));
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect();
  redis.disconnect();
  process.exit(0);
}
const w = await warden();
const rows = [
  ['measure', 'value'],
  ['bare kafkajs consumer (decode only)', `${fmt(bare.eps)} events/s`],
  ['Warden sustained', `${fmt(w.eps)} events/s`],
  ['Warden / bare consumer', `${fmt((100 * w.eps) / bare.eps, 1)}%`],
  ['Warden CPU per event (its process: less sensitive to a busy machine)', `${fmt(w.cpuUs, 1)} µs`],
  ['Redis round trips per event', fmt(w.calls / EVENTS, 4)],
  ['Redis round trips per batch', `${fmt(w.calls / w.batches, 2)} (${fmt(w.batches)} batches, ${fmt(w.withOutputs)} with outputs)`],
  ['Redis commands per event, scripts included', fmt(w.scriptCalls / EVENTS, 2)],
  ['Redis memory per identity', `${fmt(w.mem / IDENTITIES)} B`],
  [`latency at ${fmt(w.rate)} events/s (half max), p50`, `${fmt(percentile(w.latencies, 0.5), 1)} ms`],
  [`latency at ${fmt(w.rate)} events/s (half max), p99`, `${fmt(percentile(w.latencies, 0.99), 1)} ms`],
  ['latency sample', `${fmt(w.latencies.length)} events (${fmt(w.produced)} produced)`],
];
console.log(table(rows));
console.log(`  round trips while draining, by what they carried: ${[...carried].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
await mkdir('bench-results', { recursive: true });
await writeFile('bench-results/latest.json', JSON.stringify({ at: new Date().toISOString(), events: EVENTS, identities: IDENTITIES, bare, clients: bares, warden: { ...w, latencies: undefined, p50: percentile(w.latencies, 0.5), p99: percentile(w.latencies, 0.99) } }, null, 2));
await admin.deleteTopics({ topics: [topic, `bench-decisions-${id}`, `bench-commands-${id}`, `bench-dlq-${id}`] }).catch(() => {});
await admin.disconnect();
let cursor = '0';
do {
  const [next, keys] = await redis.scan(cursor, 'MATCH', `bench-${id}:*`, 'COUNT', 5000);
  cursor = next;
  if (keys.length) await redis.del(...keys);
} while (cursor !== '0');
redis.disconnect();
