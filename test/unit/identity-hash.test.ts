import { describe, expect, it } from 'vitest';
import { decodeIdentityState } from '../../src/state/identity-hash.js';

describe("an identity hash's state field", () => {
  it("reads struct '<ddd' as apply-1.lua packs it: firstSeen, events, expiry push", () => {
    const b = Buffer.alloc(24);
    b.writeDoubleLE(1_795_144_440_000.5, 0);
    b.writeDoubleLE(4, 8);
    b.writeDoubleLE(1_795_144_443_000, 16);
    // At an offset inside a larger buffer, as a Redis reply slice may be.
    const inside = Buffer.concat([Buffer.from([9, 9, 9]), b]).subarray(3);
    expect(decodeIdentityState(inside)).toStrictEqual({ firstSeen: 1_795_144_440_000.5, events: 4, expiryPushedAt: 1_795_144_443_000 });
  });

  it('refuses a field of another size (STATE_INCONSISTENT)', () => {
    expect(() => decodeIdentityState(Buffer.alloc(23))).toThrow(expect.objectContaining({ code: 'STATE_INCONSISTENT', message: expect.stringContaining('23') }));
  });
});
