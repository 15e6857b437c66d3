import { pino } from 'pino';
import type { RedisClient } from '../state/redis-connection.js';
import { encodeControl } from '../control/create.js';
import type { ControlOutcome, OperatorControl } from '../control/types.js';
import { WardenError, errorMessage } from '../errors.js';
import { collectBreakers, type IdentityBreaker } from '../state/breaker-view.js';
import { META_FIELD, metaKey, partitionKey } from '../state/keys.js';
import { createTransport } from '../transport/kafka-client.js';
import type { KafkaTransport } from '../transport/types.js';
import type { ServiceSettings } from './settings.js';

/** The operator tools' client: its own client id, and only the client's errors on stderr. */
function operatorKafka(settings: ServiceSettings): KafkaTransport {
  return createTransport({ ...settings.kafka, clientId: `${settings.kafka.clientId}-operator` }, pino({ level: 'error' }, pino.destination(2)));
}

export interface Published {
  topic: string;
  partition: number;
  offset: bigint;
}

/** Publishes a control to the actions topic keyed by its identity, so it lands in order with the identity's events. */
export async function publishControl(settings: ServiceSettings, control: OperatorControl): Promise<Published> {
  const kafka = operatorKafka(settings);
  const producer = kafka.producer({ idempotent: true });
  const topic = settings.topics.actions;
  try {
    await producer.connect();
    const [meta] = await producer.send([{ topic, messages: [{ key: control.identity, value: encodeControl(control) }] }], -1);
    if (!meta) throw new WardenError('KAFKA_PUBLISH', `no acknowledgement from ${topic}`);
    return { topic, partition: meta.partition, offset: BigInt(meta.baseOffset ?? '-1') };
  } catch (err) {
    if (err instanceof WardenError) throw err;
    throw new WardenError('KAFKA_PUBLISH', `cannot publish the control to ${topic} at ${settings.kafka.brokers.join(',')}: ${errorMessage(err)}`, { cause: err });
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}

export type ControlSeen =
  /** Its audit record: applied or ignored, and why. */
  | { status: 'applied' | 'ignored'; outcome: ControlOutcome; breakers: IdentityBreaker[] }
  /** Committed with no audit record: Warden refused it (dead-lettered), or its record is still on the way. */
  | { status: 'refused'; breakers: IdentityBreaker[] }
  | { status: 'pending' };

export interface AuditWatch {
  /** Resolves with the control's audit record from the decisions topic. */
  outcome: Promise<ControlOutcome>;
  close(): Promise<void>;
}

/**
 * Follows the decisions topic from its current end for one control's audit
 * record. Started before publishing, so the record cannot be missed; its
 * consumer group is throwaway and deleted on close.
 */
export async function watchAudit(settings: ServiceSettings, controlId: string): Promise<AuditWatch> {
  const kafka = operatorKafka(settings);
  const topic = settings.topics.decisions;
  const groupId = `${settings.kafka.groupId}-operator-${controlId}`;
  const admin = kafka.admin();
  let ends: Array<{ partition: number; high: string }>;
  try {
    await admin.connect();
    ends = await admin.topicOffsets(topic);
  } catch (err) {
    await admin.disconnect().catch(() => undefined);
    throw new WardenError('KAFKA_READ', `cannot read the decisions topic ${topic} at ${settings.kafka.brokers.join(',')} to follow the control: ${errorMessage(err)}`, { cause: err });
  }
  const consumer = kafka.consumer({ groupId, maxWaitMs: 100 });
  let found!: (o: ControlOutcome) => void;
  const outcome = new Promise<ControlOutcome>((resolve) => (found = resolve));
  await consumer.connect();
  await consumer.subscribe([topic], false);
  await consumer.run({
    partitionsConcurrently: 1,
    eachBatch: async ({ batch, resolveOffset }) => {
      for (const message of batch.messages) {
        resolveOffset(message.offset);
        if (!message.value || !message.value.includes(controlId)) continue;
        try {
          const rec = JSON.parse(message.value.toString('utf8')) as { kind?: string } & ControlOutcome;
          if (rec.kind === 'control' && rec.controlId === controlId) found(rec);
        } catch {
          // Not ours to judge: only the control's own record matters here.
        }
      }
    },
  });
  for (const e of ends) consumer.seek({ topic, partition: e.partition, offset: e.high });
  return {
    outcome,
    async close() {
      await consumer.disconnect().catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    },
  };
}

/**
 * Waits for the control's audit record; Warden's Redis state tells a control
 * it refused (committed, but no record follows) from one not yet reached.
 */
export async function awaitControl(redis: RedisClient, prefix: string, at: Published, control: OperatorControl, audit: AuditWatch, waitMs: number): Promise<ControlSeen> {
  const key = metaKey(partitionKey(prefix, `${at.topic}:${at.partition}`));
  const deadline = Date.now() + waitMs;
  let committedAt: number | null = null;
  let outcome: ControlOutcome | undefined;
  void audit.outcome.then((o) => (outcome = o));
  for (;;) {
    if (outcome) break;
    const now = Date.now();
    if (committedAt === null) {
      const committed = await redis.hget(key, META_FIELD.committed);
      if (committed !== null && BigInt(committed) >= at.offset) committedAt = now;
    }
    // The record is published from the outbox just after the commit: a few seconds' grace.
    if (committedAt !== null && now - committedAt > 5000) return { status: 'refused', breakers: await collectBreakers(redis, prefix, control.identity) };
    if (committedAt === null && now >= deadline) return { status: 'pending' };
    await new Promise((r) => setTimeout(r, 100));
  }
  return { status: outcome.result, outcome, breakers: await collectBreakers(redis, prefix, control.identity) };
}
