import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CLASS_SUFFIX, IDENTITY_FIELD, META_FIELD, SUFFIX, TRACK_FIELD, classActiveKey, classBaseKey, classCountersKey, distinctKey, identityKey, metaKey, outboxKey, partitionKey, partitionOf, pendingKey, seenMemberField, sha1hex,
} from '../../src/state/keys.js';

const LUA = new URL('../../src/state/lua/includes/keys.lua', import.meta.url);

/** The `local UPPER_NAME = { key = 'value', ... }` tables of a Lua file, comments dropped. */
function luaTables(text: string): Record<string, Record<string, string>> {
  const code = text.replace(/--\[\[[\s\S]*?\]\]/g, '').replace(/--[^\n]*/g, '');
  const tables: Record<string, Record<string, string>> = {};
  for (const [, name, body] of code.matchAll(/^local ([A-Z_]+) = \{([^}]*)\}/gm)) {
    const entries = body!.split(',').map((e) => e.trim()).filter((e) => e !== '');
    tables[name!] = Object.fromEntries(entries.map((e) => {
      const m = /^(\w+) = '([^'\\]*)'$/.exec(e);
      if (!m) throw new Error(`keys.lua ${name}: cannot read "${e}"`);
      return [m[1]!, m[2]!];
    }));
  }
  return tables;
}

describe('key layout', () => {
  it('keys.ts and lua/includes/keys.lua hold the same suffixes and field names', () => {
    expect(luaTables(readFileSync(LUA, 'utf8'))).toStrictEqual({ SUFFIX, META_FIELD, IDENTITY_FIELD, TRACK_FIELD, CLASS_SUFFIX });
  });

  it('the Lua scripts use no key suffix or field name but through keys.lua', () => {
    const dir = new URL('../../src/state/lua/', import.meta.url);
    const files = [
      ...readdirSync(dir).filter((f) => f.endsWith('.lua')),
      ...readdirSync(new URL('includes/', dir)).filter((f) => f.endsWith('.lua') && f !== 'keys.lua').map((f) => `includes/${f}`),
    ];
    expect(files.length).toBeGreaterThanOrEqual(9);
    const literals = [...Object.values(SUFFIX), ...Object.values(META_FIELD), ...Object.values(IDENTITY_FIELD), ...Object.values(TRACK_FIELD), ...Object.values(CLASS_SUFFIX)];
    for (const file of files) {
      const code = readFileSync(new URL(file, dir), 'utf8').replace(/--\[\[[\s\S]*?\]\]/g, '').replace(/--[^\n]*/g, '');
      for (const lit of literals) expect(code.includes(`'${lit}'`), `${file} spells '${lit}'`).toBe(false);
    }
  });

  it('builds every key of a partition from its base key', () => {
    const base = partitionKey('warden', 'agent.actions:3');
    expect(base).toBe('warden:{p:agent.actions:3}');
    expect(partitionOf(base)).toBe('agent.actions:3');
    expect([metaKey(base), pendingKey(base), outboxKey(base)]).toStrictEqual([`${base}:m`, `${base}:pending`, `${base}:o`]);
    expect(identityKey(base, 'a')).toBe(`${base}:i:${sha1hex('a')}`);
    expect(partitionOf(identityKey(base, 'a}'))).toBe('agent.actions:3');
    expect(distinctKey(base, 'a', 'kids')).toBe(`${base}:d:${sha1hex('a')}:${sha1hex('kids')}`);
    expect(seenMemberField('ü', 'm')).toBe('ü|=m|2');
  });

  it('builds the class store\'s keys under their own hash tag, from the class name\'s hash', () => {
    expect(classBaseKey('warden')).toBe('warden:{c}');
    expect(classCountersKey('warden', 'role/DataPipeline')).toBe(`warden:{c}:k:${sha1hex('role/DataPipeline')}`);
    expect(classActiveKey('warden', '}')).toBe(`warden:{c}:a:${sha1hex('}')}`);
    expect(partitionOf(classCountersKey('warden', '{p:x}'))).toBeUndefined();
  });
});
