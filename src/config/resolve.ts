import type { DetectorContext } from '../detector.js';
import { literalLength } from './glob.js';
import { deepFreeze } from './schema.js';
import type { DeepPartial, DetectorsConfig, Glob, Manifest, Override, WardenConfig } from './types.js';

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

/** A manifest's `identities` glob, in the order bindings are tried. */
export interface Binding {
  glob: Glob;
  manifest: Manifest;
}

/**
 * Every manifest's identity globs, most specific first: the one naming more
 * characters literally, then the manifest file that sorts first, then its
 * order in that file. The first that matches binds the identity.
 */
export function bindingsOf(manifests: ReadonlyMap<string, Manifest>): Binding[] {
  const all: Array<Binding & { n: number; i: number }> = [];
  for (const m of manifests.values()) m.identities.forEach((glob, i) => all.push({ glob, manifest: m, n: literalLength(glob.source), i }));
  all.sort((a, b) => b.n - a.n || (a.manifest.file < b.manifest.file ? -1 : a.manifest.file > b.manifest.file ? 1 : 0) || a.i - b.i);
  return all.map(({ glob, manifest }) => ({ glob, manifest }));
}

/**
 * Runs per event, so contexts are cached per identity and class, and every
 * identity with the same class and the same matching overrides shares one.
 * An identity a manifest binds is of that class whatever its event claims;
 * any other is of the class its event names.
 */
export function createResolver(config: WardenConfig): Resolver {
  const { overrides, manifests, version: configVersion } = config;
  // Defined below; contexts only call it once events flow.
  const boundManifest = (identity: string): Manifest | undefined => boundFor(identity)?.manifest;
  const ctx = (detectors: DetectorsConfig, manifest: Manifest | undefined, binding?: string): DetectorContext =>
    deepFreeze(binding === undefined
      ? { config: detectors, manifest, configVersion, boundManifest }
      : { config: detectors, manifest, binding, configVersion, boundManifest });

  const unknownClass = ctx(config.detectors, undefined);
  const byClass = new Map<string, DetectorContext>();
  for (const [cls, m] of manifests) byClass.set(cls, ctx(config.detectors, m));
  const bindings = bindingsOf(manifests).map((b) => ({ glob: b.glob, ctx: ctx(config.detectors, b.manifest, b.glob.source) }));
  const bound = new Map<string, DetectorContext | null>();
  const boundFor = (identity: string): DetectorContext | undefined => {
    if (bindings.length === 0) return undefined;
    let hit = bound.get(identity);
    if (hit === undefined) {
      hit = bindings.find((b) => b.glob.test(identity))?.ctx ?? null;
      if (bound.size >= MAX_CACHED) bound.clear();
      bound.set(identity, hit);
    }
    return hit ?? undefined;
  };
  const baseFor = (ev: ResolveInput): DetectorContext =>
    boundFor(ev.identity) ?? (ev.agentClass ? byClass.get(ev.agentClass) : undefined) ?? unknownClass;

  if (overrides.length === 0) return baseFor;

  // Base contexts by object, for the shared-context key: each stands for one (manifest, binding).
  const baseIds = new Map<DetectorContext, number>();
  const byIdentity = new Map<string, DetectorContext>();
  const byCombo = new Map<string, DetectorContext>();
  // Between two consecutive expiry times the same overrides are live, so that index is part of the cache key.
  const expiries = [...new Set(overrides.flatMap((o) => (o.expiresAt === undefined ? [] : [o.expiresAt])))].sort((a, b) => a - b);

  return (ev) => {
    const claimed = ev.agentClass ?? '';
    const ts = ev.ts ?? -Infinity;
    let epoch = 0;
    while (epoch < expiries.length && expiries[epoch]! <= ts) epoch++;
    const key = `${ev.identity}\u0000${claimed}\u0000${epoch}`;
    const hit = byIdentity.get(key);
    if (hit !== undefined) return hit;

    let resolved = baseFor(ev);
    // Overrides match the class the event is judged as: a bound identity cannot claim its way into another class's override.
    const cls = resolved.manifest?.agentClass ?? claimed;
    let combo = '';
    overrides.forEach((o, i) => {
      if (o.expiresAt !== undefined && ts >= o.expiresAt) return;
      const { agentClass, identity } = o.match;
      if (agentClass !== undefined && (cls === '' || !agentClass.test(cls))) return;
      if (identity !== undefined && !identity.test(ev.identity)) return;
      combo += `${i},`;
    });

    if (combo !== '') {
      // Unknown classes share one entry: `cls` is event input and must not grow this map.
      let id = baseIds.get(resolved);
      if (id === undefined) baseIds.set(resolved, (id = baseIds.size));
      const comboKey = `${combo}\u0000${id}`;
      let shared = byCombo.get(comboKey);
      if (shared === undefined) {
        let detectors = config.detectors;
        for (const i of combo.slice(0, -1).split(',')) detectors = mergeDetectors(detectors, (overrides[Number(i)] as Override).detectors);
        shared = ctx(detectors, resolved.manifest, resolved.binding);
        byCombo.set(comboKey, shared);
      }
      resolved = shared;
    }
    if (byIdentity.size >= MAX_CACHED) byIdentity.clear();
    byIdentity.set(key, resolved);
    return resolved;
  };
}
