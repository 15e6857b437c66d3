/** What the catalogue labels: incidents to catch, one benign-ish kind, and confounders that must stay quiet. */
export const INCIDENT_KINDS = [
  'burst',
  'sustained-shift',
  'ramp',
  'off-hours',
  'silence',
  'error-probing',
  'undeclared-first-use',
  'declared-first-use',
  'new-identity',
  'ephemeral-subagent',
  'read-only-write',
  'delegation',
  'shared-credential',
  'enumeration',
  'runaway-loop',
] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];

export const INTENSITIES = ['blatant', 'moderate', 'subtle'] as const;
export type Intensity = (typeof INTENSITIES)[number];

export const CONFOUNDER_KINDS = [
  'class-surge',
  'class-rollout',
  'retry-storm',
  'nightly-batch',
  'weekend',
  'late-joiner',
  'ephemeral-normal',
  'rolling-deploy',
  'new-customer-ids',
  'polling',
] as const;
export type ConfounderKind = (typeof CONFOUNDER_KINDS)[number];

/**
 * incident: must be flagged. low: first use of a declared tool by one identity;
 * worth an alert, not a suspension, so it is scored in its own row and a flag
 * on it is never a false positive. confounder: benign, must stay quiet.
 */
export type Role = 'incident' | 'low' | 'confounder';

/** A labelled window of one identity's events (ms, event time). Files with only identity/start/end/label still read. */
export interface Incident {
  identity: string;
  start: number;
  end: number;
  /** Unique name, e.g. `burst/moderate` or `class-surge/support-bot`. */
  label: string;
  kind?: IncidentKind | ConfounderKind | string;
  intensity?: Intensity;
  role?: Role;
  /** What the generator did, for the eval's explanations. */
  detail?: string;
}

export const roleOf = (l: Incident): Role => l.role ?? 'incident';
