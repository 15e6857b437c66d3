import { WardenError } from '../errors.js';
import type { AgentEvent, Outcome } from '../event/types.js';
import { CLASSES, CUSTOMER_POOL, WAREHOUSE, classSpec, pod, type ClassSpec, type ToolSpec } from './classes.js';
import { placeIncidents } from './incidents.js';
import type { Incident } from './labels.js';
import { Prng, deriveSeed } from './prng.js';
import { DAY, HOUR, MIN, SEC, dayStartOf, isWeekend, officeWeight } from './rhythm.js';

/** A Thursday: day 1 (learning, clean) Thursday, day 2 Friday, day 3 Saturday. */
export const CATALOGUE_START = Date.UTC(2026, 10, 19);
export const DEFAULT_CATALOGUE_AGENTS = CLASSES.reduce((n, c) => n + c.count, 0);

export interface CatalogueOptions {
  seed?: number;
  start?: number;
  /** 2 to 14; incidents and confounders fall on days 2 and later. */
  days?: number;
  /** Long-lived identities, about; classes keep their proportions. 40 to 1000. */
  agents?: number;
}

export interface CatalogueResult {
  /** Sorted by ts; ids follow that order. */
  events: AgentEvent[];
  /** Incidents (role incident or low) and confounders, sorted by start. */
  labels: Incident[];
  identities: number;
  longLived: number;
  start: number;
  end: number;
}

/** Multiplies, floors or replaces an identity's rate (and optionally outcomes and resources) inside a window. */
export interface Effect {
  from: number;
  to: number;
  /** Only these actions; all when absent. */
  actions?: readonly string[];
  /** New per-hour rate, from the base rate and the stream's undisturbed business-hours rate. */
  rate?: (t: number, base: number, peak: number) => number;
  outcome?: (r: Prng) => Outcome;
  resource?: (r: Prng, action: string) => string | undefined;
}

export interface ExtraStream {
  from: number;
  to: number;
  tool: ToolSpec;
  peak: number;
}

/** The identity's credential also presented from another instance, emitting `share` of its traffic there. */
export interface Twin {
  from: number;
  to: number;
  instance: string;
  share: number;
  /** Only these actions; all when absent. */
  actions?: readonly string[];
}

export interface Agent {
  identity: string;
  cls: ClassSpec;
  /** Per-identity activity level, so agents of a class differ. */
  scale: number;
  /** Shift of the agent's day, ms (people start at different times). */
  phase: number;
  joinAt: number;
  leaveAt: number;
  rng: Prng;
  /** [from ts, instance name], ascending. */
  instances: [number, string][];
  effects: Effect[];
  extra: ExtraStream[];
  twins: Twin[];
  /** Windows an incident must avoid on this identity (a confounder is running). */
  reserved: [number, number][];
  /** Has an incident: not a candidate for another. */
  taken: boolean;
}

export interface Actor {
  identity: string;
  cls: string;
  instance: string;
}

function invalid(message: string): WardenError {
  return new WardenError('SIM_OPTIONS_INVALID', `simulateCatalogue: ${message}`);
}

const baseOutcome = (r: Prng): Outcome => {
  const p = r.float();
  return p < 0.01 ? 'error' : p < 0.013 ? 'denied' : 'allowed';
};

export class Fleet {
  readonly drafts: AgentEvent[] = [];
  readonly labels: Incident[] = [];
  readonly agents: Agent[] = [];
  private readonly taken = new Set<string>();
  private readonly idRng: Prng;
  private workers = 0;

  constructor(readonly seed: number, readonly start: number, readonly end: number) {
    this.idRng = new Prng(deriveSeed(seed, 'catalogue/identities'));
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
    throw invalid(`ran out of 4-hex identities for class ${cls}`);
  }

