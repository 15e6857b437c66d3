import { WardenError } from '../errors.js';

/**
 * The `_s` field of an identity hash (IDENTITY_FIELD.state), as
 * lua/includes/identity.lua packs it: struct '<ddd', three little-endian doubles.
 */
export interface IdentityState {
  firstSeen: number;
  /** Updates applied: events and operator controls. */
  events: number;
  /** Event ts of the last push of the identity's key deadline (lua/includes/expiry.lua). */
  expiryPushedAt: number;
}

export const IDENTITY_STATE_BYTES = 24;

export function decodeIdentityState(s: Uint8Array): IdentityState {
  if (s.byteLength !== IDENTITY_STATE_BYTES) {
    throw new WardenError('STATE_INCONSISTENT', `an identity hash's state field holds ${IDENTITY_STATE_BYTES} bytes, found ${s.byteLength}`);
  }
  const v = new DataView(s.buffer, s.byteOffset, s.byteLength);
  return { firstSeen: v.getFloat64(0, true), events: v.getFloat64(8, true), expiryPushedAt: v.getFloat64(16, true) };
}
