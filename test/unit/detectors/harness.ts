import { mulberry32 } from '../../../src/sim/prng.js';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createResolver, loadConfig, type Resolver } from '../../../src/config/index.js';
import type { WardenConfig } from '../../../src/config/types.js';
import type { Detector, DetectorContext, DetectorName, Finding } from '../../../src/detector.js';
import type { AgentEvent } from '../../../src/event/types.js';
import { MemoryWindowStore } from '../../../src/state/memory-store.js';
import type { IdentityView, Track } from '../../../src/state/types.js';
import { builtinDetectors } from '../../../detectors/index.js';

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
/** Monday 2024-01-01 00:00 UTC. */
export { mulberry32 };
export const T0 = Date.UTC(2024, 0, 1);


export function poisson(rng: () => number, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * gaussian(rng)));
  const l = Math.exp(-lambda);
  let k = 0;
  let p = rng();
  while (p > l) {
    k++;
    p *= rng();
  }
  return k;
}

function gaussian(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

/** Office-hours curve in [floor, 1]: peaks at 13:00 UTC, `floor` at night. */
export function diurnal(ts: number, floor = 0.1): number {
  const hour = (ts % DAY) / HOUR;
  const day = hour > 7 && hour < 19 ? Math.sin((Math.PI * (hour - 7)) / 12) ** 2 : 0;
  return floor + (1 - floor) * day;
}

/** Poisson arrival times, minute by minute, for a rate (events/hour) that varies with time. */
export function arrivals(rng: () => number, from: number, to: number, perHour: (ts: number) => number): number[] {
  const out: number[] = [];
  for (let m = from; m < to; m += MIN) {
    const n = poisson(rng, perHour(m) / 60);
    const at: number[] = [];
    for (let i = 0; i < n; i++) at.push(m + Math.floor(rng() * MIN));
    out.push(...at.sort((a, b) => a - b));
  }
  return out.filter((t) => t < to);
}

let nextId = 0;
export function ev(identity: string, ts: number, action: string, resource: string, extra: Partial<AgentEvent> = {}): AgentEvent {
  return { id: `e${nextId++}`, ts, identity, action, resource, ...extra };
}

export function byTime(events: AgentEvent[]): AgentEvent[] {
  return events.sort((a, b) => a.ts - b.ts);
}

export interface Fired {
  detector: DetectorName;
  event: AgentEvent;
  finding: Finding;
}

export type Observer = (event: AgentEvent, view: IdentityView, ctx: DetectorContext) => void;

/** The pipeline's per-event loop, minus Kafka and the breaker: track, apply to the real store, detect. */
export class Harness {
  readonly store = new MemoryWindowStore();
  private offset = 0n;

  constructor(
    readonly resolve: Resolver,
    readonly detectors: readonly Detector[] = builtinDetectors,
    readonly observe?: Observer,
  ) {}

  run(event: AgentEvent): Fired[] {
    const ctx = this.resolve(event);
    const tracks: Track[] = [];
    for (const d of this.detectors) if (ctx.config[d.name].enabled) tracks.push(...d.track(event, ctx));
    const [outcome] = this.store.applySync({
      partition: 't',
      updates: [{ offset: this.offset++, identity: event.identity, ts: event.ts, tracks }],
    });
    if (outcome?.status !== 'view') throw new Error(`unexpected outcome ${outcome?.status}`);
    this.observe?.(event, outcome.view, ctx);
    const fired: Fired[] = [];
    for (const d of this.detectors) {
      if (!ctx.config[d.name].enabled) continue;
      for (const finding of d.detect(event, outcome.view, ctx)) fired.push({ detector: d.name, event, finding });
    }
    return fired;
  }

  runAll(events: Iterable<AgentEvent>): Fired[] {
    const fired: Fired[] = [];
    for (const e of events) fired.push(...this.run(e));
    return fired;
  }
}

const dirs: string[] = [];

/** Loads a config dir written from `files` (paths relative to it) with the real loader. */
export async function loadTestConfig(files: Record<string, string>): Promise<{ config: WardenConfig; resolve: Resolver }> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-detectors-'));
  dirs.push(dir);
  await mkdir(join(dir, 'agents'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  const config = await loadConfig(dir);
  return { config, resolve: createResolver(config) };
}

export async function cleanupConfigs(): Promise<void> {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** Manifests of the benign fleet; every benign action is allowed. */
export const FLEET_MANIFESTS: Record<string, string> = {
  'agents/support-bot.yaml': `
agentClass: support-bot
allow:
  - { action: email.send, resource: "email:customers/**" }
  - { action: crm.read, resource: "crm:customers/**" }
limits:
  - { action: email.send, max: 500, window: 1h }
`,
  'agents/analytics.yaml': `
agentClass: analytics
readOnly: true
allow:
  - { action: db.query, resource: "db:analytics.**" }
`,
  'agents/batch-etl.yaml': `
agentClass: batch-etl
allow:
  - { action: db.read, resource: "db:staging.**" }
  - { action: db.write, resource: "db:warehouse.**" }
limits:
  - { action: db.write, max: 1000, window: 1h }
`,
  'agents/orchestrator.yaml': `
agentClass: orchestrator
allow:
  - { action: agent.spawn, resource: "agent:*" }
  - { action: plan.update, resource: "plans:research/**" }
delegation: { maxChildren: 40, window: 1h }
`,
  'agents/researcher.yaml': `
agentClass: researcher
allow:
  - { action: web.fetch, resource: "web:**" }
  - { action: agent.spawn, resource: "agent:*" }
`,
};

const CUSTOMERS = 60;

function supportBot(rng: () => number, identity: string, from: number, to: number, out: AgentEvent[]): void {
  const cls = { agentClass: 'support-bot' };
  for (const ts of arrivals(rng, from, to, (t) => 10 * diurnal(t))) {
    out.push(ev(identity, ts, 'crm.read', `crm:customers/${Math.floor(rng() * CUSTOMERS)}`, cls));
  }
  for (const ts of arrivals(rng, from, to, (t) => 10 * diurnal(t))) {
    out.push(ev(identity, ts, 'email.send', `email:customers/${Math.floor(rng() * CUSTOMERS)}`, cls));
  }
}

/**
 * Seven days of a benign fleet: three support bots on a daily rhythm, one
 * joining on day 4; a read-only analytics agent at up to 600/h; a nightly ETL
 * burst of 300 writes in 10 minutes; an orchestrator spawning ~20 ephemeral
 * researchers an hour (some spawning a sub-researcher) that act once and
 * vanish; a support bot serving a brand-new customer id on day 5.
 */
export function benignFleet(seed = 1, days = 7): AgentEvent[] {
  const rng = mulberry32(seed);
  const end = T0 + days * DAY;
  const out: AgentEvent[] = [];
  supportBot(rng, 'support-1', T0, end, out);
  supportBot(rng, 'support-2', T0 + 3 * HOUR, end, out);
  supportBot(rng, 'support-late', T0 + 4 * DAY + 9 * HOUR, end, out);
  out.push(ev('support-1', T0 + 5 * DAY + 11 * HOUR + 17 * MIN, 'crm.read', 'crm:customers/new-9001', { agentClass: 'support-bot' }));

  const tables = ['events', 'users', 'sessions', 'orders'];
  for (const ts of arrivals(rng, T0, end, (t) => 600 * diurnal(t, 0.05))) {
    out.push(ev('analytics-1', ts, 'db.query', `db:analytics.${tables[Math.floor(rng() * tables.length)]}`, { agentClass: 'analytics' }));
  }

  for (let d = 0; d < days; d++) {
    const start = T0 + d * DAY + 2 * HOUR + Math.floor(rng() * 20 * MIN);
    for (let i = 0; i < 300; i++) {
      const ts = start + Math.floor(rng() * 10 * MIN);
      const write = i % 3 !== 0;
      out.push(ev('etl-nightly', ts, write ? 'db.write' : 'db.read', write ? 'db:warehouse.facts' : 'db:staging.orders', { agentClass: 'batch-etl' }));
    }
  }

  let sub = 0;
  for (const ts of arrivals(rng, T0, end, () => 20)) {
    const child = `researcher-${sub++}`;
    out.push(ev('orchestrator-1', ts, 'agent.spawn', `agent:${child}`, { agentClass: 'orchestrator' }));
    const chain = ['orchestrator-1'];
    const steps = 2 + Math.floor(rng() * 4);
    for (let s = 0; s < steps; s++) {
      out.push(ev(child, ts + 1000 + s * 5000, 'web.fetch', `web:docs.example.org/page/${Math.floor(rng() * 1e6)}`, { agentClass: 'researcher', chain }));
    }
    if (rng() < 0.2) {
      const grandchild = `researcher-${sub++}`;
      out.push(ev(child, ts + 2000, 'agent.spawn', `agent:${grandchild}`, { agentClass: 'researcher', chain }));
      out.push(ev(grandchild, ts + 4000, 'web.fetch', `web:news.example.com/item/${Math.floor(rng() * 1e6)}`, {
        agentClass: 'researcher',
        chain: [...chain, child],
      }));
    }
    if (rng() < 0.1) out.push(ev('orchestrator-1', ts + 30_000, 'plan.update', `plans:research/${Math.floor(rng() * 50)}`, { agentClass: 'orchestrator' }));
  }
  return byTime(out);
}
