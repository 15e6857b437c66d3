import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../../../src/config/index.js';
import { resourcePrefixes } from '../../../detectors/resource.js';
import { scope } from '../../../detectors/scope.js';
import { benignFleet, cleanupConfigs, DAY, ev, FLEET_MANIFESTS, Harness, HOUR, loadTestConfig, MIN, T0 } from './harness.js';

let resolve: Resolver;

beforeAll(async () => {
  ({ resolve } = await loadTestConfig({
    ...FLEET_MANIFESTS,
    'agents/reporter.yaml': `
agentClass: reporter
readOnly: true
allow:
  - { action: "db.*", resource: "db:finance.**" }
`,
    'agents/ops.yaml': `
agentClass: ops
allow:
  - { action: "**", resource: "**" }
`,
  }));
});
afterAll(cleanupConfigs);

const OPS = { agentClass: 'ops' };

/** A day of an ops agent's routine, so its learning period is over with a known scope. */
function learnedOps(identity: string): ReturnType<typeof ev>[] {
  const out = [];
  for (let t = T0; t < T0 + DAY + HOUR; t += 10 * MIN) {
    out.push(ev(identity, t, 'db.query', `db:finance.ledger/${t}`, OPS));
    out.push(ev(identity, t + MIN, 'crm.read', `crm:customers/${(t / MIN) % 97}`, OPS));
  }
  return out;
}

describe('resourcePrefixes', () => {
  it('returns the learned levels, never the leaf', () => {
    expect(resourcePrefixes('db:finance.ledger', 2)).toEqual(['db', 'db:finance']);
    expect(resourcePrefixes('db:prod.users', 2)).toEqual(['db', 'db:prod']);
    expect(resourcePrefixes('crm:customers/123', 2)).toEqual(['crm', 'crm:customers']);
    expect(resourcePrefixes('crm:customers/123', 3)).toEqual(['crm', 'crm:customers']);
    expect(resourcePrefixes('vault', 2)).toEqual(['vault']);
    expect(resourcePrefixes('a::b', 3)).toEqual(['a', 'a:']);
    expect(resourcePrefixes('db:', 2)).toEqual(['db']);
    expect(resourcePrefixes('', 2)).toEqual(['']);
    expect(resourcePrefixes('x.y', 0)).toEqual([]);
  });
});

