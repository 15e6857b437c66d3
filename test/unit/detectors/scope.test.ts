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

  it('reports unknown classes only when configured to, as alert-only', async () => {
    const e = ev('mystery-1', T0, 'x.read', 'x:y', { agentClass: 'mystery' });
    expect(new Harness(resolve, [scope]).run(e)).toEqual([]);
    const alerting = await loadTestConfig({ 'detectors.yaml': 'detectors:\n  scope:\n    unknownClass: alert\n' });
    const fired = new Harness(alerting.resolve, [scope]).run(e);
    expect(fired.map((f) => f.finding)).toMatchObject([{ rule: 'unknown-class', severity: 'low', scope: 'identity', alertOnly: true, evidence: { observed: 'mystery' } }]);
    expect(new Harness(alerting.resolve, [scope]).run(ev('anon-1', T0, 'x.read', 'x:y'))).toEqual([]);
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
