import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WardenError } from '../../src/errors.js';
import { readDecisions, readIncidents } from '../../src/eval/io.js';
import { formatReport, scoreDecisions, type DecisionLike } from '../../src/eval/score.js';
import type { Incident } from '../../src/sim/fleet.js';

const MIN = 60_000;
const A = 'spiffe://acme.example/agent/analytics-agent/00a1';
const O = 'spiffe://acme.example/agent/ops-orchestrator/00b2';
const W = 'spiffe://acme.example/agent/ops-worker/00c3';
const S = 'spiffe://acme.example/agent/support-bot/00d4';
const X = 'spiffe://acme.example/agent/coding-assistant/00e5';

const incidents: Incident[] = [
  { identity: A, start: 1000 * MIN, end: 1020 * MIN, label: 'write' },
  { identity: O, start: 2000 * MIN, end: 2015 * MIN, label: 'runaway' },
  { identity: S, start: 3000 * MIN, end: 3120 * MIN, label: 'spam' },
];

describe('scoreDecisions', () => {
  const decisions: DecisionLike[] = [
    { identity: A, ts: 1003 * MIN, detector: 'scope' }, // TP, ttd 3 min
    { identity: A, ts: 1001 * MIN, detector: 'rate' }, // TP, earlier: ttd 1 min
    { identity: A, ts: 1020 * MIN + 5 * MIN, detector: 'scope' }, // TP, exactly at end + grace
    { identity: A, ts: 999 * MIN, detector: 'scope' }, // FP: before the window
    { identity: W, ts: 2007 * MIN, chain: [O], detector: 'delegation' }, // TP via chain, ttd 7 min
    { identity: W, ts: 2015 * MIN + 5 * MIN + 1, chain: [O], detector: 'delegation' }, // FP: 1 ms past grace
    { identity: X, ts: 1005 * MIN, detector: 'rate' }, // FP: no incident for X
  ];
  const r = scoreDecisions(decisions, incidents, { identityHours: 500 });

  it('catches via the identity and via a descendant chain, and reports misses', () => {
    expect(r.rows).toEqual([
      { identity: A, label: 'write', caught: true, ttdMs: 1 * MIN, firstDetector: 'rate' },
      { identity: O, label: 'runaway', caught: true, ttdMs: 7 * MIN, firstDetector: 'delegation' },
      { identity: S, label: 'spam', caught: false, ttdMs: null, firstDetector: null },
    ]);
    expect(r.incidents).toBe(3);
    expect(r.caught).toBe(2);
    expect(r.recall).toBeCloseTo(2 / 3);
  });

  it('counts true and false positives per decision', () => {
    expect(r.decisions).toBe(7);
    expect(r.truePositives).toBe(4);
    expect(r.falsePositives).toBe(3);
    expect(r.precision).toBeCloseTo(4 / 7);
    expect(r.falsePositivesPer1000IdentityHours).toBeCloseTo(6);
  });

  it('reports median and max time to detect', () => {
    expect(r.ttdMedianMs).toBe(4 * MIN);
    expect(r.ttdMaxMs).toBe(7 * MIN);
  });

  it('honours graceMs', () => {
    const late = [{ identity: S, ts: 3120 * MIN + 2 * MIN }];
    expect(scoreDecisions(late, incidents, { graceMs: 2 * MIN }).caught).toBe(1);
    expect(scoreDecisions(late, incidents, { graceMs: 2 * MIN - 1 }).caught).toBe(0);
  });

  it('handles empty inputs without dividing by zero', () => {
    const e = scoreDecisions([], []);
    expect(e).toMatchObject({ recall: null, precision: null, falsePositivesPer1000IdentityHours: null, ttdMedianMs: null, ttdMaxMs: null });
    expect(formatReport(e)).toContain('0/0');
  });

  it('formats an aligned table', () => {
    const text = formatReport(r);
    expect(text).toContain('2/3');
    expect(text).toContain('recall 66.7%');
    expect(text).toContain('6.00 per 1000 identity-hours');
    const rows = text.split('\n').filter((l) => /write|runaway|spam/.test(l));
    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((l) => l.indexOf('spiffe://'))).size).toBe(1);
    expect(rows[2]).toContain('NO');
  });
});

describe('eval io', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-eval-'));
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('keeps only detection lines and takes identityHours from the summary', async () => {
    const p = file('out.jsonl', [
      JSON.stringify({ kind: 'detection', identity: A, ts: 5, chain: [], detector: 'scope', decision: 'suspend', rule: 'x' }),
      JSON.stringify({ kind: 'command', identity: A, type: 'suspend', issuedAt: 5 }),
      '',
      JSON.stringify({ kind: 'invalid', offset: 3, code: 'X' }),
      JSON.stringify({ kind: 'summary', identityHours: 12.5 }),
    ].join('\n'));
    const out = await readDecisions(p);
    expect(out.decisions).toEqual([{ identity: A, ts: 5, chain: [], detector: 'scope', decision: 'suspend', rule: 'x' }]);
    expect(out.identityHours).toBe(12.5);
  });

  it('names the line and field of a bad detection', async () => {
    const p = file('bad.jsonl', `${JSON.stringify({ kind: 'summary' })}\n${JSON.stringify({ kind: 'detection', identity: A, ts: 'soon' })}\n`);
    await expect(readDecisions(p)).rejects.toThrow(/bad\.jsonl: line 2 field "ts"/);
  });

  it('reads incidents and defaults the label', async () => {
    const p = file('inc.json', JSON.stringify([{ identity: A, start: 1, end: 2, label: 'w' }, { identity: O, start: 3, end: 4 }]));
    expect(await readIncidents(p)).toEqual([
      { identity: A, start: 1, end: 2, label: 'w' },
      { identity: O, start: 3, end: 4, label: 'incident-1' },
    ]);
  });

  it.each([
    ['{"identity":"a"}', /incidents: expected a JSON array/],
    ['[{"identity":"a","start":1,"end":2},{"identity":"","start":1,"end":2}]', /incidents\[1\]\.identity: must be a non-empty string/],
    ['[{"identity":"a","start":"x","end":2}]', /incidents\[0\]\.start: must be a number/],
    ['[{"identity":"a","start":5,"end":2}]', /incidents\[0\]\.end: must not be before start/],
    ['[{"identity":"a","start":1,"end":2,"label":3}]', /incidents\[0\]\.label: must be a string/],
    ['[not json', /not JSON/],
  ])('rejects %s with EVAL_INPUT_INVALID naming the file and field', async (text, message) => {
    const p = file('bad-incidents.json', text);
    const err = await readIncidents(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WardenError);
    expect((err as WardenError).code).toBe('EVAL_INPUT_INVALID');
    expect((err as WardenError).message).toContain('bad-incidents.json');
    expect((err as WardenError).message).toMatch(message);
  });

  it('reports a missing file as EVAL_INPUT_INVALID', async () => {
    await expect(readIncidents(join(dir, 'nope.json'))).rejects.toMatchObject({ code: 'EVAL_INPUT_INVALID' });
  });
});
