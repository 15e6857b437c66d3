/**
 * HMAC keys for breaker commands, by key id (kid). Warden signs with the active
 * key; a gateway verifies with whichever key a command names.
 *
 * Rotation, without downtime:
 *   1. add the new key to every gateway's WARDEN_COMMAND_KEYS (old key stays);
 *   2. make it active in Warden (list it last, or set WARDEN_COMMAND_KEY_ID);
 *   3. once every suspension signed with the old key has ended (wait at least the
 *      breaker's maxTtl), drop the old key everywhere. Records still signed with
 *      it (old resumes stay on the compacted topic) are then COMMAND_UNKNOWN_KEY,
 *      which is harmless: they suspend nothing.
 */
export interface Keyring {
  activeKid: string;
  keys: ReadonlyMap<string, Buffer>;
}

export type KeyringResult = { ok: true; keyring: Keyring } | { ok: false; reason: string };

export const KID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const MIN_SECRET_BYTES = 32;
const BASE64 = /^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+)$/;

/** `kid1=<base64 secret>,kid2=<base64 secret>`. Reasons never quote secret material. */
export function parseKeyring(spec: string, activeKid?: string): KeyringResult {
  const keys = new Map<string, Buffer>();
  const entries = spec.split(',').map((e) => e.trim());
  if (spec.trim() === '') return { ok: false, reason: 'no keys given (expected kid=<base64 secret>[,kid=<base64 secret>...])' };
  // Entries are named by position only: a pasted bare secret ending in '=' parses as a well-formed kid.
  for (const [i, entry] of entries.entries()) {
    const at = `entry ${i + 1}`;
    const eq = entry.indexOf('=');
    if (eq < 0) return { ok: false, reason: `${at}: expected kid=<base64 secret>` };
    const kid = entry.slice(0, eq).trim();
    const b64 = entry.slice(eq + 1).trim();
    if (!KID_PATTERN.test(kid)) return { ok: false, reason: `${at}: key id must match [A-Za-z0-9._-]{1,64}` };
    if (keys.has(kid)) return { ok: false, reason: `${at}: key id repeats an earlier entry` };
    if (!BASE64.test(b64)) return { ok: false, reason: `${at}: secret is ${b64 === '' ? 'empty' : 'not base64'}` };
    const secret = Buffer.from(b64, 'base64');
    if (secret.length < MIN_SECRET_BYTES) {
      return { ok: false, reason: `${at}: secret is ${secret.length} bytes, at least ${MIN_SECRET_BYTES} required` };
    }
    keys.set(kid, secret);
  }
  const active = activeKid === undefined || activeKid === '' ? [...keys.keys()].at(-1)! : activeKid;
  if (!keys.has(active)) return { ok: false, reason: 'the active key id is not in the keyring' };
  return { ok: true, keyring: { activeKid: active, keys } };
}

/** WARDEN_COMMAND_KEYS (the spec) and optional WARDEN_COMMAND_KEY_ID (the active kid). */
export function keyringFromEnv(env: Record<string, string | undefined> = process.env, name = 'WARDEN_COMMAND'): KeyringResult {
  const spec = env[`${name}_KEYS`];
  if (spec === undefined || spec.trim() === '') return { ok: false, reason: `${name}_KEYS is not set` };
  const r = parseKeyring(spec, env[`${name}_KEY_ID`]);
  return r.ok ? r : { ok: false, reason: `${name}_KEYS: ${r.reason}` };
}

/**
 * Keys for operator controls: WARDEN_OPERATOR_KEYS (+ WARDEN_OPERATOR_KEY_ID),
 * else the command keys. Separate keys keep whoever can verify commands (every
 * gateway) from issuing operator suspends and resumes.
 */
export function operatorKeyringFromEnv(env: Record<string, string | undefined> = process.env): KeyringResult {
  const own = env.WARDEN_OPERATOR_KEYS;
  return own !== undefined && own.trim() !== '' ? keyringFromEnv(env, 'WARDEN_OPERATOR') : keyringFromEnv(env);
}
