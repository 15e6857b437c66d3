import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver, type Resolver } from '../../src/config/index.js';
import { bindingsOf } from '../../src/config/resolve.js';
import { globsOverlap, literalLength } from '../../src/config/glob.js';
import type { WardenConfig } from '../../src/config/types.js';
import type { Detection } from '../../src/detector.js';
import type { AgentEvent } from '../../src/event/types.js';
import { Engine } from '../../src/pipeline/engine.js';
import { classOf } from '../../src/pipeline/fleet-batch.js';
import { MemoryWindowStore } from '../../src/state/memory-store.js';
import { scope } from '../../detectors/scope.js';
import { cleanupConfigs, ev, Harness, loadTestConfig, MIN, T0 } from './detectors/harness.js';

const BOT = 'spiffe://acme.example/agent/support-bot/7f3a';
const ROLE = 'arn:aws:sts::123456789012:assumed-role/DataPipeline/nightly-42';

const MANIFESTS: Record<string, string> = {
  'agents/support-bot.yaml': `
agentClass: support-bot
identities: ["spiffe://acme.example/agent/support-bot/*"]
allow:
  - { action: crm.read, resource: "crm:customers/**" }
`,
  // Permissive, so that claiming it would be worth lying about.
  'agents/ops.yaml': `
agentClass: ops
allow:
  - { action: "**", resource: "**" }
`,
  'agents/pipeline.yaml': `
agentClass: role/DataPipeline
identities: ["arn:aws:sts::123456789012:assumed-role/DataPipeline/*"]
allow:
  - { action: s3.get, resource: "arn:aws:s3:::acme-landing/**" }
`,
  // A broad binding and a narrower one inside it: the narrower wins.
  'agents/a-fleet.yaml': `
agentClass: fleet
identities: ["spiffe://acme.example/**"]
allow:
  - { action: "**", resource: "**" }
`,
  // A literal star in the identity, escaped.
  'agents/odd.yaml': `
agentClass: odd
identities: ['spiffe://acme.example/agent/odd\\*/*']
allow: []
`,
};

let config: WardenConfig;
let resolve: Resolver;
beforeAll(async () => {
  ({ config, resolve } = await loadTestConfig(MANIFESTS));
});
afterAll(cleanupConfigs);

const classFor = (identity: string, agentClass?: string): string | undefined => resolve({ identity, agentClass }).manifest?.agentClass;

async function engineRun(cfg: WardenConfig, events: AgentEvent[]): Promise<{ detections: Detection[]; suspends: number }> {
  const engine = new Engine({ config: cfg, store: new MemoryWindowStore() });
  const res = await engine.process('p', events.map((event, i) => ({ offset: BigInt(i), ok: true as const, event })));
  return {
    detections: res.items.flatMap((x) => (x.kind === 'detection' ? [x.detection] : [])),
    suspends: res.items.filter((x) => x.kind === 'command' && x.command.type === 'suspend').length,
  };
}

