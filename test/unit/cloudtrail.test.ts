import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CLOUDTRAIL_CODES, mapRecord, outcomeOf, unpack } from '../../src/cloudtrail/map.js';
import { readCloudTrail } from '../../src/cloudtrail/read.js';
import { resourceOf } from '../../src/cloudtrail/resource.js';
import type { AgentEvent } from '../../src/event/types.js';
import type { StreamRecord } from '../../src/event/read-stream.js';
import * as warden from '../../src/index.js';

const FIXTURES = 'test/fixtures/cloudtrail';
const fixture = (name: string): string => readFileSync(`${FIXTURES}/${name}`, 'utf8');
const records = (JSON.parse(fixture('records.json')) as { Records: Array<Record<string, unknown>> }).Records;
const byId = (id: string): Record<string, unknown> => records.find((r) => r.eventID === id)!;

function mapped(record: unknown): AgentEvent {
  const r = mapRecord(record);
  if (!r.ok) throw new Error(`not mapped: ${r.error.code} ${r.error.message}`);
  return r.event;
}

async function readAll(bytes: Uint8Array | string): Promise<StreamRecord[]> {
  const out: StreamRecord[] = [];
  const chunks = typeof bytes === 'string' ? [Buffer.from(bytes)] : [bytes];
  for await (const rec of readCloudTrail(Readable.from(chunks))) out.push(rec);
  return out;
}

