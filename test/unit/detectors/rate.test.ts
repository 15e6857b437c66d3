import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../../../src/config/index.js';
import type { WardenConfig } from '../../../src/config/types.js';
import { rate } from '../../../detectors/rate.js';
import { formatDuration } from '../../../detectors/format.js';
import {
  arrivals, benignFleet, byTime, cleanupConfigs, DAY, diurnal, ev, FLEET_MANIFESTS, Harness, HOUR, loadTestConfig, MIN,
  mulberry32, T0,
} from './harness.js';

let config: WardenConfig;
let resolve: Resolver;

beforeAll(async () => {
  ({ config, resolve } = await loadTestConfig(FLEET_MANIFESTS));
});
afterAll(cleanupConfigs);

const SUPPORT = { agentClass: 'support-bot' };

describe('formatDuration', () => {
  it('prints windows the way people write them', () => {
    expect([5 * MIN, HOUR, DAY, 7 * DAY, 90 * MIN, 30_000, 1500, 250].map(formatDuration)).toEqual(['5m', '1h', '24h', '7d', '90m', '30s', '1.5s', '250ms']);
  });
});

function support(identity: string, from: number, to: number, perHour: (t: number) => number, seed: number, extra: Record<string, unknown> = {}) {
  const rng = mulberry32(seed);
  return arrivals(rng, from, to, perHour).map((ts) => ev(identity, ts, 'email.send', 'email:customers/1', { ...SUPPORT, ...extra }));
}

