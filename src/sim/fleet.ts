import { WardenError } from '../errors.js';
import type { AgentEvent } from '../event/types.js';
import type { Incident } from './labels.js';
import { Prng, deriveSeed } from './prng.js';

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

export const DEFAULT_START = Date.UTC(2026, 10, 16);
export const DEFAULT_AGENTS = Object.freeze({
  'support-bot': 12,
  'analytics-agent': 6,
  'ops-orchestrator': 3,
  'batch-reporter': 2,
  'coding-assistant': 8,
});
export type AgentClass = keyof typeof DEFAULT_AGENTS;
const CLASSES = Object.keys(DEFAULT_AGENTS) as AgentClass[];

export interface FleetOptions {
  seed?: number;
  /** Event time of the first simulated day, ms. */
  start?: number;
  days?: number;
  agents?: Partial<Record<AgentClass, number>>;
  /** Add the three labelled rogue incidents on the last day. */
  rogues?: boolean;
}

export type { Incident } from './labels.js';

export interface SimResult {
  /** Sorted by ts, then by id. */
  events: AgentEvent[];
  incidents: Incident[];
  identities: number;
}

interface Actor {
  identity: string;
  instance: string;
  cls: string;
}

interface Agent extends Actor {
  cls: AgentClass;
  joinAt: number;
  /** Per-agent activity level, so agents of a class differ. */
  scale: number;
  rng: Prng;
}

interface Stream {
  action: string;
  /** Events per hour at the business-hours peak and at night. */
  peak: number;
  night: number;
  resource: (r: Prng, a: Agent) => string;
}

const NAMESPACES = ['payments', 'checkout', 'search', 'identity', 'catalog', 'ingest'];
const SERVICES = ['payments-api', 'checkout-web', 'search-indexer', 'auth', 'catalog-api', 'ingest-worker'];
const REPORTS = ['weekly-revenue', 'churn', 'cohort-retention', 'inventory', 'marketing-funnel'];
const WAREHOUSE = ['sales', 'orders', 'customers', 'inventory', 'returns'];
const REPOS = ['payments-api', 'web-frontend', 'infra', 'ml-pipelines', 'docs', 'mobile-app'];
const PATHS = ['README.md', 'package.json', 'src/index.ts', 'src/lib/util.ts', 'src/api/routes.ts', 'test/app.test.ts', 'Dockerfile'];
const STAGES = ['build', 'test', 'lint', 'deploy-staging'];

const pod = (r: Prng): string => `${r.pick(NAMESPACES)}/${r.pick(['api', 'worker', 'web', 'cron'])}-${r.int(0, 5)}`;
const repo = (r: Prng): string => r.pick(REPOS);

const STREAMS: Record<AgentClass, Stream[]> = {
  'support-bot': [
    { action: 'crm.read', peak: 60, night: 1, resource: (r) => `crm:customers/${r.int(1, 50000)}` },
    { action: 'ticket.update', peak: 20, night: 0.4, resource: (r) => `helpdesk:tickets/${r.int(100000, 999999)}` },
    { action: 'email.send', peak: 10, night: 0.2, resource: (r) => `email:customer/${r.int(1, 50000)}` },
  ],
  'analytics-agent': [
    { action: 'db.read', peak: 45, night: 10, resource: (r) => r.pick(['db:prod.orders', 'db:prod.customers', 'db:warehouse.sales']) },
    { action: 'report.read', peak: 6, night: 0.5, resource: (r) => `s3:reports/${r.pick(REPORTS)}` },
  ],
  'ops-orchestrator': [{ action: 'k8s.read', peak: 20, night: 20, resource: (r) => `k8s:prod/${pod(r)}` }],
  'batch-reporter': [],
  'coding-assistant': [
    { action: 'repo.read', peak: 40, night: 0.5, resource: (r) => `git:acme/${repo(r)}/${r.pick(PATHS)}` },
    { action: 'repo.write', peak: 3, night: 0, resource: (r) => `git:acme/${repo(r)}` },
    { action: 'ci.trigger', peak: 2, night: 0, resource: (r) => `ci:${repo(r)}-${r.pick(STAGES)}` },
  ],
};

