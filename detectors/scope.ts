import { defineDetector, type DetectorCommon, type DetectorContext, type MergedIssue, type Finding } from '../src/detector.js';
import type { DeepPartial, Glob } from '../src/config/types.js';
import { detectorSchema } from '../src/config/detector-schema.js';
import { array, boolean, duration, glob, integer, number, object, oneOf } from '../src/config/schema.js';
import type { AgentEvent } from '../src/event/types.js';
import type { IdentityView, Track } from '../src/state/types.js';
import { atLeast, NO_FINDINGS, NO_TRACKS } from './format.js';
import { allowed, declared, matchesAction } from './match.js';
import { learnedLevels, resourcePrefixes } from './resource.js';

export interface ScopeConfig extends DetectorCommon {
  /** Flag actions/resources outside the agent's manifest. */
  manifest: boolean;
  /** Events of no known class (no manifest binds the identity, none has its agentClass): alert, or ignore (silently). */
  unknownClass: 'ignore' | 'alert';
  /** Actions that count as writes for read-only agents. */
  writeActions: Glob[];
  learned: {
    enabled: boolean;
    learningPeriodMs: number;
    /** Resources are learned down to this many levels of their shape (a manifest's `resources` may lower it). */
    prefixDepth: number;
    /** Score of a first-seen action. */
    actionScore: number;
    /** Score of a first-seen level 1, 2, ... (same length as prefixDepth). */
    prefixScores: number[];
    /** Multiplies the score of a first-seen action or level that the manifest names (declared use). */
    declaredWeight: number;
    /** Fire when the score reaches this. */
    threshold: number;
    /** Members kept per learned set. */
    maxSeen: number;
  };
}

const RULES = ['outside-manifest', 'read-only-write', 'class-mismatch', 'unknown-class', 'first-seen'] as const;

function prefixScoresMismatch(l: Partial<ScopeConfig['learned']>): string | undefined {
  if (l.prefixScores === undefined || l.prefixDepth === undefined || l.prefixScores.length === l.prefixDepth) return undefined;
  return `has ${l.prefixScores.length} entries but prefixDepth is ${l.prefixDepth}; give one score per depth`;
}

const schema = detectorSchema(RULES, {
  manifest: boolean(),
  unknownClass: oneOf(['ignore', 'alert']),
  writeActions: array(glob()),
  learned: object({
    enabled: boolean(),
    learningPeriodMs: duration().from('learningPeriod'),
    prefixDepth: integer({ min: 1, max: 16 }),
    actionScore: number({ min: 0 }),
    prefixScores: array(number({ min: 0 })),
    declaredWeight: number({ min: 0, max: 1 }),
    threshold: number({ gt: 0 }),
    maxSeen: integer({ min: 1 }),
  }).check((l, report) => {
    const m = prefixScoresMismatch(l);
    if (m !== undefined) report(['prefixScores'], m);
  }),
});

/** An override may change only one of prefixDepth/prefixScores: check the merged result. */
function checkMerged(merged: ScopeConfig, patch: DeepPartial<ScopeConfig>): MergedIssue[] {
  const l = patch.learned;
  if (l === undefined || (l.prefixDepth === undefined) === (l.prefixScores === undefined)) return [];
  const m = prefixScoresMismatch(merged.learned);
  if (m === undefined) return [];
  return [[['learned', l.prefixDepth === undefined ? 'prefixScores' : 'prefixDepth'], `after this override, prefixScores ${m}`]];
}

const defaults = {
  enabled: true,
  mode: 'enforce',
  severity: 'high',
  scope: 'identity',
  // Learned scope is a guess about normal; the manifest is a declaration: only the latter suspends by default.
  // A mismatch changes nothing about how the event is judged (it is judged as the bound class), and is far more often
  // a stale or renamed class in a gateway's config than an attack: it alerts, so a typo cannot suspend a whole class.
  rules: { 'first-seen': { mode: 'alert' }, 'class-mismatch': { mode: 'alert' } },
  manifest: true,
  // An identity Warden cannot classify is checked against no manifest: say so rather than let its traffic pass unjudged.
  unknownClass: 'alert',
  writeActions: ['*.write', '*.delete', '*.update', '*.create', '*.send', '*.exec', '*.deploy', '*.restart'],
  learned: {
    enabled: true,
    learningPeriod: '24h',
    prefixDepth: 2,
    actionScore: 1,
    prefixScores: [1, 0.6],
    // Declared first use (1 x 0.25) stays below the threshold: a rollout of a tool the manifest names is quiet.
    declaredWeight: 0.25,
    threshold: 0.5,
    maxSeen: 256,
  },
};

