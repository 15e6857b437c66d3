import { describe, expect, it } from 'vitest';
import { scoreLabelled } from '../../src/eval/breakdown.js';
import { formatComparison, formatExplanations, mergeReports } from '../../src/eval/format.js';
import { naiveFloor } from '../../src/eval/naive.js';
import type { DecisionLike } from '../../src/eval/score.js';
import { compileGlob } from '../../src/config/glob.js';
import type { WardenConfig } from '../../src/config/types.js';
import type { AgentEvent } from '../../src/event/types.js';
import type { Incident } from '../../src/sim/labels.js';

const MIN = 60_000;
const id = (s: string): string => `spiffe://acme.example/agent/${s}`;
const B = id('support-bot/000b');
const S = id('support-bot/000s');
const O = id('ops-orchestrator/0001');
const W = id('ops-worker/0002');
const N = id('support-bot/000n');
const R = id('support-bot/000r');
const X = id('coding-assistant/000x');

const labels: Incident[] = [
  { identity: B, start: 100 * MIN, end: 110 * MIN, label: 'burst/blatant', kind: 'burst', intensity: 'blatant', role: 'incident' },
  { identity: S, start: 200 * MIN, end: 260 * MIN, label: 'burst/subtle', kind: 'burst', intensity: 'subtle', role: 'incident' },
  { identity: O, start: 300 * MIN, end: 315 * MIN, label: 'delegation/moderate', kind: 'delegation', intensity: 'moderate', role: 'incident' },
  { identity: N, start: 400 * MIN, end: 420 * MIN, label: 'declared-first-use/moderate', kind: 'declared-first-use', intensity: 'moderate', role: 'low' },
  { identity: R, start: 500 * MIN, end: 530 * MIN, label: 'class-rollout/support-bot', kind: 'class-rollout', role: 'confounder' },
  { identity: R, start: 0, end: 1000 * MIN, label: 'weekend', kind: 'weekend', role: 'confounder' },
];

const decisions: DecisionLike[] = [
  { identity: B, ts: 103 * MIN, detector: 'rate', rule: 'baseline' }, // ttd 3 min
  { identity: B, ts: 102 * MIN, detector: 'scope', rule: 'outside-manifest' }, // earlier: ttd 2 min
  { identity: B, ts: 90 * MIN, detector: 'rate', rule: 'baseline' }, // before its window: outside
  { identity: S, ts: 260 * MIN + 6 * MIN, detector: 'rate', rule: 'baseline' }, // 1 min past end + 5 min grace: missed, after
  { identity: W, ts: 307 * MIN, chain: [O], detector: 'chain', rule: 'depth' }, // via chain: ttd 7 min
  { identity: N, ts: 401 * MIN, detector: 'scope', rule: 'first-seen' }, // low: caught, not a false positive
  { identity: R, ts: 510 * MIN, detector: 'scope', rule: 'first-seen', reason: 'first use of kb.read', decision: 'suspend' },
  { identity: R, ts: 512 * MIN, detector: 'scope', rule: 'first-seen' },
  { identity: X, ts: 700 * MIN, detector: 'rate', rule: 'baseline', reason: 'too many' }, // no confounder
];