  agent(cls: ClassSpec, joinAt: number, leaveAt = this.end): Agent {
    const identity = this.identity(cls.name);
    const rng = new Prng(deriveSeed(this.seed, `catalogue/${identity}`));
    // Log-uniform 0.4x..2.5x: per-identity rates differ by up to 6x within a class.
    const scale = Math.exp(Math.log(0.4) + (Math.log(2.5) - Math.log(0.4)) * rng.float());
    const phase = rng.int(-60, 60) * MIN;
    const hex = identity.slice(-4);
    const instances: [number, string][] = [[joinAt, `${cls.name}-${hex}-${rng.int(0x100000, 0xffffff).toString(16)}`]];
    // Occasional pod restarts: a new instance about every three days.
    for (let d = dayStartOf(joinAt); d < leaveAt; d += DAY) {
      const at = d + rng.int(0, DAY - 1);
      if (at > joinAt && at < leaveAt && rng.chance(0.3)) instances.push([at, `${cls.name}-${hex}-${rng.int(0x100000, 0xffffff).toString(16)}`]);
    }
    const a: Agent = { identity, cls, scale, phase, joinAt, leaveAt, rng, instances, effects: [], extra: [], twins: [], reserved: [], taken: false };
    this.agents.push(a);
    return a;
  }

  /** Rate level in [0, 1] of the class's peak at `t`, for this agent: daily rhythm, weekends. */
  level(a: Agent, t: number): number {
    const c = a.cls;
    let l = c.night + (1 - c.night) * officeWeight(t + a.phase);
    if (isWeekend(t)) l *= c.weekend;
    return l;
  }

  instanceAt(a: Agent, t: number): string {
    let name = a.instances[0]![1];
    for (const [from, n] of a.instances) {
      if (from > t) break;
      name = n;
    }
    return name;
  }

  actorOf(a: Agent, t: number): Actor {
    return { identity: a.identity, cls: a.cls.name, instance: this.instanceAt(a, t) };
  }

  emit(ts: number, who: Actor, action: string, resource: string, outcome: Outcome = 'allowed', extra: { chain?: string[]; task?: string } = {}): void {
    const e: AgentEvent = { id: '', ts: Math.floor(ts), identity: who.identity, action, resource };
    if (extra.chain && extra.chain.length > 0) e.chain = extra.chain;
    e.agentClass = who.cls;
    e.instance = who.instance;
    if (extra.task) e.task = extra.task;
    e.tenant = 'acme';
    e.outcome = outcome;
    this.drafts.push(e);
  }

  label(l: Incident): void {
    this.labels.push(l);
  }

  worker(): Actor {
    return { identity: this.identity('ops-worker'), instance: `pod-ops-worker-${++this.workers}`, cls: 'ops-worker' };
  }

  /** One ops-worker spawned by `parent`, doing 3-10 ordinary actions in the next ~2 minutes. */
  spawnWorker(r: Prng, parent: Actor, chain: string[], ts: number, task: string, actions = r.int(3, 10)): { worker: Actor; last: number } {
    const w = this.worker();
    this.emit(ts, parent, 'agent.spawn', `agent:${w.identity}`, 'allowed', { chain, task });
    const wChain = [...chain, parent.identity];
    let last = ts;
    for (let i = 0; i < actions; i++) {
      const p = r.float();
      const [action, resource] =
        p < 0.55 ? ['k8s.read', `k8s:prod/${pod(r)}`] : p < 0.95 ? ['log.read', `logs:${r.pick(['payments', 'checkout', 'search', 'auth'])}`] : ['k8s.restart', `k8s:staging/${pod(r)}`];
      const at = ts + r.int(SEC, 2 * MIN);
      last = Math.max(last, at);
      this.emit(at, w, action, resource, baseOutcome(r), { chain: wChain, task });
    }
    return { worker: w, last };
  }

