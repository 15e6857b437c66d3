import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { BreakerCommand } from '../../src/breaker/types.js';
import { keyringFromEnv, parseKeyring, type Keyring } from '../../src/commands/keyring.js';
import { canonicalCommand, signCommand, verifyCommand } from '../../src/commands/sign.js';
import { WardenError } from '../../src/errors.js';
import { CommandTable } from '../../src/enforcer/table.js';

const NOW = 1_700_000_000_000;
const secretA = randomBytes(32).toString('base64');
const secretB = randomBytes(48).toString('base64url');
// A secret with only alphanumerics and padding: pasted bare, it parses as a well-formed kid.
const bare = `${'Q'.repeat(43)}=`;

function ring(spec: string, active?: string): Keyring {
  const r = parseKeyring(spec, active);
  if (!r.ok) throw new Error(r.reason);
  return r.keyring;
}

/** A command whose `active` is the state a single-scope breaker would publish, unless given. */
function withActive(c: Omit<BreakerCommand, 'active'> & { active?: BreakerCommand['active'] }): BreakerCommand {
  const active = c.active ?? (c.type === 'suspend' ? [{ scope: c.scope, until: c.until!, cascade: c.cascade, commandId: c.commandId, reason: c.reason }] : []);
  return { ...c, active };
}

function suspend(over: Partial<BreakerCommand> = {}): BreakerCommand {
  return withActive({
    v: 2, seq: 1, type: 'suspend', commandId: 'c-1', identity: 'agent-a', scope: '*', until: NOW + 60_000, probationUntil: NOW + 120_000,
    reason: 'rate over hard limit', detector: 'rate', issuedAt: NOW - 1000, eventId: 'e-1', strike: 1, cascade: true, ...over,
  });
}

function resume(over: Partial<BreakerCommand> = {}): BreakerCommand {
  return withActive({ ...suspend(), active: undefined, type: 'resume', commandId: 'r-1', until: null, probationUntil: null, eventId: null, reason: 'probation ended', ...over });
}

describe('parseKeyring', () => {
  it('parses keys and makes the last listed active unless told', () => {
    const k = ring(`k1=${secretA}, k2=${secretB}`);
    expect(k.activeKid).toBe('k2');
    expect([...k.keys.keys()]).toEqual(['k1', 'k2']);
    expect(k.keys.get('k2')!.length).toBe(48);
    expect(ring(`k1=${secretA},k2=${secretB}`, 'k1').activeKid).toBe('k1');
  });

  it.each([
    ['', 'no keys given'],
    [`${secretB}`, 'entry 1: expected kid=<base64 secret>'],
    [bare, 'entry 1: secret is empty'],
    [`k1=${secretA},${bare}`, 'entry 2: secret is empty'],
    ['k/1=QQ', 'entry 1: key id must match'],
    [`k1=${secretA},bad kid!=${secretB}`, 'entry 2: key id must match'],
    [`=${secretA}`, 'entry 1: key id must match'],
    [`k1=${secretA},k1=${secretB}`, 'entry 2: key id repeats an earlier entry'],
    ['k1=not*base64', 'entry 1: secret is not base64'],
    [`k1=${randomBytes(31).toString('base64')}`, 'entry 1: secret is 31 bytes, at least 32 required'],
    [`k1=${secretA},`, 'entry 2: expected kid'],
  ])('refuses %j', (spec, reason) => {
    const r = parseKeyring(spec);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toContain(reason);
      expect(r.reason).not.toContain(secretA);
      expect(r.reason).not.toContain(secretB);
      expect(r.reason).not.toContain('QQQQ');
    }
  });

  it('refuses an active kid that is not in the ring, without echoing it', () => {
    expect(parseKeyring(`k1=${secretA}`, 'k9')).toEqual({ ok: false, reason: 'the active key id is not in the keyring' });
    expect(parseKeyring(`k1=${secretA}`, secretB)).toEqual({ ok: false, reason: 'the active key id is not in the keyring' });
  });

  it('reads WARDEN_COMMAND_KEYS and WARDEN_COMMAND_KEY_ID', () => {
    const r = keyringFromEnv({ WARDEN_COMMAND_KEYS: `old=${secretA},new=${secretB}`, WARDEN_COMMAND_KEY_ID: 'old' });
    expect(r.ok && r.keyring.activeKid).toBe('old');
    expect(keyringFromEnv({})).toEqual({ ok: false, reason: 'WARDEN_COMMAND_KEYS is not set' });
    const bad = keyringFromEnv({ WARDEN_COMMAND_KEYS: 'k1=short' });
    expect(bad.ok === false && bad.reason === 'WARDEN_COMMAND_KEYS: entry 1: secret is 3 bytes, at least 32 required').toBe(true);
  });
});

