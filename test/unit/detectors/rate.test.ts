import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../../../src/config/index.js';
import type { WardenConfig } from '../../../src/config/types.js';
import { slidingCount } from '../../../src/state/types.js';
import { baselineParamsOf, rate } from '../../../detectors/rate.js';
import { baselineThreshold } from '../../../src/state/baseline.js';
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

describe('rate detector', () => {
  it('stays quiet on the benign fleet, with margin', () => {
    const b = config.detectors.rate.baseline;
    let maxBaseline = 0;
    let maxLimit = 0;
    let checked = 0;
    const h = new Harness(resolve, [rate], (event, view, ctx) => {
      for (const [key, cv] of Object.entries(view.counters)) {
        const est = slidingCount(cv, event.ts);
        if (key.startsWith('rate:limit:')) {
          const i = Number(key.split(':')[2]);
          maxLimit = Math.max(maxLimit, est / ctx.manifest!.limits[i]!.max);
        } else if (cv.baseline && cv.baseline.n >= b.minBuckets && event.ts - view.firstSeen >= b.learningPeriodMs) {
          checked++;
          maxBaseline = Math.max(maxBaseline, est / baselineThreshold(cv.baseline, baselineParamsOf(b)));
        }
      }
    });
    const fired = h.runAll(benignFleet(1));
    console.log(`rate benign fleet: ${checked} baseline checks, max observed/threshold ${maxBaseline.toFixed(3)}, max observed/limit ${maxLimit.toFixed(3)}`);
    expect(fired.map((f) => f.finding.reason)).toEqual([]);
    expect(checked).toBeGreaterThan(10_000);
    expect(maxBaseline).toBeLessThan(0.8);
    expect(maxLimit).toBeLessThan(0.8);
  });

  it('fires baseline within minutes when a support bot goes from ~10/h to 400/h', () => {
    const rng = mulberry32(7);
    const floodAt = T0 + 3 * DAY + 13 * HOUR;
    const events = [
      ...arrivals(rng, T0, floodAt, (t) => 10 * diurnal(t)).map((ts) => ev('support-1', ts, 'email.send', 'email:customers/1', SUPPORT)),
      ...arrivals(rng, floodAt, floodAt + 30 * MIN, () => 400).map((ts) => ev('support-1', ts, 'email.send', 'email:customers/1', SUPPORT)),
    ];
    const fired = new Harness(resolve, [rate]).runAll(byTime(events));
    // Once per 5-minute bucket while the flood lasts: the flood is never learned as normal.
    const buckets = fired.map((x) => Math.floor(x.event.ts / (5 * MIN)));
    expect(new Set(buckets).size).toBe(fired.length);
    expect(fired.length).toBeGreaterThanOrEqual(6);
    expect(fired.length).toBeLessThanOrEqual(7);
    expect(fired.every((x) => x.event.ts >= floodAt)).toBe(true);
    const [f] = fired;
    expect(f!.finding.rule).toBe('baseline');
    expect(f!.event.ts - floodAt).toBeLessThan(5 * MIN);
    console.log(`rate flood: baseline fired ${((f!.event.ts - floodAt) / MIN).toFixed(1)} min into the flood: ${f!.finding.reason}`);
    expect(f!.finding.severity).toBe('high');
    expect(f!.finding.scope).toBe('action');
    const e = f!.finding.evidence;
    expect(e).toMatchObject({ windowMs: 5 * MIN, action: 'email.send', limit: 20 });
    expect(e.observed).toBeGreaterThan(20);
    expect(e.observed).toBeLessThanOrEqual(21);
    expect(Object.keys(e.baseline!).sort()).toEqual(['mean', 'n', 'peak', 'sd']);
    expect(e.baseline!.n).toBeGreaterThan(700);
    expect(e.baseline!.mean).toBeLessThan(1);
    expect(f!.finding.reason).toMatch(/^email\.send at [\d.]+ in 5m, [\d.]+x its learned peak of [\d.]+ \(threshold 20\)$/);
  });

  it('does not flag a low-volume identity sending 5 in a minute', () => {
    const events = [];
    for (let t = T0; t < T0 + 3 * DAY; t += HOUR) events.push(ev('quiet-1', t + 7 * MIN, 'email.send', 'email:customers/2', SUPPORT));
    for (let i = 0; i < 5; i++) events.push(ev('quiet-1', T0 + 3 * DAY + 30 * MIN + i * 10_000, 'email.send', 'email:customers/2', SUPPORT));
    expect(new Harness(resolve, [rate]).runAll(byTime(events))).toEqual([]);
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

  it('counts only actions matching the limit glob, with short per-limit keys', () => {
    const ctx = resolve({ identity: 'support-1', agentClass: 'support-bot' });
    const keys = (action: string) => rate.track(ev('support-1', T0, action, 'email:customers/1', SUPPORT), ctx).map((t) => t.key);
    expect(keys('email.send')).toEqual(['rate:limit:0:3600000', 'rate:a:email.send']);
    expect(keys('crm.read')).toEqual(['rate:a:crm.read']);
    const [t] = rate.track(ev('x', T0, 'crm.read', 'crm:customers/1'), ctx);
    expect(t).toMatchObject({ kind: 'counter', windowMs: 5 * MIN, baseline: { alpha: 0.05, peakDecay: 0.5 ** (5 / (7 * 24 * 60)) } });
  });
});
