import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { WardenConfig } from '../../src/config/types.js';
import type { Detection } from '../../src/detector.js';
import { isCold, learningPeriodOf } from '../../src/pipeline/cold.js';
import { Engine, type InputRecord } from '../../src/pipeline/engine.js';
import { checkEpoch, classify, encodeMarker, parseMarker, type EpochRedis } from '../../src/state/epoch.js';
import { epochKey } from '../../src/state/keys.js';
import { EpochWatch } from '../../src/service/epoch-watch.js';
import { MemoryWindowStore } from '../../src/state/memory-store.js';

const H = 3_600_000;
const T = Date.UTC(2026, 10, 22, 12);

/** GET and SET NX over a map, like Redis; `racer` writes its marker between our GET and SET. */
function fakeRedis(racer?: () => string): EpochRedis & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    async get(k) {
      return data.get(k) ?? null;
    },
    async set(k, v) {
      if (racer && !data.has(k)) data.set(k, racer());
      if (data.has(k)) return null;
      data.set(k, v);
      return 'OK';
    },
  };
}

let n = 0;
const ids = () => `e${++n}`;

describe('state epoch marker: the decision', () => {
  it('a first start on an empty Redis is fresh, not a loss: it writes the marker', async () => {
    const r = fakeRedis();
    const got = await checkEpoch(r, 'w', null, T, ids);
    expect(got).toEqual({ kind: 'fresh', marker: { epoch: got.marker.epoch, createdAt: T } });
    expect(parseMarker(r.data.get(epochKey('w'))!)).toEqual(got.marker);
    expect(epochKey('w')).toBe('w:epoch');
  });

  it('the same marker again is nothing; a process that never saw one adopts what is there', async () => {
    const r = fakeRedis();
    const first = await checkEpoch(r, 'w', null, T, ids);
    expect((await checkEpoch(r, 'w', first.marker, T + H, ids)).kind).toBe('same');
    expect(await checkEpoch(r, 'w', null, T + H, ids)).toEqual({ kind: 'adopted', marker: first.marker });
  });

  it('the marker seen before is gone: a loss at the time it was found, and a new marker that says so', async () => {
    const r = fakeRedis();
    const first = await checkEpoch(r, 'w', null, T, ids);
    r.data.clear();
    const got = await checkEpoch(r, 'w', first.marker, T + H, ids);
    expect(got).toMatchObject({ kind: 'lost', cause: 'missing', previous: first.marker, lostAt: T + H });
    expect(got.marker).toMatchObject({ createdAt: T + H, lostAt: T + H });
    expect(got.marker.epoch).not.toBe(first.marker.epoch);
    // Other processes (and later runs) read the loss from the marker: re-learning, not a new loss.
    expect(await checkEpoch(r, 'w', null, T + 2 * H, ids)).toEqual({ kind: 'adopted', marker: got.marker });
  });

  it('a marker another process rewrote after the loss is that loss, at its time', async () => {
    const r = fakeRedis();
    const mine = (await checkEpoch(r, 'w', null, T, ids)).marker;
    r.data.set(epochKey('w'), encodeMarker({ epoch: 'theirs', createdAt: T + H, lostAt: T + H }));
    expect(await checkEpoch(r, 'w', mine, T + 2 * H, ids)).toMatchObject({ kind: 'lost', cause: 'missing', lostAt: T + H, marker: { epoch: 'theirs' } });
  });

  it('a race to write the new marker: the loser reads the winner’s and reports the same loss', async () => {
    const r = fakeRedis(() => encodeMarker({ epoch: 'winner', createdAt: T + H, lostAt: T + H }));
    const known = { epoch: 'old', createdAt: T };
    expect(await checkEpoch(r, 'w', known, T + H + 5, ids)).toMatchObject({ kind: 'lost', cause: 'missing', lostAt: T + H, marker: { epoch: 'winner' } });
    const fresh = fakeRedis(() => encodeMarker({ epoch: 'winner', createdAt: T }));
    expect(await checkEpoch(fresh, 'w', null, T, ids)).toMatchObject({ kind: 'adopted', marker: { epoch: 'winner' } });
  });

  it('another marker (a different Redis) is a loss now: its own old loss time is not this one', () => {
    const known = { epoch: 'a', createdAt: T };
    expect(classify(known, { epoch: 'b', createdAt: T - 10 * H }, T + H)).toMatchObject({ kind: 'lost', cause: 'changed', lostAt: T + H });
    expect(classify(known, { epoch: 'b', createdAt: T - 10 * H, lostAt: T - 9 * H }, T + H)).toMatchObject({ kind: 'lost', cause: 'changed', lostAt: T + H });
    // Anything else under the key is a marker too: its text is its epoch.
    expect(parseMarker('junk')).toEqual({ epoch: 'junk', createdAt: 0 });
    expect(classify(known, parseMarker('junk')!, T + H)).toMatchObject({ kind: 'lost', cause: 'changed' });
    expect(parseMarker(null)).toBeNull();
  });
});

