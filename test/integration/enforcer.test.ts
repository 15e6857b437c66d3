/**
 * The gateway enforcer against the real broker: commands are published by kcat
 * (an external producer) to a fresh compacted topic, then read back by the
 * enforcer. Fails (never skips) when Kafka is not there.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BreakerCommand } from '../../src/breaker/types.js';
import { parseKeyring, type Keyring } from '../../src/commands/keyring.js';
import { signCommand } from '../../src/commands/sign.js';
import { createEnforcer, type Enforcer, type RejectInfo } from '../../src/enforcer/index.js';
import { BROKERS, createTopic, kcatProduceLines, requireKafka, uniqueName } from './helpers.js';

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

function keyring(spec: string): Keyring {
  const r = parseKeyring(spec);
  if (!r.ok) throw new Error(r.reason);
  return r.keyring;
}

const oldSecret = randomBytes(32).toString('base64');
const newSecret = randomBytes(32).toString('base64');
const gatewayRing = keyring(`old=${oldSecret},new=${newSecret}`);
const wardenRing = keyring(`new=${newSecret}`);
const oldRing = keyring(`old=${oldSecret}`);
const retiredRing = keyring(`retired=${randomBytes(32).toString('base64')}`);
const attackerRing = keyring(`new=${randomBytes(32).toString('base64')}`);

let seq = 0;
function cmd(identity: string, type: 'suspend' | 'resume', over: Partial<BreakerCommand> = {}): BreakerCommand {
  const suspend = type === 'suspend';
  const c = {
    v: 2 as const, seq: 0, type, commandId: `${identity}-${type}-${++seq}`, identity, scope: '*',
    until: suspend ? T0 + HOUR : null, probationUntil: suspend ? T0 + 2 * HOUR : null,
    reason: `${identity} ${type}`, detector: suspend ? ('rate' as const) : null, issuedAt: T0 - 1000,
    eventId: suspend ? `ev-${seq}` : null, strike: 1, cascade: suspend, active: [] as BreakerCommand['active'], ...over,
  };
  // Warden's seq is never below the command's event time.
  if (over.seq === undefined) c.seq = c.issuedAt;
  // What a single-scope breaker publishes: the suspension itself, or nothing after a resume.
  if (!over.active && suspend) c.active = [{ scope: c.scope, until: c.until!, cascade: c.cascade, commandId: c.commandId, reason: c.reason }];
  return c;
}

const line = (value: object | string, key?: string) => ({
  key: key ?? (value as { identity: string }).identity,
  value: typeof value === 'string' ? value : JSON.stringify(value),
});
const signed = (c: BreakerCommand, ring: Keyring = wardenRing) => line(signCommand(c, ring));

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('enforcer against a real broker', () => {
  const topic = uniqueName('warden-commands-enforcer');
  let now = T0;
  const rejects: RejectInfo[] = [];
  let enforcer: Enforcer;

  beforeAll(async () => {
    await requireKafka();
    await createTopic(topic, 3, true);
    await kcatProduceLines(topic, [
      signed(cmd('alice', 'suspend')),
      signed(cmd('bob', 'suspend', { scope: 'email.send', cascade: false })),
      signed(cmd('carol', 'suspend', { issuedAt: T0 - 5000 })),
      signed(cmd('carol', 'resume', { issuedAt: T0 - 2000 })),
      signed(cmd('dave', 'suspend', { issuedAt: T0 - 1000 })),
      // A replayed, older (authentic) resume published after the newer suspend.
      signed(cmd('dave', 'resume', { issuedAt: T0 - 3000 })),
      // The same seq again, with the same event time: a tie never applies.
      signed(cmd('dave', 'resume', { issuedAt: T0 - 1000 })),
      // A valid command for another identity filed under dave's key.
      line(signCommand(cmd('judy', 'resume'), wardenRing), 'dave'),
      // A v1 command (no seq), as Warden wrote before v2.
      line({ ...(({ seq: _s, ...rest }) => rest)(signCommand(cmd('dave', 'resume', { issuedAt: T0 }), wardenRing)), v: 1 }),
      signed(cmd('ivan', 'suspend'), oldRing),
      signed(cmd('kim', 'suspend', { scope: 'db.write', cascade: true })),
      signed(cmd('eve', 'suspend'), attackerRing),
      signed(cmd('frank', 'suspend'), retiredRing),
      line({ ...signCommand(cmd('grace', 'suspend', { scope: 'email.send' }), wardenRing), scope: '*' }),
      signed(cmd('heidi', 'suspend', { until: T0 - 1, probationUntil: T0 + HOUR })),
      line('not json at all', 'zed'),
    ]);
    enforcer = createEnforcer({ brokers: BROKERS.split(','), topic, keyring: gatewayRing, now: () => now, onReject: (i) => rejects.push(i) });
    await enforcer.start();
  });

  afterAll(async () => {
    await enforcer?.stop();
  });

  it('has read everything published before start() when it resolves', () => {
    expect(enforcer.stats()).toMatchObject({
      applied: 7, stale: 1, repeated: 1, bootstrapped: true, following: true,
      rejected: { COMMAND_FORGED: 2, COMMAND_UNKNOWN_KEY: 1, COMMAND_EXPIRED: 1, COMMAND_MALFORMED: 1, COMMAND_KEY_MISMATCH: 1, COMMAND_UNSUPPORTED_VERSION: 1 },
    });
    expect(rejects.map((r) => r.code).sort()).toEqual([
      'COMMAND_EXPIRED', 'COMMAND_FORGED', 'COMMAND_FORGED', 'COMMAND_KEY_MISMATCH', 'COMMAND_MALFORMED', 'COMMAND_UNKNOWN_KEY', 'COMMAND_UNSUPPORTED_VERSION',
    ]);
    for (const r of rejects) expect(r.partition >= 0 && Number(r.offset) >= 0 && r.reason.length > 0).toBe(true);
  });

  it('denies exactly the suspended identities and scopes', () => {
    const denied = (identity: string, action: string, chain?: string[]) => !enforcer.check(identity, action, chain).allow;
    expect(enforcer.check('alice', 'file.read')).toMatchObject({ allow: false, identity: 'alice', scope: '*', until: T0 + HOUR, reason: 'alice suspend' });
    expect(denied('bob', 'email.send')).toBe(true);
    expect(denied('bob', 'file.read')).toBe(false);
    expect(denied('carol', 'file.read')).toBe(false);
    expect(denied('dave', 'file.read')).toBe(true);
    expect(denied('ivan', 'file.read')).toBe(true);
    for (const id of ['eve', 'frank', 'grace', 'heidi', 'judy', 'zed', 'nobody']) expect(denied(id, 'email.send')).toBe(false);
  });

  it('cascades to sub-agents only for cascading suspensions', () => {
    expect(enforcer.check('alice-sub', 'file.read', ['root', 'alice'])).toMatchObject({ allow: false, identity: 'alice', scope: '*' });
    expect(enforcer.check('bob-sub', 'email.send', ['bob'])).toEqual({ allow: true });
    expect(enforcer.check('kim-sub', 'db.write', ['kim'])).toMatchObject({ allow: false, identity: 'kim', scope: 'db.write' });
    expect(enforcer.check('kim-sub', 'db.read', ['kim'])).toEqual({ allow: true });
    expect(enforcer.check('x', 'file.read', ['carol', 'heidi'])).toEqual({ allow: true });
  });

  it('allows once until has passed (probation is watched by Warden)', () => {
    now = T0 + HOUR;
    try {
      expect(enforcer.check('alice', 'file.read')).toEqual({ allow: true });
      expect(enforcer.check('alice-sub', 'file.read', ['alice'])).toEqual({ allow: true });
    } finally {
      now = T0;
    }
  });

  it('follows the topic live', async () => {
    await kcatProduceLines(topic, [
      signed(cmd('mallory', 'suspend', { scope: 'payments.refund', cascade: false })),
      signed(cmd('alice', 'resume', { issuedAt: T0 })),
      line({ ...signCommand(cmd('oscar', 'suspend'), wardenRing), reason: 'edited' }),
    ]);
    await until('the live suspend to deny', () => !enforcer.check('mallory', 'payments.refund').allow);
    await until('the live resume to lift', () => enforcer.check('alice', 'file.read').allow);
    await until('the live forgery to be rejected', () => enforcer.stats().rejected.COMMAND_FORGED === 3);
    expect(enforcer.check('mallory', 'email.send')).toEqual({ allow: true });
    expect(enforcer.check('oscar', 'x')).toEqual({ allow: true });
    expect(enforcer.stats()).toMatchObject({ applied: 9, stale: 1, repeated: 1, identities: 8 });
  });
});

describe('enforcer start', () => {
  it('resolves promptly on an empty topic', async () => {
    await requireKafka();
    const topic = uniqueName('warden-commands-empty');
    await createTopic(topic, 3, true);
    const e = createEnforcer({ brokers: BROKERS.split(','), topic, keyring: gatewayRing, bootstrapTimeoutMs: 30_000 });
    try {
      await e.start();
      expect(e.stats()).toMatchObject({ applied: 0, bootstrapped: true, identities: 0 });
    } finally {
      await e.stop();
    }
  });

  it('rejects with ENFORCER_BOOTSTRAP_TIMEOUT when it cannot catch up in time', async () => {
    await requireKafka();
    const topic = uniqueName('warden-commands-slow');
    await createTopic(topic, 1, true);
    await kcatProduceLines(topic, [signed(cmd('slow', 'suspend'))]);
    const e = createEnforcer({ brokers: BROKERS.split(','), topic, keyring: gatewayRing, bootstrapTimeoutMs: 1 });
    await expect(e.start()).rejects.toMatchObject({ code: 'ENFORCER_BOOTSTRAP_TIMEOUT', retriable: true });
    await e.stop();
  });

  it('rejects with ENFORCER_TOPIC_MISSING when the topic does not exist', async () => {
    await requireKafka();
    const e = createEnforcer({ brokers: BROKERS.split(','), topic: uniqueName('warden-no-such-topic'), keyring: gatewayRing });
    await expect(e.start()).rejects.toMatchObject({ code: 'ENFORCER_TOPIC_MISSING' });
    await e.stop();
  });
});
