import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { offend, serializeBreaker } from '../../src/breaker/breaker.js';
import type { BreakerState } from '../../src/breaker/types.js';
import { loadConfig } from '../../src/config/load.js';
import { encodeEvent } from '../../src/event/codec.js';
import type { AgentEvent } from '../../src/event/types.js';
import { identityKey, partitionKey } from '../../src/state/keys.js';
import {
  createTopic, headerMap, kcatConsumeAll, kcatProduceBinary, kcatProduceLines, startWarden, stopWarden, uniqueName, waitForGroupCaughtUp, useServices,
} from './helpers.js';

const execFileP = promisify(execFile);
let redis: Redis;
const prefixes = useServices((r) => (redis = r));

const HOUR = 3_600_000;
const hex = (s: string): Buffer => Buffer.from(s.replace(/ /g, ''), 'hex');
/** vault.read is outside support-bot's manifest: a whole-identity suspend, had the event been taken. */
const vault = (id: string, identity: string, ts: number): AgentEvent => ({ id, ts, identity, action: 'vault.read', resource: 'vault:secrets/prod', agentClass: 'support-bot' });

/** msgpack of `e` with the identity's bytes replaced by `raw` (same length as the placeholder). */
function msgpackWithIdentity(e: AgentEvent, raw: Buffer): Buffer {
  const bytes = Buffer.from(encodeEvent(e, 'msgpack'));
  const at = bytes.indexOf(Buffer.from(e.identity));
  raw.copy(bytes, at);
  return bytes;
}

const cli = (prefix: string, args: string[]) =>
  execFileP(process.execPath, ['bin/warden.js', 'breaker', ...args], { env: { ...process.env, WARDEN_REDIS_PREFIX: prefix } });

describe('event input through the real service: bounded time, UTF-8 only', () => {
  it('dead-letters ts = 9e15, an hour ahead, 31 days old and non-UTF-8 identities (msgpack and JSON) with their codes; none of them is suspended', async () => {
    const id = uniqueName('input');
    const actions = `a-${id}`;
    const [dlq, commands, decisions] = [`q-${id}`, `c-${id}`, `d-${id}`];
    const prefix = `wt-${id}`;
    prefixes.push(prefix);
    await createTopic(actions, 2);
    await createTopic(dlq, 1);
    await createTopic(commands, 2, true);
    await createTopic(decisions, 2);
    const now = Date.now();
    const base = 'spiffe://acme.example/agent/support-bot/';
    const micro = `${base}micro`;
    const ahead = `${base}ahead`;
    const old = `${base}old`;
    const control = `${base}in-bounds`;
    // "a\u00ff" in UTF-8 is 61 c3 bf: a real identity. 61 ff is not UTF-8 and must not become it.
    const utf8 = `${base}a\u00ff`;
    const placeholder = `${base}aXX`;
    await kcatProduceBinary(actions, [
      { key: micro, value: encodeEvent(vault('us', micro, 9e15), 'msgpack') },
      { key: ahead, value: encodeEvent(vault('ahead', ahead, now + HOUR), 'msgpack') },
      { key: control, value: encodeEvent(vault('fine', control, now), 'msgpack') },
      { key: utf8, value: encodeEvent(vault('utf8', utf8, now), 'msgpack') },
      // 61 ff 58: the last byte keeps the length; kcat sends the bytes as they are.
      { key: 'raw-msgpack', value: msgpackWithIdentity(vault('bad-mp', placeholder, now), Buffer.concat([Buffer.from(base), hex('61 ff 58')])) },
      { key: 'raw-json', value: Buffer.concat([Buffer.from(`{"id":"bad-json","ts":${now},"identity":"${base}a`), hex('ff'), Buffer.from('","action":"vault.read","resource":"vault:x"}')]) },
    ]);
    await kcatProduceLines(actions, [{ key: old, value: JSON.stringify(vault('old', old, now - 31 * 24 * HOUR)) }]);

    const warden = startWarden({
      WARDEN_TOPIC_ACTIONS: actions, WARDEN_TOPIC_DLQ: dlq, WARDEN_TOPIC_COMMANDS: commands, WARDEN_TOPIC_DECISIONS: decisions,
      KAFKA_GROUP_ID: `g-${id}`, WARDEN_REDIS_PREFIX: prefix, KAFKA_SESSION_TIMEOUT_MS: '6000',
      // The defaults (5m ahead, 30d behind), whatever the helper sets.
      WARDEN_EVENT_MAX_AHEAD: '5m', WARDEN_EVENT_MAX_AGE: '30d',
    });
    await warden.waitForLog(/"msg":"consuming"/);
    await waitForGroupCaughtUp(`g-${id}`, actions);
    expect(await stopWarden(warden)).toBe(0);

    const dead = (await kcatConsumeAll(dlq)).map(headerMap);
    const byCode = dead.map((h) => [h['warden-error-code'], h['warden-error-field']]).sort();
    expect(byCode).toEqual([
      ['EVENT_INVALID_UTF8', 'identity'],
      ['EVENT_INVALID_UTF8', 'identity'],
      ['EVENT_TS_FUTURE', 'ts'],
      ['EVENT_TS_FUTURE', 'ts'],
      ['EVENT_TS_TOO_OLD', 'ts'],
    ].sort());
    for (const h of dead) expect(h['warden-source-topic']).toBe(actions);
    expect(dead.find((h) => h['warden-error-reason']?.includes('9999'))).toBeDefined();
    expect(dead.find((h) => h['warden-error-reason']?.includes('ahead of the clock'))).toBeDefined();

    // Only the two in-bounds, well-formed identities are suspended; the UTF-8 "aÿ" keeps its own name.
    const suspended = (await kcatConsumeAll(commands)).map((r) => JSON.parse(r.payload!)).filter((c) => c.type === 'suspend').map((c) => c.identity).sort();
    expect(suspended).toEqual([control, utf8].sort());
    for (const who of [micro, ahead, old]) await expect(cli(prefix, ['show', who])).rejects.toMatchObject({ code: 1 });
    const listed = (await cli(prefix, ['list', '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l).identity).sort();
    expect(listed).toEqual([control, utf8].sort());
  });

  it('warden breaker show and list print a time stored by an older Warden (9e15, NaN) instead of crashing', async () => {
    const prefix = `wt-${uniqueName('oldtime')}`;
    prefixes.push(prefix);
    const config = await loadConfig('config');
    const identity = 'spiffe://acme.example/agent/support-bot/from-the-past';
    const state: BreakerState = {};
    offend(state, {
      identity, detector: 'scope', rule: 'outside-manifest', severity: 'high', decision: 'suspend', mode: 'enforce', scope: '*',
      ts: 9e15, eventId: 'us', action: 'vault.read', resource: 'vault:x', chain: [], agentClass: 'support-bot', reason: 'outside', evidence: {},
    }, config.breaker);
    // `_s` packs first seen, events and the expiry mark as three little-endian doubles.
    const packed = Buffer.alloc(24);
    packed.writeDoubleLE(Number.NaN, 0);
    packed.writeDoubleLE(1, 8);
    packed.writeDoubleLE(0, 16);
    await redis.hset(identityKey(partitionKey(prefix, 'old:0'), identity), { _id: identity, _s: packed, _b: serializeBreaker(state) });
    const shown = (await cli(prefix, ['show', identity])).stdout;
    expect(shown).toContain('first seen NaN (not a date)');
    expect(shown).toMatch(/open\s+1\s+\d+ \(not a date\)/);
    expect((await cli(prefix, ['list'])).stdout).toContain('(not a date)');
  });
});