describe('scoreLabelled', () => {
  const r = scoreLabelled(decisions, labels);

  it('counts recall per kind and intensity, leaving low labels out of the headline', () => {
    expect(r.incidents).toBe(3);
    expect(r.caught).toBe(2);
    expect(r.byIntensity).toEqual({ blatant: { incidents: 1, caught: 1 }, moderate: { incidents: 1, caught: 1 }, subtle: { incidents: 1, caught: 0 } });
    const row = (k: string, x: string) => r.byKind.find((b) => b.kind === k && b.intensity === x);
    expect(row('burst', 'blatant')).toMatchObject({ incidents: 1, caught: 1, ttdMs: [2 * MIN], role: 'incident' });
    expect(row('burst', 'subtle')).toMatchObject({ incidents: 1, caught: 0, ttdMs: [] });
    expect(row('delegation', 'moderate')).toMatchObject({ caught: 1, ttdMs: [7 * MIN] });
    expect(row('declared-first-use', 'moderate')).toMatchObject({ role: 'low', caught: 1, ttdMs: [MIN] });
    expect(r.byKind.some((b) => b.kind === 'class-rollout')).toBe(false);
  });

  it('takes the first matching decision for time to detect, and the median over incidents only', () => {
    const b = r.rows.find((x) => x.label === 'burst/blatant')!;
    expect(b).toMatchObject({ ttdMs: 2 * MIN, detector: 'scope', rule: 'outside-manifest', missed: null });
    expect(r.ttdMedianMs).toBe((2 * MIN + 7 * MIN) / 2);
  });

  it('says why an incident was missed', () => {
    expect(r.rows.find((x) => x.label === 'burst/subtle')!.missed).toBe('decision only after the window: first 6 min after its end (rate/baseline)');
    const none = scoreLabelled([], labels);
    expect(none.rows.find((x) => x.label === 'burst/blatant')!.missed).toBe('no decision on this identity at all');
    const early = scoreLabelled([{ identity: B, ts: 40 * MIN, detector: 'rate', rule: 'baseline' }], labels);
    expect(early.rows.find((x) => x.label === 'burst/blatant')!.missed).toBe('decisions only before the window: last 60 min before its start (rate/baseline)');
  });

  it('counts decisions by where they fall and lists falsely flagged identities with their confounder', () => {
    expect(r.decisions).toBe(9);
    expect(r.matchedDecisions).toBe(4);
    expect(r.outsideDecisions).toBe(2);
    expect(r.falseDecisions).toBe(3);
    expect(r.falselyFlagged).toEqual([
      { identity: R, decisions: 2, first: { ts: 510 * MIN, detector: 'scope', rule: 'first-seen', reason: 'first use of kb.read', decision: 'suspend' }, detectors: ['scope/first-seen'], confounder: 'class-rollout/support-bot' },
      { identity: X, decisions: 1, first: { ts: 700 * MIN, detector: 'rate', rule: 'baseline', reason: 'too many', decision: null }, detectors: ['rate/baseline'], confounder: null },
    ]);
    expect(r.onConfounders).toBe(1);
    const text = formatExplanations(r);
    expect(text).toContain('falsely flagged: confounder class-rollout/support-bot');
    expect(text).toContain('no confounder: plain false positive');
    expect(text).toContain('burst/subtle');
  });

  it('merges seeds and formats Warden beside the floor', () => {
    const m = mergeReports([r, r]);
    expect(m.incidents).toBe(6);
    expect(m.caught).toBe(4);
    expect(m.byKind.find((b) => b.kind === 'burst' && b.intensity === 'blatant')).toMatchObject({ incidents: 2, caught: 2 });
    expect(m.falselyFlagged).toHaveLength(4);
    const text = formatComparison(m, scoreLabelled([], labels), ['Warden', 'naive'], [[2, 2], [0, 0]]);
    expect(text).toMatch(/burst\s+2\/2\s+-\s+0\/2\s+0\/1\s+-\s+0\/1/);
    expect(text).toContain('declared-first-use (low)');
    expect(text).toContain('4 (per seed 2, 2), 2 inside a confounder');
  });
});

describe('naiveFloor', () => {
  const glob = (p: string) => {
    const g = compileGlob(p);
    if (!g.ok) throw new Error(g.reason);
    return g.glob;
  };
  const manifest = {
    agentClass: 'support-bot', file: 'x', readOnly: false,
    allow: [{ action: glob('crm.read'), resource: glob('crm:customers/**') }],
    limits: [], delegation: { maxDepth: 1, maxChildren: null, windowMs: null },
  };
  const config = { detectors: { chain: { maxDepth: 4 } }, manifests: new Map([['support-bot', manifest]]) } as unknown as WardenConfig;
  const ev = (ts: number, extra: Partial<AgentEvent> = {}): AgentEvent => ({ id: `e${ts}`, ts, identity: S, action: 'crm.read', resource: 'crm:customers/1', agentClass: 'support-bot', ...extra });

  it('learns 5-min counts until learnUntil, then flags a bucket over mean + 6 sd once', () => {
    const events: AgentEvent[] = [];
    // 24 learning buckets of 2 or 4 events (mean 3, sd 1): threshold 9.
    for (let b = 0; b < 24; b++) for (let i = 0; i < (b % 2 === 0 ? 2 : 4); i++) events.push(ev(b * 5 * MIN + i * 1000));
    const learnUntil = 24 * 5 * MIN;
    for (let i = 0; i < 9; i++) events.push(ev(learnUntil + 5 * MIN + i * 1000));
    expect(naiveFloor(events, config, { learnUntil })).toEqual([]);
    for (let i = 0; i < 3; i++) events.push(ev(learnUntil + 5 * MIN + 10_000 + i));
    const flags = naiveFloor(events, config, { learnUntil });
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({ identity: S, rule: 'rate', ts: learnUntil + 5 * MIN + 10_000, detector: 'naive' });
  });

  it('flags every event outside the allow-list and over the chain depth', () => {
    const flags = naiveFloor([
      ev(1, { action: 'crm.export' }),
      ev(2, { resource: 'crm:admins/1' }),
      ev(3, { chain: [O, W] }),
      ev(4, { agentClass: 'unknown-class', action: 'x' }),
      ev(5, { agentClass: 'unknown-class', chain: [O, W, B, N, R] }),
    ], config, { learnUntil: 0 });
    expect(flags.map((f) => [f.ts, f.rule])).toEqual([[1, 'allow-list'], [2, 'allow-list'], [3, 'depth'], [5, 'depth']]);
  });
});
