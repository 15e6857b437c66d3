import { randomUUID } from 'node:crypto';
import type { Keyring } from '../commands/keyring.js';
import { WardenError } from '../errors.js';
import { signControl } from './sign.js';
import { CONTROL_MARK, type OperatorControl } from './types.js';
import { validateControl } from './validate.js';

export interface ControlRequest {
  op: OperatorControl['op'];
  identity: string;
  scope: string | null;
  ttlMs: number | null;
  reason: string;
  operator: string;
}

/** A signed control, refused here if Warden would refuse it. */
export function createControl(req: ControlRequest, keyring: Keyring, now = Date.now(), id: string = randomUUID()): OperatorControl {
  const signed = signControl({ control: CONTROL_MARK, v: 1, id, ts: now, ...req }, keyring);
  const check = validateControl(signed as unknown as Record<string, unknown>);
  if (!check.ok) throw new WardenError('CONTROL_MALFORMED', check.error.message);
  return signed;
}

export function encodeControl(c: OperatorControl): Buffer {
  return Buffer.from(JSON.stringify(c));
}
