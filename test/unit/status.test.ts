import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyring, type Keyring } from '../../src/commands/keyring.js';
import { verifyControl } from '../../src/control/sign.js';
import type { OperatorControl } from '../../src/control/types.js';
import { loadConfig } from '../../src/config/load.js';
import { newBaseline } from '../../src/state/baseline.js';
import type { IdentityBreaker } from '../../src/state/breaker-view.js';
import { AuditIndex } from '../../src/status/audit-index.js';
import { chartSvg, rateChart } from '../../src/status/chart.js';
import { csrfToken, csrfValid, sameOrigin } from '../../src/status/csrf.js';
import { escapeHtml, html, raw } from '../../src/status/html.js';
import { identityPage, overview, type StatusSources } from '../../src/status/model.js';
import { identityView, overviewPage } from '../../src/status/pages.js';
import { CSP, createStatusApp } from '../../src/status/server.js';
import { settingsFromEnv } from '../../src/service/settings.js';
import { startOpsServer } from '../../src/ops/http.js';
import { authenticate, parseStatusUsers, type StatusUser } from '../../src/status/users.js';

const keyring = ((): Keyring => {
  const k = parseKeyring(`ops-alice=${Buffer.alloc(32, 1).toString('base64')},ops-bob=${Buffer.alloc(32, 2).toString('base64')}`);
  if (!k.ok) throw new Error(k.reason);
  return k.keyring;
})();
const ALICE = 'alice-token-0123456789abcdefghij';
const VIEWER = 'viewer-token-0123456789abcdefghij';
const users = ((): StatusUser[] => {
  const u = parseStatusUsers(`alice:ops-alice=${ALICE}, viewer=${VIEWER}`, keyring);
  if (!u.ok) throw new Error(u.reason);
  return u.users;
})();
const basic = (name: string, token: string): string => `Basic ${Buffer.from(`${name}:${token}`).toString('base64')}`;

const RATE = (await loadConfig('config')).detectors.rate;
const EVIL = '<script>alert(1)</script>';
const EVIL_ATTR = '"><img src=x onerror=alert(1)>';
const NOW = Date.UTC(2026, 11, 2, 10, 0, 0);

describe('html: every interpolated value is escaped', () => {
  it('escapes text and attribute breakers, keeps Html as it is, joins arrays', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&\`\u0001`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#96;\ufffd');
    const h = html`<p title="${EVIL_ATTR}">${EVIL}${raw('<b>ok</b>')}${[EVIL, html`<i>${'&'}</i>`]}${null}${undefined}${false}${3}</p>`;
    expect(h.text).toBe('<p title="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;">&lt;script&gt;alert(1)&lt;/script&gt;<b>ok</b>&lt;script&gt;alert(1)&lt;/script&gt;<i>&amp;</i>3</p>');
  });
});

