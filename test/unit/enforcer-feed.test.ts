import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BreakerCommand } from '../../src/breaker/types.js';
import { parseKeyring } from '../../src/commands/keyring.js';
import { signCommand } from '../../src/commands/sign.js';
import { createEnforcer, type FeedHandlers, type FeedRecord, type TopicFeed } from '../../src/enforcer/index.js';

const NOW = 1_700_000_000_000;
const parsed = parseKeyring(`k1=${randomBytes(32).toString('base64')}`);
if (!parsed.ok) throw new Error(parsed.reason);
const keyring = parsed.keyring;

function suspend(identity: string, seq: number): BreakerCommand {
  return {
    v: 2, seq, type: 'suspend', commandId: `c-${seq}`, identity, scope: '*', until: NOW + 60_000, probationUntil: NOW + 120_000,
    reason: 'rate over hard limit', detector: 'rate', issuedAt: NOW - 1000, eventId: `e-${seq}`, strike: 1, cascade: true,
    active: [{ scope: '*', until: NOW + 60_000, cascade: true, commandId: `c-${seq}`, reason: 'rate over hard limit' }],
  };
}

const record = (key: string | null, c: BreakerCommand, offset: number): FeedRecord => ({
  key: key === null ? null : Buffer.from(key), value: Buffer.from(JSON.stringify({ kind: 'command', ...signCommand(c, keyring) })), offset: String(offset),
});

/** A feed with one partition holding `records`, offsets 0..n-1, that hands them over in two deliveries. */
function feedOf(records: FeedRecord[], topicExists = true): TopicFeed & { closed: boolean; handlers?: FeedHandlers } {
  const feed: TopicFeed & { closed: boolean; handlers?: FeedHandlers } = {
    closed: false,
    offsets: async () => (topicExists ? [{ partition: 0, low: '0', high: String(records.length) }] : null),
    async follow(_topic, on) {
      feed.handlers = on;
      const half = Math.ceil(records.length / 2);
      setTimeout(() => {
        on.records(0, records.slice(0, half));
        on.position(0, half);
        setTimeout(() => {
          on.records(0, records.slice(half));
          on.position(0, records.length);
        }, 5);
      }, 5);
    },
    async close() {
      feed.closed = true;
    },
  };
  return feed;
}

describe('the enforcer over a TopicFeed (no Kafka client of its own)', () => {
  it('bootstraps once the feed reached the high watermarks, applying only commands filed under their identity', async () => {
    const feed = feedOf([record('agent-a', suspend('agent-a', 1), 0), record('agent-b', suspend('agent-c', 2), 1), record('agent-d', suspend('agent-d', 3), 2)]);
    const e = createEnforcer({ feed, keyring, now: () => NOW });
    expect(e.stats().bootstrapped).toBe(false);
    await e.start();
    expect(e.stats()).toMatchObject({ bootstrapped: true, following: true, applied: 2, rejected: { COMMAND_KEY_MISMATCH: 1 } });
    expect(e.check('agent-a', 'email.send').allow).toBe(false);
    expect(e.check('agent-c', 'email.send').allow).toBe(true);
    expect(e.check('agent-d', 'x').allow).toBe(false);
    await e.stop();
    expect(feed.closed).toBe(true);
  });

  it('fails start with the topic missing, and with a crash the client will not restart', async () => {
    await expect(createEnforcer({ feed: feedOf([], false), keyring }).start()).rejects.toMatchObject({ code: 'ENFORCER_TOPIC_MISSING' });
    const stuck: TopicFeed = {
      offsets: async () => [{ partition: 0, low: '0', high: '5' }],
      follow: async (_t, on) => void setTimeout(() => on.crash(new Error('group coordinator gone'), false), 5),
      close: async () => {},
    };
    await expect(createEnforcer({ feed: stuck, keyring }).start()).rejects.toMatchObject({ code: 'ENFORCER_CONSUMER_CRASHED' });
  });
});
