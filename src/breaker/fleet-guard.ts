import type { FleetGuardConfig } from '../config/types.js';
import type { Detection } from '../detector.js';
import { suspendedAt, type FleetView } from '../state/fleet.js';

/** Events whose class has no manifest share one bucket: class names are event input. */
export const UNKNOWN_CLASS = '?';

export interface GuardTrip {
  agentClass: string;
  suspended: number;
  active: number;
  allowed: number;
  maxPercent: number;
}

export function allowedSuspensions(active: number, cfg: FleetGuardConfig): number {
  // The tolerance keeps a fractional percent that lands on a whole number from losing one to
  // binary float error (1500 × 66.6% is 998.9999999999999 in doubles); far below any real fraction.
  return Math.max(cfg.alwaysAllow, Math.floor((active * cfg.maxPercent) / 100 + 1e-9));
}

/**
 * Whether one more identity of the class may be suspended at `ts`; a trip when
 * not. An identity the view already counts as suspended at `ts` is not one
 * more: a batch redelivered after its suspensions were recorded (but before
 * the commit) must decide as it did the first time.
 */
export function checkGuard(view: FleetView, agentClass: string, ts: number, cfg: FleetGuardConfig, identity?: string): GuardTrip | null {
  if (identity !== undefined && (view.open.get(identity) ?? -Infinity) > ts) return null;
  const allowed = allowedSuspensions(view.active, cfg);
  const suspended = suspendedAt(view, ts);
  if (suspended < allowed) return null;
  return { agentClass, suspended, active: view.active, allowed, maxPercent: cfg.maxPercent };
}

/** The suspend decision turned into a critical alert that says why. */
export function guarded(d: Detection, t: GuardTrip): Detection {
  const cls = t.agentClass === UNKNOWN_CLASS ? 'unclassified' : `"${t.agentClass}"`;
  return {
    ...d,
    decision: 'alert',
    severity: 'critical',
    reason: `fleet guard: ${t.suspended} of ${t.active} active ${cls} identities already suspended (cap ${t.allowed}, ${t.maxPercent}%); ` +
      `alerting instead of suspending: ${d.reason}`,
    evidence: { ...d.evidence, fleetGuard: { ...t } },
  };
}
