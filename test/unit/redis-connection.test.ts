import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/service/start-gate.js';
import { settingsFromEnv } from '../../src/service/settings.js';
import { classBaseKey, deadLetterCountKey, deadLetterKey, fleetActiveKey, fleetOpenKey, identityKey, partitionKey } from '../../src/state/keys.js';
import { hashTag, isClusterUrl, parseClusterUrl } from '../../src/state/redis-connection.js';
import { toWardenError } from '../../src/state/redis-store.js';

describe('REDIS_URL for a Redis Cluster', () => {
  it('redis+cluster:// names the seed nodes, with credentials and TLS like redis:// and rediss://', () => {
    expect(parseClusterUrl('redis+cluster://127.0.0.1:7101,127.0.0.1:7102')).toEqual({ nodes: [{ host: '127.0.0.1', port: 7101 }, { host: '127.0.0.1', port: 7102 }], tls: false });
    expect(parseClusterUrl('rediss+cluster://warden:p%40ss@cache-0.internal:6379,[::1]:6380/')).toEqual({
      nodes: [{ host: 'cache-0.internal', port: 6379 }, { host: '::1', port: 6380 }], tls: true, username: 'warden', password: 'p@ss',
    });
    expect(parseClusterUrl('redis+cluster://:s3cret@h:1')).toEqual({ nodes: [{ host: 'h', port: 1 }], tls: false, password: 's3cret' });
    expect(isClusterUrl('redis://127.0.0.1:6379')).toBe(false);
    expect(isClusterUrl('REDIS+CLUSTER://h:1')).toBe(true);
  });

  it('refuses what is not a node list, by name, without showing the password', () => {
    for (const [url, why] of [
      ['redis+cluster://', 'no nodes'], ['redis+cluster://h:1/3', 'only database 0'], ['redis+cluster://h', '"h" is not host:port'],
      ['redis+cluster://h:1,,h:2', '"" is not host:port'], ['redis+cluster://h:99999', 'is not host:port'],
    ] as const) {
      expect(() => parseClusterUrl(url)).toThrow(why);
    }
    expect(() => parseClusterUrl('redis+cluster://u:s3cret@h')).toThrow(/\[redacted\]@h/);
    try {
      parseClusterUrl('redis+cluster://u:s3cret@h');
    } catch (err) {
      expect((err as Error).message).not.toContain('s3cret');
    }
    expect(() => settingsFromEnv({ REDIS_URL: 'redis+cluster://h', WARDEN_COMMAND_KEYS: `k=${Buffer.alloc(32, 1).toString('base64')}` })).toThrow(/REDIS_URL.*not host:port/);
  });

  it('start-up lines show the nodes and never the password', () => {
    expect(redactUrl('redis+cluster://u:s3cret@10.0.0.1:7101,10.0.0.2:7101')).toBe('[redacted]@10.0.0.1:7101,10.0.0.2:7101');
    expect(redactUrl('redis+cluster://u:s3cret@10.0.0.1:7101')).toBe('redis+cluster://u:[redacted]@10.0.0.1:7101');
    expect(redactUrl('redis+cluster://s3cret@10.0.0.1:7101')).toBe('redis+cluster://[redacted]@10.0.0.1:7101');
  });
});

describe('hash tags: which keys share a cluster slot', () => {
  it('is the first non-empty {...}, else the whole key, as Redis Cluster reads it', () => {
    expect(hashTag('a:{p:t:0}:i:x')).toBe('p:t:0');
    expect(hashTag('a:{}:x')).toBe('a:{}:x');
    expect(hashTag('a:{x')).toBe('a:{x');
    expect(hashTag('{a}{b}')).toBe('a');
  });

  it('a partition\'s keys share one tag whatever the identity; the class store, the fleet guard and each receiver\'s dead letters have their own', () => {
    const base = partitionKey('warden', 'agent.actions:3');
    expect(hashTag(identityKey(base, 'x}{y'))).toBe(hashTag(base));
    expect(hashTag(classBaseKey('warden'))).toBe('c');
    expect(hashTag(fleetActiveKey('warden', 'a}b'))).toBe(hashTag(fleetOpenKey('warden', 'other')));
    expect(hashTag(fleetActiveKey('warden', 'x'))).toBe('f');
    // The list keeps its documented name; the count is tagged with it, so the two are one slot.
    expect(deadLetterKey('warden', 'ops')).toBe('warden:alerts:dead:ops');
    expect(hashTag(deadLetterCountKey('warden', 'ops'))).toBe(hashTag(deadLetterKey('warden', 'ops')));
  });
});

describe('Redis errors a retry outlives', () => {
  it('NOSCRIPT (a node restarted without its script cache) and CLUSTERDOWN are retriable; a script error is not', () => {
    const reply = (msg: string) => Object.assign(new Error(msg), { name: 'ReplyError' });
    expect(toWardenError(reply('NOSCRIPT No matching script. Please use EVAL.'), 'apply').retriable).toBe(true);
    expect(toWardenError(reply('CLUSTERDOWN The cluster is down'), 'apply').retriable).toBe(true);
    expect(toWardenError(reply('ERR user_script:1: boom'), 'apply').retriable).toBe(false);
    expect(toWardenError(new Error('Connection is closed.'), 'apply')).toMatchObject({ code: 'STATE_REDIS', retriable: true });
  });
});
