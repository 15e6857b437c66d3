import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisClient } from './redis-connection.js';
import { WardenError } from '../errors.js';

export interface LuaScript {
  /** ioredis command name: `apply-1.lua` → `wardenApply`. */
  name: string;
  /** The script with its includes expanded: what Redis runs. */
  lua: string;
  numberOfKeys: number;
}

const FILE = /^([a-z][a-z0-9-]*)-(\d+)\.lua$/;
/** BullMQ's include directive, on a line of its own. */
const INCLUDE = /^[ \t]*---[ \t]*@include[ \t]+"([^"]*)"[ \t]*$/gm;
const INCLUDE_NAME = /^[a-z][a-z0-9-]*$/;
let cached: LuaScript[] | undefined;

/** The .lua files stay in src/state/lua; compiled JS runs from dist/src/state. */
function luaDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'lua'), resolve(here, '../../../src/state/lua')];
  const dir = candidates.find((d) => existsSync(join(d, 'apply-1.lua')));
  if (!dir) throw new WardenError('STATE_REDIS', `Lua scripts not found in ${candidates.join(' or ')}`);
  return dir;
}

function commandName(base: string): string {
  return 'warden' + base.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

/**
 * A script of `dir` with every `--- @include "<name>"` replaced by
 * `dir/includes/<name>.lua`, itself expanded the same way. Each include is
 * expanded once per script, where it is first named (later directives for it
 * become empty lines), so an include can name what it needs.
 */
export function assembleScript(dir: string, file: string): string {
  const done = new Set<string>();
  const expand = (text: string, from: string, stack: readonly string[]): string =>
    text.replace(INCLUDE, (_line, raw: string) => {
      const name = raw.endsWith('.lua') ? raw.slice(0, -4) : raw;
      if (!INCLUDE_NAME.test(name)) {
        throw new WardenError('STATE_REDIS', `${from}: Lua include "${raw}" is not a file name of includes/ ([a-z][a-z0-9-]*, .lua optional)`);
      }
      const path = join(dir, 'includes', `${name}.lua`);
      if (stack.includes(path)) {
        throw new WardenError('STATE_REDIS', `${from}: Lua includes form a cycle: ${[...stack, path].map((p) => p.slice(dir.length + 1)).join(' -> ')}`);
      }
      if (done.has(path)) return '';
      done.add(path);
      let body: string;
      try {
        body = readFileSync(path, 'utf8');
      } catch (err) {
        throw new WardenError('STATE_REDIS', `${from}: Lua include "${raw}" not found: ${path}`, { cause: err });
      }
      return expand(body.replace(/\n$/, ''), `includes/${name}.lua`, [...stack, path]);
    });
  return expand(readFileSync(join(dir, file), 'utf8'), file, []);
}

/** Reads every script of `dir` (default: Warden's own), includes expanded. */
export function readScripts(dir: string): LuaScript[] {
  return readdirSync(dir).sort().flatMap((file) => {
    const m = FILE.exec(file);
    return m ? [{ name: commandName(m[1]!), lua: assembleScript(dir, file), numberOfKeys: Number(m[2]) }] : [];
  });
}

/** Reads Warden's scripts once per process. */
export function loadScripts(): LuaScript[] {
  cached ??= readScripts(luaDir());
  return cached;
}

/** Registers the scripts as ioredis commands (EVALSHA of the assembled script, falling back to EVAL once). */
export function defineScripts(redis: RedisClient): void {
  for (const s of loadScripts()) redis.defineCommand(s.name, { lua: s.lua, numberOfKeys: s.numberOfKeys });
}