describe('signCommand / verifyCommand', () => {
  const keyring = ring(`k1=${secretA}`);

  it('round-trips, from a string or bytes, and drops unsigned extra fields', () => {
    const signed = signCommand(suspend(), keyring);
    expect(signed.kid).toBe('k1');
    expect(signed.sig).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(verifyCommand(JSON.stringify(signed), keyring, NOW)).toEqual({ ok: true, command: signed });
    const bytes = new TextEncoder().encode(JSON.stringify({ kind: 'command', ...signed }));
    expect(verifyCommand(bytes, keyring, NOW)).toEqual({ ok: true, command: signed });
    const r = signCommand(resume(), keyring);
    expect(verifyCommand(JSON.stringify(r), keyring, NOW + 10 ** 12).ok).toBe(true);
  });

  it('refuses to sign a malformed command or with a missing active key', () => {
    expect(() => signCommand(suspend({ until: undefined as unknown as number }), keyring)).toThrow(WardenError);
    expect(() => signCommand(suspend(), { activeKid: 'nope', keys: keyring.keys })).toThrow(/not in the keyring/);
  });

  it.each<[string, unknown]>([
    ['seq', 2], ['type', 'resume'], ['commandId', 'c-2'], ['identity', 'agent-b'], ['scope', 'email.send'], ['until', NOW + 100_000],
    ['probationUntil', NOW + 999_999], ['reason', 'other'], ['detector', 'scope'], ['issuedAt', NOW], ['eventId', 'e-2'],
    ['strike', 2], ['cascade', false],
  ])('tampering with %s is COMMAND_FORGED', (field, value) => {
    const signed = { ...signCommand(suspend(), keyring), [field]: value } as Record<string, unknown>;
    if (field === 'type') Object.assign(signed, { until: null, probationUntil: null });
    const r = verifyCommand(JSON.stringify(signed), keyring, NOW);
    expect(r).toMatchObject({ ok: false, code: 'COMMAND_FORGED' });
  });

  it('a forged signature or a swapped kid is COMMAND_FORGED', () => {
    const two = ring(`k1=${secretA},k2=${secretB}`, 'k1');
    const signed = signCommand(suspend(), two);
    const other = signCommand(suspend(), ring(`k1=${randomBytes(32).toString('base64')}`));
    expect(verifyCommand(JSON.stringify({ ...signed, sig: other.sig }), two, NOW)).toMatchObject({ code: 'COMMAND_FORGED' });
    expect(verifyCommand(JSON.stringify({ ...signed, kid: 'k2' }), two, NOW)).toMatchObject({ code: 'COMMAND_FORGED' });
    // base64url's last character carries 2 spare bits: a different string must not pass as the same bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = signed.sig.slice(0, -1) + alphabet[alphabet.indexOf(signed.sig.at(-1)!) + 1]!;
    expect(Buffer.from(twin, 'base64url')).toEqual(Buffer.from(signed.sig, 'base64url'));
    expect(verifyCommand(JSON.stringify({ ...signed, sig: twin }), two, NOW)).toMatchObject({ code: 'COMMAND_FORGED' });
  });

  it('an unknown kid is COMMAND_UNKNOWN_KEY', () => {
    const signed = signCommand(suspend(), ring(`gone=${secretB}`));
    expect(verifyCommand(JSON.stringify(signed), keyring, NOW)).toEqual({
      ok: false, code: 'COMMAND_UNKNOWN_KEY', reason: 'key id "gone" is not in the keyring',
    });
  });

  it('a suspend whose until <= now is COMMAND_EXPIRED, after the signature is checked', () => {
    const signed = signCommand(suspend({ until: NOW, probationUntil: NOW + 5 }), keyring);
    expect(verifyCommand(JSON.stringify(signed), keyring, NOW - 1).ok).toBe(true);
    expect(verifyCommand(JSON.stringify(signed), keyring, NOW)).toMatchObject({ ok: false, code: 'COMMAND_EXPIRED' });
    expect(verifyCommand(JSON.stringify({ ...signed, reason: 'x' }), keyring, NOW)).toMatchObject({ code: 'COMMAND_FORGED' });
  });

  const good = (): Record<string, unknown> => ({ ...signCommand(suspend(), keyring) });
  it.each<[string, () => unknown]>([
    ['not JSON', () => 'nope{'],
    ['an array', () => [good()]],
    ['null', () => null],
    ['v 3 as a string', () => ({ ...good(), v: '3' })],
    ['seq missing', () => ({ ...good(), seq: undefined })],
    ['negative seq', () => ({ ...good(), seq: -1 })],
    ['fractional seq', () => ({ ...good(), seq: 1.5 })],
    ['unsafe seq', () => ({ ...good(), seq: 2 ** 53 })],
    ['state with until', () => ({ ...good(), type: 'state', probationUntil: null })],
    ['type missing', () => ({ ...good(), type: undefined })],
    ['type unknown', () => ({ ...good(), type: 'pause' })],
    ['empty identity', () => ({ ...good(), identity: '' })],
    ['numeric scope', () => ({ ...good(), scope: 7 })],
    ['string until', () => ({ ...good(), until: String(NOW + 1) })],
    ['fractional issuedAt', () => ({ ...good(), issuedAt: 1.5 })],
    ['probationUntil before until', () => ({ ...good(), probationUntil: NOW })],
    ['resume with until', () => ({ ...good(), type: 'resume', probationUntil: null })],
    ['numeric reason', () => ({ ...good(), reason: 1 })],
    ['detector 0', () => ({ ...good(), detector: 0 })],
    ['eventId missing', () => ({ ...good(), eventId: undefined })],
    ['negative strike', () => ({ ...good(), strike: -1 })],
    ['string cascade', () => ({ ...good(), cascade: 'true' })],
    ['no kid', () => ({ ...good(), kid: undefined })],
    ['bad kid', () => ({ ...good(), kid: 'a b' })],
    ['short sig', () => ({ ...good(), sig: 'abc' })],
    ['standard base64 sig', () => ({ ...good(), sig: `${'A'.repeat(42)}+` })],
  ])('%s is COMMAND_MALFORMED', (_name, make) => {
    const v = make();
    const r = verifyCommand(typeof v === 'string' ? v : JSON.stringify(v), keyring, NOW);
    expect(r).toMatchObject({ ok: false, code: 'COMMAND_MALFORMED' });
  });

  it('a v1 command (no seq) or any other version is COMMAND_UNSUPPORTED_VERSION, before its signature is checked', () => {
    const { seq: _seq, ...v1 } = { ...good(), v: 1 };
    expect(verifyCommand(JSON.stringify(v1), keyring, NOW)).toMatchObject({ ok: false, code: 'COMMAND_UNSUPPORTED_VERSION' });
    expect(verifyCommand(JSON.stringify({ ...good(), v: 3 }), keyring, NOW)).toMatchObject({ ok: false, code: 'COMMAND_UNSUPPORTED_VERSION' });
  });

  it('bytes that are not UTF-8 or too large are COMMAND_MALFORMED', () => {
    expect(verifyCommand(new Uint8Array([0x7b, 0xff, 0x7d]), keyring, NOW)).toMatchObject({ code: 'COMMAND_MALFORMED', reason: 'command is not UTF-8' });
    expect(verifyCommand(new Uint8Array(64 * 1024 + 1), keyring, NOW)).toMatchObject({ code: 'COMMAND_MALFORMED' });
  });

  it('rotation: old-key commands verify while the old key is in the ring, not after', () => {
    const before = ring(`old=${secretA}`);
    const during = ring(`old=${secretA},new=${secretB}`);
    const after = ring(`new=${secretB}`);
    expect(during.activeKid).toBe('new');
    const fromOld = JSON.stringify(signCommand(suspend(), before));
    const fromNew = JSON.stringify(signCommand(suspend({ commandId: 'c-2' }), during));
    expect(verifyCommand(fromOld, during, NOW).ok).toBe(true);
    expect(verifyCommand(fromNew, during, NOW).ok).toBe(true);
    expect(verifyCommand(fromNew, after, NOW).ok).toBe(true);
    expect(verifyCommand(fromOld, after, NOW)).toMatchObject({ code: 'COMMAND_UNKNOWN_KEY' });
  });

  it('the canonical form ignores the key order of the input', () => {
    const signed = signCommand(suspend(), keyring);
    const reversed = Object.fromEntries(Object.entries(signed).reverse()) as typeof signed;
    expect(JSON.stringify(reversed)).not.toBe(JSON.stringify(signed));
    expect(canonicalCommand(reversed)).toBe(canonicalCommand(signed));
    expect(verifyCommand(JSON.stringify(reversed), keyring, NOW)).toEqual({ ok: true, command: signed });
    expect(signCommand(Object.fromEntries(Object.entries(suspend()).reverse()) as BreakerCommand, keyring).sig).toBe(signed.sig);
  });
});

