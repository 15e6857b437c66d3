
/** Whole identity. Any other scope is one action (capability). */
export const WHOLE_IDENTITY = '*';

/**
 * Breaker command v2, published keyed by identity to the commands topic. See README "Command format".
 * `state` restates the identity's current state (re-published on an interval); it changes nothing.
 */
export interface BreakerCommand {
  v: 2;
  type: 'suspend' | 'resume' | 'state';
  /**
   * Per identity, strictly increasing with each state change; a gateway applies a
   * command only when its seq is above the last it applied. Restatements repeat it.
   * 0 until the engine stamps it (see sequence.ts).
   */
  seq: number;
  /** Deterministic: the same decision always gets the same id, so a republished command is recognisably the same. */
  commandId: string;
  identity: string;
  /** '*' = the whole identity, else one action. */
  scope: string;
  /** Suspend: event time (ms) the suspension ends and probation starts. Resume: null. */
  until: number | null;
  /** Suspend: probation ends at this event time unless it re-offends. */
  probationUntil: number | null;
  reason: string;
  /** The detector that caused it; null when an operator did. */
  detector: string | null;
  /** Event time of the decision. */
  issuedAt: number;
  /** The triggering event, when there is one. */
  eventId: string | null;
  /** 1 for a first offence; the TTL doubles with each repeat up to maxTtl. */
  strike: number;
  /** Sub-agents whose chain contains the identity are covered too. */
  cascade: boolean;
  /**
   * Every suspension of this identity in force after this command, this one
   * included. The commands topic is compacted by identity, so the latest record
   * must carry the whole state: a gateway that bootstraps reads only that one.
   */
  active: ActiveSuspension[];
}

export interface ActiveSuspension {
  scope: string;
  until: number;
  cascade: boolean;
  commandId: string;
  reason: string;
}

export type BreakerPhase = 'closed' | 'open' | 'half-open';

export interface ScopeState {
  phase: BreakerPhase;
  until: number;
  probationUntil: number;
  strikes: number;
  /** Event time the breaker last closed, for forgiving strikes. */
  closedAt: number;
  reason: string;
  detector: string | null;
  /** The suspend command that opened it. */
  commandId: string;
  /** Event time it last opened (absent in state written before operator controls). */
  openedAt?: number;
  /** Actions let through since probation began. */
  probationSeen?: number;
}

/** Per identity: one breaker per scope ('*' or an action). */
export type BreakerState = Record<string, ScopeState>;
