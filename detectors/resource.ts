/** Index of the next ':', '/' or '.' at or after `from`, or -1. */
export function nextSep(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 58 /* : */ || c === 47 /* / */ || c === 46 /* . */) return i;
  }
  return -1;
}

/**
 * Prefixes of 1..depth segments (split on ':', '/', '.') as substrings of the
 * original, so `db:finance.ledger` at depth 2 gives [`db`, `db:finance`].
 */
export function resourcePrefixes(resource: string, depth: number): string[] {
  const out: string[] = [];
  let from = 0;
  while (out.length < depth) {
    const sep = nextSep(resource, from);
    if (sep < 0) {
      out.push(resource);
      break;
    }
    out.push(resource.slice(0, sep));
    from = sep + 1;
  }
  return out;
}
