import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alertId, createDispatcher, deadLetterCountKey, dedupKey, loadAlertsConfig, readDeadLetters, verifyWebhook,
  type AlertsConfig, type Dispatcher, type DispatcherOptions,
} from '../../src/alerts/index.js';
import { parseKeyring } from '../../src/commands/keyring.js';
import { createControl, encodeControl } from '../../src/control/create.js';
import { DETECTORS } from '../../src/alerts/config.js';
import { pagerdutyProblems, slackProblems } from '../contract/receivers.contract.js';
import type { Detection } from '../../src/detector.js';
import { createLogger } from '../../src/log.js';
import { commandRecord, decisionRecord } from '../../src/pipeline/records.js';
import type { BreakerCommand } from '../../src/breaker/types.js';
import {
  BROKERS, createTopic, deletePrefix, kafkaAdmin, kcatProduceLines, requireKafka, requireRedis, startWarden, stopWarden, uniqueName, waitForGroupCaughtUp,
  type WardenProcess,
} from './helpers.js';

const SECRET = 'test-hook-secret';
let redis: Redis;
const prefixes: string[] = [];
const dispatchers: Dispatcher[] = [];
const receivers: Receiver[] = [];
const dirs: string[] = [];
const wardens: WardenProcess[] = [];

beforeAll(async () => {
  await requireKafka();
  redis = await requireRedis();
});
afterAll(async () => {
  for (const w of wardens) await stopWarden(w);
  await Promise.all(dispatchers.map((d) => d.stop()));
  await Promise.all(receivers.map((r) => r.close()));
  for (const p of prefixes) await deletePrefix(redis, p);
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  redis?.disconnect();
});

interface Request { at: number; path: string; headers: IncomingHttpHeaders; body: string; json: Record<string, any>; reply: string }
type Reply = { status: number; headers?: Record<string, string> } | 'hang';

/** A real HTTP receiver on 127.0.0.1; `respond` scripts each answer. */
class Receiver {
  readonly requests: Request[] = [];
  private server: Server | undefined;
  port = 0;
  constructor(private readonly respond: (req: Omit<Request, 'reply'>, n: number) => Reply) {
    receivers.push(this);
  }