const ACT = 'scope:act';
const prefixKeys: string[] = [];

/** `scope:p<depth>`, built once per depth. */
function prefixKey(depth: number): string {
  return (prefixKeys[depth] ??= `scope:p${depth}`);
}

/** Scratch for the learned levels of the event being processed: the hot path allocates no array. */
const levels: string[] = [];

function track(event: AgentEvent, ctx: DetectorContext): Track[] {
  const cfg = ctx.config.scope;
  if (!cfg.learned.enabled) return NO_TRACKS;
  const cap = cfg.learned.maxSeen;
  const tracks: Track[] = [{ kind: 'seen', key: ACT, member: event.action, cap }];
  // Only the resource's learned levels, never its leaf: a new customer id, object key or spawned child is normal.
  const n = learnedLevels(event.resource, ctx.manifest, cfg.learned.prefixDepth, levels);
  for (let d = 0; d < n; d++) tracks.push({ kind: 'seen', key: prefixKey(d + 1), member: levels[d]!, cap });
  return tracks;
}

/** `action|deepest learned level`: what an engine-level suppressor groups one detector's findings on. */
function keyOf(event: AgentEvent, ctx: DetectorContext): string {
  const n = learnedLevels(event.resource, ctx.manifest, ctx.config.scope.learned.prefixDepth, levels);
  return n === 0 ? `${event.action}|` : `${event.action}|${levels[n - 1]!}`;
}

function detect(event: AgentEvent, view: IdentityView, ctx: DetectorContext): Finding[] {
  const cfg = ctx.config.scope;
  let out: Finding[] | undefined;
  const m = ctx.manifest;
  if (m) {
    const claimed = event.agentClass;
    if (ctx.binding !== undefined && claimed !== undefined && claimed !== m.agentClass) {
      (out ??= []).push({
        rule: 'class-mismatch',
        severity: 'high',
        scope: 'identity',
        reason: `the event says agent class ${claimed}, but the ${m.agentClass} manifest binds this identity (${ctx.binding}); judged as ${m.agentClass}`,
        evidence: { observed: claimed, limit: m.agentClass, claimed, bound: m.agentClass, binding: ctx.binding, manifest: m.file, key: claimed },
      });
    } else if (ctx.binding === undefined && m.identities.length > 0) {
      // Found by its claim alone, in a class that says who its identities are: an outsider claiming the class.
      (out ??= []).push({
        rule: 'class-mismatch',
        severity: 'high',
        scope: 'identity',
        reason: `the event says agent class ${m.agentClass}, whose manifest binds other identities (${m.identities.map((g) => g.source).join(', ')}); judged as ${m.agentClass}`,
        evidence: { observed: m.agentClass, limit: m.identities.map((g) => g.source).join(', '), claimed: m.agentClass, bound: null, manifest: m.file, key: m.agentClass },
      });
    }
    if (cfg.manifest && !allowed(m, event.action, event.resource)) {
      (out ??= []).push({
        rule: 'outside-manifest',
        severity: cfg.severity,
        scope: cfg.scope,
        reason: `${event.action} on ${event.resource} is not allowed by the ${m.agentClass} manifest`,
        evidence: { observed: `${event.action} on ${event.resource}`, limit: m.agentClass, manifest: m.file, key: keyOf(event, ctx) },
      });
    }
    if (m.readOnly && matchesAction(cfg.writeActions, event.action)) {
      (out ??= []).push({
        rule: 'read-only-write',
        severity: atLeast(cfg.severity, 'high'),
        scope: 'identity',
        reason: `${event.action} on ${event.resource} is a write, and the ${m.agentClass} manifest is read-only`,
        evidence: { observed: event.action, limit: `${m.agentClass} (read-only)`, resource: event.resource, manifest: m.file, key: keyOf(event, ctx) },
      });
    }
  } else if (cfg.unknownClass === 'alert') {
    const claimed = event.agentClass;
    (out ??= []).push({
      rule: 'unknown-class',
      severity: 'low',
      scope: 'identity',
      alertOnly: true,
      reason: claimed === undefined
        ? 'no manifest binds this identity and the event names no agentClass: it is checked against no manifest'
        : `agent class ${claimed} has no manifest and none binds this identity: it is checked against no manifest`,
      // One group per identity and claimed class: suppression reports it once per window.
      evidence: { observed: claimed ?? '(none)', key: claimed ?? '' },
    });
  }
  const l = cfg.learned;
  if (l.enabled && event.ts - view.firstSeen >= l.learningPeriodMs) {
    const f = firstSeen(event, view, ctx);
    if (f) (out ??= []).push(f);
  }
  return out ?? NO_FINDINGS;
}