describe('scope detector', () => {
  it('stays quiet on the benign fleet', () => {
    let afterLearning = 0;
    let maxScore = 0;
    let newItems = 0;
    const h = new Harness(resolve, [scope], (event, view, ctx) => {
      const l = ctx.config.scope.learned;
      const added = Object.entries(view.seen).filter(([, s]) => s.added);
      if (event.ts - view.firstSeen < l.learningPeriodMs) return;
      afterLearning++;
      newItems += added.length;
      for (const [key] of added) maxScore = Math.max(maxScore, key === 'scope:act' ? l.actionScore : l.prefixScores[Number(key.slice(7)) - 1]!);
    });
    const fired = h.runAll(benignFleet(2));
    console.log(`scope benign fleet: ${afterLearning} events scored after learning, ${newItems} new items, max score ${maxScore} (threshold 0.5)`);
    expect(fired.map((f) => f.finding.reason)).toEqual([]);
    expect(afterLearning).toBeGreaterThan(10_000);
    expect(maxScore).toBe(0);
  });

  it('flags an action on a resource outside the manifest', () => {
    const [f, ...rest] = new Harness(resolve, [scope]).run(ev('support-1', T0, 'crm.read', 'hr:salaries/42', { agentClass: 'support-bot' }));
    expect(rest).toEqual([]);
    expect(f!.finding).toMatchObject({
      rule: 'outside-manifest',
      severity: 'high',
      scope: 'identity',
      evidence: { observed: 'crm.read on hr:salaries/42', limit: 'support-bot' },
    });
  });

  it('flags a write by a read-only agent even when an allow rule matches', () => {
    const fired = new Harness(resolve, [scope]).run(ev('reporter-1', T0, 'db.delete', 'db:finance.ledger', { agentClass: 'reporter' }));
    expect(fired.map((f) => f.finding.rule)).toEqual(['read-only-write']);
    expect(fired[0]!.finding).toMatchObject({ severity: 'high', scope: 'identity', evidence: { observed: 'db.delete', resource: 'db:finance.ledger' } });
  });

  it('reports unknown classes and unclassified identities by default, as alert-only, and only ignore hides them', async () => {
    const e = ev('mystery-1', T0, 'x.read', 'x:y', { agentClass: 'mystery' });
    const fired = new Harness(resolve, [scope]).run(e);
    expect(fired.map((f) => f.finding)).toMatchObject([{ rule: 'unknown-class', severity: 'low', scope: 'identity', alertOnly: true, evidence: { observed: 'mystery', key: 'mystery' } }]);
    const anon = new Harness(resolve, [scope]).run(ev('anon-1', T0, 'x.read', 'x:y'));
    expect(anon.map((f) => f.finding)).toMatchObject([{ rule: 'unknown-class', alertOnly: true, evidence: { observed: '(none)', key: '' } }]);
    expect(anon[0]!.finding.reason).toMatch(/no manifest binds this identity and the event names no agentClass/);
    const ignoring = await loadTestConfig({ 'detectors.yaml': 'detectors:\n  scope:\n    unknownClass: ignore\n' });
    expect(new Harness(ignoring.resolve, [scope]).run(e)).toEqual([]);
    expect(new Harness(ignoring.resolve, [scope]).run(ev('anon-2', T0, 'x.read', 'x:y'))).toEqual([]);
  });

  it('learns during the learning period without firing, then flags a new database but not a new customer id', () => {
    const h = new Harness(resolve, [scope]);
    // Everything is new on day one: nothing fires, but it is all learned.
    const learning = [
      ...learnedOps('ops-1'),
      ev('ops-1', T0 + 2 * HOUR, 'vault.read', 'vault:secrets/x', OPS),
    ].sort((a, b) => a.ts - b.ts);
    expect(h.runAll(learning)).toEqual([]);

    const t = T0 + 2 * DAY;
    expect(h.run(ev('ops-1', t, 'crm.read', 'crm:customers/brand-new-customer', OPS))).toEqual([]);
    expect(h.run(ev('ops-1', t + 1, 'vault.read', 'vault:secrets/y', OPS))).toEqual([]);

    const [db] = h.run(ev('ops-1', t + 2, 'db.query', 'db:prod.users', OPS));
    expect(db!.finding).toMatchObject({
      rule: 'first-seen',
      severity: 'high',
      scope: 'identity',
      evidence: { observed: 'db:prod', new: ['db:prod'], score: 0.6, limit: 0.5, learned: { actions: 3, p1: 3, p2: 4 } },
    });

    const [sys] = h.run(ev('ops-1', t + 3, 'kms.decrypt', 'kms:keys/main', OPS));
    expect(sys!.finding.evidence).toMatchObject({ observed: 'action kms.decrypt, kms, kms:keys', score: 1 });
    expect(sys!.finding.reason).toBe('first use of action kms.decrypt, kms, kms:keys after the learning period (score 1, threshold 0.5)');
    // Learned now: the second time is routine.
    expect(h.run(ev('ops-1', t + 4, 'db.query', 'db:prod.orders', OPS))).toEqual([]);
  });

  it('never scores an identity inside its learning period, however new everything is', () => {
    const h = new Harness(resolve, [scope]);
    const t = T0 + 3 * DAY;
    const fired = h.runAll([
      ev('researcher-x', t, 'web.fetch', 'web:a.example/1', { agentClass: 'researcher', chain: ['orch'] }),
      ev('researcher-x', t + 1000, 'web.fetch', 'web:b.example/2', { agentClass: 'researcher', chain: ['orch'] }),
      ev('ops-late', t + DAY - 1, 'kms.decrypt', 'kms:keys/main', OPS),
    ]);
    expect(fired).toEqual([]);
  });

  it('flags drift past maxSeen at medium severity', async () => {
    const small = await loadTestConfig({ ...FLEET_MANIFESTS, 'agents/ops.yaml': 'agentClass: ops\nallow:\n  - { action: "**", resource: "**" }\n', 'detectors.yaml': 'detectors:\n  scope:\n    learned:\n      maxSeen: 3\n' });
    const h = new Harness(small.resolve, [scope]);
    const events = [];
    for (let i = 0; i < 3; i++) events.push(ev('ops-2', T0 + i * HOUR, 'db.query', `db:t${i}.x`, OPS));
    events.push(ev('ops-2', T0 + DAY + HOUR, 'db.query', 'db:t1.y', OPS));
    expect(h.runAll(events)).toEqual([]);
    const [f, ...rest] = h.run(ev('ops-2', T0 + DAY + 2 * HOUR, 'db.query', 'db:t9.x', OPS));
    expect(rest).toEqual([]);
    // p2 is full (db:t0, db:t1, db:t2), so db:t9 is neither added nor scored, but it is drift.
    expect(f!.finding).toMatchObject({ rule: 'first-seen', severity: 'medium', evidence: { observed: 'db:t9', full: true, limit: 3, learned: { p2: 3 } } });
  });

  it('emits seen tracks for the action and each prefix depth', () => {
    const ctx = resolve({ identity: 'ops-1', agentClass: 'ops' });
    expect(scope.track(ev('ops-1', T0, 'db.query', 'db:finance.ledger', OPS), ctx)).toEqual([
      { kind: 'seen', key: 'scope:act', member: 'db.query', cap: 256 },
      { kind: 'seen', key: 'scope:p1', member: 'db', cap: 256 },
      { kind: 'seen', key: 'scope:p2', member: 'db:finance', cap: 256 },
    ]);
    expect(scope.track(ev('ops-1', T0, 'vault.read', 'vault', OPS), ctx).map((t) => t.key)).toEqual(['scope:act', 'scope:p1']);
    // The last segment names one object (a spawned child, a pipeline): only strict prefixes are learned, the system always.
    expect(scope.track(ev('ops-1', T0, 'agent.spawn', 'agent:worker-81', OPS), ctx)).toEqual([
      { kind: 'seen', key: 'scope:act', member: 'agent.spawn', cap: 256 },
      { kind: 'seen', key: 'scope:p1', member: 'agent', cap: 256 },
    ]);
    for (const r of ['', 'a', 'a:', 'a::b', 'crm:customers/123', 'x.y/z:w', '/lead']) {
      const members = scope.track(ev('ops-1', T0, 'a.b', r, OPS), ctx).slice(1).map((t) => (t.kind === 'seen' ? t.member : ''));
      expect(members).toEqual(resourcePrefixes(r, 2).filter((p, i) => i === 0 || p.length < r.length));
    }
  });
});

