import type { BreakerCommand } from '../breaker/types.js';
import type { ControlOutcome } from '../control/types.js';
import type { Detection } from '../detector.js';
import type { ErrorCode } from '../errors.js';

/** A record that could not be decoded or validated; it goes to the dead-letter topic with its reason. */
export interface DeadLetter {
  offset: bigint;
  code: ErrorCode;
  field?: string;
  message: string;
  raw?: Uint8Array;
  /** The original record's key, kept on the dead-letter record. */
  key?: Uint8Array;
  headers?: Record<string, string>;
}

export type OutputItem =
  | { kind: 'detection'; detection: Detection; commandId: string | null }
  | { kind: 'command'; command: BreakerCommand }
  | { kind: 'dead-letter'; deadLetter: DeadLetter }
  /** What an operator control did, for the audit trail. */
  | { kind: 'control'; control: ControlOutcome }
  /** A record whose identity another partition owns, sent there to be counted (src/pipeline/forward.ts). */
  | { kind: 'forward'; forward: { offset: bigint; to: number; identity: string; value: Uint8Array } };

export interface BatchOutput {
  items: OutputItem[];
  /** Events run through the detectors, and operator controls applied, in this batch. */
  processed: number;
  /** Records skipped because an earlier run already committed them. */
  skipped: number;
  invalid: number;
  /** Records sent to their identity's owner partition instead of being counted here. */
  forwarded: number;
  lastOffset: bigint | null;
}