describe('class resolution', () => {
  it('takes the class from a binding whatever the event claims, and from agentClass only for an unbound identity', () => {
    expect(classFor(BOT)).toBe('support-bot');
    expect(classFor(BOT, 'ops')).toBe('support-bot');
    expect(classFor(BOT, 'no-such-class')).toBe('support-bot');
    expect(resolve({ identity: BOT, agentClass: 'ops' }).binding).toBe('spiffe://acme.example/agent/support-bot/*');
    expect(classFor('bot-elsewhere', 'ops')).toBe('ops');
    expect(resolve({ identity: 'bot-elsewhere', agentClass: 'ops' }).binding).toBeUndefined();
    expect(classFor('bot-elsewhere')).toBeUndefined();
    expect(classFor('bot-elsewhere', 'mystery')).toBeUndefined();
  });

  it('binds cloud role ARNs and class names with a slash', () => {
    expect(classFor(ROLE)).toBe('role/DataPipeline');
    expect(classFor(ROLE, 'ops')).toBe('role/DataPipeline');
    // `*` stops at `/`: a session name cannot smuggle a path.
    expect(classFor('arn:aws:sts::123456789012:assumed-role/DataPipeline/x/y')).toBeUndefined();
    expect(classFor('arn:aws:sts::999999999999:assumed-role/DataPipeline/nightly')).toBeUndefined();
    // Unbound, it may still name the class, found by the agentClass in the file (pipeline.yaml), not the file name.
    expect(classFor('job-7', 'role/DataPipeline')).toBe('role/DataPipeline');
    expect(config.manifests.get('role/DataPipeline')?.file).toMatch(/agents\/pipeline\.yaml$/);
  });

  it('picks the binding naming the most characters literally, then the manifest file that sorts first', async () => {
    expect(classFor(BOT)).toBe('support-bot'); // not `fleet`, whose spiffe://acme.example/** also matches
    expect(classFor('spiffe://acme.example/agent/ops/1', 'ops')).toBe('fleet');
    expect(bindingsOf(config.manifests).map((b) => b.glob.source)).toEqual([
      'arn:aws:sts::123456789012:assumed-role/DataPipeline/*',
      'spiffe://acme.example/agent/support-bot/*',
      'spiffe://acme.example/agent/odd\\*/*',
      'spiffe://acme.example/**',
    ]);
    const tie = await loadTestConfig({
      'agents/b.yaml': 'agentClass: b\nidentities: ["sv*"]\n',
      'agents/a.yaml': 'agentClass: a\nidentities: ["*-1"]\n',
    });
    expect(tie.resolve({ identity: 'svc-1' }).manifest?.agentClass).toBe('a');
  });

  it('reads escapes in identity globs literally', () => {
    expect(classFor('spiffe://acme.example/agent/odd*/1')).toBe('odd');
    expect(classFor('spiffe://acme.example/agent/oddX/1')).toBe('fleet');
  });

  it('applies an override by the resolved class: a bound identity cannot claim its way into another class\'s override', async () => {
    const { resolve: r } = await loadTestConfig({
      ...MANIFESTS,
      'detectors.yaml': [
        'overrides:',
        '  - match: { agentClass: "ops" }',
        '    detectors: { scope: { enabled: false } }',
        '  - match: { agentClass: "role/*" }',
        '    detectors: { rate: { mode: shadow } }',
      ].join('\n'),
    });
    expect(r({ identity: BOT, agentClass: 'ops' }).config.scope.enabled).toBe(true);
    expect(r({ identity: 'unbound', agentClass: 'ops' }).config.scope.enabled).toBe(false);
    expect(r({ identity: ROLE }).config.rate.mode).toBe('shadow');
    expect(r({ identity: ROLE }).manifest?.agentClass).toBe('role/DataPipeline');
    expect(r({ identity: BOT }).config.rate.mode).toBe('enforce');
  });

  it('gives the fleet guard and class peers the resolved class', () => {
    expect(classOf(resolve({ identity: BOT, agentClass: 'ops' }))).toBe('support-bot');
    expect(classOf(resolve({ identity: 'x', agentClass: 'mystery' }))).toBe('?');
  });
});

describe('class-mismatch', () => {
  it('judges a lying event as its bound class and reports the lie, naming both classes', () => {
    const fired = new Harness(resolve, [scope]).run(ev(BOT, T0, 'db.drop', 'db:prod.users', { agentClass: 'ops' }));
    expect(fired.map((f) => f.finding.rule)).toEqual(['class-mismatch', 'outside-manifest']);
    expect(fired[0]!.finding).toMatchObject({
      severity: 'high',
      scope: 'identity',
      evidence: { observed: 'ops', limit: 'support-bot', claimed: 'ops', bound: 'support-bot', binding: 'spiffe://acme.example/agent/support-bot/*', key: 'ops' },
    });
    expect(fired[0]!.finding.reason).toMatch(/says agent class ops, but the support-bot manifest binds this identity/);
  });

  it('is quiet when the event names its bound class, or none, or an unbound identity names a class that binds none', () => {
    const h = new Harness(resolve, [scope]);
    expect(h.run(ev(BOT, T0, 'crm.read', 'crm:customers/1', { agentClass: 'support-bot' }))).toEqual([]);
    expect(h.run(ev(BOT, T0 + 1, 'crm.read', 'crm:customers/2'))).toEqual([]);
    expect(h.run(ev('unbound-1', T0, 'crm.read', 'crm:customers/1', { agentClass: 'ops' }))).toEqual([]);
  });

  it('reports an unbound identity claiming a class whose manifest binds its identities, judged as that class', () => {
    const fired = new Harness(resolve, [scope]).run(ev('intruder-1', T0, 'crm.read', 'crm:customers/1', { agentClass: 'support-bot' }));
    expect(fired.map((f) => f.finding)).toMatchObject([{
      rule: 'class-mismatch',
      severity: 'high',
      evidence: { observed: 'support-bot', claimed: 'support-bot', bound: null, limit: 'spiffe://acme.example/agent/support-bot/*', key: 'support-bot' },
    }]);
    expect(fired[0]!.finding.reason).toMatch(/says agent class support-bot, whose manifest binds other identities/);
  });

  it('alerts by default, suspends when its rule says enforce; the detection carries the resolved class', async () => {
    const lie = [ev(BOT, T0, 'crm.read', 'crm:customers/1', { agentClass: 'ops' })];
    const byDefault = await engineRun(config, lie);
    expect(byDefault.detections.map((d) => [d.rule, d.decision, d.agentClass])).toEqual([['class-mismatch', 'alert', 'support-bot']]);
    expect(byDefault.suspends).toBe(0);
    const strict = await loadTestConfig({ ...MANIFESTS, 'detectors.yaml': 'detectors:\n  scope:\n    rules: { class-mismatch: { mode: enforce } }\n' });
    const enforced = await engineRun(strict.config, [ev(BOT, T0, 'crm.read', 'crm:customers/1', { agentClass: 'ops' })]);
    expect(enforced.detections.map((d) => [d.rule, d.decision])).toEqual([['class-mismatch', 'suspend']]);
    expect(enforced.suspends).toBe(1);
    // The rules of detectors.yaml merge with the default ones: first-seen still alerts.
    expect(strict.config.detectors.scope.rules['first-seen']).toEqual({ mode: 'alert' });
  });
});

