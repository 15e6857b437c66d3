import type { Detector, DetectorContext, Finding } from '../src/detector.js';
import type { AgentEvent } from '../src/event/types.js';
import type { IdentityView, Track } from '../src/state/types.js';
import { atLeast, NO_FINDINGS, NO_TRACKS } from './format.js';
import { allowed, matchesAction } from './match.js';
import { nextSep, resourcePrefixes } from './resource.js';

const ACT = 'scope:act';
const prefixKeys: string[] = [];

/** `scope:p<depth>`, built once per depth. */
function prefixKey(depth: number): string {
  return (prefixKeys[depth] ??= `scope:p${depth}`);
}

function track(event: AgentEvent, ctx: DetectorContext): Track[] {
  const cfg = ctx.config.scope;
  if (!cfg.enabled || !cfg.learned.enabled) return NO_TRACKS;
  const tracks: Track[] = [];
  const cap = cfg.learned.maxSeen;
  tracks.push({ kind: 'seen', key: ACT, member: event.action, cap });
  // resourcePrefixes, inlined to skip its array on the hot path. Only strict
  // prefixes are learned (the system always): the last segment names one
  // object (a customer, a pipeline, a spawned child), and a new one is normal.
  const r = event.resource;
  for (let d = 1, from = 0; d <= cfg.learned.prefixDepth; d++) {
    const sep = nextSep(r, from);
    if (sep < 0 && d > 1) break;
    tracks.push({ kind: 'seen', key: prefixKey(d), member: sep < 0 ? r : r.slice(0, sep), cap });
    if (sep < 0) break;
    from = sep + 1;
  }
  return tracks;
}

function detect(event: AgentEvent, view: IdentityView, ctx: DetectorContext): Finding[] {
  const cfg = ctx.config.scope;
  if (!cfg.enabled) return NO_FINDINGS;
  let out: Finding[] | undefined;
  const m = ctx.manifest;
  if (m) {
    if (cfg.manifest && !allowed(m, event.action, event.resource)) {
      (out ??= []).push({
        rule: 'outside-manifest',
        severity: cfg.severity,
        scope: cfg.scope,
        reason: `${event.action} on ${event.resource} is not allowed by the ${m.agentClass} manifest`,
        evidence: { observed: `${event.action} on ${event.resource}`, limit: m.agentClass, manifest: m.file },
      });
    }
    if (m.readOnly && matchesAction(cfg.writeActions, event.action)) {
      (out ??= []).push({
        rule: 'read-only-write',
        severity: atLeast(cfg.severity, 'high'),
        scope: 'identity',
        reason: `${event.action} on ${event.resource} is a write, and the ${m.agentClass} manifest is read-only`,
        evidence: { observed: event.action, limit: `${m.agentClass} (read-only)`, resource: event.resource, manifest: m.file },
      });
    }
  } else if (cfg.unknownClass === 'alert' && event.agentClass !== undefined) {
    (out ??= []).push({
      rule: 'unknown-class',
      severity: 'low',
      scope: 'identity',
      alertOnly: true,
      reason: `agent class ${event.agentClass} has no manifest`,
      evidence: { observed: event.agentClass },
    });
  }
  const l = cfg.learned;
  if (l.enabled && event.ts - view.firstSeen >= l.learningPeriodMs) {
    const f = firstSeen(event, view, cfg);
    if (f) (out ??= []).push(f);
  }
  return out ?? NO_FINDINGS;
}

function firstSeen(event: AgentEvent, view: IdentityView, cfg: DetectorContext['config']['scope']): Finding | undefined {
  const l = cfg.learned;
  const act = view.seen[ACT];
  let score = 0;
  let overflow = act?.full === true;
  if (act?.added) score = l.actionScore;
  let depth = 1;
  for (; depth <= l.prefixDepth; depth++) {
    const s = view.seen[prefixKey(depth)];
    if (!s) break;
    if (s.full) overflow = true;
    if (s.added) score = Math.max(score, l.prefixScores[depth - 1] ?? 0);
  }
  const fires = score >= l.threshold;
  if (!fires && !overflow) return undefined;

  // Finding path only: recompute what was new, for evidence.
  const prefixes = resourcePrefixes(event.resource, depth - 1);
  const fresh: string[] = [];
  const over: string[] = [];
  const learned: Record<string, number> = {};
  if (act) {
    learned.actions = act.size;
    if (act.added) fresh.push(`action ${event.action}`);
    if (act.full) over.push(`action ${event.action}`);
  }
  for (let d = 1; d < depth; d++) {
    const s = view.seen[prefixKey(d)]!;
    learned[`p${d}`] = s.size;
    if (s.added) fresh.push(prefixes[d - 1]!);
    if (s.full) over.push(prefixes[d - 1]!);
  }
  if (fires) {
    return {
      rule: 'first-seen',
      severity: cfg.severity,
      scope: cfg.scope,
      reason: `first use of ${fresh.join(', ')} after the learning period (score ${score}, threshold ${l.threshold})`,
      evidence: { observed: fresh.join(', '), new: fresh, score, limit: l.threshold, learned, resource: event.resource },
    };
  }
  return {
    rule: 'first-seen',
    severity: 'medium',
    scope: cfg.scope,
    reason: `${over.join(', ')} is new and the learned scope is full (${l.maxSeen} items): the identity keeps drifting`,
    evidence: { observed: over.join(', '), new: over, score, limit: l.maxSeen, learned, resource: event.resource, full: true },
  };
}

export const scope: Detector = { name: 'scope', track, detect };
