import { WardenError } from '../errors.js';
import type { Outcome } from '../event/types.js';
import { CUSTOMER_POOL, classSpec, pod } from './classes.js';
import type { Actor, Agent, Fleet } from './catalogue.js';
import { INCIDENT_KINDS, INTENSITIES, type IncidentKind, type Intensity } from './labels.js';
import type { Prng } from './prng.js';
import { DAY, HOUR, MIN, SEC, hourOf, officeWeight } from './rhythm.js';

type When = 'any' | 'active' | 'night';
type By<T> = Record<Intensity, T>;

interface KindSpec {
  /** Classes whose existing identities can carry it; empty for kinds that create their identity. */
  classes: string[];
  when: When;
  /** Window length to place, per intensity. */
  duration: By<number>;
  /** Emits the incident for `a` from `t0`; returns [start, end, detail]. */
  run(f: Fleet, r: Prng, a: Agent, t0: number, x: Intensity): [number, number, string];
}

const RATED = ['support-bot', 'coding-assistant', 'analytics-agent', 'monitor-agent'];
const OFFICE = ['support-bot', 'coding-assistant', 'analytics-agent'];

/** Probes inside the declared globs, at resources the class never touches. */
const PROBE: Record<string, (r: Prng) => [string, string]> = {
  'support-bot': (r) => ['crm.read', `crm:customers/internal/staff-${r.int(1, 500)}`],
  'coding-assistant': (r) => ['repo.read', `git:acme/secrets/${r.pick(['prod.env', 'id_rsa', 'kubeconfig', 'tokens.json'])}`],
  'analytics-agent': (r) => ['db.read', `db:prod.${r.pick(['payroll', 'credentials', 'api_keys', 'sessions'])}`],
  'monitor-agent': (r) => ['metrics.read', `metrics:vault/${r.pick(['unseal', 'tokens', 'audit'])}`],
};
const SYSTEMS = (r: Prng): [string, string] =>
  r.pick([
    ['iam.list', `iam:roles/${r.pick(['admin', 'billing', 'deploy', 'root'])}`],
    ['secrets.read', `vault:secret/${r.pick(['payments', 'auth', 'db'])}/${r.int(1, 50)}`],
    ['s3.list', `s3:${r.pick(['backups', 'exports', 'audit-logs'])}`],
  ] as [string, string][]);
/** An undeclared action on a system the class knows. */
const UNDECLARED_ACTION: Record<string, (r: Prng) => [string, string]> = {
  'support-bot': () => ['crm.export', 'crm:customers/all'],
  'coding-assistant': (r) => ['repo.delete', `git:acme/${r.pick(['infra', 'docs', 'payments-api'])}`],
  'analytics-agent': () => ['db.export', 'db:prod.customers'],
  'monitor-agent': (r) => ['k8s.exec', `k8s:prod/${pod(r)}`],
};
/** A declared action on a system outside the manifest. */
const UNDECLARED_SYSTEM: Record<string, (r: Prng) => [string, string]> = {
  'support-bot': (r) => ['email.send', `email:external/${r.int(1, 99)}@mail.example.net`],
  'coding-assistant': (r) => ['repo.write', `git:thirdparty/${r.pick(['left-pad', 'event-stream'])}`],
  'analytics-agent': () => ['db.read', 'db:hr.salaries'],
  'monitor-agent': (r) => ['http.get', `url:https://paste.example.net/${r.int(1000, 9999)}`],
};
const WRITES: Record<string, By<(r: Prng) => [string, string]>> = {
  'analytics-agent': {
    blatant: () => ['db.write', 'db:prod.orders'],
    moderate: () => ['db.update', 'db:prod.customers'],
    subtle: (r) => ['report.write', `s3:reports/adhoc-${r.int(1, 99)}`],
  },
  'monitor-agent': {
    blatant: (r) => ['k8s.restart', `k8s:prod/${pod(r)}`],
    moderate: (r) => ['metrics.delete', `metrics:${pod(r)}`],
    subtle: (r) => ['k8s.restart', `k8s:prod/${pod(r)}`],
  },
};

const outcomeOf = (r: Prng, denied: number, error: number): Outcome => {
  const p = r.float();
  return p < denied ? 'denied' : p < denied + error ? 'error' : 'allowed';
};

