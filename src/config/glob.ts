import type { Glob } from './types.js';

export type GlobResult = { ok: true; glob: Glob } | { ok: false; reason: string };

/** Characters with no glob meaning here, kept reserved so a pattern never silently means something else. */
const RESERVED = new Set(['[', ']', '{', '}', '!']);
/** What a backslash may escape: the wildcards, the reserved characters and itself. */
const ESCAPABLE = new Set(['*', '?', '\\', ...RESERVED]);
const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/]/;

class CompiledGlob implements Glob {
  readonly source: string;
  readonly test: (value: string) => boolean;
  constructor(source: string, test: (value: string) => boolean) {
    this.source = source;
    this.test = test;
  }
  toString(): string {
    return this.source;
  }
  toJSON(): string {
    return this.source;
  }
}

/** `value` with every glob metacharacter escaped, so it matches only itself. */
export function escapeGlob(value: string): string {
  let out = '';
  for (const ch of value) out += ESCAPABLE.has(ch) ? `\\${ch}` : ch;
  return out;
}

type Piece = { lit: string } | { star: 1 | 2 } | { one: true };

/** Unescaped pieces of a pattern, or why it is refused. */
function pieces(pattern: string): Piece[] | string {
  const out: Piece[] = [];
  let lit = '';
  const flush = () => {
    if (lit !== '') out.push({ lit });
    lit = '';
  };
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '\\') {
      const next = pattern[i + 1];
      if (next === undefined || !ESCAPABLE.has(next)) {
        return `a backslash escapes only * ? [ ] { } ! or \\; write \\\\ for a literal backslash (in "${pattern}")`;
      }
      lit += next;
      i++;
    } else if (ch === '*') {
      let n = 1;
      while (pattern[i + n] === '*') n++;
      if (n > 2) {
        return `unsupported glob syntax '${'*'.repeat(n)}': use * (within a segment) or ** (anything); for a literal star escape it as \\* (in "${pattern}")`;
      }
      flush();
      out.push({ star: n as 1 | 2 });
      i += n - 1;
    } else if (ch === '?') {
      flush();
      out.push({ one: true });
    } else if (RESERVED.has(ch)) {
      return `unsupported glob syntax '${ch}' (in "${pattern}"); to match it literally, escape it with a backslash: "${escapeReserved(pattern)}"`;
    } else lit += ch;
  }
  flush();
  return out;
}

/** The pattern with its reserved characters escaped, wildcards and existing escapes kept. */
function escapeReserved(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '\\' && pattern[i + 1] !== undefined) {
      out += ch + pattern[i + 1];
      i++;
    } else out += RESERVED.has(ch) ? `\\${ch}` : ch;
  }
  return out;
}

/**
 * `**` any run of characters, `*` any run except `/`, `?` one character except
 * `/`; a backslash makes the next metacharacter literal (`s3:logs\*` matches
 * only `s3:logs*`); everything else literal.
 */
export function compileGlob(pattern: string): GlobResult {
  if (pattern.length === 0) return { ok: false, reason: 'empty glob pattern' };
  const ps = pieces(pattern);
  if (typeof ps === 'string') return { ok: false, reason: ps };
  const first = ps[0];
  if (ps.length === 0 || (ps.length === 1 && first !== undefined && 'lit' in first)) {
    const lit = first !== undefined && 'lit' in first ? first.lit : '';
    return { ok: true, glob: new CompiledGlob(pattern, (v) => v === lit) };
  }
  if (ps.length === 1 && first !== undefined && 'star' in first && first.star === 2) return { ok: true, glob: new CompiledGlob(pattern, () => true) };
  const last = ps[ps.length - 1];
  if (ps.length === 2 && first !== undefined && 'lit' in first && last !== undefined && 'star' in last && last.star === 2) {
    const head = first.lit;
    return { ok: true, glob: new CompiledGlob(pattern, (v) => v.startsWith(head)) };
  }
  let src = '';
  for (const p of ps) {
    if ('lit' in p) for (const ch of p.lit) src += REGEX_SPECIAL.test(ch) ? `\\${ch}` : ch;
    else if ('one' in p) src += '[^/]';
    else src += p.star === 2 ? '.*' : '[^/]*';
  }
  const re = new RegExp(`^${src}$`, 's');
  return { ok: true, glob: new CompiledGlob(pattern, (v) => re.test(v)) };
}

/**
 * The literal text of a pattern with each wildcard replaced by `mark`
 * (`db:prod.**` with mark `\0` gives `db:prod.\0\0`), for reading which parts
 * of a pattern it names literally. Undefined for a pattern compileGlob refuses.
 */
export function globText(pattern: string, mark: string): string | undefined {
  const ps = pieces(pattern);
  if (typeof ps === 'string') return undefined;
  let out = '';
  for (const p of ps) out += 'lit' in p ? p.lit : 'one' in p ? mark : mark.repeat(p.star);
  return out;
}

export function matchAny(globs: readonly Glob[], value: string): boolean {
  for (const g of globs) if (g.test(value)) return true;
  return false;
}

/** One character's worth of a pattern: a literal, `?`, or a star that may repeat. */
type Step = { ch: string } | { any: 'one' | 'seg' | 'all' };

function steps(pattern: string): Step[] | undefined {
  const ps = pieces(pattern);
  if (typeof ps === 'string') return undefined;
  const out: Step[] = [];
  for (const p of ps) {
    if ('lit' in p) for (const ch of p.lit) out.push({ ch });
    else out.push({ any: 'one' in p ? 'one' : p.star === 1 ? 'seg' : 'all' });
  }
  return out;
}

/** Whether one character can be taken by both steps: `/` only by a literal `/` or `**`. */
function shareChar(a: Step, b: Step): boolean {
  if ('ch' in a && 'ch' in b) return a.ch === b.ch;
  if ('ch' in a) return a.ch !== '/' || (b as { any: string }).any === 'all';
  if ('ch' in b) return b.ch !== '/' || a.any === 'all';
  return true;
}

const isStar = (s: Step | undefined): boolean => s !== undefined && 'any' in s && s.any !== 'one';

/**
 * Whether some string matches both patterns (false if either is refused): a
 * walk over pairs of positions in the two, where a star may match nothing or
 * take a character and stay.
 */
export function globsOverlap(a: string, b: string): boolean {
  const x = steps(a);
  const y = steps(b);
  if (x === undefined || y === undefined) return false;
  const seen = new Set<number>();
  const w = y.length + 1;
  const todo: Array<[number, number]> = [[0, 0]];
  while (todo.length > 0) {
    const [i, j] = todo.pop()!;
    if (seen.has(i * w + j)) continue;
    seen.add(i * w + j);
    if (i === x.length && j === y.length) return true;
    const s = x[i];
    const t = y[j];
    if (isStar(s)) todo.push([i + 1, j]);
    if (isStar(t)) todo.push([i, j + 1]);
    if (s !== undefined && t !== undefined && shareChar(s, t)) todo.push([isStar(s) ? i : i + 1, isStar(t) ? j : j + 1]);
  }
  return false;
}

/** How specific a pattern is: the number of characters it names literally. */
export function literalLength(pattern: string): number {
  return globText(pattern, '')?.length ?? 0;
}
