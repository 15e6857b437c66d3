import { Buffer } from 'node:buffer';
import type { ErrorCode } from '../errors.js';
import { TS_CEILING } from './time.js';
import { EVENT_LIMITS, type AgentEvent, type Outcome } from './types.js';

export interface EventError {
  code: ErrorCode;
  field?: string;
  message: string;
}

export type EventResult = { ok: true; event: AgentEvent } | { ok: false; error: EventError };

const MAX_SHOWN = 64;
const OBJECT_PROTO = Object.prototype;

export function isPlainMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === OBJECT_PROTO || proto === null;
}

/** A short type name for messages; never echoes the value itself. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Uint8Array) return 'binary';
  if (value instanceof Date) return 'timestamp';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return typeof value === 'object' ? 'map' : typeof value;
}

export function shorten(text: string): string {
  return text.length <= MAX_SHOWN ? text : `${text.slice(0, MAX_SHOWN)}…`;
}

function utf8Exceeds(s: string, limit: number): boolean {
  // A UTF-16 unit is 1–3 UTF-8 bytes, so most strings are decided without counting.
  if (s.length * 3 <= limit) return false;
  if (s.length > limit) return true;
  return Buffer.byteLength(s, 'utf8') > limit;
}

function fail(code: ErrorCode, field: string | undefined, message: string): EventResult {
  return field === undefined ? { ok: false, error: { code, message } } : { ok: false, error: { code, field, message } };
}

function typeError(field: string, expected: string, value: unknown): EventResult {
  return fail('EVENT_FIELD_TYPE', field, `field "${field}" must be ${expected}, got ${kindOf(value)}`);
}

function missing(field: string): EventResult {
  return fail('EVENT_FIELD_MISSING', field, `field "${field}" is required`);
}

// ES2024, in Node 20 but not in the ES2023 lib.
const wellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;

/** Checks a string field; returns an error result or undefined when fine. */
function checkString(field: string, value: unknown, limit: number, nonEmpty: boolean): EventResult | undefined {
  if (typeof value !== 'string') return typeError(field, 'a string', value);
  if (nonEmpty && value.length === 0) return fail('EVENT_FIELD_INVALID', field, `field "${field}" must not be empty`);
  // A lone surrogate (a JSON "\ud800" escape) has no UTF-8 form: Redis would store U+FFFD, another identity's bytes.
  if (!wellFormed.call(value)) return fail('EVENT_INVALID_UTF8', field, `field "${field}" is not valid UTF-8 (a lone surrogate)`);
  if (utf8Exceeds(value, limit)) {
    return fail('EVENT_FIELD_TOO_LONG', field, `field "${field}" is longer than ${limit} UTF-8 bytes`);
  }
  return undefined;
}

const REQUIRED = ['id', 'ts', 'identity', 'action', 'resource'] as const;