/** `n` events spread over `span` from t0, each from `pick`; returns the last ts. */
function spread(f: Fleet, r: Prng, who: Actor, t0: number, span: number, n: number, pick: (r: Prng) => [string, string], outcome: (r: Prng) => Outcome = () => 'allowed', extra?: { chain?: string[]; task?: string }): [number, number] {
  const times = Array.from({ length: n }, (_, i) => (i === 0 ? t0 : t0 + r.int(0, span - 1))).sort((x, y) => x - y);
  for (const ts of times) {
    const [action, resource] = pick(r);
    f.emit(ts, who, action, resource, outcome(r), extra);
  }
  return [times[0]!, times[times.length - 1]!];
}

const primaryPeak = (a: Agent): number => a.cls.streams[0]!.peak * a.scale;
const factor = (name: string, x: Intensity, by: By<number>, what: string): string => `${name}: ${by[x]}x ${what}`;

/** A chain that delegates again and again below `root`, down to `depth`. */
function deepChain(f: Fleet, r: Prng, root: Actor, t0: number, depth: number, task: string): number {
  let parent = root;
  let chain: string[] = [];
  let t = t0;
  let last = t0;
  for (let d = 1; d <= depth; d++) {
    const { worker, last: l } = f.spawnWorker(r, parent, chain, t, task, r.int(2, 4));
    last = Math.max(last, l);
    chain = [...chain, parent.identity];
    parent = worker;
    t += r.int(15 * SEC, 40 * SEC);
  }
  return last;
}

const BURST: By<number> = { blatant: 12, moderate: 6, subtle: 3 };
const SHIFT: By<number> = { blatant: 4, moderate: 3, subtle: 2 };
const RAMP: By<number> = { blatant: 8, moderate: 4, subtle: 2.5 };
const RAMP_MS: By<number> = { blatant: 2 * HOUR, moderate: 3 * HOUR, subtle: 4 * HOUR };
const OFF: By<number> = { blatant: 1, moderate: 0.5, subtle: 0.25 };
const QUIET: By<number> = { blatant: 0, moderate: 0, subtle: 0.2 };
const NEW_ID: By<number> = { blatant: 10, moderate: 5, subtle: 2.5 };
/** Other instances presenting the credential at once, and the share of the identity's traffic each carries. */
const SHARED: By<[number, number]> = { blatant: [3, 1], moderate: [1, 1], subtle: [1, 0.3] };
/** Extra CRM reads, each of a customer never served before, as a share of the normal reads. */
const ENUMERATE: By<number> = { blatant: 0, moderate: 1, subtle: 0.5 };
/** Calls per minute of the loop, the calls in its cycle, and the share that fail. */
const LOOP: By<[number, number, number]> = { blatant: [30, 1, 0.8], moderate: [6, 3, 0.3], subtle: [1, 1, 0.5] };
const LOOPING = ['support-bot', 'coding-assistant', 'analytics-agent'];
/** The action an enumeration repeats, and the n-th resource it reaches that nobody touched before. */
const ENUMERABLE: Record<string, [string, (n: number) => string]> = {
  'support-bot': ['crm.read', (n) => `crm:customers/${n}`],
  'coding-assistant': ['repo.read', (n) => `git:acme/payments-api/src/internal/${n}.ts`],
  'analytics-agent': ['db.read', (n) => `db:prod.customers.r${n}`],
  'monitor-agent': ['k8s.read', (n) => `k8s:prod/kube-system/secret-${n}`],
};

