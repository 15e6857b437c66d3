import { describe, expect, it } from 'vitest';
import * as warden from '../../src/index.js';

describe('the package entry point', () => {
  it('gives producers the event codec and gateways the enforcer and signature checks', () => {
    for (const name of ['encodeEvent', 'decodeEvent', 'validateEvent', 'createEnforcer', 'signCommand', 'verifyCommand', 'parseKeyring', 'verifyWebhook', 'loadConfig', 'replay', 'Engine', 'MemoryWindowStore']) {
      expect(typeof (warden as Record<string, unknown>)[name], name).toBe('function');
    }
    const bytes = warden.encodeEvent({ id: 'e1', ts: 1, identity: 'spiffe://x/agent/a', action: 'db.read', resource: 'db:prod.orders' });
    const back = warden.decodeEvent(bytes);
    expect(back).toMatchObject({ ok: true, encoding: 'msgpack', event: { id: 'e1', identity: 'spiffe://x/agent/a' } });
  });
});
