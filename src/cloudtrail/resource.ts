/** The ARN a CloudTrail record acts on. README "CloudTrail" lists the order. */

type Json = Record<string, unknown>;

export interface Where {
  partition: string;
  service: string;
  region: string;
  account: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
const isArn = (v: unknown): v is string => typeof v === 'string' && v.startsWith('arn:');

/** `resources[]` as AWS lists it: the ARN no other listed ARN extends (an S3 object over its bucket), first such. */
function listed(resources: unknown): string | undefined {
  if (!Array.isArray(resources)) return undefined;
  const arns: string[] = [];
  for (const r of resources) {
    const arn = obj(r)?.ARN;
    if (isArn(arn)) arns.push(arn);
  }
  return arns.find((a) => !arns.some((b) => b !== a && b.startsWith(a)));
}

function firstInstance(set: unknown): string | undefined {
  const items = obj(set)?.items;
  if (!Array.isArray(items)) return undefined;
  for (const item of items) {
    const id = str(obj(item)?.instanceId);
    if (id) return id;
  }
  return undefined;
}

/** requestParameters of the common services, as the ARN they name. */
function fromParameters(w: Where, eventName: string, req: Json, res: Json | undefined): string | undefined {
  const { partition: p, region: r, account: a } = w;
  const named = (v: unknown, build: (name: string) => string): string | undefined => {
    const s = str(v);
    if (!s) return undefined;
    return isArn(s) ? s : build(s);
  };
  switch (w.service) {
    case 's3': {
      const bucket = str(req.bucketName);
      if (!bucket) return undefined;
      const key = str(req.key);
      return key ? `arn:${p}:s3:::${bucket}/${key}` : `arn:${p}:s3:::${bucket}`;
    }
    case 'iam':
      return (isArn(req.policyArn) ? req.policyArn : undefined)
        || named(req.roleName, (n) => `arn:${p}:iam::${a}:role/${n}`)
        || named(req.userName, (n) => `arn:${p}:iam::${a}:user/${n}`)
        || named(req.groupName, (n) => `arn:${p}:iam::${a}:group/${n}`)
        || named(req.instanceProfileName, (n) => `arn:${p}:iam::${a}:instance-profile/${n}`);
    case 'lambda':
      return named(req.functionName, (n) => `arn:${p}:lambda:${r}:${a}:function:${n}`);
    case 'dynamodb':
      return named(req.tableName, (n) => `arn:${p}:dynamodb:${r}:${a}:table/${n}`);
    case 'kms':
      return named(req.keyId, (n) => (n.startsWith('alias/') ? `arn:${p}:kms:${r}:${a}:${n}` : `arn:${p}:kms:${r}:${a}:key/${n}`));
    case 'secretsmanager':
      return named(req.secretId, (n) => `arn:${p}:secretsmanager:${r}:${a}:secret:${n}`);
    case 'ssm':
      return named(req.name, (n) => `arn:${p}:ssm:${r}:${a}:parameter${n.startsWith('/') ? '' : '/'}${n}`);
    case 'logs':
      return named(req.logGroupName, (n) => `arn:${p}:logs:${r}:${a}:log-group:${n}`);
    case 'sqs': {
      // https://sqs.us-east-1.amazonaws.com/111122223333/queue-name
      const m = /^https?:\/\/[^/]+\/(\d{12})\/([^/?#]+)/.exec(str(req.queueUrl) ?? '');
      return m ? `arn:${p}:sqs:${r}:${m[1]}:${m[2]}` : undefined;
    }
    case 'ec2': {
      const id = firstInstance(req.instancesSet) ?? str(req.instanceId) ?? (eventName === 'RunInstances' ? firstInstance(res?.instancesSet) ?? '*' : undefined);
      return id ? `arn:${p}:ec2:${r}:${a}:instance/${id}` : undefined;
    }
    default:
      return undefined;
  }
}

/** The first top-level requestParameters value that is an ARN (sns topicArn, sts roleArn, ...). */
function anyArn(req: Json): string | undefined {
  for (const key in req) if (isArn(req[key])) return req[key] as string;
  return undefined;
}

/**
 * `resources[]`, else the service's request parameters, else any ARN among
 * them, else the service in the region and account: `arn:aws:signin:us-east-1:111122223333:*`.
 */
export function resourceOf(w: Where, eventName: string, record: Json): string {
  const req = obj(record.requestParameters);
  return listed(record.resources)
    ?? (req && (fromParameters(w, eventName, req, obj(record.responseElements)) || anyArn(req)))
    ?? `arn:${w.partition}:${w.service}:${w.region}:${w.account}:*`;
}