export const KINDS: Record<IncidentKind, KindSpec> = {
  burst: {
    classes: RATED, when: 'active', duration: { blatant: 10 * MIN, moderate: 10 * MIN, subtle: 15 * MIN },
    run(_f, _r, a, t0, x) {
      const d = this.duration[x];
      const action = a.cls.streams[0]!.action;
      a.effects.push({ from: t0, to: t0 + d, actions: [action], rate: (_t, base) => base * BURST[x] });
      return [t0, t0 + d, factor(action, x, BURST, `for ${d / MIN} min`)];
    },
  },
  'sustained-shift': {
    classes: RATED, when: 'active', duration: { blatant: 90 * MIN, moderate: 60 * MIN, subtle: 60 * MIN },
    run(_f, _r, a, t0, x) {
      const d = this.duration[x];
      a.effects.push({ from: t0, to: t0 + d, rate: (_t, base) => base * SHIFT[x] });
      return [t0, t0 + d, factor('every action', x, SHIFT, `held ${d / MIN} min`)];
    },
  },
  ramp: {
    classes: RATED, when: 'active', duration: { blatant: RAMP_MS.blatant + 15 * MIN, moderate: RAMP_MS.moderate + 15 * MIN, subtle: RAMP_MS.subtle + 15 * MIN },
    run(_f, _r, a, t0, x) {
      const d = this.duration[x];
      const span = RAMP_MS[x];
      a.effects.push({ from: t0, to: t0 + d, rate: (t, base) => base * (1 + (RAMP[x] - 1) * Math.min(1, (t - t0) / span)) });
      return [t0, t0 + d, `every action ramps to ${RAMP[x]}x over ${span / HOUR} h, then holds 15 min`];
    },
  },
  'off-hours': {
    classes: OFFICE, when: 'night', duration: { blatant: 60 * MIN, moderate: 45 * MIN, subtle: 30 * MIN },
    run(_f, _r, a, t0, x) {
      const d = this.duration[x];
      a.effects.push({ from: t0, to: t0 + d, rate: (_t, base, peak) => Math.max(base, peak * OFF[x]) });
      return [t0, t0 + d, `active at ${OFF[x]}x its business-hours rate at night for ${d / MIN} min`];
    },
  },
  silence: {
    classes: ['monitor-agent', 'support-bot'], when: 'active', duration: { blatant: 3 * HOUR, moderate: 90 * MIN, subtle: 2 * HOUR },
    run(_f, _r, a, t0, x) {
      const d = this.duration[x];
      a.effects.push({ from: t0, to: t0 + d, rate: (_t, base) => base * QUIET[x] });
      return [t0, t0 + d, QUIET[x] === 0 ? `silent for ${d / MIN} min` : `drops to ${QUIET[x]}x for ${d / MIN} min`];
    },
  },
  'error-probing': {
    classes: RATED, when: 'any', duration: { blatant: 30 * MIN, moderate: 30 * MIN, subtle: 45 * MIN },
    run(f, r, a, t0, x) {
      const d = this.duration[x];
      const per = { blatant: 2, moderate: 1, subtle: 0.5 }[x];
      const probe = PROBE[a.cls.name]!;
      const normal = (q: Prng): [string, string] => {
        const s = q.pick(a.cls.streams);
        return [s.action, s.resource(q)];
      };
      const pick = x === 'blatant' ? (q: Prng) => (q.chance(0.5) ? SYSTEMS(q) : probe(q)) : x === 'moderate' ? probe : normal;
      const [denied, error] = { blatant: [0.7, 0.1], moderate: [0.5, 0.1], subtle: [0.25, 0.1] }[x] as [number, number];
      let first = Infinity;
      let last = t0;
      for (let t = t0; t < t0 + d; t += MIN) {
        const n = r.poisson((primaryPeak(a) * per) / 60);
        if (n === 0) continue;
        const [s, e] = spread(f, r, f.actorOf(a, t), t, MIN, n, pick, (q) => outcomeOf(q, denied, error));
        first = Math.min(first, s);
        last = Math.max(last, e);
      }
      return [Math.min(first, t0), Math.max(last, t0 + 1), `extra ${per}x of its peak rate for ${d / MIN} min, ${denied * 100}% denied, ${error * 100}% error${x === 'subtle' ? '' : ', on resources it never touched'}`];
    },
  },
  'undeclared-first-use': {
    classes: RATED, when: 'any', duration: { blatant: 10 * MIN, moderate: 10 * MIN, subtle: 5 * MIN },
    run(f, r, a, t0, x) {
      const d = this.duration[x];
      const pick = x === 'blatant' ? (q: Prng): [string, string] => ['shell.exec', `host:prod-db-${q.int(1, 4)}`] : x === 'moderate' ? UNDECLARED_ACTION[a.cls.name]! : UNDECLARED_SYSTEM[a.cls.name]!;
      const n = { blatant: 20, moderate: 5, subtle: 2 }[x];
      const [s, e] = spread(f, r, f.actorOf(a, t0), t0, d, n, pick);
      const [action, resource] = pick(r);
      return [s, e + MIN, `${n} x ${action} ${x === 'subtle' ? `on ${resource}, outside the manifest` : 'not in the manifest'}`];
    },
  },
  'declared-first-use': {
    classes: RATED, when: 'any', duration: { blatant: 20 * MIN, moderate: 20 * MIN, subtle: 10 * MIN },
    run(f, r, a, t0, x) {
      const tool = a.cls.dormant!;
      const n = { blatant: 40, moderate: 12, subtle: 3 }[x];
      const [s, e] = spread(f, r, f.actorOf(a, t0), t0, this.duration[x], n, (q) => [tool.action, tool.resource(q)]);
      return [s, e + MIN, `${n} x ${tool.action}: declared, never used by the class before, used by this identity only`];
    },
  },
  'new-identity': {
    classes: [], when: 'any', duration: { blatant: 20 * MIN, moderate: 30 * MIN, subtle: 45 * MIN },
    run(f, r, a, t0, x) {
      const d = this.duration[x];
      a.effects.push({ from: t0, to: t0 + d, rate: (_t, base, peak) => Math.max(base, peak) * NEW_ID[x] });
      if (x === 'blatant') spread(f, r, f.actorOf(a, t0), t0 + 2 * MIN, 10 * MIN, 5, UNDECLARED_ACTION[a.cls.name]!);
      return [t0, t0 + d, `a new ${a.cls.name} at ${NEW_ID[x]}x its class's peak rate from its first minute${x === 'blatant' ? ', with undeclared actions' : ''}`];
    },
  },
  'ephemeral-subagent': {
    classes: [], when: 'any', duration: { blatant: 5 * MIN, moderate: 5 * MIN, subtle: 8 * MIN },
    run() {
      throw new Error('ephemeral-subagent is placed by placeEphemeral');
    },
  },
  'read-only-write': {
    classes: ['analytics-agent', 'monitor-agent'], when: 'any', duration: { blatant: 20 * MIN, moderate: 10 * MIN, subtle: 2 * MIN },
    run(f, r, a, t0, x) {
      const n = { blatant: 30, moderate: 5, subtle: 1 }[x];
      const pick = WRITES[a.cls.name]![x];
      const [s, e] = spread(f, r, f.actorOf(a, t0), t0, this.duration[x], n, pick);
      return [s, e + MIN, `${n} x ${pick(r)[0]} by a read-only class`];
    },
  },
  delegation: {
    classes: ['ops-orchestrator'], when: 'any', duration: { blatant: 20 * MIN, moderate: 65 * MIN, subtle: 5 * MIN },
    run(f, r, a, t0, x) {
      const task = `task-${a.identity.slice(-4)}-runaway`;
      let last = t0;
      const spawns = { blatant: 150, moderate: 70, subtle: 0 }[x];
      const span = x === 'blatant' ? 15 * MIN : 60 * MIN;
      for (let i = 0; i < spawns; i++) {
        const at = t0 + r.int(0, span - 1);
        last = Math.max(last, f.spawnWorker(r, f.actorOf(a, at), [], at, task).last);
      }
      const depth = { blatant: 5, moderate: 3, subtle: 3 }[x];
      last = Math.max(last, deepChain(f, r, f.actorOf(a, t0), t0 + r.int(0, 2 * MIN), depth, task));
      return [t0, last, `${spawns > 0 ? `${spawns} sub-agents in ${span / MIN} min and ` : ''}a chain ${depth} deep`];
    },
  },
  'shared-credential': {
    classes: RATED, when: 'active', duration: { blatant: 60 * MIN, moderate: 60 * MIN, subtle: 45 * MIN },
    run(_f, r, a, t0, x) {
      const d = this.duration[x];
      const [others, share] = SHARED[x];
      const primary = a.cls.streams[0]!.action;
      for (let i = 0; i < others; i++) {
        const instance = `${a.cls.name}-ext-${r.int(0x100000, 0xffffff).toString(16)}`;
        a.twins.push({ from: t0, to: t0 + d, instance, share, ...(x === 'subtle' ? { actions: [primary] } : {}) });
      }
      return [t0, t0 + d, x === 'subtle'
        ? `the credential also used from one new instance for ${d / MIN} min, ${primary} only at ${share}x its rate`
        : `the credential used from ${others + 1} instances at once for ${d / MIN} min, each at its normal rate`];
    },
  },
  enumeration: {
    classes: Object.keys(ENUMERABLE), when: 'active', duration: { blatant: 15 * MIN, moderate: 2 * HOUR, subtle: 2 * HOUR },
    run(f, r, a, t0, x) {
      const d = this.duration[x];
      const [action, fresh] = ENUMERABLE[a.cls.name]!;
      // Ids above anything the class or the new-customer-ids confounder uses: never touched by anyone.
      const first = CUSTOMER_POOL + 10_000 + r.int(0, 99) * 1000;
      let k = 0;
      if (x === 'blatant') {
        const [s, e] = spread(f, r, f.actorOf(a, t0), t0, d, 300, () => [action, fresh(first + k++)]);
        return [s, e + MIN, `a sweep: 300 x ${action} in ${d / MIN} min, each on a resource never touched before`];
      }
      const extra = ENUMERATE[x];
      a.effects.push({
        from: t0, to: t0 + d, actions: [action],
        rate: (_t, base) => base * (1 + extra),
        resource: (q) => (q.chance(extra / (1 + extra)) ? fresh(first + k++) : undefined),
      });
      return [t0, t0 + d, `+${extra * 100}% ${action} for ${d / HOUR} h, each extra one on a resource never touched before`];
    },
  },
  'runaway-loop': {
    classes: LOOPING, when: 'active', duration: { blatant: 15 * MIN, moderate: 30 * MIN, subtle: 60 * MIN },
    run(f, r, a, t0, x) {
      const d = this.duration[x];
      const [perMin, cycle, failing] = LOOP[x];
      const calls = Array.from({ length: cycle }, (_, i) => {
        const s = a.cls.streams[i % a.cls.streams.length]!;
        return [s.action, s.resource(r)] as [string, string];
      });
      const task = `task-${a.identity.slice(-4)}-loop`;
      let i = 0;
      const [s, e] = spread(f, r, f.actorOf(a, t0), t0, d, perMin * (d / MIN), () => calls[i++ % cycle]!, (q) => (q.chance(failing) ? 'error' : 'allowed'), { task });
      return [s, e + MIN, `${cycle === 1 ? `the same ${calls[0]![0]} on ${calls[0]![1]}` : `a cycle of ${cycle} calls`} ${perMin} times a minute for ${d / MIN} min in one task, ${failing * 100}% failing`];
    },
  },
};

