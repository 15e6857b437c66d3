import { EVENT_LIMITS } from '../event/types.js';
import { TS_CEILING } from '../event/time.js';
import { kindOf, type EventResult } from '../event/validate.js';
import { KID_PATTERN } from '../commands/keyring.js';
import { CONTROL_MARK, type OperatorControl } from './types.js';

export type ControlShape = { ok: true; control: OperatorControl } | Extract<EventResult, { ok: false }>;

const SIG_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const MAX_TTL_MS = 366 * 24 * 3_600_000;
const FIELDS = new Set(['control', 'v', 'id', 'ts', 'op', 'identity', 'scope', 'ttlMs', 'reason', 'operator', 'kid', 'sig']);

function bad(field: string, message: string): ControlShape {
  return { ok: false, error: { code: 'CONTROL_MALFORMED', field, message: `operator control: ${message}` } };
}

function text(o: Record<string, unknown>, field: string, limit: number): string | ControlShape {
  const v = o[field];
  if (typeof v !== 'string' || v.length === 0) return bad(field, `field "${field}" must be a non-empty string, got ${kindOf(v)}`);
  if (Buffer.byteLength(v, 'utf8') > limit) return bad(field, `field "${field}" is longer than ${limit} UTF-8 bytes`);
  return v;
}

const int = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isSafeInteger(v) ? v : typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;

/**
 * The shape of a control (a map whose `control` field is set); the signature
 * is checked by the engine, and the time against a clock by the same rule as
 * events' (event/time.ts) where the record is read.
 */
export function validateControl(o: Record<string, unknown>): ControlShape {
  if (o.control !== CONTROL_MARK) return bad('control', `field "control" must be "${CONTROL_MARK}"`);
  for (const key in o) if (!FIELDS.has(key)) return bad(key.slice(0, 64), `unknown field "${key.slice(0, 64)}"`);
  if (o.v !== 1 && o.v !== 1n) return bad('v', 'field "v" must be 1');
  const { identityBytes, stringBytes } = EVENT_LIMITS;
  const id = text(o, 'id', 128);
  if (typeof id !== 'string') return id;
  const ts = int(o.ts);
  if (ts === undefined || ts < 0 || ts > TS_CEILING) return bad('ts', 'field "ts" must be a non-negative integer of ms since the epoch, before the year 10000');
  if (o.op !== 'suspend' && o.op !== 'resume') return bad('op', 'field "op" must be "suspend" or "resume"');
  const identity = text(o, 'identity', identityBytes);
  if (typeof identity !== 'string') return identity;
  let scope: string | null = null;
  if (o.scope !== null && o.scope !== undefined) {
    const s = text(o, 'scope', stringBytes);
    if (typeof s !== 'string') return s;
    scope = s;
  } else if (o.op === 'suspend') return bad('scope', 'a suspend needs a scope ("*" for the whole identity, or an action)');
  let ttlMs: number | null = null;
  if (o.ttlMs !== null && o.ttlMs !== undefined) {
    if (o.op === 'resume') return bad('ttlMs', 'a resume has no ttlMs');
    const t = int(o.ttlMs);
    if (t === undefined || t < 1000 || t > MAX_TTL_MS) return bad('ttlMs', `field "ttlMs" must be an integer from 1000 to ${MAX_TTL_MS}`);
    ttlMs = t;
  }
  const reason = text(o, 'reason', stringBytes);
  if (typeof reason !== 'string') return reason;
  const operator = text(o, 'operator', 256);
  if (typeof operator !== 'string') return operator;
  if (typeof o.kid !== 'string' || !KID_PATTERN.test(o.kid)) return bad('kid', 'field "kid" must match [A-Za-z0-9._-]{1,64}');
  if (typeof o.sig !== 'string' || !SIG_PATTERN.test(o.sig)) return bad('sig', 'field "sig" must be 43 base64url characters');
  return {
    ok: true,
    control: { control: CONTROL_MARK, v: 1, id, ts, op: o.op, identity, scope, ttlMs, reason, operator, kid: o.kid, sig: o.sig },
  };
}