describe('rate detector', () => {
  it('stays quiet on the benign fleet (nightly batch bursts, diurnal ramps, late joiners) on several seeds', () => {
    let checked = 0;
    for (const seed of [1, 2, 3]) {
      const h = new Harness(resolve, [rate], (event, view) => {
        for (const [key, cv] of Object.entries(view.counters)) if (key.startsWith('rate:a:') && cv.baseline && cv.baseline.n >= 12) checked++;
      });
      const fired = h.runAll(benignFleet(seed));
      expect(fired.map((f) => `${seed}: ${f.finding.reason}`)).toEqual([]);
    }
    expect(checked).toBeGreaterThan(30_000);
  });

  it('fires baseline within minutes when a support bot goes from ~10/h to 400/h, once per bucket, and the flood is never learned', () => {
    const floodAt = T0 + 3 * DAY + 13 * HOUR;
    const events = byTime([...support('support-1', T0, floodAt, (t) => 10 * diurnal(t), 7), ...support('support-1', floodAt, floodAt + 30 * MIN, () => 400, 8)]);
    const fired = new Harness(resolve, [rate]).runAll(events).filter((x) => x.finding.rule === 'baseline' && x.finding.evidence.windowMs === 5 * MIN);
    const buckets = fired.map((x) => Math.floor(x.event.ts / (5 * MIN)));
    expect(new Set(buckets).size).toBe(fired.length);
    expect(fired.length).toBeGreaterThanOrEqual(6);
    expect(fired.every((x) => x.event.ts >= floodAt)).toBe(true);
    const [f] = fired;
    expect(f!.event.ts - floodAt).toBeLessThan(3 * MIN);
    console.log(`rate flood: baseline fired ${((f!.event.ts - floodAt) / MIN).toFixed(1)} min into the flood: ${f!.finding.reason}`);
    expect(f!.finding).toMatchObject({ severity: 'high', scope: 'action' });
    const e = f!.finding.evidence;
    expect(e).toMatchObject({ windowMs: 5 * MIN, action: 'email.send', key: 'baseline:email.send' });
    expect(Object.keys(e.baseline!).sort()).toEqual(['expected', 'hourDays', 'mean', 'n', 'sd']);
    expect(e.baseline!.hourDays).toBe(3);
    expect(f!.finding.reason).toMatch(/^email\.send at [\d.]+ in 5m, [\d.]+x the [\d.]+ expected around this hour \(threshold [\d.]+\)$/);
  });

  it('judges 03:00 by the identity\'s own 03:00: 5x its night rate fires though it is far below its daytime rate', () => {
    // 240/h by day, 12/h at night; on day 4 at 03:00, 60/h for an hour.
    const day = (t: number) => ((t % DAY) / HOUR >= 8 && (t % DAY) / HOUR < 20 ? 240 : 12);
    const at = T0 + 3 * DAY + 3 * HOUR;
    const events = byTime([...support('night-1', T0, at, day, 11), ...support('night-1', at, at + HOUR, () => 60, 12)]);
    const fired = new Harness(resolve, [rate]).runAll(events);
    expect(fired.length).toBeGreaterThan(0);
    expect(fired[0]!.event.ts).toBeGreaterThanOrEqual(at);
    expect(fired[0]!.event.ts - at).toBeLessThan(HOUR);
  });

  it('catches a sustained 3x held for an hour, which no single bucket shows, with the long window', () => {
    const at = T0 + 3 * DAY + 14 * HOUR;
    const flat = () => 60;
    const events = byTime([...support('steady-1', T0, at, flat, 21), ...support('steady-1', at, at + HOUR, () => 180, 22)]);
    const fired = new Harness(resolve, [rate]).runAll(events);
    expect(fired.length).toBeGreaterThan(0);
    expect(fired[0]!.event.ts).toBeGreaterThanOrEqual(at);
    expect(fired.map((f) => f.finding.rule)).toContain('sustained');
  });

  it('cannot be dragged up by a ramp: 1x to 4x over four hours fires before the end, and the bucket learned stays bounded', () => {
    const at = T0 + 3 * DAY + 10 * HOUR;
    const ramp = (t: number) => 60 * (1 + (3 * (t - at)) / (4 * HOUR));
    let maxExpected = 0;
    const events = byTime([...support('ramp-1', T0, at, () => 60, 31), ...support('ramp-1', at, at + 4 * HOUR, ramp, 32)]);
    const fired = new Harness(resolve, [rate], (event, view) => {
      const b = view.counters['rate:a:email.send']?.baseline;
      if (b && event.ts >= at) maxExpected = Math.max(maxExpected, b.expected);
    }).runAll(events);
    expect(fired.length).toBeGreaterThan(0);
    expect(fired[0]!.event.ts - at).toBeLessThan(3 * HOUR);
    // 5/bucket learned; the ramp reaches 20/bucket: what is learned may rise a little, never with it.
    expect(maxExpected).toBeLessThan(8);
  });

  it('does not flag a low-volume identity sending 5 in a minute', () => {
    const events = [];
    for (let t = T0; t < T0 + 3 * DAY; t += HOUR) events.push(ev('quiet-1', t + 7 * MIN, 'email.send', 'email:customers/2', SUPPORT));
    for (let i = 0; i < 5; i++) events.push(ev('quiet-1', T0 + 3 * DAY + 30 * MIN + i * 10_000, 'email.send', 'email:customers/2', SUPPORT));
    expect(new Harness(resolve, [rate]).runAll(byTime(events))).toEqual([]);
  });

  it('does not count a retry storm of errors as activity, and alerts on a burst of denied actions', () => {
    const at = T0 + 3 * DAY + 12 * HOUR;
    const base = support('probe-1', T0, at + HOUR, () => 30, 41);
    const storm = Array.from({ length: 200 }, (_, i) => ev('probe-1', at + i * 1000, 'email.send', 'email:customers/1', { ...SUPPORT, outcome: 'error' }));
    expect(new Harness(resolve, [rate]).runAll(byTime([...base, ...storm]))).toEqual([]);
    const probe = Array.from({ length: 40 }, (_, i) => ev('probe-1', at + 30 * MIN + i * 3000, 'crm.read', `crm:customers/${i}`, { ...SUPPORT, outcome: 'denied' }));
    const fired = new Harness(resolve, [rate]).runAll(byTime([...base, ...probe]));
    // One finding for one probing: the hour's window crosses first (6 denied, a fifth of its actions), the burst's bar then says nothing more.
    expect(fired.map((f) => f.finding.rule)).toEqual(['denied']);
    expect(fired[0]!.finding).toMatchObject({ scope: 'identity', evidence: { key: 'denied:long', observed: 6 } });
    expect(fired[0]!.event.ts - (at + 30 * MIN)).toBeLessThan(MIN);
  });

  it('alerts once on probing paced under the burst bar (a denied action every 4 minutes), and never on a benign share of denials', () => {
    const at = T0 + 3 * DAY + 12 * HOUR;
    const base = support('probe-2', T0, at + 2 * HOUR, () => 30, 43);
    const paced = Array.from({ length: 20 }, (_, i) => ev('probe-2', at + i * 4 * MIN, 'crm.read', `crm:customers/${i}`, { ...SUPPORT, outcome: 'denied' }));
    const fired = new Harness(resolve, [rate]).runAll(byTime([...base, ...paced]));
    expect(fired.map((f) => [f.finding.rule, f.finding.evidence.key])).toEqual([['denied', 'denied:long']]);
    expect(fired[0]!.event.ts - at).toBeLessThan(30 * MIN);
    // The same denials in ten times the traffic are 2% of it: a benign share.
    const busy = support('probe-3', T0, at + 2 * HOUR, () => 300, 44);
    const few = paced.map((e) => ({ ...e, identity: 'probe-3', id: `${e.id}-3` }));
    expect(new Harness(resolve, [rate]).runAll(byTime([...busy, ...few])).filter((f) => f.finding.rule === 'denied')).toEqual([]);
  });

  it('alerts on slow probing by an identity that is denied about once an hour (7 denials in 40 min), and never on its usual denials', () => {
    const at = T0 + 3 * DAY + 12 * HOUR;
    const base = support('probe-4', T0, at + 2 * HOUR, () => 30, 45);
    const usual = [];
    for (let t = T0 + 17 * MIN; t < at + 2 * HOUR; t += HOUR) usual.push(ev('probe-4', t, 'crm.read', 'crm:customers/7', { ...SUPPORT, outcome: 'denied' }));
    expect(new Harness(resolve, [rate]).runAll(byTime([...base, ...usual])).filter((f) => f.finding.rule === 'denied')).toEqual([]);
    const slow = Array.from({ length: 7 }, (_, i) => ev('probe-4', at + 2 * MIN + i * 6 * MIN, 'crm.read', `crm:customers/internal/${i}`, { ...SUPPORT, outcome: 'denied' }));
    const fired = new Harness(resolve, [rate]).runAll(byTime([...base, ...usual, ...slow])).filter((f) => f.finding.rule === 'denied');
    expect(fired.map((f) => f.finding.evidence.key)).toEqual(['denied:long']);
    expect(fired[0]!.event.ts - at).toBeLessThan(45 * MIN);
  });

  it('fires hard-limit exactly once per crossing of a manifest limit', () => {
    const events = [];
    // 600 sends in the first 30 minutes of an hour bucket: one crossing at the 501st.
    for (let i = 0; i < 600; i++) events.push(ev('support-9', T0 + i * 3000, 'email.send', 'email:customers/3', SUPPORT));
    // Quiet for hours, then a second flood crosses again.
    for (let i = 0; i < 520; i++) events.push(ev('support-9', T0 + 6 * HOUR + i * 1000, 'email.send', 'email:customers/3', SUPPORT));
    const fired = new Harness(resolve, [rate]).runAll(events).filter((f) => f.finding.rule === 'hard-limit');
    expect(fired.map((f) => f.event.ts)).toEqual([T0 + 500 * 3000, T0 + 6 * HOUR + 500 * 1000]);
    const [f] = fired;
    expect(f!.finding.evidence).toMatchObject({ observed: 501, limit: 500, windowMs: HOUR, action: 'email.send' });
    expect(f!.finding.reason).toBe('email.send exceeded the manifest limit of 500 per 1h (observed 501)');
    expect(f!.finding.scope).toBe('action');
  });

  it('keeps per action a bucket with its daily profile and a long window, and per identity its denied outcomes', () => {
    const ctx = resolve({ identity: 'support-1', agentClass: 'support-bot' });
    const keys = (action: string, outcome?: 'denied' | 'error') =>
      rate.track(ev('support-1', T0, action, 'email:customers/1', { ...SUPPORT, ...(outcome ? { outcome } : {}) }), ctx).map((t) => t.key);
    expect(keys('email.send')).toEqual(['rate:limit:0:3600000', 'rate:a:email.send', 'rate:h:email.send', 'rate:all']);
    expect(keys('crm.read', 'denied')).toEqual(['rate:a:crm.read', 'rate:h:crm.read', 'rate:all', 'rate:o:denied', 'rate:o:denied:h']);
    expect(keys('crm.read', 'error')).toEqual(['rate:all']);
    const [t] = rate.track(ev('x', T0, 'crm.read', 'crm:customers/1'), ctx);
    expect(t).toMatchObject({ kind: 'counter', windowMs: 5 * MIN, baseline: { alpha: 0.02, slotAlpha: 0.2, learnZ: 3, minBuckets: 12 } });
  });
});
