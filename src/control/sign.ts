import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Keyring } from '../commands/keyring.js';
import { WardenError } from '../errors.js';
import type { OperatorControl, UnsignedControl } from './types.js';

export type ControlVerifyCode = 'CONTROL_UNVERIFIABLE' | 'CONTROL_UNKNOWN_KEY' | 'CONTROL_FORGED';
export type ControlVerify = { ok: true } | { ok: false; code: ControlVerifyCode; reason: string };

/** The signed bytes: the fields in this fixed order. */
export function canonicalControl(c: UnsignedControl): string {
  return JSON.stringify({
    control: c.control, v: c.v, id: c.id, ts: c.ts, op: c.op, identity: c.identity,
    scope: c.scope, ttlMs: c.ttlMs, reason: c.reason, operator: c.operator,
  });
}

function mac(secret: Buffer, kid: string, canonical: string): string {
  // A different prefix from commands', so a signed command can never pass as a control.
  return createHmac('sha256', secret).update(`control.v1.${kid}.${canonical}`).digest('base64url');
}

export function signControl(c: UnsignedControl, keyring: Keyring): OperatorControl {
  const secret = keyring.keys.get(keyring.activeKid);
  if (!secret) throw new WardenError('CONTROL_UNKNOWN_KEY', `active key id "${keyring.activeKid}" is not in the operator keyring`);
  return { ...c, kid: keyring.activeKid, sig: mac(secret, keyring.activeKid, canonicalControl(c)) };
}

export function verifyControl(c: OperatorControl, keyring: Keyring | undefined): ControlVerify {
  if (!keyring) {
    return { ok: false, code: 'CONTROL_UNVERIFIABLE', reason: `operator control ${c.id} cannot be verified: no operator keys (WARDEN_OPERATOR_KEYS or WARDEN_COMMAND_KEYS)` };
  }
  const secret = keyring.keys.get(c.kid);
  if (!secret) return { ok: false, code: 'CONTROL_UNKNOWN_KEY', reason: `operator control ${c.id}: key id "${c.kid}" is not in the operator keyring` };
  const expected = Buffer.from(mac(secret, c.kid, canonicalControl(c)));
  if (!timingSafeEqual(expected, Buffer.from(c.sig))) {
    return { ok: false, code: 'CONTROL_FORGED', reason: `operator control ${c.id}: signature does not match (key id "${c.kid}")` };
  }
  return { ok: true };
}
