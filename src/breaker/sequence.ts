import { commandId, type BreakerRecord } from './breaker.js';
import { WHOLE_IDENTITY, type ActiveSuspension, type BreakerCommand, type BreakerState } from './types.js';

/**
 * The next seq: one above the last, and never below the command's own event
 * time, so it stays above what gateways hold even when the stored seq is gone
 * (the snapshot idle-expired, Redis lost, or state written before v2).
 */
export function nextSeq(last: number, issuedAt: number): number {
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(last + 1, issuedAt));
}

/** Gives each of an identity's new commands, in order, its seq. */
export function stamp(record: BreakerRecord, command: BreakerCommand): BreakerCommand {
  record.seq = nextSeq(record.seq, command.issuedAt);
  record.at = command.issuedAt;
  command.seq = record.seq;
  return command;
}

/** Every suspension still open in the stored state, in scope order (the gateway checks `until` itself). */
function openScopes(state: BreakerState): ActiveSuspension[] {
  const out: ActiveSuspension[] = [];
  for (const scope of Object.keys(state).sort()) {
    const s = state[scope]!;
    if (s.phase === 'open') out.push({ scope, until: s.until, cascade: scope === WHOLE_IDENTITY, commandId: s.commandId, reason: s.reason });
  }
  return out;
}

/**
 * The identity's current state as a `state` command, for re-publishing. It
 * carries the stored seq, not a new one: a gateway that applied the command
 * which set that seq counts it as a repeat and changes nothing; one that lost
 * it (compaction, an erased record) applies it. Deterministic: the same stored
 * record always gives the same bytes.
 */
export function restatement(identity: string, r: BreakerRecord): BreakerCommand {
  return {
    v: 2, seq: r.seq, type: 'state', commandId: commandId(identity, WHOLE_IDENTITY, 'state', r.at, String(r.seq)),
    identity, scope: WHOLE_IDENTITY, until: null, probationUntil: null, reason: 'current state, re-published',
    detector: null, issuedAt: r.at, eventId: null, strike: 0, cascade: false, active: openScopes(r.state),
  };
}
