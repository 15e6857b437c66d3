import { createHmac, timingSafeEqual } from 'node:crypto';
import type { BreakerCommand } from '../breaker/types.js';
import { WardenError } from '../errors.js';
import { KID_PATTERN, type Keyring } from './keyring.js';

export type SignedCommand = BreakerCommand & { kid: string; sig: string };

export type VerifyResult = { ok: true; command: SignedCommand } | { ok: false; code: VerifyCode; reason: string };
export type VerifyCode = 'COMMAND_MALFORMED' | 'COMMAND_UNSUPPORTED_VERSION' | 'COMMAND_UNKNOWN_KEY' | 'COMMAND_FORGED' | 'COMMAND_EXPIRED';

export const MAX_COMMAND_BYTES = 64 * 1024;
const SIG_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Only v2 verifies: v1 had no seq, so a re-published old v1 command could not be told from a new one. */
export const COMMAND_VERSION = 2;

/**
 * The signed bytes: the v2 fields in this fixed order as a JSON object (README
 * "Command format"). Anything else in a record (`kind`, future fields) is not
 * signed and is dropped on verify.
 */
export function canonicalCommand(c: BreakerCommand): string {
  return JSON.stringify({
    v: c.v, seq: c.seq, type: c.type, commandId: c.commandId, identity: c.identity, scope: c.scope,
    until: c.until, probationUntil: c.probationUntil, reason: c.reason, detector: c.detector,
    issuedAt: c.issuedAt, eventId: c.eventId, strike: c.strike, cascade: c.cascade,
    active: c.active.map((a) => ({ scope: a.scope, until: a.until, cascade: a.cascade, commandId: a.commandId, reason: a.reason })),
  });
}

function mac(secret: Buffer, kid: string, canonical: string): string {
  // The kid is signed too, so a command cannot be re-labelled with another key id.
  return createHmac('sha256', secret).update(`v${COMMAND_VERSION}.${kid}.${canonical}`).digest('base64url');
}

export function signCommand(cmd: BreakerCommand, keyring: Keyring): SignedCommand {
  const secret = keyring.keys.get(keyring.activeKid);
  if (!secret) throw new WardenError('COMMAND_UNKNOWN_KEY', `active key id "${keyring.activeKid}" is not in the keyring`);
  // Refuse to sign what no gateway would accept.
  const shape = checkShape({ ...cmd, kid: keyring.activeKid, sig: 'A'.repeat(43) });
  if (typeof shape === 'string') throw new WardenError('COMMAND_MALFORMED', `cannot sign command: ${shape}`);
  return { ...shape, sig: mac(secret, keyring.activeKid, canonicalCommand(shape)) };
}

/** Authentic and well-formed, whether or not it has expired. */
export function openCommand(value: Uint8Array | string, keyring: Keyring): VerifyResult {
  let text: string;
  if (typeof value === 'string') text = value;
  else {
    if (value.length > MAX_COMMAND_BYTES) return malformed(`command is ${value.length} bytes, more than ${MAX_COMMAND_BYTES}`);
    try {
      text = utf8.decode(value);
    } catch {
      return malformed('command is not UTF-8');
    }
  }
  if (text.length > MAX_COMMAND_BYTES) return malformed(`command is longer than ${MAX_COMMAND_BYTES} characters`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return malformed('command is not JSON');
  }
  const v = (raw as { v?: unknown } | null)?.v;
  if (typeof v === 'number' && v !== COMMAND_VERSION) {
    return { ok: false, code: 'COMMAND_UNSUPPORTED_VERSION', reason: `command version ${v} is not accepted (only v${COMMAND_VERSION}, which signs a per-identity seq)` };
  }
  const shape = checkShape(raw);
  if (typeof shape === 'string') return malformed(shape);
  const secret = keyring.keys.get(shape.kid);
  if (!secret) return { ok: false, code: 'COMMAND_UNKNOWN_KEY', reason: `key id "${shape.kid}" is not in the keyring` };
  const expected = Buffer.from(mac(secret, shape.kid, canonicalCommand(shape)));
  if (!timingSafeEqual(expected, Buffer.from(shape.sig))) {
    return { ok: false, code: 'COMMAND_FORGED', reason: `signature does not match (key id "${shape.kid}", command ${shape.commandId})` };
  }
  return { ok: true, command: shape };
}

