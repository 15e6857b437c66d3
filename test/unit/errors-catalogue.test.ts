/**
 * The error catalogue (src/errors.ts) against README "Errors" and against the
 * code: every code the source raises or writes is catalogued and documented,
 * with the same words in both places, and nothing catalogued is stale.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERRORS, isRetriable, WardenError, type ErrorCode } from '../../src/errors.js';
import * as warden from '../../src/index.js';
import { toWardenError } from '../../src/state/redis-store.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const start = readme.indexOf('\n## Errors\n');
const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
const catalogue = ERRORS as Record<string, { retriable: boolean; description: string }>;
const CODE = String.raw`[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+`;

function documented(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const m of section.matchAll(new RegExp(String.raw`^\| \`(${CODE})\` \| (.*) \|$`, 'gm'))) {
    expect(rows.has(m[1]!), `${m[1]} is in the README table twice`).toBe(false);
    rows.set(m[1]!, m[2]!);
  }
  return rows;
}

function sources(dir: string): { file: string; text: string }[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
    .map((file) => ({ file: relative(root, file), text: readFileSync(file, 'utf8') }));
}

const literals = (text: string): string[] => [...text.matchAll(new RegExp(`'(${CODE})'`, 'g'))].map((m) => m[1]!);

/** Code literals in the places a code goes: a WardenError's first argument, `code:`, a dead-letter or reject helper, a `...Code` type. */
function usedCodes(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:new WardenError|\bsuper)\(\s*([^,]*?),/gs)) found.push(...literals(m[1]!));
  for (const m of text.matchAll(new RegExp(String.raw`\bcode:\s*'(${CODE})'`, 'g'))) found.push(m[1]!);
  for (const m of text.matchAll(new RegExp(String.raw`\b(?:fail|failed|reject)\(\s*'(${CODE})'`, 'g'))) found.push(m[1]!);
  for (const m of text.matchAll(/\btype \w*Code\s*=([^;]*);/g)) found.push(...literals(m[1]!));
  return found;
}

/** Codes built from a template, e.g. `${kind}_TS_FUTURE`: the suffix (typecheck holds the whole code to ErrorCode). */
const templateSuffixes = (text: string): string[] => [...text.matchAll(/code: `\$\{\w+\}(_[A-Z0-9_]+)`/g)].map((m) => m[1]!);

const files = [...sources(join(root, 'src')), ...sources(join(root, 'detectors'))];

