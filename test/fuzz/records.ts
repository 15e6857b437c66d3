import { Encoder } from '@msgpack/msgpack';
import type { AgentEvent } from '../../src/event/types.js';
import { Prng } from '../../src/sim/prng.js';

/**
 * Malformed and hostile records for the fuzz suite, from a seeded PRNG: the
 * same seed and base events give the same bytes. Each record says what it was
 * made to be: valid (taken, so it must be in the replay), or invalid with the
 * dead-letter code (and field) its construction implies; `code: null` only
 * for random bytes, whose code nobody can know up front.
 */
export interface FuzzRecord {
  kind: string;
  /** A Kafka key; bytes when it is not UTF-8. */
  key: string | Buffer;
  value: Buffer;
  expect: { valid: true } | { valid: false; code: string | null; field?: string };
  /** Over the producer's default message limit: sent on its own. */
  huge?: boolean;
}

const DAY = 86_400_000;
const mp = new Encoder({ ignoreUndefined: true });
const mpBytes = (v: unknown): Buffer => Buffer.from(mp.encode(v));
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const IDS = 'spiffe://acme.example/agent/';

/** Identities shaped to break a key scheme, a log line, a terminal or a chat message; all valid UTF-8. */
export const HOSTILE_IDENTITIES: readonly string[] = [
  `${IDS}support-bot/../../analytics-agent/x`,
  '../../../etc/passwd',
  `${IDS}support-bot/}`,
  '}',
  '{p:x}',
  `${IDS}support-bot/{p:actions:0}`,
  '{c}:support-bot',
  `${IDS}support-bot/line\nbreak`,
  'a\r\nSet-Cookie: x=1',
  `${IDS}support-bot/\u001b[31mred\u001b[0m`,
  '\u001b]0;title\u0007\u001b[2J',
  '<!channel> <!here> <@U123>',
  `${IDS}support-bot/*`,
  '?*[]\\',
  'i:',
  ' ',
  '\u0000nul',
  'a\u00ff',
  '\u{1F600}\u200b\u202e',
  'x'.repeat(2048),
];

/** Marks where invalid bytes go; the bytes replace the Qs after it, so lengths stay. */
const MARK = '@@fz@@';
const INVALID_UTF8: readonly number[][] = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xe2, 0x82]];

type Bad = { valid: false; code: string | null; field?: string };
const bad = (code: string | null, field?: string): Bad => (field === undefined ? { valid: false, code } : { valid: false, code, field });

export interface FuzzOptions {
  seed: number;
  /** Wall-clock now the service will judge times by (bounds: 5m ahead, 30d behind). */
  now: number;
  /** Valid events, sorted by ts; they keep their order and are keyed by identity. */
  base: AgentEvent[];
  /** How many generated records (besides `base`). */
  count: number;
}