describe('status users (WARDEN_STATUS_TOKENS) and sign-in', () => {
  it('parses operator:kid=token and operator=token (a viewer); refuses what is wrong without quoting a token', () => {
    expect(users.map((u) => [u.operator, u.kid])).toEqual([['alice', 'ops-alice'], ['viewer', null]]);
    const bad: Array<[string, RegExp]> = [
      [`alice:ops-carol=${ALICE}`, /key id "ops-carol" is not in the operator keyring/],
      ['alice:ops-alice=short', /at least 24 characters/],
      [`al ice:ops-alice=${ALICE}`, /operator name must match/],
      [`alice:ops-alice=${ALICE},alice:ops-bob=${VIEWER}`, /repeats an earlier entry/],
      [`alice:ops-alice=${ALICE},bob:ops-bob=${ALICE}`, /the token repeats/],
      [ALICE, /expected operator:kid=<token>/],
    ];
    for (const [spec, why] of bad) {
      const r = parseStatusUsers(spec, keyring);
      expect(r.ok, spec).toBe(false);
      if (!r.ok) {
        expect(r.reason).toMatch(why);
        expect(r.reason).not.toContain(ALICE);
        expect(r.reason).not.toContain(VIEWER);
      }
    }
  });

  it('authenticates Bearer and Basic (the token under its own name only)', () => {
    expect(authenticate(users, `Bearer ${ALICE}`)?.operator).toBe('alice');
    expect(authenticate(users, basic('alice', ALICE))?.kid).toBe('ops-alice');
    expect(authenticate(users, basic('viewer', VIEWER))?.kid).toBeNull();
    expect(authenticate(users, basic('viewer', ALICE))).toBeNull();
    expect(authenticate(users, basic('alice', VIEWER))).toBeNull();
    expect(authenticate(users, `Bearer ${ALICE}x`)).toBeNull();
    expect(authenticate(users, `Token ${ALICE}`)).toBeNull();
    expect(authenticate(users, undefined)).toBeNull();
  });

  it('CSRF tokens are the user\'s own, expire, and are checked against the Origin', () => {
    const [alice, viewer] = users as [StatusUser, StatusUser];
    const t = csrfToken(alice, NOW);
    expect(csrfValid(alice, t, NOW + 60_000)).toBe(true);
    expect(csrfValid(viewer, t, NOW)).toBe(false);
    expect(csrfValid(alice, t, NOW + 13 * 3_600_000)).toBe(false);
    expect(csrfValid(alice, t.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), NOW)).toBe(false);
    expect(csrfValid(alice, `${Math.floor(NOW / 1000) + 10}.${t.split('.')[1]}`, NOW)).toBe(false);
    expect(csrfValid(alice, undefined, NOW)).toBe(false);
    expect(sameOrigin('http://127.0.0.1:9400', '127.0.0.1:9400')).toBe(true);
    expect(sameOrigin('https://warden.example', 'warden.example')).toBe(true);
    expect(sameOrigin('http://evil.example', '127.0.0.1:9400')).toBe(false);
    expect(sameOrigin('null', '127.0.0.1:9400')).toBe(false);
    expect(sameOrigin(undefined, '127.0.0.1:9400')).toBe(false);
  });
});

const detection = (identity: string, over: Record<string, unknown> = {}): string => JSON.stringify({
  kind: 'detection', identity, detector: 'scope', rule: 'outside-manifest', severity: 'high', decision: 'suspend', mode: 'enforce', scope: '*',
  ts: NOW - 60_000, eventId: EVIL, action: EVIL, resource: EVIL_ATTR, chain: [], agentClass: EVIL,
  reason: `${EVIL} on ${EVIL_ATTR}`, evidence: { observed: EVIL, [EVIL_ATTR]: { nested: EVIL } }, commandId: 'c1', ...over,
});
const command = (identity: string, over: Record<string, unknown> = {}): string => JSON.stringify({
  kind: 'command', v: 2, seq: 1, type: 'suspend', commandId: 'c1', identity, scope: '*', until: NOW + 600_000, probationUntil: NOW + 1_200_000,
  reason: `${EVIL} on ${EVIL_ATTR}`, detector: 'scope', issuedAt: NOW - 60_000, eventId: EVIL, strike: 1, cascade: true, active: [], ...over,
});

describe('settings: WARDEN_STATUS_TOKENS and WARDEN_STATUS_HISTORY', () => {
  const env = {
    WARDEN_COMMAND_KEYS: `c=${Buffer.alloc(32, 3).toString('base64')}`,
    WARDEN_OPERATOR_KEYS: `ops-alice=${Buffer.alloc(32, 1).toString('base64')}`,
  };
  it('is off by default, on with tokens, and refuses a key id the operator keyring lacks without quoting the token', () => {
    expect(settingsFromEnv(env).status).toBeNull();
    const on = settingsFromEnv({ ...env, WARDEN_STATUS_TOKENS: `alice:ops-alice=${ALICE}`, WARDEN_STATUS_HISTORY: '2h' }).status;
    expect(on?.historyMs).toBe(7_200_000);
    expect(on?.users.map((u) => [u.operator, u.kid])).toEqual([['alice', 'ops-alice']]);
    expect(() => settingsFromEnv({ ...env, WARDEN_STATUS_TOKENS: `bob:ops-bob=${ALICE}` })).toThrow(/WARDEN_STATUS_TOKENS: entry 1 \(bob\): key id "ops-bob" is not in the operator keyring/);
    try {
      settingsFromEnv({ ...env, WARDEN_STATUS_TOKENS: `bob:ops-bob=${ALICE}`, WARDEN_STATUS_HISTORY: '90d' });
      expect.unreachable();
    } catch (err) {
      expect((err as { code?: string }).code).toBe('SETTINGS_INVALID');
      expect((err as Error).message).toMatch(/WARDEN_STATUS_HISTORY must be from 1m to 30d/);
      expect((err as Error).message).not.toContain(ALICE);
    }
  });
});

