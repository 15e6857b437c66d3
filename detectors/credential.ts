import { defineDetector, type DetectorCommon, type DetectorContext, type Finding } from '../src/detector.js';
import type { AgentEvent } from '../src/event/types.js';
import { detectorSchema } from '../src/config/detector-schema.js';
import { boolean, duration, integer, number, object } from '../src/config/schema.js';
import { slidingCount, type DistinctView, type IdentityView, type Track } from '../src/state/types.js';
import { formatDuration, hash32, NO_FINDINGS, NO_TRACKS, round } from './format.js';

export interface CredentialConfig extends DetectorCommon {
  instances: {
    /** Instances seen in one bucket are concurrent. */
    bucketMs: number;
    /** Mean concurrent instances over this window: held concurrency, not a deploy's brief overlap. */
    windowMs: number;
    /** Buckets with activity the window needs before it speaks. */
    minBuckets: number;
    /** The norm: mean distinct instances per active hour over the previous period of this length. */
    normWindowMs: number;
    minNormHours: number;
    /** A fixed limit for every identity (overrides narrow it per class or identity); null: learned. A manifest's maxInstances wins. */
    maxInstances: number | null;
    /** A learned norm is never below this. */
    floor: number;
    /** Held concurrency fires above max(limit + margin, ratio x learned norm). */
    margin: number;
    ratio: number;
    /** Instances a rolling deploy may add at once on top of that. */
    overlap: number;
    /** Instances counted per bucket. */
    maxTracked: number;
  };
  newInstance: { enabled: boolean; learningPeriodMs: number; maxSeen: number };
  tasks: { enabled: boolean; windowMs: number; maxTasks: number };
}

const RULES = ['instances', 'new-instance', 'task-moved'] as const;
const HOUR = 3_600_000;

const schema = detectorSchema(RULES, {
  instances: object({
    bucketMs: duration({ min: 1000 }).from('bucket'),
    windowMs: duration({ min: 1000 }).from('window'),
    minBuckets: integer({ min: 1 }),
    normWindowMs: duration({ min: HOUR }).from('normWindow'),
    minNormHours: integer({ min: 1 }),
    maxInstances: integer({ min: 1 }).nullable(),
    floor: number({ min: 1 }),
    margin: number({ min: 0 }),
    ratio: number({ min: 1 }),
    overlap: integer({ min: 0 }),
    maxTracked: integer({ min: 2, max: 1024 }),
  }).check((i, report) => {
    if (i.windowMs <= i.bucketMs || i.windowMs % i.bucketMs !== 0) report(['window'], 'must be a multiple of bucket, longer than it');
    else if (i.windowMs / i.bucketMs > 64) report(['window'], 'must be at most 64 buckets');
    if (i.normWindowMs % HOUR !== 0 || i.normWindowMs > 24 * HOUR) report(['normWindow'], 'must be whole hours, at most 24h');
  }),
  newInstance: object({ enabled: boolean(), learningPeriodMs: duration().from('learningPeriod'), maxSeen: integer({ min: 1 }) }),
  tasks: object({ enabled: boolean(), windowMs: duration({ min: 1000 }).from('window'), maxTasks: integer({ min: 1 }) }),
});

const defaults = {
  // Five distinct sets and a seen set per identity cost Redis memory and time on every event with an instance; a shared credential is what Warden is for.
  enabled: true,
  // A rolling deploy or a move looks like a shared credential for a while: alert until an operator says otherwise.
  mode: 'alert',
  severity: 'high',
  scope: 'identity',
  rules: {},
  instances: {
    bucket: '5m', window: '30m', minBuckets: 3, normWindow: '6h', minNormHours: 3,
    floor: 1, margin: 0.5, ratio: 1.5, overlap: 1, maxTracked: 64,
  },
  newInstance: { enabled: true, learningPeriod: '24h', maxSeen: 256 },
  tasks: { enabled: true, window: '1h', maxTasks: 256 },
};

const NOW = 'credential:i';
const PAIRS = 'credential:ib';
const BUCKETS = 'credential:b';
const NORM_PAIRS = 'credential:ih';
const NORM_HOURS = 'credential:h';
const SEEN = 'credential:seen';
const TASKS = 'credential:t';
const TASK_AT = 'credential:ti';

