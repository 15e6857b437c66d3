import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../src/event/types.js';
import {
  BROKERS, createTopic, kcatConsumeAll, startWarden, stopWarden, uniqueName, useServices, waitForGroupCaughtUp, type WardenProcess,
} from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ALICE_KEY = `ops-alice=${Buffer.alloc(32, 11).toString('base64')}`;
const BOB_KEY = `ops-bob=${Buffer.alloc(32, 12).toString('base64')}`;
const ALICE_TOKEN = 'alice-status-token-0123456789abcdef';
const VIEWER_TOKEN = 'viewer-status-token-0123456789abcdef';
const HOUR = 3_600_000;
const BUCKET = 300_000;

const prefixes = useServices();
let warden: WardenProcess;
let base: string;
let context: BrowserContext;
let page: Page;
let producer: Producer;
let decisionsTopic: string;
let actions: string;
let userData: string;
const dialogs: string[] = [];

const bot = `spiffe://acme.example/agent/support-bot/${uniqueName('status')}`;
const evil = '<script>alert(1)</script>';

const basic = (user: string, token: string): string => `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;

function ev(id: string, identity: string, ts: number, action: string, resource: string): AgentEvent {
  return { id, ts, identity, action, resource, agentClass: 'support-bot', outcome: 'allowed' };
}

async function produce(events: AgentEvent[], topic: string): Promise<void> {
  for (let i = 0; i < events.length; i += 2000) {
    await producer.send({ topic, acks: -1, messages: events.slice(i, i + 2000).map((e) => ({ key: e.identity, value: JSON.stringify(e) })) });
  }
}

/** Two days of a support bot's email and CRM reads, busier in office hours (UTC), ending ten minutes ago. */
function history(now: number): AgentEvent[] {
  const out: AgentEvent[] = [];
  const start = Math.floor((now - 48 * HOUR) / BUCKET) * BUCKET;
  let n = 0;
  for (let t = start; t < now - 10 * 60_000; t += BUCKET) {
    const hour = new Date(t).getUTCHours();
    const office = hour >= 8 && hour < 18;
    const emails = office ? 3 + (hour % 3) : 1;
    for (let i = 0; i < emails; i++) out.push(ev(`h${n++}`, bot, t + 1000 + i * 20_000, 'email.send', `email:customer/${n % 97}`));
    if (office || hour % 2 === 0) out.push(ev(`h${n++}`, bot, t + 150_000, 'crm.read', `crm:customers/${n % 89}`));
  }
  return out;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: \`apt-get install -y chromium\` (npm test installs it when run as root)`);
  const id = uniqueName('status');
  actions = `a-${id}`;
  decisionsTopic = `d-${id}`;
  const commands = `c-${id}`;
  const dlq = `q-${id}`;
  prefixes.push(`wt-${id}`);
  await Promise.all([createTopic(actions, 2), createTopic(decisionsTopic, 2), createTopic(commands, 2, true), createTopic(dlq, 1)]);
  const kafka = new Kafka({ clientId: 'status-test', brokers: BROKERS.split(','), logLevel: logLevel.NOTHING });
  producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const now = Date.now();
  await produce(history(now), actions);
  warden = startWarden({
    WARDEN_TOPIC_ACTIONS: actions, WARDEN_TOPIC_DECISIONS: decisionsTopic, WARDEN_TOPIC_COMMANDS: commands, WARDEN_TOPIC_DLQ: dlq,
    KAFKA_GROUP_ID: `g-${id}`, WARDEN_REDIS_PREFIX: `wt-${id}`, KAFKA_SESSION_TIMEOUT_MS: '6000',
    WARDEN_OPERATOR_KEYS: `${ALICE_KEY},${BOB_KEY}`,
    WARDEN_STATUS_TOKENS: `alice:ops-alice=${ALICE_TOKEN},viewer=${VIEWER_TOKEN}`,
  });
  const running = await warden.waitForLog(/warden running/);
  base = `http://${JSON.parse(running).http}`;
  await waitForGroupCaughtUp(`g-${id}`, actions, 60_000);
  userData = await mkdtemp(join(tmpdir(), 'warden-chromium-'));
  context = await chromium.launchPersistentContext(userData, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    httpCredentials: { username: 'alice', password: ALICE_TOKEN },
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] ?? await context.newPage();
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  if (userData) await rm(userData, { recursive: true, force: true });
  await producer?.disconnect();
  if (warden) await stopWarden(warden);
});

/** `STATUS_SCREENSHOT_DIR=docs npx vitest run test/integration/status-page.test.ts` renews the README's screenshots. */
const shots = process.env.STATUS_SCREENSHOT_DIR;