describe('the epoch watch', () => {
  function watch(r: EpochRedis) {
    const lines: Array<{ level: number; msg: string }> = [];
    const sink = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString())); cb(); } });
    const losses: Array<[number, string | null]> = [];
    const w = new EpochWatch({ redis: r, prefix: 'w', log: pino({ level: 'info' }, sink), onLoss: (at, cause) => losses.push([at, cause]) });
    return { w, lines, losses };
  }

  it('logs fresh state once, a loss once (warn, counted), and a later process learns of it uncounted', async () => {
    const r = fakeRedis();
    const a = watch(r);
    await a.w.check();
    await a.w.check();
    expect(a.lines.map((l) => [l.level, l.msg])).toEqual([[30, expect.stringMatching(/^fresh state/)]]);
    r.data.clear();
    await Promise.all([a.w.check(), a.w.check()]);
    await a.w.check();
    expect(a.lines.slice(1).map((l) => [l.level, l.msg])).toEqual([[40, expect.stringMatching(/^Redis state lost \(the epoch marker is gone/)]]);
    expect(a.losses).toEqual([[expect.any(Number), 'missing']]);
    const b = watch(r);
    await b.w.check();
    expect(b.losses).toEqual([[a.losses[0]![0], null]]);
    expect(b.lines.map((l) => l.level)).toEqual([30]);
    // A loss time from the future under the key is no loss to re-learn from.
    r.data.set(epochKey('w'), encodeMarker({ epoch: 'x', createdAt: 0, lostAt: Date.now() + 10 * H }));
    const c = watch(r);
    await c.w.check();
    expect(c.losses).toEqual([]);
  });
});

describe('cold identities after a loss', () => {
  it('cold while younger than the learning period, only for identities first seen within one of the loss', () => {
    const P = 24 * H;
    expect(isCold(null, T, T, P)).toBe(false);
    expect(isCold(T, T, T + H, P)).toBe(true);
    expect(isCold(T, T, T + P, P)).toBe(false);
    expect(isCold(T, T - H, T, P)).toBe(true); // a backlog's event time before the loss: its state is new all the same
    expect(isCold(T, T + P, T + P + H, P)).toBe(false); // new a learning period after the loss: simply new
    expect(isCold(T, T, T + H, 0)).toBe(false);
  });
});

let dir: string;
let config: WardenConfig;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-epoch-'));
  await mkdir(join(dir, 'agents'));
  await writeFile(join(dir, 'agents', 'bot.yaml'), 'agentClass: bot\nallow:\n  - { action: crm.read, resource: "crm:customers/**" }\n');
  await writeFile(join(dir, 'detectors.yaml'), 'detectors:\n  scope: { mode: alert }\n');
  config = await loadConfig(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function detections(lostAt: number | null, events: Array<[string, number, string]>): Promise<Detection[]> {
  const engine = new Engine({ config, store: new MemoryWindowStore() });
  engine.setStateLoss(lostAt);
  const records: InputRecord[] = events.map(([identity, ts, resource], i) => ({
    offset: BigInt(i), ok: true, event: { id: `e${i}`, ts, identity, agentClass: 'bot', action: 'crm.read', resource },
  }));
  const out = await engine.process('p', records);
  return out.items.flatMap((i) => (i.kind === 'detection' ? [i.detection] : []));
}

describe('the engine marks cold detections', () => {
  it('the default config learns for 24h: that is the cold period', () => {
    expect(learningPeriodOf(config.detectors)).toBe(24 * H);
  });

  it('after a loss, a detection of an identity re-learning carries evidence.cold; without a loss (replay) nothing changes', async () => {
    const events: Array<[string, number, string]> = [['bot-1', T, 'hr:salaries/1'], ['bot-2', T, 'crm:customers/1'], ['bot-2', T + 25 * H, 'hr:salaries/2']];
    const plain = await detections(null, events);
    expect(new Set(plain.map((d) => d.identity))).toEqual(new Set(['bot-1', 'bot-2']));
    expect(plain.every((d) => d.evidence.cold === undefined)).toBe(true);
    const cold = await detections(T - H, events);
    // bot-1 is an hour into re-learning; bot-2 has 25 h of history since.
    expect(cold.map((d) => [d.identity, d.evidence.cold])).toEqual(plain.map((d) => [d.identity, d.identity === 'bot-1' ? true : undefined]));
    // Otherwise the same detections.
    expect(cold.map((d) => ({ ...d, evidence: { ...d.evidence, cold: undefined } }))).toEqual(plain.map((d) => ({ ...d, evidence: { ...d.evidence, cold: undefined } })));
  });
});
