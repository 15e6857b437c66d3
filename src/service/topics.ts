import type { Admin } from 'kafkajs';
import type { Topics } from '../pipeline/outbox.js';

/** Creates Warden's topics when missing; the commands topic is compacted so its latest record per identity is the current state. */
export async function ensureTopics(admin: Admin, topics: Topics, partitions = 6): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const wanted = [
    { topic: topics.actions, numPartitions: partitions },
    { topic: topics.deadLetter, numPartitions: 1 },
    { topic: topics.decisions, numPartitions: 3 },
    { topic: topics.commands, numPartitions: 3, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
  ].filter((t) => !existing.has(t.topic));
  if (wanted.length > 0) await admin.createTopics({ topics: wanted, waitForLeaders: true });
  return wanted.map((t) => t.topic);
}
