// The bare consumers npm run bench compares: each reads a topic in its own
// consumer group and only decodes, with the same decoder Warden uses. kafkajs
// is Warden's dependency; the candidates are installed in bench/clients/ (its
// own package.json, by scripts/bench.sh) so they stay out of Warden's tree.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Kafka, logLevel } from 'kafkajs';
import { decodeEvent } from '../dist/src/event/codec.js';

const fromClients = createRequire(new URL('./clients/package.json', import.meta.url));
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

/** The candidate's module, or why it is not there. */
function load(name) {
  try {
    const mod = fromClients(name);
    return { mod, version: JSON.parse(readFileSync(new URL(`./clients/node_modules/${name}/package.json`, import.meta.url), 'utf8')).version };
  } catch (err) {
    return { missing: `${name} not installed in bench/clients (${String(err.message).split('\n')[0]})` };
  }
}

/**
 * Counts what `run` hands to `onMessages` until `events` arrived (drain), or
 * for as long as asked (follow): events/s from the first to the last record,
 * and per record the wall time of its handling minus its Kafka timestamp.
 */
function meter(events, latencies) {
  let recording = latencies !== null;
  let n = 0;
  let invalid = 0;
  let first = 0;
  let last = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  return {
    finished,
    onMessages(values, timestamps) {
      const now = performance.now();
      if (!first) first = now;
      for (const v of values) if (!decodeEvent(v).ok) invalid++;
      if (recording) {
        const wall = Date.now();
        for (const ts of timestamps) latencies.push(wall - Number(ts));
      }
      n += values.length;
      last = performance.now();
      if (events > 0 && n >= events) done();
    },
    result: () => ({ n, invalid, eps: n / ((last - first) / 1000) }),
    get n() {
      return n;
    },
    record(on) {
      recording = on;
    },
  };
}

const kafkajs = {
  name: 'kafkajs',
  async start(topic, group, fromBeginning, m) {
    const kafka = new Kafka({ clientId: 'warden-bench', brokers: BROKERS, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning });
    await consumer.run({
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch }) => m.onMessages(batch.messages.map((x) => x.value), batch.messages.map((x) => x.timestamp)),
    });
    return () => consumer.disconnect();
  },
};

const confluent = {
  name: '@confluentinc/kafka-javascript',
  async start(topic, group, fromBeginning, m) {
    const { mod } = load('@confluentinc/kafka-javascript');
    const { KafkaJS } = mod;
    const kafka = new KafkaJS.Kafka({ kafkaJS: { clientId: 'warden-bench', brokers: BROKERS, logLevel: KafkaJS.logLevel.NOTHING } });
    // Batches as large as the client holds (its default is 32 records), as kafkajs hands over a fetch's worth.
    const consumer = kafka.consumer({ kafkaJS: { groupId: group, fromBeginning, autoCommit: false, maxWaitTimeInMs: 100 }, 'js.consumer.max.batch.size': -1 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic] });
    await consumer.run({
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch }) => m.onMessages(batch.messages.map((x) => x.value), batch.messages.map((x) => x.timestamp)),
    });
    return () => consumer.disconnect();
  },
};

const platformatic = {
  name: '@platformatic/kafka',
  async start(topic, group, fromBeginning, m) {
    const { mod } = load('@platformatic/kafka');
    const consumer = new mod.Consumer({ groupId: group, clientId: 'warden-bench', bootstrapBrokers: BROKERS, maxWaitTime: 100 });
    const stream = await consumer.consume({
      topics: [topic], autocommit: false,
      mode: fromBeginning ? mod.MessagesStreamModes.EARLIEST : mod.MessagesStreamModes.LATEST,
    });
    // One record per 'data' event: the stream's own unit (it has no batch callback).
    const one = [null];
    const ts = [0n];
    stream.on('data', (x) => {
      one[0] = x.value;
      ts[0] = x.timestamp;
      m.onMessages(one, ts);
    });
    return async () => {
      await stream.close();
      await consumer.close(true);
    };
  },
};

export const CLIENTS = [kafkajs, platformatic, confluent];

/** Installed version, or null with the reason. */
export function clientVersion(c) {
  if (c === kafkajs) return { version: createRequire(import.meta.url)('kafkajs/package.json').version };
  const l = load(c.name);
  return l.missing ? { missing: l.missing } : { version: l.version };
}

/** Reads `events` records of `topic` from its start in a fresh group; events/s. */
export async function drain(client, topic, events, group) {
  const m = meter(events, null);
  const stop = await client.start(topic, group, true, m);
  await m.finished;
  const r = m.result();
  await stop();
  return r;
}

/**
 * Follows `topic` from its end while `produce()` runs; the per-record latencies, sorted.
 * `warm(i)` sends one record: sent until one arrives, so the group has its partitions before the measured records.
 */
export async function follow(client, topic, group, warm, produce) {
  const latencies = [];
  const m = meter(0, latencies);
  m.record(false);
  const stop = await client.start(topic, group, false, m);
  for (let i = 0; m.n === 0; i++) {
    if (i > 300) throw new Error(`${client.name}: nothing received from ${topic} within 60 s`);
    await warm(i);
    await new Promise((r) => setTimeout(r, 200));
  }
  // The warm-up records went to one partition: the rest settle meanwhile.
  await new Promise((r) => setTimeout(r, 1000));
  m.record(true);
  const produced = await produce();
  await new Promise((r) => setTimeout(r, 2000));
  await stop();
  latencies.sort((a, b) => a - b);
  return { latencies, produced, received: latencies.length };
}