function invalid(message: string): WardenError {
  return new WardenError('SIM_OPTIONS_INVALID', `simulateCatalogue: ${message}`);
}

function fits(f: Fleet, a: Agent, t: number, d: number, when: When): boolean {
  if (t < f.start + DAY || t + d >= f.end - 10 * MIN) return false;
  if (a.reserved.some(([s, e]) => t < e && t + d > s)) return false;
  const office = a.cls.rhythm === 'office';
  if (when === 'active' && office) return officeWeight(t + a.phase) >= 0.75 && officeWeight(t + d + a.phase) >= 0.75;
  if (when === 'night') return hourOf(t + a.phase) < 4.5 && hourOf(t + d + a.phase) < 5.5 && hourOf(t + d + a.phase) > hourOf(t + a.phase);
  return true;
}

function timeFor(f: Fleet, r: Prng, a: Agent, d: number, when: When): number | null {
  for (let i = 0; i < 400; i++) {
    // Whole minutes, so rate effects (applied per minute) cover the window exactly.
    const t = Math.floor((f.start + DAY + r.float() * (f.end - f.start - DAY - d)) / MIN) * MIN;
    if (fits(f, a, t, d, when)) return t;
  }
  return null;
}

/** Most constrained first, so small fleets still find a carrier for every kind. */
// Kinds added later go last, so the earlier kinds keep their places for a seed.
const ORDER: IncidentKind[] = ['delegation', 'read-only-write', 'silence', 'off-hours', 'burst', 'sustained-shift', 'ramp', 'error-probing', 'undeclared-first-use', 'declared-first-use', 'new-identity', 'ephemeral-subagent', 'shared-credential', 'enumeration', 'runaway-loop'];

