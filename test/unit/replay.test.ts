import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { WardenConfig } from '../../src/config/types.js';
import { encodeEvent } from '../../src/event/codec.js';
import { readEventStream } from '../../src/event/read-stream.js';
import { replay } from '../../src/pipeline/replay.js';
import { simulateFleet } from '../../src/sim/fleet.js';
import { writeEvents } from '../../src/sim/write.js';
import { createReadStream } from 'node:fs';

let dir: string;
let config: WardenConfig;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-replay-'));
  config = await loadConfig('config');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function replayFile(path: string): Promise<{ text: string; summary: Awaited<ReturnType<typeof replay>> }> {
  const chunks: Buffer[] = [];
  const output = new Writable({ write(chunk, _enc, cb) { chunks.push(Buffer.from(chunk)); cb(); } });
  const summary = await replay({ records: readEventStream(createReadStream(path)), config, output });
  return { text: Buffer.concat(chunks).toString('utf8'), summary };
}

describe('replay', () => {
  it('gives byte-identical output for the same recording, in JSONL, gzip and msgpack alike', async () => {
    const sim = simulateFleet({ days: 2, seed: 11 });
    const jsonl = join(dir, 'fleet.jsonl');
    const gz = join(dir, 'fleet.jsonl.gz');
    const mp = join(dir, 'fleet.msgpack');
    await writeEvents(sim.events, jsonl, 'jsonl');
    await writeEvents(sim.events, gz, 'jsonl', true);
    await writeEvents(sim.events, mp, 'msgpack');
    const a = await replayFile(jsonl);
    const b = await replayFile(jsonl);
    const c = await replayFile(gz);
    const d = await replayFile(mp);
    expect(a.text.length).toBeGreaterThan(1000);
    expect(b.text).toBe(a.text);
    expect(c.text).toBe(a.text);
    expect(d.text).toBe(a.text);
    expect(a.summary.events).toBe(sim.events.length);
    expect(a.summary.identities).toBe(sim.identities);
    // The rogues are on the last day: each is suspended (itself, or a sub-agent in its chain).
    const records = a.text.trim().split('\n').map((l) => JSON.parse(l));
    const suspends = records.filter((r) => r.kind === 'command' && r.type === 'suspend');
    const detections = records.filter((r) => r.kind === 'detection');
    expect(sim.incidents).toHaveLength(3);
    for (const inc of sim.incidents) {
      const own = suspends.some((c) => c.identity === inc.identity && c.issuedAt >= inc.start && c.issuedAt <= inc.end);
      const child = detections.some((d) => d.chain.includes(inc.identity) && d.commandId !== null && d.ts >= inc.start && d.ts <= inc.end);
      expect(own || child, inc.label).toBe(true);
    }
  });

  it('reports malformed records as invalid lines with their code and goes on', async () => {
    const good = (i: number) => Buffer.from(encodeEvent({ id: `e${i}`, ts: 1_700_000_000_000 + i, identity: 'a', action: 'x.read', resource: 'r:1' }, 'json')).toString();
    const lines = [good(1), '{"id":"bad","ts":"yesterday","identity":"a","action":"x","resource":"r"}', 'not json at all', good(2), '{"id":"e3","ts":1,"identity":"a","action":"x","resource":"r","surprise":1}', good(4)];
    const path = join(dir, 'mixed.jsonl');
    await writeFile(path, lines.join('\n') + '\n');
    const { text, summary } = await replayFile(path);
    const records = text.trim().split('\n').map((l) => JSON.parse(l));
    const invalid = records.filter((r) => r.kind === 'invalid');
    expect(invalid.map((r) => [r.offset, r.code, r.field])).toEqual([
      [1, 'EVENT_FIELD_TYPE', 'ts'],
      [2, 'EVENT_DECODE', null],
      [4, 'EVENT_UNKNOWN_FIELD', 'surprise'],
    ]);
    expect(invalid[0].message).toMatch(/ts/);
    expect(summary).toMatchObject({ records: 6, events: 3, invalid: 3, identities: 1 });
    expect(records[records.length - 1].kind).toBe('summary');
  });

  it('reads from a stream (stdin) as well as a file', async () => {
    const input = new PassThrough();
    const chunks: Buffer[] = [];
    const output = new Writable({ write(chunk, _e, cb) { chunks.push(Buffer.from(chunk)); cb(); } });
    const done = replay({ records: readEventStream(input), config, output });
    input.end(Buffer.from(encodeEvent({ id: 'e1', ts: 1_700_000_000_000, identity: 'a', action: 'x.read', resource: 'r' }, 'msgpack')));
    const summary = await done;
    expect(summary.events).toBe(1);
    const lines = Buffer.concat(chunks).toString().trim().split('\n').map((l) => JSON.parse(l) as { kind: string });
    expect(lines.map((l) => l.kind)).toEqual(['detection', 'summary']);
  });
});