/** 0 at night, 1 in business hours (UTC 09-18), with ramps either side. */
function dayWeight(ts: number): number {
  const h = (((ts % DAY) + DAY) % DAY) / HOUR;
  if (h >= 9 && h < 18) return 1;
  if (h >= 7 && h < 9) return (h - 7) / 2;
  if (h >= 18 && h < 21) return (21 - h) / 3;
  return 0;
}

function invalid(message: string): WardenError {
  return new WardenError('SIM_OPTIONS_INVALID', `simulateFleet: ${message}`);
}

function resolveOptions(opts: FleetOptions): Required<FleetOptions> & { agents: Record<AgentClass, number> } {
  const seed = opts.seed ?? 7;
  const start = opts.start ?? DEFAULT_START;
  const days = opts.days ?? 3;
  if (!Number.isSafeInteger(seed)) throw invalid(`seed must be an integer, got ${seed}`);
  if (!Number.isSafeInteger(start)) throw invalid(`start must be an integer ms timestamp, got ${start}`);
  if (!Number.isInteger(days) || days < 1 || days > 60) throw invalid(`days must be an integer from 1 to 60, got ${days}`);
  const agents: Record<AgentClass, number> = { ...DEFAULT_AGENTS };
  for (const [cls, n] of Object.entries(opts.agents ?? {})) {
    if (!(cls in agents)) throw invalid(`unknown agent class "${cls}" (known: ${CLASSES.join(', ')})`);
    if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > 1000) throw invalid(`agents.${cls} must be an integer from 0 to 1000, got ${n}`);
    agents[cls as AgentClass] = n as number;
  }
  return { seed, start, days, agents, rogues: opts.rogues ?? true };
}

class Builder {
  readonly drafts: AgentEvent[] = [];
  private readonly taken = new Set<string>();
  private readonly idRng: Prng;
  private workers = 0;

  constructor(seed: number) {
    this.idRng = new Prng(deriveSeed(seed, 'identities'));
  }

  identity(cls: string): string {
    for (let i = 0; i < 100_000; i++) {
      const hex = this.idRng.int(0, 0xffff).toString(16).padStart(4, '0');
      const id = `spiffe://acme.example/agent/${cls}/${hex}`;
      if (!this.taken.has(id)) {
        this.taken.add(id);
        return id;
      }
    }
    throw invalid(`ran out of 4-hex identities for class ${cls}; simulate fewer days`);
  }

  emit(ts: number, who: Actor, action: string, resource: string, extra: { chain?: string[]; task?: string } = {}): void {
    const e: AgentEvent = { id: '', ts, identity: who.identity, action, resource };
    if (extra.chain && extra.chain.length > 0) e.chain = extra.chain;
    e.agentClass = who.cls;
    e.instance = who.instance;
    if (extra.task) e.task = extra.task;
    e.tenant = 'acme';
    e.outcome = 'allowed';
    this.drafts.push(e);
  }

  worker(): Actor {
    return { identity: this.identity('ops-worker'), instance: `pod-ops-worker-${++this.workers}`, cls: 'ops-worker' };
  }

  /** Spawns one ops-worker under `parent` and has it do 3-10 actions in the next ~2 minutes. Returns the worker. */
  spawnWorker(r: Prng, parent: Actor, chain: string[], ts: number, task: string): Actor {
    const w = this.worker();
    this.emit(ts, parent, 'agent.spawn', `agent:${w.identity}`, { chain, task });
    const wChain = [...chain, parent.identity];
    const n = r.int(3, 10);
    for (let i = 0; i < n; i++) {
      const p = r.float();
      const [action, resource] =
        p < 0.55 ? ['k8s.read', `k8s:prod/${pod(r)}`] : p < 0.95 ? ['log.read', `logs:${r.pick(SERVICES)}`] : ['k8s.restart', `k8s:staging/${pod(r)}`];
      this.emit(ts + r.int(SEC, 2 * MIN), w, action, resource, { chain: wChain, task });
    }
    return w;
  }
}