describe('audit index', () => {
  it('keeps detections, commands and controls by identity in event-time order, once each; restatements and junk are not kept', () => {
    const ix = new AuditIndex({ perIdentity: 3, identities: 2 });
    ix.add(command('a', { issuedAt: 20 }));
    ix.add(detection('a', { ts: 10 }));
    ix.add(command('a', { issuedAt: 20 }));
    ix.add(command('a', { type: 'state', commandId: 'c9', issuedAt: 30 }));
    ix.add('not json');
    ix.add(JSON.stringify({ kind: 'control', controlId: 'k1', identity: 'a', op: 'resume', operator: 'alice', kid: 'ops-alice', ts: 40, result: 'applied', commandIds: ['c2'] }));
    expect(ix.timeline('a').map((e) => [e.kind, e.ts])).toEqual([['detection', 10], ['command', 20], ['control', 40]]);
    expect(ix.control('k1')?.record.operator).toBe('alice');
    ix.add(command('a', { commandId: 'c3', issuedAt: 50 }));
    expect(ix.timeline('a').map((e) => e.ts)).toEqual([20, 40, 50]);
    // The dropped detection's key went with it: the same record read again is kept again (it is the newest there is of it).
    ix.add(detection('a', { ts: 60 }));
    expect(ix.timeline('a').map((e) => e.ts)).toEqual([40, 50, 60]);
    ix.add(command('b'));
    ix.add(command('c'));
    expect(ix.timeline('a')).toEqual([]);
    expect(ix.read).toBe(10);
    expect(ix.suspendedSince(0).map((s) => s.identity).sort()).toEqual(['b', 'c']);
  });
});

function sources(audit: AuditIndex, breakers: IdentityBreaker[], extra: Partial<StatusSources> = {}): StatusSources {
  const b = newBaseline();
  b.n = 600;
  b.mean = 2;
  b.variance = 1;
  b.slots = b.slots.map((_, h) => (h >= 8 && h < 18 ? 5 : 1));
  b.vars = b.vars.map(() => 1);
  b.k = b.k.map((_, h) => (h === 3 ? 0 : 2));
  return {
    breakers: async (identity) => breakers.filter((x) => identity === undefined || x.identity === identity),
    baselines: async () => [{ track: `rate:a:${EVIL}`, bucketStart: NOW - 100_000, count: 40, prev: 2, baseline: b }],
    audit, rate: () => RATE, now: () => NOW, historyMs: 86_400_000, ...extra,
  };
}

const breakerOf = (identity: string): IdentityBreaker => ({
  identity, partition: 'a:0', firstSeen: NOW - 86_400_000, events: 10, seq: 1, at: NOW - 60_000,
  breaker: { '*': { phase: 'open', until: NOW + 600_000, probationUntil: NOW + 1_200_000, strikes: 1, closedAt: 0, reason: `${EVIL} on ${EVIL_ATTR}`, detector: 'scope', commandId: 'c1', openedAt: NOW - 60_000 } },
});

