import type { AgentEvent, Outcome } from '../event/types.js';
import { validateEvent, type EventError, type EventResult } from '../event/validate.js';
import { resourceOf, type Where } from './resource.js';

/** AWS CloudTrail records as Warden events: README "CloudTrail" has the table. */

type Json = Record<string, unknown>;

/** The codes of records that cannot be mapped (README "Errors"); a mapped event that fails validation has its EVENT_* code. */
export type CloudTrailCode = 'CLOUDTRAIL_DECODE' | 'CLOUDTRAIL_NOT_A_RECORD' | 'CLOUDTRAIL_FIELD_MISSING' | 'CLOUDTRAIL_FIELD_INVALID' | 'CLOUDTRAIL_NO_PRINCIPAL';
export const CLOUDTRAIL_CODES: readonly CloudTrailCode[] = [
  'CLOUDTRAIL_DECODE', 'CLOUDTRAIL_NOT_A_RECORD', 'CLOUDTRAIL_FIELD_MISSING', 'CLOUDTRAIL_FIELD_INVALID', 'CLOUDTRAIL_NO_PRINCIPAL',
];

export function ctError(code: CloudTrailCode, message: string, field?: string): { ok: false; error: EventError } {
  return { ok: false, error: field === undefined ? { code, message } : { code, field, message } };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);

/** errorCodes that mean the caller was refused, not that the call failed. */
const DENIED = /AccessDenied|UnauthorizedOperation$|^AuthorizationError$|^AuthFailure$|^Forbidden$/i;
const USER_AGENT_CHARS = 512;
const MESSAGE_CHARS = 256;

export function outcomeOf(record: Json): Outcome {
  const code = str(record.errorCode);
  if (code) return DENIED.test(code) ? 'denied' : 'error';
  // A failed console sign-in has no errorCode, only this.
  if (obj(record.responseElements)?.ConsoleLogin === 'Failure') return 'denied';
  return 'allowed';
}

