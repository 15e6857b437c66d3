/**
 * Receivers written from the README alone: a gateway's command check (README
 * "Command format") and an on-call receiver's webhook check (README "On-call
 * alerts"). The facts a receiver needs (field order, MAC prefix, header
 * names, signed strings, encodings, tolerance) are read from the README text,
 * so a README that drifts from the code fails the tests that use these.
 * node:crypto only: nothing here imports Warden.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const README = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../README.md'), 'utf8');

function section(from: string, to: string): string {
  const a = README.indexOf(from);
  const b = README.indexOf(to, a);
  if (a < 0 || b < 0) throw new Error(`README has no section from "${from}" to "${to}"`);
  return README.slice(a, b);
}

/** The rows of the first markdown table in `text`: a blank line inside it would end it early. */
export function tableRows(text: string): string[][] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(l.slice(1, l.endsWith('|') ? -1 : undefined).split(' | ').map((c) => c.trim()));
  }
  return rows;
}

const ticked = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

// ---- Commands -------------------------------------------------------------

export const COMMAND_SECTION = section('### Command format', '### Signing keys');
const commandText = COMMAND_SECTION.replace(/\s+/g, ' ');
const names = (text: string): string[] => [...text.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]!);
export const COMMAND_FIELDS = names(/exactly these members, in this order: (.*?);/.exec(commandText)![1]!);
export const ACTIVE_FIELDS = names(/each element of `active` with exactly (.*?), in this order/.exec(commandText)![1]!);
export const MAC_PREFIX = /over the UTF-8 bytes of `(v\d+)\.<kid>\.<canonical string>`/.exec(commandText)![1]!;

/** JSON as the README describes it, written by hand (not JSON.stringify). */
function str(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i]!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0c) out += '\\f';
    else if (c === 0x0d) out += '\\r';
    else if (c < 0x20) out += '\\u00' + c.toString(16).padStart(2, '0');
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) out += ch + s[++i]!;
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\u' + c.toString(16);
    else out += ch;
  }
  return out + '"';
}
function value(v: unknown): string {
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return str(v);
  throw new Error(`unexpected ${typeof v}`);
}
export function canonical(o: Record<string, any>): string {
  const member = (obj: Record<string, any>, k: string): string =>
    `${str(k)}:${k === 'active' ? `[${obj.active.map((a: Record<string, any>) => `{${ACTIVE_FIELDS.map((f) => member(a, f)).join(',')}}`).join(',')}]` : value(obj[k])}`;
  return `{${COMMAND_FIELDS.map((k) => member(o, k)).join(',')}}`;
}

