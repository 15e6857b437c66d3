/** Attributed agent action event, format v1. See README "Event format". */
export type Outcome = 'allowed' | 'denied' | 'error';

export interface AgentEvent {
  /** Unique per event; carried into decisions and dead letters. Warden does not deduplicate on it (README). */
  id: string;
  /** Event time, ms since the epoch. */
  ts: number;
  /** The acting agent's own identity. */
  identity: string;
  action: string;
  resource: string;
  /** Delegation lineage, root first, ending with the direct parent. Depth = length. */
  chain?: string[];
  agentClass?: string;
  instance?: string;
  task?: string;
  correlationId?: string;
  tenant?: string;
  outcome?: Outcome;
  attrs?: Record<string, unknown>;
}

export type Encoding = 'msgpack' | 'json';

export const EVENT_LIMITS = Object.freeze({
  /** Bytes (UTF-8) for identity and every chain entry. */
  identityBytes: 2048,
  /** Bytes for id, action, resource and the other string fields. */
  stringBytes: 2048,
  chainLength: 64,
  /** Whole encoded event. */
  eventBytes: 64 * 1024,
  attrsKeys: 64,
});
