import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  alertId, AttemptError, backoffDelay, buildPayload, buildResolve, clip, dedupKey, loadAlertsConfig, parseRetryAfter, retry, retryDelay, RetryError,
  signWebhook, SLACK_LIMITS, verifyWebhook, type AlertReceiver, type AlertsConfig,
} from '../../src/alerts/index.js';
import { validateConfigDir } from '../../src/config/load.js';
import { reloadConfig } from '../../src/service/reload.js';
import type { WardenConfig } from '../../src/config/types.js';
import { pagerdutyProblems, slackProblems } from '../contract/receivers.contract.js';
import type { ConfigIssue } from '../../src/config/errors.js';
import type { Detection } from '../../src/detector.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function load(yaml: string | undefined, env: NodeJS.ProcessEnv = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'warden-alerts-'));
  dirs.push(dir);
  if (yaml !== undefined) await writeFile(join(dir, 'alerts.yaml'), yaml);
  return loadAlertsConfig(dir, env);
}

async function config(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<AlertsConfig> {
  const r = await load(yaml, env);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

async function issues(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<ConfigIssue[]> {
  const r = await load(yaml, env);
  if (r.ok) throw new Error('expected issues');
  return r.issues;
}

const detection: Detection = {
  identity: 'agent-7', detector: 'rate', rule: 'hard-limit', severity: 'critical', decision: 'suspend', mode: 'enforce',
  scope: '*', ts: Date.UTC(2025, 0, 2, 3, 4, 5), eventId: 'ev-1', action: 'db.write', resource: 'db:orders', chain: [],
  agentClass: 'bot', reason: 'rate 500/min over limit 100/min', evidence: { observed: 500, limit: 100, configVersion: 'v1' },
};

describe('alerts config', () => {
  it('is empty without alerts.yaml', async () => {
    const r = await load(undefined);
    expect(r).toEqual({ ok: true, config: { file: null, receivers: [], grouping: { windowMs: 600_000 } } });
  });

  it('applies defaults and resolves secrets without exposing them', async () => {
    const c = await config('receivers:\n  - name: ops\n    url: https://hooks.example/x\n    format: generic\n    secretEnv: OPS_SECRET\n', { OPS_SECRET: 's3cret' });
    const r = c.receivers[0]!;
    expect(r).toMatchObject({
      name: 'ops', format: 'generic', minSeverity: 'high', detectors: ['rate', 'scope', 'chain', 'credential', 'enumeration', 'silence', 'loop'], decisions: ['alert', 'suspend'],
      timeoutMs: 5_000, maxAttempts: 10, backoff: { baseMs: 500, maxMs: 60_000 },
    });
    expect(c.grouping.windowMs).toBe(600_000);
    expect(r.secret).toBe('s3cret');
    expect(JSON.stringify(c)).not.toContain('s3cret');
    expect(Object.isFrozen(r)).toBe(true);
  });

  it('reports every problem with file:line and path, and names a missing variable, never a value', async () => {
    const yaml = [
      'receivers:', //                                 1
      '  - name: Ops_1', //                            2
      '    url: ftp://x', //                           3
      '    format: email', //                          4
      '    colour: red', //                            5
      '  - name: pd', //                               6
      '    url: https://events.pagerduty.com/v2/enqueue',
      '    format: pagerduty', //                      8
      '    routingKeyEnv: PD_KEY', //                  9
      '    secretEnv: PD_SECRET', //                  10
      '    backoff: { base: 2s, max: 1s }', //        11
      '  - name: pd', //                              12
      '    url: http://x', //                         13
      '    format: slack', //                         14
      'grouping: { window: soon }', //                15
    ].join('\n');
    const found = await issues(yaml, { PD_SECRET: 'hidden-value' });
    const at = found.map((i) => `${i.line} ${i.path}: ${i.message}`);
    expect(at).toEqual(expect.arrayContaining([
      expect.stringMatching(/^2 receivers\[0\]\.name: "Ops_1" must match/),
      expect.stringMatching(/^3 receivers\[0\]\.url: must be an http or https URL/),
      expect.stringMatching(/^4 receivers\[0\]\.format: expected one of generic, slack, pagerduty/),
      expect.stringMatching(/^5 receivers\[0\]\.colour: unknown key "colour"/),
      expect.stringMatching(/^11 receivers\[1\]\.backoff\.max: must be >= base/),
      expect.stringMatching(/^15 grouping\.window: expected a duration/),
    ]));
    expect(found.every((i) => i.file.endsWith('alerts.yaml'))).toBe(true);
  });

  it('requires secretEnv for generic and routingKeyEnv for pagerduty; refuses duplicate names', async () => {
    const found = await issues('receivers:\n  - { name: a, url: "http://x", format: generic }\n  - { name: a, url: "http://x", format: pagerduty }\n');
    expect(found.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'receivers[0].secretEnv: missing required key "secretEnv" (generic receivers are always signed)',
      'receivers[1].routingKeyEnv: missing required key "routingKeyEnv" (PagerDuty needs a routing key)',
    ]);
    const dup = await issues('receivers:\n  - { name: a, url: "http://x", format: slack }\n  - { name: a, url: "http://y", format: slack }\n');
    expect(dup).toEqual([expect.objectContaining({ path: 'receivers[1].name', line: 3, message: 'duplicate receiver name "a"' })]);
  });

  it('reports a missing env var by receiver and variable name', async () => {
    const found = await issues('receivers:\n  - { name: pd, url: "https://x", format: pagerduty, routingKeyEnv: PD_KEY, secretEnv: PD_SECRET }\n', { PD_SECRET: 'hidden-value' });
    expect(found).toEqual([{ file: expect.any(String), path: 'receivers[0].routingKeyEnv', line: 2, message: 'receiver "pd": environment variable PD_KEY is not set' }]);
    expect(JSON.stringify(found)).not.toContain('hidden-value');
  });
});

function receiver(format: AlertReceiver['format'], over: Partial<AlertReceiver> = {}): AlertReceiver {
  const r = {
    name: 'ops', url: 'https://x', format, minSeverity: 'high', detectors: ['rate'], decisions: ['suspend'],
    timeoutMs: 1000, maxAttempts: 3, backoff: { baseMs: 10, maxMs: 100 }, ...over,
  } as unknown as AlertReceiver;
  Object.defineProperty(r, 'secret', { value: 'k' });
  Object.defineProperty(r, 'routingKey', { value: 'RK' });
  return r;
}

describe('payloads', () => {
  it('generic: the detection, a deterministic alertId and the folded count', () => {
    const p = buildPayload(receiver('generic'), { detection, folded: 3 });
    const body = JSON.parse(p.body);
    expect(body).toEqual({ alertId: p.alertId, receiver: 'ops', folded: 3, detection });
    expect(p.alertId).toMatch(/^[0-9a-f]{64}$/);
    expect(p.alertId).toBe(alertId('ops', detection));
    expect(alertId('other', detection)).not.toBe(p.alertId);
    expect(alertId('ops', { ...detection, rule: 'baseline' })).not.toBe(p.alertId);
  });

  it('slack: text and blocks with identity, detector/rule, reason, severity, decision', () => {
    const body = JSON.parse(buildPayload(receiver('slack'), { detection: { ...detection, reason: 'a <b> & c' }, folded: 0 }).body);
    expect(Object.keys(body)).toEqual(['text', 'blocks']);
    expect(body.text).toContain('[CRITICAL]');
    const all = JSON.stringify(body.blocks);
    for (const s of ['agent-7', 'rate/hard-limit', 'critical', 'suspend', 'a &lt;b&gt; &amp; c']) expect(all).toContain(s);
  });

  it('pagerduty: Events v2 trigger with dedup per identity and detector', () => {
    const body = JSON.parse(buildPayload(receiver('pagerduty'), { detection, folded: 0 }).body);
    expect(body).toMatchObject({
      routing_key: 'RK', event_action: 'trigger', dedup_key: dedupKey('agent-7', 'rate'),
      payload: { source: 'agent-7', severity: 'critical', timestamp: '2025-01-02T03:04:05.000Z', custom_details: { identity: 'agent-7', rule: 'hard-limit' } },
    });
    expect(body).not.toHaveProperty('links');
    expect(pagerdutyProblems(body)).toEqual([]);
    expect(body.payload.summary).toContain('agent-7');
    const sev = (s: Detection['severity']) => JSON.parse(buildPayload(receiver('pagerduty'), { detection: { ...detection, severity: s }, folded: 0 }).body).payload.severity;
    expect(['critical', 'high', 'medium', 'low'].map((s) => sev(s as Detection['severity']))).toEqual(['critical', 'error', 'warning', 'info']);
  });
});

const HOSTILE = '<!channel> <https://evil.example/login|Click to re-enable the agent> & <@U123>';

describe('payloads within the receivers\' documented limits', () => {
  const hostile: Detection = {
    ...detection, identity: `spiffe://acme.example/agent/${'x'.repeat(2100)}&<b>`, resource: HOSTILE, action: 'db.write<!here>',
    eventId: 'ev-<1>', reason: `db.write on ${HOSTILE} ${'y'.repeat(5000)}`,
  };
  const agentStrings = [HOSTILE, hostile.identity, hostile.action, hostile.eventId, '<!channel>', '<https://evil.example/login|Click to re-enable the agent>'];

  it('the checkers refuse what Slack and PagerDuty refuse (so a pass means something)', () => {
    expect(slackProblems({ text: `alert ${HOSTILE}`, blocks: [] }, agentStrings)).toEqual(expect.arrayContaining([expect.stringContaining('unescaped control sequence <!channel>')]));
    expect(slackProblems({ text: 'x', blocks: [{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }] })).toEqual(['blocks[0].text: 151 characters, over 150']);
    expect(slackProblems({ text: 'x', blocks: [{ type: 'section', fields: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'f' })) }] })).toEqual(['blocks[0].fields: more than 10']);
    expect(slackProblems({ text: 'a & b', blocks: Array.from({ length: 51 }, () => ({ type: 'section', text: { type: 'mrkdwn', text: 's'.repeat(3001) } })) })).toHaveLength(53);
    expect(pagerdutyProblems({ routing_key: 'RK', event_action: 'trigger', dedup_key: `${'i'.repeat(304)}|scope`, payload: { summary: 's', severity: 'error' } }))
      .toEqual(['dedup_key: 310 characters, over 255', 'payload.source: missing']);
    expect(pagerdutyProblems({ routing_key: 'RK', event_action: 'close', dedup_key: 'k' })).toEqual(['event_action: invalid close']);
    expect(pagerdutyProblems({ routing_key: '', event_action: 'resolve' })).toEqual(['routing_key: missing', 'dedup_key: required for resolve']);
  });

  it('slack: every agent-controlled string is escaped, the fallback text too, and every text is cut to its limit', () => {
    const r = receiver('slack', { statusUrl: 'https://status.example/agents/{identity}?from=warden&x=1' });
    const body = JSON.parse(buildPayload(r, { detection: hostile, folded: 0 }).body);
    expect(slackProblems(body, agentStrings)).toEqual([]);
    expect(body.text).toContain('&lt;!channel&gt; &lt;https://evil.example/login|Click to re-enable the agent&gt; &amp; &lt;@U123&gt;');
    expect(body.text.length).toBeLessThanOrEqual(SLACK_LIMITS.text);
    expect(body.blocks[0].text.text.length).toBeLessThanOrEqual(150);
    expect(body.blocks[2].text.text.length).toBeLessThanOrEqual(3000);
    expect(body.blocks[2].text.text.endsWith('…')).toBe(true);
    for (const f of body.blocks[1].fields) expect(f.text.length).toBeLessThanOrEqual(2000);
    // The one link is Warden's own: the identity percent-encoded into the configured status page, & escaped.
    const link = body.blocks[3].elements[1].text as string;
    expect(link).toMatch(/^<https:\/\/status\.example\/agents\/spiffe%3A%2F%2Facme\.example%2Fagent%2Fx+%26%3Cb%3E\?from=warden&amp;x=1\|status page>$/);
  });

  it('slack: a status link too long for its block is left out rather than cut', () => {
    const r = receiver('slack', { statusUrl: 'https://status.example/{identity}' });
    const body = JSON.parse(buildPayload(r, { detection: { ...hostile, identity: '<'.repeat(1200) }, folded: 0 }).body);
    expect(body.blocks[3].elements).toHaveLength(1);
    expect(slackProblems(body, agentStrings)).toEqual([]);
  });

  it('clip never cuts an entity or a surrogate pair in half', () => {
    expect(clip('&amp;&amp;', 9)).toBe('&amp;…');
    expect(clip('ab&lt;', 5)).toBe('ab…');
    expect(clip('a😀b', 3)).toBe('a…');
    expect(clip('short', 5)).toBe('short');
  });

  it('pagerduty: a long identity gets a short stable dedup_key, the identity as source, a summary within 1024 and an encoded status link', () => {
    const long = `spiffe://acme.example/agent/${'z'.repeat(276)}`;
    expect(long).toHaveLength(304);
    const r = receiver('pagerduty', { statusUrl: 'https://status.example/agents/{identity}#top' });
    const body = JSON.parse(buildPayload(r, { detection: { ...hostile, identity: long }, folded: 2 }).body);
    expect(pagerdutyProblems(body)).toEqual([]);
    expect(body.dedup_key).toBe(dedupKey(long, 'rate'));
    expect(body.dedup_key.length).toBeLessThanOrEqual(255);
    expect(dedupKey(long, 'scope')).not.toBe(body.dedup_key);
    expect(body.payload.source).toBe(long);
    expect(body.payload.summary.length).toBe(1024);
    expect(body.links).toEqual([{ href: `https://status.example/agents/${encodeURIComponent(long)}#top`, text: 'Warden status' }]);
  });

  it('pagerduty: the resolve for a resume has the trigger\'s dedup_key; other formats have no incidents to resolve', () => {
    const res = { identity: 'agent-7', detector: 'rate', commandId: 'c1', reason: 'probation ended', issuedAt: 1 };
    const built = buildResolve(receiver('pagerduty'), res)!;
    const body = JSON.parse(built.body);
    expect(body).toEqual({ routing_key: 'RK', event_action: 'resolve', dedup_key: JSON.parse(buildPayload(receiver('pagerduty'), { detection, folded: 0 }).body).dedup_key });
    expect(pagerdutyProblems(body)).toEqual([]);
    expect(built.alertId).toMatch(/^[0-9a-f]{64}$/);
    expect(buildResolve(receiver('pagerduty'), { ...res, commandId: 'c2' })!.alertId).not.toBe(built.alertId);
    expect(buildResolve(receiver('slack'), res)).toBeUndefined();
    expect(buildResolve(receiver('generic'), res)).toBeUndefined();
  });
});

