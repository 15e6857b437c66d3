/**
 * Validated, defaulted and frozen configuration. All durations are ms.
 * Files: config/detectors.yaml (DetectorsFile), config/agents/*.yaml (Manifest)
 * and config/overrides/*.yaml (one Override each).
 */
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

export interface Manifest {
  agentClass: string;
  /** The file it came from, for error messages and evidence. */
  file: string;
  description?: string;
  readOnly: boolean;
  allow: AllowRule[];
  limits: RateLimit[];
  delegation: {
    /** Max chain depth for this class's agents; null = detector default. */
    maxDepth: number | null;
    /** Max distinct children spawned per window; null = detector default. */
    maxChildren: number | null;
    windowMs: number | null;
  };
}

interface DetectorCommon {
  enabled: boolean;
  mode: Mode;
  severity: Severity;
  scope: SuspendScope;
}

export interface RateConfig extends DetectorCommon {
  /** Enforce the manifests' hard limits. */
  limits: boolean;
  baseline: {
    enabled: boolean;
    bucketMs: number;
    learningPeriodMs: number;
    /** EWMA weight per closed bucket. */
    alpha: number;
    /** Half-life of the peak envelope, in ms of event time. */
    peakHalfLifeMs: number;
    /** Fire above multiplier x the identity's own decayed peak... */
    multiplier: number;
    /** ...and above mean + zScore x sd... */
    zScore: number;
    /** ...and never below this many events in the sliding bucket. */
    minEvents: number;
    /** Closed buckets needed before the baseline speaks. */
    minBuckets: number;
  };
}

export interface ScopeConfig extends DetectorCommon {
  /** Flag actions/resources outside the agent's manifest. */
  manifest: boolean;
  /** What to do for events with no agentClass or an unknown class: ignore | alert. */
  unknownClass: 'ignore' | 'alert';
  /** Actions that count as writes for read-only agents. */
  writeActions: Glob[];
  learned: {
    enabled: boolean;
    learningPeriodMs: number;
    /** Resource prefixes are learned down to this many segments (split on ':', '/', '.'). */
    prefixDepth: number;
    /** Score of a first-seen action. */
    actionScore: number;
    /** Score of a first-seen prefix at depth 1, 2, ... (same length as prefixDepth). */
    prefixScores: number[];
    /** Fire when the score reaches this. */
    threshold: number;
    /** Members kept per learned set. */
    maxSeen: number;
  };
}

export interface ChainConfig extends DetectorCommon {
  maxDepth: number;
  maxFanOut: number;
  fanOutWindowMs: number;
  /** Actions by which an agent spawns a sub-agent; the resource names the child. */
  spawnActions: Glob[];
  cycles: boolean;
}

export interface DetectorsConfig {
  rate: RateConfig;
  scope: ScopeConfig;
  chain: ChainConfig;
}

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
  overrides: Override[];
  manifests: ReadonlyMap<string, Manifest>;
}
