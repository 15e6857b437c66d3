import { describe, expect, it } from 'vitest';
import { advance, isSuspended, offend, parseBreaker, serializeBreaker } from '../../src/breaker/breaker.js';
import type { BreakerState } from '../../src/breaker/types.js';
import type { BreakerConfig } from '../../src/config/types.js';
import type { Detection } from '../../src/detector.js';

const MIN = 60_000;
const cfg: BreakerConfig = {
  ttlMs: 15 * MIN, maxTtlMs: 60 * MIN, probationMs: 10 * MIN, probationActions: 0, forgiveAfterMs: 24 * 60 * MIN,
  fleetGuard: { enabled: false, maxPercent: 25, alwaysAllow: 2, activeWindowMs: 60 * MIN },
};

function detection(ts: number, over: Partial<Detection> = {}): Detection {
  return {
    identity: 'agent-1', detector: 'rate', rule: 'baseline', severity: 'high', decision: 'suspend', mode: 'enforce',
    scope: 'email.send', ts, eventId: `e-${ts}`, action: 'email.send', resource: 'email:x', chain: [], agentClass: 'support-bot',
    reason: 'too many emails', evidence: { observed: 30, configVersion: 'v1' }, ...over,
  };
}

describe('circuit breaker', () => {
  it('opens on a suspend decision with the TTL, and ignores repeats while open', () => {
    const s: BreakerState = {};
    const c = offend(s, detection(1000), cfg)!;
    expect(c).toMatchObject({ type: 'suspend', identity: 'agent-1', scope: 'email.send', until: 1000 + 15 * MIN, probationUntil: 1000 + 25 * MIN, strike: 1, cascade: false, eventId: 'e-1000' });
    expect(isSuspended(s, 'email.send', 2000)).toBe(true);
    expect(isSuspended(s, 'crm.read', 2000)).toBe(false);
    expect(offend(s, detection(5000), cfg)).toBeNull();
  });

  it('goes half-open after the TTL, re-opens with a doubled TTL on a repeat offence, capped at maxTtl', () => {
    const s: BreakerState = {};
    offend(s, detection(0), cfg);
    expect(advance(s, 'agent-1', 15 * MIN, cfg)).toEqual([]);
    expect(s['email.send']!.phase).toBe('half-open');
    expect(isSuspended(s, 'email.send', 15 * MIN)).toBe(false);
    const second = offend(s, detection(16 * MIN), cfg)!;
    expect(second.strike).toBe(2);
    expect(second.until! - second.issuedAt).toBe(30 * MIN);
    advance(s, 'agent-1', 47 * MIN, cfg);
    const third = offend(s, detection(47 * MIN), cfg)!;
    expect(third.until! - third.issuedAt).toBe(60 * MIN);
    advance(s, 'agent-1', 200 * MIN, cfg);
    // Closed after probation, but the strike count stays until forgiven.
    const fourth = offend(s, detection(201 * MIN), cfg)!;
    expect(fourth.strike).toBe(4);
    expect(fourth.until! - fourth.issuedAt).toBe(60 * MIN);
  });

  it('closes after probation with a resume command, and forgives strikes after forgiveAfter', () => {
    const s: BreakerState = {};
    offend(s, detection(0), cfg);
    const resumes = advance(s, 'agent-1', 25 * MIN, cfg);
    expect(resumes).toHaveLength(1);
    expect(resumes[0]).toMatchObject({ type: 'resume', scope: 'email.send', until: null, issuedAt: 25 * MIN });
    expect(s['email.send']!.phase).toBe('closed');
    expect(advance(s, 'agent-1', 26 * MIN, cfg)).toEqual([]);
    advance(s, 'agent-1', 25 * MIN + cfg.forgiveAfterMs, cfg);
    expect(s).toEqual({});
    expect(offend(s, detection(2 * cfg.forgiveAfterMs), cfg)!.strike).toBe(1);
  });

  it('a whole-identity suspension covers every action, and cascades', () => {
    const s: BreakerState = {};
    const c = offend(s, detection(0, { scope: '*' }), cfg)!;
    expect(c.cascade).toBe(true);
    expect(isSuspended(s, 'anything.else', 1)).toBe(true);
    expect(offend(s, detection(10, { scope: 'email.send' }), cfg)).toBeNull();
  });

  it('does not touch the breaker for alert or shadow decisions', () => {
    const s: BreakerState = {};
    expect(offend(s, detection(0, { decision: 'alert', mode: 'alert' }), cfg)).toBeNull();
    expect(offend(s, detection(0, { mode: 'shadow' }), cfg)).toBeNull();
    expect(s).toEqual({});
  });

  it('gives deterministic command ids and round-trips its state', () => {
    const a: BreakerState = {};
    const b: BreakerState = {};
    expect(offend(a, detection(7), cfg)!.commandId).toBe(offend(b, detection(7), cfg)!.commandId);
    expect(offend({}, detection(8), cfg)!.commandId).not.toBe(offend({}, detection(7), cfg)!.commandId);
    expect(parseBreaker(serializeBreaker(a))).toEqual(a);
    expect(serializeBreaker({})).toBe('');
    expect(parseBreaker(null)).toEqual({});
  });
});

describe('half-open probation', () => {
  it('closes early once probationActions actions pass without a new offence', () => {
    const c3 = { ...cfg, probationActions: 3 };
    const s: BreakerState = {};
    offend(s, detection(0), c3);
    expect(advance(s, 'agent-1', 15 * MIN, c3)).toEqual([]);
    expect(advance(s, 'agent-1', 15 * MIN + 1, c3)).toEqual([]);
    expect(advance(s, 'agent-1', 15 * MIN + 2, c3)).toEqual([]);
    expect(s['email.send']!.phase).toBe('half-open');
    const [resume] = advance(s, 'agent-1', 15 * MIN + 3, c3);
    expect(resume).toMatchObject({ type: 'resume', issuedAt: 15 * MIN + 3 });
    expect(resume!.reason).toMatch(/^3 actions on probation without a new offence/);
    expect(s['email.send']!.phase).toBe('closed');
  });

  it('an offence during probation re-opens with a doubled TTL', () => {
    const c3 = { ...cfg, probationActions: 3 };
    const s: BreakerState = {};
    offend(s, detection(0), c3);
    advance(s, 'agent-1', 15 * MIN, c3);
    const again = offend(s, detection(15 * MIN + 1), c3)!;
    expect(again.strike).toBe(2);
    expect(again.until! - again.issuedAt).toBe(30 * MIN);
    expect(s['email.send']!.phase).toBe('open');
  });
});

describe('commands carry the whole state', () => {
  it('lists every suspension in force, so the latest record per identity is complete after compaction', () => {
    const s: BreakerState = {};
    const a = offend(s, detection(0, { scope: 'email.send' }), cfg)!;
    expect(a.active.map((x) => x.scope)).toEqual(['email.send']);
    const b = offend(s, detection(12 * MIN, { scope: '*', detector: 'scope', reason: 'read-only write' }), cfg)!;
    expect(b.active.map((x) => [x.scope, x.until, x.cascade, x.commandId])).toEqual([
      ['*', 27 * MIN, true, b.commandId],
      ['email.send', 15 * MIN, false, a.commandId],
    ]);
    // email.send's probation ends first: its resume still carries the whole-identity suspension.
    const resumes = advance(s, 'agent-1', 25 * MIN, cfg);
    expect(resumes.map((c) => [c.type, c.scope])).toEqual([['resume', 'email.send']]);
    expect(resumes[0]!.active.map((x) => x.scope)).toEqual(['*']);
  });
});