describe('the error catalogue', () => {
  it('README "Errors" lists every catalogued code with the catalogue\'s description, and no other', () => {
    const rows = documented();
    for (const [code, { description }] of Object.entries(catalogue)) {
      expect(rows.get(code), `${code}: README row missing or different`).toBe(description);
    }
    const extra = [...rows.keys()].filter((code) => !(code in catalogue));
    expect(extra, 'in README "Errors" but not in src/errors.ts').toEqual([]);
    expect(rows.size).toBe(Object.keys(catalogue).length);
  });

  it('README "Errors" names codes only in the table, with no wildcards', () => {
    expect(section).not.toMatch(/[A-Z]_\*/);
    const prose = section.split('\n').filter((l) => !l.startsWith('|')).join('\n');
    const named = [...prose.matchAll(new RegExp(`\`(${CODE})\``, 'g'))].map((m) => m[1]!);
    expect(named.filter((c) => !(c in catalogue))).toEqual([]);
  });

  it('every description is one table-safe sentence saying what to do', () => {
    for (const [code, { description }] of Object.entries(catalogue)) {
      expect(description, code).toMatch(/^\S.*\.$/);
      expect(description, code).not.toMatch(/[|\n]/);
    }
  });

  it('every code the source raises or writes is in the catalogue', () => {
    const unknown: string[] = [];
    const seen = new Set<string>();
    for (const { file, text } of files) {
      for (const code of usedCodes(text)) {
        seen.add(code);
        if (!(code in catalogue)) unknown.push(`${file}: ${code}`);
      }
      for (const suffix of templateSuffixes(text)) {
        if (!Object.keys(catalogue).some((c) => c.endsWith(suffix))) unknown.push(`${file}: \${...}${suffix}`);
      }
    }
    expect(unknown, 'add these to src/errors.ts and README "Errors"').toEqual([]);
    // The scan sees each way a code is written: thrown, a ternary in super(), `code:`, a helper, a type, the enforcer's reject.
    for (const code of ['CLI_USAGE', 'ALERT_REJECTED', 'CONTROL_FORGED', 'EVENT_DECODE', 'EVENT_FIELD_MISSING', 'COMMAND_EXPIRED', 'COMMAND_KEY_MISMATCH', 'CONFIG_INVALID']) {
      expect(seen.has(code), code).toBe(true);
    }
  });

  it('the scan catches an undocumented code in each form', () => {
    const forms = [
      `throw new WardenError('NEW_CODE', 'x');`,
      `super(ok ? 'OLD_CODE' : 'NEW_CODE', message, { retriable });`,
      `return { ok: false, code: 'NEW_CODE', reason };`,
      `return failed('NEW_CODE', 'message');`,
      `export type VerifyCode = 'COMMAND_FORGED' | 'NEW_CODE';`,
    ];
    for (const form of forms) expect(usedCodes(form), form).toContain('NEW_CODE');
    expect(usedCodes(`if (err.code === 'EAI_AGAIN') env('WARDEN_HTTP_PORT');`)).toEqual([]);
  });

  it('nothing catalogued is stale: each code is written somewhere in the source', () => {
    const all = files.map((f) => f.text).join('\n');
    const quoted = new Set(literals(all));
    const suffixes = files.flatMap((f) => templateSuffixes(f.text));
    const stale = Object.keys(catalogue).filter((code) => !quoted.has(code) && !suffixes.some((s) => code.endsWith(s)));
    expect(stale, 'no longer raised: remove from src/errors.ts and README "Errors"').toEqual([]);
  });

  it('each error a Lua script raises becomes a catalogued code, not a bare STATE_REDIS', () => {
    const markers = new Set<string>();
    for (const e of readdirSync(join(root, 'src/state/lua'), { withFileTypes: true, recursive: true })) {
      if (!e.isFile() || !e.name.endsWith('.lua')) continue;
      const text = readFileSync(join(e.parentPath, e.name), 'utf8');
      for (const m of text.matchAll(/error\(\{ err = '([A-Z_]+) /g)) markers.add(m[1]!);
    }
    expect([...markers].sort()).toEqual(expect.arrayContaining(['WARDEN_INCONSISTENT', 'WARDEN_KEY_COLLISION']));
    for (const marker of markers) {
      const err = toWardenError(new Error(`ERR user_script:12: ${marker} some detail`), 'apply');
      expect(err.code, marker).not.toBe('STATE_REDIS');
      expect(catalogue[err.code], marker).toBeDefined();
    }
  });

  it('WardenError takes retriable from the catalogue unless the call site says', () => {
    const retriable = Object.entries(catalogue).filter(([, e]) => e.retriable).map(([c]) => c as ErrorCode);
    expect(retriable).toContain('ENFORCER_TOPIC_MISSING');
    for (const code of Object.keys(catalogue) as ErrorCode[]) {
      expect(new WardenError(code, 'x').retriable, code).toBe(catalogue[code]!.retriable);
    }
    expect(isRetriable(new WardenError('ENFORCER_TOPIC_MISSING', 'x'))).toBe(true);
    expect(isRetriable(new WardenError('ENFORCER_TOPIC_MISSING', 'x', { retriable: false }))).toBe(false);
    expect(isRetriable(new WardenError('STATE_REDIS', 'x', { retriable: true }))).toBe(true);
    // A JavaScript caller's unknown code does not crash the constructor.
    expect(new WardenError('NOT_A_CODE' as ErrorCode, 'x').retriable).toBe(false);
  });

  it('the package exports the catalogue beside WardenError', () => {
    expect(warden.ERRORS).toBe(ERRORS);
    expect(new warden.WardenError('CLI_USAGE', 'x').code).toBe('CLI_USAGE');
  });
});
