import type { AgentEvent } from './event/types.js';
import type { DetectorsConfig, Manifest, Severity, SuspendScope, Mode } from './config/types.js';
import type { IdentityView, Track } from './state/types.js';

export type DetectorName = keyof DetectorsConfig;

/** What a detector sees besides the event and the view: everything resolved for this event's identity. */
export interface DetectorContext {
  /** Detector config after overrides for this identity and class. */
  config: DetectorsConfig;
  /** The manifest of the event's agentClass, if any. */
  manifest: Manifest | undefined;
  configVersion: string;
}

export interface Evidence {
  observed: number | string;
  limit?: number | string;
  baseline?: Record<string, number>;
  windowMs?: number;
  [key: string]: unknown;
}

/** A detector's raw result; the pipeline adds identity, decision and ids. */
export interface Finding {
  /** Stable sub-kind, e.g. `hard-limit`, `baseline`, `outside-manifest`, `depth`. */
  rule: string;
  severity: Severity;
  reason: string;
  evidence: Evidence;
  /** Overrides the detector's configured scope (e.g. a whole-identity finding from a capability detector). */
  scope?: SuspendScope;
  /** Never suspends, whatever the detector's mode (e.g. an unknown agent class). */
  alertOnly?: boolean;
}

export type Decision = 'alert' | 'suspend';

export interface Detection {
  identity: string;
  detector: DetectorName;
  rule: string;
  severity: Severity;
  decision: Decision;
  mode: Mode;
  /** Suspension target: '*' for the whole identity, else the action. */
  scope: string;
  /** Event time of the triggering event. */
  ts: number;
  eventId: string;
  action: string;
  resource: string;
  chain: string[];
  agentClass: string | null;
  reason: string;
  evidence: Evidence & { configVersion: string };
}

/**
 * Detectors are pure: (event, view, context) in, findings out. No I/O, no
 * clock, no randomness: the same input gives the same output in replay and live.
 */
export interface Detector {
  readonly name: DetectorName;
  /** The state this detector needs kept for this event. Track keys must start with `${name}:`. */
  track(event: AgentEvent, ctx: DetectorContext): Track[];
  detect(event: AgentEvent, view: IdentityView, ctx: DetectorContext): Finding[];
}