/** Kinds that may share an identity with an earlier incident when no fresh one is left. */
const LATER = new Set<IncidentKind>(['shared-credential', 'enumeration', 'runaway-loop']);

function placeOn(f: Fleet, r: Prng, pool: Agent[], d: number, when: When): [Agent, number] | null {
  for (const a of pool) {
    const t = timeFor(f, r, a, d, when);
    if (t !== null) return [a, t];
  }
  return null;
}

export function placeIncidents(f: Fleet, r: Prng, byClass: Map<string, Agent[]>, _days: number): void {
  if (ORDER.length !== INCIDENT_KINDS.length) throw new Error('incident ORDER is missing a kind');
  for (const kind of ORDER) {
    const spec = KINDS[kind];
    for (const x of INTENSITIES) {
      const d = spec.duration[x];
      let placed: [Agent, number] | null = null;
      if (kind === 'new-identity') {
        const cls = classSpec(r.pick(OFFICE));
        const probe = f.agent(cls, f.start + DAY);
        const t = timeFor(f, r, probe, d, 'any')!;
        probe.joinAt = t;
        probe.leaveAt = t + d;
        probe.instances[0]![0] = t;
        probe.instances.length = 1;
        placed = [probe, t];
      } else if (kind === 'ephemeral-subagent') {
        placeEphemeral(f, r, byClass, x, d);
        continue;
      } else {
        // A declared tool's first use must be one identity's only: one class per intensity.
        const used = kind === 'declared-first-use' ? new Set(f.labels.filter((l) => l.kind === kind).map((l) => f.agents.find((a) => a.identity === l.identity)!.cls.name)) : new Set<string>();
        const carriers = spec.classes.filter((c) => !used.has(c)).flatMap((c) => byClass.get(c) ?? []);
        placed = placeOn(f, r, r.shuffle(carriers.filter((a) => !a.taken)), d, spec.when)
          // A small fleet runs out of fresh carriers: a second incident on an identity, hours away from its first.
          ?? (LATER.has(kind) ? placeOn(f, r, r.shuffle(carriers.filter((a) => a.taken)), d, spec.when) : null);
      }
      if (!placed) throw invalid(`no free ${spec.classes.join('/')} identity and time for ${kind}/${x}; simulate more agents or days`);
      const [a, t0] = placed;
      a.taken = true;
      const [start, end, detail] = spec.run(f, r, a, t0, x);
      a.reserved.push([start - 6 * HOUR, end + 6 * HOUR]);
      f.label({ identity: a.identity, start, end, label: `${kind}/${x}`, kind, intensity: x, role: kind === 'declared-first-use' ? 'low' : 'incident', detail });
    }
  }
}