describe('CommandTable', () => {
  const keyring = ring(`k1=${secretA}`);
  const s = (over: Partial<BreakerCommand>) => signCommand(suspend(over), keyring);
  const r = (over: Partial<BreakerCommand>) => signCommand(resume(over), keyring);

  it('denies by scope, cascades only when told, and allows during probation', () => {
    let now = NOW;
    const t = new CommandTable(() => now);
    t.apply(s({ identity: 'a', scope: 'email.send', cascade: false }));
    t.apply(s({ identity: 'p', scope: '*', cascade: true, commandId: 'c-p' }));
    t.apply(s({ identity: 'q', scope: '*', cascade: false, commandId: 'c-q' }));
    t.apply(s({ identity: 'w', scope: 'db.write', cascade: true, commandId: 'c-w' }));
    expect(t.check('a', 'email.send')).toMatchObject({ allow: false, identity: 'a', scope: 'email.send', commandId: 'c-1', until: NOW + 60_000 });
    expect(t.check('a', 'file.read')).toEqual({ allow: true });
    expect(t.check('kid', 'email.send', ['a'])).toEqual({ allow: true });
    expect(t.check('kid', 'x', ['root', 'p'])).toMatchObject({ allow: false, identity: 'p', scope: '*' });
    expect(t.check('kid', 'x', ['q'])).toEqual({ allow: true });
    expect(t.check('kid', 'db.write', ['w'])).toMatchObject({ allow: false, identity: 'w' });
    expect(t.check('kid', 'db.read', ['w'])).toEqual({ allow: true });
    now = NOW + 60_000;
    expect(t.check('p', 'x')).toEqual({ allow: true });
    expect(t.check('a', 'email.send')).toEqual({ allow: true });
  });

  it('applies only a strictly higher seq, whatever issuedAt and topic order say', () => {
    const t = new CommandTable(() => NOW);
    expect(t.apply(s({ seq: 10, issuedAt: NOW - 10 }))).toBe('applied');
    // A re-published older resume, even one claiming a later event time.
    expect(t.apply(r({ seq: 9, issuedAt: NOW }))).toBe('stale');
    expect(t.check('agent-a', 'x').allow).toBe(false);
    // Ties never apply, even with equal issuedAt and different content.
    expect(t.apply(r({ seq: 10, issuedAt: NOW - 10 }))).toBe('repeated');
    expect(t.check('agent-a', 'x').allow).toBe(false);
    expect(t.apply(r({ seq: 11, issuedAt: NOW - 20 }))).toBe('applied');
    expect(t.check('agent-a', 'x').allow).toBe(true);
    expect(t.apply(s({ seq: 10 }))).toBe('stale');
    expect(t.check('agent-a', 'x').allow).toBe(true);
    expect(t.apply(s({ seq: 12, commandId: 'c-3' }))).toBe('applied');
    expect(t.check('agent-a', 'x')).toMatchObject({ allow: false, commandId: 'c-3' });
  });

  it('never drops a suspension in force for a later command that does not resume it', () => {
    let now = NOW;
    const t = new CommandTable(() => now);
    const whole = { scope: '*', until: NOW + 60_000, cascade: true, commandId: 'c-1', reason: 'rate over hard limit' };
    const mail = { scope: 'email.send', until: NOW + 30_000, cascade: false, commandId: 'c-m', reason: 'mail' };
    t.apply(s({ seq: 1, active: [whole] }));
    // A newer suspend of another scope whose `active` omits the whole-identity suspension.
    t.apply(s({ seq: 2, scope: 'email.send', cascade: false, commandId: 'c-m', reason: 'mail', until: NOW + 30_000, active: [mail] }));
    expect(t.check('agent-a', 'file.read')).toMatchObject({ allow: false, scope: '*' });
    // A restatement listing nothing, and a resume of another scope, do not lift it either.
    t.apply(signCommand({ ...resume({ seq: 3 }), type: 'state', active: [] }, keyring));
    expect(t.check('agent-a', 'file.read')).toMatchObject({ allow: false, scope: '*' });
    t.apply(r({ seq: 4, scope: 'email.send', cascade: false }));
    expect(t.check('agent-a', 'email.send')).toMatchObject({ allow: false, scope: '*' });
    // The resume of exactly that scope lifts it; the capability was resumed at seq 4.
    t.apply(r({ seq: 5, scope: '*' }));
    expect(t.check('agent-a', 'email.send')).toEqual({ allow: true });
    // A suspension whose until has passed is not in force: a later command may drop it.
    t.apply(s({ seq: 6, active: [{ ...whole, until: NOW + 1000 }] }));
    now = NOW + 1000;
    t.apply(signCommand({ ...resume({ seq: 7 }), type: 'state', active: [] }, keyring));
    now = NOW;
    expect(t.check('agent-a', 'x')).toEqual({ allow: true });
  });
});

