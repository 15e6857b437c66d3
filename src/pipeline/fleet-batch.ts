import { activeOf, isSuspended } from '../breaker/breaker.js';
import { checkGuard, guarded, UNKNOWN_CLASS } from '../breaker/fleet-guard.js';
import type { BreakerState } from '../breaker/types.js';
import type { FleetGuardConfig } from '../config/types.js';
import type { Detection, DetectorContext } from '../detector.js';
import type { FleetStore, FleetSuspension, FleetView } from '../state/fleet.js';

export const classOf = (ctx: DetectorContext): string => ctx.manifest?.agentClass ?? UNKNOWN_CLASS;

/**
 * The fleet guard's part of one engine batch: note the active identities,
 * fetch the class views (beside the window apply), turn a suspend that would
 * exceed the cap into an alert, and record the batch's suspensions.
 */
export class FleetBatch {
  private readonly active = new Map<string, Map<string, number>>();
  /** Each class's latest event time in the batch: the class is pruned by its own. */
  private readonly at = new Map<string, number>();
  private views: Map<string, FleetView> | undefined;
  private readonly suspensions: FleetSuspension[] = [];

  constructor(private readonly store: FleetStore, private readonly cfg: FleetGuardConfig) {}

  /** Only while the guard is on: observing is its per-batch cost. */
  note(agentClass: string, identity: string, ts: number): void {
    if (!this.cfg.enabled) return;
    let ids = this.active.get(agentClass);
    if (!ids) this.active.set(agentClass, (ids = new Map()));
    if (ts > (ids.get(identity) ?? -Infinity)) ids.set(identity, ts);
    if (ts > (this.at.get(agentClass) ?? -Infinity)) this.at.set(agentClass, ts);
  }

  async observe(): Promise<void> {
    if (this.active.size === 0) return;
    this.views = await this.store.observe({ active: this.active, at: this.at, activeWindowMs: this.cfg.activeWindowMs });
  }

  /** The detection as it stands, or a critical alert when suspending would exceed the class's cap. */
  check(state: BreakerState, d: Detection, agentClass: string): Detection {
    const view = this.views?.get(agentClass);
    // An identity with a suspension in force is already counted: only a newly suspended one can trip the guard.
    if (!view || d.decision !== 'suspend' || d.mode !== 'enforce' || isSuspended(state, d.scope, d.ts) || activeOf(state, d.ts).length > 0) return d;
    const trip = checkGuard(view, agentClass, d.ts, this.cfg, d.identity);
    return trip ? guarded(d, trip) : d;
  }

  /** Recorded with the guard off too, so turning it on by reload starts from the true count. */
  suspended(agentClass: string, identity: string, until: number): void {
    const view = this.views?.get(agentClass);
    const end = Math.max(until, view?.open.get(identity) ?? -Infinity);
    view?.open.set(identity, end);
    this.suspensions.push({ agentClass, identity, until: end });
  }

  /** Before the commit: a crash in between re-records the same suspensions on redelivery, harmlessly. */
  async record(): Promise<void> {
    if (this.suspensions.length > 0) await this.store.suspended(this.suspensions);
  }
}
