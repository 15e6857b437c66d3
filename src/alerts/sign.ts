import { createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'X-Warden-Timestamp';
export const SIGNATURE_HEADER = 'X-Warden-Signature';
/** Standard Webhooks (standardwebhooks.com), beside Warden's own, so receivers can verify with its libraries. */
export const STANDARD_HEADERS = { id: 'webhook-id', timestamp: 'webhook-timestamp', signature: 'webhook-signature' } as const;
const WHSEC = 'whsec_';

export type HeaderSource = Headers | Record<string, string | string[] | undefined>;
export type VerifyResult = { ok: true } | { ok: false; reason: string };

function hmac(secret: string, body: string, timestampSec: number | string): string {
  return createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex');
}

/** The Standard Webhooks key: a `whsec_<base64>` secret is its decoded bytes, any other secret its UTF-8 bytes. */
export function standardWebhookKey(secret: string): Buffer {
  return secret.startsWith(WHSEC) ? Buffer.from(secret.slice(WHSEC.length), 'base64') : Buffer.from(secret, 'utf8');
}

/**
 * The timestamp is signed with the body so a captured request cannot be replayed later with a fresh timestamp.
 * With `id` (the alert id, the same on every retry) the Standard Webhooks headers are added too.
 */
export function signWebhook(secret: string, body: string, timestampSec: number, id?: string): Record<string, string> {
  const ts = Math.floor(timestampSec);
  const own = { [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: `v1=${hmac(secret, body, ts)}` };
  if (id === undefined) return own;
  const sig = createHmac('sha256', standardWebhookKey(secret)).update(`${id}.${ts}.${body}`).digest('base64');
  return { ...own, [STANDARD_HEADERS.id]: id, [STANDARD_HEADERS.timestamp]: String(ts), [STANDARD_HEADERS.signature]: `v1,${sig}` };
}

function header(h: HeaderSource, name: string): string | undefined {
  if (h instanceof Headers) return h.get(name) ?? undefined;
  const lower = name.toLowerCase();
  const key = Object.keys(h).find((k) => k.toLowerCase() === lower);
  const v = key === undefined ? undefined : h[key];
  return Array.isArray(v) ? v[0] : v;
}

/** For receivers: checks the signature over the raw body and refuses timestamps outside the tolerance (replays). */
export function verifyWebhook(secret: string, headers: HeaderSource, body: string, nowSec: number, toleranceSec = 300): VerifyResult {
  const ts = header(headers, TIMESTAMP_HEADER);
  const sig = header(headers, SIGNATURE_HEADER);
  if (ts === undefined) return { ok: false, reason: `missing ${TIMESTAMP_HEADER} header` };
  if (sig === undefined) return { ok: false, reason: `missing ${SIGNATURE_HEADER} header` };
  if (!/^\d{1,15}$/.test(ts)) return { ok: false, reason: `malformed ${TIMESTAMP_HEADER} header` };
  if (Math.abs(nowSec - Number(ts)) > toleranceSec) return { ok: false, reason: `stale timestamp (more than ${toleranceSec}s from now): possible replay` };
  const m = /^v1=([0-9a-f]{64})$/.exec(sig.trim());
  if (m === null) return { ok: false, reason: `malformed ${SIGNATURE_HEADER} header (expected v1=<64 hex>)` };
  const expected = Buffer.from(hmac(secret, body, ts), 'hex');
  return timingSafeEqual(expected, Buffer.from(m[1]!, 'hex')) ? { ok: true } : { ok: false, reason: 'bad signature' };
}
