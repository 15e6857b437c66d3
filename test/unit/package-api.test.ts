import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as warden from '../../src/index.js';

const run = async (cmd: string, args: string[], cwd: string): Promise<{ stdout: string }> => promisify(execFile)(cmd, args, { cwd, timeout: 60_000 });

/** What README "Producing events", "Signing keys and the gateway enforcer", "Control format" and "On-call alerts" tell users to import, by subpath. */
const SUBPATHS: Record<string, string[]> = {
  warden: ['createEnforcer', 'verifyCommand', 'verifyWebhook', 'encodeEvent', 'replay'],
  'warden/enforcer': ['createEnforcer', 'verifyCommand', 'signCommand', 'canonicalCommand', 'parseKeyring', 'keyringFromEnv'],
  'warden/control': ['createControl', 'encodeControl', 'operatorKeyringFromEnv', 'parseKeyring', 'verifyControl'],
  'warden/webhook': ['verifyWebhook', 'signWebhook'],
  'warden/dist/src/enforcer/index.js': ['createEnforcer', 'keyringFromEnv'],
  'warden/dist/src/control/create.js': ['createControl', 'encodeControl'],
  'warden/producer': ['createProducer', 'identityPartition', 'prepareEvent', 'InvalidEventError', 'WardenError'],
};

describe('the package entry point', () => {
  it('gives producers the event codec and gateways the enforcer and signature checks', () => {
    for (const name of ['encodeEvent', 'decodeEvent', 'validateEvent', 'createEnforcer', 'signCommand', 'verifyCommand', 'parseKeyring', 'verifyWebhook', 'loadConfig', 'replay', 'Engine', 'MemoryWindowStore']) {
      expect(typeof (warden as Record<string, unknown>)[name], name).toBe('function');
    }
    const bytes = warden.encodeEvent({ id: 'e1', ts: 1, identity: 'spiffe://x/agent/a', action: 'db.read', resource: 'db:prod.orders' });
    const back = warden.decodeEvent(bytes);
    expect(back).toMatchObject({ ok: true, encoding: 'msgpack', event: { id: 'e1', identity: 'spiffe://x/agent/a' } });
  });
});

describe('the packed package (npm pack, installed in a temp dir)', () => {
  const root = process.cwd();
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string; version: string; dependencies: Record<string, string>; exports: Record<string, string | Record<string, string>> };
  let dir: string;
  let files: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-pack-'));
    // --ignore-scripts: dist/ is already built (npm test builds first); prepare would only rebuild it.
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], root);
    const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = packed!.files.map((f) => f.path);
    const into = join(dir, 'node_modules', pkg.name);
    await mkdir(into, { recursive: true });
    await run('tar', ['-xzf', join(dir, packed!.filename), '-C', into, '--strip-components=1'], dir);
    // Its declared dependencies only (no network here): an import of anything undeclared fails.
    for (const dep of Object.keys(pkg.dependencies)) {
      await mkdir(dirname(join(dir, 'node_modules', dep)), { recursive: true });
      await symlink(join(root, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
    }
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  }, 60_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('holds the LICENSE, the README, the CLI and every file the exports name', () => {
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'bin/warden.js', 'package.json']));
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      for (const file of typeof target === 'string' ? [target] : Object.values(target)) expect(files, `${subpath}: ${file}`).toContain(file.replace(/^\.\//, ''));
    }
  });

  it('imports each documented subpath by the package name, old deep paths included', async () => {
    const script = `
      const out = {};
      for (const [spec, names] of Object.entries(${JSON.stringify(SUBPATHS)})) {
        const m = await import(spec);
        out[spec] = names.filter((n) => typeof m[n] !== 'function');
      }
      const { createRequire } = await import('node:module');
      out.version = createRequire(import.meta.url)('${pkg.name}/package.json').version;
      console.log(JSON.stringify(out));`;
    await writeFile(join(dir, 'check.mjs'), script);
    const { stdout } = await run(process.execPath, ['check.mjs'], dir);
    const missing = JSON.parse(stdout) as Record<string, unknown>;
    expect(missing).toEqual({ ...Object.fromEntries(Object.keys(SUBPATHS).map((s) => [s, []])), version: pkg.version });
    // Anything not exported stays private.
    await expect(run(process.execPath, ['--input-type=module', '-e', `await import('${pkg.name}/dist/src/pipeline/engine.js')`], dir)).rejects.toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it('gives TypeScript consumers the types of each subpath', async () => {
    const lines = Object.entries(SUBPATHS).map(([spec, names], i) => `import { ${names.map((n) => `${n} as ${n}${i}`).join(', ')} } from '${spec}';\nvoid [${names.map((n) => `${n}${i}`).join(', ')}];`);
    await writeFile(join(dir, 'consumer.ts'), `${lines.join('\n')}\nconst e: typeof createEnforcer1 = createEnforcer4;\nvoid e;\n`);
    const tsc = join(root, 'node_modules', '.bin', 'tsc');
    const flags = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types')];
    await run(tsc, [...flags, 'consumer.ts'], dir);
    // And a subpath it does not export is an error there too.
    await writeFile(join(dir, 'private.ts'), `import { Engine } from '${pkg.name}/dist/src/pipeline/engine.js';\nvoid Engine;\n`);
    await expect(run(tsc, [...flags, 'private.ts'], dir)).rejects.toMatchObject({ stdout: expect.stringMatching(/TS2307/) });
  });

  it('runs its CLI from the installed files', async () => {
    const { stdout } = await run(process.execPath, [join('node_modules', pkg.name, 'bin', 'warden.js'), '--version'], dir);
    expect(stdout).toBe(`${pkg.version}\n`);
  });
});
