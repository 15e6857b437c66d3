import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Keyring } from '../commands/keyring.js';
import { parseDuration } from '../config/duration.js';
import { createControl } from '../control/create.js';
import type { OperatorControl } from '../control/types.js';
import { errorMessage, WardenError } from '../errors.js';
import { SCRIPT, STYLE } from './assets.js';
import { csrfToken, csrfValid, sameOrigin } from './csrf.js';
import { href, type Html } from './html.js';
import { identityPage, overview, type StatusSources } from './model.js';
import { identityView, messagePage, overviewPage, type Viewer } from './pages.js';
import { authenticate, type StatusUser } from './users.js';

/** Nothing inline runs or loads: the script and style are files of this origin, forms post only here, no framing. */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  // Not no-referrer: under it a browser sends \`Origin: null\` with the page's own form posts, which the CSRF check refuses.
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

const MAX_BODY = 16 * 1024;
const MAX_REASON = 500;
/** A control with no audit record after this long was likely refused (dead-lettered), or Warden is behind. */
const LATE_MS = 15_000;

export interface StatusApp {
  /** Handles a request under /status; false when the path is not the status page's. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

export interface StatusOptions {
  /** Null: the page is off (WARDEN_STATUS_TOKENS unset). */
  users: readonly StatusUser[] | null;
  sources: StatusSources;
  /** The operator keyring; each user's control is signed with their own kid from it. */
  keyring: Keyring;
  publish(control: OperatorControl): Promise<{ topic: string; partition: number; offset: bigint }>;
  log: Logger;
}

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, ...extra }).end(body);
}
const page = (res: ServerResponse, status: number, h: Html): void => send(res, status, 'text/html; charset=utf-8', h.text);
const json = (res: ServerResponse, status: number, v: unknown): void => send(res, status, 'application/json; charset=utf-8', JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) + '\n');

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(null);
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function createStatusApp(opts: StatusOptions): StatusApp {
  const { sources, log } = opts;
  const viewerOf = (u: StatusUser): Viewer => ({ operator: u.operator, kid: u.kid, csrf: csrfToken(u) });

  async function control(req: IncomingMessage, res: ServerResponse, user: StatusUser): Promise<void> {
    const viewer = viewerOf(user);
    const refuse = (status: number, why: string): void => page(res, status, messagePage('Control refused', why, viewer));
    // CSRF: the browser's Origin must be this host, and the form must carry this user's token.
    if (!sameOrigin(req.headers.origin, req.headers.host)) return refuse(403, 'refused: the request does not come from this page (Origin missing or another site)');
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return refuse(415, 'refused: expected a form post');
    const body = await readBody(req);
    if (body === null) return refuse(413, 'refused: the form is too large');
    const form = new URLSearchParams(body);
    if (!csrfValid(user, form.get('csrf') ?? undefined)) return refuse(403, 'refused: the form has expired or is not from this page; reload it and try again');
    if (user.kid === null) return refuse(403, `refused: ${user.operator} may look but not act (no key id in WARDEN_STATUS_TOKENS)`);
    const op = form.get('op');
    const identity = form.get('identity') ?? '';
    const reason = (form.get('reason') ?? '').trim();
    const scopeIn = (form.get('scope') ?? '').trim();
    const ttlIn = (form.get('ttl') ?? '').trim();
    if (op !== 'suspend' && op !== 'resume') return refuse(400, 'refused: op must be suspend or resume');
    if (identity === '') return refuse(400, 'refused: no identity');
    if (reason === '') return refuse(400, 'refused: a reason is required (it goes into the audit trail)');
    if (reason.length > MAX_REASON) return refuse(400, `refused: the reason is longer than ${MAX_REASON} characters`);
    let ttlMs: number | null = null;
    if (ttlIn !== '') {
      if (op === 'resume') return refuse(400, 'refused: a resume takes no ttl');
      const d = parseDuration(ttlIn);
      if (!d.ok) return refuse(400, `refused: ttl: ${d.reason}`);
      ttlMs = d.ms;
    }
    let c: OperatorControl;
    try {
      // Who acts is who signed in: the operator name and key id come from the token, never from the form.
      c = createControl({ op, identity, scope: scopeIn === '' ? (op === 'suspend' ? '*' : null) : scopeIn, ttlMs, reason, operator: user.operator },
        { keys: opts.keyring.keys, activeKid: user.kid });
    } catch (err) {
      return refuse(400, `refused: ${errorMessage(err)}`);
    }
    try {
      const at = await opts.publish(c);
      log.info({ operator: user.operator, kid: user.kid, op, controlId: c.id, partition: at.partition, offset: at.offset.toString() }, 'status page: control published');
    } catch (err) {
      log.warn({ operator: user.operator, op, err: errorMessage(err) }, 'status page: control not published');
      return refuse(502, `not published: ${errorMessage(err)}`);
    }
    res.writeHead(303, { ...SECURITY_HEADERS, location: href('/status/identity', { id: identity, control: c.id, at: String(c.ts) }) }).end();
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string, url: URL): Promise<void> {
    if (path === '/status/static/style.css') return send(res, 200, 'text/css; charset=utf-8', STYLE, { 'cache-control': 'max-age=300' });
    if (path === '/status/static/app.js') return send(res, 200, 'text/javascript; charset=utf-8', SCRIPT, { 'cache-control': 'max-age=300' });
    if (opts.users === null) {
      return send(res, 404, 'text/plain; charset=utf-8', 'the status page is off: set WARDEN_STATUS_TOKENS (see README "Status page")\n');
    }
    const user = authenticate(opts.users, req.headers.authorization);
    if (!user) {
      return send(res, 401, 'text/plain; charset=utf-8', 'sign in with your operator name and status token\n', { 'www-authenticate': 'Basic realm="Warden status", charset="UTF-8"' });
    }
    const method = req.method ?? 'GET';
    if (path === '/status/control') {
      if (method !== 'POST') return send(res, 405, 'text/plain; charset=utf-8', 'POST only\n', { allow: 'POST' });
      return control(req, res, user);
    }
    if (method !== 'GET' && method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'GET only\n', { allow: 'GET' });
    const id = url.searchParams.get('id');
    if (path === '/status' || path === '/status/') return page(res, 200, overviewPage(await overview(sources), viewerOf(user)));
    if (path === '/status/api/overview') return json(res, 200, await overview(sources));
    if (path === '/status/identity' || path === '/status/api/identity') {
      if (!id) return path.includes('/api/') ? json(res, 400, { error: 'id is required' }) : page(res, 400, messagePage('No identity', 'give an identity: /status/identity?id=...', viewerOf(user)));
      const p = await identityPage(sources, id);
      if (path.includes('/api/')) return json(res, 200, p);
      const sent = url.searchParams.get('control');
      const at = Number(url.searchParams.get('at'));
      const late = Number.isFinite(at) && at > 0 && sources.now() - at > LATE_MS;
      return page(res, 200, identityView(p, viewerOf(user), sent ? { id: sent, outcome: sources.audit.control(sent), late } : null));
    }
    return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /status\n');
  }

  return {
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://status.invalid');
      const path = url.pathname;
      if (path !== '/status' && !path.startsWith('/status/')) return false;
      route(req, res, path, url).catch((err: unknown) => {
        log.warn({ err: errorMessage(err), path }, 'status page: request failed');
        if (!res.headersSent) send(res, err instanceof WardenError ? 400 : 503, 'text/plain; charset=utf-8', `status page: ${errorMessage(err)}\n`);
        else res.end();
      });
      return true;
    },
  };
}