  /** Poisson traffic minute by minute: streams, rollouts, effects. */
  streams(a: Agent): void {
    const r = a.rng;
    const c = a.cls;
    let actor = this.actorOf(a, a.joinAt);
    let next = 1;
    for (let t = Math.ceil(a.joinAt / MIN) * MIN; t < a.leaveAt; t += MIN) {
      const lvl = this.level(a, t + MIN / 2);
      if (next < a.instances.length && a.instances[next]![0] <= t) {
        actor = this.actorOf(a, t);
        while (next < a.instances.length && a.instances[next]![0] <= t) next++;
      }
      for (const s of c.streams) this.minute(a, r, actor, t, s.action, s.peak * a.scale, lvl, s.resource);
      for (const x of a.extra) if (t >= x.from && t < x.to) this.minute(a, r, actor, t, x.tool.action, x.peak * a.scale, lvl, x.tool.resource);
      for (const w of a.twins) {
        if (t < w.from || t >= w.to) continue;
        const twin = { identity: a.identity, cls: c.name, instance: w.instance };
        for (const s of c.streams) if (!w.actions || w.actions.includes(s.action)) this.minute(a, r, twin, t, s.action, s.peak * a.scale * w.share, lvl, s.resource);
      }
    }
  }

  private minute(a: Agent, r: Prng, actor: Actor, t: number, action: string, peak: number, lvl: number, resource: (r: Prng) => string): void {
    let rate = peak * lvl;
    let outcome = baseOutcome;
    let res: Effect['resource'];
    for (const e of a.effects) {
      if (t < e.from || t >= e.to || (e.actions && !e.actions.includes(action))) continue;
      if (e.rate) rate = e.rate(t, rate, peak);
      if (e.outcome) outcome = e.outcome;
      if (e.resource) res = e.resource;
    }
    const n = r.poisson(rate / 60);
    for (let i = 0; i < n; i++) {
      const ts = t + r.int(0, MIN - 1);
      if (ts >= a.leaveAt) continue;
      this.emit(ts, actor, action, res?.(r, action) ?? resource(r), outcome(r));
    }
  }

  orchestrate(a: Agent): void {
    const r = a.rng;
    const hex = a.identity.slice(-4);
    let batch = 0;
    for (let t = a.joinAt + r.int(0, 10 * MIN); t < a.leaveAt - 3 * MIN; t += r.int(8 * MIN, 16 * MIN)) {
      const task = `task-${hex}-${++batch}`;
      const k = r.int(1, 3);
      for (let i = 0; i < k; i++) {
        const at = t + r.int(0, 20 * SEC);
        const { worker, last } = this.spawnWorker(r, this.actorOf(a, at), [], at, task);
        let end = last;
        // Now and then a worker hands part of its task to a helper: depth 2, as the manifest allows.
        if (r.chance(0.08)) end = Math.max(end, this.spawnWorker(r, worker, [a.identity], last, task).last);
        if (at >= this.start + DAY) {
          this.label({ identity: worker.identity, start: at, end, label: 'ephemeral-normal', kind: 'ephemeral-normal', role: 'confounder', detail: `spawned by ${a.identity} for ${task}` });
        }
      }
    }
  }

  nightlyBatch(a: Agent, stagger: number): void {
    const r = a.rng;
    for (let d = this.start; d < this.end; d += DAY) {
      const t0 = d + 2 * HOUR + stagger + r.int(0, 2 * MIN);
      if (t0 < a.joinAt) continue;
      const actor = this.actorOf(a, t0);
      const date = new Date(d).toISOString().slice(0, 10);
      const reads = Math.round(r.int(400, 600) * a.scale);
      for (let i = 0; i < reads; i++) this.emit(t0 + r.int(0, 10 * MIN - 1), actor, 'db.read', `db:warehouse.${r.pick(WAREHOUSE)}`, baseOutcome(r));
      const writes = r.int(17, 23);
      for (let i = 0; i < writes; i++) this.emit(t0 + r.int(5 * MIN, 10 * MIN), actor, 'report.write', `s3:reports/daily-${date}`);
      if (d >= this.start + DAY) this.label({ identity: a.identity, start: t0, end: t0 + 10 * MIN, label: 'nightly-batch', kind: 'nightly-batch', role: 'confounder' });
    }
  }
}

