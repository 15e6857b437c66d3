import type { InboundMessage } from '../../src/transport/types.js';
import { describe, expect, it } from 'vitest';
import { misrouted, toRecord } from '../../src/service/decode.js';
import { DEFAULT_TIME_BOUNDS } from '../../src/event/time.js';

const NOW = Date.UTC(2026, 11, 2, 12);

function message(key: Buffer | null, identity: string): InboundMessage {
  const value = Buffer.from(JSON.stringify({ id: 'e1', ts: NOW, identity, action: 'crm.read', resource: 'crm:customers/1' }));
  return { key, value, offset: '7', timestamp: String(NOW), attributes: 0, headers: {} } as unknown as InboundMessage;
}

describe('events whose record key is not their identity', () => {
  it('are told apart from rightly keyed ones, multi-byte identities included', () => {
    const check = (key: Buffer | null, identity: string) => misrouted(message(key, identity), toRecord(message(key, identity), NOW, DEFAULT_TIME_BOUNDS));
    expect(check(Buffer.from('bot-ÿ'), 'bot-ÿ')).toBe(false);
    expect(check(Buffer.from('bot-1'), 'bot-2')).toBe(true);
    expect(check(Buffer.from('bot-ÿ', 'latin1'), 'bot-ÿ')).toBe(true);
    expect(check(null, 'bot-1')).toBe(true);
    // A dead letter is not an event: it has no identity to be keyed by.
    const bad = { key: Buffer.from('x'), value: Buffer.from('{'), offset: '8', timestamp: '0', attributes: 0, headers: {} } as unknown as InboundMessage;
    expect(misrouted(bad, toRecord(bad, NOW, DEFAULT_TIME_BOUNDS))).toBe(false);
  });
});
