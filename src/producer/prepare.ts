import { randomUUID } from 'node:crypto';
import { decodeEvent, encodeEvent, reason } from '../event/codec.js';
import { timeError, type TimeBounds } from '../event/time.js';
import type { AgentEvent, Encoding } from '../event/types.js';
import { validateEvent, type EventError } from '../event/validate.js';
import { WardenError } from '../errors.js';

/** An event to send: `id` and `ts` are filled in (a random UUID, now) when left out. */
export type EventInput = Omit<AgentEvent, 'id' | 'ts'> & { id?: string; ts?: number };

/** An event refused before it was published: `code` is the EVENT_* code Warden would have dead-lettered it with. */
export class InvalidEventError extends WardenError {
  readonly field: string | undefined;
  constructor(error: EventError) {
    super(error.code, error.message);
    this.name = 'InvalidEventError';
    this.field = error.field;
  }
}

export interface Prepared {
  event: AgentEvent;
  key: string;
  value: Uint8Array;
}

/**
 * The service's own checks, in its order: the fields (validateEvent), then
 * the encoded bytes as the service decodes them (size, UTF-8 in `attrs`),
 * then the time bounds against `now`. What passes here is what Warden accepts.
 */
export function prepareEvent(input: EventInput, encoding: Encoding, bounds: TimeBounds, now: number): Prepared | InvalidEventError {
  const filled = typeof input === 'object' && input !== null && (input.id === undefined || input.ts === undefined)
    ? { ...input, id: input.id ?? randomUUID(), ts: input.ts ?? now }
    : input;
  const checked = validateEvent(filled);
  if (!checked.ok) return new InvalidEventError(checked.error);
  let value: Uint8Array;
  try {
    value = encodeEvent(checked.event, encoding);
  } catch (err) {
    return new InvalidEventError({ code: 'EVENT_FIELD_TYPE', field: 'attrs', message: `field "attrs" holds a value ${encoding} cannot encode: ${reason(err)}` });
  }
  const decoded = decodeEvent(value);
  if (!decoded.ok) return new InvalidEventError(decoded.error);
  const late = timeError(checked.event.ts, now, bounds, 'EVENT');
  if (late) return new InvalidEventError(late);
  return { event: checked.event, key: checked.event.identity, value };
}