describe('scope detector: resource shapes, declarations, keys', () => {
  let r2: Resolver;
  beforeAll(async () => {
    ({ resolve: r2 } = await loadTestConfig({
      // Anything goes, so nothing is declared: the learned scope speaks at full score.
      'agents/free.yaml': 'agentClass: free\nallow:\n  - { action: "**", resource: "**" }\n',
      'agents/helpdesk.yaml': `
agentClass: helpdesk
allow:
  - { action: crm.read, resource: "crm:customers/**" }
  - { action: kb.search, resource: "kb:articles/**" }
  - { action: email.send, resource: "email:*@acme.example" }
  - { action: "web.*", resource: "**" }
  - { action: logs.read, resource: 's3:logs\\*/**' }
`,
      'agents/crawler.yaml': `
agentClass: crawler
allow:
  - { action: "**", resource: "**" }
resources:
  - { match: "web:**", shape: url }
  - { match: "git:**", depth: 1 }
  - { match: "bucket:**", shape: name }
`,
    }));
  });

  const FREE = { agentClass: 'free' };
  /** A day and an hour of routine over `pairs`, leaf ids varying, so the learning period is over. */
  function routine(identity: string, extra: object, pairs: Array<[string, (i: number) => string]>): ReturnType<typeof ev>[] {
    const out = [];
    let i = 0;
    for (let t = T0; t < T0 + DAY + HOUR; t += 15 * MIN, i++) {
      for (const [k, [action, res]] of pairs.entries()) out.push(ev(identity, t + k, action, res(i), extra));
    }
    return out;
  }
  const LATER = T0 + 2 * DAY;
  const firstSeen = (fired: ReturnType<Harness['run']>) => fired.filter((f) => f.finding.rule === 'first-seen').map((f) => f.finding);

  const shapes: Array<{ name: string; learn: Array<[string, (i: number) => string]>; quiet: Array<[string, string]>; fires: Array<[string, string, string]> }> = [
    {
      name: 'path',
      learn: [['db.query', (i) => `db:prod.orders.${i}`], ['crm.read', (i) => `crm:customers/${i}`]],
      quiet: [['crm.read', 'crm:customers/brand-new-customer'], ['db.query', 'db:prod.refunds']],
      fires: [['db.query', 'db:finance.ledger', 'db:finance']],
    },
    {
      name: 'email',
      learn: [['email.send', (i) => `email:user${i}@acme.example`]],
      quiet: [['email.send', 'email:someone.new@acme.example']],
      fires: [['email.send', 'email:drop@evil.example', 'email:@evil.example']],
    },
    {
      name: 'bare email',
      learn: [['email.send', (i) => `user${i}@acme.example`]],
      quiet: [['email.send', 'new.person@acme.example']],
      fires: [['email.send', 'drop@evil.example', '@evil.example']],
    },
    {
      name: 'URL',
      learn: [['web.fetch', (i) => `https://docs.example.org/page/${i}`]],
      quiet: [['web.fetch', 'https://docs.example.org/page/999999?q=1']],
      fires: [['web.fetch', 'https://paste.evil.example/page/1', 'https://paste.evil.example'], ['web.fetch', 'https://docs.example.org/admin/x', 'https://docs.example.org/admin']],
    },
    {
      name: 'ARN',
      learn: [
        ['s3.get', (i) => `arn:aws:s3:::reports/${i}.csv`],
        ['ec2.describe', (i) => `arn:aws:ec2:us-east-1:111122223333:instance/i-0${i.toString(16)}`],
      ],
      quiet: [['s3.get', 'arn:aws:s3:::reports/new-object.csv'], ['ec2.describe', 'arn:aws:ec2:us-east-1:111122223333:instance/i-0ffffff']],
      fires: [
        ['s3.get', 'arn:aws:s3:::payroll/2024.csv', 'arn:aws:s3:::payroll'],
        ['ec2.describe', 'arn:aws:ec2:us-east-1:999988887777:instance/i-01', 'arn:aws:ec2:us-east-1:999988887777'],
        ['iam.create', 'arn:aws:iam::111122223333:user/backdoor', 'arn:aws:iam'],
      ],
    },
    {
      name: 'bare id',
      learn: [['ec2.describe', (i) => `i-0${(i * 7919).toString(16)}`], ['ticket.read', (i) => `${1000 + i}`]],
      quiet: [['ec2.describe', 'i-0abcdef1234'], ['ticket.read', '987654321']],
      fires: [['ec2.describe', 'vol-0abc', 'vol-*']],
    },
  ];
  for (const s of shapes) {
    it(`${s.name}: a new leaf stays quiet, a new learned level fires`, () => {
      const h = new Harness(r2, [scope]);
      const who = `free-${s.name}`;
      expect(h.runAll(routine(who, FREE, s.learn))).toEqual([]);
      let t = LATER;
      for (const [action, resource] of s.quiet) expect(h.run(ev(who, t++, action, resource, FREE)), resource).toEqual([]);
      for (const [action, resource, level] of s.fires) {
        const [f, ...rest] = h.run(ev(who, t++, action, resource, FREE));
        expect(rest).toEqual([]);
        expect(f?.finding, resource).toMatchObject({ rule: 'first-seen', evidence: { declared: [] } });
        expect(f!.finding.evidence.new, resource).toContain(level);
      }
    });
  }

  it('a first use the manifest names scores x declaredWeight, below the threshold; the same use undeclared fires', async () => {
    const low = await loadTestConfig({
      'agents/helpdesk.yaml': 'agentClass: helpdesk\nallow:\n  - { action: crm.read, resource: "crm:customers/**" }\n  - { action: kb.search, resource: "kb:articles/**" }\n',
      'agents/free.yaml': 'agentClass: free\nallow:\n  - { action: "**", resource: "**" }\n',
      // Only to see the score of a declared first use: it does not fire at the default 0.5.
      'detectors.yaml': 'detectors:\n  scope:\n    learned: { threshold: 0.1 }\n',
    });
    const score = (resolve: Resolver, cls: string) => {
      const h = new Harness(resolve, [scope]);
      h.runAll(routine(`${cls}-1`, { agentClass: cls }, [['crm.read', (i) => `crm:customers/${i}`]]));
      return firstSeen(h.run(ev(`${cls}-1`, LATER, 'kb.search', 'kb:articles/how-to-reset', { agentClass: cls })));
    };
    expect(score(low.resolve, 'helpdesk')).toMatchObject([{
      evidence: { new: ['action kb.search', 'kb', 'kb:articles'], declared: ['action kb.search', 'kb', 'kb:articles'], score: 0.25 },
    }]);
    expect(score(low.resolve, 'helpdesk')[0]!.reason).toContain('declared by the helpdesk manifest: action kb.search, kb, kb:articles');
    expect(score(low.resolve, 'free')).toMatchObject([{ evidence: { new: ['action kb.search', 'kb', 'kb:articles'], declared: [], score: 1 } }]);
    // Default threshold: declared is quiet, undeclared fires.
    expect(score(r2, 'helpdesk')).toEqual([]);
    expect(score(r2, 'free')).toMatchObject([{ evidence: { score: 1 } }]);
  });

  it('a level under a wildcard is not declared: a new email domain or web host fires even though the manifest allows it', () => {
    const h = new Harness(r2, [scope]);
    const HD = { agentClass: 'helpdesk' };
    h.runAll(routine('hd-1', HD, [['email.send', (i) => `email:u${i}@acme.example`], ['web.fetch', (i) => `https://kb.acme.example/a/${i}`]]));
    // `email:*@acme.example` names the domain; `web.*` on `**` names nothing.
    expect(h.run(ev('hd-1', LATER, 'email.send', 'email:new@acme.example', HD))).toEqual([]);
    const [web] = h.run(ev('hd-1', LATER + 1, 'web.fetch', 'https://paste.evil.example/x', HD));
    expect(web!.finding).toMatchObject({ rule: 'first-seen', evidence: { new: ['https://paste.evil.example'], declared: [], score: 1 } });
  });

  it('a class-wide rollout of a tool the manifest names fires for no one', () => {
    const h = new Harness(r2, [scope]);
    const HD = { agentClass: 'helpdesk' };
    const bots = Array.from({ length: 15 }, (_, i) => `helpdesk-${i}`);
    const events = bots.flatMap((b) => routine(b, HD, [['crm.read', (i) => `crm:customers/${i}`]]));
    // Day 3: the new tool reaches every bot within the hour, each on its own articles.
    bots.forEach((b, i) => {
      for (let k = 0; k < 20; k++) events.push(ev(b, LATER + i * 3 * MIN + k * 10_000, 'kb.search', `kb:articles/${i * 100 + k}`, HD));
    });
    expect(h.runAll(events.sort((a, b) => a.ts - b.ts))).toEqual([]);
  });

  it('manifest resources rules pick the shape and cap the depth per glob', () => {
    const h = new Harness(r2, [scope]);
    const CR = { agentClass: 'crawler' };
    const ctx = r2({ identity: 'c-1', agentClass: 'crawler' });
    const members = (resource: string) => scope.track(ev('c-1', T0, 'x', resource, CR), ctx).slice(1).map((t) => (t.kind === 'seen' ? t.member : ''));
    expect(members('web:docs.example.org/guide/page-1')).toEqual(['web:docs.example.org', 'web:docs.example.org/guide']);
    expect(members('git:acme/repo/src/x.ts')).toEqual(['git']);
    expect(members('bucket:my-logs')).toEqual(['bucket:my-logs']);
    expect(members('db:prod.users')).toEqual(['db', 'db:prod']);
    h.runAll(routine('c-1', CR, [['web.fetch', (i) => `web:docs.example.org/guide/${i}`], ['repo.read', (i) => `git:acme/r${i}/x`]]));
    expect(h.run(ev('c-1', LATER, 'web.fetch', 'web:docs.example.org/guide/new', CR))).toEqual([]);
    expect(h.run(ev('c-1', LATER + 1, 'repo.read', 'git:other-org/r/x', CR))).toEqual([]);
    expect(firstSeen(h.run(ev('c-1', LATER + 2, 'web.fetch', 'web:evil.example/guide/x', CR)))).toMatchObject([{ evidence: { new: ['web:evil.example', 'web:evil.example/guide'] } }]);
  });

  it('allows a resource with glob metacharacters literally when they are escaped', () => {
    const h = new Harness(r2, [scope]);
    const HD = { agentClass: 'helpdesk' };
    expect(h.run(ev('hd-2', T0, 'logs.read', 's3:logs*/2024/x', HD))).toEqual([]);
    expect(h.run(ev('hd-2', T0, 'logs.read', 's3:logsX/2024/x', HD)).map((f) => f.finding.rule)).toEqual(['outside-manifest']);
  });

  it('gives every finding a key that groups one incident: action and deepest learned level', async () => {
    const h = new Harness(resolve, [scope]);
    const SB = { agentClass: 'support-bot' };
    const keys = new Set<string>();
    for (let i = 0; i < 52; i++) {
      for (const f of h.run(ev('support-9', T0 + i * 1000, 'crm.read', `hr:salaries/${i}`, SB))) keys.add(`${f.finding.rule} ${String(f.finding.evidence.key)}`);
    }
    expect([...keys]).toEqual(['outside-manifest crm.read|hr:salaries']);
    const ro = new Harness(resolve, [scope]).run(ev('reporter-2', T0, 'db.delete', 'db:finance.ledger', { agentClass: 'reporter' }));
    expect(ro[0]!.finding.evidence.key).toBe('db.delete|db:finance');
    expect(new Harness(resolve, [scope]).run(ev('m-1', T0, 'x.read', 'x:y', { agentClass: 'mystery' }))[0]!.finding.evidence.key).toBe('mystery');
    const fh = new Harness(r2, [scope]);
    fh.runAll(routine('free-k', FREE, [['db.query', (i) => `db:prod.t${i}`]]));
    const [f] = fh.run(ev('free-k', LATER, 'kms.decrypt', 'kms:keys/main', FREE));
    expect(f!.finding.evidence.key).toBe('kms.decrypt|kms:keys');
  });
});
