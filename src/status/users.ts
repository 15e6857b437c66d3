import { createHash, timingSafeEqual } from 'node:crypto';
import type { Keyring } from '../commands/keyring.js';
import { KID_PATTERN } from '../commands/keyring.js';

/** Who the status page let in: the operator name and key id every control they issue carries. */
export interface StatusUser {
  operator: string;
  /** The operator's own key in the operator keyring; null: may look, not act. */
  kid: string | null;
  /** sha256 of the token, for comparing in constant time; the token itself is not kept. */
  digest: Buffer;
}

export const OPERATOR_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;
export const MIN_TOKEN_CHARS = 24;
const TOKEN = /^[A-Za-z0-9+/=_.~-]+$/;

export type StatusUsersResult = { ok: true; users: StatusUser[] } | { ok: false; reason: string };

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * WARDEN_STATUS_TOKENS: `operator:kid=token,...` (or `operator=token` for a
 * viewer). Reasons name entries by position and operator, never the token.
 */
export function parseStatusUsers(spec: string, keyring: Keyring): StatusUsersResult {
  const users: StatusUser[] = [];
  for (const [i, entry] of spec.split(',').map((e) => e.trim()).entries()) {
    const at = `entry ${i + 1}`;
    const eq = entry.indexOf('=');
    if (eq < 0) return { ok: false, reason: `${at}: expected operator:kid=<token> or operator=<token>` };
    const who = entry.slice(0, eq).trim();
    const token = entry.slice(eq + 1).trim();
    const colon = who.indexOf(':');
    const operator = colon < 0 ? who : who.slice(0, colon);
    const kid = colon < 0 ? null : who.slice(colon + 1);
    if (!OPERATOR_PATTERN.test(operator)) return { ok: false, reason: `${at}: operator name must match [A-Za-z0-9._@-]{1,64}` };
    if (kid !== null && !KID_PATTERN.test(kid)) return { ok: false, reason: `${at} (${operator}): key id must match [A-Za-z0-9._-]{1,64}` };
    if (kid !== null && !keyring.keys.has(kid)) {
      return { ok: false, reason: `${at} (${operator}): key id "${kid}" is not in the operator keyring (WARDEN_OPERATOR_KEYS)` };
    }
    if (token.length < MIN_TOKEN_CHARS || !TOKEN.test(token)) {
      return { ok: false, reason: `${at} (${operator}): the token must be at least ${MIN_TOKEN_CHARS} characters of base64 or [A-Za-z0-9._~-] (e.g. \`openssl rand -base64 24\`)` };
    }
    if (users.some((u) => u.operator === operator)) return { ok: false, reason: `${at}: operator "${operator}" repeats an earlier entry` };
    const d = digest(token);
    if (users.some((u) => timingSafeEqual(u.digest, d))) return { ok: false, reason: `${at} (${operator}): the token repeats an earlier entry's` };
    users.push({ operator, kid, digest: d });
  }
  return { ok: true, users };
}

/**
 * The user an Authorization header names: `Bearer <token>`, or `Basic` with
 * the operator name and the token. Every configured token is compared (in
 * constant time, by digest), so the time taken says nothing of which matched.
 */
export function authenticate(users: readonly StatusUser[], header: string | undefined): StatusUser | null {
  if (!header) return null;
  let name: string | null = null;
  let token: string;
  const sp = header.indexOf(' ');
  const scheme = sp < 0 ? '' : header.slice(0, sp).toLowerCase();
  const rest = sp < 0 ? '' : header.slice(sp + 1).trim();
  if (scheme === 'bearer') {
    token = rest;
  } else if (scheme === 'basic') {
    const decoded = Buffer.from(rest, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    name = decoded.slice(0, colon);
    token = decoded.slice(colon + 1);
  } else {
    return null;
  }
  const d = digest(token);
  let found: StatusUser | null = null;
  for (const u of users) if (timingSafeEqual(u.digest, d)) found = u;
  // Basic names the operator too: a token is only good under its own name.
  if (found && name !== null && name !== found.operator) return null;
  return found;
}