export function isExpired(c: BreakerCommand, nowMs: number): boolean {
  return c.type === 'suspend' && c.until! <= nowMs;
}

export function verifyCommand(value: Uint8Array | string, keyring: Keyring, nowMs: number): VerifyResult {
  const r = openCommand(value, keyring);
  if (r.ok && isExpired(r.command, nowMs)) {
    return { ok: false, code: 'COMMAND_EXPIRED', reason: `suspend ${r.command.commandId} ended at ${r.command.until}, now is ${nowMs}` };
  }
  return r;
}

function malformed(reason: string): VerifyResult {
  return { ok: false, code: 'COMMAND_MALFORMED', reason };
}

const isInt = (x: unknown): x is number => Number.isSafeInteger(x);
const isText = (x: unknown): x is string => typeof x === 'string' && x.length > 0;

/** The verified fields only, or why not. */
function checkShape(raw: unknown): SignedCommand | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'command must be a JSON object';
  const o = raw as Record<string, unknown>;
  if (o.v !== COMMAND_VERSION) return `v must be ${COMMAND_VERSION}`;
  if (!isInt(o.seq) || o.seq < 0) return 'seq must be a non-negative integer';
  if (o.type !== 'suspend' && o.type !== 'resume' && o.type !== 'state') return 'type must be "suspend", "resume" or "state"';
  for (const f of ['commandId', 'identity', 'scope'] as const) if (!isText(o[f])) return `${f} must be a non-empty string`;
  if (o.type === 'suspend') {
    if (!isInt(o.until)) return 'until must be an integer (ms) for a suspend';
    if (!isInt(o.probationUntil) || o.probationUntil < o.until) return 'probationUntil must be an integer >= until for a suspend';
  } else if (o.until !== null || o.probationUntil !== null) return `until and probationUntil must be null for a ${o.type}`;
  if (typeof o.reason !== 'string') return 'reason must be a string';
  if (o.detector !== null && !isText(o.detector)) return 'detector must be a non-empty string or null';
  if (!isInt(o.issuedAt)) return 'issuedAt must be an integer (ms)';
  if (o.eventId !== null && !isText(o.eventId)) return 'eventId must be a non-empty string or null';
  if (!isInt(o.strike) || o.strike < 0) return 'strike must be a non-negative integer';
  if (typeof o.cascade !== 'boolean') return 'cascade must be a boolean';
  const active = checkActive(o.active);
  if (typeof active === 'string') return active;
  if (typeof o.kid !== 'string' || !KID_PATTERN.test(o.kid)) return 'kid must match [A-Za-z0-9._-]{1,64}';
  if (typeof o.sig !== 'string' || !SIG_PATTERN.test(o.sig)) return 'sig must be 43 base64url characters';
  return {
    v: COMMAND_VERSION, seq: o.seq, type: o.type, commandId: o.commandId as string, identity: o.identity as string, scope: o.scope as string,
    until: o.until as number | null, probationUntil: o.probationUntil as number | null, reason: o.reason,
    detector: o.detector as BreakerCommand['detector'], issuedAt: o.issuedAt, eventId: o.eventId as string | null,
    strike: o.strike, cascade: o.cascade, active, kid: o.kid, sig: o.sig,
  };
}

function checkActive(raw: unknown): BreakerCommand['active'] | string {
  if (!Array.isArray(raw)) return 'active must be an array of the suspensions in force';
  const out: BreakerCommand['active'] = [];
  for (const [i, a] of raw.entries()) {
    if (typeof a !== 'object' || a === null) return `active[${i}] must be an object`;
    const x = a as Record<string, unknown>;
    if (!isText(x.scope) || !isInt(x.until) || typeof x.cascade !== 'boolean' || !isText(x.commandId) || typeof x.reason !== 'string') {
      return `active[${i}] must have scope, until (ms), cascade, commandId and reason`;
    }
    out.push({ scope: x.scope, until: x.until, cascade: x.cascade, commandId: x.commandId, reason: x.reason });
  }
  return out;
}
