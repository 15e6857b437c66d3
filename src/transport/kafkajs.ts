import {
  Partitioners, type Admin as KafkajsAdmin, type ConfigResourceTypes, type Consumer as KafkajsConsumer, type ConsumerConfig,
  type EachBatchPayload, type Kafka, type Message, type ProducerConfig,
} from 'kafkajs';
import type {
  Admin, BatchContext, ConsumerEventMap, ConsumerOptions, GroupConsumer, KafkaTransport, Producer, ProducerOptions, RunOptions,
  TopicMessages, TopicPartitionOffset,
} from './types.js';

/** kafkajs' ConfigResourceTypes.TOPIC; the enum is not a named export of its CommonJS build. */
const TOPIC = 2 as ConfigResourceTypes;

class KafkajsGroupConsumer implements GroupConsumer {
  constructor(private readonly c: KafkajsConsumer) {}

  connect(): Promise<void> {
    return this.c.connect();
  }

  subscribe(topics: string[], fromBeginning: boolean): Promise<void> {
    return this.c.subscribe({ topics, fromBeginning });
  }

  run(opts: RunOptions): Promise<void> {
    // Its payload is a BatchContext as it is: handed over without a copy per batch.
    const eachBatch: (p: EachBatchPayload) => Promise<void> = (p) => opts.eachBatch(p satisfies BatchContext);
    return this.c.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: opts.partitionsConcurrently, eachBatch });
  }

  commit(offsets: TopicPartitionOffset[]): Promise<void> {
    return this.c.commitOffsets(offsets);
  }

  seek(to: TopicPartitionOffset): void {
    this.c.seek(to);
  }

  pause(partitions: Array<{ topic: string; partitions: number[] }>): void {
    this.c.pause(partitions);
  }

  resume(partitions: Array<{ topic: string; partitions: number[] }>): void {
    this.c.resume(partitions);
  }

  on<K extends keyof ConsumerEventMap>(event: K, listener: (e: ConsumerEventMap[K]) => void): void {
    const c = this.c;
    const emit = listener as (e: ConsumerEventMap[keyof ConsumerEventMap]) => void;
    if (event === 'assigned') c.on(c.events.GROUP_JOIN, (e) => emit({ assignment: e.payload.memberAssignment }));
    else if (event === 'crash') c.on(c.events.CRASH, (e) => emit({ error: e.payload.error, restart: e.payload.restart }));
    else c.on(c.events.END_BATCH_PROCESS, (e) => emit({ topic: e.payload.topic, partition: e.payload.partition, lastOffset: e.payload.lastOffset }));
  }

  disconnect(): Promise<void> {
    return this.c.disconnect();
  }
}

function producer(kafka: Kafka, opts: ProducerOptions): Producer {
  // Warden creates its topics itself (ensureTopics, the commands topic compacted): a send never does.
  const config: ProducerConfig = { idempotent: opts.idempotent, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner };
  // Idempotence in kafkajs allows one request in flight: more could reorder on a retry.
  if (opts.idempotent) config.maxInFlightRequests = 1;
  if (opts.retries !== undefined) config.retry = { retries: opts.retries };
  const p = kafka.producer(config);
  return {
    connect: () => p.connect(),
    async send(topicMessages: TopicMessages[], acks) {
      const meta = await p.sendBatch({ acks, topicMessages: topicMessages as Array<{ topic: string; messages: Message[] }> });
      return meta.map((m) => {
        const baseOffset = m.baseOffset ?? m.offset;
        return baseOffset === undefined ? { topic: m.topicName, partition: m.partition } : { topic: m.topicName, partition: m.partition, baseOffset };
      });
    },
    disconnect: () => p.disconnect(),
  };
}

function admin(a: KafkajsAdmin): Admin {
  return {
    connect: () => a.connect(),
    listTopics: () => a.listTopics(),
    async createTopics(topics) {
      await a.createTopics({
        waitForLeaders: true,
        topics: topics.map((t) => ({
          topic: t.topic, numPartitions: t.partitions,
          ...(t.configs ? { configEntries: Object.entries(t.configs).map(([name, value]) => ({ name, value })) } : {}),
        })),
      });
    },
    async partitionCount(topic) {
      const { topics } = await a.fetchTopicMetadata({ topics: [topic] });
      return topics[0]?.partitions.length ?? 0;
    },
    async topicConfig(topics, name) {
      const res = await a.describeConfigs({ includeSynonyms: false, resources: topics.map((t) => ({ type: TOPIC, name: t, configNames: [name] })) });
      const out = new Map<string, string>();
      for (const r of res.resources) {
        const v = r.configEntries.find((e) => e.configName === name)?.configValue;
        if (v !== undefined && v !== null) out.set(r.resourceName, v);
      }
      return out;
    },
    async topicOffsets(topic) {
      return (await a.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, low: o.low, high: o.high }));
    },
    async groupOffsets(groupId, topic) {
      const [t] = await a.fetchOffsets({ groupId, topics: [topic] });
      return (t?.partitions ?? []).map((p) => ({ partition: p.partition, offset: p.offset }));
    },
    setGroupOffsets: (groupId, topic, partitions) => a.setOffsets({ groupId, topic, partitions }),
    async deleteGroups(groupIds) {
      await a.deleteGroups(groupIds);
    },
    disconnect: () => a.disconnect(),
  };
}

/** The seam over a kafkajs client. */
export function kafkajsTransport(kafka: Kafka, consumerDefaults: Partial<ConsumerConfig> = {}): KafkaTransport {
  return {
    consumer(o: ConsumerOptions) {
      const config: ConsumerConfig = { ...consumerDefaults, groupId: o.groupId, maxWaitTimeInMs: o.maxWaitMs };
      if (o.sessionTimeoutMs !== undefined) config.sessionTimeout = o.sessionTimeoutMs;
      if (o.heartbeatIntervalMs !== undefined) config.heartbeatInterval = o.heartbeatIntervalMs;
      if (o.retries !== undefined) config.retry = { retries: o.retries };
      return new KafkajsGroupConsumer(kafka.consumer(config));
    },
    producer: (o) => producer(kafka, o),
    admin: (o) => admin(kafka.admin(o?.retries !== undefined ? { retry: { retries: o.retries } } : {})),
  };
}