function resolve(opts: CatalogueOptions): Required<CatalogueOptions> {
  const seed = opts.seed ?? 1;
  const start = opts.start ?? CATALOGUE_START;
  const days = opts.days ?? 3;
  const agents = opts.agents ?? DEFAULT_CATALOGUE_AGENTS;
  if (!Number.isSafeInteger(seed)) throw invalid(`seed must be an integer, got ${seed}`);
  if (!Number.isSafeInteger(start) || start % DAY !== 0) throw invalid(`start must be a whole UTC day in ms, got ${start}`);
  if (!Number.isInteger(days) || days < 2 || days > 14) throw invalid(`days must be an integer from 2 to 14 (day 1 is clean), got ${days}`);
  if (!Number.isInteger(agents) || agents < 40 || agents > 1000) throw invalid(`agents must be an integer from 40 to 1000, got ${agents}`);
  return { seed, start, days, agents };
}

const MIN_COUNT: Record<string, number> = { 'ops-orchestrator': 5, 'analytics-agent': 4, 'monitor-agent': 4, 'batch-reporter': 1 };

/** A labelled fleet: every incident kind at three intensities on days 2 and later, benign confounders, the first day clean. */
export function simulateCatalogue(opts: CatalogueOptions = {}): CatalogueResult {
  const o = resolve(opts);
  const end = o.start + o.days * DAY;
  const f = new Fleet(o.seed, o.start, end);
  const byClass = new Map<string, Agent[]>();
  for (const c of CLASSES) {
    const n = c.count === 0 ? 0 : Math.max(MIN_COUNT[c.name] ?? 3, Math.round((c.count * o.agents) / DEFAULT_CATALOGUE_AGENTS));
    byClass.set(c.name, Array.from({ length: n }, () => f.agent(c, o.start)));
  }
  const longLived = f.agents.length;
  const r = new Prng(deriveSeed(o.seed, 'catalogue/plan'));
  confounders(f, r, byClass, o.days);
  placeIncidents(f, r, byClass, o.days);
  // Look-alikes added later draw from their own stream, so earlier placements stay put for a seed.
  lookAlikes(f, new Prng(deriveSeed(o.seed, 'catalogue/plan-2')), byClass, o.days);

  for (const a of [...f.agents]) {
    if (a.cls.rhythm === 'batch') f.nightlyBatch(a, (byClass.get(a.cls.name)?.indexOf(a) ?? 0) * 4 * MIN);
    else f.streams(a);
    if (a.cls.name === 'ops-orchestrator') f.orchestrate(a);
  }

  const events = f.drafts.sort((x, y) => x.ts - y.ts);
  const seen = new Set<string>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    e.id = `evt-${String(i + 1).padStart(8, '0')}`;
    seen.add(e.identity);
  }
  const labels = f.labels.sort((x, y) => x.start - y.start || (x.identity < y.identity ? -1 : x.identity > y.identity ? 1 : 0));
  return { events, labels, identities: seen.size, longLived, start: o.start, end };
}

/** A random ts in [lo, hi). */
const between = (r: Prng, lo: number, hi: number): number => lo + Math.floor(r.float() * (hi - lo));

