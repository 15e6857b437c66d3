/**
 * A gateway written from the README alone: the field order, the string
 * escaping, the MAC input and the key are read from (or written only after)
 * README "Command format", and checked against commands Warden really signs.
 * Nothing from Warden's signing code is used to verify.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { offend } from '../../src/breaker/breaker.js';
import { restatement } from '../../src/breaker/sequence.js';
import type { BreakerCommand } from '../../src/breaker/types.js';
import { parseKeyring } from '../../src/commands/keyring.js';
import { signCommand } from '../../src/commands/sign.js';

const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../README.md'), 'utf8');
const section = readme.slice(readme.indexOf('### Command format'), readme.indexOf('### Signing keys'));
const flat = section.replace(/\s+/g, ' ');
const names = (text: string): string[] => [...text.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]!);
const FIELDS = names(/exactly these members, in this order: (.*?);/.exec(flat)![1]!);
const ACTIVE = names(/each element of `active` with exactly (.*?), in this order/.exec(flat)![1]!);
const PREFIX = /over the UTF-8 bytes of `(v\d+)\.<kid>\.<canonical string>`/.exec(flat)![1]!;
const SECRET_B64 = Buffer.alloc(32, 0).map((_, i) => (i * 37 + 11) & 0xff).toString('base64');

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
function canonical(o: Record<string, any>): string {
  const member = (obj: Record<string, any>, k: string) => `${str(k)}:${k === 'active' ? `[${obj.active.map((a: Record<string, any>) => `{${ACTIVE.map((f) => member(a, f)).join(',')}}`).join(',')}]` : value(obj[k])}`;
  return `{${FIELDS.map((k) => member(o, k)).join(',')}}`;
}
/** A gateway's check, from the README: key = decoded secret, MAC over `<prefix>.<kid>.<canonical>`, base64url without padding. */
function verifies(recordValue: string, secretB64: string): boolean {
  const o = JSON.parse(recordValue) as Record<string, any>;
  const mac = createHmac('sha256', Buffer.from(secretB64, 'base64')).update(Buffer.from(`${PREFIX}.${o.kid}.${canonical(o)}`, 'utf8')).digest();
  const expected = Buffer.from(mac.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
  const got = Buffer.from(String(o.sig));
  return expected.length === got.length && timingSafeEqual(expected, got);
}

describe('README command format, verified independently', () => {
  const ring = parseKeyring(`gw-1=${SECRET_B64}`);
  if (!ring.ok) throw new Error(ring.reason);
  const T = 1_763_400_000_000;

  it('states the signed fields and the version', () => {
    expect(FIELDS).toEqual(['v', 'seq', 'type', 'commandId', 'identity', 'scope', 'until', 'probationUntil', 'reason', 'detector', 'issuedAt', 'eventId', 'strike', 'cascade', 'active']);
    expect(ACTIVE).toEqual(['scope', 'until', 'cascade', 'commandId', 'reason']);
    expect(PREFIX).toBe('v2');
  });

  const awkward = 'quote " backslash \\ slash / tab \t nl \n cr \r bs \b ff \f nul \u0000 unit \u001f del \u007f é 中 😀 \u2028';
  const breaker: BreakerCommand = (() => {
    const c = offend({}, {
      detector: 'scope', rule: 'r', severity: 'high', decision: 'suspend', mode: 'enforce', scope: '*', identity: `spiffe://x/${awkward}`,
      ts: T, eventId: 'e-1', action: 'vault.read', resource: 'vault:x', chain: [], agentClass: 'bot', reason: awkward, evidence: {},
    } as never, { ttlMs: 900_000, maxTtlMs: 86_400_000, probationMs: 600_000, probationActions: 0, forgiveAfterMs: 86_400_000 } as never)!;
    return { ...c, seq: T + 7 };
  })();

  it.each<[string, BreakerCommand]>([
    ['a detector suspend with awkward strings', breaker],
    ['a resume', { ...breaker, type: 'resume', until: null, probationUntil: null, detector: null, eventId: null, active: [] }],
    ['a state restatement', restatement('agent-1', { state: {}, seq: T, at: T })],
  ])('%s, as Warden publishes it', (_name, cmd) => {
    const record = JSON.stringify({ kind: 'command', ...signCommand(cmd, ring.keyring) });
    expect(verifies(record, SECRET_B64)).toBe(true);
    // URL-safe base64 of the same secret is the same key.
    expect(verifies(record, Buffer.from(SECRET_B64, 'base64').toString('base64url'))).toBe(true);
    // Any change to a signed field, or the base64 text used as the key, fails.
    const o = JSON.parse(record) as Record<string, any>;
    expect(verifies(JSON.stringify({ ...o, seq: o.seq + 1 }), SECRET_B64)).toBe(false);
    expect(verifies(JSON.stringify({ ...o, reason: `${o.reason}.` }), SECRET_B64)).toBe(false);
    const mac = createHmac('sha256', SECRET_B64).update(`${PREFIX}.${o.kid}.${canonical(o)}`).digest('base64url');
    expect(mac).not.toBe(o.sig);
  });
});
