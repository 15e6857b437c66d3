import { errorMessage, WardenError } from '../errors.js';
import { kafkaErrorType, kafkaRetriable, type RecordSink } from '../transport/kafka-client.js';
import { keyPartition } from '../transport/murmur2.js';
import { Fifo } from './fifo.js';
import type { BufferOptions } from './options.js';
import { prepareEvent, type EventInput } from './prepare.js';

/** Where an event was written. */
export interface Delivery {
  id: string;
  topic: string;
  partition: number;
  /** int64, as text. */
  offset: string;
}

export interface ProducerStats {
  /** Accepted and not yet acknowledged, in flight included. */
  buffered: number;
  bufferedBytes: number;
  /** `send()` calls waiting for room (onFull: 'wait'). */
  waiting: number;
  delivered: number;
  /** Delivery failures (each of their send() promises rejected). */
  failed: number;
  /** Refused before buffering: invalid, buffer full, closed. */
  refused: number;
}

interface Item {
  seq: number;
  id: string;
  key: string;
  value: Uint8Array;
  bytes: number;
  at: number;
  resolve(d: Delivery): void;
  reject(e: unknown): void;
  /** Resolves when the item is settled either way (for flush). */
  settled: Promise<void>;
}

/**
 * The buffer between `send()` and Kafka: bounded by events and bytes, drained
 * one batch at a time (so each identity's events keep their order), each
 * batch after `lingerMs` or as soon as it is full.
 */
export class EventProducer {
  private readonly queue = new Fifo<Item>();
  private readonly waiting = new Fifo<Item>();
  private seq = 0;
  private flushTo = 0;
  private buffered = 0;
  private bufferedBytes = 0;
  private queuedBytes = 0;
  private sending: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  private counts = { delivered: 0, failed: 0, refused: 0 };
  private inFlight: Item[] = [];

  constructor(private readonly sink: RecordSink, private readonly opts: BufferOptions) {}

  /** Connects now, so a wrong broker address fails here rather than at the first delivery. */
  async connect(): Promise<void> {
    try {
      await this.sink.connect();
      await this.sink.partitions(this.opts.topic);
    } catch (err) {
      throw this.publishError(err, `cannot reach topic ${this.opts.topic}`);
    }
  }

  /**
   * Checks the event as Warden will, buffers it and resolves once Kafka has
   * acknowledged it. Rejects with an InvalidEventError (never published),
   * PRODUCER_BUFFER_FULL (onFull: 'reject'), PRODUCER_CLOSED, or the delivery
   * error (KAFKA_PUBLISH, with `retriable`).
   */
  send(input: EventInput): Promise<Delivery> {
    if (this.closing) return this.refuse(new WardenError('PRODUCER_CLOSED', 'the producer is closed; create a new one'));
    const p = prepareEvent(input, this.opts.encoding, this.opts.timeBounds, this.opts.now());
    if (p instanceof WardenError) return this.refuse(p);
    const bytes = p.value.byteLength + Buffer.byteLength(p.key);
    if (this.waiting.length === 0 && this.fits(bytes)) {
      return this.enter(p.event.id, p.key, p.value, bytes, (item) => this.admit(item));
    }
    if (this.opts.onFull === 'reject') {
      return this.refuse(new WardenError('PRODUCER_BUFFER_FULL', `the buffer holds ${this.buffered} events (${this.bufferedBytes} bytes), at its bound of ${this.opts.maxBufferedEvents} events or ${this.opts.maxBufferedBytes} bytes; Kafka is slower than the events`, { retriable: true }));
    }
    return this.enter(p.event.id, p.key, p.value, bytes, (item) => this.waiting.push(item));
  }

  /** Sends everything accepted so far now, without waiting out the linger; resolves once each is delivered or failed. */
  async flush(): Promise<void> {
    const pending = [...this.inFlight, ...this.queue.toArray(), ...this.waiting.toArray()].map((i) => i.settled);
    this.flushTo = this.seq;
    this.pump();
    await Promise.all(pending);
  }

