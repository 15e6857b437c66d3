import type { Logger } from 'pino';
import { retry, RetryError } from '../retry.js';
import { errorMessage, WardenError } from '../errors.js';
import { BATCH_OVERHEAD, DEFAULT_RECORD_LIMIT, recordBytes } from '../pipeline/record-size.js';
import type { CommitReceipt, OutboxRecord, WindowStore } from '../state/types.js';
import { kafkaErrorType, kafkaRetriable } from '../transport/kafka-client.js';
import type { OutboundMessage, Producer, TopicMessages } from '../transport/types.js';
import type { ParkedOutput, ParkingLot } from './parked.js';
import { BACKOFF } from './supervise.js';

type Pending = { seq: bigint; record: OutboxRecord };
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Attempts at one record that Kafka refuses (not retriably) before it is parked. */
export const REFUSED_ATTEMPTS = 3;

/**
 * The idempotent producer, replaceable: a request Kafka refuses (not
 * retriably) may have been appended on its other partitions while the client
 * rolls their sequence numbers back, so the next send would be out of
 * sequence. A fresh producer (a new producer id) starts clean.
 */
export class ProducerSlot {
  private current: Producer | null = null;
  /** Sends in flight per producer: a replaced one is closed once its last send is done. */
  private readonly inflight = new Map<Producer, number>();
  /** `onSend`: each send's duration and whether it failed (for metrics). */
  constructor(private readonly create: () => Producer, private readonly onSend?: (seconds: number, failed: boolean) => void) {}

  private release(p: Producer): void {
    const n = (this.inflight.get(p) ?? 1) - 1;
    if (n > 0) this.inflight.set(p, n);
    else {
      this.inflight.delete(p);
      if (p !== this.current) p.disconnect().catch(() => {});
    }
  }

  async connect(): Promise<void> {
    const p = this.create();
    await p.connect();
    this.current = p;
  }

  async send(topicMessages: TopicMessages[]): Promise<void> {
    const p = this.current;
    if (!p) throw new WardenError('KAFKA_PUBLISH', 'producer not connected', { retriable: true });
    this.inflight.set(p, (this.inflight.get(p) ?? 0) + 1);
    const began = performance.now();
    try {
      await p.send(topicMessages, -1);
      this.onSend?.((performance.now() - began) / 1000, false);
    } catch (err) {
      this.onSend?.((performance.now() - began) / 1000, true);
      // Replaced meanwhile: the failure says nothing about these records.
      if (p !== this.current) throw new WardenError('KAFKA_PUBLISH', `producer replaced during a send: ${errorMessage(err)}`, { retriable: true, cause: err });
      throw err;
    } finally {
      this.release(p);
    }
  }

  /** Swaps in a new producer; the old one finishes what it has in flight, then is closed. */
  async renew(): Promise<void> {
    const old = this.current;
    const next = this.create();
    await next.connect();
    this.current = next;
    if (old && !this.inflight.has(old)) await old.disconnect().catch(() => {});
  }

  async disconnect(): Promise<void> {
    const all = new Set([...this.inflight.keys(), ...(this.current ? [this.current] : [])]);
    this.current = null;
    this.inflight.clear();
    await Promise.all([...all].map((p) => p.disconnect().catch(() => {})));
  }
}

function toMessage(record: OutboxRecord): OutboundMessage {
  const m: OutboundMessage = { key: record.key, value: Buffer.from(record.value.buffer, record.value.byteOffset, record.value.byteLength) };
  if (record.headers) m.headers = record.headers;
  if (record.partition !== undefined) m.partition = record.partition;
  return m;
}

function byTopic(group: readonly Pending[]): TopicMessages[] {
  const topics = new Map<string, OutboundMessage[]>();
  for (const { record } of group) {
    const msgs = topics.get(record.topic) ?? [];
    msgs.push(toMessage(record));
    topics.set(record.topic, msgs);
  }
  return [...topics.entries()].map(([topic, messages]) => ({ topic, messages }));
}

/** A Kafka failure worth waiting out (retriable), as the retry factory sees it. */
const outage = (err: unknown): WardenError =>
  err instanceof WardenError ? err : new WardenError('KAFKA_PUBLISH', `publish failed: ${errorMessage(err)}`, { retriable: true, cause: err });

/** Ends the attempts at once (not retriable to the factory): Kafka is away, which the caller waits out. */
class Away extends WardenError {
  constructor(readonly outage: WardenError) {
    super('KAFKA_PUBLISH', outage.message, { cause: outage });
  }
}

class Refused extends WardenError {
  constructor(readonly original: unknown) {
    super('KAFKA_PUBLISH', `Kafka refused the record: ${kafkaErrorType(original) ?? errorMessage(original)}`, { retriable: true, cause: original });
  }
}

export interface PublisherOptions {
  store: WindowStore;
  producer: ProducerSlot;
  parking: ParkingLot;
  log: Logger;
  onParked?: (entry: ParkedOutput) => void;
  /** Records read from the outbox at a time. */
  chunk?: number;
}

/**
 * Publishes a partition's outbox to Kafka, then acknowledges it in the store.
 * A crash between the two republishes the same records on restart: outputs are
 * never lost, and their deterministic ids make a repeat recognisable.
 *
 * Two ways to the same records: `publish` sends what a commit has just
 * appended, from memory, when the commit's receipt shows that nothing else
 * waits in the outbox before it; `drain` reads the outbox back from Redis
 * (after an assignment, a retry, a redelivery, or when the receipt shows
 * records this process did not commit).
 *
 * Sends are split below `maxBatchBytes` (the smallest output topic limit).
 * A retriable failure is thrown for the caller to wait out; a refusal is
 * narrowed down to the record Kafka refuses, which after a few attempts is
 * parked (src/service/parked.ts) so the partition moves on.
 */