function placeEphemeral(f: Fleet, r: Prng, byClass: Map<string, Agent[]>, x: Intensity, d: number): void {
  const parents = (byClass.get('ops-orchestrator') ?? []).filter((a) => !a.taken);
  const parentAgent = r.pick(parents.length > 0 ? parents : (byClass.get('ops-orchestrator') ?? []));
  const t0 = timeFor(f, r, parentAgent, d, 'any');
  if (t0 === null) throw invalid(`no time for ephemeral-subagent/${x}`);
  const parent = f.actorOf(parentAgent, t0);
  const task = `task-${parentAgent.identity.slice(-4)}-${x}`;
  const w = f.worker();
  f.emit(t0, parent, 'agent.spawn', `agent:${w.identity}`, 'allowed', { task });
  const chain = [parent.identity];
  const reads = (q: Prng): [string, string] => (q.chance(0.6) ? ['k8s.read', `k8s:prod/${pod(q)}`] : ['log.read', `logs:${q.pick(['payments', 'auth'])}`]);
  const at = t0 + 2 * SEC;
  let last: number;
  let detail: string;
  if (x === 'blatant') {
    last = spread(f, r, w, at, d, 30, (q) => ['k8s.delete', `k8s:prod/${pod(q)}`], undefined, { chain, task })[1];
    last = Math.max(last, spread(f, r, w, at, d, 10, reads, undefined, { chain, task })[1]);
    detail = 'a sub-agent that deletes 30 production workloads within 5 min of being spawned';
  } else if (x === 'moderate') {
    last = spread(f, r, w, at, d, 8, (q) => ['k8s.restart', `k8s:prod/${pod(q)}`], undefined, { chain, task })[1];
    last = Math.max(last, spread(f, r, w, at, d, 30, reads, undefined, { chain, task })[1]);
    detail = 'a sub-agent that restarts 8 production workloads (its manifest allows staging only)';
  } else {
    last = spread(f, r, w, at, d, 60, (q) => ['k8s.read', `k8s:prod/kube-system/secret-${q.int(1, 40)}`], undefined, { chain, task })[1];
    detail = 'a sub-agent that reads 60 cluster secrets in 8 min (a normal worker does 3-10 reads)';
  }
  f.label({ identity: w.identity, start: t0, end: last, label: `ephemeral-subagent/${x}`, kind: 'ephemeral-subagent', intensity: x, role: 'incident', detail: `${detail}; spawned by ${parent.identity}` });
}
