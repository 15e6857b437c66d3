/**
 * The Kafka seam: everything outside src/transport talks to Kafka through
 * these interfaces, never to a client library. Their shapes follow what
 * Warden does with Kafka (a consumer group reading partition batches with
 * manual commits, an idempotent producer sending to chosen partitions, a few
 * admin reads), so a client that can do those can stand behind them.
 */

/** A record's headers as read: a header repeated on the wire comes as an array. */
export type InboundHeaders = Record<string, Buffer | string | Array<Buffer | string> | undefined>;

export interface InboundMessage {
  key: Buffer | null;
  value: Buffer | null;
  /** int64, as text. */
  offset: string;
  /** Milliseconds since the epoch, as text (the record's create or log-append time). */
  timestamp: string;
  headers?: InboundHeaders;
}

export interface InboundBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: InboundMessage[];
  /** The partition's high watermark when the batch was fetched (int64 as text). */
  readonly highWatermark: string;
  /** Records after the first of this batch up to the high watermark (int64 as text). */
  offsetLagLow(): string;
  /** The offset of the batch's last record, or before its first when it is empty. */
  lastOffset(): string;
}

/** What a batch handler gets: its records and its hold on the partition. */
export interface BatchContext {
  batch: InboundBatch;
  /** Tells the group this member is alive; throws when the group has rebalanced. */
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping. */
  isRunning(): boolean;
  /** True once the partition was revoked or sought: the rest of the batch must not be handled. */
  isStale(): boolean;
  /** Marks records up to `offset` handled (the position the consumer fetches from next); nothing is committed by it. */
  resolveOffset(offset: string): void;
}

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  /** int64 as text: for a commit, the next offset to read. */
  offset: string;
}

export interface ConsumerEventMap {
  /** The group gave this member its partitions (every join, also when they did not change). */
  assigned: { assignment: Record<string, number[]> };
  /** The consumer failed; `restart`: the client starts it again by itself. */
  crash: { error: Error; restart: boolean };
  /** A fetched batch was handled (or was empty after compaction or control records): the position moved past `lastOffset`. */
  'batch-end': { topic: string; partition: number; lastOffset: string };
}

export interface ConsumerOptions {
  groupId: string;
  /** Longest a fetch waits on the broker for records. */
  maxWaitMs: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Attempts at a failing request before the consumer crashes (and may restart). */
  retries?: number;
}

export interface RunOptions {
  /** Partitions whose batches are handled at once (per partition, batches stay in order). */
  partitionsConcurrently: number;
  eachBatch(ctx: BatchContext): Promise<void>;
}

/** A consumer group member. Offsets are committed only by `commit`. */
export interface GroupConsumer {
  connect(): Promise<void>;
  /** Before `run`. `fromBeginning`: where a partition with no committed offset starts. */
  subscribe(topics: string[], fromBeginning: boolean): Promise<void>;
  /** Joins the group and fetches; resolves once it is running, batches arrive through `eachBatch`. */
  run(opts: RunOptions): Promise<void>;
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  /** After `run`: the partition is read from `offset` next. */
  seek(to: TopicPartitionOffset): void;
  pause(partitions: Array<{ topic: string; partitions: number[] }>): void;
  resume(partitions: Array<{ topic: string; partitions: number[] }>): void;
  on<K extends keyof ConsumerEventMap>(event: K, listener: (e: ConsumerEventMap[K]) => void): void;
  disconnect(): Promise<void>;
}

export interface OutboundMessage {
  key: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Record<string, string | Buffer>;
  /** Absent: the partition Kafka's default partitioner gives the key (murmur2). */
  partition?: number;
}

export interface TopicMessages {
  topic: string;
  messages: OutboundMessage[];
}

/** One per topic-partition a send appended to. */
export interface SendResult {
  topic: string;
  partition: number;
  /** The offset of the first record appended there (int64 as text), when the broker said. */
  baseOffset?: string;
}

export interface ProducerOptions {
  /** One producer id, sequence numbers per partition: a retried request is not appended twice. */
  idempotent: boolean;
  /** Attempts at a failing request before the send fails. */
  retries?: number;
}

export interface Producer {
  connect(): Promise<void>;
  /** One request per broker; `acks` -1: acknowledged by all in-sync replicas. */
  send(topicMessages: TopicMessages[], acks: -1 | 0 | 1): Promise<SendResult[]>;
  disconnect(): Promise<void>;
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  configs?: Record<string, string>;
}

export interface PartitionOffsets {
  partition: number;
  /** int64 as text. */
  low: string;
  high: string;
}

export interface Admin {
  connect(): Promise<void>;
  listTopics(): Promise<string[]>;
  /** Waits for the new partitions' leaders. */
  createTopics(topics: TopicSpec[]): Promise<void>;
  /** The topic's partition count. */
  partitionCount(topic: string): Promise<number>;
  /** One config value per topic that has it set (its own or the broker's default). */
  topicConfig(topics: string[], name: string): Promise<Map<string, string>>;
  topicOffsets(topic: string): Promise<PartitionOffsets[]>;
  /** A group's committed offsets on a topic; "-1" where it has none. */
  groupOffsets(groupId: string, topic: string): Promise<Array<{ partition: number; offset: string }>>;
  /** Sets a group's committed offsets (the group must have no live member). */
  setGroupOffsets(groupId: string, topic: string, partitions: Array<{ partition: number; offset: string }>): Promise<void>;
  deleteGroups(groupIds: string[]): Promise<void>;
  disconnect(): Promise<void>;
}

/** A Kafka client behind the seam: what Warden's service, alerts and tools are built on. */
export interface KafkaTransport {
  consumer(opts: ConsumerOptions): GroupConsumer;
  producer(opts: ProducerOptions): Producer;
  admin(opts?: { retries?: number }): Admin;
}

/** What the clients' own logs go to (pino's Logger is one). */
export interface TransportLog {
  error(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  debug?(fields: object, msg: string): void;
}