function confounders(f: Fleet, r: Prng, byClass: Map<string, Agent[]>, days: number): void {
  const dayStart = (d: number): number => f.start + d * DAY;
  const laterDay = (): number => r.int(1, days - 1);
  const weekday = (): number => {
    const ds = Array.from({ length: days - 1 }, (_, i) => i + 1).filter((d) => !isWeekend(dayStart(d)));
    return ds.length > 0 ? r.pick(ds) : laterDay();
  };
  const of = (name: string): Agent[] => byClass.get(name) ?? [];
  const reserve = (a: Agent, from: number, to: number): void => void a.reserved.push([from - 2 * HOUR, to + 2 * HOUR]);

  for (let d = 1; d < days; d++) {
    if (!isWeekend(dayStart(d))) continue;
    for (const c of CLASSES) {
      if (c.rhythm !== 'office') continue;
      for (const a of of(c.name)) f.label({ identity: a.identity, start: dayStart(d), end: dayStart(d) + DAY - 1, label: 'weekend', kind: 'weekend', role: 'confounder', detail: `${c.name} at ${c.weekend}x on weekends` });
    }
  }

  const [surgeClass, rolloutClass] = r.chance(0.5) ? ['support-bot', 'coding-assistant'] : ['coding-assistant', 'support-bot'];
  {
    const t0 = dayStart(weekday()) + between(r, 10 * HOUR, 14 * HOUR);
    const t1 = t0 + 75 * MIN;
    const members = r.shuffle(of(surgeClass!)).slice(0, Math.ceil(of(surgeClass!).length * 0.8));
    for (const a of members) {
      a.effects.push({ from: t0, to: t1, rate: (_t, base) => base * 3 });
      reserve(a, t0, t1);
      f.label({ identity: a.identity, start: t0, end: t1, label: `class-surge/${surgeClass}`, kind: 'class-surge', role: 'confounder', detail: `${members.length} of ${of(surgeClass!).length} ${surgeClass} identities at 3x together for 75 min` });
    }
  }
  {
    const cls = classSpec(rolloutClass!);
    const tool = cls.rollout!;
    const t0 = dayStart(weekday()) + between(r, 9 * HOUR + 30 * MIN, 11 * HOUR);
    for (const a of of(rolloutClass!)) {
      const at = t0 + between(r, 0, 30 * MIN);
      a.extra.push({ from: at, to: f.end, tool, peak: cls.streams[0]!.peak * 0.15 });
      reserve(a, at, at + HOUR);
      f.label({ identity: a.identity, start: at, end: at + 2 * HOUR, label: `class-rollout/${rolloutClass}`, kind: 'class-rollout', role: 'confounder', detail: `every ${rolloutClass} starts using the declared ${tool.action} within 30 min` });
    }
  }
  {
    const cls = r.pick(['analytics-agent', 'monitor-agent']);
    const group = r.shuffle(of(cls)).slice(0, 3);
    const t0 = dayStart(laterDay()) + between(r, 0, DAY - HOUR);
    const t1 = t0 + 3 * MIN;
    const primary = classSpec(cls).streams[0]!;
    const target = primary.resource(r);
    for (const a of group) {
      a.effects.push({
        from: t0, to: t1, actions: [primary.action],
        rate: (_t, base, peak) => Math.max(base, peak * 0.5) * 6,
        outcome: (x) => (x.chance(0.85) ? 'error' : 'allowed'),
        resource: () => target,
      });
      reserve(a, t0, t1);
      f.label({ identity: a.identity, start: t0, end: t1, label: `retry-storm/${cls}`, kind: 'retry-storm', role: 'confounder', detail: `${group.length} ${cls} identities retry ${primary.action} ${target} at 6x, mostly errors, for 3 min` });
    }
  }
  {
    const cls = r.pick(['support-bot', 'monitor-agent']);
    const t0 = dayStart(laterDay()) + between(r, 0, DAY - HOUR);
    for (const a of of(cls)) {
      const at = t0 + between(r, 0, 40 * MIN);
      // The old instance drains for a few minutes after the new one starts: a brief overlap of two.
      a.twins.push({ from: at, to: at + 5 * MIN, instance: f.instanceAt(a, at), share: 0.5 });
      a.instances.push([at, `${cls}-${a.identity.slice(-4)}-deploy-${r.int(0x1000, 0xffff).toString(16)}`]);
      a.instances.sort((x, y) => x[0] - y[0]);
      f.label({ identity: a.identity, start: at - 10 * MIN, end: at + 30 * MIN, label: `rolling-deploy/${cls}`, kind: 'rolling-deploy', role: 'confounder', detail: `${cls} moves to new instances over 40 min, the old one draining for 5 min` });
    }
  }
  {
    const t0 = dayStart(weekday()) + between(r, 9 * HOUR, 15 * HOUR);
    const fresh = (x: Prng): number => CUSTOMER_POOL + x.int(1, 3000);
    for (const a of of('support-bot')) {
      a.effects.push({
        from: t0, to: f.end, actions: ['crm.read', 'email.send'],
        resource: (x, action) => (x.chance(0.4) ? (action === 'crm.read' ? `crm:customers/${fresh(x)}` : `email:customer/${fresh(x)}`) : undefined),
      });
      f.label({ identity: a.identity, start: t0, end: t0 + 2 * HOUR, label: 'new-customer-ids', kind: 'new-customer-ids', role: 'confounder', detail: 'a new batch of customers: 40% of CRM reads and emails go to ids never seen before' });
    }
  }
  for (const name of ['support-bot', 'coding-assistant', 'analytics-agent']) {
    const at = dayStart(weekday()) + between(r, 8 * HOUR, 12 * HOUR);
    const a = f.agent(classSpec(name), at);
    a.taken = true;
    f.label({ identity: a.identity, start: at, end: at + 4 * HOUR, label: `late-joiner/${name}`, kind: 'late-joiner', role: 'confounder', detail: `a new ${name} that behaves like its class` });
  }
}