describe('alerts.yaml is config like the rest', () => {
  const PD = 'receivers:\n  - name: pd\n    url: https://events.pagerduty.com/v2/enqueue\n    format: pagerduty\n    routingKeyEnv: PD_KEY\n';
  async function dirWith(files: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'warden-alerts-cfg-'));
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    return dir;
  }

  it('a bad alerts.yaml refuses the whole config, with file:line', async () => {
    const dir = await dirWith({ 'alerts.yaml': `${PD}    statusUrl: "ftp://status/{identity}"\n  - { name: chat, url: "https://hooks.slack.com/x", format: slack, statusUrl: "https://s/{identity}" }\n  - { name: hook, url: "https://h/x", format: generic, secretEnv: S, statusUrl: "https://s" }\n` });
    const r = await validateConfigDir(dir);
    expect(r.ok).toBe(false);
    expect(r.ok ? [] : r.issues.map((i) => `${i.file.slice(dir.length + 1)}:${i.line} ${i.path}: ${i.message}`)).toEqual([
      'alerts.yaml:6 receivers[0].statusUrl: must be an http or https URL, got ftp:',
      'alerts.yaml:8 receivers[2].statusUrl: only for format slack or pagerduty',
    ]);
  });

  it('checks the named variables only when given the environment; the receivers and the version come with the config', async () => {
    const dir = await dirWith({ 'detectors.yaml': 'version: "pinned-1"\n', 'alerts.yaml': PD });
    const bare = await validateConfigDir(dir);
    if (!bare.ok) throw new Error(JSON.stringify(bare.issues));
    expect(bare.config.alerts.receivers.map((r) => [r.name, r.routingKey])).toEqual([['pd', null]]);
    expect(bare.config.version).toMatch(/^pinned-1\+alerts:[0-9a-f]{12}$/);
    const missing = await validateConfigDir(dir, { env: {} });
    expect(missing.ok ? [] : missing.issues.map((i) => `${i.line} ${i.message}`)).toEqual(['5 receiver "pd": environment variable PD_KEY is not set']);
    const withEnv = await validateConfigDir(dir, { env: { PD_KEY: 'rk' } });
    expect(withEnv.ok && withEnv.config.alerts.receivers[0]!.routingKey).toBe('rk');

    await writeFile(join(dir, 'alerts.yaml'), `${PD}    minSeverity: low\n`);
    const changed = await validateConfigDir(dir);
    expect(changed.ok && changed.config.version).not.toBe(bare.config.version);
    const unpinned = await dirWith({ 'alerts.yaml': PD });
    const before = await validateConfigDir(unpinned);
    await writeFile(join(unpinned, 'alerts.yaml'), `${PD}    minSeverity: low\n`);
    const after = await validateConfigDir(unpinned);
    expect([before.ok, after.ok]).toEqual([true, true]);
    expect(before.ok && after.ok && before.config.version !== after.config.version).toBe(true);
  });

  it('the reload the watcher and SIGHUP run: a bad alerts.yaml is refused and nothing applied; a new receiver is applied', async () => {
    const dir = await dirWith({ 'alerts.yaml': PD });
    const env = { PD_KEY: 'rk', CHAT_SECRET: 's' };
    const applied: WardenConfig[] = [];
    const apply = (c: WardenConfig) => void applied.push(c);
    const first = (await reloadConfig(dir, '', apply, env))!;
    expect(first.alerts.receivers.map((r) => r.name)).toEqual(['pd']);
    expect(await reloadConfig(dir, first.version, apply, env)).toBeNull();

    await writeFile(join(dir, 'alerts.yaml'), `${PD}  - { name: chat, url: "https://hooks.slack.com/x", format: sms }\n`);
    await expect(reloadConfig(dir, first.version, apply, env)).rejects.toThrow(/alerts\.yaml:6 receivers\[1\]\.format: expected one of generic, slack, pagerduty/);
    expect(applied).toHaveLength(1);

    await writeFile(join(dir, 'alerts.yaml'), `${PD}  - { name: chat, url: "https://hooks.slack.com/x", format: slack, secretEnv: CHAT_SECRET }\n`);
    const next = (await reloadConfig(dir, first.version, apply, env))!;
    expect(applied.map((c) => c.alerts.receivers.map((r) => r.name))).toEqual([['pd'], ['pd', 'chat']]);
    expect(next.alerts.receivers[1]!.secret).toBe('s');
  });

  it('warden validate-config refuses a file warden run would refuse, with file:line, and counts the receivers of a good one', async () => {
    const dir = await dirWith({ 'alerts.yaml': `${PD}    timeout: forever\n` });
    const bad = await cli(['validate-config', dir], { PD_KEY: 'rk' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${join(dir, 'alerts.yaml')}:6 receivers[0].timeout:`);
    await writeFile(join(dir, 'alerts.yaml'), PD);
    const unset = await cli(['validate-config', dir], {});
    expect(unset.code).toBe(1);
    expect(unset.stderr).toContain(`${join(dir, 'alerts.yaml')}:5 receivers[0].routingKeyEnv: receiver "pd": environment variable PD_KEY is not set`);
    const skipped = await cli(['validate-config', '--skip-env', dir], {});
    expect([skipped.code, skipped.stdout]).toEqual([0, expect.stringMatching(/: ok \(version sha256:[0-9a-f]{12}, 0 agent manifests, 0 overrides, 1 alert receiver\)/)]);
    expect((await cli(['validate-config', dir], { PD_KEY: 'rk' })).code).toBe(0);
  });
});

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const { PD_KEY: _drop, ...rest } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/warden.js', ...args], { env: { ...rest, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('sign / verify', () => {
  const body = '{"a":1}';
  const now = 1_700_000_000;

  it('round-trips, with the documented header format', () => {
    const h = signWebhook('secret', body, now);
    expect(h['X-Warden-Timestamp']).toBe(String(now));
    expect(h['X-Warden-Signature']).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyWebhook('secret', h, body, now)).toEqual({ ok: true });
    const lower = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
    expect(verifyWebhook('secret', new Headers(lower), body, now + 299)).toEqual({ ok: true });
  });

  it('rejects forgeries, replays and missing headers', () => {
    const h = signWebhook('secret', body, now);
    expect(verifyWebhook('other', h, body, now)).toEqual({ ok: false, reason: 'bad signature' });
    expect(verifyWebhook('secret', h, '{"a":2}', now)).toEqual({ ok: false, reason: 'bad signature' });
    // A captured request re-sent with a fresh timestamp: the signature covers the timestamp.
    expect(verifyWebhook('secret', { ...h, 'X-Warden-Timestamp': String(now + 600) }, body, now + 600)).toEqual({ ok: false, reason: 'bad signature' });
    expect(verifyWebhook('secret', h, body, now + 301)).toMatchObject({ ok: false, reason: expect.stringContaining('replay') });
    expect(verifyWebhook('secret', h, body, now - 301)).toMatchObject({ ok: false, reason: expect.stringContaining('stale') });
    expect(verifyWebhook('secret', { 'X-Warden-Timestamp': String(now) }, body, now)).toMatchObject({ ok: false, reason: expect.stringContaining('missing X-Warden-Signature') });
    expect(verifyWebhook('secret', { 'X-Warden-Signature': 'v1=00' }, body, now)).toMatchObject({ ok: false, reason: expect.stringContaining('missing X-Warden-Timestamp') });
    expect(verifyWebhook('secret', { ...h, 'X-Warden-Signature': 'v1=abc' }, body, now)).toMatchObject({ ok: false, reason: expect.stringContaining('malformed') });
  });
});

describe('retry', () => {
  const o = { baseMs: 500, maxMs: 60_000 };

  it('full jitter within exponential bounds, capped', () => {
    const top = { ...o, random: () => 0.999999 };
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffDelay(n, top))).toEqual([499, 999, 1999, 3999, 7999, 15999, 31999, 59999, 59999]);
    expect(backoffDelay(50, top)).toBe(59999);
    expect(backoffDelay(3, { ...o, random: () => 0 })).toBe(0);
    expect(backoffDelay(3, { ...o, random: () => 0.5 })).toBe(1000);
    for (let n = 1; n < 30; n++) {
      const d = backoffDelay(n, o);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(Math.min(60_000, 500 * 2 ** (n - 1)));
    }
  });

  it('honours Retry-After: never sooner than asked', () => {
    expect(retryDelay(1, { ...o, random: () => 0 }, 1000)).toBe(1000);
    expect(retryDelay(5, { ...o, random: () => 0.5 }, 1000)).toBe(4000);
    expect(retryDelay(1, { ...o, random: () => 0 }, 10 * 3_600_000)).toBe(3_600_000);
  });

  it('parses Retry-After as delta-seconds or an HTTP-date', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('1', now)).toBe(1000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
    for (const bad of [null, undefined, '', '-1', '1.5', 'soon']) expect(parseRetryAfter(bad, now)).toBeUndefined();
  });

  it('retries retriable errors with the computed waits, stops on a non-retriable one', async () => {
    const waits: number[] = [];
    const sleep = async (ms: number) => void waits.push(ms);
    let calls = 0;
    const out = await retry(async (attempt) => {
      calls++;
      if (attempt === 1) throw new AttemptError('HTTP 503', true);
      if (attempt === 2) throw new AttemptError('HTTP 429', true, 1000);
      return 'ok';
    }, { maxAttempts: 5, baseMs: 100, maxMs: 1000, random: () => 0.5, sleep });
    expect([out, calls, waits]).toEqual(['ok', 3, [50, 1000]]);

    const rejected = retry(async () => { throw new AttemptError('HTTP 400', false); }, { maxAttempts: 5, baseMs: 1, maxMs: 1, sleep });
    await expect(rejected).rejects.toMatchObject({ attempts: 1, message: 'not retriable (attempt 1): HTTP 400' });
    const exhausted = retry(async () => { throw new AttemptError('timeout', true); }, { maxAttempts: 3, baseMs: 1, maxMs: 1, sleep });
    await expect(exhausted).rejects.toBeInstanceOf(RetryError);
    await expect(exhausted).rejects.toMatchObject({ attempts: 3, message: 'gave up after 3 attempts: timeout' });
  });

  it('an abort ends the wait at once', async () => {
    const ac = new AbortController();
    const started = Date.now();
    const p = retry(async () => { throw new AttemptError('down', true); }, { maxAttempts: 10, baseMs: 60_000, maxMs: 60_000, random: () => 0.9, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stopping')), 50);
    await expect(p).rejects.toThrow('stopping');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
