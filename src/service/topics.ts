import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { Topics } from '../pipeline/outbox.js';
import { DEFAULT_RECORD_LIMIT } from '../pipeline/record-size.js';
import type { Admin } from '../transport/types.js';

/** Creates Warden's topics when missing; the commands topic is compacted so its latest record per identity is the current state. */
export async function ensureTopics(admin: Admin, topics: Topics, partitions = 6): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const wanted = [
    { topic: topics.actions, partitions },
    { topic: topics.deadLetter, partitions: 1 },
    { topic: topics.decisions, partitions: 3 },
    { topic: topics.commands, partitions: 3, configs: { 'cleanup.policy': 'compact' } },
  ].filter((t) => !existing.has(t.topic));
  if (wanted.length > 0) await admin.createTopics(wanted);
  return wanted.map((t) => t.topic);
}

export interface OutputLimits {
  /** The dead-letter topic's max.message.bytes: no dead letter is larger. */
  deadLetter: number;
  /** The smallest limit over the output topics: no send carries more per partition. */
  batch: number;
}

/**
 * Reads each output topic's max.message.bytes (the broker's message.max.bytes
 * unless the topic overrides it). When it cannot be read, a conservative
 * default below the stock limit.
 */
export async function outputLimits(admin: Admin, topics: Topics, log: Logger): Promise<OutputLimits> {
  const names = [topics.deadLetter, topics.decisions, topics.commands];
  const limits = new Map<string, number>();
  try {
    for (const [topic, value] of await admin.topicConfig(names, 'max.message.bytes')) {
      const v = Number(value);
      if (Number.isSafeInteger(v) && v > 0) limits.set(topic, v);
    }
  } catch (err) {
    log.warn({ err: errorMessage(err), fallback: DEFAULT_RECORD_LIMIT }, 'could not read the output topics\' max.message.bytes; using a conservative default');
  }
  const of = (t: string): number => limits.get(t) ?? DEFAULT_RECORD_LIMIT;
  return { deadLetter: of(topics.deadLetter), batch: Math.min(...names.map(of)) };
}