/** Benign repetition: what a runaway loop must not be confused with. */
function lookAlikes(f: Fleet, r: Prng, byClass: Map<string, Agent[]>, days: number): void {
  const dayStart = (d: number): number => f.start + d * DAY;
  const weekdays = Array.from({ length: days - 1 }, (_, i) => i + 1).filter((d) => !isWeekend(dayStart(d)));
  const day = (): number => dayStart(weekdays.length > 0 ? r.pick(weekdays) : r.int(1, days - 1));
  const polls: [string, number, number, (a: Agent) => [string, string], string | undefined][] = [
    // An assistant re-reading the file it is editing, every other minute within one task.
    ['coding-assistant', 20, 2, (a) => ['repo.read', `git:acme/payments-api/src/${a.identity.slice(-4)}.ts`], 'edit'],
    // A monitor watching one service's health once a minute while it deploys.
    ['monitor-agent', 20, 1, () => ['http.get', 'url:https://checkout.acme.example/health'], undefined],
  ];
  for (const [cls, minutes, every, call, task] of polls) {
    for (const a of r.shuffle([...(byClass.get(cls) ?? [])]).slice(0, 2)) {
      // Away from the identity's incidents, so what is flagged there is the look-alike's.
      let t0 = 0;
      for (let i = 0; i < 50 && t0 === 0; i++) {
        const t = day() + Math.floor(between(r, 10 * HOUR, 16 * HOUR) / MIN) * MIN;
        if (!a.reserved.some(([s, e]) => t < e && t + minutes * MIN > s)) t0 = t;
      }
      if (t0 === 0) continue;
      const who = f.actorOf(a, t0);
      const extra = task ? { task: `task-${a.identity.slice(-4)}-${task}` } : {};
      for (let m = 0; m < minutes; m += every) {
        const [action, resource] = call(a);
        f.emit(t0 + m * MIN + r.int(0, MIN - 1), who, action, resource, 'allowed', extra);
      }
      f.label({ identity: a.identity, start: t0, end: t0 + minutes * MIN, label: `polling/${cls}`, kind: 'polling', role: 'confounder', detail: `the same call every ${every === 1 ? 'minute' : `${every} min`} for ${minutes} min${task ? ' in one task' : ''}` });
    }
  }
}
