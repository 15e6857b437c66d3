import { Readable, Writable } from 'node:stream';
import type { InboundMessage } from '../../src/transport/types.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseKeyring } from '../../src/commands/keyring.js';
import { loadConfig } from '../../src/config/load.js';
import { createControl, encodeControl } from '../../src/control/create.js';
import { decodeEvent, encodeEvent, readEventStream, type AgentEvent, type StreamRecord } from '../../src/event/index.js';
import { DEFAULT_TIME_BOUNDS, isoTime, timeError, TS_CEILING, TS_FLOOR } from '../../src/event/time.js';
import { Engine } from '../../src/pipeline/engine.js';
import { replay } from '../../src/pipeline/replay.js';
import { boundedByRecording } from '../../src/pipeline/replay-clock.js';
import { toRecord } from '../../src/service/decode.js';
import { settingsFromEnv, timeBoundsSettings } from '../../src/service/settings.js';
import { MemoryWindowStore } from '../../src/state/memory-store.js';

const MIN = 60_000;
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1, 12);
const B = DEFAULT_TIME_BOUNDS;
const ev = (id: string, ts: number, over: Partial<AgentEvent> = {}): AgentEvent =>
  ({ id, ts, identity: 'spiffe://acme.example/agent/support-bot/1', action: 'vault.read', resource: 'vault:secrets/prod', agentClass: 'support-bot', ...over });
const message = (offset: number, value: Uint8Array): InboundMessage =>
  ({ offset: String(offset), value: Buffer.from(value), key: null, timestamp: String(NOW), attributes: 0, headers: { trace: 'abc' } }) as InboundMessage;

afterEach(() => {
  vi.useRealTimers();
});

describe('one rule for event time (event/time.ts)', () => {
  it('refuses more than 5 min ahead, more than 30 days behind, and anything before 2000', () => {
    expect(timeError(NOW + 5 * MIN, NOW, B, 'EVENT')).toBeUndefined();
    expect(timeError(NOW + 5 * MIN + 1, NOW, B, 'EVENT')).toMatchObject({ code: 'EVENT_TS_FUTURE', field: 'ts' });
    expect(timeError(NOW - 30 * DAY, NOW, B, 'EVENT')).toBeUndefined();
    expect(timeError(NOW - 30 * DAY - 1, NOW, B, 'EVENT')).toMatchObject({ code: 'EVENT_TS_TOO_OLD', field: 'ts' });
    expect(timeError(TS_FLOOR - 1, NOW, { ...B, maxAgeMs: 0 }, 'EVENT')).toMatchObject({ code: 'EVENT_TS_TOO_OLD' });
    expect(timeError(TS_FLOOR, NOW, { ...B, maxAgeMs: 0 }, 'EVENT')).toBeUndefined();
    expect(timeError(NOW + HOUR(3), NOW, B, 'CONTROL')).toMatchObject({ code: 'CONTROL_TS_FUTURE' });
    expect(timeError(9e15, NOW, B, 'EVENT')!.message).toBe(
      'field "ts" (9000000000000000 (not a date)) is 104145878 days ahead of the clock (2026-12-01T12:00:00.000Z), more than the 5 min allowed; ms since the epoch expected',
    );
  });

  it('without a clock, the decoder refuses a ts past the year 9999 (µs, for one) for events as for controls', () => {
    for (const ts of [9e15, NOW * 1000, TS_CEILING + 1]) {
      const r = decodeEvent(encodeEvent(ev('e', ts)));
      expect(!r.ok && r.error).toMatchObject({ code: 'EVENT_TS_FUTURE', field: 'ts' });
    }
    expect(decodeEvent(encodeEvent(ev('e', TS_CEILING))).ok).toBe(true);
  });

  it('isoTime prints any number, never throws', () => {
    expect(isoTime(NOW)).toBe('2026-12-01T12:00:00.000Z');
    expect(isoTime(9e15)).toBe('9000000000000000 (not a date)');
    expect(isoTime(Number.NaN)).toBe('NaN (not a date)');
  });

  it('the environment sets the bounds; bad values are named', () => {
    expect(timeBoundsSettings({})).toEqual({ maxAheadMs: 5 * MIN, maxAgeMs: 30 * DAY });
    expect(timeBoundsSettings({ WARDEN_EVENT_MAX_AHEAD: '30s', WARDEN_EVENT_MAX_AGE: '0' })).toEqual({ maxAheadMs: 30_000, maxAgeMs: 0 });
    expect(() => timeBoundsSettings({ WARDEN_EVENT_MAX_AHEAD: 'soon' })).toThrow(/WARDEN_EVENT_MAX_AHEAD/);
    expect(() => timeBoundsSettings({ WARDEN_EVENT_MAX_AHEAD: '8d' })).toThrow(/at most 7d/);
    const keys = `k1=${Buffer.alloc(32, 7).toString('base64')}`;
    expect(settingsFromEnv({ WARDEN_COMMAND_KEYS: keys, WARDEN_EVENT_MAX_AGE: '7d' }).timeBounds).toEqual({ maxAheadMs: 5 * MIN, maxAgeMs: 7 * DAY });
  });
});

