import { parseDuration } from './duration.js';
import { compileGlob } from './glob.js';
import type { DeepPartial, Glob } from './types.js';

export type Path = readonly (string | number)[];
export interface Issues {
  add(at: Path, message: string): void;
}
export const INVALID: unique symbol = Symbol('invalid');
export type Invalid = typeof INVALID;

interface Cx {
  issues: Issues;
  /** Partial trees (overrides) take no defaults and need no keys. */
  partial: boolean;
}
type Run<T> = (v: unknown, at: Path, cx: Cx, dflt: unknown) => T | Invalid;
type Missing = 'required' | 'optional' | 'null';
type Check<T> = (v: T, report: (rel: Path, message: string) => void, partial: boolean) => void;

export class Schema<T> {
  constructor(
    private readonly run: Run<T>,
    readonly missing: Missing = 'required',
    /** The key in the file when it differs from the field name. */
    readonly key?: string,
  ) {}

  parse(v: unknown, at: Path, cx: Cx, dflt?: unknown): T | Invalid {
    return this.run(v, at, cx, dflt);
  }
  from(key: string): Schema<T> {
    return new Schema(this.run, this.missing, key);
  }
  optional(): Schema<T | undefined> {
    return new Schema<T | undefined>(this.run, 'optional', this.key);
  }
  /** Absent => null. */
  nullable(): Schema<T | null> {
    return new Schema<T | null>(this.run, 'null', this.key);
  }
  check(fn: Check<T>): Schema<T> {
    return new Schema<T>(
      (v, at, cx, dflt) => {
        const out = this.run(v, at, cx, dflt);
        if (out !== INVALID) {
          let ok = true;
          fn(out, (rel, msg) => ((ok = false), cx.issues.add([...at, ...rel], msg)), cx.partial);
          if (!ok) return INVALID;
        }
        return out;
      },
      this.missing,
      this.key,
    );
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `string "${v.length > 40 ? `${v.slice(0, 40)}...` : v}"`;
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${String(v)}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface NumberOpts {
  min?: number;
  max?: number;
  /** Exclusive lower bound. */
  gt?: number;
  integer?: boolean;
}

export function number(o: NumberOpts = {}): Schema<number> {
  const expected = o.integer ? 'an integer' : 'a number';
  return new Schema<number>((v, at, cx) => {
    const fail = (msg: string): Invalid => (cx.issues.add(at, msg), INVALID);
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(`expected ${expected}, got ${describe(v)}`);
    if (o.integer && !Number.isSafeInteger(v)) return fail(`expected ${expected}, got ${v}`);
    if (o.gt !== undefined && !(v > o.gt)) return fail(`must be > ${o.gt}, got ${v}`);
    if (o.min !== undefined && v < o.min) return fail(`must be >= ${o.min}, got ${v}`);
    if (o.max !== undefined && v > o.max) return fail(`must be <= ${o.max}, got ${v}`);
    return v;
  });
}

export function integer(o: Omit<NumberOpts, 'integer'> = {}): Schema<number> {
  return number({ ...o, integer: true });
}

export function boolean(): Schema<boolean> {
  return new Schema<boolean>((v, at, cx) => {
    if (typeof v === 'boolean') return v;
    cx.issues.add(at, `expected true or false, got ${describe(v)}`);
    return INVALID;
  });
}

export function string(o: { pattern?: RegExp; nonEmpty?: boolean } = {}): Schema<string> {
  return new Schema<string>((v, at, cx) => {
    if (typeof v !== 'string') return cx.issues.add(at, `expected a string, got ${describe(v)}`), INVALID;
    if (o.nonEmpty && v.length === 0) return cx.issues.add(at, 'must not be empty'), INVALID;
    if (o.pattern && !o.pattern.test(v)) return cx.issues.add(at, `"${v}" must match ${o.pattern.source}`), INVALID;
    return v;
  });
}

export function oneOf<const V extends readonly string[]>(values: V): Schema<V[number]> {
  return new Schema<V[number]>((v, at, cx) => {
    if (typeof v === 'string' && values.includes(v)) return v as V[number];
    cx.issues.add(at, `expected one of ${values.join(', ')}, got ${describe(v)}`);
    return INVALID;
  });
}

/** A point in time: ms since the epoch, or ISO 8601 with a time zone (`2026-11-22T14:00:00Z`). Comes out as ms. */
export function timestamp(): Schema<number> {
  return new Schema<number>((v, at, cx) => {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
    if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
      const ms = Date.parse(v);
      if (Number.isFinite(ms)) return ms;
    }
    cx.issues.add(at, `expected a time: ms since the epoch or ISO 8601 with a zone like 2026-11-22T14:00:00Z, got ${describe(v)}`);
    return INVALID;
  });
}

/** Durations come out as ms. */
export function duration(o: { min?: number } = {}): Schema<number> {
  return new Schema<number>((v, at, cx) => {
    const r = parseDuration(v);
    if (!r.ok) return cx.issues.add(at, r.reason), INVALID;
    if (o.min !== undefined && r.ms < o.min) return cx.issues.add(at, `must be at least ${o.min % 1000 === 0 ? `${o.min / 1000}s` : `${o.min}ms`}, got ${String(v)}`), INVALID;
    return r.ms;
  });
}

export function glob(): Schema<Glob> {
  return new Schema<Glob>((v, at, cx) => {
    if (typeof v !== 'string') return cx.issues.add(at, `expected a glob string, got ${describe(v)}`), INVALID;
    const r = compileGlob(v);
    if (!r.ok) return cx.issues.add(at, r.reason), INVALID;
    return r.glob;
  });
}

/** Items are always whole, even inside a partial tree: a list replaces, it does not merge. */
export function array<T>(item: Schema<T>): Schema<T[]> {
  return new Schema<T[]>((v, at, cx) => {
    if (!Array.isArray(v)) return cx.issues.add(at, `expected a list, got ${describe(v)}`), INVALID;
    const whole = cx.partial ? { ...cx, partial: false } : cx;
    const out: T[] = [];
    let ok = true;
    v.forEach((x, i) => {
      const r = item.parse(x, [...at, i], whole, undefined);
      if (r === INVALID) ok = false;
      else out.push(r);
    });
    return ok ? out : INVALID;
  });
}

export type Shape = Record<string, Schema<any>>;
export type Out<S extends Shape> = { [K in keyof S]: S[K] extends Schema<infer T> ? T : never };

/** Known keys only; a missing key takes its default (from `dflt`, the raw default tree), else per its `missing` rule. */
export function object<S extends Shape>(shape: S): Schema<Out<S>> {
  const fields = Object.entries(shape).map(([field, s]) => ({ field, key: s.key ?? field, s }));
  const allowed = fields.map((f) => f.key);
  return new Schema<Out<S>>((v, at, cx, dflt) => {
    if (!isRecord(v)) return cx.issues.add(at, `expected a mapping, got ${describe(v)}`), INVALID;
    let ok = true;
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k)) {
        cx.issues.add([...at, k], `unknown key "${k}" (allowed: ${allowed.join(', ')})`);
        ok = false;
      }
    }
    const out: Record<string, unknown> = {};
    for (const { field, key, s } of fields) {
      const childDflt = isRecord(dflt) ? dflt[key] : undefined;
      // A bare `key:` in YAML is null; treat it as absent.
      let raw: unknown = Object.hasOwn(v, key) && v[key] !== null ? v[key] : undefined;
      if (raw === undefined) {
        if (cx.partial) continue;
        if (childDflt !== undefined) raw = childDflt;
        else if (s.missing === 'optional') continue;
        else if (s.missing === 'null') {
          out[field] = null;
          continue;
        } else {
          cx.issues.add([...at, key], `missing required key "${key}"`);
          ok = false;
          continue;
        }
      }
      const r = s.parse(raw, [...at, key], cx, childDflt);
      if (r === INVALID) ok = false;
      else out[field] = r;
    }
    return ok ? (out as Out<S>) : INVALID;
  });
}

