import type { Glob } from './types.js';

export type GlobResult = { ok: true; glob: Glob } | { ok: false; reason: string };

const RESERVED = new Set(['[', ']', '{', '}', '!']);
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

/** `**` any run of characters, `*` any run except `/`, `?` one character except `/`; everything else literal. */
export function compileGlob(pattern: string): GlobResult {
  if (pattern.length === 0) return { ok: false, reason: 'empty glob pattern' };
  if (pattern.includes('***')) return { ok: false, reason: `unsupported glob syntax '***'; use * or ** (in "${pattern}")` };
  for (const ch of pattern) {
    if (RESERVED.has(ch)) return { ok: false, reason: `unsupported glob syntax '${ch}'; use * or ** (in "${pattern}")` };
  }
  if (!/[*?]/.test(pattern)) return { ok: true, glob: new CompiledGlob(pattern, (v) => v === pattern) };
  if (pattern === '**') return { ok: true, glob: new CompiledGlob(pattern, () => true) };
  const head = pattern.slice(0, -2);
  if (pattern.endsWith('**') && !/[*?]/.test(head)) {
    return { ok: true, glob: new CompiledGlob(pattern, (v) => v.startsWith(head)) };
  }
  let src = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '*' && pattern[i + 1] === '*') {
      src += '.*';
      i++;
    } else if (ch === '*') src += '[^/]*';
    else if (ch === '?') src += '[^/]';
    else src += REGEX_SPECIAL.test(ch) ? `\\${ch}` : ch;
  }
  const re = new RegExp(`^${src}$`, 's');
  return { ok: true, glob: new CompiledGlob(pattern, (v) => re.test(v)) };
}

export function matchAny(globs: readonly Glob[], value: string): boolean {
  for (const g of globs) if (g.test(value)) return true;
  return false;
}