/** Event format v1. Returns a fresh object holding only the known fields. */
export function validateEvent(value: unknown): EventResult {
  if (!isPlainMap(value)) {
    return fail('EVENT_NOT_MAP', undefined, `event must be a map, got ${kindOf(value)}`);
  }
  const { identityBytes, stringBytes } = EVENT_LIMITS;
  let id: string | undefined;
  let ts: number | undefined;
  let identity: string | undefined;
  let action: string | undefined;
  let resource: string | undefined;
  let chain: string[] | undefined;
  let outcome: Outcome | undefined;
  let attrs: Record<string, unknown> | undefined;
  let agentClass: string | undefined;
  let instance: string | undefined;
  let task: string | undefined;
  let correlationId: string | undefined;
  let tenant: string | undefined;
  let bad: EventResult | undefined;

  for (const key in value) {
    const v = value[key];
    switch (key) {
      case 'id':
      case 'identity':
      case 'action':
      case 'resource': {
        if (v === null || v === undefined) return missing(key);
        if ((bad = checkString(key, v, key === 'identity' ? identityBytes : stringBytes, true))) return bad;
        const s = v as string;
        if (key === 'id') id = s;
        else if (key === 'identity') identity = s;
        else if (key === 'action') action = s;
        else resource = s;
        break;
      }
      case 'ts':
        if (v === null || v === undefined) return missing(key);
        if (typeof v === 'number' && Number.isInteger(v)) {
          if (v < 0 || !Number.isSafeInteger(v)) {
            return fail('EVENT_FIELD_INVALID', key, `field "ts" must be a non-negative safe integer of ms since the epoch`);
          }
          ts = v;
        } else if (typeof v === 'bigint') {
          if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
            return fail('EVENT_FIELD_INVALID', key, `field "ts" must be a non-negative safe integer of ms since the epoch`);
          }
          ts = Number(v);
        } else {
          return typeError(key, 'an integer of ms since the epoch', v);
        }
        // No clock here: the bounds against one are applied where the record is read (event/time.ts).
        if (ts > TS_CEILING) return fail('EVENT_TS_FUTURE', key, `field "ts" (${ts}) is after the year 9999; ms since the epoch expected`);
        break;
      case 'chain':
        if (v === null || v === undefined) break;
        if (!Array.isArray(v)) return typeError(key, 'an array of identities', v);
        if (v.length > EVENT_LIMITS.chainLength) {
          return fail('EVENT_FIELD_TOO_LONG', key, `field "chain" has ${v.length} entries, more than ${EVENT_LIMITS.chainLength}`);
        }
        if (v.length === 0) break;
        chain = new Array<string>(v.length);
        for (let i = 0; i < v.length; i++) {
          const entry: unknown = v[i];
          if ((bad = checkString(`chain[${i}]`, entry, identityBytes, true))) return bad;
          chain[i] = entry as string;
        }
        break;
      case 'outcome':
        if (v === null || v === undefined) break;
        if (typeof v !== 'string') return typeError(key, 'one of allowed|denied|error', v);
        if (v !== 'allowed' && v !== 'denied' && v !== 'error') {
          return fail('EVENT_FIELD_INVALID', key, `field "outcome" must be one of allowed|denied|error, got "${shorten(v)}"`);
        }
        outcome = v;
        break;
      case 'attrs': {
        if (v === null || v === undefined) break;
        if (!isPlainMap(v)) return typeError(key, 'a map', v);
        let n = 0;
        for (const _ in v) n++;
        if (n > EVENT_LIMITS.attrsKeys) {
          return fail('EVENT_FIELD_TOO_LONG', key, `field "attrs" has ${n} keys, more than ${EVENT_LIMITS.attrsKeys}`);
        }
        attrs = v;
        break;
      }
      case 'agentClass':
      case 'instance':
      case 'task':
      case 'correlationId':
      case 'tenant': {
        // Producers often send "" for "not set"; treat it like null.
        if (v === null || v === undefined || v === '') break;
        if ((bad = checkString(key, v, stringBytes, false))) return bad;
        const s = v as string;
        if (key === 'agentClass') agentClass = s;
        else if (key === 'instance') instance = s;
        else if (key === 'task') task = s;
        else if (key === 'correlationId') correlationId = s;
        else tenant = s;
        break;
      }
      case 'v':
        if (v === null || v === undefined || v === 1 || v === 1n) break;
        return fail('EVENT_FIELD_INVALID', key, `field "v" must be 1 (event format v1), got ${typeof v === 'number' ? v : kindOf(v)}`);
      default:
        return fail(
          'EVENT_UNKNOWN_FIELD',
          shorten(key),
          `unknown field "${shorten(key)}"; put extensions in "attrs"`,
        );
    }
  }

  if (id === undefined || ts === undefined || identity === undefined || action === undefined || resource === undefined) {
    const found = { id, ts, identity, action, resource };
    return missing(REQUIRED.find((f) => found[f] === undefined) ?? 'id');
  }

  const event: AgentEvent = { id, ts, identity, action, resource };
  if (chain !== undefined) event.chain = chain;
  if (agentClass !== undefined) event.agentClass = agentClass;
  if (instance !== undefined) event.instance = instance;
  if (task !== undefined) event.task = task;
  if (correlationId !== undefined) event.correlationId = correlationId;
  if (tenant !== undefined) event.tenant = tenant;
  if (outcome !== undefined) event.outcome = outcome;
  if (attrs !== undefined) event.attrs = attrs;
  return { ok: true, event };
}
