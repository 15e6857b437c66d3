import { pino } from 'pino';
import { readCloudTrail } from '../cloudtrail/read.js';
import { WardenError } from '../errors.js';
import { encodeEvent } from '../event/codec.js';
import { openInput } from '../event/read-stream.js';
import { timeError } from '../event/time.js';
import { timeBoundsSettings } from '../service/settings.js';
import type { Encoding } from '../event/types.js';
import { DEFAULT_TOPICS } from '../pipeline/outbox.js';
import { connectEventPublisher, type EventPublisher, type KeyedMessage } from '../transport/event-publisher.js';
import { kafkaSettingsFromEnv } from '../transport/kafka-env.js';
import { parse } from './args.js';

const USAGE = `usage: warden cloudtrail FILE|- [--publish] [--encoding msgpack|json]

Maps AWS CloudTrail records to Warden events (README "CloudTrail"): the files
CloudTrail delivers to S3 ({"Records":[...]}, gzip ok), EventBridge events
("detail-type": "... via CloudTrail") or bare records, one JSON value after
another; - for stdin.

Without --publish, writes the events as JSON Lines on stdout. With --publish,
publishes each to the actions topic (WARDEN_TOPIC_ACTIONS, default
${DEFAULT_TOPICS.actions}) at KAFKA_BROKERS, keyed by identity, msgpack unless
--encoding json; it returns once the broker has acknowledged them all. An
event the service would refuse by the wall clock (WARDEN_EVENT_MAX_AHEAD,
WARDEN_EVENT_MAX_AGE; 0 turns the age bound off) is not published.

A record that cannot be mapped is listed on stderr with its code and where it
is, and counted in the summary line; the exit code is 1 when none could be.`;

const BATCH = 500;
const TEXT_CHUNK = 64 * 1024;

export async function cloudtrailCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    publish: { type: 'boolean', default: false },
    encoding: { type: 'string', default: 'msgpack' },
    help: { type: 'boolean', short: 'h' },
  }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new WardenError('CLI_USAGE', `${positionals.length === 0 ? 'missing FILE (or - for stdin)' : `unexpected argument "${positionals[1]}"`}\n\n${USAGE}`);
  const encoding = values.encoding;
  if (encoding !== 'msgpack' && encoding !== 'json') throw new WardenError('CLI_USAGE', `--encoding must be msgpack or json, got "${encoding}"\n\n${USAGE}`);
  const input = openInput(positionals[0]!);
  const topic = process.env.WARDEN_TOPIC_ACTIONS || DEFAULT_TOPICS.actions;
  // What the service would dead-letter by the wall clock is not published (README "Event time bounds").
  const bounds = timeBoundsSettings();
  let publisher: EventPublisher | undefined;
  if (values.publish) {
    const log = pino({ level: 'error' }, pino.destination(2));
    publisher = await connectEventPublisher(kafkaSettingsFromEnv(process.env, 'warden-cloudtrail'), topic, log);
  }
  let records = 0;
  let mapped = 0;
  const failures = new Map<string, number>();
  let batch: KeyedMessage[] = [];
  let text = '';
  const flush = async (): Promise<void> => {
    if (text === '') return;
    const ok = process.stdout.write(text);
    text = '';
    if (!ok) await new Promise((resolve) => process.stdout.once('drain', resolve));
  };
  try {
    for await (const rec of readCloudTrail(input)) {
      records++;
      if (!rec.result.ok) {
        const { code, message } = rec.result.error;
        failures.set(code, (failures.get(code) ?? 0) + 1);
        process.stderr.write(`warden cloudtrail: record ${rec.index + 1} not mapped: ${code}: ${message}\n`);
        continue;
      }
      const event = rec.result.event!;
      const late = publisher && timeError(event.ts, Date.now(), bounds, 'EVENT');
      if (late) {
        failures.set(late.code, (failures.get(late.code) ?? 0) + 1);
        process.stderr.write(`warden cloudtrail: record ${rec.index + 1} not published: ${late.code}: eventID ${event.id}: ${late.message}\n`);
        continue;
      }
      mapped++;
      if (publisher) {
        batch.push({ key: event.identity, value: encodeEvent(event, encoding as Encoding) });
        if (batch.length >= BATCH) {
          await publisher.send(batch);
          batch = [];
        }
      } else {
        text += JSON.stringify(event) + '\n';
        if (text.length >= TEXT_CHUNK) await flush();
      }
    }
    await publisher?.send(batch);
    await flush();
  } finally {
    await publisher?.close();
  }
  const refused = [...failures].sort(([a], [b]) => (a < b ? -1 : 1)).map(([c, n]) => `${c} ${n}`).join(', ');
  const done = publisher ? `published to ${topic}` : 'mapped';
  const not = publisher ? 'not published' : 'not mapped';
  process.stderr.write(`warden cloudtrail: ${records} records: ${mapped} ${done}, ${records - mapped} ${not}${refused ? ` (${refused})` : ''}\n`);
  return mapped === 0 ? 1 : 0;
}
