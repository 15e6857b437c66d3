/**
 * Cross-partition counts per agent class for the fleet guard: how many of a
 * class's identities were active lately, and how many are suspended now. One
 * call per batch, concurrent with the window store's apply.
 *
 * Exact in the embedded pipeline (one partition, batches in order). In the
 * service, partitions run concurrently, so near the cap the guard may trip a
 * few events earlier or later than a replay would: it is a safety valve, not
 * a detector, and errs on the side of alerting.
 */
export interface FleetObservation {
  /** Per class: each identity active in this batch with its latest event time. */
  active: Map<string, Map<string, number>>;
  /**
   * Per class, the event time its counts are for: the class's latest in the
   * batch. Each class is pruned by its own time, so one far-ahead event of
   * one class cannot empty another's active set.
   */
  at: ReadonlyMap<string, number>;
  activeWindowMs: number;
}

export interface FleetView {
  /** Identities with an event in (at - activeWindow, at], `at` the class's own. */
  active: number;
  /**
   * Suspended identities → when their suspension ends, for those ending after
   * at - activeWindow: the engine counts the ones in force at each event's own
   * time. Small: the guard keeps it under its cap.
   */
  open: Map<string, number>;
}

/** Identities of the view suspended at `ts`. */
export function suspendedAt(v: FleetView, ts: number): number {
  let n = 0;
  for (const until of v.open.values()) if (until > ts) n++;
  return n;
}

export interface FleetSuspension {
  agentClass: string;
  identity: string;
  /** Event time the suspension ends. */
  until: number;
}

export interface FleetStore {
  /** Records the batch's active identities, then counts every class it names. */
  observe(o: FleetObservation): Promise<Map<string, FleetView>>;
  /** Idempotent: a redelivered batch records the same suspensions again. */
  suspended(s: readonly FleetSuspension[]): Promise<void>;
}

/** The reference implementation, for the embedded pipeline and tests. */
export class MemoryFleetStore implements FleetStore {
  private readonly activeBy = new Map<string, Map<string, number>>();
  private readonly openBy = new Map<string, Map<string, number>>();

  async observe(o: FleetObservation): Promise<Map<string, FleetView>> {
    const out = new Map<string, FleetView>();
    for (const [cls, ids] of o.active) {
      const from = classAt(o, cls) - o.activeWindowMs;
      const active = this.get(this.activeBy, cls);
      for (const [id, ts] of ids) if (ts > (active.get(id) ?? -Infinity)) active.set(id, ts);
      const open = this.get(this.openBy, cls);
      prune(open, from);
      out.set(cls, { active: prune(active, from), open: new Map(open) });
    }
    return out;
  }

  async suspended(s: readonly FleetSuspension[]): Promise<void> {
    for (const x of s) {
      const open = this.get(this.openBy, x.agentClass);
      if (x.until > (open.get(x.identity) ?? -Infinity)) open.set(x.identity, x.until);
    }
  }

  private get(by: Map<string, Map<string, number>>, cls: string): Map<string, number> {
    let m = by.get(cls);
    if (!m) by.set(cls, (m = new Map()));
    return m;
  }
}

/** The class's own time; a class named without one counts at its identities' latest. */
export function classAt(o: FleetObservation, cls: string): number {
  const at = o.at.get(cls);
  if (at !== undefined) return at;
  let max = -Infinity;
  for (const ts of o.active.get(cls)?.values() ?? []) if (ts > max) max = ts;
  return max;
}

/** Drops entries scored at or below `floor`, as Redis does; returns how many are left. */
function prune(m: Map<string, number>, floor: number): number {
  for (const [k, v] of m) if (v <= floor) m.delete(k);
  return m.size;
}
