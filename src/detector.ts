import type { AgentEvent } from './event/types.js';
import type { DeepPartial, DetectorsConfig, Manifest, Severity, SuspendScope, Mode } from './config/types.js';
import type { Path, Schema } from './config/schema.js';
import type { ClassTrack, IdentityView, Track } from './state/types.js';

export type DetectorName = keyof DetectorsConfig & string;

/** Per-rule settings: a rule may alert while the rest of its detector enforces. */
export interface RuleSettings {
  mode?: Mode;
  severity?: Severity;
}

/** Keys every detector's config has; the engine reads them, detectors need not. */
export interface DetectorCommon {
  enabled: boolean;
  mode: Mode;
  severity: Severity;
  scope: SuspendScope;
  /** By rule name (a detector's `rules`): mode and severity for that rule only. */
  rules: Record<string, RuleSettings>;
}

/** What a detector sees besides the event and the view: everything resolved for this event's identity. */
export interface DetectorContext {
  /** Detector config after overrides for this identity and class. */
  config: DetectorsConfig;
  /** The manifest of the event's class, if any: the one binding its identity, else the one its agentClass names. */
  manifest: Manifest | undefined;
  /** The manifest's `identities` glob that bound the identity; undefined when the class came from the event. */
  binding?: string | undefined;
  configVersion: string;
  /**
   * The manifest another identity is bound to by its `identities` globs (a
   * config lookup, no I/O): what the chain detector holds each ancestor to.
   * Undefined for an identity no manifest binds; absent in contexts built by hand.
   */
  boundManifest?: (identity: string) => Manifest | undefined;
  /**
   * Another identity's whole-identity (cascading) suspension, from when until
   * when, as the fleet store holds it across partitions; undefined when none
   * is in force or there is no fleet store. Set for events with a chain.
   */
  cascadeOf?: (identity: string) => { since: number; until: number } | undefined;
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
  /** Stable sub-kind, one of the detector's `rules`, e.g. `hard-limit`, `baseline`, `outside-manifest`. */
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
  detector: string;
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
  /** The class it was judged as: the manifest's (bound or named), else the event's own agentClass. */
  agentClass: string | null;
  reason: string;
  evidence: Evidence & { configVersion: string };
}

/** A problem in a config that only shows once an override is merged onto the base. */
export type MergedIssue = [at: Path, message: string];

/**
 * One file per detector: its name, its config (schema and defaults), and two
 * pure functions. Detectors are pure: (event, view, context) in, findings out.
 * No I/O, no clock, no randomness: the same input gives the same output in
 * replay and live. The engine checks `enabled` and applies `mode` per rule.
 */
export interface Detector<N extends string = string, C extends DetectorCommon = DetectorCommon> {
  readonly name: N;
  /** Every `rule` its findings may carry, so `rules:` in the config can be checked. */
  readonly rules: readonly string[];
  /** Validates and converts the file's `detectors.<name>` tree (durations to ms, globs compiled). */
  readonly schema: Schema<C>;
  /** Defaults in the shape and units of the file, validated by `schema` like user input. */
  readonly defaults: Readonly<Record<string, unknown>>;
  /** After an override is merged onto the base config: issues relative to `detectors.<name>`. */
  checkMerged?(merged: C, patch: DeepPartial<C>): MergedIssue[];
  /** The state this detector needs kept for this event. Track keys must start with `${name}:`. */
  track(event: AgentEvent, ctx: DetectorContext): Track[];
  /** Counters this event adds to, shared by its whole agent class (peer groups); in `view.peers` at detect. */
  classTrack?(event: AgentEvent, ctx: DetectorContext): ClassTrack[];
  detect(event: AgentEvent, view: IdentityView, ctx: DetectorContext): Finding[];
  /** Findings from what does not happen: an identity that falls silent (src/pipeline/absence.ts). */
  absence?: Absence;
}

/** How soon, after an event, an identity is expected to be heard from again, by one key (an action). */
export interface Expectation {
  key: string;
  /** Event time it was formed at. */
  ts: number;
  /** Events expected per ms from now on. */
  perMs: number;
}

/** What the engine holds of an identity that has not been heard from. */
export interface Silence {
  identity: string;
  /** The last event heard: its time, and what the finding names. */
  last: AgentEvent;
  /** The expectations of its keys, the newest per key. */
  held: readonly Expectation[];
  /** The event time past which the silence is a finding. */
  due: number;
}

/**
 * Absence is judged between events: after each event the engine asks for an
 * expectation, keeps the newest per identity and key, asks when silence past
 * it would be notable (`due`), and asks for the finding once event time has
 * passed that with nothing heard. All three are pure, like `detect`.
 */
export interface Absence {
  expect(event: AgentEvent, view: IdentityView, ctx: DetectorContext): Expectation | undefined;
  /** Undefined: this identity is not judged for silence now. */
  due(held: Iterable<Expectation>, lastTs: number, ctx: DetectorContext): number | undefined;
  overdue(s: Silence, ctx: DetectorContext): Finding;
}

/** Any registered detector, whatever its config type. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDetector = Detector<string, any>;

/** Identity function that pins a detector's name and config types. */
export function defineDetector<const N extends string, C extends DetectorCommon>(d: Detector<N, C>): Detector<N, C> {
  return d;
}