describe('the status page in headless Chromium against warden run, the real broker and Redis', () => {
  it('shows a suspension as it happens, resumes it with the signed-in operator\'s own key, and shows the resume', async () => {
    await page.goto(`${base}/status`);
    await expect.poll(() => page.locator('header .who').textContent()).toContain('signed in as alice · key ops-alice');
    expect(await page.locator(`tr[data-identity="${bot}"]`).count()).toBe(0);

    // A burst of email well over what the bot does at this hour (rate/baseline), and a stranger writing to production (scope).
    const now = Date.now();
    await produce([
      ...Array.from({ length: 60 }, (_, i) => ev(`b${i}`, bot, now + i * 50, 'email.send', `email:customer/${i}`)),
      ev('x1', evil, now, 'db.write', 'db:prod.orders'),
    ], actions);

    // The page refreshes itself: no reload.
    const row = page.locator('section').first().locator(`tr[data-identity="${bot}"]`);
    await row.waitFor({ timeout: 20_000 });
    expect(await row.locator('.by').textContent()).toBe('rate/baseline');
    await page.locator('section').first().locator('tr[data-identity]').nth(1).waitFor({ timeout: 15_000 });
    if (shots) await mkdir(shots, { recursive: true });

    await row.locator('a.identity').click();
    await page.waitForURL(/\/status\/identity\?id=/);
    expect(await page.locator('h1.identity').textContent()).toBe(bot);
    expect(await page.locator('svg.chart').count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('figure.chart figcaption code').first().textContent()).toBe('email.send');
    await page.locator('ol.timeline li.detection.suspend').first().waitFor({ timeout: 15_000 });
    expect(await page.locator('ol.timeline li.detection.suspend b').last().textContent()).toBe('rate/baseline');
    if (shots) {
      // The suspending detection's evidence open, as on-call would read it (an open <details> also pauses the refresh).
      await page.locator('ol.timeline li.detection.suspend').last().locator('summary').click();
      await page.screenshot({ path: join(shots, 'status-identity.png'), fullPage: true });
      await page.locator('ol.timeline li.detection.suspend').last().locator('summary').click();
    }

    // The rate detector suspends the one capability it saw abused.
    const form = page.locator('.actions form.control[data-scope="email.send"]');
    await form.locator('input[name=reason]').fill('INC-7: newsletter approved');
    await form.locator('button.resume').click();
    await page.waitForURL(/control=/);
    // Pending at first, then Warden's audit record: applied.
    await page.locator('.notice.applied').waitFor({ timeout: 20_000 });
    await expect.poll(() => page.locator('tr[data-scope="email.send"] .badge').textContent(), { timeout: 10_000 }).toBe('closed');
    await page.locator('ol.timeline li.control').first().waitFor({ timeout: 10_000 });
    expect(await page.locator('ol.timeline li.control .badge').first().textContent()).toBe('resume by alice');

    // The control was signed with alice's own key, and says alice, whatever the form said.
    const audit = (await kcatConsumeAll(decisionsTopic)).map((r) => JSON.parse(r.payload!) as Record<string, unknown>);
    expect(audit.find((r) => r.kind === 'control' && r.identity === bot)).toMatchObject({
      op: 'resume', operator: 'alice', kid: 'ops-alice', result: 'applied', reason: 'INC-7: newsletter approved',
    });

    // On the overview it has moved from "Suspended now" to "Recently", ended by alice.
    await page.goto(`${base}/status`);
    const recent = page.locator('section').nth(1).locator(`tr[data-identity="${bot}"]`).first();
    await recent.waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('section').first().locator(`tr[data-identity="${bot}"]`).count(), { timeout: 10_000 }).toBe(0);
    expect(await recent.textContent()).toContain('operator alice');
    if (shots) await page.screenshot({ path: join(shots, 'status-page.png'), fullPage: true });
  });

  it('renders a malicious identity as text: no script runs, in the table, the heading of its page or its timeline', async () => {
    await page.goto(`${base}/status`);
    const link = page.locator('section').first().locator('a.identity', { hasText: evil });
    await link.waitFor({ timeout: 10_000 });
    expect(await link.textContent()).toBe(evil);
    expect(await page.locator('script').count()).toBe(1);
    await link.click();
    await page.waitForURL(/\/status\/identity\?id=/);
    expect(await page.locator('h1.identity').textContent()).toBe(evil);
    expect(await page.locator('ol.timeline li.detection b').first().textContent()).toBe('scope/outside-manifest');
    expect(await page.locator('script').count()).toBe(1);
    expect(dialogs).toEqual([]);
  });

  it('guards the controls: a sign-in, the same origin, the form token and a key of one\'s own', async () => {
    const post = (headers: Record<string, string>, body: string) => fetch(`${base}/status/control`, {
      method: 'POST', redirect: 'manual', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    });
    const form = `op=suspend&identity=${encodeURIComponent(bot)}&reason=x&csrf=`;
    expect((await fetch(`${base}/status`)).status).toBe(401);
    expect((await fetch(`${base}/status`, { headers: { authorization: basic('alice', VIEWER_TOKEN) } })).status).toBe(401);
    const ok = await fetch(`${base}/status`, { headers: { authorization: `Bearer ${ALICE_TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toContain("script-src 'self'");
    const csrf = /name="csrf" value="([^"]+)"/.exec(await (await fetch(`${base}/status/identity?id=${encodeURIComponent(bot)}`, { headers: { authorization: basic('alice', ALICE_TOKEN) } })).text())![1]!;
    const auth = { authorization: basic('alice', ALICE_TOKEN) };
    expect((await post({ ...auth, origin: 'http://evil.example' }, form + csrf)).status).toBe(403);
    expect((await post(auth, form + csrf)).status).toBe(403);
    expect((await post({ ...auth, origin: base }, form + 'forged')).status).toBe(403);
    // A viewer's own form token, but no key: refused.
    const viewer = { authorization: basic('viewer', VIEWER_TOKEN), origin: base };
    const vcsrf = /name="csrf" value="([^"]+)"/.exec(await (await fetch(`${base}/status`, { headers: viewer })).text());
    expect(vcsrf).toBeNull();
    const api = await (await fetch(`${base}/status/api/overview`, { headers: viewer })).json() as { now: Array<{ identity: string; by: { kind: string } }> };
    expect(api.now.map((r) => r.identity)).toContain(evil);
    // None of the tokens is in the log.
    expect(warden.logs.join('\n')).not.toContain(ALICE_TOKEN);
    expect(warden.logs.join('\n')).not.toContain(VIEWER_TOKEN);
  });
});
