import { describe, expect, it } from 'vitest';
import { describeResource, detectShape, resourceLevels, type ResourceShape } from '../../../detectors/resource-shapes.js';

const d = (r: string, shape: ResourceShape = 'auto') => describeResource(r, shape);

describe('resource shapes', () => {
  it('auto picks ARN, URL, email, path, else a bare id', () => {
    expect(detectShape('arn:aws:s3:::b/k')).toBe('arn');
    expect(detectShape('arn:aws:s3')).toBe('path');
    expect(detectShape('https://a.example/x')).toBe('url');
    expect(detectShape('s3://bucket/key')).toBe('url');
    expect(detectShape('url:www.example.com/x')).toBe('url');
    expect(detectShape('bob@acme.com')).toBe('email');
    expect(detectShape('email:bob@acme.com')).toBe('email');
    expect(detectShape('crm:customers/bob@acme.com')).toBe('path');
    expect(detectShape('git@github.com:org/repo')).toBe('path');
    expect(detectShape('db:prod.users')).toBe('path');
    expect(detectShape('i-0abc123')).toBe('id');
    expect(detectShape('vault')).toBe('id');
  });

  it('URL: scheme and host, then path folders; the last segment, query and fragment are not learned', () => {
    expect(d('https://api.example.com/v1/users/42?token=s3cret#x')).toEqual({
      shape: 'url', levels: ['https://api.example.com', 'https://api.example.com/v1', 'https://api.example.com/v1/users'], leaf: '42',
    });
    expect(d('https://api.example.com')).toMatchObject({ levels: ['https://api.example.com'], leaf: '' });
    expect(d('https://api.example.com/')).toMatchObject({ levels: ['https://api.example.com'], leaf: '' });
    expect(d('url:www.example.com/docs/page')).toMatchObject({ levels: ['url:www.example.com', 'url:www.example.com/docs'], leaf: 'page' });
    expect(d('url:https://www.example.com/a')).toMatchObject({ levels: ['url:https://www.example.com'], leaf: 'a' });
    // User info may be a credential: never part of what is learned (it ends up in Redis and in evidence).
    expect(d('https://alice:pw@git.example.com/acme/repo/x').levels).toEqual([
      'https://git.example.com', 'https://git.example.com/acme', 'https://git.example.com/acme/repo',
    ]);
    // Every URL no longer shares one prefix: two hosts are two level-1 items.
    expect(d('url:www.a.example/x').levels[0]).not.toBe(d('url:www.b.example/x').levels[0]);
  });

  it('email: the domain is learned, the mailbox is the leaf', () => {
    expect(d('bob.smith@acme.co.uk')).toEqual({ shape: 'email', levels: ['@acme.co.uk'], leaf: 'bob.smith' });
    expect(d('email:bob.smith@acme.co.uk')).toEqual({ shape: 'email', levels: ['email', 'email:@acme.co.uk'], leaf: 'bob.smith' });
    expect(d('email:alice@acme.co.uk').levels).toEqual(d('email:bob.smith@acme.co.uk').levels);
    expect(d('email:alice@evil.example').levels[1]).toBe('email:@evil.example');
    // Not an email: it is a path whose leaf happens to be an address.
    expect(describeResource('crm:customers/bob@acme.com', 'auto', 2)).toMatchObject({ shape: 'path', levels: ['crm', 'crm:customers'], leaf: 'bob@acme.com' });
  });

  it('ARN: service, then region and account, then resource type; the id is the leaf', () => {
    expect(d('arn:aws:ec2:us-east-1:123456789012:instance/i-0abc')).toEqual({
      shape: 'arn', levels: ['arn:aws:ec2', 'arn:aws:ec2:us-east-1:123456789012', 'arn:aws:ec2:us-east-1:123456789012:instance'], leaf: 'i-0abc',
    });
    expect(d('arn:aws:iam::123456789012:role/service-role/deployer')).toEqual({
      shape: 'arn', levels: ['arn:aws:iam', 'arn:aws:iam::123456789012', 'arn:aws:iam::123456789012:role'], leaf: 'service-role/deployer',
    });
    expect(d('arn:aws:lambda:eu-west-1:123456789012:function:resize')).toMatchObject({ levels: [
      'arn:aws:lambda', 'arn:aws:lambda:eu-west-1:123456789012', 'arn:aws:lambda:eu-west-1:123456789012:function',
    ], leaf: 'resize' });
    expect(d('arn:aws:sns:us-east-1:123456789012:alerts')).toMatchObject({ levels: ['arn:aws:sns', 'arn:aws:sns:us-east-1:123456789012'], leaf: 'alerts' });
    // S3 has no region or account: the bucket is where, then the key's folders.
    expect(d('arn:aws:s3:::reports/2024/q1.csv')).toEqual({
      shape: 'arn', levels: ['arn:aws:s3', 'arn:aws:s3:::reports', 'arn:aws:s3:::reports/2024'], leaf: 'q1.csv',
    });
    expect(d('arn:aws:s3:::reports')).toMatchObject({ levels: ['arn:aws:s3', 'arn:aws:s3:::reports'], leaf: '' });
    // Every ARN no longer shares `arn:aws`.
    expect(d('arn:aws:s3:::b').levels[0]).not.toBe(d('arn:aws:iam::1:role/x').levels[0]);
  });

  it('path: the system, then segments split on : / .; the last segment is the leaf', () => {
    expect(d('db:finance.ledger')).toEqual({ shape: 'path', levels: ['db', 'db:finance'], leaf: 'ledger' });
    expect(d('db:prod.users.v2')).toEqual({ shape: 'path', levels: ['db', 'db:prod', 'db:prod.users'], leaf: 'v2' });
    expect(d('crm:customers/123')).toEqual({ shape: 'path', levels: ['crm', 'crm:customers'], leaf: '123' });
    expect(d('a::b')).toMatchObject({ levels: ['a', 'a:'], leaf: 'b' });
    expect(d('db:')).toMatchObject({ levels: ['db'], leaf: '' });
    expect(d('x', 'path')).toMatchObject({ levels: ['x'], leaf: '' });
  });

  it('bare ids learn their kind, so a new instance id or opaque id is not new; a word is a name', () => {
    expect(d('i-0abc123def')).toEqual({ shape: 'id', levels: ['i-*'], leaf: 'i-0abc123def' });
    expect(d('i-0fff').levels).toEqual(d('i-0abc123def').levels);
    expect(d('cus_9Xk2').levels).toEqual(['cus_*']);
    expect(d('3f2a9c1e-77b0-4a43-9d2b-6c1f0e8a5b11').levels).toEqual(['*']);
    expect(d('a3f2c1d0').levels).toEqual(['*']);
    expect(d('42').levels).toEqual(['*']);
    expect(d('vault').levels).toEqual(['vault']);
    expect(d('my-bucket').levels).toEqual(['my-*']);
    // `name` learns the whole token: every bucket name counts.
    expect(d('my-bucket', 'name').levels).toEqual(['my-bucket']);
    expect(d('acme-logs', 'name').levels).not.toEqual(d('my-bucket', 'name').levels);
  });

  it('stops at depth, writes into the caller\'s scratch and returns the count', () => {
    const out: string[] = ['stale', 'stale', 'stale', 'stale'];
    expect(resourceLevels('https://h/a/b/c', 'auto', 2, out)).toBe(2);
    expect(out.slice(0, 2)).toEqual(['https://h', 'https://h/a']);
    expect(resourceLevels('db:prod.users', 'auto', 0, out)).toBe(0);
    expect(resourceLevels('arn:aws:s3:::b/k/x', 'auto', 1, out)).toBe(1);
    expect(out[0]).toBe('arn:aws:s3');
    // A forced shape that does not fit falls back to path.
    expect(describeResource('db:prod.users', 'email').levels).toEqual(['db', 'db:prod']);
    expect(describeResource('db:prod.users', 'arn').levels).toEqual(['db', 'db:prod']);
  });
});
