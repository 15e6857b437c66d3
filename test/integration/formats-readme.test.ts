/**
 * What a running `warden run` publishes and sends, checked by receivers written
 * from the README alone (test/readme/verifiers.ts): the breaker commands on the
 * commands topic (read with kcat), and the on-call webhooks delivered to a real
 * HTTP server, under Warden's scheme and under Standard Webhooks.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { encodeEvent } from '../../src/event/codec.js';
import {
  createTopic, kcatConsumeAll, kcatProduceBinary, startWarden, stopWarden, TEST_COMMAND_KEYS, uniqueName, waitForGroupCaughtUp, useServices,
} from './helpers.js';
import { newRunOf } from './runs.js';
import { verifyCommandRecord, verifyStandardWebhook, verifyWebhookFromReadme } from '../readme/verifiers.js';

let redis: Redis;
const prefixes = useServices((r) => (redis = r));

const PLAIN = 'plain on-call secret = not base64 é';
const WHSEC = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;

describe('README formats, against a running warden', () => {
  it('its commands and its webhooks verify with receivers written from the README', async () => {
    const actions = uniqueName('actions');
    await createTopic(actions, 2);
    const run = await newRunOf(actions, prefixes);
    const dir = await mkdtemp(join(tmpdir(), 'warden-formats-'));
    const received: Array<{ path: string; headers: IncomingHttpHeaders; raw: Buffer; at: number }> = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ path: req.url ?? '', headers: req.headers, raw: Buffer.concat(chunks), at: Math.floor(Date.now() / 1000) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await cp('config', dir, { recursive: true });
      await writeFile(join(dir, 'alerts.yaml'), [
        'receivers:',
        `  - { name: plain, url: "${url}/plain", format: generic, secretEnv: PLAIN_SECRET }`,
        `  - { name: whsec, url: "${url}/whsec", format: generic, secretEnv: WHSEC_SECRET }`,
      ].join('\n') + '\n');
      const warden = startWarden({ ...run.env, PLAIN_SECRET: PLAIN, WHSEC_SECRET: WHSEC }, dir);
      const started = JSON.parse(await warden.waitForLog(/"msg":"warden running"/)) as { http: string };
      // Receivers start at the end of the audit topic: produce once every consumer is in.
      for (let i = 0; i < 100 && (await fetch(`http://${started.http}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
      // A support bot reading a vault is outside its manifest: suspended at once. Its identity has what escaping must get right.
      const identity = 'spiffe://acme.example/agent/support-bot/{é}"\\\n😀\u2028';
      const event = { id: 'f1', ts: Date.UTC(2026, 10, 20), identity, action: 'vault.read', resource: 'vault:secret/x', agentClass: 'support-bot' };
      await kcatProduceBinary(actions, [{ key: identity, value: encodeEvent(event, 'msgpack') }]);
      await waitForGroupCaughtUp(run.group, actions);
      for (let i = 0; i < 150 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await stopWarden(warden)).toBe(0);

      const secretB64 = TEST_COMMAND_KEYS.slice(TEST_COMMAND_KEYS.indexOf('=') + 1);
      const records = await kcatConsumeAll(run.commands);
      const suspends = records.filter((r) => JSON.parse(r.payload!).type === 'suspend');
      expect(suspends.map((r) => [r.key, JSON.parse(r.payload!).identity])).toEqual([[identity, identity]]);
      for (const r of records) {
        expect(verifyCommandRecord(r.payload!, secretB64), r.payload!).toBe(true);
        expect(r.key).toBe(JSON.parse(r.payload!).identity);
        expect(verifyCommandRecord(r.payload!.replace('support-bot', 'support-bat'), secretB64)).toBe(false);
      }

      expect(received.map((r) => r.path).sort()).toEqual(['/plain', '/whsec']);
      for (const r of received) {
        const secret = r.path === '/plain' ? PLAIN : WHSEC;
        expect(r.headers['content-type']).toBe('application/json');
        expect(JSON.parse(r.raw.toString('utf8'))).toMatchObject({ receiver: r.path.slice(1), detection: { identity, rule: 'outside-manifest', decision: 'suspend' } });
        expect(r.headers['x-warden-alert-id']).toBe(r.headers['webhook-id']);
        expect(verifyWebhookFromReadme(secret, r.headers, r.raw, r.at)).toEqual(['X-Warden-Signature', 'webhook-signature']);
        // The README's advice for a Standard Webhooks library: whsec_ + base64 of a plain secret, a whsec_ secret as it is.
        const forLibrary = secret.startsWith('whsec_') ? secret : `whsec_${Buffer.from(secret, 'utf8').toString('base64')}`;
        expect(verifyStandardWebhook(forLibrary, r.headers, r.raw, r.at)).toBe(true);
        expect(() => verifyWebhookFromReadme('wrong', r.headers, r.raw, r.at)).toThrow(/does not match/);
        expect(verifyStandardWebhook(forLibrary, r.headers, Buffer.concat([r.raw, Buffer.from(' ')]), r.at)).toBe(false);
      }
    } finally {
      server.closeAllConnections();
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
