import { pino } from 'pino';
import type { Redis } from 'ioredis';
import { controlCommandId, operatorReason } from '../breaker/operator.js';
import { WHOLE_IDENTITY } from '../breaker/types.js';
import { encodeControl } from '../control/create.js';
import type { OperatorControl } from '../control/types.js';
import { WardenError, errorMessage } from '../errors.js';
import { scanBreakers, type IdentityBreaker } from '../state/breaker-view.js';
import { metaKey, partitionKey } from '../state/keys.js';
import { createKafka } from '../transport/kafka-client.js';
import type { ServiceSettings } from './settings.js';

export interface Published {
  topic: string;
  partition: number;
  offset: bigint;
}

/** Publishes a control to the actions topic keyed by its identity, so it lands in order with the identity's events. */
export async function publishControl(settings: ServiceSettings, control: OperatorControl): Promise<Published> {
  const kafka = createKafka({ ...settings.kafka, clientId: `${settings.kafka.clientId}-operator` }, pino({ level: 'error' }, pino.destination(2)));
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
  const topic = settings.topics.actions;
  try {
    await producer.connect();
    const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: control.identity, value: encodeControl(control) }] });
    if (!meta) throw new WardenError('KAFKA_PUBLISH', `no acknowledgement from ${topic}`);
    return { topic, partition: meta.partition, offset: BigInt(meta.baseOffset ?? meta.offset ?? '-1') };
  } catch (err) {
    if (err instanceof WardenError) throw err;
    throw new WardenError('KAFKA_PUBLISH', `cannot publish the control to ${topic} at ${settings.kafka.brokers.join(',')}: ${errorMessage(err)}`, { cause: err });
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}

export type ControlSeen =
  | { status: 'applied'; breakers: IdentityBreaker[] }
  | { status: 'ignored'; breakers: IdentityBreaker[] }
  | { status: 'pending' };

/**
 * Waits until Warden has committed the control's offset (from its Redis state),
 * then tells from the breaker whether it took effect. The reason for an ignored
 * control is in its audit record on the decisions topic.
 */
export async function awaitControl(redis: Redis, prefix: string, at: Published, control: OperatorControl, waitMs: number): Promise<ControlSeen> {
  const key = metaKey(partitionKey(prefix, `${at.topic}:${at.partition}`));
  const deadline = Date.now() + waitMs;
  for (;;) {
    const committed = await redis.hget(key, 'committed');
    if (committed !== null && BigInt(committed) >= at.offset) break;
    if (Date.now() >= deadline) return { status: 'pending' };
    await new Promise((r) => setTimeout(r, 200));
  }
  const breakers: IdentityBreaker[] = [];
  for await (const b of scanBreakers(redis, prefix, control.identity)) breakers.push(b);
  return { status: tookEffect(breakers, control) ? 'applied' : 'ignored', breakers };
}

function tookEffect(found: IdentityBreaker[], c: OperatorControl): boolean {
  if (c.op === 'suspend') {
    const scope = c.scope ?? WHOLE_IDENTITY;
    const id = controlCommandId(c, scope, 'suspend');
    return found.some((b) => b.breaker[scope]?.commandId === id);
  }
  // Resumed: some scope in reach was closed by this very control.
  const by = operatorReason(c);
  return found.some((b) => Object.entries(b.breaker).some(([scope, s]) =>
    (c.scope === null || c.scope === scope) && s.phase === 'closed' && s.closedAt === c.ts && s.reason === by));
}
