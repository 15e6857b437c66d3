import type { QuietState } from '../pipeline/suppress.js';
import { createHash } from 'node:crypto';
import type { BreakerConfig } from '../config/types.js';
import type { Detection } from '../detector.js';
import { WHOLE_IDENTITY, type ActiveSuspension, type BreakerCommand, type BreakerState, type ScopeState } from './types.js';

/**
 * The per-identity circuit breaker, as a pure function of event time:
 * closed → open (suspended until a TTL) → half-open (probation) → closed.
 * A repeat offence doubles the TTL up to maxTtl; strikes are forgiven after
 * `forgiveAfter` closed. Time only moves with the identity's own events, so a
 * replay makes the same transitions as the live run.
 */
export function commandId(identity: string, scope: string, type: string, issuedAt: number, cause: string): string {
  return createHash('sha256').update(`${identity}\n${scope}\n${type}\n${issuedAt}\n${cause}`).digest('hex').slice(0, 32);
}

/**
 * Time-driven transitions, run on each event of the identity before its
 * detections. `action` is false for an operator control, which is not an action let through.
 */
export function advance(state: BreakerState, identity: string, ts: number, cfg: BreakerConfig, action = true): BreakerCommand[] {
  const out: BreakerCommand[] = [];
  for (const scope of Object.keys(state)) {
    const s = state[scope]!;
    if (s.phase === 'open' && ts >= s.until) {
      s.phase = 'half-open';
      s.probationSeen = 0;
    }
    // Each event of the identity in half-open is one action let through on probation.
    if (s.phase === 'half-open' && action) s.probationSeen = (s.probationSeen ?? 0) + 1;
    const served = cfg.probationActions > 0 && (s.probationSeen ?? 0) > cfg.probationActions;
    if (s.phase === 'half-open' && (ts >= s.probationUntil || served)) {
      s.phase = 'closed';
      s.closedAt = ts;
      out.push({
        v: 2, seq: 0, type: 'resume', commandId: commandId(identity, scope, 'resume', ts, String(s.probationUntil)),
        identity, scope, until: null, probationUntil: null,
        reason: served
          ? `${cfg.probationActions} actions on probation without a new offence (strike ${s.strikes})`
          : `probation ended without a new offence (strike ${s.strikes})`,
        detector: s.detector, issuedAt: ts, eventId: null, strike: s.strikes, cascade: scope === WHOLE_IDENTITY, active: [],
      });
    }
    if (s.phase === 'closed' && ts - s.closedAt >= cfg.forgiveAfterMs) delete state[scope];
  }
  if (out.length > 0) {
    const active = activeOf(state, ts);
    for (const c of out) c.active = active;
  }
  return out;
}

/** The suspensions in force at `ts`, in scope order so the output is deterministic. */
export function activeOf(state: BreakerState, ts: number): ActiveSuspension[] {
  const out: ActiveSuspension[] = [];
  for (const scope of Object.keys(state).sort()) {
    const s = state[scope]!;
    if (s.phase === 'open' && ts < s.until) out.push({ scope, until: s.until, cascade: scope === WHOLE_IDENTITY, commandId: s.commandId, reason: s.reason });
  }
  return out;
}

/** Whether the identity is currently suspended for this action (whole identity or capability). */
export function isSuspended(state: BreakerState, action: string, ts: number): boolean {
  const whole = state[WHOLE_IDENTITY];
  if (whole && whole.phase === 'open' && ts < whole.until) return true;
  const cap = state[action];
  return cap !== undefined && cap.phase === 'open' && ts < cap.until;
}

/** A suspend decision: opens the breaker for its scope unless that scope is already open. */
export function offend(state: BreakerState, d: Detection, cfg: BreakerConfig): BreakerCommand | null {
  if (d.decision !== 'suspend' || d.mode !== 'enforce') return null;
  const scope = d.scope;
  if (isSuspended(state, scope, d.ts)) return null;
  const prior = state[scope];
  const strikes = (prior?.strikes ?? 0) + 1;
  const ttl = Math.min(cfg.ttlMs * 2 ** Math.min(strikes - 1, 30), cfg.maxTtlMs);
  const id = commandId(d.identity, scope, 'suspend', d.ts, d.eventId);
  const next: ScopeState = {
    phase: 'open',
    until: d.ts + ttl,
    probationUntil: d.ts + ttl + cfg.probationMs,
    strikes,
    closedAt: prior?.closedAt ?? 0,
    reason: d.reason,
    detector: d.detector,
    commandId: id,
    openedAt: d.ts,
  };
  state[scope] = next;
  return {
    v: 2, seq: 0, type: 'suspend', commandId: id,
    identity: d.identity, scope, until: next.until, probationUntil: next.probationUntil,
    reason: d.reason, detector: d.detector, issuedAt: d.ts, eventId: d.eventId, strike: strikes,
    cascade: scope === WHOLE_IDENTITY, active: activeOf(state, d.ts),
  };
}

/**
 * An identity's breaker as stored (the snapshot committed with the batch's
 * offset and outbox): the per-scope state, the seq of the last command issued
 * for it and that command's event time. Keeping seq here is what makes it
 * survive a crash: it commits atomically with the command that used it.
 */
export interface BreakerRecord {
  state: BreakerState;
  seq: number;
  /** issuedAt of the command that took `seq`; 0 before any. */
  at: number;
  /** Findings held back per group (src/pipeline/suppress.ts); absent when none. */
  quiet?: QuietState;
}

/**
 * Snapshot formats: `{"seq":N,"at":T,"scopes":{…}}` (v2), or the bare scopes
 * object written before v2 (seq 0). A scope's value is always an object, so a
 * numeric `seq` tells the two apart whatever the scopes are named.
 */
export function parseRecord(snapshot: string | null): BreakerRecord {
  if (!snapshot) return { state: {}, seq: 0, at: 0 };
  const raw = JSON.parse(snapshot) as Record<string, unknown>;
  if (typeof raw.seq === 'number') {
    const r: BreakerRecord = { state: (raw.scopes ?? {}) as BreakerState, seq: raw.seq, at: Number(raw.at ?? 0) };
    if (raw.quiet && typeof raw.quiet === 'object') r.quiet = raw.quiet as QuietState;
    return r;
  }
  return { state: raw as BreakerState, seq: 0, at: 0 };
}

/** '' deletes the stored state; once a command was issued the seq is kept, even with no scopes left. */
export function serializeRecord(r: BreakerRecord): string {
  const quiet = r.quiet && Object.keys(r.quiet).length > 0 ? r.quiet : undefined;
  if (r.seq === 0 && !quiet) return Object.keys(r.state).length === 0 ? '' : JSON.stringify(r.state);
  return JSON.stringify(quiet ? { seq: r.seq, at: r.at, scopes: r.state, quiet } : { seq: r.seq, at: r.at, scopes: r.state });
}

export function parseBreaker(snapshot: string | null): BreakerState {
  return parseRecord(snapshot).state;
}

/** '' deletes the stored state. */
export function serializeBreaker(state: BreakerState): string {
  return serializeRecord({ state, seq: 0, at: 0 });
}
