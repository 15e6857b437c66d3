import { readCloudTrail } from '../cloudtrail/read.js';
import { createLogger } from '../log.js';
import { createProducer } from '../producer/index.js';
import type { EventProducer } from '../producer/producer.js';
import { WardenError } from '../errors.js';
import { openInput } from '../event/read-stream.js';
import { timeBoundsSettings } from '../service/settings.js';
import { DEFAULT_TOPICS } from '../pipeline/outbox.js';
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
--encoding json, through warden/producer; it returns once the broker has
acknowledged them all. An event the service would refuse by the wall clock
(WARDEN_EVENT_MAX_AHEAD, WARDEN_EVENT_MAX_AGE; 0 turns the age bound off) is
not published.

A record that cannot be mapped (or published) is listed on stderr with its
code and where it is, and counted in the summary line; the exit code is 1
when none could be, or when Kafka did not take one (KAFKA_PUBLISH).`;

const OUTSTANDING = 5000;
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
  let producer: EventProducer | undefined;
  if (values.publish) {
    const kafka = kafkaSettingsFromEnv(process.env, 'warden-cloudtrail');
    // The producer refuses what the service would dead-letter, by the same bounds (README "Event time bounds").
    producer = createProducer({ ...kafka, topic, encoding, timeBounds: timeBoundsSettings(), logger: createLogger('error') });
    // A wrong address or a missing topic fails here, and the client is closed so the process can end.
    await producer.connect().catch(async (err: unknown) => {
      await producer!.close();
      throw err;
    });
  }
  let records = 0;
  let done = 0;
  const failures = new Map<string, number>();
  const fail = (index: number, code: string, what: string, message: string): void => {
    failures.set(code, (failures.get(code) ?? 0) + 1);
    process.stderr.write(`warden cloudtrail: record ${index + 1} ${what}: ${code}: ${message}\n`);
  };
  const pending = new Set<Promise<void>>();
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
        fail(rec.index, rec.result.error.code, 'not mapped', rec.result.error.message);
        continue;
      }
      const event = rec.result.event!;
      if (!producer) {
        done++;
        text += JSON.stringify(event) + '\n';
        if (text.length >= TEXT_CHUNK) await flush();
        continue;
      }
      const sent: Promise<void> = producer.send(event).then(
        () => { done++; },
        (err: WardenError) => fail(rec.index, err.code, 'not published', `eventID ${event.id}: ${err.message}`),
      ).finally(() => pending.delete(sent));
      pending.add(sent);
      // Each send settles at delivery: bound what is outstanding rather than wait one at a time.
      if (pending.size >= OUTSTANDING) await producer.flush();
    }
    await flush();
  } finally {
    await producer?.close();
    await Promise.all(pending);
  }
  const refused = [...failures].sort(([a], [b]) => (a < b ? -1 : 1)).map(([c, n]) => `${c} ${n}`).join(', ');
  const what = producer ? `published to ${topic}` : 'mapped';
  const not = producer ? 'not published' : 'not mapped';
  process.stderr.write(`warden cloudtrail: ${records} records: ${done} ${what}, ${records - done} ${not}${refused ? ` (${refused})` : ''}\n`);
  // Nothing mapped is most likely the wrong file; an event Kafka did not take is lost unless run again.
  if (done === 0 || failures.has('KAFKA_PUBLISH')) return 1;
  return 0;
}
