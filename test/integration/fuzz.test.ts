import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyringFromEnv } from '../../src/commands/keyring.js';
import { verifyControl } from '../../src/control/sign.js';
import { decodeEvent } from '../../src/event/codec.js';
import { timeError } from '../../src/event/time.js';
import type { AgentEvent } from '../../src/event/types.js';
import { simulateFleet } from '../../src/sim/fleet.js';
import { fuzzRecords, HOSTILE_IDENTITIES, type FuzzRecord } from '../fuzz/records.js';
import {
  BROKERS, TEST_COMMAND_KEYS, createTopic, deletePrefix, dumpState, headerMap, kcatConsumeAll, kcatProduceFile, requireKafka, requireRedis,
  startWarden, stopWarden, uniqueName, waitForGroupCaughtUp,
} from './helpers.js';
import { newRunOf, outputs, replayExpected } from './runs.js';

const run = promisify(execFile);
const DAY = 86_400_000;
const COUNT = 4000;
// The service verifies operator controls with its command keys when it has no operator keys.
const operatorKeys = keyringFromEnv({ WARDEN_COMMAND_KEYS: TEST_COMMAND_KEYS });
if (!operatorKeys.ok) throw new Error(operatorKeys.reason);
const OPERATOR_KEYS = operatorKeys.keyring;
const BOUNDS = { maxAheadMs: 5 * 60_000, maxAgeMs: 30 * DAY };
// Delimiters no generated record holds (checked before producing).
const KEY_DELIM = '\u001fFZ-KEY\u001f';
const MSG_DELIM = '\u001eFZ-END-OF-RECORD\u001e';
const TOMBSTONE_HEADER = 'x-fuzz=tomb\u001b[0m<!channel>';

