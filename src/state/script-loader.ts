import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { WardenError } from '../errors.js';

export interface LuaScript {
  /** ioredis command name: `apply-1.lua` → `wardenApply`. */
  name: string;
  lua: string;
  numberOfKeys: number;
}

const FILE = /^([a-z][a-z0-9-]*)-(\d+)\.lua$/;
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

/** Reads every script once per process. */
export function loadScripts(): LuaScript[] {
  if (!cached) {
    const dir = luaDir();
    cached = readdirSync(dir).sort().flatMap((file) => {
      const m = FILE.exec(file);
      return m ? [{ name: commandName(m[1]!), lua: readFileSync(join(dir, file), 'utf8'), numberOfKeys: Number(m[2]) }] : [];
    });
  }
  return cached;
}

/** Registers the scripts as ioredis commands (EVALSHA, falling back to EVAL once). */
export function defineScripts(redis: Redis): void {
  for (const s of loadScripts()) redis.defineCommand(s.name, { lua: s.lua, numberOfKeys: s.numberOfKeys });
}
