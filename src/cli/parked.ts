import { createRedis, DEFAULT_REDIS_URL } from '../state/redis-connection.js';
import { validatePrefix } from '../state/keys.js';
import { listParked } from '../service/parked.js';
import { parse } from './args.js';

const USAGE = `usage: warden parked [--json]

Lists the outputs (decisions, commands, dead letters) that Kafka refused after
retries and the service parked so their partition could move on, as kept in
Redis (REDIS_URL, WARDEN_REDIS_PREFIX): partition, outbox sequence, topic,
key, size and Kafka's reason. --json prints one record per line, the record's
bytes in \`value\` (base64) and its headers, for re-publishing by hand.`;

export async function parkedCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const prefix = validatePrefix(process.env.WARDEN_REDIS_PREFIX ?? 'warden');
  const redis = createRedis(process.env.REDIS_URL ?? DEFAULT_REDIS_URL);
  try {
    const all = await listParked(redis, prefix);
    if (values.json) {
      for (const p of all) process.stdout.write(JSON.stringify(p) + '\n');
    } else if (all.length === 0) {
      process.stdout.write('no parked outputs\n');
    } else {
      for (const p of all) process.stdout.write(`${p.at}  ${p.partition}#${p.seq}  ${p.topic}  key=${JSON.stringify(p.key)}  ${p.bytes} B  ${p.error}\n`);
    }
    return 0;
  } finally {
    redis.disconnect();
  }
}