describe('enforcer import graph', () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  // The Kafka side comes through the seam: the feed, its kafkajs implementation and the interfaces, nothing of the service.
  const allowedFiles = /^src\/(enforcer\/[^/]+|commands\/[^/]+|breaker\/types|errors|transport\/(topic-feed|kafkajs|types))\.ts$/;
  const allowedPackages = new Set(['kafkajs']);

  // Type-only imports are erased from the JS a gateway loads (breaker/types.ts names
  // DetectorName, a type), so only value imports count.
  function imports(file: string): string[] {
    const src = readFileSync(file, 'utf8');
    const out: string[] = [];
    for (const m of src.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^;'"]*?\bfrom\s+['"]([^'"]+)['"]/gm)) if (!m[1]) out.push(m[2]!);
    for (const m of src.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) out.push(m[1]!);
    for (const m of src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
    return out;
  }

  it('reaches only the command format, commands, errors, kafkajs and node builtins', () => {
    const start = ['src/enforcer', 'src/commands'].flatMap((d) =>
      readdirSync(join(root, d)).filter((f) => f.endsWith('.ts')).map((f) => join(root, d, f)));
    const seen = new Set<string>();
    const packages = new Set<string>();
    const queue = [...start];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const spec of imports(file)) {
        if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        else if (!spec.startsWith('node:')) packages.add(spec);
      }
    }
    const files = [...seen].map((f) => relative(root, f)).sort();
    expect(files.filter((f) => !allowedFiles.test(f))).toEqual([]);
    expect([...packages].filter((p) => !allowedPackages.has(p))).toEqual([]);
    expect(files).toContain('src/breaker/types.ts');
    expect(packages.has('kafkajs')).toBe(true);
  });
});
