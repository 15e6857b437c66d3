// npm run bench (producer part): warden/producer against a bare kafkajs
// producer sending the same pre-encoded events, then the SDK's send → ack
// latency at a paced rate. Real broker; a topic of its own.
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { pino } from 'pino';
import { encodeEvent } from '../dist/src/event/codec.js';
import { createProducer } from '../dist/src/producer/index.js';
import { fmt, percentile, syntheticEvents, table } from './common.mjs';

const EVENTS = Number(process.env.BENCH_PRODUCER_EVENTS ?? 200_000);
const IDENTITIES = Number(process.env.BENCH_IDENTITIES ?? 10_000);
const PACED_RATE = Number(process.env.BENCH_PRODUCER_RATE ?? 2_000);
const PACED_SECONDS = 5;
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const id = `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
const kafka = new Kafka({ clientId: 'warden-bench', brokers: BROKERS, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
const logger = pino({ level: 'error' }, pino.destination(2));

const now = Date.now();
// Event times of now: the SDK refuses what Warden would (the time bounds).
const events = [...syntheticEvents(EVENTS, IDENTITIES)].map((e, i) => ({ ...e, ts: now + Math.floor(i / 1000) }));

async function topic(name) {
  await admin.createTopics({ topics: [{ topic: name, numPartitions: 6 }], waitForLeaders: true });
  return name;
}

async function bare(t) {
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await p.connect();
  const t0 = performance.now();
  for (let i = 0; i < events.length; i += 500) {
    const messages = events.slice(i, i + 500).map((e) => ({ key: e.identity, value: Buffer.from(encodeEvent(e)) }));
    await p.sendBatch({ acks: -1, topicMessages: [{ topic: t, messages }] });
  }
  const s = (performance.now() - t0) / 1000;
  await p.disconnect();
  return events.length / s;
}

async function sdk(t) {
  const p = createProducer({ brokers: BROKERS, topic: t, logger });
  await p.connect();
  const t0 = performance.now();
  await Promise.all(events.map((e) => p.send(e)));
  const s = (performance.now() - t0) / 1000;
  await p.close();
  return events.length / s;
}

async function paced(t) {
  const p = createProducer({ brokers: BROKERS, topic: t, logger });
  await p.connect();
  const lat = [];
  const sends = [];
  const total = PACED_RATE * PACED_SECONDS;
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / PACED_RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const began = performance.now();
    sends.push(p.send({ ...events[i % events.length], id: `paced-${i}`, ts: Date.now() }).then(() => lat.push(performance.now() - began)));
  }
  await Promise.all(sends);
  await p.close();
  return lat.sort((a, b) => a - b);
}

await admin.connect();
try {
  const bareRate = await bare(await topic(`bench-producer-bare-${id}`));
  const sdkRate = await sdk(await topic(`bench-producer-sdk-${id}`));
  const lat = await paced(await topic(`bench-producer-paced-${id}`));
  console.log(`\nwarden/producer, ${fmt(EVENTS)} events over ${fmt(IDENTITIES)} identities, acks all, batches of 500\n`);
  console.log(table([
    ['measure', 'value'],
    ['bare kafkajs (idempotent, one request in flight)', `${fmt(bareRate)} events/s`],
    ['warden/producer (checks, encodes, places, buffers)', `${fmt(sdkRate)} events/s`],
    ['warden/producer / bare', `${fmt((100 * sdkRate) / bareRate, 1)}%`],
    [`send → ack at ${fmt(PACED_RATE)} events/s (linger 5 ms)`, `p50 ${fmt(percentile(lat, 0.5), 1)} ms, p99 ${fmt(percentile(lat, 0.99), 1)} ms`],
  ]));
  await admin.deleteTopics({ topics: [`bench-producer-bare-${id}`, `bench-producer-sdk-${id}`, `bench-producer-paced-${id}`] }).catch(() => {});
} finally {
  await admin.disconnect();
}