/**
 * A short stable tag of a name (FNV-1a 32-bit, in decimal): members stay a few
 * bytes in the store whatever the name (a hostile 2 KB instance or resource
 * costs 10), and a set of integers is an intset in Redis, a few bytes a member
 * instead of a hash table entry; a collision (odds about 3 in 10^5 among 500
 * members) only merges two.
 */
export function tag(s: string): string {
  return String(hash32(s));
}

/** Two tags in one integer member (below 2^53): the first's low 21 bits and the second's 32. */
const pair = (a: number, b: number): string => String((a % 2_097_152) * 4_294_967_296 + b);

/**
 * Concurrency from distinct tracks only: instances per bucket (now), (instance,
 * bucket) pairs and active buckets per window (their ratio is the mean
 * concurrency, which a deploy's minute of overlap barely moves), and the same
 * per hour over the norm window (the identity's own norm, from the previous
 * complete period so an incident under way is not its own norm).
 */
function track(event: AgentEvent, ctx: DetectorContext): Track[] {
  const inst = event.instance;
  if (inst === undefined || inst === '') return NO_TRACKS;
  const cfg = ctx.config.credential;
  const i = cfg.instances;
  const th = hash32(inst);
  const t = String(th);
  const b = Math.floor(event.ts / i.bucketMs);
  const h = Math.floor(event.ts / HOUR);
  const perWindow = i.windowMs / i.bucketMs;
  const perNorm = i.normWindowMs / HOUR;
  const tracks: Track[] = [
    { kind: 'distinct', key: NOW, windowMs: i.bucketMs, member: t, cap: i.maxTracked },
    { kind: 'distinct', key: PAIRS, windowMs: i.windowMs, member: String(th * 64 + (b % 64)), cap: i.maxTracked * perWindow },
    { kind: 'distinct', key: BUCKETS, windowMs: i.windowMs, member: `${b}`, cap: perWindow },
    { kind: 'distinct', key: NORM_PAIRS, windowMs: i.normWindowMs, member: String(th * 32 + (h % 32)), cap: i.maxTracked * perNorm },
    { kind: 'distinct', key: NORM_HOURS, windowMs: i.normWindowMs, member: `${h}`, cap: perNorm },
  ];
  if (cfg.newInstance.enabled) tracks.push({ kind: 'seen', key: SEEN, member: t, cap: cfg.newInstance.maxSeen });
  const task = event.task;
  if (cfg.tasks.enabled && task !== undefined && task !== '') {
    const k = hash32(task);
    tracks.push({ kind: 'distinct', key: TASKS, windowMs: cfg.tasks.windowMs, member: String(k), cap: cfg.tasks.maxTasks });
    tracks.push({ kind: 'distinct', key: TASK_AT, windowMs: cfg.tasks.windowMs, member: pair(th, k), cap: 2 * cfg.tasks.maxTasks });
  }
  return tracks;
}

interface Limit {
  limit: number;
  /** Held concurrency above this fires. */
  held: number;
  from: 'manifest' | 'config' | 'norm' | 'floor';
  norm?: number;
}

function limitOf(view: IdentityView, ctx: DetectorContext): Limit | undefined {
  const i = ctx.config.credential.instances;
  const m = ctx.manifest?.maxInstances;
  if (m !== undefined) return { limit: m, held: m + i.margin, from: 'manifest' };
  if (i.maxInstances !== null) return { limit: i.maxInstances, held: i.maxInstances + i.margin, from: 'config' };
  const pairs = view.distinct[NORM_PAIRS];
  const hours = view.distinct[NORM_HOURS];
  if (!pairs || !hours || hours.prev < i.minNormHours) return undefined;
  const norm = pairs.prev / hours.prev;
  const limit = Math.max(i.floor, norm);
  return { limit, held: Math.max(limit + i.margin, i.ratio * limit), from: 'norm', norm: round(norm, 2) };
}

