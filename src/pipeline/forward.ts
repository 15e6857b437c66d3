import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Keyring } from '../commands/keyring.js';

/**
 * A record read on a partition that is not its identity's owner goes to the
 * owner's partition of the same topic, value bytes unchanged, with these
 * headers (docs/design.md "One state per identity"). The signature binds the
 * target partition, the source partition and offset and the value, so a
 * producer cannot pass a record off as forwarded (and so have it skipped).
 */
export const FORWARD_HEADER = {
  from: 'warden-forwarded-from',
  offset: 'warden-forwarded-offset',
  sig: 'warden-forwarded-sig',
} as const;

/** Where a forwarded record was first read: the owner counts each (from, offset) once. */
export interface Forwarded {
  from: number;
  offset: bigint;
}

const DECIMAL = /^(0|[1-9][0-9]{0,18})$/;

function mac(secret: Buffer, to: number, from: number, offset: bigint, value: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`forward.v1.${to}.${from}.${offset}.`).update(value).digest();
}

export function forwardHeaders(keyring: Keyring, to: number, from: number, offset: bigint, value: Uint8Array): Record<string, string> {
  const headers: Record<string, string> = { [FORWARD_HEADER.from]: String(from), [FORWARD_HEADER.offset]: offset.toString() };
  const secret = keyring.keys.get(keyring.activeKid);
  if (secret) headers[FORWARD_HEADER.sig] = `${keyring.activeKid}.${mac(secret, to, from, offset, value).toString('base64url')}`;
  return headers;
}

/**
 * The forward a record on partition `here` claims, if its signature verifies
 * with a key of the ring; null otherwise (a record like any other).
 */
export function verifyForward(keyring: Keyring, here: number, header: (name: string) => string | undefined, value: Uint8Array): Forwarded | null {
  const from = header(FORWARD_HEADER.from);
  const offset = header(FORWARD_HEADER.offset);
  const sig = header(FORWARD_HEADER.sig);
  if (from === undefined || offset === undefined || sig === undefined) return null;
  if (!DECIMAL.test(from) || !DECIMAL.test(offset) || Number(from) > 0x7fffffff || Number(from) === here) return null;
  const dot = sig.lastIndexOf('.');
  const secret = dot > 0 ? keyring.keys.get(sig.slice(0, dot)) : undefined;
  if (!secret) return null;
  const got = Buffer.from(sig.slice(dot + 1), 'base64url');
  const want = mac(secret, here, Number(from), BigInt(offset), value);
  return got.length === want.length && timingSafeEqual(got, want) ? { from: Number(from), offset: BigInt(offset) } : null;
}