function partitionOf(arn: string | undefined, region: string): string {
  const m = /^arn:([a-z-]+):/.exec(arn ?? '');
  if (m) return m[1]!;
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

export interface Principal {
  identity: string;
  agentClass?: string;
  chain?: string[];
}

/** Who acted: README "CloudTrail", identity rules. */
export function principalOf(u: Json, partition: string): Principal | { missing: string } {
  const type = str(u.type) ?? 'Unknown';
  const account = str(u.accountId) ?? '';
  const issuer = obj(obj(u.sessionContext)?.sessionIssuer);
  const issuerArn = str(issuer?.arn);
  const issuerName = str(issuer?.userName);
  const arn = str(u.arn);
  const name = str(u.userName);

  if (type === 'AWSService') {
    const by = str(u.invokedBy);
    return by ? { identity: `aws-service:${by}`, agentClass: 'aws-service' } : { missing: 'an AWSService identity without invokedBy' };
  }
  let identity = arn;
  if (!identity && type === 'Root' && account) identity = `arn:${partition}:iam::${account}:root`;
  if (!identity && type === 'IAMUser' && account && name) identity = `arn:${partition}:iam::${account}:user/${name}`;
  const onBehalf = obj(u.onBehalfOf);
  if (!identity && str(onBehalf?.userId)) identity = `${str(onBehalf?.identityStoreArn) ?? `identitystore:${account}`}/user/${str(onBehalf?.userId)}`;
  if (!identity && str(u.principalId)) identity = `aws-principal:${account}:${str(u.principalId)}`;
  if (!identity) return { missing: `an identity of type ${type} with no arn, userName or principalId` };

  const p: Principal = { identity };
  if (issuerName && (issuer?.type === 'Role' || issuer?.type === 'IAMUser')) p.agentClass = `${issuer.type === 'Role' ? 'role' : 'user'}/${issuerName}`;
  else if (type === 'AssumedRole') {
    const m = /:assumed-role\/([^/]+)\//.exec(identity);
    if (m) p.agentClass = `role/${m[1]}`;
  } else if (type === 'IAMUser') {
    const user = name ?? /:user\/(?:.*\/)?([^/]+)$/.exec(identity)?.[1];
    if (user) p.agentClass = `user/${user}`;
  } else if (type === 'Root') p.agentClass = 'root';
  else if (type === 'AWSAccount' && account) p.agentClass = `account/${account}`;
  else if ((type === 'SAMLUser' || type === 'WebIdentityUser') && str(u.identityProvider)) {
    p.agentClass = `${type === 'SAMLUser' ? 'saml' : 'web-identity'}/${str(u.identityProvider)}`;
  } else if (type === 'IdentityCenterUser') p.agentClass = 'identity-center';
  // A session's credentials come from its role (or federating user): the issuer is its parent.
  if (issuerArn && issuerArn !== identity && (type === 'AssumedRole' || type === 'FederatedUser')) p.chain = [issuerArn];
  return p;
}

const clip = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n)}…`);

/** One CloudTrail record (the object in `Records[]`, or an EventBridge event's `detail`) as a validated Warden event. */
export function mapRecord(value: unknown): EventResult {
  const record = obj(value);
  if (!record) return ctError('CLOUDTRAIL_NOT_A_RECORD', 'a CloudTrail record must be a JSON object');
  if (record.eventType === 'AwsCloudTrailInsight') {
    return ctError('CLOUDTRAIL_NOT_A_RECORD', 'an Insights event (eventType AwsCloudTrailInsight) is about a trail, not one call by a principal');
  }
  for (const field of ['eventID', 'eventTime', 'eventSource', 'eventName'] as const) {
    const v = record[field];
    if (v === undefined || v === null || v === '') return ctError('CLOUDTRAIL_FIELD_MISSING', `field "${field}" is required`, field);
    if (typeof v !== 'string') return ctError('CLOUDTRAIL_FIELD_INVALID', `field "${field}" must be a string`, field);
  }
  const eventTime = record.eventTime as string;
  const ts = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(eventTime) ? Date.parse(eventTime) : NaN;
  if (!Number.isFinite(ts)) return ctError('CLOUDTRAIL_FIELD_INVALID', `field "eventTime" must be an ISO 8601 time like 2024-07-02T00:22:11Z`, 'eventTime');
  const u = obj(record.userIdentity);
  if (!u) return ctError('CLOUDTRAIL_NO_PRINCIPAL', 'the record has no userIdentity', 'userIdentity');

  const region = str(record.awsRegion) ?? '';
  const partition = partitionOf(str(u.arn), region);
  const principal = principalOf(u, partition);
  if ('missing' in principal) return ctError('CLOUDTRAIL_NO_PRINCIPAL', `userIdentity names no principal: ${principal.missing}`, 'userIdentity');

  const eventSource = record.eventSource as string;
  const eventName = record.eventName as string;
  const service = eventSource.replace(/\.amazonaws\.com(\.cn)?$/, '');
  const account = str(record.recipientAccountId) ?? str(u.accountId) ?? '';
  const where: Where = { partition, service, region, account };

  const ip = str(record.sourceIPAddress);
  const ua = str(record.userAgent);
  const instance = [ip, ua && clip(ua, USER_AGENT_CHARS)].filter(Boolean).join(' ');

  const attrs: Json = {};
  const put = (k: string, v: unknown): void => {
    if (v !== undefined && v !== null && v !== '') attrs[k] = v;
  };
  put('eventSource', eventSource);
  put('region', region);
  put('account', account);
  put('identityType', str(u.type));
  put('errorCode', str(record.errorCode));
  const message = str(record.errorMessage);
  if (message) put('errorMessage', clip(message, MESSAGE_CHARS));
  put('invokedBy', u.type === 'AWSService' ? undefined : str(u.invokedBy));
  const session = obj(u.sessionContext);
  put('sourceIdentity', str(session?.sourceIdentity));
  put('mfa', obj(session?.attributes)?.mfaAuthenticated);
  put('eventType', str(record.eventType));
  if (typeof record.readOnly === 'boolean') attrs.readOnly = record.readOnly;

  const event: AgentEvent = {
    id: record.eventID as string,
    ts,
    identity: principal.identity,
    action: `${service}:${eventName}`,
    resource: resourceOf(where, eventName, record),
    outcome: outcomeOf(record),
    attrs,
  };
  if (principal.agentClass) event.agentClass = principal.agentClass;
  if (principal.chain) event.chain = principal.chain;
  if (instance) event.instance = instance;
  return validateEvent(event);
}

export interface Unpacked {
  /** Where in the JSON value: `Records[3]`, `detail`, `[2].detail`, or empty for a bare record. */
  at: string;
  record?: unknown;
  error?: EventError;
}

/** EventBridge's detail-types for CloudTrail events all end so: "AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail", ... */
const VIA_CLOUDTRAIL = / via CloudTrail$/;

function isRecordLike(o: Json): boolean {
  return 'eventVersion' in o || ('eventID' in o && 'eventName' in o);
}

/**
 * The records in one JSON value: a file CloudTrail delivers to S3
 * (`{"Records":[…]}`), an EventBridge event, a bare record, or an array of
 * any of these.
 */
export function unpack(value: unknown, at = ''): Unpacked[] {
  if (Array.isArray(value) && at === '') return value.flatMap((v, i) => unpack(v, `[${i}]`));
  const o = obj(value);
  const notRecord = (message: string): Unpacked[] => [{ at, error: { code: 'CLOUDTRAIL_NOT_A_RECORD', message } }];
  if (!o) return notRecord(`expected a CloudTrail file, record or EventBridge event, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`);
  if (Array.isArray(o.Records)) return o.Records.map((record, i) => ({ at: `${at}Records[${i}]`, record }));
  if ('detail-type' in o) {
    const type = o['detail-type'];
    if (typeof type !== 'string' || !VIA_CLOUDTRAIL.test(type)) return notRecord(`an EventBridge event of detail-type ${JSON.stringify(clip(String(type), 80))}, not one CloudTrail delivers (… via CloudTrail)`);
    return [{ at: `${at}${at ? '.' : ''}detail`, record: o.detail }];
  }
  if (isRecordLike(o)) return [{ at, record: o }];
  if ('digestStartTime' in o) return notRecord('a CloudTrail digest file, which holds hashes of log files, not events');
  return notRecord('a JSON object that is neither a CloudTrail file ({"Records":[…]}), a record, nor an EventBridge event');
}