/** The same rules, but nothing required and no defaults applied. */
export function partial<T>(s: Schema<T>): Schema<DeepPartial<T>> {
  return new Schema<DeepPartial<T>>((v, at, cx) => s.parse(v, at, { ...cx, partial: true }, undefined) as DeepPartial<T> | Invalid, s.missing, s.key);
}

export function run<T>(s: Schema<T>, v: unknown, issues: Issues, dflt?: unknown): T | undefined {
  const r = s.parse(v, [], { issues, partial: false }, dflt);
  return r === INVALID ? undefined : r;
}

export function formatPath(at: Path): string {
  let s = '';
  for (const seg of at) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? seg : `.${seg}`;
  return s;
}

/** Freezes plain objects, arrays and maps all the way down; other objects (globs) only shallowly. */
export function deepFreeze<T>(v: T): T {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return v;
  if (v instanceof Map) {
    for (const [, x] of v) deepFreeze(x);
    for (const m of ['set', 'delete', 'clear']) {
      Object.defineProperty(v, m, { value: () => { throw new TypeError(`cannot ${m} on a frozen config map`); } });
    }
    return Object.freeze(v);
  }
  const proto: unknown = Object.getPrototypeOf(v);
  if (Array.isArray(v) || proto === Object.prototype || proto === null) {
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return Object.freeze(v);
}
