/**
 * A gateway written from the README alone (test/readme/verifiers.ts): the
 * field order, the string escaping, the MAC input and the key are read from
 * (or written only after) README "Command format", and checked against
 * commands Warden really signs. Nothing from Warden's signing code is used to
 * verify. test/integration/formats-readme.test.ts does the same with what a
 * running `warden run` publishes.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { offend } from '../../src/breaker/breaker.js';
import { restatement } from '../../src/breaker/sequence.js';
import type { BreakerCommand } from '../../src/breaker/types.js';
import { parseKeyring } from '../../src/commands/keyring.js';
import { signCommand } from '../../src/commands/sign.js';
import { ACTIVE_FIELDS, canonical, COMMAND_FIELDS, COMMAND_SECTION, MAC_PREFIX, tableRows, verifyCommandRecord } from '../readme/verifiers.js';

const SECRET_B64 = Buffer.alloc(32, 0).map((_, i) => (i * 37 + 11) & 0xff).toString('base64');

describe('README command format, verified independently', () => {
  const ring = parseKeyring(`gw-1=${SECRET_B64}`);
  if (!ring.ok) throw new Error(ring.reason);
  const T = 1_763_400_000_000;

  it('states the signed fields and the version, and lists every field in one table', () => {
    // A blank line inside the table would end it early: every documented field is in it.
    expect(tableRows(COMMAND_SECTION).map((r) => r[0]!.replace(/`/g, ''))).toEqual([...COMMAND_FIELDS, 'kid', 'sig']);
    expect(COMMAND_FIELDS).toEqual(['v', 'seq', 'type', 'commandId', 'identity', 'scope', 'until', 'probationUntil', 'reason', 'detector', 'issuedAt', 'eventId', 'strike', 'cascade', 'active']);
    expect(ACTIVE_FIELDS).toEqual(['scope', 'until', 'cascade', 'commandId', 'reason']);
    expect(MAC_PREFIX).toBe('v2');
  });

  const awkward = 'quote " backslash \\ slash / tab \t nl \n cr \r bs \b ff \f nul \u0000 unit \u001f del \u007f é 中 😀 \u2028';
  const breaker: BreakerCommand = (() => {
    const c = offend({}, {
      detector: 'scope', rule: 'r', severity: 'high', decision: 'suspend', mode: 'enforce', scope: '*', identity: `spiffe://x/${awkward}`,
      ts: T, eventId: 'e-1', action: 'vault.read', resource: 'vault:x', chain: [], agentClass: 'bot', reason: awkward, evidence: {},
    } as never, { ttlMs: 900_000, maxTtlMs: 86_400_000, probationMs: 600_000, probationActions: 0, forgiveAfterMs: 86_400_000 } as never)!;
    return { ...c, seq: T + 7 };
  })();

  it.each<[string, BreakerCommand]>([
    ['a detector suspend with awkward strings', breaker],
    ['a resume', { ...breaker, type: 'resume', until: null, probationUntil: null, detector: null, eventId: null, active: [] }],
    ['a state restatement', restatement('agent-1', { state: {}, seq: T, at: T })],
  ])('%s, as Warden publishes it', (_name, cmd) => {
    const record = JSON.stringify({ kind: 'command', ...signCommand(cmd, ring.keyring) });
    expect(verifyCommandRecord(record, SECRET_B64)).toBe(true);
    // URL-safe base64 of the same secret is the same key.
    expect(verifyCommandRecord(record, Buffer.from(SECRET_B64, 'base64').toString('base64url'))).toBe(true);
    // Any change to a signed field, or the base64 text used as the key, fails.
    const o = JSON.parse(record) as Record<string, any>;
    expect(verifyCommandRecord(JSON.stringify({ ...o, seq: o.seq + 1 }), SECRET_B64)).toBe(false);
    expect(verifyCommandRecord(JSON.stringify({ ...o, reason: `${o.reason}.` }), SECRET_B64)).toBe(false);
    const mac = createHmac('sha256', SECRET_B64).update(`${MAC_PREFIX}.${o.kid}.${canonical(o)}`).digest('base64url');
    expect(mac).not.toBe(o.sig);
  });
});