  /** Refuses new events, delivers what is buffered or waiting, then disconnects. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.flush();
      await this.sink.close();
    })();
    return this.closing;
  }

  stats(): ProducerStats {
    return { buffered: this.buffered, bufferedBytes: this.bufferedBytes, waiting: this.waiting.length, ...this.counts };
  }

  private refuse(err: WardenError): Promise<never> {
    this.counts.refused++;
    return Promise.reject(err);
  }

  private fits(bytes: number): boolean {
    return this.buffered + 1 <= this.opts.maxBufferedEvents && this.bufferedBytes + bytes <= this.opts.maxBufferedBytes;
  }

  private enter(id: string, key: string, value: Uint8Array, bytes: number, place: (item: Item) => void): Promise<Delivery> {
    return new Promise<Delivery>((resolve, reject) => {
      let done!: () => void;
      const settled = new Promise<void>((r) => (done = r));
      const item: Item = {
        seq: ++this.seq, id, key, value, bytes, at: performance.now(), settled,
        resolve: (d) => { done(); resolve(d); },
        reject: (e) => { done(); reject(e); },
      };
      place(item);
    });
  }

  private admit(item: Item): void {
    this.take(item);
    this.pump();
  }

  private take(item: Item): void {
    this.buffered++;
    this.bufferedBytes += item.bytes;
    this.queuedBytes += item.bytes;
    this.queue.push(item);
  }

  private pump(): void {
    if (this.sending || this.queue.length === 0) return;
    const { lingerMs, maxBatchEvents, maxBatchBytes } = this.opts;
    const head = this.queue.peek()!;
    const waited = performance.now() - head.at;
    const ready = head.seq <= this.flushTo || this.queue.length >= maxBatchEvents || this.queuedBytes >= maxBatchBytes || waited >= lingerMs;
    if (!ready) {
      this.timer ??= setTimeout(() => { this.timer = null; this.pump(); }, Math.max(1, Math.ceil(lingerMs - waited)));
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let n = 0;
    let bytes = 0;
    while (n < this.queue.length && n < maxBatchEvents && (n === 0 || bytes + this.queue.at(n)!.bytes <= maxBatchBytes)) bytes += this.queue.at(n++)!.bytes;
    const batch = this.queue.take(n);
    this.queuedBytes -= bytes;
    this.inFlight = batch;
    this.sending = this.deliver(batch).finally(() => {
      this.inFlight = [];
      this.buffered -= batch.length;
      this.bufferedBytes -= bytes;
      this.sending = null;
      while (this.waiting.length > 0 && this.fits(this.waiting.peek()!.bytes)) this.take(this.waiting.shift()!);
      this.pump();
    });
  }

  private async deliver(batch: Item[]): Promise<void> {
    const { topic } = this.opts;
    try {
      const partitions = await this.sink.partitions(topic);
      const records = batch.map((i) => ({ key: i.key, value: i.value, partition: keyPartition(i.key, partitions) }));
      const out = await this.sink.send(topic, records);
      for (let k = 0; k < batch.length; k++) {
        const it = batch[k]!;
        it.resolve({ id: it.id, topic, partition: records[k]!.partition, offset: out[k]?.offset ?? '-1' });
      }
      this.counts.delivered += batch.length;
    } catch (err) {
      const e = this.publishError(err, `cannot publish ${batch.length === 1 ? 'an event' : `${batch.length} events`} to ${topic}`);
      for (const it of batch) it.reject(e);
      this.counts.failed += batch.length;
    }
  }

  private publishError(err: unknown, what: string): WardenError {
    if (err instanceof WardenError) return err;
    const type = kafkaErrorType(err);
    return new WardenError('KAFKA_PUBLISH', `${what}: ${errorMessage(err)}${type ? ` (${type})` : ''}`, { retriable: kafkaRetriable(err), cause: err });
  }
}
