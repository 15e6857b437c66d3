import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { warden } from './cli-in-process.js';
import { loadConfig, validateConfigDir } from '../../src/config/load.js';
import { slug } from '../../src/config/override-files.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'warden-warnings-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function configDir(files: Record<string, string>): Promise<string> {
  const d = await mkdtemp(join(root, 'cfg-'));
  await mkdir(join(d, 'agents'));
  await mkdir(join(d, 'overrides'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(d, name), text);
  return d;
}


const FILES = {
  'agents/support.yaml': 'agentClass: support-bot\nidentities:\n  - "spiffe://acme.example/agent/support-bot/*"\n',
  'agents/fleet.yaml': 'agentClass: fleet\nidentities:\n  - "spiffe://acme.example/agent/*/*"\n',
  'agents/role.yaml': 'agentClass: role/DataPipeline\nidentities: ["arn:aws:sts::123456789012:assumed-role/DataPipeline/*"]\n',
  'detectors.yaml': [
    'overrides:', //                                       1
    '  - match: { agentClass: "support-*" }', //           2
    '    detectors: { rate: { mode: shadow } }', //        3
    '  - match: { agentClass: "batch-*" }', //             4
    '    detectors: { rate: { mode: shadow } }', //        5
    '  - match: { agentClass: "role/*" }', //              6
    '    detectors: { rate: { mode: shadow } }', //        7
  ].join('\n'),
  'overrides/typo.yaml': 'match: { identity: "x-*", agentClass: "role/DataPipline" }\ndetectors: { rate: { mode: shadow } }\n',
};

describe('config warnings', () => {
  it('name overrides whose class glob matches no manifest, and identities two manifests bind, with file and line', async () => {
    const d = await configDir(FILES);
    const r = await validateConfigDir(d);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(r.warnings.map((w) => [w.file.slice(d.length + 1), w.line, w.path])).toEqual([
      ['detectors.yaml', 4, 'overrides[1].match.agentClass'],
      ['overrides/typo.yaml', 1, 'match.agentClass'],
      ['agents/fleet.yaml', 3, 'identities[0]'],
    ]);
    expect(r.warnings[0]!.message).toBe(`"batch-*" matches no manifest's agentClass (fleet, role/DataPipeline, support-bot): it applies only to events that name such a class and whose identity no manifest binds`);
    expect(r.warnings[1]!.message).toContain('"role/DataPipline" matches no manifest\'s agentClass');
    expect(r.warnings[2]!.message).toBe(
      `"spiffe://acme.example/agent/*/*" overlaps "spiffe://acme.example/agent/support-bot/*" of support-bot (${join(d, 'agents/support.yaml')}): an identity both match is support-bot (it names more characters literally)`,
    );
  });

  it('name a tie by file order, and a binding of every identity', async () => {
    const d = await configDir({
      'agents/b.yaml': 'agentClass: b\nidentities: ["sv*"]\n',
      'agents/a.yaml': 'agentClass: a\nidentities: ["*-1"]\n',
      'agents/c.yaml': 'agentClass: c\nidentities: ["**"]\n',
      'agents/d.yaml': 'agentClass: d\nidentities: ["other/*"]\n',
    });
    const r = await validateConfigDir(d);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const msgs = r.warnings.map((w) => `${w.file.slice(d.length + 1)} ${w.path}: ${w.message}`);
    expect(msgs).toContainEqual(expect.stringMatching(/^agents\/b\.yaml identities\[0\]: "sv\*" overlaps "\*-1" of a .*: an identity both match is a \(as specific, and its file sorts first\)$/));
    expect(msgs).toContainEqual(expect.stringMatching(/^agents\/c\.yaml identities\[0\]: "\*\*" binds every identity to c/));
    // sv* and other/* cannot both match one identity: no warning between them.
    expect(msgs.filter((m) => m.includes('"other/*"') && m.includes('"sv*"'))).toEqual([]);
  });

  it('are none for the shipped config, which binds every class it ships', async () => {
    const r = await validateConfigDir('config');
    expect(r.ok && r.warnings).toEqual([]);
    const c = await loadConfig('config');
    expect([...c.manifests.values()].every((m) => m.identities.length > 0)).toBe(true);
  });

  it('are printed by validate-config, which still exits 0', async () => {
    const d = await configDir(FILES);
    const r = await warden('validate-config', d);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/: ok \(version sha256:[0-9a-f]{12}, 3 agent manifests, 4 overrides, 0 alert receivers\)/);
    expect(r.stderr).toContain('3 warnings\n');
    expect(r.stderr).toContain(`  warning: ${join(d, 'detectors.yaml')}:4 overrides[1].match.agentClass: "batch-*" matches no manifest's agentClass`);
  });
});

describe('override files for any class name', () => {
  it('get a name of letters, digits and dashes, with a hash when the name lost anything', () => {
    expect(slug('batch-reporter')).toBe('batch-reporter');
    for (const s of ['role/DataPipeline', '../../etc/passwd', '.hidden', 'a\\b', 'system:serviceaccount:ns:x', '\u0000', '日本']) {
      expect(slug(s), s).toMatch(/^[a-z0-9][a-z0-9-]*-[0-9a-f]{6}$/);
    }
    expect(slug('role/DataPipeline')).not.toBe(slug('role-datapipeline'));
    expect(slug('role/DataPipeline')).toBe(slug('role/DataPipeline'));
  });

  it('are written inside overrides/ for a class with a slash, apply to it, and warn when no manifest has the class', async () => {
    const d = await mkdtemp(join(root, 'cfg-'));
    await cp('config', d, { recursive: true });
    const add = (cls: string) => warden('override', 'add', '--config', d, '--agent-class', cls, '--detector', 'rate', '--mode', 'shadow',
      '--owner', 'alice@acme.example', '--reason', 'backfill', '--for', '1h');
    const ok = await add('role/DataPipeline');
    expect(ok.code).toBe(0);
    expect(ok.stderr).toBe('');
    const [file, ...more] = await readdir(join(d, 'overrides'));
    expect(more).toEqual([]);
    expect(file).toMatch(/^\d{8}T\d{6}Z-role-datapipeline-[0-9a-f]{6}\.yaml$/);
    expect(await readFile(join(d, 'overrides', file!), 'utf8')).toContain('agentClass: role/DataPipeline');
    const c = await loadConfig(d);
    expect(c.overrides.at(-1)?.match.agentClass?.test('role/DataPipeline')).toBe(true);

    const typo = await add('../../role/DataPipline');
    expect(typo.code).toBe(0);
    expect(typo.stderr).toMatch(/^warning: .*overrides\/\d{8}T\d{6}Z-role-datapipline-[0-9a-f]{6}\.yaml:\d+ match\.agentClass: "\.\.\/\.\.\/role\/DataPipline" matches no manifest's agentClass/);
    expect(await readdir(join(d, 'overrides'))).toHaveLength(2);
  });
});
