import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  compileGlob, ConfigError, escapeGlob, globText, createResolver, loadConfig, matchAny, parseDuration, validateConfigDir,
  type ConfigIssue,
} from '../../src/config/index.js';

const SHIPPED = join(import.meta.dirname, '../../config');
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function configDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-config-'));
  dirs.push(dir);
  await mkdir(join(dir, 'agents'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

async function issuesOf(files: Record<string, string>): Promise<ConfigIssue[]> {
  const r = await validateConfigDir(await configDir(files));
  if (r.ok) throw new Error('expected issues');
  return r.issues;
}

const MANIFEST = 'agentClass: bot\nallow:\n  - { action: a.read, resource: "x:**" }\n';

describe('parseDuration', () => {
  it('accepts ms integers and unit strings', () => {
    expect(parseDuration(1500)).toEqual({ ok: true, ms: 1500 });
    expect(parseDuration('500ms')).toEqual({ ok: true, ms: 500 });
    expect(parseDuration('1h30m')).toEqual({ ok: true, ms: 5_400_000 });
    expect(parseDuration('7d')).toEqual({ ok: true, ms: 604_800_000 });
    for (const bad of [-1, 1.5, '', '5', '5x', '30m1h', 'abc', null]) expect(parseDuration(bad).ok).toBe(false);
  });
});

describe('compileGlob', () => {
  const g = (p: string) => {
    const r = compileGlob(p);
    if (!r.ok) throw new Error(r.reason);
    return r.glob;
  };
  it('matches *, ** and ? with / as the segment separator', () => {
    expect(g('email:customer/**').test('email:customer/a/b')).toBe(true);
    expect(g('*.write').test('db.write')).toBe(true);
    expect(g('*.write').test('a/b.write')).toBe(false);
    expect(g('k8s:*/pods').test('k8s:staging/pods')).toBe(true);
    expect(g('v?').test('v1')).toBe(true);
    expect(g('v?').test('v/')).toBe(false);
    expect(g('db:prod.**').test('db:prodXusers')).toBe(false);
    expect(g('a+b(c)').test('a+b(c)')).toBe(true);
    expect(g('**').test('')).toBe(true);
    expect(matchAny([g('x'), g('y*')], 'yes')).toBe(true);
  });
  it('refuses reserved syntax, and says how to escape it', () => {
    for (const p of ['', 'a[b]', '{a,b}', '!a', 'a***', 'a\\', 'a\\b']) expect(compileGlob(p).ok).toBe(false);
    const r = compileGlob('s3:logs[1]/*');
    expect(!r.ok && r.reason).toBe(`unsupported glob syntax '[' (in "s3:logs[1]/*"); to match it literally, escape it with a backslash: "s3:logs\\[1\\]/*"`);
    const stars = compileGlob('a***');
    expect(!stars.ok && stars.reason).toContain('for a literal star escape it as \\*');
    const bad = compileGlob('C:\\dir');
    expect(!bad.ok && bad.reason).toContain('write \\\\ for a literal backslash');
  });
  it('matches escaped metacharacters literally', () => {
    expect(g('s3:logs\\*').test('s3:logs*')).toBe(true);
    expect(g('s3:logs\\*').test('s3:logs1')).toBe(false);
    expect(g('k:\\[a\\]\\{b\\}\\!\\?').test('k:[a]{b}!?')).toBe(true);
    expect(g('k:\\?').test('k:x')).toBe(false);
    expect(g('a\\\\b').test('a\\b')).toBe(true);
    // An escaped star next to a wildcard: a literal '*' then any run.
    expect(g('tmp/\\**').test('tmp/*x')).toBe(true);
    expect(g('tmp/\\**').test('tmp/x')).toBe(false);
    expect(g('a\\***').test('a*b/c')).toBe(true);
    expect(g('v\\*/**').test('v*/a/b')).toBe(true);
    expect(g('v\\*/**').test('vx/a')).toBe(false);
    expect(escapeGlob('a*b[1]{x}!?\\')).toBe('a\\*b\\[1\\]\\{x\\}\\!\\?\\\\');
    for (const v of ['a*b', '[x]', 'p?q', 'a\\b', 'plain']) expect(g(escapeGlob(v)).test(v)).toBe(true);
    expect(globText('db:prod.**', '#')).toBe('db:prod.##');
    expect(globText('email:*@acme\\*.com', '#')).toBe('email:#@acme*.com');
  });
});

describe('loadConfig', () => {
  it('loads the shipped config', async () => {
    const c = await loadConfig(SHIPPED);
    expect([...c.manifests.keys()].sort()).toEqual([
      'analytics-agent', 'batch-reporter', 'coding-assistant', 'ops-orchestrator', 'ops-worker', 'role/DataPipeline', 'support-bot',
    ]);
    expect(c.manifests.get('support-bot')?.identities.map((g) => g.source)).toEqual(['spiffe://acme.example/agent/support-bot/*']);
    expect(c.manifests.get('role/DataPipeline')?.file).toMatch(/agents\/data-pipeline\.yaml$/);
    expect(c.detectors.rate.baseline.bucketMs).toBe(300_000);
    expect(c.detectors.scope.learned.prefixScores).toEqual([1, 0.6]);
    expect(c.breaker).toEqual({
      ttlMs: 900_000, maxTtlMs: 86_400_000, probationMs: 600_000, probationActions: 20, forgiveAfterMs: 86_400_000,
      fleetGuard: { enabled: true, maxPercent: 25, alwaysAllow: 2, activeWindowMs: 3_600_000 },
    });
    const support = c.manifests.get('support-bot');
    expect(support?.limits[0]).toMatchObject({ max: 500, windowMs: 3_600_000 });
    expect(support?.delegation).toEqual({ maxDepth: 1, maxChildren: null, windowMs: null });
    expect(c.manifests.get('analytics-agent')?.readOnly).toBe(true);
    expect(c.version).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect(c.overrides).toHaveLength(1);
  });

  it('uses defaults when detectors.yaml is absent', async () => {
    const c = await loadConfig(await configDir({ 'agents/bot.yaml': MANIFEST }));
    const shipped = await loadConfig(SHIPPED);
    const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
    expect(json(c.detectors)).toEqual(json(shipped.detectors));
    expect(c.breaker).toEqual(shipped.breaker);
    expect(c.overrides).toEqual([]);
    expect(c.manifests.get('bot')).toMatchObject({ readOnly: false, limits: [], delegation: { maxDepth: null } });
  });

  it('reports each kind of issue with file, path and line', async () => {
    const issues = await issuesOf({
      'detectors.yaml': [
        'detectors:', //                      1
        '  rate:', //                         2
        '    mode: loud', //                  3
        '    baseline:', //                   4
        '      alpha: "high"', //             5
        '      bucket: 5 minutes', //         6
        '      colour: red', //               7
        '  scope:', //                        8
        '    learned: { prefixDepth: 3 }', // 9
        '  chain:', //                        10
        '    spawnActions: ["agent.{a,b}"]', // 11
      ].join('\n'),
    });
    const file = expect.stringMatching(/detectors\.yaml$/);
    expect(issues).toEqual(expect.arrayContaining([
      { file, line: 3, path: 'detectors.rate.mode', message: expect.stringContaining('expected one of shadow, alert, enforce') },
      { file, line: 5, path: 'detectors.rate.baseline.alpha', message: expect.stringContaining('expected a number, got string') },
      { file, line: 6, path: 'detectors.rate.baseline.bucket', message: expect.stringContaining('expected a duration') },
      { file, line: 7, path: 'detectors.rate.baseline.colour', message: expect.stringMatching(/^unknown key "colour" \(allowed: enabled, bucket, /) },
      { file, line: 9, path: 'detectors.scope.learned.prefixScores', message: expect.stringContaining('prefixDepth is 3') },
      { file, line: 11, path: 'detectors.chain.spawnActions[0]', message: expect.stringContaining("unsupported glob syntax '{'") },
    ]));
    expect(issues).toHaveLength(6);
  });

  it('reports manifest issues, all of them', async () => {
    const issues = await issuesOf({
      'agents/bad.yaml': [
        'agentClass: Bad Name',
        'readOnly: "yes"',
        'allow:',
        '  - { action: a.read, resource: "x:**" }',
        '  - { action: a.read, resource: "[x]" }',
        'limits:',
        '  - { action: a.write, max: 0, window: 1h }',
      ].join('\n'),
    });
    expect(issues.map((i) => [i.path, i.line])).toEqual([
      ['agentClass', 1], ['readOnly', 2], ['allow[1].resource', 5], ['limits[0].max', 7],
    ]);
    expect(issues.every((i) => i.file.endsWith('agents/bad.yaml'))).toBe(true);
  });

  it('loads a manifest\'s resources rules and escaped resources, and reports a bad one with its line and how to escape', async () => {
    const c = await loadConfig(await configDir({
      'agents/bot.yaml': [
        'agentClass: bot',
        'allow:',
        "  - { action: s3.get, resource: 'arn:aws:s3:::logs\\*/**' }",
        'resources:',
        '  - { match: "web:**", shape: url }',
        '  - { match: "git:**", depth: 1 }',
      ].join('\n'),
    }));
    const m = c.manifests.get('bot')!;
    expect(m.resources.map((r) => ({ ...r, match: r.match.source }))).toEqual([
      { match: 'web:**', shape: 'url' }, { match: 'git:**', shape: 'auto', depth: 1 },
    ]);
    expect(m.allow[0]!.resource.test('arn:aws:s3:::logs*/a')).toBe(true);
    expect(m.allow[0]!.resource.test('arn:aws:s3:::logs1/a')).toBe(false);
    const issues = await issuesOf({
      'agents/bad.yaml': [
        'agentClass: bad',
        'allow:',
        '  - { action: s3.get, resource: "arn:aws:s3:::logs[1]/**" }',
        'resources:',
        '  - { match: "x:**", shape: blob }',
        '  - { match: "y:**", depth: 99 }',
      ].join('\n'),
    });
    expect(issues.map((i) => [i.path, i.line])).toEqual([['allow[0].resource', 3], ['resources[0].shape', 5], ['resources[1].depth', 6]]);
    expect(issues[0]!.message).toContain('escape it with a backslash: "arn:aws:s3:::logs\\[1\\]/**"');
    expect(issues[1]!.message).toContain('expected one of auto, url, email, arn, path, id, name');
  });

  it('reports a duplicate agentClass naming both files', async () => {
    const issues = await issuesOf({ 'agents/a.yaml': MANIFEST, 'agents/b.yml': `# copy\n${MANIFEST}` });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: 'agentClass', line: 2 });
    expect(issues[0]?.file).toMatch(/agents\/b\.yml$/);
    expect(issues[0]?.message).toMatch(/duplicate agentClass "bot".*agents\/a\.yaml/);
  });

  it('reports YAML syntax errors with a line', async () => {
    const issues = await issuesOf({ 'detectors.yaml': 'breaker:\n  ttl: 15m\n  ttl: 20m\n', 'agents/x.yaml': 'agentClass: [oops\n' });
    expect(issues.length).toBeGreaterThanOrEqual(2);
    for (const i of issues) {
      expect(i.message).toMatch(/^YAML syntax error/);
      expect(i.line).toBeTypeOf('number');
    }
    expect(issues.find((i) => i.file.endsWith('detectors.yaml'))?.line).toBe(3);
  });

  it('throws ConfigError for a missing dir', async () => {
    const dir = join(tmpdir(), `warden-missing-${process.pid}-${Date.now()}`);
    const err = await loadConfig(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CONFIG_INVALID');
    expect((err as ConfigError).message).toContain(`${dir}: config directory not found`);
  });

  it('formats the error message as file:line path: message', async () => {
    const dir = await configDir({ 'detectors.yaml': 'breaker:\n  ttl: soon\n' });
    const err = (await loadConfig(dir).catch((e: unknown) => e)) as ConfigError;
    expect(err.message).toContain(`${join(dir, 'detectors.yaml')}:2 breaker.ttl: expected a duration`);
  });

  it('checks overrides with the same rules, without defaults', async () => {
    const issues = await issuesOf({
      'detectors.yaml': [
        'overrides:',
        '  - match: {}',
        '    detectors: { rate: { baseline: { short: { ratio: 0.5 } } } }',
        '  - match: { identity: "spiffe://x/**" }',
        '    detectors: { scope: { learned: { prefixDepth: 3 } }, nope: 1 }',
      ].join('\n'),
    });
    expect(issues.map((i) => i.path)).toEqual([
      'overrides[0].match',
      'overrides[0].detectors.rate.baseline.short.ratio',
      'overrides[1].detectors.nope',
    ]);
    const ok = await issuesOf({
      'detectors.yaml': 'overrides:\n  - match: { agentClass: x }\n    detectors: { scope: { learned: { prefixDepth: 3 } } }\n',
    });
    expect(ok).toMatchObject([{ path: 'overrides[0].detectors.scope.learned.prefixDepth', line: 3 }]);
  });

  it('returns a deeply frozen config', async () => {
    const c = await loadConfig(SHIPPED);
    expect(() => { (c as { version: string }).version = 'x'; }).toThrow(TypeError);
    expect(() => { (c.detectors.rate.baseline as { alpha: number }).alpha = 1; }).toThrow(TypeError);
    expect(() => { (c.detectors.scope.writeActions as unknown[]).push(1); }).toThrow(TypeError);
    expect(() => (c.manifests as Map<string, unknown>).set('x', {})).toThrow(TypeError);
    expect(() => { (c.manifests.get('support-bot') as { readOnly: boolean }).readOnly = true; }).toThrow(TypeError);
  });

  it('versions by content unless detectors.yaml names a version', async () => {
    const dir = await configDir({ 'agents/bot.yaml': MANIFEST });
    const v1 = (await loadConfig(dir)).version;
    expect((await loadConfig(dir)).version).toBe(v1);
    await writeFile(join(dir, 'agents/bot.yaml'), `${MANIFEST}description: changed\n`);
    const v2 = (await loadConfig(dir)).version;
    expect(v2).not.toBe(v1);
    await writeFile(join(dir, 'detectors.yaml'), 'version: "2024-06-01"\n');
    expect((await loadConfig(dir)).version).toBe('2024-06-01');
  });
});

describe('createResolver', () => {
  it('applies overrides by agentClass and identity glob, deep-merged in order', async () => {
    const dir = await configDir({
      'agents/bot.yaml': MANIFEST,
      'agents/batch-job.yaml': 'agentClass: batch-job\n',
      'detectors.yaml': [
        'version: v1',
        'overrides:',
        '  - match: { agentClass: "batch-*" }',
        '    detectors: { rate: { baseline: { short: { ratio: 10 } } } }',
        '  - match: { identity: "spiffe://acme/agent/**" }',
        '    detectors: { rate: { mode: shadow, baseline: { short: { ratio: 20 } } }, chain: { spawnActions: ["x.spawn"] } }',
      ].join('\n'),
    });
    const config = await loadConfig(dir);
    const resolve = createResolver(config);

    const plain = resolve({ identity: 'spiffe://other/1', agentClass: 'bot' });
    expect(plain.config).toBe(config.detectors);
    expect(plain.manifest?.agentClass).toBe('bot');
    expect(plain.configVersion).toBe('v1');
    expect(resolve({ identity: 'spiffe://other/2', agentClass: 'bot' })).toBe(plain);

    const batch = resolve({ identity: 'spiffe://other/1', agentClass: 'batch-job' });
    expect(batch.config.rate.baseline.short.ratio).toBe(10);
    expect(batch.config.rate.baseline.alpha).toBe(0.02);
    expect(batch.config.rate.mode).toBe('enforce');
    expect(batch.manifest?.agentClass).toBe('batch-job');

    const both = resolve({ identity: 'spiffe://acme/agent/a/b', agentClass: 'batch-job' });
    expect(both.config.rate.baseline.short.ratio).toBe(20);
    expect(both.config.rate.mode).toBe('shadow');
    expect(both.config.chain.spawnActions.map((g) => g.source)).toEqual(['x.spawn']);
    expect(both.config.scope).toBe(config.detectors.scope);

    const noClass = resolve({ identity: 'spiffe://acme/agent/z' });
    expect(noClass.manifest).toBeUndefined();
    expect(noClass.config.rate.baseline.short.ratio).toBe(20);

    expect(resolve({ identity: 'spiffe://acme/agent/a/b', agentClass: 'batch-job' })).toBe(both);
    // A fresh resolver gives an equal context; its boundManifest is that resolver's own lookup, giving the same answers.
    const { boundManifest: lookup, ...fresh } = createResolver(config)({ identity: 'spiffe://acme/agent/a/b', agentClass: 'batch-job' });
    const { boundManifest: own, ...same } = both;
    expect(fresh).toEqual(same);
    expect(lookup!('spiffe://acme/agent/a/b')).toBe(own!('spiffe://acme/agent/a/b'));
    expect(Object.isFrozen(both.config.rate.baseline)).toBe(true);
  });

  it('shares a context per class when there are no overrides', async () => {
    const config = await loadConfig(await configDir({ 'agents/bot.yaml': MANIFEST }));
    const resolve = createResolver(config);
    expect(resolve({ identity: 'a', agentClass: 'bot' })).toBe(resolve({ identity: 'b', agentClass: 'bot' }));
    expect(resolve({ identity: 'a', agentClass: 'nope' })).toBe(resolve({ identity: 'b' }));
  });
});
