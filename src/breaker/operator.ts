import type { BreakerConfig } from '../config/types.js';
import type { OperatorControl } from '../control/types.js';
import { activeOf, commandId } from './breaker.js';
import { WHOLE_IDENTITY, type BreakerCommand, type BreakerState, type ScopeState } from './types.js';
import { isoTime } from '../event/time.js';

export interface ControlEffect {
  result: 'applied' | 'ignored';
  detail: string;
  commands: BreakerCommand[];
}

// Never throws: a time stored by an older Warden may be no date at all, and this runs in the engine.
const iso = (ms: number): string => isoTime(ms);
const scopeName = (scope: string): string => (scope === WHOLE_IDENTITY ? 'the whole identity' : scope);

export const operatorReason = (c: OperatorControl): string => `operator ${c.operator}: ${c.reason}`;

export function controlCommandId(c: OperatorControl, scope: string, type: 'suspend' | 'resume'): string {
  return commandId(c.identity, scope, type, c.ts, `operator:${c.id}`);
}

/** Event time of the scope's last change, or -Infinity. */
function changedAt(s: ScopeState): number {
  const opened = s.openedAt ?? -Infinity;
  return s.phase === 'closed' ? Math.max(opened, s.closedAt) : opened;
}

/**
 * An operator's suspend or resume, applied to the identity's breaker at the
 * control's own event time. A control issued before the scope last changed
 * is ignored: the operator decided on a state that no longer holds, and a
 * re-published old control must not undo a newer decision.
 */
export function applyControl(state: BreakerState, c: OperatorControl, cfg: BreakerConfig): ControlEffect {
  const who = operatorReason(c);
  if (c.op === 'suspend') {
    const scope = c.scope ?? WHOLE_IDENTITY;
    const prior = state[scope];
    if (prior && changedAt(prior) >= c.ts) {
      return ignored(`the breaker for ${scopeName(scope)} changed at ${iso(changedAt(prior))}, after this control was issued (${iso(c.ts)})`);
    }
    // Operators cannot exceed the breaker's maxTtl: a forgotten suspension still ends.
    const ttl = Math.min(c.ttlMs ?? cfg.maxTtlMs, cfg.maxTtlMs);
    // Nor can a suspend end one in force sooner: lifting a suspension is a resume's job.
    const until = prior && prior.phase === 'open' && prior.until > c.ts + ttl ? prior.until : c.ts + ttl;
    const id = controlCommandId(c, scope, 'suspend');
    const next: ScopeState = {
      phase: 'open', until, probationUntil: until + cfg.probationMs,
      strikes: prior?.strikes ?? 0, closedAt: prior?.closedAt ?? 0, reason: who, detector: null, commandId: id, openedAt: c.ts,
    };
    state[scope] = next;
    const command: BreakerCommand = {
      v: 2, seq: 0, type: 'suspend', commandId: id, identity: c.identity, scope, until: next.until, probationUntil: next.probationUntil,
      reason: who, detector: null, issuedAt: c.ts, eventId: c.id, strike: next.strikes, cascade: scope === WHOLE_IDENTITY,
      active: activeOf(state, c.ts),
    };
    return { result: 'applied', detail: `suspended ${scopeName(scope)} until ${iso(next.until)}`, commands: [command] };
  }

  const scopes = c.scope === null ? Object.keys(state).sort() : [c.scope];
  const resumed: string[] = [];
  const newer: string[] = [];
  for (const scope of scopes) {
    const s = state[scope];
    if (!s || s.phase === 'closed') continue;
    if ((s.openedAt ?? -Infinity) >= c.ts) {
      newer.push(scope);
      continue;
    }
    // Closed with its strikes forgiven: the operator judged the offence. The
    // closed state stays until `forgiveAfter` so an old suspend cannot be replayed over it.
    state[scope] = { ...s, phase: 'closed', closedAt: c.ts, strikes: 0, reason: who, probationSeen: 0 };
    resumed.push(scope);
  }
  if (resumed.length === 0) {
    return ignored(newer.length > 0
      ? `every suspension in scope was opened after this control was issued (${iso(c.ts)}): ${newer.map(scopeName).join(', ')}`
      : `nothing to resume: no suspension or probation in force for ${c.scope === null ? 'the identity' : scopeName(c.scope)}`);
  }
  const active = activeOf(state, c.ts);
  const commands = resumed.map((scope): BreakerCommand => ({
    v: 2, seq: 0, type: 'resume', commandId: controlCommandId(c, scope, 'resume'),
    identity: c.identity, scope, until: null, probationUntil: null, reason: who, detector: null,
    issuedAt: c.ts, eventId: c.id, strike: 0, cascade: scope === WHOLE_IDENTITY, active,
  }));
  const kept = newer.length > 0 ? `; kept ${newer.map(scopeName).join(', ')} (opened after the control was issued)` : '';
  return { result: 'applied', detail: `resumed ${resumed.map(scopeName).join(', ')}${kept}`, commands };
}

function ignored(detail: string): ControlEffect {
  return { result: 'ignored', detail, commands: [] };
}