function detect(event: AgentEvent, view: IdentityView, ctx: DetectorContext): Finding[] {
  const now = view.distinct[NOW];
  if (!now) return NO_FINDINGS;
  const cfg = ctx.config.credential;
  const inst = event.instance!;
  let out: Finding[] | undefined;
  const lim = limitOf(view, ctx);
  const burst = (lim?.held ?? Math.max(cfg.instances.floor + cfg.instances.margin, cfg.instances.ratio * cfg.instances.floor)) + cfg.instances.overlap;
  // The crossing only: once per bucket.
  const jumped = now.added && now.count > burst && now.count - 1 <= burst;

  const seen = cfg.newInstance.enabled ? view.seen[SEEN] : undefined;
  const learned = event.ts - view.firstSeen >= cfg.newInstance.learningPeriodMs;
  // Alone, a new instance is a restart or a move; alongside others within the norm and a deploy's overlap, a deploy.
  const fresh = seen !== undefined && seen.added && seen.size > 1 && learned && now.count > burst;
  if (fresh) {
    (out ??= []).push({
      rule: 'new-instance',
      severity: cfg.severity,
      scope: cfg.scope,
      reason: `a never-seen instance ${inst} appeared alongside ${now.count - 1} other instance(s) in ${formatDuration(now.windowMs)}, over the ${round(burst, 2)} a norm of ${round(lim?.limit ?? cfg.instances.floor, 2)} and a deploy's overlap allow`,
      evidence: { observed: now.count, limit: round(burst, 2), instance: inst, known: seen.size - 1, windowMs: now.windowMs, key: 'new-instance' },
    });
  } else if (jumped && lim) {
    (out ??= []).push(instances(event, now.count, burst, lim, now.windowMs, 'at once', cfg));
  }

  if (lim && !fresh && !jumped) {
    const pairs = view.distinct[PAIRS];
    const buckets = view.distinct[BUCKETS];
    // At the first event of a bucket, judge the buckets before it (the one just begun holds only this event).
    if (pairs && buckets && buckets.added && pairs.added) {
      const n = slidingCount(buckets, event.ts) - 1;
      const mean = n > 0 ? (slidingCount(pairs, event.ts) - 1) / n : 0;
      if (n >= cfg.instances.minBuckets && mean > lim.held) (out ??= []).push(instances(event, round(mean, 2), lim.held, lim, pairs.windowMs, 'on average', cfg));
    }
  }

  const moved = taskMoved(view, cfg);
  if (moved) {
    (out ??= []).push({
      rule: 'task-moved',
      severity: cfg.severity,
      scope: cfg.scope,
      reason: `task ${event.task} changed instance mid-way: now on ${inst}, seen on another instance within ${formatDuration(moved.windowMs)}`,
      evidence: { observed: inst, task: event.task, instance: inst, windowMs: moved.windowMs, key: `task-moved:${event.task}` },
    });
  }
  return out ?? NO_FINDINGS;
}

function instances(event: AgentEvent, observed: number, limit: number, lim: Limit, windowMs: number, how: string, cfg: CredentialConfig): Finding {
  const norm = lim.from === 'norm' ? `its norm of ${lim.norm}` : lim.from === 'manifest' ? `the manifest's maxInstances of ${lim.limit}` : `maxInstances ${lim.limit}`;
  return {
    rule: 'instances',
    severity: cfg.severity,
    scope: cfg.scope,
    reason: `one credential used from ${observed} instances ${how} in ${formatDuration(windowMs)}, over ${norm} (threshold ${round(limit, 2)})`,
    evidence: {
      observed, limit: round(limit, 2), limitFrom: lim.from, ...(lim.norm !== undefined ? { norm: lim.norm } : {}),
      instance: event.instance, windowMs, key: 'instances',
    },
  };
}

/** The task is already known in this window, but not on this instance. A full set says nothing. */
function taskMoved(view: IdentityView, cfg: CredentialConfig): DistinctView | undefined {
  const tasks = view.distinct[TASKS];
  const at = view.distinct[TASK_AT];
  if (!tasks || !at || !at.added || tasks.added || tasks.count >= cfg.tasks.maxTasks) return undefined;
  return at;
}

export const credential = defineDetector({ name: 'credential', rules: RULES, schema, defaults, track, detect });
