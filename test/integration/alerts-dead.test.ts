/**
 * `warden alerts dead list|redrive` against real Redis, with dead letters the
 * real dispatcher wrote (real broker) for a local HTTP receiver that fails
 * first and then recovers.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertId, createDispatcher, deadLetterKey, loadAlertsConfig, verifyWebhook, type Dispatcher } from '../../src/alerts/index.js';
import type { Detection } from '../../src/detector.js';
import { createLogger } from '../../src/log.js';
import { decisionRecord } from '../../src/pipeline/records.js';
import { BROKERS, createTopic, deletePrefix, kcatProduceLines, requireKafka, requireRedis, uniqueName, wardenCli } from './helpers.js';

const SECRET = 'opspack-hook-secret';
let redis: Redis;
let server: Server;
let port = 0;
let failing = true;
const requests: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
const id = uniqueName('opspack-dead');
const prefix = `wt-${id}`;
const topic = `d-${id}`;
let dir = '';
let dispatcher: Dispatcher | undefined;

beforeAll(async () => {
  await requireKafka();
  redis = await requireRedis();
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      requests.push({ headers: req.headers, body });
      res.writeHead(failing ? 503 : 200).end(failing ? 'down for maintenance' : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  dir = await mkdtemp(join(tmpdir(), 'warden-opspack-'));
  await writeFile(join(dir, 'alerts.yaml'), `receivers:
  - name: ops
    url: http://127.0.0.1:${port}/hook
    format: generic
    secretEnv: OPSPACK_HOOK_SECRET
    minSeverity: low
    maxAttempts: 2
    backoff: { base: 20ms, max: 40ms }
`);
  await createTopic(topic, 1);
});

afterAll(async () => {
  await dispatcher?.stop();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  if (redis) await deletePrefix(redis, prefix);
  redis?.disconnect();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) => wardenCli(['alerts', 'dead', ...args, '--config', dir], { WARDEN_REDIS_PREFIX: prefix, OPSPACK_HOOK_SECRET: SECRET });

function detection(identity: string, n: number): Detection {
  return {
    identity, detector: 'rate', rule: 'hard-limit', severity: 'high', decision: 'suspend', mode: 'enforce', scope: '*',
    ts: Date.now(), eventId: `ev-${id}-${n}`, action: 'email.send', resource: 'email:customer/1', chain: [], agentClass: 'support-bot',
    reason: `over limit (${n})`, evidence: { observed: 10, limit: 5, configVersion: 'v1' },
  };
}

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('warden alerts dead list|redrive (real Redis, real dispatcher, a receiver that fails then recovers)', () => {
  const ds = [detection('spiffe://acme.example/agent/a', 1), detection('spiffe://acme.example/agent/b', 2), detection('evil\u001b[31m-agent', 3)];
  const ids = ds.map((d) => alertId('ops', d));
  const opsKey = () => deadLetterKey(prefix, 'ops');

  it('lists what the dispatcher gave up, oldest first, control characters escaped; --json gives the stored entries', async () => {
    const loaded = await loadAlertsConfig(dir, { OPSPACK_HOOK_SECRET: SECRET });
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    dispatcher = createDispatcher({
      config: loaded.config, kafka: { brokers: BROKERS.split(','), clientId: 'warden-opspack-test', ssl: false, sasl: null },
      decisionsTopic: topic, groupPrefix: `g-${id}`, redis, redisPrefix: prefix, log: createLogger('silent'), fromBeginning: true, sessionTimeoutMs: 10_000,
    });
    await dispatcher.start();
    await kcatProduceLines(topic, ds.map((d) => ({ key: d.identity, value: JSON.stringify(decisionRecord(d, null)) })));
    await waitFor('three dead letters', async () => (await redis.llen(opsKey())) === 3);
    await dispatcher.stop();
    dispatcher = undefined;
    expect(requests).toHaveLength(6); // 2 attempts each
    // A receiver since removed from alerts.yaml still has a letter.
    const stored = JSON.parse((await redis.lindex(opsKey(), 0))!) as Record<string, unknown>;
    await redis.lpush(deadLetterKey(prefix, 'gone'), JSON.stringify({ ...stored, receiver: 'gone' }));

    const list = await cli('list');
    expect(list.code, list.stderr).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[4]).toBe('4 dead letters: gone 1, ops 3');
    expect(lines[0]).toContain(`gone  ${ids[2]!.slice(0, 16)}  suspend rate/hard-limit  evil\\u001b[31m-agent  (2 attempts, HTTP 503): `);
    expect(lines.slice(1, 4).map((l) => l.split('  ')[2])).toEqual(ids.map((i) => i.slice(0, 16)));
    expect(lines[1]).toContain('spiffe://acme.example/agent/a  (2 attempts, HTTP 503): gave up after 2 attempts');
    expect(list.stdout).not.toContain('\u001b');

    const json = await cli('list', '--json', '--receiver', 'ops');
    expect(json.code, json.stderr).toBe(0);
    const entries = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { alertId: string; receiver: string; status: number; detection: Detection });
    expect(entries.map((e) => e.alertId)).toEqual(ids);
    expect(entries.map((e) => e.detection.identity)).toEqual(ds.map((d) => d.identity));
    expect(entries.every((e) => e.receiver === 'ops' && e.status === 503)).toBe(true);
  }, 60_000);

  it('keeps every letter a redrive could not deliver, says why, and exits 1', async () => {
    const before = requests.length;
    const r = await cli('redrive', '--receiver', 'ops');
    expect(r.code).toBe(1);
    expect(r.stdout.match(/^failed /gm)).toHaveLength(3);
    expect(r.stdout).toContain('-> HTTP 503: down for maintenance [ALERT_ATTEMPT_FAILED]; kept');
    expect(r.stdout).toContain('re-sent 0 of 3 dead letters; 3 kept');
    expect(r.stderr).toContain('3 of 3 dead letters not re-sent; they are kept [ALERT_REDRIVE_FAILED]');
    expect(requests.length - before).toBe(3); // one attempt each
    expect(await redis.llen(opsKey())).toBe(3);
  });

  it('re-sends one letter by a prefix of its id, signed afresh with the same alert id, and removes only it', async () => {
    failing = false;
    const before = requests.length;
    const r = await cli('redrive', '--id', ids[0]!.slice(0, 12), '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual([
      { result: 'delivered', receiver: 'ops', alertId: ids[0], status: 200, code: null, reason: 'HTTP 200' },
    ]);
    const sent = requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.headers['x-warden-alert-id']).toBe(ids[0]);
    expect(verifyWebhook(SECRET, sent[0]!.headers as Record<string, string>, sent[0]!.body, Date.now() / 1000)).toEqual({ ok: true });
    expect(JSON.parse(sent[0]!.body)).toMatchObject({ alertId: ids[0], receiver: 'ops', folded: 0, detection: { identity: ds[0]!.identity, eventId: ds[0]!.eventId } });
    const left = (await redis.lrange(opsKey(), 0, -1)).map((s) => (JSON.parse(s) as { alertId: string }).alertId);
    expect(left.sort()).toEqual([ids[1], ids[2]].sort());
  });

  it('refuses an id that names no letter, sending nothing', async () => {
    const before = requests.length;
    const r = await cli('redrive', '--id', ids[0]!.slice(0, 12));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no dead letter with alert id ${ids[0]!.slice(0, 12)}`);
    expect(r.stderr).toContain('[ALERT_DEAD_LETTER_NOT_FOUND]');
    expect(requests.length).toBe(before);
    expect(await redis.llen(opsKey())).toBe(2);
  });

  it('--all delivers the rest and keeps the letter of a receiver alerts.yaml no longer has', async () => {
    const before = requests.length;
    const r = await cli('redrive', '--all');
    expect(r.code).toBe(1);
    expect(r.stdout.match(/^delivered /gm)).toHaveLength(2);
    expect(r.stdout).toContain('-> receiver "gone" is not in alerts.yaml [ALERT_RECEIVER_UNKNOWN]; kept');
    expect(r.stdout).toContain('re-sent 2 of 3 dead letters; 1 kept');
    expect(requests.slice(before).map((q) => q.headers['x-warden-alert-id'])).toEqual([ids[1], ids[2]]);
    expect(await redis.llen(opsKey())).toBe(0);
    expect(await redis.llen(deadLetterKey(prefix, 'gone'))).toBe(1);
    const list = await cli('list');
    expect(list.stdout.trimEnd().split('\n').at(-1)).toBe('1 dead letter: gone 1');
  });

  it('lists a letter it cannot read as malformed, and never sends or drops it', async () => {
    await redis.lpush(opsKey(), 'not json at all');
    const list = await cli('list', '--receiver', 'ops');
    expect(list.stdout).toContain('ops  ?  malformed  ?  (no attempt recorded): ');
    const before = requests.length;
    const r = await cli('redrive', '--receiver', 'ops');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('-> the stored entry holds no detection or resolve [ALERT_DEAD_LETTER_MALFORMED]; kept');
    expect(requests.length).toBe(before);
    expect(await redis.lrange(opsKey(), 0, -1)).toEqual(['not json at all']);
  });

  it('refuses usage mistakes with exit 2 and a config whose secret is not set', async () => {
    expect((await cli('redrive')).code).toBe(2);
    expect((await cli('redrive', '--all', '--receiver', 'ops')).code).toBe(2);
    expect((await cli('list', '--id', 'abcdef12')).code).toBe(2);
    expect((await cli('redrive', '--id', 'XYZ')).code).toBe(2);
    const noSecret = await wardenCli(['alerts', 'dead', 'redrive', '--all', '--config', dir], { WARDEN_REDIS_PREFIX: prefix, OPSPACK_HOOK_SECRET: '' });
    expect(noSecret.code).toBe(1);
    expect(noSecret.stderr).toContain('OPSPACK_HOOK_SECRET is not set');
    expect(noSecret.stderr).toContain('[CONFIG_INVALID]');
  });
});