/** A gateway's check, from the README: key = decoded secret, MAC over `<prefix>.<kid>.<canonical>`, base64url without padding. */
export function verifyCommandRecord(recordValue: string, secretB64: string): boolean {
  const o = JSON.parse(recordValue) as Record<string, any>;
  const mac = createHmac('sha256', Buffer.from(secretB64, 'base64')).update(Buffer.from(`${MAC_PREFIX}.${o.kid}.${canonical(o)}`, 'utf8')).digest();
  const expected = Buffer.from(mac.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
  const got = Buffer.from(String(o.sig));
  return expected.length === got.length && timingSafeEqual(expected, got);
}

// ---- Webhooks -------------------------------------------------------------

export const WEBHOOK_SECTION = section('**Verifying a webhook**', 'Timeouts, connection errors');
const webhookText = WEBHOOK_SECTION.replace(/\s+/g, ' ');

export interface SignatureHeader {
  header: string;
  /** What comes before the MAC, e.g. `v1=`. */
  prefix: string;
  encoding: 'hex' | 'base64';
  /** The signed string's parts: header names, then `body`. */
  parts: string[];
}

/** Every header row of the table, and the ones that carry a signature, as the README states them. */
export const WEBHOOK_HEADERS = tableRows(WEBHOOK_SECTION).map(([h, v]) => ({ header: ticked(h!)[0]!, value: v! }));
export const SIGNATURE_HEADERS: SignatureHeader[] = WEBHOOK_HEADERS.filter((r) => /HMAC-SHA256 of `/.test(r.value)).map((r) => {
  const [prefix, template] = [ticked(r.value)[0]!, ticked(r.value).at(-1)!];
  const encoding = /\bhex\b/.test(r.value) ? 'hex' : /\bbase64\b/.test(r.value) ? 'base64' : undefined;
  if (!encoding) throw new Error(`README does not say how ${r.header} is encoded`);
  return { header: r.header, prefix, encoding, parts: template.split('.').map((p) => /^<(.+)>$/.exec(p)![1]!) };
});
export const TOLERANCE_SEC = Number(/more than (\d+) seconds from your clock/.exec(webhookText)![1]);

/**
 * The keys as the README's step 2 gives them: the Warden header's key is the
 * secret's UTF-8 bytes, not decoded; the Standard Webhooks header's is the
 * decoded part after `whsec_`, or the UTF-8 bytes of any other secret.
 */
function keyFor(header: string, secret: string): Buffer {
  const says = (re: RegExp): boolean => re.test(webhookText);
  if (header === 'X-Warden-Signature' && says(/The key of `X-Warden-Signature` is the secret exactly as set .* as UTF-8 bytes \(it is not decoded\)/)) {
    return Buffer.from(secret, 'utf8');
  }
  if (header === 'webhook-signature' && says(/`whsec_<base64>`, the base64-decoded bytes after `whsec_`; for any other secret, its UTF-8 bytes/)) {
    return secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');
  }
  throw new Error(`README does not say what the key of ${header} is`);
}

export type Headers = Record<string, string | string[] | undefined>;
const get = (h: Headers, name: string): string | undefined => {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

/** Checks every signature header the README lists; returns the headers that verified, or throws saying why not. */
export function verifyWebhookFromReadme(secret: string, headers: Headers, rawBody: Buffer, nowSec: number): string[] {
  const ok: string[] = [];
  for (const s of SIGNATURE_HEADERS) {
    const got = get(headers, s.header);
    if (got === undefined) throw new Error(`missing ${s.header}`);
    const signed = Buffer.concat(s.parts.map((p, i) => {
      const piece = p === 'body' ? rawBody : Buffer.from(get(headers, p) ?? (() => { throw new Error(`missing ${p}`); })(), 'utf8');
      return i < s.parts.length - 1 ? Buffer.concat([piece, Buffer.from('.')]) : piece;
    }));
    for (const p of s.parts.filter((x) => /timestamp/i.test(x))) {
      const ts = get(headers, p)!;
      if (!/^\d+$/.test(ts) || Math.abs(nowSec - Number(ts)) > TOLERANCE_SEC) throw new Error(`${p} ${ts} is more than ${TOLERANCE_SEC}s from now`);
    }
    if (!got.startsWith(s.prefix)) throw new Error(`${s.header} does not start with ${s.prefix}`);
    const mac = createHmac('sha256', keyFor(s.header, secret)).update(signed).digest();
    const expected = Buffer.from(s.encoding === 'hex' ? mac.toString('hex') : mac.toString('base64'));
    const sent = Buffer.from(got.slice(s.prefix.length));
    if (expected.length !== sent.length || !timingSafeEqual(expected, sent)) throw new Error(`${s.header} does not match`);
    ok.push(s.header);
  }
  return ok;
}

/**
 * A receiver as the Standard Webhooks specification describes one (not the
 * README): the secret is `whsec_` + base64 of the key; the signature header
 * is a space-separated list of `v1,<base64 HMAC-SHA256 of id.timestamp.body>`;
 * timestamps more than 5 minutes off are refused.
 */
export function verifyStandardWebhook(whsecSecret: string, headers: Headers, rawBody: Buffer, nowSec: number): boolean {
  const id = get(headers, 'webhook-id');
  const ts = get(headers, 'webhook-timestamp');
  const sigs = get(headers, 'webhook-signature');
  if (!id || !ts || !sigs || !whsecSecret.startsWith('whsec_')) return false;
  if (Math.abs(nowSec - Number(ts)) > 5 * 60) return false;
  const key = Buffer.from(whsecSecret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(Buffer.concat([Buffer.from(`${id}.${ts}.`), rawBody])).digest();
  return sigs.split(' ').some((s) => {
    const [version, b64] = s.split(',');
    if (version !== 'v1' || b64 === undefined) return false;
    const got = Buffer.from(b64, 'base64');
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}
