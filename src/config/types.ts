import type { AlertsConfig } from '../alerts/config.js';
/**
 * Validated, defaulted and frozen configuration. All durations are ms.
 * Files: config/detectors.yaml (DetectorsFile), config/agents/*.yaml (Manifest)
 * and config/overrides/*.yaml (one Override each).
 */
import type { registry } from '../../detectors/index.js';
import type { Detector } from '../detector.js';
import type { SuppressConfig } from '../pipeline/suppress.js';
import type { ResourceShape } from '../../detectors/resource-shapes.js';

export type Mode = 'shadow' | 'alert' | 'enforce';
export type Severity = 'low' | 'medium' | 'high' | 'critical';
/** What a suspension covers: the whole identity, or only the action that triggered it. */
export type SuspendScope = 'identity' | 'action';

/** A compiled glob: `*` any run of characters except `/`, `**` anything, `?` one character except `/`. */
export interface Glob {
  source: string;
  test(value: string): boolean;
}

export interface AllowRule { action: Glob; resource: Glob }
export interface RateLimit { action: Glob; max: number; windowMs: number }
/** How the scope detector reads resources matching `match`: their shape, and at most `depth` learned levels. */
export interface ResourceRule { match: Glob; shape: ResourceShape; depth?: number }
export type { ResourceShape };

export interface Manifest {
  /** Any string a platform uses (`support-bot`, `role/DataPipeline`); manifests are found by it, never by file name. */
  agentClass: string;
  /** The file it came from, for error messages and evidence. */
  file: string;
  /**
   * Identities this class is bound to: an event from a matching identity is of
   * this class whatever its `agentClass` says. The loader always sets it (default []).
   */
  identities: Glob[];
  description?: string;
  readOnly: boolean;
  allow: AllowRule[];
  limits: RateLimit[];
  /** First match wins; a resource no rule matches is read with shape `auto`. The loader always sets it (default []). */
  resources?: ResourceRule[];
  /** Concurrent instances one identity of this class may run (the credential detector); absent: its learned norm. */
  maxInstances?: number;
  delegation: {
    /** Max chain depth for this class's agents; null = detector default. */
    maxDepth: number | null;
    /** Max distinct children spawned per window; null = detector default. */
    maxChildren: number | null;
    windowMs: number | null;
  };
}

/** One key per registered detector (detectors/index.ts), each that detector's own config type. */
export type DetectorsConfig = {
  [D in (typeof registry)[number] as D['name']]: D extends Detector<string, infer C> ? C : never;
};
export type { RateConfig } from '../../detectors/rate.js';
export type { ScopeConfig } from '../../detectors/scope.js';
export type { ChainConfig } from '../../detectors/chain.js';

export interface BreakerConfig {
  ttlMs: number;
  maxTtlMs: number;
  probationMs: number;
  /** Half-open closes early after this many actions without a new offence (0: time only). */
  probationActions: number;
  /** Offence count resets after this long closed. */
  forgiveAfterMs: number;
  fleetGuard: FleetGuardConfig;
}

/**
 * A cap on identities of one agent class suspended at once, so a bad detector
 * or config cannot take a fleet down: beyond it Warden alerts instead.
 */
export interface FleetGuardConfig {
  enabled: boolean;
  /** Of the class's identities active within activeWindowMs... */
  maxPercent: number;
  /** ...but this many may always be suspended, so small classes are still protected. */
  alwaysAllow: number;
  activeWindowMs: number;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends Glob[] | number[] ? T[K] : DeepPartial<T[K]>) : T[K] };

export interface Override {
  /** Where it came from, for evidence: `<dir>/detectors.yaml overrides[<i>]`, or the path of its file in `<dir>/overrides/`. */
  source: string;
  match: { agentClass?: Glob; identity?: Glob };
  detectors: DeepPartial<DetectorsConfig>;
  owner?: string;
  reason?: string;
  /** Event time (ms) from which the override no longer applies. */
  expiresAt?: number;
}

export interface WardenConfig {
  /** Config version, carried in every detection's evidence. */
  version: string;
  dir: string;
  detectors: DetectorsConfig;
  breaker: BreakerConfig;
  /** One detection per (identity, detector, rule, key) per window. */
  suppression: SuppressConfig;
  overrides: Override[];
  manifests: ReadonlyMap<string, Manifest>;
  /** alerts.yaml: the on-call receivers (none without the file). */
  alerts: AlertsConfig;
}
