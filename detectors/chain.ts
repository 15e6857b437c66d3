import { defineDetector, type DetectorCommon, type DetectorContext, type Finding } from '../src/detector.js';
import type { Glob } from '../src/config/types.js';
import { detectorSchema } from '../src/config/detector-schema.js';
import { array, boolean, duration, glob, integer } from '../src/config/schema.js';
import type { AgentEvent } from '../src/event/types.js';
import { slidingCount, type IdentityView, type Track } from '../src/state/types.js';
import { matchesAction } from './match.js';
import { atLeast, crosses, formatDuration, NO_FINDINGS, NO_TRACKS, round } from './format.js';

export interface ChainConfig extends DetectorCommon {
  maxDepth: number;
  maxFanOut: number;
  fanOutWindowMs: number;
  /** Actions by which an agent spawns a sub-agent; the resource names the child. */
  spawnActions: Glob[];
  cycles: boolean;
  /** Zombies (`orphan`): exact in replay, live only as exact as cross-partition timing allows; off by default. */
  orphans: boolean;
}

const RULES = ['depth', 'cycle', 'fan-out', 'orphan'] as const;

const schema = detectorSchema(RULES, {
  maxDepth: integer({ min: 1 }),
  maxFanOut: integer({ min: 1 }),
  fanOutWindowMs: duration({ min: 1000 }).from('fanOutWindow'),
  spawnActions: array(glob()),
  cycles: boolean(),
  orphans: boolean(),
});

const defaults = {
  enabled: true,
  mode: 'enforce',
  severity: 'high',
  scope: 'identity',
  rules: {},
  maxDepth: 4,
  maxFanOut: 100,
  fanOutWindow: '1h',
  spawnActions: ['agent.spawn'],
  cycles: true,
  orphans: false,
};

const CHILDREN = 'chain:children';

function fanOutLimits(ctx: DetectorContext): { limit: number; windowMs: number } {
  const d = ctx.manifest?.delegation;
  return { limit: d?.maxChildren ?? ctx.config.chain.maxFanOut, windowMs: d?.windowMs ?? ctx.config.chain.fanOutWindowMs };
}

/**
 * The strictest depth limit along the chain: the event's own class's (or the
 * detector's), and every ancestor's bound manifest, whose `maxDepth` counts
 * from where it stands (the root's binds every descendant, whatever class a
 * sub-agent claims). `by`: the ancestor that set it, when one did.
 */
function depthLimit(chain: readonly string[], ctx: DetectorContext): { limit: number; by?: string } {
  let limit = ctx.manifest?.delegation.maxDepth ?? ctx.config.chain.maxDepth;
  let by: string | undefined;
  const bound = ctx.boundManifest;
  if (bound) {
    for (let i = 0; i < chain.length; i++) {
      const d = bound(chain[i]!)?.delegation.maxDepth;
      if (d !== null && d !== undefined && i + d < limit) {
        limit = i + d;
        by = chain[i];
      }
    }
  }
  return by === undefined ? { limit } : { limit, by };
}

/** The first repeated entry (the identity itself counts as the chain's last entry), or undefined. */
function repeated(chain: readonly string[], identity: string): string | undefined {
  const n = chain.length;
  if (n <= 16) {
    for (let i = 0; i < n; i++) {
      const a = chain[i]!;
      if (a === identity) return a;
      for (let j = i + 1; j < n; j++) if (chain[j] === a) return a;
    }
    return undefined;
  }
  const seen = new Set<string>();
  for (const a of chain) {
    if (a === identity || seen.has(a)) return a;
    seen.add(a);
  }
  return undefined;
}

/**
 * The nearest ancestor whose whole-identity suspension is in force at `ts`
 * and began after this sub-agent was first seen, and when it ends: a zombie
 * goes on after its parent was stopped. One first seen since then was spawned
 * by a suspended agent, a spawn its enforcer denies, and is not judged here.
 */
function suspendedAncestor(chain: readonly string[], ts: number, firstSeen: number, ctx: DetectorContext): [string, number] | undefined {
  const of = ctx.cascadeOf;
  if (!of) return undefined;
  for (let i = chain.length - 1; i >= 0; i--) {
    const c = of(chain[i]!);
    if (c !== undefined && c.until > ts && c.since > firstSeen) return [chain[i]!, c.until];
  }
  return undefined;
}

function track(event: AgentEvent, ctx: DetectorContext): Track[] {
  const cfg = ctx.config.chain;
  if (!matchesAction(cfg.spawnActions, event.action)) return NO_TRACKS;
  const { limit, windowMs } = fanOutLimits(ctx);
  return [{ kind: 'distinct', key: CHILDREN, windowMs, member: event.resource, cap: limit + 1 }];
}

function detect(event: AgentEvent, view: IdentityView, ctx: DetectorContext): Finding[] {
  const cfg = ctx.config.chain;
  let out: Finding[] | undefined;
  const chain = event.chain;
  if (chain && chain.length > 0) {
    const { limit, by } = depthLimit(chain, ctx);
    if (chain.length > limit) {
      const m = by === undefined ? undefined : ctx.boundManifest?.(by);
      (out ??= []).push({
        rule: 'depth',
        severity: cfg.severity,
        scope: cfg.scope,
        reason: by === undefined
          ? `delegation chain of depth ${chain.length} exceeds the limit of ${limit}`
          : `delegation chain of depth ${chain.length} exceeds the limit of ${limit} that ${by} (${m?.agentClass}) sets for everything under it`,
        evidence: { observed: chain.length, limit, chain, ...(by === undefined ? {} : { boundBy: by, boundByClass: m?.agentClass }) },
      });
    }
    if (cfg.cycles) {
      const dup = repeated(chain, event.identity);
      if (dup !== undefined) {
        (out ??= []).push({
          rule: 'cycle',
          severity: atLeast(cfg.severity, 'high'),
          scope: cfg.scope,
          reason: dup === event.identity
            ? `${event.identity} appears in its own delegation chain`
            : `${dup} appears twice in the delegation chain`,
          evidence: { observed: dup, chain },
        });
      }
    }
  }
  const under = cfg.orphans && chain && chain.length > 0 ? suspendedAncestor(chain, event.ts, view.firstSeen, ctx) : undefined;
  if (under) {
    (out ??= []).push({
      rule: 'orphan',
      severity: cfg.severity,
      scope: cfg.scope,
      reason: `still acting under ${under[0]}, suspended until ${new Date(under[1]).toISOString()}: a sub-agent that outlived its suspended parent`,
      evidence: { observed: under[0], until: under[1], chain, key: `orphan:${under[0]}` },
    });
  }
  const dv = view.distinct[CHILDREN];
  if (dv && dv.added) {
    const { limit } = fanOutLimits(ctx);
    const est = slidingCount(dv, event.ts);
    if (crosses(est, limit, dv.count)) {
      const observed = round(est);
      (out ??= []).push({
        rule: 'fan-out',
        severity: cfg.severity,
        scope: cfg.scope,
        reason: `spawned ${observed} distinct sub-agents in ${formatDuration(dv.windowMs)}, over the limit of ${limit}`,
        evidence: { observed, limit, windowMs: dv.windowMs, child: event.resource },
      });
    }
  }
  return out ?? NO_FINDINGS;
}

export const chain = defineDetector({ name: 'chain', rules: RULES, schema, defaults, track, detect });
