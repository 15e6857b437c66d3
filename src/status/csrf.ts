import { createHmac, timingSafeEqual } from 'node:crypto';
import type { StatusUser } from './users.js';

/** How long a page's form stays good. */
export const CSRF_TTL_MS = 12 * 3_600_000;

/**
 * A form token bound to the user: HMAC keyed by the digest of their own
 * status token, so every replica behind a load balancer accepts it and no
 * server-side session is kept. `<issued s>.<mac>`.
 */
function mac(user: StatusUser, issuedS: number): string {
  return createHmac('sha256', user.digest).update(`warden.status.csrf.v1.${user.operator}.${issuedS}`).digest('base64url');
}

export function csrfToken(user: StatusUser, now = Date.now()): string {
  const s = Math.floor(now / 1000);
  return `${s}.${mac(user, s)}`;
}

export function csrfValid(user: StatusUser, token: string | undefined, now = Date.now()): boolean {
  if (!token) return false;
  const dot = token.indexOf('.');
  const s = Number(token.slice(0, dot));
  if (dot < 0 || !Number.isSafeInteger(s)) return false;
  const age = now - s * 1000;
  if (age > CSRF_TTL_MS || age < -300_000) return false;
  const want = Buffer.from(mac(user, s));
  const got = Buffer.from(token.slice(dot + 1));
  return want.length === got.length && timingSafeEqual(want, got);
}

/** The browser's own word that the POST comes from this page: its Origin names the host it was sent to. */
export function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (!origin || !host) return false;
  try {
    const u = new URL(origin);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host === host.toLowerCase();
  } catch {
    return false;
  }
}