function firstSeen(event: AgentEvent, view: IdentityView, ctx: DetectorContext): Finding | undefined {
  const cfg = ctx.config.scope;
  const l = cfg.learned;
  const act = view.seen[ACT];
  let fresh = act?.added === true;
  let overflow = act?.full === true;
  let depth = 1;
  for (; depth <= l.prefixDepth; depth++) {
    const s = view.seen[prefixKey(depth)];
    if (!s) break;
    if (s.full) overflow = true;
    if (s.added) fresh = true;
  }
  // Steady state: nothing new, nothing spilled over. Everything below runs only when something is new.
  if (!fresh && !overflow) return undefined;

  const prefixes = resourcePrefixes(event.resource, depth - 1, ctx.manifest);
  const decl = ctx.manifest ? declared(ctx.manifest, event.action, event.resource) : undefined;
  const w = l.declaredWeight;
  let score = 0;
  const news: string[] = [];
  const named: string[] = [];
  const over: string[] = [];
  const learned: Record<string, number> = {};
  if (act) {
    learned.actions = act.size;
    if (act.added) {
      const isDeclared = decl?.action === true;
      score = Math.max(score, l.actionScore * (isDeclared ? w : 1));
      news.push(`action ${event.action}`);
      if (isDeclared) named.push(`action ${event.action}`);
    }
    if (act.full) over.push(`action ${event.action}`);
  }
  for (let d = 1; d < depth; d++) {
    const s = view.seen[prefixKey(d)]!;
    const p = prefixes[d - 1]!;
    learned[`p${d}`] = s.size;
    if (s.added) {
      const isDeclared = decl?.level(p) === true;
      score = Math.max(score, (l.prefixScores[d - 1] ?? 0) * (isDeclared ? w : 1));
      news.push(p);
      if (isDeclared) named.push(p);
    }
    if (s.full) over.push(p);
  }
  const key = `${event.action}|${prefixes[prefixes.length - 1] ?? ''}`;
  if (score >= l.threshold) {
    const why = named.length > 0 ? `; declared by the ${ctx.manifest!.agentClass} manifest: ${named.join(', ')}` : '';
    return {
      rule: 'first-seen',
      severity: cfg.severity,
      scope: cfg.scope,
      reason: `first use of ${news.join(', ')} after the learning period (score ${score}, threshold ${l.threshold}${why})`,
      evidence: { observed: news.join(', '), new: news, declared: named, score, limit: l.threshold, learned, resource: event.resource, key },
    };
  }
  if (!overflow) return undefined;
  return {
    rule: 'first-seen',
    severity: 'medium',
    scope: cfg.scope,
    reason: `${over.join(', ')} is new and the learned scope is full (${l.maxSeen} items): the identity keeps drifting`,
    evidence: { observed: over.join(', '), new: over, score, limit: l.maxSeen, learned, resource: event.resource, full: true, key },
  };
}

export const scope = defineDetector({ name: 'scope', rules: RULES, schema, defaults, checkMerged, track, detect });