export class OutboxPublisher {
  maxBatchBytes = DEFAULT_RECORD_LIMIT;
  private readonly chunk: number;
  /** Per partition: the outbox seqs [from, next) this process committed since it last drained it. */
  private readonly own = new Map<string, { from: bigint; next: bigint }>();

  constructor(private readonly o: PublisherOptions) {
    this.chunk = o.chunk ?? 1000;
  }

  /**
   * Whether a commit's `count` records may go from memory: everything older
   * still in the outbox is this process's own, committed since its last drain
   * right up to them. Otherwise (a crash's leftovers, another owner's, a
   * commit whose reply was lost) the partition must be drained: acknowledging
   * these seqs would drop the others unpublished.
   */
  claim(partition: string, receipt: CommitReceipt, count: number): boolean {
    const o = this.own.get(partition);
    const empty = receipt.head === receipt.first;
    if (!empty && !(o !== undefined && receipt.head >= o.from && receipt.first === o.next)) {
      this.own.delete(partition);
      return false;
    }
    this.own.set(partition, { from: empty ? receipt.first : o!.from, next: receipt.first + BigInt(count) });
    return true;
  }

  /** Sends a claimed commit's records (seqs from `first`), then acknowledges them. */
  async publish(partition: string, first: bigint, records: readonly OutboxRecord[], sleep: Sleep): Promise<number> {
    const pending = records.map((record, i) => ({ seq: first + BigInt(i), record }));
    for (const group of this.split(pending)) {
      await this.sendOrPark(partition, group, sleep);
      await this.o.store.ackOutbox(partition, group[group.length - 1]!.seq);
    }
    return pending.length;
  }

  async drain(partition: string, sleep: Sleep): Promise<number> {
    this.own.delete(partition);
    let sent = 0;
    for (;;) {
      const pending = await this.o.store.pendingOutbox(partition, this.chunk);
      if (pending.length === 0) return sent;
      for (const group of this.split(pending)) {
        await this.sendOrPark(partition, group, sleep);
        await this.o.store.ackOutbox(partition, group[group.length - 1]!.seq);
        sent += group.length;
      }
      // Short of a chunk: that was all of it (anything appended since is checked at the next commit, by `claim`).
      if (pending.length < this.chunk) return sent;
    }
  }

  /** Consecutive groups, each below the batch limit (a record alone over it goes by itself, and Kafka decides). */
  split(pending: readonly Pending[]): Pending[][] {
    const groups: Pending[][] = [];
    let group: Pending[] = [];
    let size = BATCH_OVERHEAD;
    for (const p of pending) {
      const n = recordBytes(p.record);
      if (group.length > 0 && size + n > this.maxBatchBytes) {
        groups.push(group);
        group = [];
        size = BATCH_OVERHEAD;
      }
      group.push(p);
      size += n;
    }
    if (group.length > 0) groups.push(group);
    return groups;
  }

  private async sendOrPark(partition: string, group: Pending[], sleep: Sleep): Promise<void> {
    try {
      await this.o.producer.send(byTopic(group));
      return;
    } catch (err) {
      if (kafkaRetriable(err) || (err instanceof WardenError && err.retriable)) throw outage(err);
      if (group.length > 1) {
        // A one-record send touches one partition, which Kafka did not append to: only a wider one needs a new producer id.
        await this.o.producer.renew().catch((e: unknown) => {
          throw outage(e);
        });
        const half = Math.ceil(group.length / 2);
        await this.sendOrPark(partition, group.slice(0, half), sleep);
        await this.o.store.ackOutbox(partition, group[half - 1]!.seq);
        await this.sendOrPark(partition, group.slice(half), sleep);
        return;
      }
    }
    await this.retryOne(partition, group[0]!, sleep);
  }

  private async retryOne(partition: string, p: Pending, sleep: Sleep): Promise<void> {
    try {
      await retry(async () => {
        try {
          await this.o.producer.send(byTopic([p]));
        } catch (err) {
          // An outage is not a refusal: out of here, for the caller to wait out.
          if (kafkaRetriable(err) || (err instanceof WardenError && err.retriable)) throw new Away(outage(err));
          // Refused for the producer's own sequence, not for the record: the next attempt goes with a fresh producer id.
          if (/SEQUENCE|UNKNOWN_PRODUCER_ID|INVALID_PRODUCER_EPOCH/.test(kafkaErrorType(err) ?? '')) await this.o.producer.renew().catch(() => {});
          throw new Refused(err);
        }
      }, { maxAttempts: REFUSED_ATTEMPTS, ...BACKOFF, sleep });
    } catch (err) {
      const last = err instanceof RetryError ? err.lastError : err;
      if (last instanceof Away) throw last.outage;
      if (!(last instanceof Refused)) throw last;
      const entry = await this.o.parking.park(partition, p.seq, p.record, errorMessage(last));
      this.o.log.error({ partition, seq: entry.seq, topic: entry.topic, key: entry.key, bytes: entry.bytes, reason: entry.error, attempts: REFUSED_ATTEMPTS },
        'output parked: Kafka refused it after retries; the partition moves on (list with `warden parked`)');
      this.o.onParked?.(entry);
    }
  }
}
