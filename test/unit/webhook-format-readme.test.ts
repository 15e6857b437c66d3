/**
 * README "Verifying a webhook" against what Warden's signer produces, checked
 * by a receiver written from the README (test/readme/verifiers.ts) and one
 * written from the Standard Webhooks specification. The real delivery, from
 * `warden run` to an HTTP server, is in test/integration/formats-readme.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from '../../src/alerts/sign.js';
import { SIGNATURE_HEADERS, TOLERANCE_SEC, WEBHOOK_HEADERS, verifyStandardWebhook, verifyWebhookFromReadme, type Headers } from '../readme/verifiers.js';

const lower = (h: Record<string, string>): Headers => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
const body = JSON.stringify({ alertId: 'a'.repeat(64), detection: { identity: 'spiffe://x/é/😀', reason: 'quote " slash / nl \n' } });
const raw = Buffer.from(body, 'utf8');
const now = 1_763_400_000;
const ID = 'f'.repeat(64);

describe('README webhook format', () => {
  it('names every header Warden sends, in one table, with both signature schemes', () => {
    const sent = Object.keys(signWebhook('s', body, now, ID));
    expect(WEBHOOK_HEADERS.map((h) => h.header).sort()).toEqual([...sent, 'X-Warden-Alert-Id'].sort());
    expect(SIGNATURE_HEADERS).toEqual([
      { header: 'X-Warden-Signature', prefix: 'v1=', encoding: 'hex', parts: ['X-Warden-Timestamp', 'body'] },
      { header: 'webhook-signature', prefix: 'v1,', encoding: 'base64', parts: ['webhook-id', 'webhook-timestamp', 'body'] },
    ]);
    expect(TOLERANCE_SEC).toBe(300);
  });

  it.each([
    ['a plain secret', 'on-call secret, not base64 = é', `whsec_${Buffer.from('on-call secret, not base64 = é').toString('base64')}`],
    ['a whsec_ secret', `whsec_${Buffer.alloc(32, 9).toString('base64')}`, `whsec_${Buffer.alloc(32, 9).toString('base64')}`],
  ])('with %s, verifies as the README and the Standard Webhooks spec say, and only then', (_name, secret, forLibrary) => {
    const h = lower(signWebhook(secret, body, now, ID));
    expect(verifyWebhookFromReadme(secret, h, raw, now)).toEqual(['X-Warden-Signature', 'webhook-signature']);
    expect(verifyStandardWebhook(forLibrary, h, raw, now)).toBe(true);
    expect(verifyWebhook(secret, h, body, now)).toEqual({ ok: true });
    // Tampering, another secret and a stale timestamp all fail.
    expect(() => verifyWebhookFromReadme(secret, h, Buffer.from(body.replace('x', 'y')), now)).toThrow(/does not match/);
    expect(() => verifyWebhookFromReadme(`${secret}x`, h, raw, now)).toThrow(/does not match/);
    expect(() => verifyWebhookFromReadme(secret, h, raw, now + TOLERANCE_SEC + 1)).toThrow(/more than 300s/);
    expect(verifyStandardWebhook(forLibrary, { ...h, 'webhook-id': 'other' }, raw, now)).toBe(false);
    expect(verifyStandardWebhook(forLibrary, h, raw, now - 301)).toBe(false);
  });

  it('adds the Standard Webhooks headers only when given the alert id', () => {
    expect(Object.keys(signWebhook('s', body, now))).toEqual(['X-Warden-Timestamp', 'X-Warden-Signature']);
  });
});