function HOUR(n: number): number {
  return n * 3_600_000;
}

describe('the service bounds by the wall clock (service/decode.ts)', () => {
  it('a valid event with ts = 9e15 or one hour ahead is a dead letter with its code and bytes; the identity is not suspended', async () => {
    const ahead = encodeEvent(ev('ahead', NOW + HOUR(1)));
    const records = [
      toRecord(message(0, encodeEvent(ev('ok', NOW - MIN))), NOW, B),
      toRecord(message(1, ahead), NOW, B),
      toRecord(message(2, encodeEvent(ev('old', NOW - 31 * DAY), 'json')), NOW, B),
      toRecord(message(3, encodeEvent(ev('us', 9e15))), NOW, B),
    ];
    expect(records.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ok', 'EVENT_TS_FUTURE', 'EVENT_TS_TOO_OLD', 'EVENT_TS_FUTURE']);
    expect(!records[1]!.ok && records[1]!.raw).toEqual(Buffer.from(ahead));
    expect(!records[1]!.ok && records[1]!.headers).toEqual({ trace: 'abc' });
    // Through the engine: dead letters, and the scope detector's suspend only for the event in bounds.
    const engine = new Engine({ config: await loadConfig('config'), store: new MemoryWindowStore() });
    const out = await engine.process('p', records);
    expect(out.items.filter((i) => i.kind === 'dead-letter').map((i) => i.kind === 'dead-letter' && [i.deadLetter.offset, i.deadLetter.code]))
      .toEqual([[1n, 'EVENT_TS_FUTURE'], [2n, 'EVENT_TS_TOO_OLD'], [3n, 'EVENT_TS_FUTURE']]);
    const suspends = out.items.flatMap((i) => (i.kind === 'command' && i.command.type === 'suspend' ? [i.command] : []));
    expect(suspends.map((c) => [c.eventId, c.until! < NOW + HOUR(24)])).toEqual([['ok', true]]);
  });

  it('operator controls are bounded by the same rule', () => {
    const keys = parseKeyring(`ops=${Buffer.alloc(32, 1).toString('base64')}`);
    if (!keys.ok) throw new Error(keys.reason);
    const req = { op: 'resume' as const, identity: 'a', scope: null, ttlMs: null, reason: 'r', operator: 'o' };
    const ahead = toRecord(message(0, encodeControl(createControl(req, keys.keyring, NOW + HOUR(2), 'c1'))), NOW, B);
    expect(!ahead.ok && ahead.error.code).toBe('CONTROL_TS_FUTURE');
    const old = toRecord(message(1, encodeControl(createControl(req, keys.keyring, NOW - 40 * DAY, 'c2'))), NOW, B);
    expect(!old.ok && old.error.code).toBe('CONTROL_TS_TOO_OLD');
    const fine = toRecord(message(2, encodeControl(createControl(req, keys.keyring, NOW, 'c3'))), NOW, B);
    expect(fine.ok && fine.control?.id).toBe('c3');
  });
});

describe('replay bounds by the recording\'s own clock (pipeline/replay-clock.ts)', () => {
  const timed = (events: AgentEvent[]): StreamRecord[] => events.map((event, index) => ({ index, result: { ok: true, event, encoding: 'json' } }));
  async function judged(events: AgentEvent[]): Promise<Array<string>> {
    const out: string[] = [];
    for await (const r of boundedByRecording(timed(events), B)) out.push(r.result.ok ? 'ok' : r.result.error.code);
    return out;
  }

  it('a far-ahead event stands out; a quiet gap after which the recording goes on does not', async () => {
    const T = Date.UTC(2026, 5, 1);
    const events = [
      ...Array.from({ length: 10 }, (_, i) => ev(`a${i}`, T + i * 1000)),
      ev('ahead', T + 400 * DAY),
      ...Array.from({ length: 10 }, (_, i) => ev(`b${i}`, T + 20_000 + i * 1000)),
      // 40 minutes of nothing, then on.
      ...Array.from({ length: 3 }, (_, i) => ev(`c${i}`, T + 40 * MIN + i * 1000)),
      ev('late', T - 31 * DAY),
      ev('last', T + 41 * MIN),
    ];
    const got = await judged(events);
    expect(got.filter((c) => c !== 'ok')).toEqual(['EVENT_TS_FUTURE', 'EVENT_TS_TOO_OLD']);
    expect(got[10]).toBe('EVENT_TS_FUTURE');
    expect(got[24]).toBe('EVENT_TS_TOO_OLD');
    // A far-ahead record first, and one second to last, stand out as well.
    expect(await judged([ev('x', T + 90 * DAY), ...Array.from({ length: 9 }, (_, i) => ev(`a${i}`, T + i))])).toEqual(['EVENT_TS_FUTURE', ...Array(9).fill('ok')]);
    expect(await judged([ev('a', T), ev('b', T + 1), ev('x', T + 90 * DAY), ev('c', T + 2)])).toEqual(['ok', 'ok', 'EVENT_TS_FUTURE', 'ok']);
  });

  it('replay gives the same bytes whatever the wall clock and batch size, and dead-letters the far-ahead event with its code', async () => {
    const config = await loadConfig('config');
    const T = Date.UTC(2025, 0, 10);
    const lines = [
      ...Array.from({ length: 12 }, (_, i) => ev(`a${i}`, T + i * 1000, { action: 'crm.read', resource: 'crm:customers/1' })),
      ev('ahead', T + 2 * HOUR(1)),
      ev('us', 9e15),
      ...Array.from({ length: 12 }, (_, i) => ev(`b${i}`, T + 30_000 + i * 1000, { action: 'crm.read', resource: 'crm:customers/1' })),
    ].map((e) => JSON.stringify(e)).join('\n') + '\n';
    const run = async (wall: number, batchSize: number): Promise<string> => {
      vi.useFakeTimers({ now: wall, toFake: ['Date'] });
      let text = '';
      const output = new Writable({ write(chunk, _e, cb) { text += chunk.toString(); cb(); } });
      await replay({ records: readEventStream(Readable.from([Buffer.from(lines)])), config, output, batchSize });
      vi.useRealTimers();
      return text;
    };
    const a = await run(Date.UTC(2025, 0, 10), 2000);
    expect(await run(Date.UTC(2031, 6, 1), 3)).toBe(a);
    const recs = a.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs.filter((r) => r.kind === 'invalid').map((r) => [r.offset, r.code])).toEqual([[12, 'EVENT_TS_FUTURE'], [13, 'EVENT_TS_FUTURE']]);
    expect(recs.filter((r) => r.kind === 'command')).toEqual([]);
    expect(recs.at(-1)).toMatchObject({ kind: 'summary', records: 26, events: 24, invalid: 2, lastTs: T + 41_000 });
  });
});