describe('CloudTrail record mapping', () => {
  it('an assumed-role S3 GetObject: the session, its role as class and parent, the object from resources[]', () => {
    const e = mapped(byId('f2b287f3-0df1-4961-a2f4-c4bdfed47657'));
    expect(e).toEqual({
      id: 'f2b287f3-0df1-4961-a2f4-c4bdfed47657',
      ts: Date.parse('2024-07-02T00:22:11Z'),
      identity: 'arn:aws:sts::111122223333:assumed-role/DataPipeline/etl-run-0412',
      agentClass: 'role/DataPipeline',
      chain: ['arn:aws:iam::111122223333:role/DataPipeline'],
      action: 's3:GetObject',
      // The object, not its bucket, though the bucket is listed too.
      resource: 'arn:aws:s3:::amzn-s3-demo-bucket/exports/2024/07/01.csv',
      instance: '192.0.2.10 [aws-sdk-java/2.20.160 Linux/5.10 OpenJDK_64-Bit_Server_VM/11.0.23]',
      outcome: 'allowed',
      attrs: {
        eventSource: 's3.amazonaws.com', region: 'us-west-2', account: '111122223333', identityType: 'AssumedRole',
        mfa: 'false', eventType: 'AwsApiCall', readOnly: true,
      },
    });
  });

  it('an IAM user ConsoleLogin: the user ARN, user/NAME, the service in region and account as resource; a failed one is denied', () => {
    const ok = mapped(byId('3fcfb182-98f8-4744-bd45-10a395ab61cb'));
    expect(ok.identity).toBe('arn:aws:iam::111122223333:user/Alice');
    expect(ok.agentClass).toBe('user/Alice');
    expect(ok.chain).toBeUndefined();
    expect(ok.action).toBe('signin:ConsoleLogin');
    expect(ok.resource).toBe('arn:aws:signin:us-east-1:111122223333:*');
    expect(ok.outcome).toBe('allowed');
    const failed = mapped(byId('d38ce1b3-4575-4cb8-a632-611b8243bfc3'));
    expect(failed.outcome).toBe('denied');
    expect(failed.attrs?.errorMessage).toBe('Failed authentication');
  });

  it('an AccessDenied call is denied, on the resource its parameters name, with the error in attrs', () => {
    const e = mapped(byId('a1b2c3d4-1111-4a2b-9c3d-0e1f2a3b4c5d'));
    expect(e.outcome).toBe('denied');
    expect(e.action).toBe('iam:CreateUser');
    expect(e.resource).toBe('arn:aws:iam::111122223333:user/backdoor');
    expect(e.attrs?.errorCode).toBe('AccessDenied');
    expect(e.attrs?.errorMessage).toMatch(/^User: \S+ is not authorized to perform: iam:CreateUser on resource/);
  });

  it('EC2 RunInstances refused with Client.UnauthorizedOperation is denied, on instance/* of its region', () => {
    const e = mapped(byId('b5a9a1c1-2222-4f7b-9e4a-1c2d3e4f5a6b'));
    expect(e.outcome).toBe('denied');
    expect(e.identity).toBe('arn:aws:iam::111122223333:user/Mateo');
    expect(e.action).toBe('ec2:RunInstances');
    expect(e.resource).toBe('arn:aws:ec2:us-east-2:111122223333:instance/*');
    expect(e.instance).toBe('198.51.100.23 aws-cli/2.13.5 Python/3.11.4 Darwin/23.5.0 exe/x86_64 command/ec2.run-instances');
  });

  it('root is the account root ARN with class root; an AWS service is aws-service:<invokedBy>', () => {
    const root = mapped(byId('c0ffee00-3333-4d5e-8f9a-0b1c2d3e4f50'));
    expect(root.identity).toBe('arn:aws:iam::111122223333:root');
    expect(root.agentClass).toBe('root');
    expect(root.resource).toBe('arn:aws:iam::111122223333:role/DataPipeline');
    const service = mapped(byId('d00dfeed-4444-4e5f-9a0b-1c2d3e4f5a61'));
    expect(service.identity).toBe('aws-service:cloudtrail.amazonaws.com');
    expect(service.agentClass).toBe('aws-service');
    expect(service.resource).toBe('arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    expect(service.instance).toBe('cloudtrail.amazonaws.com cloudtrail.amazonaws.com');
  });

  it('another errorCode is an error; with no resources[] the S3 object ARN is built from bucketName and key', () => {
    const e = mapped(byId('e1e2e3e4-5555-4a6b-8c7d-9e0f1a2b3c4d'));
    expect(e.outcome).toBe('error');
    expect(e.resource).toBe('arn:aws:s3:::amzn-s3-demo-bucket/exports/2024/07/02.csv');
  });

  it('an EventBridge event maps its detail: the role from resources[], sourceIdentity and MFA in attrs', () => {
    const [u] = unpack(JSON.parse(fixture('eventbridge-api-call.json')));
    expect(u!.at).toBe('detail');
    const e = mapped(u!.record);
    expect(e.identity).toBe('arn:aws:sts::111122223333:assumed-role/Orchestrator/orchestrator');
    expect(e.agentClass).toBe('role/Orchestrator');
    expect(e.action).toBe('sts:AssumeRole');
    expect(e.resource).toBe('arn:aws:iam::111122223333:role/DataPipeline');
    expect(e.attrs).toMatchObject({ sourceIdentity: 'alice@example.com', mfa: 'true' });
    expect(JSON.stringify(e)).not.toContain('sessionToken');
  });

  it.each([
    ['AccessDenied', 'denied'], ['AccessDeniedException', 'denied'], ['Client.AccessDenied', 'denied'],
    ['UnauthorizedOperation', 'denied'], ['Client.UnauthorizedOperation', 'denied'], ['AuthorizationError', 'denied'],
    ['ThrottlingException', 'error'], ['NoSuchKey', 'error'], ['Client.InvalidParameterValue', 'error'], ['UnauthorizedOperationX', 'error'],
  ])('errorCode %s is %s', (errorCode, outcome) => {
    expect(outcomeOf({ errorCode })).toBe(outcome);
  });

  it('builds ARNs for the common services from requestParameters, and falls back to any ARN there, then the service', () => {
    const w = { partition: 'aws', service: '', region: 'eu-west-1', account: '111122223333' };
    const r = (service: string, requestParameters: unknown, eventName = 'X', extra: Record<string, unknown> = {}): string =>
      resourceOf({ ...w, service }, eventName, { requestParameters, ...extra });
    expect(r('s3', { bucketName: 'b' })).toBe('arn:aws:s3:::b');
    expect(r('sqs', { queueUrl: 'https://sqs.eu-west-1.amazonaws.com/444455556666/jobs' })).toBe('arn:aws:sqs:eu-west-1:444455556666:jobs');
    expect(r('dynamodb', { tableName: 'Orders' })).toBe('arn:aws:dynamodb:eu-west-1:111122223333:table/Orders');
    expect(r('lambda', { functionName: 'resize' })).toBe('arn:aws:lambda:eu-west-1:111122223333:function:resize');
    expect(r('lambda', { functionName: 'arn:aws:lambda:eu-west-1:999988887777:function:f' })).toBe('arn:aws:lambda:eu-west-1:999988887777:function:f');
    expect(r('kms', { keyId: 'alias/app' })).toBe('arn:aws:kms:eu-west-1:111122223333:alias/app');
    expect(r('kms', { keyId: '1234abcd' })).toBe('arn:aws:kms:eu-west-1:111122223333:key/1234abcd');
    expect(r('secretsmanager', { secretId: 'prod/db' })).toBe('arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db');
    expect(r('ssm', { name: '/app/token' })).toBe('arn:aws:ssm:eu-west-1:111122223333:parameter/app/token');
    expect(r('logs', { logGroupName: '/aws/lambda/resize' })).toBe('arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/resize');
    expect(r('iam', { roleName: 'Admin', policyArn: 'arn:aws:iam::aws:policy/AdministratorAccess' })).toBe('arn:aws:iam::aws:policy/AdministratorAccess');
    expect(r('ec2', { instancesSet: { items: [{ instanceId: 'i-0abc' }] } })).toBe('arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc');
    expect(r('ec2', {}, 'RunInstances', { responseElements: { instancesSet: { items: [{ instanceId: 'i-0new' }] } } })).toBe('arn:aws:ec2:eu-west-1:111122223333:instance/i-0new');
    expect(r('sns', { topicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts', message: 'x' })).toBe('arn:aws:sns:eu-west-1:111122223333:alerts');
    expect(r('ec2', { filterSet: {} }, 'DescribeInstances')).toBe('arn:aws:ec2:eu-west-1:111122223333:*');
    expect(r('s3', null, 'ListBuckets')).toBe('arn:aws:s3:eu-west-1:111122223333:*');
  });

  it('names principals without an arn, in the partition of their region, and federated users by their user', () => {
    const base = { eventID: 'e', eventTime: '2024-07-02T00:00:00.123Z', eventSource: 'iam.amazonaws.com', eventName: 'ListUsers', awsRegion: 'cn-north-1' };
    const user = mapped({ ...base, userIdentity: { type: 'IAMUser', accountId: '111122223333', userName: 'HIDDEN_DUE_TO_SECURITY_REASONS' } });
    expect(user.identity).toBe('arn:aws-cn:iam::111122223333:user/HIDDEN_DUE_TO_SECURITY_REASONS');
    expect(user.ts).toBe(Date.parse('2024-07-02T00:00:00.123Z'));
    expect(user.resource).toBe('arn:aws-cn:iam:cn-north-1:111122223333:*');
    const fed = mapped({ ...base, userIdentity: {
      type: 'FederatedUser', arn: 'arn:aws:sts::111122223333:federated-user/bob', accountId: '111122223333',
      sessionContext: { sessionIssuer: { type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/broker', userName: 'broker' } },
    } });
    expect(fed).toMatchObject({ identity: 'arn:aws:sts::111122223333:federated-user/bob', agentClass: 'user/broker', chain: ['arn:aws:iam::111122223333:user/broker'] });
    const foreign = mapped({ ...base, userIdentity: { type: 'AWSAccount', accountId: '444455556666', principalId: 'AIDAEXAMPLE' } });
    expect(foreign).toMatchObject({ identity: 'aws-principal:444455556666:AIDAEXAMPLE', agentClass: 'account/444455556666' });
    const center = mapped({ ...base, userIdentity: { type: 'IdentityCenterUser', accountId: '111122223333', onBehalfOf: { userId: 'u-1', identityStoreArn: 'arn:aws:identitystore::111122223333:identitystore/d-1' } } });
    expect(center).toMatchObject({ identity: 'arn:aws:identitystore::111122223333:identitystore/d-1/user/u-1', agentClass: 'identity-center' });
    // A session's service caller is kept, the session still acts.
    const via = mapped({ ...base, userIdentity: { type: 'AssumedRole', arn: 'arn:aws:sts::111122223333:assumed-role/R/s', invokedBy: 'athena.amazonaws.com' } });
    expect(via).toMatchObject({ identity: 'arn:aws:sts::111122223333:assumed-role/R/s', agentClass: 'role/R' });
    expect(via.attrs?.invokedBy).toBe('athena.amazonaws.com');
  });

  it('clips a long user agent (so the instance stays within its limit) and a long errorMessage', () => {
    const e = mapped({ ...byId('3fcfb182-98f8-4744-bd45-10a395ab61cb'), userAgent: 'x'.repeat(5000), errorCode: 'E', errorMessage: 'm'.repeat(1000) });
    expect(e.instance).toBe(`203.0.113.7 ${'x'.repeat(512)}…`);
    expect(e.attrs?.errorMessage).toBe(`${'m'.repeat(256)}…`);
  });

  it('refuses what it cannot map with a specific code, naming the field', () => {
    const base = byId('3fcfb182-98f8-4744-bd45-10a395ab61cb');
    const code = (v: unknown): string => { const r = mapRecord(v); return r.ok ? 'ok' : `${r.error.code}${r.error.field ? ` ${r.error.field}` : ''}`; };
    expect(code({ ...base, eventID: undefined })).toBe('CLOUDTRAIL_FIELD_MISSING eventID');
    expect(code({ ...base, eventName: 7 })).toBe('CLOUDTRAIL_FIELD_INVALID eventName');
    expect(code({ ...base, eventTime: '2024-07-02' })).toBe('CLOUDTRAIL_FIELD_INVALID eventTime');
    expect(code({ ...base, userIdentity: undefined })).toBe('CLOUDTRAIL_NO_PRINCIPAL userIdentity');
    expect(code({ ...base, userIdentity: { type: 'AWSService' } })).toBe('CLOUDTRAIL_NO_PRINCIPAL userIdentity');
    expect(code('text')).toBe('CLOUDTRAIL_NOT_A_RECORD');
    // Mapped, then held to the event format like any event.
    expect(code({ ...base, eventID: 'x'.repeat(3000) })).toBe('EVENT_FIELD_TOO_LONG id');
  });
});

describe('reading CloudTrail input', () => {
  it('reads a delivered log file, gzipped or not, and an EventBridge event, as the same events', async () => {
    const file = fixture('records.json');
    const plain = await readAll(file);
    const gz = await readAll(gzipSync(file));
    expect(plain).toHaveLength(8);
    expect(plain.every((r) => r.result.ok)).toBe(true);
    expect(gz).toEqual(plain);
    expect(plain.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const eb = await readAll(fixture('eventbridge-api-call.json'));
    expect(eb.map((r) => r.result.ok && r.result.event?.action)).toEqual(['sts:AssumeRole']);
  });

  it('reads JSON Lines, objects back to back with no newline, and an array of events, split across chunks', async () => {
    const [a, b] = [records[0], records[1]].map((r) => JSON.stringify(r));
    const eb = JSON.stringify(JSON.parse(fixture('eventbridge-api-call.json')));
    const text = `${a}\n${b}${eb}[${a},${eb}]`;
    const chunks = [...Buffer.from(text)].reduce<Buffer[]>((acc, _b, i, all) => (i % 97 === 0 ? [...acc, Buffer.from(all.slice(i, i + 97))] : acc), []);
    const out: StreamRecord[] = [];
    for await (const rec of readCloudTrail(Readable.from(chunks))) out.push(rec);
    expect(out.map((r) => (r.result.ok ? r.result.event!.action : r.result.error.code))).toEqual([
      's3:GetObject', 'signin:ConsoleLogin', 'sts:AssumeRole', 's3:GetObject', 'sts:AssumeRole',
    ]);
  });

  it('finds where a value ends by brackets outside strings only: quotes, escapes and brackets inside strings do not count', async () => {
    const tricky = { ...records[1], userAgent: 'a "}{[" b \\', errorMessage: '\\"]}' };
    const text = JSON.stringify(tricky) + JSON.stringify(tricky);
    const out = await readAll(text);
    expect(out.map((r) => r.result.ok && r.result.event!.instance)).toEqual(Array(2).fill('203.0.113.7 a "}{[" b \\'));
  });

  it('counts every record it cannot map, with its code and where it is, and goes on', async () => {
    const out = await readAll(fixture('unmappable.jsonl'));
    const got = out.map((r) => (r.result.ok ? 'ok' : r.result.error.code));
    expect(got).toEqual([
      'CLOUDTRAIL_NO_PRINCIPAL', 'CLOUDTRAIL_FIELD_MISSING', 'CLOUDTRAIL_FIELD_INVALID', 'CLOUDTRAIL_NO_PRINCIPAL',
      'CLOUDTRAIL_NOT_A_RECORD', 'CLOUDTRAIL_NOT_A_RECORD', 'CLOUDTRAIL_NOT_A_RECORD', 'CLOUDTRAIL_DECODE', 'ok', 'CLOUDTRAIL_DECODE',
    ]);
    const message = (i: number): string => (out[i]!.result.ok ? '' : out[i]!.result.error.message);
    expect(message(1)).toBe('value 2 (eventID 11111111-aaaa-4bbb-8ccc-000000000002): field "eventTime" is required');
    expect(message(4)).toMatch(/EventBridge event of detail-type "EC2 Instance State-change Notification"/);
    expect(message(5)).toMatch(/digest file/);
    expect(message(6)).toMatch(/Insights event/);
    expect(message(7)).toMatch(/^byte 0x74 at byte \d+ starts no JSON object/);
    expect(message(9)).toMatch(/is not JSON/);
    expect(out.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('says so when the input ends inside a value or the gzip is corrupt', async () => {
    const file = fixture('records.json');
    const cut = await readAll(file.slice(0, 500));
    expect(cut.map((r) => !r.result.ok && r.result.error.message)).toEqual([expect.stringMatching(/ends inside the JSON value at byte 0/)]);
    const gz = gzipSync(file);
    const bad = await readAll(gz.subarray(0, gz.length - 40));
    expect(bad.at(-1)?.result).toMatchObject({ ok: false, error: { code: 'CLOUDTRAIL_DECODE' } });
  });

  it('is in the package for producers of their own: an EventBridge event to an encoded event', () => {
    const [u] = warden.unpackCloudTrail(JSON.parse(fixture('eventbridge-api-call.json')));
    const r = warden.mapCloudTrailRecord(u!.record);
    expect(r.ok && warden.decodeEvent(warden.encodeEvent(r.event))).toMatchObject({ ok: true, event: { action: 'sts:AssumeRole' } });
    expect(typeof warden.readCloudTrail).toBe('function');
  });

  it('README "Errors" lists every CLOUDTRAIL_ code, and "CloudTrail" says what each means', () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = (title: string): string => readme.split(/^## /m).find((s) => s.startsWith(title))!;
    for (const code of CLOUDTRAIL_CODES) {
      expect(section('Errors'), code).toContain(code);
      expect(section('CloudTrail'), code).toContain(`\`${code}\``);
    }
  });
});
