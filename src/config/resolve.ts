import type { DetectorContext } from '../detector.js';
import { deepFreeze } from './schema.js';
import type { DeepPartial, DetectorsConfig, Manifest, Override, WardenConfig } from './types.js';

export interface ResolveInput {
  identity: string;
  agentClass?: string | null | undefined;
  /** Event time: overrides stop applying at their `expires`. */
  ts?: number;
}
export type Resolver = (event: ResolveInput) => DetectorContext;

const MAX_CACHED = 50_000;

function isPlain(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function merge(base: unknown, patch: unknown): unknown {
  if (!isPlain(base) || !isPlain(patch)) return patch === undefined ? base : patch;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) if (v !== undefined) out[k] = merge(base[k], v);
  return out;
}

/** Deep merge; lists and globs in the patch replace, unchanged subtrees are shared with `base`. */
export function mergeDetectors(base: DetectorsConfig, patch: DeepPartial<DetectorsConfig>): DetectorsConfig {
  return merge(base, patch) as DetectorsConfig;
}

/**
 * Runs per event, so contexts are cached per identity and class, and every
 * identity with the same class and the same matching overrides shares one.
 */
export function createResolver(config: WardenConfig): Resolver {
  const { overrides, manifests, version: configVersion } = config;
  const ctx = (detectors: DetectorsConfig, manifest: Manifest | undefined): DetectorContext =>
    deepFreeze({ config: detectors, manifest, configVersion });

  const unknownClass = ctx(config.detectors, undefined);
  const byClass = new Map<string, DetectorContext>();
  for (const [cls, m] of manifests) byClass.set(cls, ctx(config.detectors, m));
  const baseFor = (cls: string | null | undefined): DetectorContext => (cls ? byClass.get(cls) : undefined) ?? unknownClass;

  if (overrides.length === 0) return (ev) => baseFor(ev.agentClass);

  const byIdentity = new Map<string, DetectorContext>();
  const byCombo = new Map<string, DetectorContext>();
  // Between two consecutive expiry times the same overrides are live, so that index is part of the cache key.
  const expiries = [...new Set(overrides.flatMap((o) => (o.expiresAt === undefined ? [] : [o.expiresAt])))].sort((a, b) => a - b);

  return (ev) => {
    const cls = ev.agentClass ?? '';
    const ts = ev.ts ?? -Infinity;
    let epoch = 0;
    while (epoch < expiries.length && expiries[epoch]! <= ts) epoch++;
    const key = `${ev.identity}\u0000${cls}\u0000${epoch}`;
    const hit = byIdentity.get(key);
    if (hit !== undefined) return hit;

    let combo = '';
    overrides.forEach((o, i) => {
      if (o.expiresAt !== undefined && ts >= o.expiresAt) return;
      const { agentClass, identity } = o.match;
      if (agentClass !== undefined && (cls === '' || !agentClass.test(cls))) return;
      if (identity !== undefined && !identity.test(ev.identity)) return;
      combo += `${i},`;
    });

    let resolved = baseFor(cls);
    if (combo !== '') {
      // Unknown classes share one entry: `cls` is event input and must not grow this map.
      const comboKey = `${combo}\u0000${resolved.manifest?.agentClass ?? ''}`;
      let shared = byCombo.get(comboKey);
      if (shared === undefined) {
        let detectors = config.detectors;
        for (const i of combo.slice(0, -1).split(',')) detectors = mergeDetectors(detectors, (overrides[Number(i)] as Override).detectors);
        shared = ctx(detectors, resolved.manifest);
        byCombo.set(comboKey, shared);
      }
      resolved = shared;
    }
    if (byIdentity.size >= MAX_CACHED) byIdentity.clear();
    byIdentity.set(key, resolved);
    return resolved;
  };
}