function agentOf(b: Builder, seed: number, cls: AgentClass, index: number, joinAt: number): Agent {
  const identity = b.identity(cls);
  const rng = new Prng(deriveSeed(seed, `${cls}/${index}`));
  return { cls, identity, instance: `pod-${cls}-${index + 1}`, joinAt, scale: 0.7 + 0.6 * rng.float(), rng };
}

function streams(b: Builder, a: Agent, end: number): void {
  const list = STREAMS[a.cls];
  if (list.length === 0) return;
  const r = a.rng;
  for (let t = Math.ceil(a.joinAt / MIN) * MIN; t < end; t += MIN) {
    const w = dayWeight(t + MIN / 2);
    for (const s of list) {
      const n = r.poisson(((s.night + (s.peak - s.night) * w) * a.scale) / 60);
      for (let i = 0; i < n; i++) b.emit(t + r.int(0, MIN - 1), a, s.action, s.resource(r, a));
    }
  }
}

function orchestrate(b: Builder, a: Agent, end: number): void {
  const r = a.rng;
  const hex = a.identity.slice(-4);
  let batch = 0;
  for (let t = a.joinAt + r.int(0, 10 * MIN); t < end - 3 * MIN; t += r.int(8 * MIN, 12 * MIN)) {
    const task = `task-${hex}-${++batch}`;
    const k = r.int(1, 4);
    for (let i = 0; i < k; i++) b.spawnWorker(r, a, [], t + r.int(0, 20 * SEC), task);
  }
}

function nightlyBatch(b: Builder, a: Agent, start: number, days: number): void {
  const r = a.rng;
  for (let d = 0; d < days; d++) {
    const t0 = start + d * DAY + 2 * HOUR + r.int(0, MIN);
    if (t0 < a.joinAt) continue;
    const date = new Date(start + d * DAY).toISOString().slice(0, 10);
    const reads = r.int(400, 600);
    for (let i = 0; i < reads; i++) b.emit(t0 + r.int(0, 10 * MIN - 1), a, 'db.read', `db:warehouse.${r.pick(WAREHOUSE)}`);
    const writes = r.int(17, 23);
    for (let i = 0; i < writes; i++) b.emit(t0 + r.int(5 * MIN, 10 * MIN), a, 'report.write', `s3:reports/daily-${date}`);
  }
}

function lateCount(n: number, days: number): number {
  return days >= 2 && n >= 2 ? Math.max(1, Math.round(n / 5)) : 0;
}

function rogueWrites(b: Builder, r: Prng, a: Agent, dayStart: number): Incident {
  const t0 = dayStart + 3 * HOUR + r.int(0, 30 * SEC);
  b.emit(t0, a, 'db.write', 'db:prod.orders');
  for (let i = 0; i < 4; i++) b.emit(t0 + r.int(10 * SEC, 4 * MIN), a, 'db.write', 'db:prod.orders');
  for (let t = t0 + 4 * MIN + r.int(0, 30 * SEC); t < t0 + 20 * MIN; t += r.int(25 * SEC, 35 * SEC)) b.emit(t, a, 'db.write', 'db:prod.orders');
  return { identity: a.identity, start: t0, end: t0 + 20 * MIN, label: 'analytics-prod-write' };
}

