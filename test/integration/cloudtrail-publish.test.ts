import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeEvent } from '../../src/event/codec.js';
import { BROKERS, createTopic, kcatConsumeAll, kcatProduceLines, requireKafka, uniqueName } from './helpers.js';

const run = promisify(execFile);

function warden(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/warden.js', ...args], { env: { ...process.env, KAFKA_BROKERS: BROKERS, WARDEN_EVENT_MAX_AGE: '0', ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const records = (JSON.parse(readFileSync('test/fixtures/cloudtrail/records.json', 'utf8')) as { Records: Array<{ eventID: string }> }).Records;

beforeAll(async () => {
  await requireKafka();
});

describe('warden cloudtrail --publish, against the real broker', () => {
  it('publishes every mapped record to the actions topic keyed by identity, on the partition kcat picks for that key', async () => {
    const topic = uniqueName('ct-actions');
    await createTopic(topic, 4);
    const r = await warden(['cloudtrail', 'test/fixtures/cloudtrail/records.json', '--publish', '--encoding', 'json'], { WARDEN_TOPIC_ACTIONS: topic });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`8 records: 8 published to ${topic}, 0 not published`);
    const got = await kcatConsumeAll(topic);
    expect(got.map((m) => JSON.parse(m.payload!).id).sort()).toEqual(records.map((x) => x.eventID).sort());
    for (const m of got) expect(m.key).toBe(JSON.parse(m.payload!).identity);
    // An identity's events stay on one partition, the one the Java client's murmur2 (kcat's murmur2_random) gives its key.
    const partitionOf = new Map<string, number>();
    for (const m of got) {
      expect(partitionOf.get(m.key!) ?? m.partition, m.key!).toBe(m.partition);
      partitionOf.set(m.key!, m.partition);
    }
    expect(partitionOf.size).toBe(5);
    const probe = uniqueName('ct-probe');
    await createTopic(probe, 4);
    await kcatProduceLines(probe, [...partitionOf.keys()].map((key) => ({ key, value: '{}' })));
    for (const m of await kcatConsumeAll(probe)) expect(m.partition, m.key!).toBe(partitionOf.get(m.key!));
  });

  it('publishes msgpack by default, from stdin, as an event Warden decodes', async () => {
    const topic = uniqueName('ct-actions');
    await createTopic(topic, 1);
    const child = execFile(process.execPath, ['bin/warden.js', 'cloudtrail', '-', '--publish'], { env: { ...process.env, KAFKA_BROKERS: BROKERS, WARDEN_EVENT_MAX_AGE: '0', WARDEN_TOPIC_ACTIONS: topic }, timeout: 90_000 });
    child.stdin!.end(readFileSync('test/fixtures/cloudtrail/eventbridge-api-call.json'));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    const { stdout } = await run('kcat', ['-b', BROKERS, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-c', '1', '-f', '%s'], { encoding: 'buffer', timeout: 60_000 });
    const bytes = new Uint8Array(stdout);
    expect(bytes[0]! & 0xf0).toBe(0x80); // a msgpack fixmap
    const d = decodeEvent(bytes);
    expect(d.ok && d.event).toMatchObject({
      id: '7c9e1d2f-6666-4b3a-8e9f-0a1b2c3d4e5f', identity: 'arn:aws:sts::111122223333:assumed-role/Orchestrator/orchestrator',
      agentClass: 'role/Orchestrator', action: 'sts:AssumeRole', resource: 'arn:aws:iam::111122223333:role/DataPipeline', outcome: 'allowed',
    });
  });

  it('does not publish what the service would refuse by the wall clock, and says so', async () => {
    const topic = uniqueName('ct-actions');
    await createTopic(topic, 1);
    const r = await warden(['cloudtrail', 'test/fixtures/cloudtrail/records.json', '--publish'], { WARDEN_TOPIC_ACTIONS: topic, WARDEN_EVENT_MAX_AGE: '30d' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`8 records: 0 published to ${topic}, 8 not published (EVENT_TS_TOO_OLD 8)`);
    expect(r.stderr).toMatch(/record 1 not published: EVENT_TS_TOO_OLD: eventID f2b287f3-0df1-4961-a2f4-c4bdfed47657: field "ts" \(2024-07-02T00:22:11.000Z\) is \d+ days behind the clock/);
    expect(await kcatConsumeAll(topic)).toEqual([]);
  });

  it('fails with KAFKA_PUBLISH, naming the topic, when the topic does not exist', async () => {
    const topic = uniqueName('ct-missing');
    const r = await warden(['cloudtrail', 'test/fixtures/cloudtrail/records.json', '--publish'], { WARDEN_TOPIC_ACTIONS: topic });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`warden cloudtrail: cannot reach topic ${topic}: This server does not host this topic-partition (UNKNOWN_TOPIC_OR_PARTITION)`);
    expect(r.stderr).toContain('[KAFKA_PUBLISH]');
  });
});
