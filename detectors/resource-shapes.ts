/**
 * Built-in resource shapes. A resource is read as a few *learned levels*
 * (coarse to fine: the system, then where in it) and a *leaf* (the one object:
 * a customer id, an object key, a mailbox) that is never learned, because a
 * new one is normal. Each parser is one left-to-right scan, O(length); the
 * levels are substrings of the resource except where a part is dropped
 * (a URL's user info, an email's local part).
 *
 *   url    `https://host/a/b/leaf`, `url:host/a/leaf`  → `https://host`, `https://host/a`, ...; query and fragment dropped
 *   email  `bob@acme.com` → `@acme.com`;  `email:bob@acme.com` → `email`, `email:@acme.com`
 *   arn    `arn:aws:ec2:us-east-1:123:instance/i-1` → `arn:aws:ec2`, `arn:aws:ec2:us-east-1:123`, `…:123:instance`;
 *          S3 (no region, no account): `arn:aws:s3:::bucket/key` → `arn:aws:s3`, `arn:aws:s3:::bucket`, then key folders
 *   path   `db:prod.users`, `crm:customers/42` → `db`, `db:prod` (split on `:`, `/`, `.`; the last segment is the leaf)
 *   id     a bare token: a word (`vault`) is learned whole; `i-0abc`, `cus_9x` learn their kind `i-*`, `cus_*`;
 *          anything else (`3f2a…`, `42`) learns the kind `*`: one opaque id is never new
 *   name   the whole resource is one learned level (bare bucket names, when every one matters)
 */

export const SHAPES = ['auto', 'url', 'email', 'arn', 'path', 'id', 'name'] as const;
export type ResourceShape = (typeof SHAPES)[number];
export type ConcreteShape = Exclude<ResourceShape, 'auto'>;

/** Kind of a bare token that is neither a word nor `prefix-…`. */
export const OPAQUE_KIND = '*';

/** Set by every parse: the shape used and where the leaf is ([leafFrom, leafTo) of the resource). */
export const parsed = { shape: 'path' as ConcreteShape, leafFrom: 0, leafTo: 0 };

const COLON = 58;
const SLASH = 47;
const DOT = 46;
const AT = 64;
const QUERY = 63;
const HASH = 35;

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/** Index of the next ':', '/' or '.' at or after `from`, or -1. */
export function nextSep(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === COLON || c === SLASH || c === DOT) return i;
  }
  return -1;
}

/** The shape `auto` picks: ARN, URL, email, path, else a bare id. Native scans only (indexOf), no per-character loop. */
export function detectShape(r: string): ConcreteShape {
  const colon = r.indexOf(':');
  if (colon === 3) {
    if (r.startsWith('arn') && (hint = arnColons(r)) >= 0) return 'arn';
    if (r.startsWith('url')) return 'url';
  }
  if (colon > 0 && r.charCodeAt(colon + 1) === SLASH && r.charCodeAt(colon + 2) === SLASH && schemeEnd(r) > 0) return 'url';
  if ((hint = emailAt(r)) > 0) return 'email';
  return colon >= 0 || r.indexOf('/') >= 0 || r.indexOf('.') >= 0 ? 'path' : 'id';
}

/** What detectShape found on the way (the ARN's fifth colon, the email's `@`), so the parser does not look again. */
let hint = -1;

/**
 * Writes up to `depth` learned levels of `r` into `out` and returns how many.
 * `out` is caller-owned scratch, reused across calls.
 */
export function resourceLevels(r: string, shape: ResourceShape, depth: number, out: string[]): number {
  hint = -1;
  const s = shape === 'auto' ? detectShape(r) : shape;
  parsed.shape = s;
  parsed.leafFrom = r.length;
  parsed.leafTo = r.length;
  if (depth <= 0) return 0;
  switch (s) {
    case 'url':
      return url(r, depth, out);
    case 'email':
      return email(r, depth, out);
    case 'arn':
      return arn(r, depth, out);
    case 'path':
      return path(r, 0, depth, out, 0);
    case 'id':
      return id(r, out);
    case 'name':
      out[0] = r;
      return 1;
  }
}

/** Segments split on ':', '/', '.', from `from`; every segment but the last is a level. Level 1 is the system even without a separator. */
function path(r: string, from: number, depth: number, out: string[], n: number): number {
  let pos = from;
  while (n < depth) {
    const sep = nextSep(r, pos);
    if (sep < 0) {
      if (n === 0) {
        out[n++] = r;
        parsed.leafFrom = r.length;
        return n;
      }
      break;
    }
    out[n++] = r.slice(0, sep);
    pos = sep + 1;
  }
  parsed.leafFrom = pos;
  return n;
}

/** Index just past `scheme://` (a letter, then letters, digits, `+-.`), or -1. */
function schemeEnd(r: string, from = 0): number {
  if (!isLetter(r.charCodeAt(from))) return -1;
  for (let i = from + 1; i < r.length; i++) {
    const c = r.charCodeAt(i);
    if (c === COLON) return r.charCodeAt(i + 1) === SLASH && r.charCodeAt(i + 2) === SLASH ? i + 3 : -1;
    if (!(isLetter(c) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === DOT)) return -1;
  }
  return -1;
}