function rogueSpam(b: Builder, r: Prng, a: Agent, dayStart: number): Incident {
  const s0 = dayStart + 3 * HOUR + 10 * MIN;
  let first = Infinity;
  let last = -Infinity;
  for (let m = 0; m < 120; m++) {
    const n = r.poisson(400 / 60);
    for (let i = 0; i < n; i++) {
      const ts = s0 + m * MIN + r.int(0, MIN - 1);
      first = Math.min(first, ts);
      last = Math.max(last, ts);
      b.emit(ts, a, 'email.send', `email:customer/${r.int(1, 50000)}`);
    }
  }
  return { identity: a.identity, start: first, end: last, label: 'support-email-spam' };
}

function rogueRunaway(b: Builder, r: Prng, a: Agent, dayStart: number): Incident {
  const from = b.drafts.length;
  const r0 = dayStart + 14 * HOUR;
  const task = `task-${a.identity.slice(-4)}-runaway`;
  const n = r.int(140, 160);
  const times = Array.from({ length: n }, () => r0 + r.int(0, 15 * MIN - 1)).sort((x, y) => x - y);
  const deepAt = r.int(5, 20);
  times.forEach((ts, i) => {
    const w = b.spawnWorker(r, a, [], ts, task);
    if (i !== deepAt) return;
    // A worker that delegates again and again: chain depth 5 at the bottom.
    let parent: Actor = w;
    let chain = [a.identity];
    let t = ts;
    for (let depth = 2; depth <= 5; depth++) {
      t += r.int(15 * SEC, 40 * SEC);
      const child = b.spawnWorker(r, parent, chain, t, task);
      chain = [...chain, parent.identity];
      parent = child;
    }
  });
  let start = Infinity;
  let end = -Infinity;
  for (let i = from; i < b.drafts.length; i++) {
    const ts = b.drafts[i]!.ts;
    start = Math.min(start, ts);
    end = Math.max(end, ts);
  }
  return { identity: a.identity, start, end, label: 'orchestrator-runaway' };
}

/** A deterministic fleet of agents with daily rhythms, and optionally three labelled rogue incidents on the last day. */
export function simulateFleet(opts: FleetOptions = {}): SimResult {
  const o = resolveOptions(opts);
  const end = o.start + o.days * DAY;
  const b = new Builder(o.seed);
  const early: Partial<Record<AgentClass, Agent[]>> = {};

  for (const cls of CLASSES) {
    const n = o.agents[cls];
    const late = lateCount(n, o.days);
    const joinRng = new Prng(deriveSeed(o.seed, `join/${cls}`));
    const list: Agent[] = [];
    for (let i = 0; i < n; i++) {
      const joinAt = i >= n - late ? o.start + DAY + joinRng.int(0, 90 * MIN) : o.start;
      const a = agentOf(b, o.seed, cls, i, joinAt);
      if (i < n - late) list.push(a);
      if (cls === 'batch-reporter') nightlyBatch(b, a, o.start, o.days);
      else streams(b, a, end);
      if (cls === 'ops-orchestrator') orchestrate(b, a, end);
    }
    early[cls] = list;
  }

  const incidents: Incident[] = [];
  if (o.rogues) {
    const r = new Prng(deriveSeed(o.seed, 'rogues'));
    const lastDay = o.start + (o.days - 1) * DAY;
    const analytics = early['analytics-agent'] ?? [];
    const support = early['support-bot'] ?? [];
    const ops = early['ops-orchestrator'] ?? [];
    if (analytics.length > 0) incidents.push(rogueWrites(b, r, r.pick(analytics), lastDay));
    if (support.length > 0) incidents.push(rogueSpam(b, r, r.pick(support), lastDay));
    if (ops.length > 0) incidents.push(rogueRunaway(b, r, r.pick(ops), lastDay));
    incidents.sort((x, y) => x.start - y.start);
  }

  // Stable sort: ties keep generation order, which is deterministic, and ids follow the sorted order.
  const events = b.drafts.sort((x, y) => x.ts - y.ts);
  const seen = new Set<string>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    e.id = `evt-${String(i + 1).padStart(8, '0')}`;
    seen.add(e.identity);
  }
  return { events, incidents, identities: seen.size };
}
