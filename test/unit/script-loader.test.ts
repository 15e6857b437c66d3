import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assembleScript, loadScripts, readScripts } from '../../src/state/script-loader.js';

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

/** A lua/ directory with the given files (paths relative to it). */
function luaDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-lua-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'includes'));
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text);
  return dir;
}

describe('the Lua script loader', () => {
  it('expands includes in place, recursively, each once per script', () => {
    const dir = luaDir({
      'main-1.lua': '-- main\n--- @include "b"\n--- @include "a.lua"\nreturn a() + b()\n',
      'includes/a.lua': '--- @include "c"\nlocal function a() return c end\n',
      'includes/b.lua': '--- @include "c"\nlocal function b() return c end\n',
      'includes/c.lua': 'local c = 1\n',
    });
    expect(assembleScript(dir, 'main-1.lua')).toBe(
      '-- main\nlocal c = 1\nlocal function b() return c end\n\nlocal function a() return c end\nreturn a() + b()\n',
    );
  });

  it('only reads a directive on a line of its own', () => {
    const dir = luaDir({ 'main-1.lua': "local s = '--- @include \"x\"'\n  ---  @include \"x\"  \n", 'includes/x.lua': 'local x = 1' });
    expect(assembleScript(dir, 'main-1.lua')).toBe("local s = '--- @include \"x\"'\nlocal x = 1\n");
  });

  it('names the file a missing include was asked for by, and the path it looked at', () => {
    const dir = luaDir({ 'main-1.lua': '--- @include "a"\n', 'includes/a.lua': '--- @include "gone"\n' });
    expect(() => assembleScript(dir, 'main-1.lua')).toThrow(expect.objectContaining({
      code: 'STATE_REDIS', message: expect.stringMatching(/^includes\/a\.lua: Lua include "gone" not found: .*includes\/gone\.lua$/),
    }));
  });

  it('refuses an include cycle and a name outside includes/', () => {
    const cyc = luaDir({ 'main-1.lua': '--- @include "a"\n', 'includes/a.lua': '--- @include "b"\n', 'includes/b.lua': '--- @include "a"\n' });
    expect(() => assembleScript(cyc, 'main-1.lua')).toThrow(/includes\/b\.lua: Lua includes form a cycle: includes\/a\.lua -> includes\/b\.lua -> includes\/a\.lua/);
    const out = luaDir({ 'main-1.lua': '--- @include "../main-1"\n' });
    expect(() => assembleScript(out, 'main-1.lua')).toThrow(expect.objectContaining({ code: 'STATE_REDIS', message: expect.stringContaining('"../main-1"') }));
  });

  it('registers only name-<numKeys>.lua files, not includes', () => {
    const dir = luaDir({ 'do-it-2.lua': 'return 1\n', 'notes.txt': '', 'includes/x.lua': '' });
    expect(readScripts(dir)).toStrictEqual([{ name: 'wardenDoIt', lua: 'return 1\n', numberOfKeys: 2 }]);
  });

  it("leaves no directive in Warden's own scripts", () => {
    const scripts = loadScripts();
    expect(scripts.map((s) => s.name)).toStrictEqual(['wardenAck', 'wardenApply', 'wardenClass', 'wardenCommit']);
    for (const s of scripts) expect(s.lua).not.toMatch(/@include/);
  });
});
