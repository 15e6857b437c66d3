import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The built CLI, run as a user runs it (npm test builds first).
function warden(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/warden.js', ...args], { maxBuffer: 1 << 26, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

type Rec = Record<string, unknown>;
const samples = (JSON.parse(readFileSync('test/fixtures/cloudtrail/records.json', 'utf8')) as { Records: Rec[] }).Records;
const getObject = samples[0]!; // assumed-role S3 GetObject
const runInstances = samples[4]!; // IAM user, Client.UnauthorizedOperation
const createUser = samples[3]!; // AccessDenied

const START = Date.parse('2024-07-02T00:00:00Z');
const at = (ms: number): string => new Date(START + ms).toISOString().replace('.000Z', 'Z');
const PIPELINE = 'arn:aws:sts::111122223333:assumed-role/DataPipeline/etl-run-0412';
const ATTACKER = 'arn:aws:iam::111122223333:user/Mateo';

const MIN = 60_000;
const HOUR = 60 * MIN;

/**
 * 26 hours of a benign pipeline role reading its bucket every 5 minutes and a
 * CI user listing instances every 10; then, a day in (Warden judges denied
 * outcomes once it knows an identity for a day), the CI user's leaked key
 * probes from a new address: 30 calls in 4 minutes, 24 of them refused (IAM,
 * EC2, S3).
 */
function trail(): Rec[] {
  const out: Rec[] = [];
  for (let m = 0; m < 26 * 60; m += 5) {
    out.push({ ...getObject, eventID: `benign-${m}`, eventTime: at(m * MIN), requestParameters: { bucketName: 'amzn-s3-demo-bucket', key: `exports/${m}.csv` }, resources: undefined });
  }
  for (let m = 0; m < 25 * 60; m += 10) {
    out.push({ ...runInstances, eventName: 'DescribeInstances', eventID: `ci-${m}`, eventTime: at(m * MIN + 7_000), requestParameters: { filterSet: {} }, errorCode: undefined, errorMessage: undefined });
  }
  const probes: Array<[Rec, Rec]> = [
    [createUser, { userName: 'backdoor' }],
    [runInstances, runInstances.requestParameters as Rec],
    [{ ...createUser, eventSource: 's3.amazonaws.com', eventName: 'ListBuckets' }, {}],
  ];
  for (let i = 0; i < 30; i++) {
    const [base, params] = probes[i % 3]!;
    const refused = i % 5 !== 0;
    out.push({
      ...base,
      userIdentity: runInstances.userIdentity,
      eventID: `probe-${i}`,
      eventTime: at(25 * HOUR + 10 * MIN + i * 8_000),
      requestParameters: params,
      sourceIPAddress: '203.0.113.250',
      errorCode: refused ? (base === runInstances ? 'Client.UnauthorizedOperation' : 'AccessDenied') : undefined,
      errorMessage: undefined,
    });
  }
  out.sort((a, b) => String(a.eventTime).localeCompare(String(b.eventTime)));
  // A delivered file is not in event order: neighbours swapped, a few minutes apart.
  for (let i = 0; i + 1 < out.length; i += 2) [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
  return out;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-cloudtrail-'));
  await mkdir(join(dir, 'empty-config'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('warden replay --format cloudtrail', () => {
  it('flags the denied-heavy attacker session and not the benign role, from a delivered .json.gz file', async () => {
    const file = join(dir, '111122223333_CloudTrail_us-east-2_20240702T0200Z_Mu0KsOhtH1ar15ZZ.json.gz');
    await writeFile(file, gzipSync(JSON.stringify({ Records: trail() })));
    const r = await warden(['replay', '--format', 'cloudtrail', file, '--config', 'examples/cloudtrail/config', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec);
    const summary = lines.at(-1)!;
    expect(summary).toMatchObject({ kind: 'summary', records: 492, events: 492, invalid: 0, identities: 2 });
    const detections = lines.filter((l) => l.kind === 'detection');
    const who = (d: Rec): string => `${d.identity} ${d.detector}/${d.rule}`;
    expect(detections.filter((d) => d.identity !== ATTACKER).map(who)).toEqual([]);
    // The manifest's scope (iam:CreateUser is not ec2:Describe*) suspends it; the refusals alert.
    expect(detections.map((d) => `${d.detector}/${d.rule}`)).toEqual(expect.arrayContaining(['scope/outside-manifest', 'rate/denied']));
    expect(detections.every((d) => d.agentClass === 'user/Mateo')).toBe(true);
    const suspends = lines.filter((l) => l.kind === 'command' && l.type === 'suspend');
    expect(suspends.map((c) => c.identity)).toEqual([ATTACKER]);
  });

  it('with no manifests, names the classes it sees as unknown and still flags the refusals', async () => {
    const file = join(dir, 'bare.json');
    await writeFile(file, JSON.stringify({ Records: trail() }));
    const r = await warden(['replay', '--format', 'cloudtrail', file, '--config', join(dir, 'empty-config'), '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const detections = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec).filter((l) => l.kind === 'detection');
    const rules = (id: string): string[] => [...new Set(detections.filter((d) => d.identity === id).map((d) => `${d.detector}/${d.rule}`))].sort();
    expect(rules(PIPELINE)).toEqual(['scope/unknown-class']);
    expect(rules(ATTACKER)).toEqual(expect.arrayContaining(['rate/denied', 'scope/unknown-class']));
  });

  it('gives the same decisions as `warden cloudtrail` to JSON Lines and a plain replay, and reports what it cannot map', async () => {
    const file = join(dir, 'mixed.json');
    const junk = readFileSync('test/fixtures/cloudtrail/unmappable.jsonl', 'utf8');
    await writeFile(file, `${JSON.stringify({ Records: trail() }, null, 2)}\n${junk}`);
    const direct = await warden(['replay', '--format', 'cloudtrail', '--input', file, '--quiet']);
    expect(direct.code, direct.stderr).toBe(0);
    const invalid = direct.stdout.split('\n').filter((l) => l.includes('"kind":"invalid"')).map((l) => JSON.parse(l) as Rec);
    expect(invalid.map((l) => l.code)).toEqual([
      'CLOUDTRAIL_NO_PRINCIPAL', 'CLOUDTRAIL_FIELD_MISSING', 'CLOUDTRAIL_FIELD_INVALID', 'CLOUDTRAIL_NO_PRINCIPAL',
      'CLOUDTRAIL_NOT_A_RECORD', 'CLOUDTRAIL_NOT_A_RECORD', 'CLOUDTRAIL_NOT_A_RECORD', 'CLOUDTRAIL_DECODE', 'CLOUDTRAIL_DECODE',
    ]);
    expect(JSON.parse(direct.stdout.trim().split('\n').at(-1)!)).toMatchObject({ records: 502, invalid: 9 });

    const mapped = await warden(['cloudtrail', file]);
    expect(mapped.code).toBe(0);
    expect(mapped.stderr).toMatch(/502 records: 493 mapped, 9 not mapped \(CLOUDTRAIL_DECODE 2, CLOUDTRAIL_FIELD_INVALID 1, CLOUDTRAIL_FIELD_MISSING 1, CLOUDTRAIL_NOT_A_RECORD 3, CLOUDTRAIL_NO_PRINCIPAL 2\)/);
    expect(mapped.stderr).toContain('record 494 not mapped: CLOUDTRAIL_FIELD_MISSING: value 3 (eventID 11111111-aaaa-4bbb-8ccc-000000000002): field "eventTime" is required');
    const events = join(dir, 'events.jsonl');
    await writeFile(events, mapped.stdout);
    const plain = await warden(['replay', '--input', events, '--quiet']);
    const decisions = (out: string): string[] => out.split('\n').filter((l) => l.includes('"kind":"detection"') || l.includes('"kind":"command"'));
    expect(decisions(plain.stdout).length).toBeGreaterThan(0);
    expect(decisions(plain.stdout)).toEqual(decisions(direct.stdout));
  });

  it('refuses an unknown --format and exits 1 when nothing maps', async () => {
    const bad = await warden(['replay', '--format', 'cef', 'x.json']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--format must be warden or cloudtrail, got "cef"/);
    const none = await warden(['cloudtrail', 'test/fixtures/cloudtrail/unmappable.jsonl']);
    expect(none.code).toBe(0); // one of its records maps
    const empty = join(dir, 'digest.json');
    await writeFile(empty, '{"digestStartTime":"2024-07-02T00:00:00Z","logFiles":[]}');
    const digest = await warden(['cloudtrail', empty]);
    expect(digest.code).toBe(1);
    expect(digest.stderr).toMatch(/1 records: 0 mapped, 1 not mapped \(CLOUDTRAIL_NOT_A_RECORD 1\)/);
  });
});