/** Only the page's own script tag, and no element or attribute of the agent's making. */
function expectInert(text: string): void {
  expect(text.match(/<script/g)).toEqual(['<script']);
  expect(text).toContain('<script src="/status/static/app.js" defer></script>');
  expect(text).not.toContain('<img');
  // Outside quoted attribute values (where an escaped value cannot end its quotes), no event handler attribute.
  expect(text.replace(/"[^"]*"/g, '""')).not.toMatch(/<[^>]+\son[a-z]+=/);
}

describe('pages render agent strings as text', () => {
  const audit = new AuditIndex();
  audit.add(detection(EVIL));
  audit.add(command(EVIL));
  audit.add(detection(EVIL, { detector: 'rate', rule: 'baseline', action: EVIL, evidence: { observed: 30, limit: 12, windowMs: 300_000 } }));
  const src = sources(audit, [breakerOf(EVIL)]);
  const viewer = { operator: 'alice', kid: 'ops-alice', csrf: 'tok' };

  it('overview: the identity, reason and detector are escaped, in text and in the link and data attributes', async () => {
    const o = await overview(src);
    expect(o.now.map((r) => [r.identity, r.status, r.by])).toEqual([[EVIL, 'suspended', { kind: 'detector', detector: 'scope', rule: 'outside-manifest' }]]);
    const text = overviewPage(o, viewer).text;
    expectInert(text);
    expect(text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(text).toContain(`href="/status/identity?id=${encodeURIComponent(EVIL)}"`);
    expect(text).toContain('data-identity="&lt;script&gt;alert(1)&lt;/script&gt;"');
  });

  it('identity page: evidence keys and values, resources and the chart\'s action are escaped; the chart has the rate detection', async () => {
    const p = await identityPage(src, EVIL);
    expect(p.charts).toHaveLength(1);
    expect(p.charts[0]!.marks).toEqual([{ ts: NOW - 60_000, observed: 30, limit: 12 }]);
    expect(p.charts[0]!.hours[3]!.learned).toBe(false);
    const text = identityView(p, viewer, { id: EVIL_ATTR, outcome: undefined }).text;
    expectInert(text);
    expect(text).toContain('<svg class="chart"');
    expect(text).toContain('<th>&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</th>');
    // A viewer without a key sees no buttons.
    expect(identityView(p, { ...viewer, kid: null }, null).text).not.toContain('<form class="control"');
  });

  it('the chart alone: numbers in attributes, the action only escaped', () => {
    const p = rateChart(EVIL, { track: 'x', bucketStart: NOW, count: 5, prev: 0, baseline: newBaseline() }, { ratio: 3, zScore: 5, minEvents: 10 }, 300_000, []);
    const svg = chartSvg(p).text;
    expect(svg).not.toContain('<script');
    expect(svg).toContain('<title>&lt;script&gt;alert(1)&lt;/script&gt;: events per bucket');
    expect(svg).not.toMatch(/NaN|Infinity/);
  });
});

describe('the status app over HTTP (in process)', () => {
  let server: Server;
  let base: string;
  const published: OperatorControl[] = [];
  const audit = new AuditIndex();
  audit.add(command(EVIL));
  beforeAll(async () => {
    const app = createStatusApp({
      users, keyring, log: pino({ level: 'silent' }), sources: sources(audit, [breakerOf(EVIL)]),
      publish: async (c) => {
        published.push(c);
        return { topic: 'a', partition: 0, offset: 7n };
      },
    });
    const off = createStatusApp({ users: null, keyring, log: pino({ level: 'silent' }), sources: sources(audit, []), publish: async () => ({ topic: 'a', partition: 0, offset: 0n }) });
    server = createServer((req, res) => {
      if (req.url?.startsWith('/off/')) {
        req.url = req.url.slice(4);
        if (!off.handle(req, res)) res.writeHead(404).end();
      } else if (!app.handle(req, res)) res.writeHead(404).end('not status');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const get = (path: string, auth?: string) => fetch(base + path, { headers: auth ? { authorization: auth } : {} });
  const post = (body: Record<string, string>, headers: Record<string, string>) => fetch(`${base}/status/control`, {
    method: 'POST', redirect: 'manual', body: new URLSearchParams(body).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
  const csrfOf = async (auth: string): Promise<string> => /name="csrf" value="([^"]+)"/.exec(await (await get('/status', auth)).text())![1]!;

  it('is off without tokens, asks for a sign-in, and sends the CSP and no-sniff headers', async () => {
    expect((await get('/off/status')).status).toBe(404);
    expect(await (await get('/off/status')).text()).toContain('WARDEN_STATUS_TOKENS');
    const anon = await get('/status');
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm="Warden status"/);
    const ok = await get('/status', basic('alice', ALICE));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toBe(CSP);
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await get('/status/static/app.js')).headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await get('/healthz')).status).toBe(404);
    const api = await (await get('/status/api/overview', `Bearer ${ALICE}`)).json() as { now: Array<{ identity: string }> };
    expect(api.now.map((r) => r.identity)).toEqual([EVIL]);
  });

  it('signs a control with the signed-in operator\'s name and own key, whatever the form says', async () => {
    const auth = basic('alice', ALICE);
    const r = await post({ csrf: await csrfOf(auth), op: 'suspend', identity: EVIL, scope: 'email.send', ttl: '2h', reason: 'INC-9', operator: 'mallory', kid: 'ops-bob' },
      { authorization: auth, origin: base });
    expect(r.status).toBe(303);
    const c = published.at(-1)!;
    expect(c).toMatchObject({ op: 'suspend', identity: EVIL, scope: 'email.send', ttlMs: 7_200_000, reason: 'INC-9', operator: 'alice', kid: 'ops-alice' });
    expect(verifyControl(c, keyring)).toEqual({ ok: true });
    expect(r.headers.get('location')).toBe(`/status/identity?id=${encodeURIComponent(EVIL)}&control=${c.id}&at=${c.ts}`);
    // No audit record yet: pending, and after a while a hint that it was refused.
    expect(await (await get(`/status/identity?id=x&control=${c.id}&at=${NOW - 1000}`, auth)).text()).toContain('class="notice pending"');
    expect(await (await get(`/status/identity?id=x&control=${c.id}&at=${NOW - 60_000}`, auth)).text()).toContain('Warden may have refused it');
    const resume = await post({ csrf: await csrfOf(auth), op: 'resume', identity: EVIL, scope: '', reason: 'done' }, { authorization: auth, origin: base });
    expect(resume.status).toBe(303);
    expect(published.at(-1)).toMatchObject({ op: 'resume', scope: null, ttlMs: null, operator: 'alice' });
  });

  it('refuses a post from another origin, without the form token, from a viewer, or malformed', async () => {
    const auth = basic('alice', ALICE);
    const csrf = await csrfOf(auth);
    const n = published.length;
    const form = { csrf, op: 'resume', identity: EVIL, reason: 'x' };
    expect((await post(form, { authorization: auth, origin: 'http://evil.example' })).status).toBe(403);
    expect((await post(form, { authorization: auth })).status).toBe(403);
    expect((await post({ ...form, csrf: 'x' }, { authorization: auth, origin: base })).status).toBe(403);
    expect((await post(form, { origin: base })).status).toBe(401);
    const vauth = basic('viewer', VIEWER);
    const viewerPage = await (await get('/status', vauth)).text();
    expect(viewerPage).not.toContain('name="csrf"');
    const [viewerUser] = users.filter((u) => u.operator === 'viewer');
    const denied = await post({ ...form, csrf: csrfToken(viewerUser!) }, { authorization: vauth, origin: base });
    expect(denied.status).toBe(403);
    expect(await denied.text()).toContain('may look but not act');
    expect((await post({ ...form, reason: '' }, { authorization: auth, origin: base })).status).toBe(400);
    expect((await post({ ...form, op: 'delete' }, { authorization: auth, origin: base })).status).toBe(400);
    expect((await post({ ...form, ttl: '2h' }, { authorization: auth, origin: base })).status).toBe(400);
    expect((await post({ ...form, op: 'suspend', ttl: 'soon' }, { authorization: auth, origin: base })).status).toBe(400);
    expect((await fetch(`${base}/status/control`, { method: 'POST', body: '{}', headers: { authorization: auth, origin: base, 'content-type': 'application/json' } })).status).toBe(415);
    expect((await get('/status/control', auth)).status).toBe(405);
    expect(published.length).toBe(n);
  });
});

describe('the ops server with the status page', () => {
  it('hands /status to the page and keeps its own routes and methods', async () => {
    const off = createStatusApp({ users: null, keyring, log: pino({ level: 'silent' }), sources: sources(new AuditIndex(), []), publish: async () => ({ topic: 'a', partition: 0, offset: 0n }) });
    const ops = await startOpsServer({ notReady: async () => null, metrics: () => '' }, 0, '127.0.0.1', off);
    try {
      const at = (p: string, method = 'GET') => fetch(`http://127.0.0.1:${ops.port}${p}`, { method });
      expect((await at('/healthz')).status).toBe(200);
      expect((await at('/healthz', 'POST')).status).toBe(405);
      const page = await at('/status');
      expect(page.status).toBe(404);
      expect(await page.text()).toMatch(/status page is off: set WARDEN_STATUS_TOKENS/);
      expect((await at('/status/control', 'POST')).status).toBe(404);
      expect(await (await at('/statusx')).text()).toMatch(/try \/healthz/);
    } finally {
      await ops.close();
    }
  });
});