/** The generated records interleaved with `base`, in the order to produce them. */
export function fuzzRecords(o: FuzzOptions): FuzzRecord[] {
  const r = new Prng(o.seed);
  const out: FuzzRecord[] = [];
  let n = 0;
  let cursor = 0;
  const template = (): AgentEvent => o.base[r.int(0, o.base.length - 1)]!;
  // Event time: the base's latest, so a valid record is in bounds in replay as live (replay judges by the recording's clock).
  const tsNow = (): number => o.base[Math.max(0, Math.min(cursor, o.base.length) - 1)]!.ts;
  const fresh = (tag: string, like: AgentEvent): AgentEvent => ({ ...like, id: `fz-${tag}-${n}`, ts: tsNow(), identity: `${IDS}${like.agentClass ?? 'x'}/fz-${tag}-${n}` });
  const enc = (v: unknown): Buffer => (r.chance(0.5) ? mpBytes(v) : json(v));

  /** msgpack of `e` with the bytes of `placeholder` (ASCII, unique in it) replaced by `raw` of the same length. */
  const patched = (e: unknown, placeholder: string, raw: number[]): Buffer => {
    const b = mpBytes(e);
    const at = b.indexOf(Buffer.from(placeholder));
    if (at < 0 || b.indexOf(Buffer.from(placeholder), at + 1) >= 0) throw new Error(`placeholder ${placeholder} not found once`);
    Buffer.from(raw).copy(b, at + MARK.length);
    return b;
  };

  const makers: Record<string, () => Omit<FuzzRecord, 'key' | 'kind'> & { key?: string | Buffer }> = {
    'random-bytes': () => {
      const len = r.chance(0.1) ? r.int(1, 4) : r.int(1, 400);
      const b = Buffer.alloc(len);
      for (let i = 0; i < len; i++) b[i] = r.int(0, 255);
      // Some start like msgpack maps or JSON objects, to get past the first byte.
      if (r.chance(0.3)) b[0] = r.pick([0x81, 0x85, 0x8f, 0xde, 0xdf, 0x7b]);
      return { value: b, expect: bad(null) };
    },
    'truncated-msgpack': () => {
      const b = mpBytes(template());
      return { value: b.subarray(0, r.int(1, b.length - 1)), expect: bad('EVENT_DECODE') };
    },
    'truncated-json': () => {
      const b = json(template());
      return { value: b.subarray(0, r.int(1, b.length - 1)), expect: bad('EVENT_DECODE') };
    },
    'trailing-bytes': () => {
      const isMp = r.chance(0.5);
      const b = isMp ? mpBytes(template()) : json(template());
      return { value: Buffer.concat([b, isMp ? Buffer.from([0xc0]) : Buffer.from('}')]), expect: bad('EVENT_DECODE') };
    },
    'deep-nesting': () => {
      const d = r.int(100, 10_000);
      const e = template();
      switch (r.int(0, 4)) {
        case 0: return { value: Buffer.concat([Buffer.alloc(d, 0x91), Buffer.from([0xc0])]), expect: bad('EVENT_NOT_MAP') };
        case 1: return { value: Buffer.from(`${'['.repeat(d)}${']'.repeat(d)}`), expect: bad('EVENT_NOT_MAP') };
        case 2: {
          const head = mpBytes({ ...e, resource: undefined });
          // One more entry in the map: resource = [[[...nil...]]].
          const body = Buffer.concat([head.subarray(1), mpBytes('resource'), Buffer.alloc(d, 0x91), Buffer.from([0xc0])]);
          const count = Object.keys(e).length;
          if (count > 15) throw new Error('template has too many fields for a fixmap');
          return { value: Buffer.concat([Buffer.from([0x80 | count]), body]), expect: bad('EVENT_FIELD_TYPE', 'resource') };
        }
        case 3: return { value: Buffer.from(`${'{"a":'.repeat(d)}1${'}'.repeat(d)}`), expect: bad('EVENT_UNKNOWN_FIELD', 'a') };
        default: {
          // Deep inside attrs is still a valid event (attrs are not read).
          const ev = fresh('deep', e);
          const text = JSON.stringify({ ...ev, attrs: { x: 0 } }).replace('"x":0', `"x":${'['.repeat(d)}${']'.repeat(d)}`);
          return { key: ev.identity, value: Buffer.from(text), expect: { valid: true } };
        }
      }
    },
    'field-too-long': () => {
      const e = fresh('long', template());
      const field = r.pick(['id', 'identity', 'action', 'resource', 'agentClass', 'instance', 'task', 'correlationId', 'tenant', 'chain[0]'] as const);
      const unit = r.pick(['x', '\u00e9', '\u20ac', '\u{1F600}']);
      const units = Math.floor(2048 / Buffer.byteLength(unit)) + 1;
      const s = unit.repeat(units);
      const v = field === 'chain[0]' ? { ...e, chain: [s] } : { ...e, [field]: s };
      return { value: enc(v), expect: bad('EVENT_FIELD_TOO_LONG', field) };
    },
    'too-many': () => {
      const e = fresh('many', template());
      if (r.chance(0.5)) return { value: enc({ ...e, chain: Array.from({ length: 65 }, (_, i) => `${IDS}p/${i}`) }), expect: bad('EVENT_FIELD_TOO_LONG', 'chain') };
      return { value: enc({ ...e, attrs: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) }), expect: bad('EVENT_FIELD_TOO_LONG', 'attrs') };
    },
    'event-too-large': () => {
      const e = fresh('large', template());
      const pad = r.int(64 * 1024, 100 * 1024);
      return { value: enc({ ...e, attrs: { pad: 'p'.repeat(pad) } }), expect: bad('EVENT_TOO_LARGE') };
    },
    'at-limit': () => {
      // Exactly at the limits: valid.
      const e = fresh('limit', template());
      if (r.chance(0.5)) return { key: e.identity, value: enc({ ...e, resource: `${e.resource}/${'r'.repeat(2047 - Buffer.byteLength(e.resource))}` }), expect: { valid: true } };
      const isMp = r.chance(0.5);
      const size = (pad: number): Buffer => (isMp ? mpBytes : json)({ ...e, attrs: { pad: 'p'.repeat(pad) } });
      let pad = 65_536 - size(0).length;
      while (size(pad).length > 65_536) pad--;
      while (size(pad + 1).length <= 65_536) pad++;
      return { key: e.identity, value: size(pad), expect: { valid: true } };
    },
    'event-time': () => {
      const e = fresh('time', template());
      const t = tsNow();
      const [ts, code] = r.pick<[number, string]>([
        [9e15, 'EVENT_TS_FUTURE'],
        [t * 1000, 'EVENT_TS_FUTURE'],
        [Math.floor(t / 1000), 'EVENT_TS_TOO_OLD'],
        [Date.UTC(1999, 11, 31, 23, 59, 59), 'EVENT_TS_TOO_OLD'],
        [r.int(0, 946_684_799_999), 'EVENT_TS_TOO_OLD'],
        [o.now + DAY, 'EVENT_TS_FUTURE'],
        [o.now + 365 * DAY, 'EVENT_TS_FUTURE'],
        [Date.UTC(9999, 11, 31), 'EVENT_TS_FUTURE'],
        [Date.UTC(10000, 0, 1), 'EVENT_TS_FUTURE'],
        [o.now - 31 * DAY, 'EVENT_TS_TOO_OLD'],
        [-1, 'EVENT_FIELD_INVALID'],
        [2 ** 60, 'EVENT_FIELD_INVALID'],
      ]);
      return { value: enc({ ...e, ts }), expect: bad(code, 'ts') };
    },
    'non-utf8-msgpack': () => {
      const seq = r.pick(INVALID_UTF8);
      const ph = `${MARK}${'Q'.repeat(seq.length)}`;
      const e = fresh('utf', template());
      const where = r.int(0, 6);
      if (where === 0) return { value: patched({ ...e, identity: `${e.identity}${ph}` }, ph, seq), expect: bad('EVENT_INVALID_UTF8', 'identity') };
      if (where === 1) return { value: patched({ ...e, resource: `${ph}${e.resource}` }, ph, seq), expect: bad('EVENT_INVALID_UTF8', 'resource') };
      if (where === 2) return { value: patched({ ...e, instance: `i-${ph}` }, ph, seq), expect: bad('EVENT_INVALID_UTF8', 'instance') };
      if (where === 3) return { value: patched({ ...e, chain: [`${IDS}root`, `${IDS}${ph}`] }, ph, seq), expect: bad('EVENT_INVALID_UTF8', 'chain[1]') };
      if (where === 4) return { value: patched({ ...e, attrs: { note: `n${ph}` } }, ph, seq), expect: bad('EVENT_INVALID_UTF8', 'attrs.note') };
      // A map key: named "a map key", no field.
      if (where === 5) return { value: patched({ ...e, attrs: { [`k${ph}`]: 1 } }, ph, seq), expect: bad('EVENT_INVALID_UTF8') };
      return { value: patched({ ...e, [`t${ph}`]: 1 }, ph, seq), expect: bad('EVENT_INVALID_UTF8') };
    },
    'non-utf8-json': () => {
      const e = fresh('utfj', template());
      if (r.chance(0.5)) {
        const text = JSON.stringify({ ...e, identity: `${e.identity}QQ` });
        const [a, b] = text.split('QQ') as [string, string];
        return { value: Buffer.concat([Buffer.from(a), Buffer.from(r.pick(INVALID_UTF8)), Buffer.from(b)]), expect: bad('EVENT_INVALID_UTF8', 'identity') };
      }
      const field = r.pick(['identity', 'action', 'resource'] as const);
      const text = JSON.stringify({ ...e, [field]: 'LONE' }).replace('LONE', r.pick(['\\ud800', 'a\\udfff', '\\udc00\\ud800']));
      return { value: Buffer.from(text), expect: bad('EVENT_INVALID_UTF8', field) };
    },
    'unknown-field': () => {
      const e = fresh('unk', template());
      const name = r.pick(['extra', 'Identity', 'ts ', 'constructor', 'toString', 'hasOwnProperty', 'x'.repeat(300), 'ts\u0000', 'control_', '$where']);
      const shown = name.length <= 64 ? name : name.slice(0, 64);
      return { value: enc({ ...e, [name]: r.pick([1, 'x', null, [1], { a: 1 }]) }), expect: bad('EVENT_UNKNOWN_FIELD', shown.length < name.length ? `${shown}…` : shown) };
    },
    'proto-key': () => {
      const e = fresh('proto', template());
      // JSON.parse makes __proto__ an own key (unknown); the msgpack decoder refuses the key outright.
      if (r.chance(0.5)) return { value: Buffer.from(JSON.stringify(e).replace(/^\{/, '{"__proto__":{"polluted":1},')), expect: bad('EVENT_UNKNOWN_FIELD', '__proto__') };
      const body = mpBytes(e);
      if (body[0]! >= 0x8f) throw new Error('template has too many fields for a fixmap');
      const value = Buffer.concat([Buffer.from([body[0]! + 1]), mpBytes('__proto__'), mpBytes({ polluted: 1 }), body.subarray(1)]);
      return { value, expect: bad('EVENT_DECODE') };
    },
    'wrong-type': () => {
      const e = fresh('type', template());
      const isMp = r.chance(0.5);
      const cases: Array<[Record<string, unknown>, string, string]> = [
        [{ identity: 42 }, 'EVENT_FIELD_TYPE', 'identity'],
        [{ identity: true }, 'EVENT_FIELD_TYPE', 'identity'],
        [{ identity: [e.identity] }, 'EVENT_FIELD_TYPE', 'identity'],
        [{ identity: { id: e.identity } }, 'EVENT_FIELD_TYPE', 'identity'],
        [{ identity: '' }, 'EVENT_FIELD_INVALID', 'identity'],
        [{ id: null }, 'EVENT_FIELD_MISSING', 'id'],
        [{ action: undefined }, 'EVENT_FIELD_MISSING', 'action'],
        [{ resource: 7 }, 'EVENT_FIELD_TYPE', 'resource'],
        [{ ts: String(e.ts) }, 'EVENT_FIELD_TYPE', 'ts'],
        [{ ts: e.ts + 0.5 }, 'EVENT_FIELD_TYPE', 'ts'],
        [{ ts: null }, 'EVENT_FIELD_MISSING', 'ts'],
        [{ chain: e.identity }, 'EVENT_FIELD_TYPE', 'chain'],
        [{ chain: [1] }, 'EVENT_FIELD_TYPE', 'chain[0]'],
        [{ chain: [`${IDS}root`, ''] }, 'EVENT_FIELD_INVALID', 'chain[1]'],
        [{ attrs: [1, 2] }, 'EVENT_FIELD_TYPE', 'attrs'],
        [{ attrs: 'a=b' }, 'EVENT_FIELD_TYPE', 'attrs'],
        [{ outcome: 'maybe' }, 'EVENT_FIELD_INVALID', 'outcome'],
        [{ outcome: 1 }, 'EVENT_FIELD_TYPE', 'outcome'],
        [{ v: 2 }, 'EVENT_FIELD_INVALID', 'v'],
        [{ tenant: 5 }, 'EVENT_FIELD_TYPE', 'tenant'],
        [{ agentClass: ['support-bot'] }, 'EVENT_FIELD_TYPE', 'agentClass'],
      ];
      if (isMp) {
        cases.push([{ identity: new Uint8Array([0x61]) }, 'EVENT_FIELD_TYPE', 'identity']);
        cases.push([{ ts: new Date(e.ts) }, 'EVENT_FIELD_TYPE', 'ts']);
      } else {
        cases.push([{ ts: 'NaN' }, 'EVENT_FIELD_TYPE', 'ts']);
      }
      const [patch, code, field] = r.pick(cases);
      const v: Record<string, unknown> = { ...e, ...patch };
      if ('action' in patch && patch.action === undefined) delete v.action;
      return { value: isMp ? mpBytes(v) : json(v), expect: bad(code, field) };
    },
    'not-a-map': () => {
      const [value, code] = r.pick<[Buffer, string]>([
        [Buffer.from('"an event"'), 'EVENT_NOT_MAP'],
        [Buffer.from('12345'), 'EVENT_NOT_MAP'],
        [Buffer.from('null'), 'EVENT_NOT_MAP'],
        [Buffer.from('true'), 'EVENT_NOT_MAP'],
        [Buffer.from(`[${JSON.stringify(template())}]`), 'EVENT_NOT_MAP'],
        [mpBytes([template()]), 'EVENT_NOT_MAP'],
        [mpBytes('identity'), 'EVENT_NOT_MAP'],
        [Buffer.from([0xc0]), 'EVENT_NOT_MAP'],
        [Buffer.from([0x05]), 'EVENT_NOT_MAP'],
        [Buffer.alloc(0), 'EVENT_EMPTY'],
        [Buffer.from(' \n\t\r '), 'EVENT_EMPTY'],
        [Buffer.from('id=1,ts=2'), 'EVENT_DECODE'],
        [Buffer.from('{id: 1}'), 'EVENT_DECODE'],
      ]);
      return { value, expect: bad(code) };
    },
    hostile: () => {
      // Valid events under identities (and chains, resources) shaped like injections.
      const identity = r.pick(HOSTILE_IDENTITIES);
      const e = template();
      const ev: AgentEvent = { ...e, id: `fz-hostile-${n}`, identity, ts: tsNow() };
      if (r.chance(0.3)) ev.chain = [r.pick(HOSTILE_IDENTITIES)];
      if (r.chance(0.3)) ev.resource = `vault:../${r.pick(HOSTILE_IDENTITIES).slice(0, 100)}`;
      if (r.chance(0.3)) Object.assign(ev, { agentClass: 'support-bot', action: 'vault.read', resource: 'vault:secrets/prod' });
      return { key: identity, value: enc(ev), expect: { valid: true } };
    },
    'key-mismatch': () => {
      // Valid events keyed by something other than their identity (each identity always under the same wrong key).
      const e = fresh('key', template());
      const ev: AgentEvent = { ...e, ts: tsNow() };
      if (r.chance(0.3)) Object.assign(ev, { agentClass: 'analytics-agent', action: 'db.write', resource: 'db:prod.orders' });
      return { key: r.pick([template().identity, 'junk', '{p:x}', `${ev.identity}/`, ' ']), value: enc(ev), expect: { valid: true } };
    },
    'forged-control': () => {
      // Operator controls nobody signed, many a resume of a hostile identity: refused, never applied.
      const sig = Array.from({ length: 43 }, () => r.pick([...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'])).join('');
      const c: Record<string, unknown> = {
        control: 'warden.operator', v: 1, id: `fz-ctl-${n}`, ts: tsNow(), op: 'resume', identity: r.pick(HOSTILE_IDENTITIES),
        scope: null, ttlMs: null, reason: 'fuzz', operator: 'mallory', kid: 'test-1', sig,
      };
      const [patch, code, field] = r.pick<[Record<string, unknown>, string, string | undefined]>([
        [{}, 'CONTROL_FORGED', undefined],
        [{ op: 'suspend', scope: '*', ttlMs: 60_000 }, 'CONTROL_FORGED', undefined],
        [{ kid: 'mallory-key' }, 'CONTROL_UNKNOWN_KEY', undefined],
        [{ sig: 'short' }, 'CONTROL_MALFORMED', 'sig'],
        [{ op: 'delete' }, 'CONTROL_MALFORMED', 'op'],
        [{ control: 'warden.operator ' }, 'CONTROL_MALFORMED', 'control'],
        [{ extra: 1 }, 'CONTROL_MALFORMED', 'extra'],
        [{ op: 'suspend' }, 'CONTROL_MALFORMED', 'scope'],
        [{ ts: o.now + DAY }, 'CONTROL_TS_FUTURE', 'ts'],
        [{ ts: 9e15 }, 'CONTROL_MALFORMED', 'ts'],
      ]);
      return { value: enc({ ...c, ...patch }), expect: bad(code, field) };
    },
    'binary-key': () => {
      // A key that is not UTF-8 (the dead letter carries it base64 in a header), on a bad record or a valid one.
      const key = Buffer.concat([Buffer.from([0xff, 0xc0, r.int(0x80, 0xff)]), Buffer.from(`fz-${n}`)]);
      if (r.chance(0.5)) {
        const b = mpBytes(template());
        return { key, value: b.subarray(0, r.int(1, b.length - 1)), expect: bad('EVENT_DECODE') };
      }
      return { key, value: enc(fresh('bkey', template())), expect: { valid: true } };
    },
  };
  const kinds = Object.keys(makers);

  // Interleave: between base events, at random, the generated records.
  const perGap = o.count / o.base.length;
  for (const e of o.base) {
    out.push({ kind: 'base', key: e.identity, value: r.chance(0.5) ? mpBytes(e) : json(e), expect: { valid: true } });
    cursor++;
    let k = r.poisson(perGap);
    while (k-- > 0 && n < o.count) {
      const kind = r.pick(kinds);
      const m = makers[kind]!();
      out.push({ kind, key: m.key ?? `fz-${String(n).padStart(5, '0')}`, value: m.value, expect: m.expect });
      n++;
    }
  }
  while (n < o.count) {
    const kind = r.pick(kinds);
    const m = makers[kind]!();
    out.push({ kind, key: m.key ?? `fz-${String(n).padStart(5, '0')}`, value: m.value, expect: m.expect });
    n++;
  }
  // One record of 1,048,400 bytes: far over the event limit, just under the stock broker's, too big to dead-letter whole.
  const like = template();
  const hugeOf = (pad: number): Buffer => json({ ...like, id: 'fz-huge', attrs: { pad: 'h'.repeat(pad) } });
  const head = hugeOf(0);
  const huge = hugeOf(1_048_400 - head.length);
  out.splice(Math.floor(out.length / 2), 0, { kind: 'huge', key: 'fz-huge', value: huge, expect: bad('EVENT_TOO_LARGE'), huge: true });
  return out;
}
