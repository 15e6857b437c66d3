import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { warden } from './cli-in-process.js';
import { loadConfig, validateConfigDir } from '../../src/config/load.js';
import { createResolver } from '../../src/config/resolve.js';
import type { WardenConfig } from '../../src/config/types.js';
import { watchConfig } from '../../src/service/reload.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'warden-override-cli-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh copy of the shipped config/. */
async function configCopy(): Promise<string> {
  const d = await mkdtemp(join(root, 'cfg-'));
  await cp('config', d, { recursive: true });
  return d;
}


async function overrideFiles(d: string): Promise<string[]> {
  return readdir(join(d, 'overrides')).catch(() => []);
}

const BOT = 'spiffe://acme.example/agent/support-bot/7f3a';
const HOUR = 3_600_000;
const addShadow = (d: string, ...more: string[]) =>
  warden('override', 'add', '--config', d, '--identity', BOT, '--detector', 'rate', '--mode', 'shadow',
    '--owner', 'alice@acme.example', '--reason', 'bulk re-send after INC-1234', ...more);

describe('warden override add', () => {
  it('writes one file that the loader and the resolver apply until its expiry in event time', async () => {
    const d = await configCopy();
    const before = await loadConfig(d);
    const t0 = Date.now();
    const r = await addShadow(d, '--set', 'detectors.rate.baseline.short.ratio=10', '--set', 'detectors.chain.fanOutWindow=2h', '--for', '2h');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const files = await overrideFiles(d);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^\d{8}T\d{6}Z-acme-example-agent-support-bot-7f3a-[0-9a-f]{6}\.yaml$/);
    expect(r.stdout).toContain(`wrote ${join(d, 'overrides', files[0]!)}`);
    expect(r.stdout).toMatch(/expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC in event time \(in 2h by the wall clock\)/);

    const config = await loadConfig(d);
    expect(config.version).not.toBe(before.version);
    expect(config.overrides).toHaveLength(before.overrides.length + 1);
    const o = config.overrides.at(-1)!;
    expect(o).toMatchObject({ source: join(d, 'overrides', files[0]!), owner: 'alice@acme.example', reason: 'bulk re-send after INC-1234' });
    expect(Math.abs(o.expiresAt! - (t0 + 2 * HOUR))).toBeLessThan(5000);

    const resolve = createResolver(config);
    const at = (identity: string, ts: number) => resolve({ identity, agentClass: 'support-bot', ts }).config;
    expect(at(BOT, o.expiresAt! - 1).rate.mode).toBe('shadow');
    expect(at(BOT, o.expiresAt! - 1).rate.baseline.short.ratio).toBe(10);
    expect(at(BOT, o.expiresAt! - 1).chain.fanOutWindowMs).toBe(2 * HOUR);
    expect(at(BOT, o.expiresAt!).rate.mode).toBe('enforce');
    expect(at(BOT, o.expiresAt!).rate.baseline.short.ratio).toBe(3);
    expect(at(`${BOT}x`, o.expiresAt! - 1).rate.mode).toBe('enforce');
  });

  it('takes --until, --off and --agent-class, and writes a file the schema reads back', async () => {
    const d = await configCopy();
    const r = await warden('override', 'add', '-c', d, '--agent-class', 'batch-*', '--detector', 'chain', '--off',
      '--owner', 'bob', '--reason', 'backfill', '--until', '2099-01-01T00:00:00Z');
    expect(r.code).toBe(0);
    const [file] = await overrideFiles(d);
    expect(file).toMatch(/-batch-[0-9a-f]{6}\.yaml$/);
    const o = (await loadConfig(d)).overrides.at(-1)!;
    expect(o.match.agentClass?.source).toBe('batch-*');
    expect(o.detectors).toEqual({ chain: { enabled: false } });
    expect(o.expiresAt).toBe(Date.UTC(2099, 0, 1));
  });

  it('writes nothing on a problem, and names the file, line and field', async () => {
    const d = await configCopy();
    const bad = await addShadow(d, '--set', 'detectors.rate.baseline.multipler=10', '--for', '2h');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/not written/);
    expect(bad.stderr).toMatch(/overrides\/\d{8}T\d{6}Z-[a-z0-9-]+\.yaml:\d+ detectors\.rate\.baseline\.multipler: unknown key "multipler"/);

    const mode = await warden('override', 'add', '--config', d, '--identity', 'x', '--detector', 'scope', '--mode', 'loud', '--owner', 'a', '--reason', 'b', '--for', '1h');
    expect(mode.code).toBe(1);
    expect(mode.stderr).toMatch(/\.yaml:\d+ detectors\.scope\.mode: expected one of shadow, alert, enforce, got string "loud"/);

    const glob = await warden('override', 'add', '--config', d, '--identity', 'x[', '--detector', 'scope', '--off', '--owner', 'a', '--reason', 'b', '--for', '1h');
    expect(glob.code).toBe(1);
    expect(glob.stderr).toMatch(/\.yaml:\d+ match\.identity: unsupported glob syntax '\['/);

    const noReason = await warden('override', 'add', '--config', d, '--identity', 'x', '--detector', 'scope', '--off', '--owner', 'a', '--for', '1h');
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/needs --reason .*\[CLI_USAGE\]/s);

    const noExpiry = await warden('override', 'add', '--config', d, '--identity', 'x', '--detector', 'scope', '--off', '--owner', 'a', '--reason', 'b');
    expect(noExpiry.code).toBe(2);
    expect(noExpiry.stderr).toMatch(/needs --for DURATION .* or --until TIME/);

    const past = await addShadow(d, '--until', '2020-01-01T00:00:00Z');
    expect(past.code).toBe(2);
    expect(past.stderr).toMatch(/--until 2020-01-01T00:00:00Z has already passed/);

    const noZone = await addShadow(d, '--until', '2099-01-01T00:00');
    expect(noZone.code).toBe(1);
    expect(noZone.stderr).toMatch(/\.yaml:\d+ expires: expected a time/);

    const empty = await addShadow(d, '--set', 'detectors.rate.enabled=', '--for', '1h');
    expect(empty.stderr).toMatch(/--set detectors\.rate\.enabled needs a value/);
    const twice = await addShadow(d, '--set', 'detectors.rate.mode=alert', '--for', '1h');
    expect(twice.stderr).toMatch(/--mode shadow and --set detectors\.rate\.mode set the same setting/);
    const notDetectors = await addShadow(d, '--set', 'owner=bob', '--for', '1h');
    expect(notDetectors.stderr).toMatch(/--set owner=bob: expected detectors\.PATH=VALUE/);
    const zero = await addShadow(d, '--for', '0');
    expect(zero.stderr).toMatch(/--for must be longer than 0/);

    expect(await overrideFiles(d)).toEqual([]);
  });

  it('is checked together with the whole config directory', async () => {
    const d = await configCopy();
    await writeFile(join(d, 'agents', 'broken.yaml'), 'agentClass: Bad Name\n');
    const r = await addShadow(d, '--for', '1h');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(d, 'agents', 'broken.yaml')}:1 agentClass:`);
    expect(await overrideFiles(d)).toEqual([]);
  });
});

describe('warden override list and remove', () => {
  async function withThree(): Promise<{ d: string; added: string }> {
    const d = await configCopy();
    expect((await addShadow(d, '--for', '2h')).code).toBe(0);
    const [added] = await overrideFiles(d);
    await writeFile(join(d, 'overrides', 'old.yaml'), 'match: { identity: "bot-9" }\ndetectors: { scope: { enabled: false } }\nowner: carol\nreason: INC-7\nexpires: 2020-01-01T00:00:00Z\n');
    return { d, added: added! };
  }

  it('lists detectors.yaml and file overrides in the order they apply, with their status now', async () => {
    const { d, added } = await withThree();
    const r = await warden('override', 'list', '--config', d);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').slice(1, 4);
    expect(lines[0]).toMatch(/^permanent +- +\S+detectors\.yaml overrides\[0\] +agentClass=batch-\* +rate\.baseline\.short\.ratio=10 +- +-$/);
    expect(lines[1]).toMatch(new RegExp(`^active .*${added}.*identity=${BOT} +rate\\.mode=shadow +alice@acme\\.example +bulk re-send after INC-1234$`));
    expect(lines[2]).toMatch(/^expired +2020-01-01 00:00:00 +\S+old\.yaml +identity=bot-9 +scope\.enabled=false +carol +INC-7$/);

    const json = await warden('override', 'list', '--config', d, '--json');
    const rows = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => [x.kind, x.status])).toEqual([['detectors.yaml', 'permanent'], ['file', 'active'], ['file', 'expired']]);
    expect(rows[1]).toMatchObject({ match: { identity: BOT }, changes: ['rate.mode=shadow'], owner: 'alice@acme.example' });
    expect(rows[2].expires).toBe('2020-01-01T00:00:00.000Z');
  });

  it('removes a file by name, without its extension, or by path; --expired removes only expired ones', async () => {
    const { d, added } = await withThree();
    expect((await warden('override', 'remove', '--config', d, '--expired')).stdout).toMatch(/removed \S+old\.yaml \(expired 2020-01-01 00:00:00 UTC\)/);
    expect(await overrideFiles(d)).toEqual([added]);
    expect((await warden('override', 'remove', '--config', d, '--expired')).stdout).toMatch(/no expired override files/);

    expect((await warden('override', 'remove', '--config', d, added.replace(/\.yaml$/, ''))).code).toBe(0);
    expect(await overrideFiles(d)).toEqual([]);
    await writeFile(join(d, 'overrides', 'x.yml'), 'match: { identity: a }\ndetectors: {}\n');
    expect((await warden('override', 'remove', '--config', d, join(d, 'overrides', 'x.yml'))).code).toBe(0);
    expect(await overrideFiles(d)).toEqual([]);

    const missing = await warden('override', 'remove', '--config', d, 'nope.yaml');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no override file .*nope\.yaml.*\[OVERRIDE_NOT_FOUND\]/);
    const outside = await warden('override', 'remove', '--config', d, join(d, 'detectors.yaml'));
    expect(outside.code).toBe(2);
    expect(outside.stderr).toMatch(/is not a file in .*overrides\/; overrides in detectors\.yaml are removed by editing it/);
    expect(await readFile(join(d, 'detectors.yaml'), 'utf8')).toMatch(/overrides:/);
  });

  it('refuses options of another subcommand and unknown subcommands', async () => {
    const r = await warden('override', 'list', '--expired');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--expired is not an option of override list/);
    expect((await warden('override', 'frob')).stderr).toMatch(/unknown override command "frob"/);
    expect((await warden('override', 'remove', '--config', root)).stderr).toMatch(/needs NAME .* or --expired/);
    expect((await warden('--help')).stdout).toMatch(/\n {2}override +add, list or remove/);
  });
});

describe('override files in the config loader', () => {
  const file = (extra = '') => `match: { identity: "bot-1" }\ndetectors:\n  rate:\n    mode: shadow\n${extra}`;

  it('refuses a bad file with its path, line and field, and a list in one file', async () => {
    const d = await configCopy();
    await mkdir(join(d, 'overrides'));
    await writeFile(join(d, 'overrides', 'bad.yaml'), 'match: { identity: "bot-1" }\ndetectors:\n  rate:\n    mode: loud\n');
    await writeFile(join(d, 'overrides', 'no-owner.yaml'), `${file()}reason: x\nexpires: 2026-11-22T14:00:00Z\n`);
    await writeFile(join(d, 'overrides', 'list.yml'), `- ${file().replace(/\n(?=.)/g, '\n  ')}`);
    const r = await validateConfigDir(d);
    expect(r.ok).toBe(false);
    const issues = r.ok ? [] : r.issues;
    expect(issues).toHaveLength(3);
    expect(issues).toEqual(expect.arrayContaining([
      { file: join(d, 'overrides', 'bad.yaml'), line: 4, path: 'detectors.rate.mode', message: 'expected one of shadow, alert, enforce, got string "loud"' },
      expect.objectContaining({ file: join(d, 'overrides', 'no-owner.yaml'), path: 'owner', message: 'an override that expires needs an owner' }),
      expect.objectContaining({ file: join(d, 'overrides', 'list.yml'), line: 1, message: expect.stringMatching(/got a list: put each override in a file of its own/) }),
    ]));
    // The service refuses it just the same.
    await expect(loadConfig(d)).rejects.toThrow(/bad\.yaml:4 detectors\.rate\.mode/);
  });

  it('applies files after detectors.yaml, in file-name order, skipping dotfiles and other extensions', async () => {
    const d = await configCopy();
    await mkdir(join(d, 'overrides'));
    await writeFile(join(d, 'overrides', 'b.yaml'), 'match: { agentClass: "batch-*" }\ndetectors: { rate: { baseline: { short: { ratio: 30 } } } }\n');
    await writeFile(join(d, 'overrides', 'a.yaml'), 'match: { agentClass: "batch-*" }\ndetectors: { rate: { baseline: { short: { ratio: 20 } } } }\n');
    await writeFile(join(d, 'overrides', '.c.yaml.tmp'), 'not: [yaml');
    await writeFile(join(d, 'overrides', '.d.yaml'), 'garbage: true\n');
    await writeFile(join(d, 'overrides', 'notes.txt'), 'anything');
    const config = await loadConfig(d);
    expect(config.overrides.map((o) => o.source)).toEqual([`${join(d, 'detectors.yaml')} overrides[0]`, join(d, 'overrides', 'a.yaml'), join(d, 'overrides', 'b.yaml')]);
    expect(createResolver(config)({ identity: 'j', agentClass: 'batch-reporter' }).config.rate.baseline.short.ratio).toBe(30);
  });

  it('checks an extra in-memory file without writing it', async () => {
    const d = await configCopy();
    const ok = await validateConfigDir(d, { extra: { name: 'overrides/new.yaml', text: file() } });
    expect(ok.ok && ok.config.overrides.at(-1)?.source).toBe(join(d, 'overrides', 'new.yaml'));
    const bad = await validateConfigDir(d, { extra: { name: 'overrides/new.yaml', text: file('    bogus: 1\n') } });
    expect(bad.ok ? [] : bad.issues).toEqual([expect.objectContaining({ file: join(d, 'overrides', 'new.yaml'), line: 5, path: 'detectors.rate.bogus' })]);
    // In place of a file of the same name.
    await mkdir(join(d, 'overrides'));
    await writeFile(join(d, 'overrides', 'new.yaml'), 'broken: [');
    expect((await validateConfigDir(d, { extra: { name: 'overrides/new.yaml', text: file() } })).ok).toBe(true);
    expect((await validateConfigDir(d)).ok).toBe(false);
    await expect(validateConfigDir(d, { extra: { name: '../x.yaml', text: '' } })).rejects.toThrow(TypeError);
  });

  it('changes even a pinned version, so decisions and the reloader see an override file', async () => {
    const d = await configCopy();
    await writeFile(join(d, 'detectors.yaml'), `version: "2024-06-01"\n${await readFile(join(d, 'detectors.yaml'), 'utf8')}`);
    expect((await loadConfig(d)).version).toBe('2024-06-01');
    await mkdir(join(d, 'overrides'));
    await writeFile(join(d, 'overrides', 'a.yaml'), file());
    const v1 = (await loadConfig(d)).version;
    expect(v1).toMatch(/^2024-06-01\+overrides:[0-9a-f]{12}$/);
    await writeFile(join(d, 'overrides', 'a.yaml'), file().replace('shadow', 'alert'));
    expect((await loadConfig(d)).version).not.toBe(v1);
  });

  it('reads a file mounted as a symlink (a Kubernetes ConfigMap)', async () => {
    const d = await configCopy();
    await mkdir(join(d, 'overrides', '..data'), { recursive: true });
    await writeFile(join(d, 'overrides', '..data', 'a.yaml'), file());
    await symlink(join('..data', 'a.yaml'), join(d, 'overrides', 'a.yaml'));
    expect((await loadConfig(d)).overrides.at(-1)?.source).toBe(join(d, 'overrides', 'a.yaml'));
  });

  it('reloads the running config when a file appears in or leaves overrides/', async () => {
    const d = await configCopy();
    const applied: WardenConfig[] = [];
    const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    const stop = watchConfig(d, (c) => applied.push(c), log as never);
    const until = async (n: number) => {
      for (let i = 0; i < 100 && applied.length < n; i++) await new Promise((r) => setTimeout(r, 50));
      expect(applied).toHaveLength(n);
    };
    try {
      expect((await addShadow(d, '--for', '1h')).code).toBe(0);
      await until(1);
      expect(applied[0]!.overrides.at(-1)?.match.identity?.source).toBe(BOT);
      const [name] = await overrideFiles(d);
      await unlink(join(d, 'overrides', name!));
      await until(2);
      expect(applied[1]!.overrides.map((o) => o.match.identity?.source)).not.toContain(BOT);
      expect(log.error).not.toHaveBeenCalled();
    } finally {
      stop();
    }
  });
});
