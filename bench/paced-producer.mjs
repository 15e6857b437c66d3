// Produces synthetic events at a fixed rate for a fixed time, then reports the count to its parent.
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { encodeEvent } from '../dist/src/event/codec.js';
import { syntheticEvents } from './common.mjs';

const [topic, rateArg, secondsArg, identitiesArg] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const kafka = new Kafka({ clientId: 'warden-bench-paced', brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), logLevel: logLevel.NOTHING });
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
await producer.connect();
const events = syntheticEvents(rate * seconds + 1, Number(identitiesArg), Date.UTC(2026, 10, 21));
const tickMs = 20;
const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
const start = performance.now();
let sent = 0;
const pending = [];
while (performance.now() - start < seconds * 1000) {
  const due = Math.floor(((performance.now() - start) / 1000) * rate);
  const messages = [];
  while (sent < due && messages.length < perTick * 5) {
    const e = events.next().value;
    messages.push({ key: e.identity, value: Buffer.from(encodeEvent(e, 'msgpack')) });
    sent++;
  }
  if (messages.length) pending.push(producer.send({ topic, acks: 1, messages }));
  if (pending.length > 50) await pending.shift();
  await new Promise((r) => setTimeout(r, tickMs));
}
await Promise.all(pending);
await producer.disconnect();
process.send(sent);