function url(r: string, depth: number, out: string[]): number {
  const start = r.startsWith('url:') ? 4 : 0;
  const se = schemeEnd(r, start);
  const auth = se > 0 ? se : start;
  let authEnd = auth;
  let userAt = -1;
  for (; authEnd < r.length; authEnd++) {
    const c = r.charCodeAt(authEnd);
    if (c === SLASH || c === QUERY || c === HASH) break;
    if (c === AT) userAt = authEnd;
  }
  let pathEnd = r.indexOf('?', authEnd);
  if (pathEnd < 0) pathEnd = r.length;
  const hash = r.indexOf('#', authEnd);
  if (hash >= 0 && hash < pathEnd) pathEnd = hash;
  // User info (`user:secret@`) is never learned: it may be a credential.
  const host = userAt < 0 ? r.slice(0, authEnd) : r.slice(0, auth) + r.slice(userAt + 1, authEnd);
  out[0] = host;
  let n = 1;
  let pos = authEnd;
  while (n < depth) {
    const next = r.indexOf('/', pos + 1);
    if (next < 0 || next >= pathEnd) break;
    out[n++] = userAt < 0 ? r.slice(0, next) : host + r.slice(authEnd, next);
    pos = next;
  }
  parsed.leafFrom = pos < pathEnd ? pos + 1 : pathEnd;
  parsed.leafTo = pathEnd;
  return n;
}

/**
 * Index of the `@` of `local@domain` or `system:local@domain`, or -1: the
 * domain has no ':' or '/', the local part no '/', the system no '/'.
 */
function emailAt(r: string): number {
  const at = r.lastIndexOf('@');
  if (at <= 0 || at === r.length - 1 || r.indexOf('/') >= 0 || r.indexOf(':', at) >= 0) return -1;
  return r.indexOf(':') === at - 1 ? -1 : at;
}

function email(r: string, depth: number, out: string[]): number {
  const at = hint > 0 ? hint : emailAt(r);
  if (at < 0) return path(r, 0, depth, out, 0);
  const colon = r.indexOf(':');
  parsed.leafTo = at;
  if (colon < 0 || colon > at) {
    parsed.leafFrom = 0;
    out[0] = r.slice(at);
    return 1;
  }
  parsed.leafFrom = colon + 1;
  out[0] = r.slice(0, colon);
  if (depth < 2) return 1;
  out[1] = r.slice(0, colon + 1) + r.slice(at);
  return 2;
}

/** Index of the colon before the ARN's resource (the fifth), or -1 when it has fewer parts. */
function arnColons(r: string): number {
  let c = 3;
  for (let k = 0; k < 4; k++) {
    c = r.indexOf(':', c + 1);
    if (c < 0) return -1;
  }
  return c;
}

function arn(r: string, depth: number, out: string[]): number {
  const c5 = hint > 0 ? hint : arnColons(r);
  if (c5 < 0) return path(r, 0, depth, out, 0);
  const c2 = r.indexOf(':', 4);
  const c3 = r.indexOf(':', c2 + 1);
  const c4 = r.indexOf(':', c3 + 1);
  out[0] = r.slice(0, c3);
  let n = 1;
  if (c4 === c3 + 1 && c5 === c4 + 1) {
    // A global namespace (S3): the bucket is where, then the key's folders, then the object.
    let slash = r.indexOf('/', c5 + 1);
    if (slash < 0) slash = r.length;
    if (n < depth) out[n++] = r.slice(0, slash);
    let pos = slash;
    while (n < depth && pos < r.length) {
      const next = r.indexOf('/', pos + 1);
      if (next < 0) break;
      out[n++] = r.slice(0, next);
      pos = next;
    }
    parsed.leafFrom = pos < r.length ? pos + 1 : r.length;
    return n;
  }
  if (n < depth) out[n++] = r.slice(0, c5);
  // `type/id` or `type:id`: the type is learned, the id is the leaf; a bare `id` is only a leaf.
  let sep = -1;
  for (let i = c5 + 1; i < r.length; i++) {
    const c = r.charCodeAt(i);
    if (c === SLASH || c === COLON) {
      sep = i;
      break;
    }
  }
  if (sep >= 0 && n < depth) {
    out[n++] = r.slice(0, sep);
    parsed.leafFrom = sep + 1;
  } else parsed.leafFrom = c5 + 1;
  return n;
}

/** A word is its own kind; `i-0abc` is `i-*`; any other bare token is the opaque kind `*`. */
function id(r: string, out: string[]): number {
  let i = 0;
  while (i < r.length && isLetter(r.charCodeAt(i))) i++;
  parsed.leafFrom = 0;
  if (i === r.length) {
    out[0] = r;
    parsed.leafFrom = r.length;
    return 1;
  }
  const c = r.charCodeAt(i);
  out[0] = i > 0 && (c === 45 || c === 95) ? `${r.slice(0, i + 1)}*` : OPAQUE_KIND;
  return 1;
}

/** The levels and the leaf of a resource, for evidence, docs and tests (allocates; not for the hot path). */
export function describeResource(r: string, shape: ResourceShape = 'auto', depth = 16): { shape: ConcreteShape; levels: string[]; leaf: string } {
  const levels: string[] = [];
  const n = resourceLevels(r, shape, depth, levels);
  levels.length = n;
  return { shape: parsed.shape, levels, leaf: r.slice(parsed.leafFrom, parsed.leafTo) };
}
