import { createHash } from 'node:crypto';
import { access, mkdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { WardenError } from '../errors.js';
import type { Override } from './types.js';

/**
 * The files of DIR/overrides/, one override each, as `warden override` writes
 * and removes them. Names sort in creation order; writes are atomic, so the
 * hot reloader never reads half a file.
 */
const stamp = (ms: number): string => new Date(ms).toISOString().replace(/[-:]|\.\d+/g, '');

/**
 * A file-name part for whom an override is about: lower-case letters, digits
 * and `-` only, so no identity or class name (`role/DataPipeline`,
 * `../../etc`) can leave DIR/overrides/ or hide as a dotfile. When that loses
 * anything, a hash of the whole name follows, so two names never share a slug
 * (`role/DataPipeline` and `role-datapipeline`); the file itself says whom it matches.
 */
export function slug(s: string): string {
  const all = s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  // The tail of an identity is its most specific part; cut at a word boundary.
  const tail = (all.length <= 40 ? all : all.slice(-40).replace(/^[^-]*-/, '')) || 'override';
  return tail === s ? tail : `${tail}-${createHash('sha256').update(s).digest('hex').slice(0, 6)}`;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}

/** `<UTC time>-<slug>.yaml`; on a clash the time moves on a second, so file-name order stays creation order. */
export async function freeName(dir: string, now: number, of: string): Promise<string> {
  for (let t = now; ; t += 1000) {
    const name = `${stamp(t)}-${slug(of)}.yaml`;
    if (!(await exists(join(dir, 'overrides', name)))) return name;
  }
}

// A temp file beside it, then rename: the reloader never reads half a file (and skips dotfiles).
export async function writeAtomically(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  await writeFile(tmp, text, { flag: 'wx' });
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export const isOverrideFile = (dir: string, o: Override): boolean => o.source.startsWith(join(dir, 'overrides') + sep);

/** NAME is a file in DIR/overrides/ (".yaml" may be left off); anything with a slash is a path to one. */
export async function overrideFile(dir: string, target: string): Promise<string> {
  const overridesDir = resolve(dir, 'overrides');
  const path = target.includes('/') || target.includes(sep) ? resolve(target) : join(overridesDir, target);
  if (dirname(path) !== overridesDir || basename(path).startsWith('.')) {
    throw new WardenError('CLI_USAGE', `${target} is not a file in ${join(dir, 'overrides')}/; overrides in detectors.yaml are removed by editing it`);
  }
  if (/\.ya?ml$/.test(path)) return path;
  for (const ext of ['.yaml', '.yml']) if (await exists(path + ext)) return path + ext;
  return `${path}.yaml`;
}

export async function removeOverrideFile(file: string): Promise<void> {
  await unlink(file).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ENOENT' ? new WardenError('OVERRIDE_NOT_FOUND', `no override file ${file} (warden override list shows them; those in detectors.yaml are removed by editing it)`) : err;
  });
}

/** Already gone is fine: --expired may race another operator's remove. */
export async function removeExpiredFile(file: string): Promise<void> {
  await rm(file, { force: true });
}
