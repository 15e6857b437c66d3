import { WHOLE_IDENTITY } from '../breaker/types.js';
import type { SignedCommand } from '../commands/sign.js';

export type Decision =
  | { allow: true }
  | { allow: false; reason: string; identity: string; scope: string; commandId: string; until: number };

export const ALLOW: Decision = Object.freeze({ allow: true });

interface Entry {
  until: number;
  cascade: boolean;
  /** Built once when the command is applied, so a deny allocates nothing. */
  deny: Decision;
}

interface IdentityState {
  seq: number;
  scopes: Map<string, Entry>;
}

export type ApplyOutcome = 'applied' | 'stale' | 'repeated';

/**
 * The latest verified command per identity. Every command carries the
 * identity's whole set of suspensions in force (`active`), so the latest one
 * replaces the identity's state: that is what keeps a compacted topic (one
 * record per identity) complete. "Latest" is by the signed per-identity `seq`
 * only, never by topic order or `issuedAt`: a lower seq (a re-published old
 * command) is stale, an equal one (a restatement, a redelivery) is a repeat,
 * and neither changes anything.
 *
 * Invariant: a suspension in force is never dropped by a later command that
 * does not resume it. A newer command whose `active` omits a scope still in
 * force keeps that scope unless the command is the resume of exactly that scope.
 */
export class CommandTable {
  private readonly states = new Map<string, IdentityState>();
  private t = NaN;

  constructor(private readonly now: () => number) {}

  get identities(): number {
    return this.states.size;
  }

  apply(c: SignedCommand): ApplyOutcome {
    const cur = this.states.get(c.identity);
    if (cur !== undefined && c.seq <= cur.seq) return c.seq === cur.seq ? 'repeated' : 'stale';
    const scopes = new Map<string, Entry>();
    for (const a of c.active) {
      scopes.set(a.scope, {
        until: a.until,
        cascade: a.cascade,
        deny: Object.freeze({ allow: false, reason: a.reason, identity: c.identity, scope: a.scope, commandId: a.commandId, until: a.until }),
      });
    }
    if (cur !== undefined && cur.scopes.size > 0) {
      const t = this.now();
      for (const [scope, e] of cur.scopes) {
        if (scopes.has(scope) || e.until <= t || (c.type === 'resume' && c.scope === scope)) continue;
        scopes.set(scope, e);
      }
    }
    this.states.set(c.identity, { seq: c.seq, scopes });
    return 'applied';
  }

  check(identity: string, action: string, chain?: readonly string[]): Decision {
    this.t = NaN;
    const own = this.states.get(identity);
    if (own !== undefined && own.scopes.size > 0) {
      const d = this.live(own.scopes.get(WHOLE_IDENTITY), false) ?? this.live(own.scopes.get(action), false);
      if (d !== null) return d;
    }
    if (chain !== undefined) {
      for (let i = 0; i < chain.length; i++) {
        const s = this.states.get(chain[i]!);
        if (s === undefined || s.scopes.size === 0) continue;
        const d = this.live(s.scopes.get(WHOLE_IDENTITY), true) ?? this.live(s.scopes.get(action), true);
        if (d !== null) return d;
      }
    }
    return ALLOW;
  }

  /** After `until` (probation included) it allows: Warden, not the gateway, watches probation. */
  private live(e: Entry | undefined, cascadeOnly: boolean): Decision | null {
    if (e === undefined || (cascadeOnly && !e.cascade)) return null;
    if (this.t !== this.t) this.t = this.now();
    return e.until > this.t ? e.deny : null;
  }
}