let redis: Redis;
let configDir: string;
const prefixes: string[] = [];
beforeAll(async () => {
  await requireKafka();
  redis = await requireRedis();
  // The stock config without the fleet guard: its per-class cap counts across partitions, so near the cap the
  // service may trip before or after replay by design (docs/design.md), and the hostile identities here, most of
  // them suspended, are past it. This suite is about input, not the cap.
  configDir = await mkdtemp(join(tmpdir(), 'warden-fuzz-config-'));
  await cp('config', configDir, { recursive: true });
  const file = join(configDir, 'detectors.yaml');
  const text = await readFile(file, 'utf8');
  const off = text.replace(/(fleetGuard:\n\s+enabled:) true/, '$1 false');
  if (off === text) throw new Error('config/detectors.yaml: fleetGuard.enabled not found');
  await writeFile(file, off);
});
afterAll(async () => {
  for (const p of prefixes) await deletePrefix(redis, p);
  redis?.disconnect();
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

/** kcat as the external producer of many binary records in one run: key and value as they are, in this order. */
async function kcatProduceRaw(topic: string, records: Array<{ key: string | Buffer; value: Buffer }>, extra: string[] = []): Promise<void> {
  const [kd, md] = [Buffer.from(KEY_DELIM), Buffer.from(MSG_DELIM)];
  const parts: Buffer[] = [];
  for (const r of records) {
    const key = Buffer.from(r.key);
    if (key.includes(kd) || key.includes(md) || r.value.includes(md) || r.value.includes(kd)) throw new Error(`record ${r.key} holds a delimiter`);
    parts.push(key, kd, r.value, md);
  }
  const dir = await mkdtemp(join(tmpdir(), 'warden-fuzz-'));
  try {
    const file = join(dir, 'in.bin');
    await writeFile(file, Buffer.concat(parts));
    const args = ['-b', BROKERS, '-P', '-t', topic, '-K', KEY_DELIM, '-D', MSG_DELIM, '-X', 'partitioner=murmur2_random', ...extra, '-l', file];
    // Through bash only for "$BIN": a header value of bytes that are not UTF-8.
    const quoted = args.map((a) => (a === '$BIN' ? '"$BIN"' : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
    await run('bash', ['-c', `BIN="$(printf 'bin=\\377\\376A')"; exec kcat ${quoted}`], { timeout: 60_000 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** kcat as the external consumer, the exact value bytes by offset (-J cannot carry bytes that are not UTF-8). */
async function kcatConsumeValues(topic: string): Promise<Map<number, Buffer>> {
  const { stdout } = await run('kcat', ['-b', BROKERS, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%o %S\n%s\n'], { timeout: 60_000, maxBuffer: 1 << 28, encoding: 'buffer' });
  const out = new Map<number, Buffer>();
  let i = 0;
  while (i < stdout.length) {
    const nl = stdout.indexOf(0x0a, i);
    const [offset, size] = stdout.subarray(i, nl).toString().split(' ').map(Number) as [number, number];
    const len = Math.max(0, size);
    out.set(offset, stdout.subarray(nl + 1, nl + 1 + len));
    i = nl + 1 + len + 1;
  }
  return out;
}

/** What Warden's own decoder and time rule say of the bytes: 'valid', or the code and field. */
function decoderSays(value: Buffer, now: number): { code: string; field?: string } {
  const r = decodeEvent(value);
  if (!r.ok) return { code: r.error.code, field: r.error.field };
  if (r.control) {
    const late = timeError(r.control.ts, now, BOUNDS, 'CONTROL');
    if (late) return { code: late.code, field: late.field };
    const v = verifyControl(r.control, OPERATOR_KEYS);
    return v.ok ? { code: 'signed control' } : { code: v.code };
  }
  const late = timeError(r.event.ts, now, BOUNDS, 'EVENT');
  return late ? { code: late.code, field: late.field } : { code: 'valid' };
}

/** How a record is found in the DLQ: its key, or the base64 of a key that is not UTF-8. */
const keyId = (key: string | Buffer): string => (typeof key === 'string' ? key : `b64:${key.toString('base64')}`);

const tally = (xs: string[]): Record<string, number> => {
  const t: Record<string, number> = {};
  for (const x of xs.sort()) t[x] = (t[x] ?? 0) + 1;
  return t;
};

describe('fuzz: malformed and hostile records through the live service', () => {
  const now = Date.now();
  // Recent days, so the default 30-day age bound holds for the valid events whatever day this runs.
  const start = Math.floor(now / DAY) * DAY - 2 * DAY;
  const sim = simulateFleet({ days: 1, seed: 9, start, agents: { 'support-bot': 2, 'analytics-agent': 1, 'ops-orchestrator': 1, 'batch-reporter': 1, 'coding-assistant': 1 } });
  const base = sim.events.slice(0, 1200);
  const records = fuzzRecords({ seed: 20_261_202, now, base, count: COUNT });
  const tombstones: FuzzRecord[] = Array.from({ length: 20 }, (_, i) => ({ kind: 'tombstone', key: `fz-null-${i}`, value: Buffer.alloc(0), expect: { valid: false, code: 'EVENT_EMPTY' } }));
  const invalid = [...records.filter((r) => !r.expect.valid), ...tombstones];
  const valid = records.filter((r) => r.expect.valid);

  it('the generator: what each record was made to be is what the decoder and the time rule say of its bytes', () => {
    const wrong: Array<[string, string, unknown, unknown]> = [];
    for (const r of records) {
      const says = decoderSays(r.value, now);
      if (r.expect.valid) {
        if (says.code !== 'valid') wrong.push([r.kind, keyId(r.key), 'valid', says]);
      } else if (r.expect.code === null) {
        if (says.code === 'valid' || !/^(EVENT|CONTROL)_/.test(says.code)) wrong.push([r.kind, keyId(r.key), 'some EVENT_*', says]);
      } else if (says.code !== r.expect.code || says.field !== r.expect.field) {
        wrong.push([r.kind, keyId(r.key), { code: r.expect.code, field: r.expect.field }, says]);
      }
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(invalid.length).toBeGreaterThan(3000);
    expect(new Set(records.map((r) => keyId(r.key))).size).toBeGreaterThan(invalid.length);
    expect(new Set(records.map((r) => r.kind)).size).toBeGreaterThan(15);
    // The same seed gives the same bytes.
    const again = fuzzRecords({ seed: 20_261_202, now, base, count: COUNT });
    const digest = (r: FuzzRecord): string => createHash('sha256').update(r.value).update(keyId(r.key)).digest('hex');
    expect(again.map(digest)).toEqual(records.map(digest));
  });

  it('every bad record is in the DLQ with its code and bytes, valid outputs equal a replay, and the service still consumes afterwards', async () => {
    const actions = uniqueName('fuzz');
    await createTopic(actions, 3);
    const runOf = await newRunOf(actions, prefixes);
    const warden = startWarden({ ...runOf.env, WARDEN_EVENT_MAX_AHEAD: '5m', WARDEN_EVENT_MAX_AGE: '30d' }, configDir);
    const t0 = Date.now();
    try {
      await warden.waitForLog(/"msg":"consuming"/);
      const at = records.findIndex((r) => r.huge);
      await kcatProduceRaw(actions, records.slice(0, at));
      // Over librdkafka's default message limit: on its own, as the poison test sends it.
      await kcatProduceFile(actions, 0, String(records[at]!.key), records[at]!.value, ['-X', 'message.max.bytes=2000000']);
      await kcatProduceRaw(actions, records.slice(at + 1));
      // Tombstones (null values) with producer headers the dead letter must keep exactly: hostile text, bytes that are
      // not UTF-8, a repeated name (printf makes the bytes: an argument from here would be UTF-8).
      await kcatProduceRaw(actions, tombstones, ['-Z', '-H', TOMBSTONE_HEADER, '-H', '$BIN', '-H', 'dup=1', '-H', 'dup=2']);
      await waitForGroupCaughtUp(runOf.group, actions, 90_000);
      const fuzzMs = Date.now() - t0;

      // After the fuzz: a final batch of valid events, one suspension per partition, is still decided.
      const last = base[base.length - 1]!.ts;
      const final: AgentEvent[] = [0, 1, 2].map((p) => ({
        id: `final-${p}`, ts: last + 1000 + p, identity: `spiffe://acme.example/agent/analytics-agent/final-${p}`,
        action: 'db.write', resource: 'db:prod.orders', agentClass: 'analytics-agent',
      }));
      for (const [p, e] of final.entries()) await kcatProduceFile(actions, p, e.identity, JSON.stringify(e));
      await waitForGroupCaughtUp(runOf.group, actions, 60_000);

      const started = JSON.parse(await warden.waitForLog(/"msg":"warden running"/)) as { http: string };
      expect((await fetch(`http://${started.http}/healthz`)).status).toBe(200);
      expect(warden.child.exitCode).toBeNull();
      // Hostile identities (newlines, ANSI escapes) cannot forge or break a log line: each is one JSON object.
      const notJson = warden.logs.filter((l) => { try { return typeof JSON.parse(l) !== 'object'; } catch { return true; } });
      expect(notJson).toEqual([]);
      expect(warden.logs.filter((l) => /[\u0000-\u001f\u007f]/.test(l))).toEqual([]);
      const lines = warden.logs.map((l) => JSON.parse(l) as { level: number; msg: string });
      // Nothing above info (pino levels: 40 warn, 50 error): no crash, no parked output, no retry.
      expect(lines.filter((l) => l.level >= 40)).toEqual([]);
      const logged = tally(lines.map((l) => `${l.level} ${l.msg}`));

      // Every bad record once in the DLQ, under its own key, with the code its construction implies.
      const dlq = await kcatConsumeAll(runOf.dlq);
      const bytes = await kcatConsumeValues(runOf.dlq);
      const byKey = new Map<string, Array<{ headers: Record<string, string>; value: Buffer }>>();
      for (const d of dlq) {
        const h = headerMap(d);
        const id = d.key ?? (h['warden-source-key-base64'] === undefined ? '' : `b64:${h['warden-source-key-base64']}`);
        const list = byKey.get(id) ?? [];
        list.push({ headers: h, value: bytes.get(d.offset)! });
        byKey.set(id, list);
      }
      expect(dlq.length).toBe(invalid.length);
      const wrong: Array<[string, string, unknown, unknown]> = [];
      const codes: string[] = [];
      for (const r of invalid) {
        const found = byKey.get(keyId(r.key)) ?? [];
        if (found.length !== 1) {
          wrong.push([r.kind, keyId(r.key), 'one dead letter', found.length]);
          continue;
        }
        const { headers: h, value } = found[0]!;
        codes.push(h['warden-error-code']!);
        const e = r.expect as Extract<FuzzRecord['expect'], { valid: false }>;
        const says = decoderSays(r.value, now);
        const want = e.code ?? says.code;
        if (h['warden-error-code'] !== want || h['warden-error-field'] !== (e.code === null ? says.field : e.field)) {
          wrong.push([r.kind, keyId(r.key), { code: want, field: e.field }, { code: h['warden-error-code'], field: h['warden-error-field'], reason: h['warden-error-reason'] }]);
        }
        if (h['warden-source-topic'] !== actions) wrong.push([r.kind, keyId(r.key), 'source topic', h['warden-source-topic']]);
        if (r.kind === 'tombstone' && (h['x-fuzz'] !== TOMBSTONE_HEADER.slice('x-fuzz='.length) || h.bin !== undefined || h.dup !== undefined
          || h['warden-source-headers-base64'] !== JSON.stringify([['bin', '//5B'], ['dup', 'MQ=='], ['dup', 'Mg==']]))) {
          wrong.push([r.kind, keyId(r.key), 'the producer headers, exactly', h]);
        }
        if (h['warden-truncated'] === undefined) {
          if (!value.equals(r.value)) wrong.push([r.kind, keyId(r.key), 'original bytes', value.length]);
        } else if (h['warden-truncated'] !== String(r.value.length) || h['warden-original-sha256'] !== createHash('sha256').update(r.value).digest('hex') || !r.value.subarray(0, value.length).equals(value)) {
          wrong.push([r.kind, keyId(r.key), 'a prefix and the hash of the original', h]);
        }
      }
      expect(wrong.slice(0, 10)).toEqual([]);
      // The tombstones went as null values.
      const sent = (await kcatConsumeAll(actions)).filter((m) => m.key?.startsWith('fz-null-'));
      expect(sent.map((m) => m.payload)).toEqual(tombstones.map(() => null));
      // Only the 1 MB record is cut down, to a prefix with the hash and length of the whole.
      expect(records.find((r) => r.huge)!.value.length).toBe(1_048_400);
      expect(dlq.filter((d) => headerMap(d)['warden-truncated'] !== undefined).map((d) => d.key)).toEqual(['fz-huge']);

      // The valid records, hostile identities and mismatched keys included, decide as a replay of them does.
      const events = [...valid.map((r) => { const d = decodeEvent(r.value); if (!d.ok || !d.event) throw new Error('valid record does not decode'); return d.event; }), ...final];
      const [expected, got] = [await replayExpected(events, configDir), await outputs(runOf)];
      expect(got.decisions.length).toBe(expected.decisions.length);
      expect(got.decisions).toEqual(expected.decisions);
      expect(got.commands).toEqual(expected.commands);
      const suspended = new Set(got.commands.map((c) => JSON.parse(c) as { type: string; identity: string }).filter((c) => c.type === 'suspend').map((c) => c.identity));
      for (const e of final) expect(suspended.has(e.identity)).toBe(true);
      expect([...suspended].filter((i) => HOSTILE_IDENTITIES.includes(i)).length).toBeGreaterThan(3);

      // Each hostile identity has its own state, its name stored as sent.
      const state = await dumpState(redis, runOf.prefix);
      const stored = new Set(Object.values(state).map((v) => (v as Record<string, string>)?._id).filter((x) => typeof x === 'string').map((x) => Buffer.from(x, 'hex').toString('utf8')));
      const hostileSeen = new Set(valid.filter((r) => r.kind === 'hostile').map((r) => (decodeEvent(r.value) as { event: AgentEvent }).event.identity));
      for (const i of hostileSeen) expect(stored.has(i), JSON.stringify(i)).toBe(true);
      // No refused record left state behind.
      expect([...stored].filter((i) => /\/fz-(long|many|large|time|utf|utfj|unk|proto|type)-/.test(i))).toEqual([]);

      console.log(JSON.stringify({
        fuzz: {
          records: records.length, valid: valid.length, invalid: invalid.length, final: final.length, fuzzMs,
          decisions: got.decisions.length, commands: got.commands.length, hostileIdentities: hostileSeen.size,
          kinds: tally([...records, ...tombstones].map((r) => `${r.kind}${r.expect.valid ? '' : ' (bad)'}`)),
          codes: tally(codes),
          logged,
        },
      }, null, 1));
    } finally {
      expect(await stopWarden(warden)).toBe(0);
    }
  });
});
