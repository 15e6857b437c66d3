/**
 * Operator control v1: an operator's suspend or resume, published to the
 * actions topic keyed by the identity, so Warden applies it in order with the
 * identity's own events and replays give the same result. Signed with the
 * operator keyring; see README "Operator controls".
 */
export const CONTROL_MARK = 'warden.operator';

export interface OperatorControl {
  control: typeof CONTROL_MARK;
  v: 1;
  /** Unique per control; the suspend command's id derives from it. */
  id: string;
  /** When the operator issued it (ms); the control's event time. */
  ts: number;
  op: 'suspend' | 'resume';
  identity: string;
  /** '*' = whole identity, else one action. A resume with null lifts every suspension. */
  scope: string | null;
  /** Suspend only: null = the breaker's maxTtl. */
  ttlMs: number | null;
  reason: string;
  /** Who: recorded in the audit trail and the command's reason. */
  operator: string;
  kid: string;
  sig: string;
}

export type UnsignedControl = Omit<OperatorControl, 'kid' | 'sig'>;

/** Audit record of a control: what Warden did with it, on the decisions topic. */
export interface ControlOutcome {
  controlId: string;
  op: OperatorControl['op'];
  identity: string;
  scope: string | null;
  operator: string;
  reason: string;
  ts: number;
  kid: string;
  result: 'applied' | 'ignored';
  /** Why it was ignored, or what it changed. */
  detail: string;
  /** The commands it caused, in order. */
  commandIds: string[];
}