  async listen(port = 0): Promise<this> {
    const server = createServer((req, res: ServerResponse) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        const r = { at: Date.now(), path: req.url ?? '', headers: req.headers, body, json: JSON.parse(body) };
        const reply = this.respond(r, this.requests.length);
        this.requests.push({ ...r, reply: reply === 'hang' ? 'hang' : String(reply.status) });
        if (reply !== 'hang') res.writeHead(reply.status, reply.headers).end(reply.status < 300 ? 'ok' : 'nope');
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }
}

async function alertsConfig(yaml: string): Promise<AlertsConfig> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-alerts-'));
  dirs.push(dir);
  await writeFile(join(dir, 'alerts.yaml'), yaml);
  const r = await loadAlertsConfig(dir, { HOOK_SECRET: SECRET });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

function receiverYaml(name: string, url: string, extra = '', minSeverity = 'low'): string {
  return `  - name: ${name}\n    url: ${url}\n    format: generic\n    secretEnv: HOOK_SECRET\n    minSeverity: ${minSeverity}\n${extra}`;
}

interface Run { topic: string; prefix: string; groupPrefix: string }

async function newRun(): Promise<Run> {
  const id = uniqueName('alerts');
  const run = { topic: `d-${id}`, prefix: `wt-${id}`, groupPrefix: `g-${id}` };
  prefixes.push(run.prefix);
  await createTopic(run.topic, 2);
  return run;
}

async function startDispatcher(run: Run, config: AlertsConfig, extra: Partial<DispatcherOptions> = {}): Promise<Dispatcher> {
  const d = createDispatcher({
    config, kafka: { brokers: BROKERS.split(','), clientId: 'warden-alerts-test', ssl: false, sasl: null },
    decisionsTopic: run.topic, groupPrefix: run.groupPrefix, redis, redisPrefix: run.prefix,
    log: createLogger(process.env.ALERTS_TEST_LOG ?? 'silent'), fromBeginning: true, sessionTimeoutMs: 10_000, ...extra,
  });
  dispatchers.push(d);
  await d.start();
  return d;
}

let seq = 0;
function detection(identity: string, over: Partial<Detection> = {}): Detection {
  seq++;
  return {
    identity, detector: 'rate', rule: 'hard-limit', severity: 'high', decision: 'suspend', mode: 'enforce', scope: '*',
    ts: Date.now(), eventId: `ev-${seq}-${Math.random().toString(36).slice(2, 8)}`, action: 'db.write', resource: 'db:orders',
    chain: [], agentClass: 'bot', reason: `over limit (${seq})`, evidence: { observed: 10, limit: 5, configVersion: 'v1' }, ...over,
  };
}

const publish = (run: Run, ds: Detection[]) =>
  kcatProduceLines(run.topic, ds.map((d) => ({ key: d.identity, value: JSON.stringify(decisionRecord(d, null)) })));

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const delivered = (r: Receiver, path = '/hook') => r.requests.filter((q) => q.reply.startsWith('2') && q.path === path);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('on-call webhooks against a real broker, Redis and HTTP receiver', () => {
  it('retries through 503, a timeout and 429 (honouring Retry-After), then delivers every alert signed; other receivers are not held up', async () => {
    const run = await newRun();
    const script: Reply[] = [{ status: 503 }, 'hang', { status: 429, headers: { 'Retry-After': '1' } }];
    const rx = await new Receiver((req, n) => (req.path === '/ops' ? (script.shift() ?? { status: 200 }) : { status: 200 })).listen();
    const config = await alertsConfig(
      'receivers:\n' +
      receiverYaml('ops', rx.url('/ops'), '    timeout: 300ms\n    maxAttempts: 10\n    backoff: { base: 50ms, max: 200ms }\n') +
      receiverYaml('chat', rx.url('/chat'), '', 'critical') +
      'grouping: { window: 0 }\n',
    );
    const dispatcher = await startDispatcher(run, config);
    const ds = [detection('a-1'), detection('a-2', { severity: 'critical' }), detection('a-3', { detector: 'scope', rule: 'outside-manifest' })];
    await publish(run, ds);

    await waitFor('3 alerts delivered to ops', () => delivered(rx, '/ops').length === 3);
    const ops = rx.requests.filter((q) => q.path === '/ops');
    expect(ops.map((q) => q.reply)).toEqual(['503', 'hang', '429', '200', '200', '200']);
    // The retry after the 429 waited for Retry-After: 1.
    expect(ops[3]!.at - ops[2]!.at).toBeGreaterThanOrEqual(950);
    expect(ops[2]!.at - ops[1]!.at).toBeGreaterThanOrEqual(290); // the timeout
    const ids = new Set(delivered(rx, '/ops').map((q) => q.json.alertId));
    expect(ids).toEqual(new Set(ds.map((d) => alertId('ops', d))));
    for (const q of ops) expect(verifyWebhook(SECRET, q.headers, q.body, Date.now() / 1000)).toEqual({ ok: true });
    expect(verifyWebhook('forged', ops[0]!.headers, ops[0]!.body, Date.now() / 1000)).toEqual({ ok: false, reason: 'bad signature' });
    expect(delivered(rx, '/ops').map((q) => q.json.detection)).toEqual(expect.arrayContaining(ds.map((d) => ({ ...d, commandId: null }))));

    // chat only takes critical ones, and got its alert while ops was still failing.
    const chat = rx.requests.filter((q) => q.path === '/chat');
    expect(chat.map((q) => q.json.detection.identity)).toEqual(['a-2']);
    expect(chat[0]!.at).toBeLessThan(ops[3]!.at);

    await waitForGroupCaughtUp(`${run.groupPrefix}-ops`, run.topic, 10_000);
    const s = dispatcher.stats();
    expect(s.ops).toMatchObject({ delivered: 3, retries: 3, failures: 3, deadLettered: 0, queueDepth: 0 });
    expect(s.chat).toMatchObject({ delivered: 1, retries: 0, failures: 0 });
    console.log('retry timeline (ms from first request):', ops.map((q) => `${q.reply}@${q.at - ops[0]!.at}`).join(' '));
  });

  it('groups repeats per (identity, detector): the first at once, then one "N more" follow-up after the window', async () => {
    const run = await newRun();
    const rx = await new Receiver(() => ({ status: 200 })).listen();
    const config = await alertsConfig(`receivers:\n${receiverYaml('ops', rx.url())}grouping: { window: 1500ms }\n`);
    await startDispatcher(run, config);
    const repeats = [detection('g-1'), detection('g-1'), detection('g-1'), detection('g-1')];
    const others = [detection('g-1', { detector: 'chain', rule: 'depth' }), detection('g-2')];
    await publish(run, [...repeats, ...others]);

    await waitFor('first alerts', () => rx.requests.length >= 3);
    await waitFor('the follow-up', () => rx.requests.length >= 4, 10_000);
    await sleep(2_000);
    const bodies = rx.requests.map((q) => q.json);
    expect(bodies).toHaveLength(4);
    const first = rx.requests.find((q) => q.json.alertId === alertId('ops', repeats[0]!))!;
    expect(first.json.folded).toBe(0);
    expect(bodies.filter((b) => b.folded === 0).map((b) => b.alertId).sort()).toEqual([repeats[0]!, ...others].map((d) => alertId('ops', d)).sort());
    const follow = rx.requests.find((q) => q.json.folded > 0)!;
    expect(follow.json).toMatchObject({ folded: 3, detection: { identity: 'g-1', detector: 'rate', eventId: repeats[3]!.eventId } });
    expect(follow.at - first.at).toBeGreaterThanOrEqual(1_400);
  });

  it('a 400 is dead-lettered at once, an exhausted one after maxAttempts; both counted and visible, the rest delivered', async () => {
    const run = await newRun();
    const rx = await new Receiver((req) => {
      const who = req.json.detection.identity as string;
      return who === 'bad' ? { status: 400 } : who === 'broken' ? { status: 500 } : { status: 200 };
    }).listen();
    const config = await alertsConfig(`receivers:\n${receiverYaml('ops', rx.url(), '    maxAttempts: 3\n    backoff: { base: 20ms, max: 50ms }\n')}`);
    const dispatcher = await startDispatcher(run, config);
    const [ok1, bad, broken, ok2] = [detection('ok-1'), detection('bad'), detection('broken'), detection('ok-2')];
    await publish(run, [ok1!, bad!, broken!, ok2!]);

    await waitFor('two dead letters', () => dispatcher.stats().ops!.deadLettered === 2);
    await waitFor('two delivered', () => delivered(rx).length === 2);
    const attempts = (id: string) => rx.requests.filter((q) => q.json.detection.identity === id).length;
    expect([attempts('bad'), attempts('broken')]).toEqual([1, 3]);
    const dead = await readDeadLetters(redis, run.prefix, 'ops');
    const byId = new Map(dead.map((e) => [(e.detection as Detection).identity, e]));
    expect(byId.get('bad')).toMatchObject({ alertId: alertId('ops', bad!), attempts: 1, status: 400, reason: expect.stringContaining('HTTP 400') });
    expect(byId.get('broken')).toMatchObject({ attempts: 3, status: 500, reason: expect.stringContaining('gave up after 3 attempts') });
    expect(await redis.get(deadLetterCountKey(run.prefix, 'ops'))).toBe('2');
    await waitForGroupCaughtUp(`${run.groupPrefix}-ops`, run.topic, 10_000);
    expect(dispatcher.stats().ops).toMatchObject({ delivered: 2, deadLettered: 2, failures: 4, retries: 2 });
  });

  it('survives a restart during a receiver outage: every alert accepted before is delivered when the receiver returns', async () => {
    const run = await newRun();
    const rx = new Receiver(() => ({ status: 200 }));
    await rx.listen();
    const port = rx.port;
    await rx.close(); // down: connections refused
    const yaml = (backoff: string) => `receivers:\n${receiverYaml('ops', `http://127.0.0.1:${port}/hook`, `    maxAttempts: 1000\n    timeout: 500ms\n    backoff: ${backoff}\n`)}`;

    // First instance: a long backoff, so it is mid-wait when stopped. No fromBeginning: the group's start is pinned at start().
    const first = await startDispatcher(run, await alertsConfig(yaml('{ base: 20s, max: 60s }')), { fromBeginning: false, random: () => 0.99, sessionTimeoutMs: 6_000 });
    const ds = [detection('r-1'), detection('r-2'), detection('r-3', { detector: 'chain', rule: 'depth' })];
    await publish(run, ds);
    await waitFor('a failed attempt', () => first.stats().ops!.failures >= 1);
    // Waiting out a 19.8 s backoff, longer than the 6 s session: heartbeats keep the partitions (no rebalance, no redelivery).
    await sleep(8_000);
    const admin = kafkaAdmin();
    await admin.connect();
    const { groups: [group] } = await admin.describeGroups([`${run.groupPrefix}-ops`]);
    await admin.disconnect();
    expect([group?.state, group?.members.length, first.stats().ops!.failures]).toEqual(['Stable', 1, 1]);
    const stopStarted = Date.now();
    await first.stop();
    const stopMs = Date.now() - stopStarted;
    expect(stopMs).toBeLessThan(5_000);
    expect(first.stats().ops).toMatchObject({ delivered: 0, deadLettered: 0 });

    const second = await startDispatcher(run, await alertsConfig(yaml('{ base: 50ms, max: 200ms }')), { fromBeginning: false });
    await waitFor('the new instance retrying', () => second.stats().ops!.failures >= 3);
    const recovered = Date.now();
    await rx.listen(port);
    await waitFor('every alert delivered', () => new Set(delivered(rx).map((q) => q.json.alertId)).size === 3);
    expect(new Set(delivered(rx).map((q) => q.json.alertId))).toEqual(new Set(ds.map((d) => alertId('ops', d))));
    for (const q of rx.requests) expect(verifyWebhook(SECRET, q.headers, q.body, Date.now() / 1000)).toEqual({ ok: true });
    await waitForGroupCaughtUp(`${run.groupPrefix}-ops`, run.topic, 10_000);
    console.log(`restart: stop took ${stopMs} ms; second instance failed ${second.stats().ops!.failures} attempts while down; all 3 delivered ${Math.max(...rx.requests.map((q) => q.at)) - recovered} ms after recovery`);
  });
});

describe('PagerDuty resolves from the breaker\'s resumes on the audit topic', () => {
  const resume = (identity: string, detector: string | null, n: string): BreakerCommand => ({
    v: 2, type: 'resume', seq: 2, commandId: `resume-${n}`, identity, scope: '*', until: null, probationUntil: null,
    reason: detector === null ? 'operator alice: ok' : 'probation ended', detector, issuedAt: Date.now(), eventId: null, strike: 1, cascade: true, active: [],
  });
  const publishResume = (run: Run, c: BreakerCommand) => kcatProduceLines(run.topic, [{ key: c.identity, value: JSON.stringify(commandRecord(c)) }]);

  it('sends a pending "N more" before the resolve, resolves every taken detector on an operator resume, and nothing for other formats', async () => {
    const run = await newRun();
    const rx = await strictReceiver([]).listen();
    const config = await loadAlertsConfig(await (async () => {
      const dir = await mkdtemp(join(tmpdir(), 'warden-alerts-'));
      dirs.push(dir);
      await writeFile(join(dir, 'alerts.yaml'), 'receivers:\n' +
        `  - { name: pd, url: "${rx.url('/pd')}", format: pagerduty, routingKeyEnv: PD_KEY, minSeverity: low, detectors: [rate, scope] }\n` +
        `  - { name: hook, url: "${rx.url('/hook')}", format: generic, secretEnv: HOOK_SECRET, minSeverity: low }\n` +
        'grouping: { window: 60s }\n');
      return dir;
    })(), { PD_KEY: 'rk', HOOK_SECRET: SECRET });
    if (!config.ok) throw new Error(JSON.stringify(config.issues));
    await startDispatcher(run, config.config);
    const [d1, d2] = [detection('rs-1'), detection('rs-1')];
    await publish(run, [d1!, d2!]);
    await waitFor('the first trigger', () => rx.requests.some((q) => q.path === '/pd'));
    await publishResume(run, resume('rs-1', 'rate', 'a'));
    await publishResume(run, resume('rs-2', null, 'b'));
    await publishResume(run, resume('rs-3', 'chain', 'c')); // pd does not take chain
    const pd = () => rx.requests.filter((q) => q.path === '/pd');
    await waitFor('the resolves', () => pd().filter((q) => q.json.event_action === 'resolve').length === 3);
    await sleep(500);
    expect(pd().map((q) => [q.json.event_action, q.json.dedup_key, q.json.payload?.custom_details?.folded ?? null, q.reply])).toEqual([
      ['trigger', dedupKey('rs-1', 'rate'), 0, '202'],
      ['trigger', dedupKey('rs-1', 'rate'), 1, '202'],
      ['resolve', dedupKey('rs-1', 'rate'), null, '202'],
      ['resolve', dedupKey('rs-2', 'rate'), null, '202'],
      ['resolve', dedupKey('rs-2', 'scope'), null, '202'],
    ]);
    // The generic hook got the two detections (the second folded into its 60 s window) and no resume.
    expect(rx.requests.filter((q) => q.path === '/hook').map((q) => [q.json.folded, q.reply])).toEqual([[0, '200']]);
  });
});

describe('reconfigure (what a reload does to a running dispatcher)', () => {
  it('keeps an unchanged receiver, restarts a changed one where it left off, starts a new one at the end, stops a removed one', async () => {
    const run = await newRun();
    const rx = await new Receiver(() => ({ status: 200 })).listen();
    const yaml = (...rs: string[]) => `receivers:\n${rs.join('')}grouping: { window: 0 }\n`;
    const ops = (timeout: string) => receiverYaml('ops', rx.url('/ops'), `    timeout: ${timeout}\n`);
    const keep = receiverYaml('keep', rx.url('/keep'));
    const d = await startDispatcher(run, await alertsConfig(yaml(ops('5s'), keep)), { fromBeginning: false });
    const paths = (identity: string) => rx.requests.filter((q) => q.json.detection.identity === identity).map((q) => q.path).sort();
    await publish(run, [detection('c-1')]);
    await waitFor('c-1 at both', () => paths('c-1').length === 2);

    await d.reconfigure(await alertsConfig(yaml(ops('4s'), keep, receiverYaml('extra', rx.url('/extra')))));
    await publish(run, [detection('c-2')]);
    await waitFor('c-2 at all three', () => paths('c-2').length === 3);
    expect(paths('c-2')).toEqual(['/extra', '/keep', '/ops']);
    expect(paths('c-1')).toEqual(['/keep', '/ops']); // ops restarted from its committed offset; extra began at the end
    expect(d.stats().ops).toMatchObject({ delivered: 2 });

    await d.reconfigure(await alertsConfig(yaml(ops('4s'), keep)));
    expect(Object.keys(d.stats()).sort()).toEqual(['keep', 'ops']);
    await publish(run, [detection('c-3')]);
    await waitFor('c-3 at ops and keep', () => paths('c-3').length === 2);
    await sleep(500);
    expect(paths('c-3')).toEqual(['/keep', '/ops']);
  });
});

const HOSTILE = '<!channel> <https://evil.example/login|Click to re-enable the agent>';
const OPERATOR_KEYS = `op-1=${Buffer.alloc(32, 9).toString('base64')}`;

/** Answers as Slack and PagerDuty do: 400 with the problems for a payload over a documented limit or with an agent's string unescaped. */
function strictReceiver(agentStrings: string[]): Receiver {
  return new Receiver((req) => {
    if (req.path !== '/slack' && req.path !== '/pd') return { status: 200 };
    const problems = req.path === '/slack' ? slackProblems(req.json, agentStrings) : pagerdutyProblems(req.json);
    if (problems.length > 0) console.error(`receiver ${req.path} refused:`, problems);
    return { status: problems.length > 0 ? 400 : req.path === '/slack' ? 200 : 202 };
  });
}

describe('warden run with on-call receivers from alerts.yaml, against a real broker, Redis and strict receivers', () => {
  it('reloads receivers on SIGHUP (a bad alerts.yaml refused, the old receivers kept), escapes agent strings for Slack, and resolves PagerDuty incidents on resume', async () => {
    const id = uniqueName('alerts-run');
    const run = { group: `g-${id}`, actions: `a-${id}`, decisions: `d-${id}`, commands: `c-${id}`, dlq: `q-${id}`, prefix: `wt-${id}` };
    prefixes.push(run.prefix);
    await Promise.all([createTopic(run.actions, 2), createTopic(run.decisions, 2), createTopic(run.commands, 2, true), createTopic(run.dlq, 1)]);
    const dir = await mkdtemp(join(tmpdir(), 'warden-alerts-run-'));
    dirs.push(dir);
    await cp('config', dir, { recursive: true });

    const slackId = `spiffe://acme.example/agent/support-bot/${'s'.repeat(40)}&<b>`;
    const autoId = `spiffe://acme.example/agent/support-bot/${'p'.repeat(304 - 40)}`;
    const opId = 'spiffe://acme.example/agent/support-bot/operator-resumed';
    expect(autoId).toHaveLength(304);
    const rx = await strictReceiver([HOSTILE, slackId, '<!channel>']).listen();
    const chat = `  - { name: chat, url: "${rx.url('/slack')}", format: slack, minSeverity: low }\n`;
    const pd = `  - name: pd\n    url: ${rx.url('/pd')}\n    format: pagerduty\n    routingKeyEnv: PD_KEY\n    minSeverity: low\n    statusUrl: "https://status.example/agents/{identity}"\n`;
    await writeFile(join(dir, 'alerts.yaml'), `receivers:\n${chat}`);
    const w = startWarden({
      WARDEN_TOPIC_ACTIONS: run.actions, WARDEN_TOPIC_DECISIONS: run.decisions, WARDEN_TOPIC_COMMANDS: run.commands, WARDEN_TOPIC_DLQ: run.dlq,
      KAFKA_GROUP_ID: run.group, WARDEN_REDIS_PREFIX: run.prefix, KAFKA_SESSION_TIMEOUT_MS: '6000', PD_KEY: 'pd-routing-key', WARDEN_OPERATOR_KEYS: OPERATOR_KEYS,
    }, dir);
    wardens.push(w);
    await w.waitForLog(/"receiver":"chat".*alert receiver consuming/);
    await w.waitForLog(/partitions assigned/);
    // SIGHUP is handled once the service runs.
    await w.waitForLog(/"msg":"warden running"/);
    const event = (n: string, identity: string, action: string, resource: string, ts: number) =>
      ({ key: identity, value: JSON.stringify({ id: `${id}-${n}`, ts, identity, action, resource, agentClass: 'support-bot' }) });
    const t0 = Date.now() - 2 * 3_600_000;

    // A bad alerts.yaml: refused with file:line, and chat keeps paging.
    await writeFile(join(dir, 'alerts.yaml'), `receivers:\n${chat}${pd.replace('    routingKeyEnv: PD_KEY\n', '')}`);
    w.child.kill('SIGHUP');
    const refused = await w.waitForLog(/config reload refused/);
    expect(refused).toContain('alerts.yaml:3 receivers[1].routingKeyEnv: missing required key');
    await kcatProduceLines(run.actions, [event('s1', slackId, 'vault.read', HOSTILE, t0)]);
    await waitFor('the Slack alert', () => rx.requests.some((q) => q.path === '/slack'), 30_000);

    // The fixed file adds pd; chat is not restarted.
    await writeFile(join(dir, 'alerts.yaml'), `receivers:\n${chat}${pd}`);
    w.child.kill('SIGHUP');
    const reloaded = await w.waitForLog(/alert receivers reloaded/);
    expect(JSON.parse(reloaded)).toMatchObject({ stopped: [], started: ['pd'] });
    await w.waitForLog(/"receiver":"pd".*alert receiver consuming/);

    // Suspended, then resumed by the breaker at the end of probation (ttl 15m + probation 10m, in event time) ...
    await kcatProduceLines(run.actions, [
      event('p1', autoId, 'vault.read', 'vault:prod/keys', t0), event('p2', autoId, 'crm.read', 'crm:customers/1', t0 + 26 * 60_000),
      event('o1', opId, 'vault.read', 'vault:prod/keys', Date.now() - 60_000),
    ]);
    const pdReq = (action: string, identity: string, detector = 'scope') =>
      rx.requests.filter((q) => q.path === '/pd' && q.json.event_action === action && q.json.dedup_key === dedupKey(identity, detector));
    await waitFor('the trigger for the operator case', () => pdReq('trigger', opId).length > 0, 30_000);
    // ... and by an operator (no detector on the resume: every detector the receiver takes is resolved).
    const keys = parseKeyring(OPERATOR_KEYS);
    if (!keys.ok) throw new Error(keys.reason);
    const control = createControl({ op: 'resume', identity: opId, scope: null, ttlMs: null, reason: 'checked, false positive', operator: 'alice' }, keys.keyring);
    await kcatProduceLines(run.actions, [{ key: opId, value: encodeControl(control).toString() }]);
    await waitFor('every resolve', () => pdReq('resolve', autoId).length > 0 && DETECTORS.every((d) => pdReq('resolve', opId, d).length > 0), 30_000);

    const pdAll = rx.requests.filter((q) => q.path === '/pd');
    expect(pdAll.map((q) => q.reply)).toEqual(pdAll.map(() => '202'));
    const [trigger] = pdReq('trigger', autoId);
    const [resolve] = pdReq('resolve', autoId);
    expect(trigger!.json.dedup_key.length).toBeLessThanOrEqual(255);
    expect(trigger!.json.payload).toMatchObject({ source: autoId, component: 'scope' });
    expect(trigger!.json.links).toEqual([{ href: `https://status.example/agents/${encodeURIComponent(autoId)}`, text: 'Warden status' }]);
    expect(resolve!.json).toEqual({ routing_key: 'pd-routing-key', event_action: 'resolve', dedup_key: trigger!.json.dedup_key });
    expect(pdAll.indexOf(resolve!)).toBeGreaterThan(pdAll.indexOf(trigger!));
    // pd began at the end of the topic when it was added: no page for what came before.
    expect(pdAll.some((q) => q.json.payload?.source === slackId)).toBe(false);

    const slack = rx.requests.filter((q) => q.path === '/slack');
    expect(slack.map((q) => q.reply)).toEqual(slack.map(() => '200'));
    const first = slack.find((q) => q.body.includes('&lt;!channel&gt;'))!;
    expect(first.json.text).not.toContain('<!channel>');
    expect(first.json.text).toContain('&lt;https://evil.example/login|Click to re-enable the agent&gt;');
    expect(await stopWarden(w)).toBe(0);
  });
});
