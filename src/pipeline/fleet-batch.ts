import { activeOf, isSuspended } from '../breaker/breaker.js';
import { checkGuard, guarded, UNKNOWN_CLASS } from '../breaker/fleet-guard.js';
import type { BreakerCommand, BreakerState } from '../breaker/types.js';
import type { FleetGuardConfig } from '../config/types.js';
import type { Detection, DetectorContext } from '../detector.js';
import type { Cascade, FleetStore, FleetSuspension, FleetView } from '../state/fleet.js';

const MAX_ANCESTORS = 4096;

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
  /** Ancestors named by the batch's chains, and the earliest event time naming them. */
  private readonly ancestors = new Set<string>();
  private ancestorsAt = Infinity;
  private cascade: Map<string, Cascade> | undefined;

  /** `cascades`: whole-identity suspensions are shared for the chain detector's orphans (off: nothing recorded or asked). */
  constructor(private readonly store: FleetStore, private readonly cfg: FleetGuardConfig, private readonly cascades = false) {}

  /** Only while the guard is on: observing is its per-batch cost. */
  note(agentClass: string, identity: string, ts: number): void {
    if (!this.cfg.enabled) return;
    let ids = this.active.get(agentClass);
    if (!ids) this.active.set(agentClass, (ids = new Map()));
    if (ts > (ids.get(identity) ?? -Infinity)) ids.set(identity, ts);
    if (ts > (this.at.get(agentClass) ?? -Infinity)) this.at.set(agentClass, ts);
  }

  /** The chain of an event: asked of the store with the batch, guard on or off (an orphan is no guard matter). */
  watch(chain: readonly string[] | undefined, ts: number): void {
    if (!this.cascades || !chain || chain.length === 0) return;
    // Bounded: a batch of hostile chains cannot grow one query without end.
    for (const a of chain) if (this.ancestors.size < MAX_ANCESTORS) this.ancestors.add(a);
    if (ts < this.ancestorsAt) this.ancestorsAt = ts;
  }

  async observe(): Promise<void> {
    // Both asked in this tick, so a store that can sends them in one round trip.
    const views = this.active.size > 0 ? this.store.observe({ active: this.active, at: this.at, activeWindowMs: this.cfg.activeWindowMs }) : undefined;
    const cascade = this.ancestors.size > 0 ? this.store.cascading([...this.ancestors], this.ancestorsAt) : undefined;
    [this.views, this.cascade] = await Promise.all([views, cascade]);
  }

  /** The identity's whole-identity suspension, if one was in force at the batch's earliest chained event (the caller compares with its own time). */
  cascadeOf(identity: string): Cascade | undefined {
    return this.cascade?.get(identity);
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

  /**
   * Any command (a detector's, an operator's, the breaker's own resumes): its
   * `active` list is the identity's whole state after it, so the cascade
   * entry becomes the end of its whole-identity suspension, or now when a
   * resume or restatement leaves none.
   */
  commanded(c: BreakerCommand): void {
    if (!this.cascades) return;
    let until = -Infinity;
    for (const a of c.active) if (a.cascade && a.until > until) until = a.until;
    if (until === -Infinity) {
      if (c.type === 'suspend') return;
      // Ended: the next one begins afresh.
      this.suspensions.push({ agentClass: null, identity: c.identity, until: c.issuedAt, cascade: true });
      this.cascade?.delete(c.identity);
      return;
    }
    this.suspensions.push({ agentClass: null, identity: c.identity, until, cascade: true, since: c.issuedAt });
    const had = this.cascade?.get(c.identity);
    this.cascade?.set(c.identity, { since: had && had.until > c.issuedAt ? had.since : c.issuedAt, until });
  }

  /** Before the commit: a crash in between re-records the same suspensions on redelivery, harmlessly. */
  async record(): Promise<void> {
    if (this.suspensions.length > 0) await this.store.suspended(this.suspensions);
  }
}