describe('unknown identities', () => {
  it('are reported once per identity per suppression window, then with the count held back', async () => {
    const events: AgentEvent[] = [];
    for (let i = 0; i < 5; i++) events.push(ev('stranger-1', T0 + i * MIN, 'x.read', `x:${i}`));
    events.push(ev('stranger-2', T0 + 2 * MIN, 'x.read', 'x:0'));
    events.push(ev('stranger-1', T0 + 11 * MIN, 'x.read', 'x:9'));
    const { detections } = await engineRun(config, events);
    const unknown = detections.filter((d) => d.rule === 'unknown-class');
    expect(unknown.map((d) => [d.identity, d.ts - T0, d.decision, d.agentClass])).toEqual([
      ['stranger-1', 0, 'alert', null],
      ['stranger-2', 2 * MIN, 'alert', null],
      ['stranger-1', 11 * MIN, 'alert', null],
    ]);
    expect(unknown[2]!.evidence.suppressed).toEqual({ held: 4, firstEventId: events[0]!.id, lastEventId: events[4]!.id });
  });

  it('with a class no manifest has are grouped by that class, and never suspended', async () => {
    const { detections, suspends } = await engineRun(config, [
      ev('stranger-3', T0, 'x.read', 'x:1', { agentClass: 'ghost' }),
      ev('stranger-3', T0 + 1, 'x.read', 'x:2', { agentClass: 'ghost' }),
      ev('stranger-3', T0 + 2, 'x.read', 'x:3', { agentClass: 'other' }),
    ]);
    expect(detections.map((d) => [d.rule, d.evidence.observed, d.agentClass])).toEqual([['unknown-class', 'ghost', 'ghost'], ['unknown-class', 'other', 'other']]);
    expect(suspends).toBe(0);
  });
});

describe('manifest class names', () => {
  it('take any non-blank string a platform uses, and refuse blanks, control characters and the unclassified marker', async () => {
    const { config: c } = await loadTestConfig({
      'agents/k8s.yaml': 'agentClass: "system:serviceaccount:payments:worker"\n',
      'agents/gcp.yaml': 'agentClass: "etl@acme-prod.iam.gserviceaccount.com"\n',
    });
    expect([...c.manifests.keys()].sort()).toEqual(['etl@acme-prod.iam.gserviceaccount.com', 'system:serviceaccount:payments:worker']);
    for (const bad of ['"Bad Name"', '"tab\\there"', '"?"', '""']) {
      await expect(loadTestConfig({ 'agents/bad.yaml': `agentClass: ${bad}\n` }), bad).rejects.toThrow(/agents\/bad\.yaml:1 agentClass:/);
    }
  });
});

describe('glob overlap and specificity', () => {
  it('tells whether two globs match a common string', () => {
    const yes: Array<[string, string]> = [
      ['spiffe://a/agent/*', 'spiffe://a/**'],
      ['spiffe://a/agent/*/x', 'spiffe://a/agent/y/*'],
      ['a?c', 'abc'],
      ['*', '?'],
      ['a**', '**b'],
      ['role\\*', 'role*'],
    ];
    const no: Array<[string, string]> = [
      ['spiffe://a/agent/*', 'spiffe://a/agent/x/y'],
      ['a/*', 'b/*'],
      ['*', 'a/b'],
      ['a?c', 'a/c'],
      ['role\\*', 'roleX'],
      ['[bad', '**'],
    ];
    for (const [a, b] of yes) expect(globsOverlap(a, b) && globsOverlap(b, a), `${a} ~ ${b}`).toBe(true);
    for (const [a, b] of no) expect(globsOverlap(a, b) || globsOverlap(b, a), `${a} !~ ${b}`).toBe(false);
    expect(globsOverlap('**', 'a/b/c')).toBe(true);
  });

  it('measures specificity by the characters named literally', () => {
    expect(literalLength('spiffe://a/*')).toBe(11);
    expect(literalLength('a\\*b/**')).toBe(4);
    expect(literalLength('**')).toBe(0);
  });
});
