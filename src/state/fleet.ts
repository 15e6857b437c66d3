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
  /** Null with `cascade`: not a class count, the identity's entry in the cascade set. */
  agentClass: string | null;
  identity: string;
  /** Event time the suspension ends. */
  until: number;
  /**
   * The identity's whole-identity suspension ends at `until` (now, when a
   * resume ended it): the latest recorded wins, so a resume can shorten it.
   * Its sub-agents act under a suspended ancestor until then (chain `orphan`).
   */
  cascade?: boolean;
  /** With `cascade`, while it is in force: when it began (kept from the first command of an unbroken run). */
  since?: number;
}

/** An identity's whole-identity suspension in force: from when, until when. */
export interface Cascade {
  since: number;
  until: number;
}

export interface FleetStore {
  /** Records the batch's active identities, then counts every class it names. */
  observe(o: FleetObservation): Promise<Map<string, FleetView>>;
  /** Idempotent: a redelivered batch records the same suspensions again. */
  suspended(s: readonly FleetSuspension[]): Promise<void>;
  /**
   * Of these identities, the ones suspended as a whole (fleet-wide, any
   * class) past `at`, with when that ends. Asked beside observe, in the same
   * round trip where the store can.
   */
  cascading(identities: readonly string[], at: number): Promise<Map<string, Cascade>>;
}

/** The reference implementation, for the embedded pipeline and tests. */
export class MemoryFleetStore implements FleetStore {
  private readonly activeBy = new Map<string, Map<string, number>>();
  private readonly openBy = new Map<string, Map<string, number>>();
  private readonly cascade = new Map<string, number>();
  private readonly cascadeSince = new Map<string, number>();

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
      if (x.cascade) {
        this.cascade.set(x.identity, x.until);
        if (x.since === undefined) this.cascadeSince.delete(x.identity);
        else if (!this.cascadeSince.has(x.identity)) this.cascadeSince.set(x.identity, x.since);
        continue;
      }
      if (x.agentClass === null) continue;
      const open = this.get(this.openBy, x.agentClass);
      if (x.until > (open.get(x.identity) ?? -Infinity)) open.set(x.identity, x.until);
    }
  }

  async cascading(identities: readonly string[], at: number): Promise<Map<string, Cascade>> {
    prune(this.cascade, at - CASCADE_KEEP_MS);
    prune(this.cascadeSince, at - 2 * CASCADE_KEEP_MS);
    const out = new Map<string, Cascade>();
    for (const id of identities) {
      const until = this.cascade.get(id);
      const since = this.cascadeSince.get(id);
      if (until !== undefined && until > at && since !== undefined) out.set(id, { since, until });
    }
    return out;
  }

  private get(by: Map<string, Map<string, number>>, cls: string): Map<string, number> {
    let m = by.get(cls);
    if (!m) by.set(cls, (m = new Map()));
    return m;
  }
}

/** Ended whole-identity suspensions are dropped this long after the batch time that asks: a lagging partition still finds the recent ones. */
export const CASCADE_KEEP_MS = 86_400_000;

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
